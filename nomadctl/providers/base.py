"""What manifest templates may look up, as one key-value interface in AliECS's Consul layout.

AliECS's ``config.*``, ``inventory.*`` and ``runtime.*`` template functions and the global
defaults/vars all read Consul KV under ``o2/`` (reference §4). nomadctl keeps that layout and
puts every backend behind this protocol: a file for tests and offline use
(``nomadctl.providers.file``), Consul for production (``nomadctl.providers.consul``).

Backends raise ``ProviderError`` when the store cannot be read; the template functions turn it
into AliECS's failure value (``{"error":"..."}``) where AliECS does, so a lookup failure flows
into the manifest exactly as it would in AliECS.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from nomadctl.errors import NomadctlError


class ProviderError(NomadctlError):
    """The key-value store behind the template lookups could not be read or written."""

    kind = "Provider"


@runtime_checkable
class KVProvider(Protocol):
    """Read (and for ``runtime.Set``, write) string values at ``/``-separated keys."""

    def get(self, key: str) -> str | None:
        """The value at ``key``, or ``None`` when there is no such key."""
        ...

    def keys(self, prefix: str) -> list[str]:
        """Every key under ``prefix`` (recursively), sorted, as full keys."""
        ...

    def put(self, key: str, value: str) -> None:
        """Store ``value`` at ``key``."""
        ...
