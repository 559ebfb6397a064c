"""The event log of an environment: AliECS ``Ev_*`` events as JSON lines in Consul KV.

Each ``append`` writes one *batch* (the events of one ``Emit`` step, or a progress note) to
``<prefix>/envs/<id>/events/<seq>``, a zero-padded sequence number, created with CAS 0 so two
writers can never overwrite each other's batch (the loser re-reads the last number and retries).
The log is bounded: batches older than the last ``max_batches`` are deleted. ``follow`` reads it
with blocking queries on the prefix, so ``nomadctl env watch`` sees events as they are written.

Every event goes through the controller's listeners as well (the CLI prints them live). Events
carry no secrets: the schedule builds them from the plan's names and the controller's messages.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterator, Sequence

from nomadctl.clients.blocking import next_index
from nomadctl.clients.consul import ConsulClient
from nomadctl.clients.errors import ConsulConflict
from nomadctl.controller.record import Keys
from nomadctl.controller.settings import Clock
from nomadctl.lifecycle.events import Event

log = logging.getLogger(__name__)

_WIDTH = 12
_CREATE_ATTEMPTS = 20


def parse_batch(text: str | None) -> list[Event]:
    """The events of one stored batch (malformed lines are skipped with a warning)."""
    events: list[Event] = []
    for line in (text or "").splitlines():
        if not line.strip():
            continue
        try:
            events.append(Event.from_dict(json.loads(line)))
        except ValueError as err:
            log.warning("skipping a malformed event line: %s", err)
    return events


class EventLog:
    """Append to and read one environment's event log."""

    def __init__(
        self,
        consul: ConsulClient,
        keys: Keys,
        env_id: str,
        *,
        clock: Clock,
        max_batches: int = 2000,
        listeners: Sequence[Callable[[Event], None]] = (),
    ) -> None:
        self.consul = consul
        self.prefix = keys.events(env_id)
        self.env_id = env_id
        self.clock = clock
        self.max_batches = max_batches
        self.listeners = list(listeners)
        self._next: int | None = None
        self._lock = threading.Lock()

    def _seq(self, key: str) -> int | None:
        tail = key[len(self.prefix) :]
        return int(tail) if tail.isdigit() else None

    def _last_seq(self) -> int:
        seqs = [s for s in (self._seq(k) for k in self.consul.kv_keys(self.prefix)) if s is not None]
        return max(seqs, default=0)

    def append(self, events: Sequence[Event]) -> list[Event]:
        """Stamp ``events`` (those without a time), store them as one batch, tell the listeners.
        Returns the stamped events."""
        if not events:
            return []
        now = self.clock.now_ns()
        stamped = [e.stamped(now) for e in events]
        text = "\n".join(e.to_json_line() for e in stamped) + "\n"
        with self._lock:
            for _ in range(_CREATE_ATTEMPTS):
                if self._next is None:
                    self._next = self._last_seq() + 1
                seq = self._next
                try:
                    self.consul.kv_put(f"{self.prefix}{seq:0{_WIDTH}d}", text, cas=0)
                except ConsulConflict:
                    self._next = None  # someone else wrote that number: re-read the end
                    continue
                self._next = seq + 1
                if seq % 100 == 0:
                    self._prune(seq)
                break
            else:
                log.error("could not append events for %s: the log kept moving", self.env_id)
        for event in stamped:
            for listener in self.listeners:
                listener(event)
        return stamped

    def _prune(self, newest: int) -> None:
        oldest_kept = newest - self.max_batches
        for key in self.consul.kv_keys(self.prefix):
            seq = self._seq(key)
            if seq is not None and seq <= oldest_kept:
                self.consul.kv_delete(key)

    def read(self, after: int = 0) -> tuple[list[tuple[int, Event]], int]:
        """Events of batches with a sequence number above ``after``, and the KV index."""
        entries, index = self.consul.kv_list(self.prefix)
        out: list[tuple[int, Event]] = []
        for entry in entries:
            seq = self._seq(entry.key)
            if seq is not None and seq > after:
                out.extend((seq, e) for e in parse_batch(entry.text))
        return out, index

    def tail(self, count: int) -> list[Event]:
        """The last ``count`` events."""
        events, _ = self.read()
        return [e for _, e in events[-count:]] if count > 0 else []

    def follow(
        self,
        *,
        after: int = 0,
        stop: threading.Event | None = None,
        wait: float = 30.0,
        deadline: float | None = None,
    ) -> Iterator[tuple[int, Event]]:
        """Yield ``(batch seq, event)`` for every event after ``after``, then block for new ones.

        Ends when ``stop`` is set (checked between blocking reads) or the clock passes
        ``deadline``; each blocking read waits at most ``wait`` seconds.
        """
        index = 0
        last = after
        while stop is None or not stop.is_set():
            remaining = None if deadline is None else deadline - self.clock.monotonic()
            if remaining is not None and remaining <= 0:
                return
            block = wait if remaining is None else max(0.001, min(wait, remaining))
            entries, returned = self.consul.kv_list(self.prefix, index=index, wait=block)
            for entry in entries:
                seq = self._seq(entry.key)
                if seq is not None and seq > last:
                    for event in parse_batch(entry.text):
                        yield seq, event
                    last = seq
            index = next_index(index, returned)
