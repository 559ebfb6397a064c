"""Nomad ACL vocabulary by version, and the rewrite of a 2.0 policy for a 1.x server.

Facts from ``acl/policy.go`` (Nomad 2.0.x): Nomad 2.0.0 split ``submit-job`` into fine-grained
namespace capabilities (GH-27287). A 2.0 server still accepts ``submit-job`` and lets it do
everything the fine-grained ones do (each endpoint checks "submit-job or <fine-grained>"); a 1.x
server rejects a policy naming any capability it does not know. The policy files in
``policies/nomad/`` are written for 2.0; ``for_version`` turns one into its 1.x equivalent by
replacing each 2.0-only capability with ``submit-job`` — which on 1.x also grants purge, revert and
the rest, so the rewrite widens the grant, and callers report it.
"""

from __future__ import annotations

import re

__all__ = [
    "AGENT_POLICIES",
    "NAMESPACE_CAPABILITIES_1X",
    "NAMESPACE_CAPABILITIES_2X",
    "NAMESPACE_POLICIES",
    "SPLIT_FROM_SUBMIT_JOB",
    "for_version",
    "parse_version",
    "supports_fine_grained",
]

# Valid for `namespace { policy = ... }`, `node`, `agent`, `operator`, `node_pool`, `host_volume`.
NAMESPACE_POLICIES = frozenset({"deny", "read", "write", "scale"})
AGENT_POLICIES = frozenset({"deny", "read", "write"})
PLUGIN_POLICIES = frozenset({"deny", "read", "list", "write"})

NAMESPACE_CAPABILITIES_1X = frozenset(
    {
        "deny",
        "list-jobs",
        "parse-job",
        "read-job",
        "submit-job",
        "dispatch-job",
        "read-logs",
        "read-fs",
        "alloc-exec",
        "alloc-node-exec",
        "alloc-lifecycle",
        "sentinel-override",
        "csi-register-plugin",
        "csi-write-volume",
        "csi-read-volume",
        "csi-list-volume",
        "csi-mount-volume",
        "host-volume-create",
        "host-volume-register",
        "host-volume-read",
        "host-volume-write",
        "host-volume-delete",
        "list-scaling-policies",
        "read-scaling-policy",
        "read-job-scaling",
        "scale-job",
        "submit-recommendation",
    }
)

SPLIT_FROM_SUBMIT_JOB = frozenset(
    {
        "register-job",
        "revert-job",
        "deregister-job",
        "purge-job",
        "evaluate-job",
        "plan-job",
        "tag-job-version",
        "stable-job",
        "fail-deployment",
        "pause-deployment",
        "promote-deployment",
        "unblock-deployment",
        "cancel-deployment",
        "set-alloc-health-deployment",
        "gc-allocation",
        "pause-allocation",
        "force-periodic-job",
        "delete-service-registration",
    }
)

NAMESPACE_CAPABILITIES_2X = NAMESPACE_CAPABILITIES_1X | SPLIT_FROM_SUBMIT_JOB

_VERSION = re.compile(r"^v?(\d+)\.(\d+)(?:\.(\d+))?")
_QUOTED_CAP = re.compile(r'"(' + "|".join(sorted(SPLIT_FROM_SUBMIT_JOB)) + r')"')


def parse_version(text: str) -> tuple[int, int, int]:
    """``"2.0.5-beta.1"`` → ``(2, 0, 5)``; ``ValueError`` for anything that is not a version."""
    m = _VERSION.match(text.strip())
    if m is None:
        raise ValueError(f"not a Nomad version: {text!r}")
    return int(m.group(1)), int(m.group(2)), int(m.group(3) or 0)


def supports_fine_grained(version: tuple[int, int, int]) -> bool:
    """Whether a Nomad server of ``version`` knows the capabilities split from ``submit-job``."""
    return version >= (2, 0, 0)


def namespace_capabilities(version: tuple[int, int, int]) -> frozenset[str]:
    """The namespace capabilities a server of ``version`` accepts."""
    return NAMESPACE_CAPABILITIES_2X if supports_fine_grained(version) else NAMESPACE_CAPABILITIES_1X


def for_version(rules: str, version: tuple[int, int, int]) -> tuple[str, frozenset[str]]:
    """``rules`` as a server of ``version`` accepts them, and the capabilities that were widened.

    For 2.0 and later the text is returned unchanged. For 1.x each quoted 2.0-only capability
    becomes ``"submit-job"`` (a list naming it twice is valid Nomad) and a comment line saying so
    is put first, so whoever reads the stored policy sees why it differs from the file.
    """
    if supports_fine_grained(version):
        return rules, frozenset()
    widened = frozenset(m.group(1) for m in _QUOTED_CAP.finditer(rules))
    if not widened:
        return rules, widened
    note = (
        f"# Rewritten by nomadctl for Nomad {'.'.join(map(str, version))} (< 2.0): "
        f"{', '.join(sorted(widened))} -> submit-job\n"
    )
    return note + _QUOTED_CAP.sub('"submit-job"', rules), widened
