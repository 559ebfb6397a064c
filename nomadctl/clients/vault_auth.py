"""Vault/OpenBao auth methods and JWT roles: what Nomad workload identities log in to.

Works through a ``VaultClient``: its hvac adapter already sends every request through the shared
retry policy and maps failures to ``nomadctl.clients.errors.Vault*``. The endpoints are called by
path (``/v1/sys/auth``, ``/v1/auth/<mount>/config``, ``/v1/auth/<mount>/role/<name>``) with exactly
the JSON we mean, rather than through hvac's JWT helpers, whose ``create_role`` needs OIDC-only
arguments and drops unknown fields.

A JWT presented to ``jwt_login`` and the token it returns are registered with the log redaction
filter before anything is sent.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from nomadctl.clients import redact
from nomadctl.clients.errors import VaultError, VaultNotFound
from nomadctl.clients.vault import VaultClient

__all__ = ["AuthMount", "VaultAuth"]


@dataclass(frozen=True, slots=True)
class AuthMount:
    """An enabled auth method: mount path (no trailing ``/``), type, description, accessor."""

    path: str
    type: str
    description: str = ""
    accessor: str = ""


def _mount(path: str) -> str:
    return urllib.parse.quote(path.strip("/"), safe="/")


def _segment(name: str) -> str:
    return urllib.parse.quote(name, safe="")


def _data(answer: Any, what: str) -> dict[str, Any]:
    """The ``data`` object of a Vault answer (hvac's adapter returns the JSON for a 200)."""
    if not isinstance(answer, Mapping):
        raise VaultError("expected a JSON answer", method="GET", path=what)
    data = answer.get("data", answer)
    if not isinstance(data, Mapping):
        raise VaultError("answer has no data object", method="GET", path=what)
    return dict(data)


class VaultAuth:
    """Auth-method and JWT-role management over a ``VaultClient`` (and JWT login)."""

    def __init__(self, vault: VaultClient) -> None:
        self.vault = vault
        self._adapter: Any = vault.hvac.adapter

    # --- auth methods -------------------------------------------------------------------------

    def auth_methods(self) -> dict[str, AuthMount]:
        """Enabled auth methods by mount path (``"jwt-nomad"``, ``"token"``, ...)."""
        url = "/v1/sys/auth"
        mounts: dict[str, AuthMount] = {}
        for key, value in _data(self._adapter.get(url), url).items():
            if isinstance(value, Mapping) and "type" in value:
                path = key.rstrip("/")
                mounts[path] = AuthMount(
                    path=path,
                    type=str(value.get("type", "")),
                    description=str(value.get("description") or ""),
                    accessor=str(value.get("accessor") or ""),
                )
        return mounts

    def enable_auth(self, path: str, method_type: str, *, description: str = "") -> None:
        """Enable an auth method of ``method_type`` at ``path`` (needs ``sudo`` on sys/auth/<path>)."""
        self._adapter.post(
            f"/v1/sys/auth/{_mount(path)}", json={"type": method_type, "description": description}
        )

    def secrets_engines(self) -> dict[str, dict[str, Any]]:
        """Enabled secrets engines by mount path, each with ``type`` and ``options``."""
        url = "/v1/sys/mounts"
        return {
            key.rstrip("/"): dict(value)
            for key, value in _data(self._adapter.get(url), url).items()
            if isinstance(value, Mapping) and "type" in value
        }

    def enable_kv_v2(self, path: str, *, description: str = "") -> None:
        """Enable a KV version 2 secrets engine at ``path``."""
        self._adapter.post(
            f"/v1/sys/mounts/{_mount(path)}",
            json={"type": "kv", "description": description, "options": {"version": "2"}},
        )

    # --- JWT auth -----------------------------------------------------------------------------

    def jwt_config(self, mount: str) -> dict[str, Any] | None:
        """The JWT auth method's configuration, or ``None`` when it has none (or no such mount)."""
        url = f"/v1/auth/{_mount(mount)}/config"
        try:
            answer = self._adapter.get(url)
        except VaultNotFound:
            return None
        # An unconfigured JWT mount answers 204 (no body): hvac hands back the response object.
        return _data(answer, url) if isinstance(answer, Mapping) else None

    def write_jwt_config(self, mount: str, config: Mapping[str, Any]) -> None:
        """Replace the JWT auth configuration (``jwks_url`` or ``jwt_validation_pubkeys``, ...)."""
        self._adapter.post(f"/v1/auth/{_mount(mount)}/config", json=dict(config))

    def jwt_roles(self, mount: str) -> list[str]:
        """Names of the roles of a JWT auth mount (empty when it has none)."""
        url = f"/v1/auth/{_mount(mount)}/role"
        try:
            answer = self._adapter.list(url)
        except VaultNotFound:
            return []
        return sorted(str(k) for k in _data(answer, url).get("keys", []))

    def jwt_role(self, mount: str, name: str) -> dict[str, Any] | None:
        """The role ``name`` as Vault reports it (durations in seconds), or ``None``."""
        url = f"/v1/auth/{_mount(mount)}/role/{_segment(name)}"
        try:
            return _data(self._adapter.get(url), url)
        except VaultNotFound:
            return None

    def write_jwt_role(self, mount: str, name: str, role: Mapping[str, Any]) -> None:
        """Create or replace the role ``name``."""
        self._adapter.post(f"/v1/auth/{_mount(mount)}/role/{_segment(name)}", json=dict(role))

    def delete_jwt_role(self, mount: str, name: str) -> None:
        """Delete the role ``name``."""
        self._adapter.delete(f"/v1/auth/{_mount(mount)}/role/{_segment(name)}")

    def jwt_login(self, mount: str, role: str, jwt: str) -> VaultClient:
        """Log in with a JWT (a Nomad workload identity) and return a client holding the token."""
        redact.register_secret(jwt)
        url = f"/v1/auth/{_mount(mount)}/login"
        answer = self._adapter.post(url, json={"role": role, "jwt": jwt})
        try:
            token = str(answer["auth"]["client_token"])
        except (KeyError, TypeError) as exc:
            raise VaultError("login answer has no token", method="POST", path=url) from exc
        redact.register_secret(token)
        return self.vault.with_token(token)
