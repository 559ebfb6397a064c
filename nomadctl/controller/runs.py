"""Run numbers: one counter in Consul KV for the whole installation, incremented with CAS.

AliECS takes run numbers from Bookkeeping (or its own counter); nomadctl keeps a counter at
``<prefix>/run_number`` (a decimal number, the last number given out). Concurrent allocations from
any number of controllers never return the same number: each is a check-and-set on the key's
ModifyIndex, retried on a lost race. An operator sets the next starting point by writing the key.
"""

from __future__ import annotations

from nomadctl.clients.consul import ConsulClient
from nomadctl.clients.errors import ConsulConflict
from nomadctl.errors import LifecycleError

_ATTEMPTS = 50


class RunNumbers:
    """Allocates run numbers from the counter at ``key``."""

    def __init__(self, consul: ConsulClient, key: str) -> None:
        self.consul = consul
        self.key = key

    def last(self) -> int:
        """The last number given out (0 if none yet)."""
        entry = self.consul.kv_get(self.key).data
        return self._value(entry.text if entry else None)

    def _value(self, text: str | None) -> int:
        if text is None or not text.strip():
            return 0
        try:
            value = int(text.strip())
        except ValueError:
            raise LifecycleError(f"{self.key}: run-number counter holds {text!r}, not a number") from None
        if value < 0:
            raise LifecycleError(f"{self.key}: run-number counter holds a negative number ({value})")
        return value

    def allocate(self) -> int:
        """A new run number, unique across every controller using this Consul."""
        for _ in range(_ATTEMPTS):
            entry = self.consul.kv_get(self.key).data
            current = self._value(entry.text if entry else None)
            try:
                self.consul.kv_put(self.key, str(current + 1), cas=entry.modify_index if entry else 0)
            except ConsulConflict:
                continue  # another controller took current + 1: read again
            return current + 1
        raise LifecycleError(
            f"{self.key}: could not allocate a run number in {_ATTEMPTS} attempts (contention)"
        )
