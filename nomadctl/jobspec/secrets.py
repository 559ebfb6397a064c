"""Vault KV v2 references in task environments.

Manifest syntax: a ``command.env`` item whose value is ``vault:<mount>/<path>#<key>``::

    env:
      - BOOKKEEPING_TOKEN=vault:kv/aliecs/online/bookkeeping#token

means "the ``token`` field of the KV v2 secret ``aliecs/bookkeeping`` on mount ``secret``". The
item is removed from the job's ``env``; instead the task gets a ``template`` that the Nomad
client renders from Vault into ``secrets/nomadctl-vault.env`` (``env = true``) and a ``vault``
block. The secret value never appears in a job file, in Consul KV or in nomadctl's output. Shell
commands read it as ``$BOOKKEEPING_TOKEN`` (the shell expands it at run time).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from nomadctl.errors import PlanError

PREFIX = "vault:"
_REF = re.compile(r"^vault:([A-Za-z0-9_.-]+)/([A-Za-z0-9_.\-/]+)#([A-Za-z0-9_.-]+)$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
DESTINATION = "secrets/nomadctl-vault.env"


@dataclass(frozen=True, slots=True)
class SecretRef:
    """One ``NAME=vault:<mount>/<path>#<key>`` environment item."""

    env: str
    mount: str
    path: str
    key: str

    @property
    def api_path(self) -> str:
        """The KV v2 read path as consul-template's ``secret`` wants it (``<mount>/data/<path>``)."""
        return f"{self.mount}/data/{self.path}"

    def template_line(self) -> str:
        # `index` also works for keys with dashes, where `.Data.data.key` does not.
        value = f'{{{{ index .Data.data "{self.key}" }}}}'
        return f'{{{{ with secret "{self.api_path}" }}}}{self.env}={value}{{{{ end }}}}'


def is_reference(value: str) -> bool:
    return value.startswith(PREFIX)


def parse(name: str, value: str, *, role_path: str) -> SecretRef:
    """Parse one env item's ``vault:`` value; a ``PlanError`` naming the task and variable."""
    field = f"env.{name}"
    if not _ENV_NAME.match(name):
        raise PlanError(
            f"{name!r} is not a valid environment variable name", role_path=role_path, field=field
        )
    m = _REF.match(value)
    if m is None:
        raise PlanError(
            f"bad Vault reference {value!r}: expected vault:<mount>/<path>#<key>",
            role_path=role_path,
            field=field,
        )
    mount, path, key = m.groups()
    segments = path.split("/")
    if any(s in ("", ".", "..") for s in segments):
        raise PlanError(
            f"bad Vault reference {value!r}: empty, '.' or '..' path segment",
            role_path=role_path,
            field=field,
        )
    return SecretRef(env=name, mount=mount, path=path, key=key)


def template_data(refs: list[SecretRef]) -> str:
    """The consul-template text rendering every reference as a ``NAME=value`` line."""
    return "".join(ref.template_line() + "\n" for ref in refs)
