"""Template lookups (``config.*``, ``inventory.*``, ``runtime.*``) backed by Consul KV.

Keys are AliECS's own layout (``o2/runtime/aliecs/defaults/...``, ``o2/components/...``,
``o2/hardware/...``; reference §4), so an existing AliECS Consul can be read as it is. ``root``
prefixes every key (a test or staging tree next to production: ``root="staging/"`` reads
``staging/o2/...``) and is stripped from listed keys again.

The provider layer sits below the clients (import-linter layers), so this module does not
import ``nomadctl.clients``: it takes anything with the three KV methods of
``nomadctl.clients.consul.ConsulClient`` (``ConsulKV`` below) and turns its failures — any
``nomadctl.errors.ApiError`` — into ``ProviderError``, which the template functions report the
AliECS way.
"""

from __future__ import annotations

from typing import Protocol

from nomadctl.errors import ApiError
from nomadctl.providers.base import ProviderError

__all__ = ["ConsulKV", "ConsulKVProvider"]


class _Entry(Protocol):
    @property
    def value(self) -> bytes | None: ...


class _Indexed(Protocol):
    @property
    def data(self) -> _Entry | None: ...


class ConsulKV(Protocol):
    """The part of ``ConsulClient`` the provider uses."""

    def kv_get(self, key: str) -> _Indexed: ...

    def kv_keys(self, prefix: str) -> list[str]: ...

    def kv_put(self, key: str, value: str | bytes) -> None: ...


class ConsulKVProvider:
    """``KVProvider`` over Consul KV (values decoded as UTF-8)."""

    def __init__(self, consul: ConsulKV, *, root: str = "") -> None:
        if root and not root.endswith("/"):
            root += "/"
        self._consul = consul
        self._root = root

    def _key(self, key: str) -> str:
        key = key.lstrip("/")  # "a/" and "a" are different Consul keys: keep a trailing slash
        if not key:
            raise ProviderError("empty Consul key")
        return self._root + key

    def get(self, key: str) -> str | None:
        """The value at ``key`` (``None`` if absent; a key stored without a value reads as "")."""
        full = self._key(key)
        try:
            entry = self._consul.kv_get(full).data
        except ApiError as error:
            raise ProviderError(f"Consul KV {full}: {error.one_line()}") from error
        if entry is None:
            return None
        raw = entry.value
        if raw is None:
            return ""
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ProviderError(f"Consul KV {full}: value is not UTF-8 text") from exc

    def keys(self, prefix: str) -> list[str]:
        """Every key under ``prefix`` (recursive, folder placeholders excluded), sorted."""
        full = self._root + prefix.lstrip("/")
        try:
            found = self._consul.kv_keys(full)
        except ApiError as error:
            raise ProviderError(f"Consul KV {full}: {error.one_line()}") from error
        strip = len(self._root)
        return sorted(k[strip:] for k in found if k.startswith(self._root) and not k.endswith("/"))

    def put(self, key: str, value: str) -> None:
        """Store ``value`` at ``key`` (``runtime.Set``)."""
        full = self._key(key)
        try:
            self._consul.kv_put(full, value)
        except ApiError as error:
            raise ProviderError(f"Consul KV {full}: {error.one_line()}") from error
