"""Nomad agent versions and the job-spec features each one understands.

Every version-dependent choice of the renderer is a row of ``FEATURES``: the oldest agent
version that accepts the field, found by ``git log -S`` on ``hashicorp/nomad`` (``api/*.go``)
and the CHANGELOG. Below that version the renderer leaves the field out, or falls back to the
older form, or refuses when there is no free fallback.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from nomadctl.errors import UsageError

_VERSION = re.compile(r"^v?(\d+)\.(\d+)(?:\.(\d+))?(?:[-+][0-9A-Za-z.+-]*)?$")


@dataclass(frozen=True, slots=True, order=True)
class NomadVersion:
    """A Nomad release number; ``parse("2.0")`` and ``parse("v1.10.3+ent")`` are accepted."""

    major: int
    minor: int
    patch: int = 0

    @classmethod
    def parse(cls, text: str) -> NomadVersion:
        m = _VERSION.match(text.strip())
        if m is None:
            raise UsageError(f"--nomad-version: {text!r} is not a Nomad version (e.g. 2.0, 1.10.3)")
        version = cls(int(m.group(1)), int(m.group(2)), int(m.group(3) or 0))
        if version < OLDEST:
            raise UsageError(
                f"--nomad-version: {version} is too old; `nomad job run -json` needs Nomad >= {OLDEST}"
            )
        return version

    def supports(self, feature: str) -> bool:
        """Whether an agent of this version accepts ``feature`` (a key of ``FEATURES``)."""
        return self >= FEATURES[feature]

    def __str__(self) -> str:
        return f"{self.major}.{self.minor}.{self.patch}"


# `nomad job run -json` exists since 1.3.0 (GH-12591): the oldest agent our files are for.
OLDEST = NomadVersion(1, 3, 0)
# Current Nomad; the default of --nomad-version.
CURRENT = NomadVersion(2, 0, 0)
# Versions before this are out of upstream support (CHANGELOG: "before 1.10.0 are no longer supported").
SUPPORTED = NomadVersion(1, 10, 0)

FEATURES: dict[str, NomadVersion] = {
    # datacenters = ["*"] (glob) — GH-11170
    "datacenter_glob": NomadVersion(1, 5, 0),
    # template { error_on_missing_key }
    "template_error_on_missing_key": NomadVersion(1, 5, 0),
    # job { node_pool }
    "node_pool": NomadVersion(1, 6, 0),
    # vault { role } with workload identity; before it: vault { policies } (removed in 1.10)
    "vault_workload_identity": NomadVersion(1, 7, 0),
    # task-level consul {} block (GH-18597): gives template blocks a Consul identity
    "task_consul_block": NomadVersion(1, 7, 0),
    # group { disconnect { ... } } replacing max_client_disconnect & co.
    "disconnect_block": NomadVersion(1, 8, 0),
    # resources { memory_max = -1 } = reserve `memory`, no hard limit (GH-27354)
    "memory_max_unlimited": NomadVersion(1, 11, 2),
    # server check: the sum of group counts <= job_max_count (default 50000)
    "job_max_count": NomadVersion(1, 11, 0),
    # group { max_run_duration } for batch jobs (GH-27803)
    "max_run_duration": NomadVersion(2, 0, 3),
}
