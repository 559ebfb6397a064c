"""The farm's clock: real time for standalone use, a manual clock for tests.

The farm's engine keys every timed event (task start, restart delay, heartbeat deadline, session
TTL) on ``monotonic()`` seconds and stamps API objects with ``wall_ns()``. With a ``ManualClock``
nothing timed happens until the test calls ``SimFarm.advance()``, so restart, reschedule and
heartbeat behaviour is tested without sleeping. Blocking-query ``wait`` times stay real time in
both cases: they belong to the HTTP conversation, not to the simulated cluster.
"""

from __future__ import annotations

import threading
import time
from typing import Protocol


class Clock(Protocol):
    """What the engine needs from a clock."""

    @property
    def manual(self) -> bool:
        """True when time only moves through ``advance()`` (the engine then never sleeps on it)."""
        ...

    def monotonic(self) -> float:
        """Seconds on a clock that never goes backwards."""
        ...

    def wall_ns(self) -> int:
        """Unix time in nanoseconds, for timestamps in API objects."""
        ...


class RealClock:
    """The machine's clock."""

    @property
    def manual(self) -> bool:
        return False

    def monotonic(self) -> float:
        return time.monotonic()

    def wall_ns(self) -> int:
        return time.time_ns()


# 2026-01-01T00:00:00Z: a fixed, recognisable epoch so manual-clock timestamps are reproducible.
MANUAL_EPOCH_NS = 1_767_225_600_000_000_000


class ManualClock:
    """A clock that moves only when told to; thread-safe."""

    def __init__(self, start_wall_ns: int = MANUAL_EPOCH_NS) -> None:
        self._lock = threading.Lock()
        self._now = 0.0
        self._wall0 = start_wall_ns

    @property
    def manual(self) -> bool:
        return True

    def monotonic(self) -> float:
        with self._lock:
            return self._now

    def wall_ns(self) -> int:
        with self._lock:
            return self._wall0 + int(self._now * 1e9)

    def advance(self, seconds: float) -> None:
        """Move time forward (never backwards)."""
        if seconds < 0:
            raise ValueError("a ManualClock cannot go backwards")
        with self._lock:
            self._now += seconds
