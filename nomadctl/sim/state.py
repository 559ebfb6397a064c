"""The farm's state store: raft-like indexes, tables, blocking queries and the event buffer.

One ``threading.RLock`` guards everything (Nomad and Consul state alike) and one ``Condition`` on
it wakes blocking queries and event streams. Every write happens inside a ``Txn`` that takes the
next index, stamps what it touches with it and publishes its events as one buffer item, exactly
as one raft apply does in Nomad (``nomad/stream/event_buffer.go``).

Blocking queries follow Nomad's and Consul's rule: a query whose table index is already past the
client's ``index`` answers at once; otherwise it waits until something *it watches* changes (a
per-object watch index) or ``wait`` expires, and then answers with the table index.
"""

from __future__ import annotations

import contextlib
import random
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from nomadctl import durations
from nomadctl.sim import wire
from nomadctl.sim.model import Alloc, JobRecord
from nomadctl.sim.nodes import Node

MAX_WAIT = 600.0  # "limited to 10 minutes"
DEFAULT_WAIT = 300.0
_CACHE_LIMIT = 64 * 1024  # "If not set, the wait time defaults to 5 minutes"


class Event:
    """One stream event; its JSON is rendered on first use (payloads are immutable snapshots)."""

    __slots__ = ("_json", "filter_keys", "index", "key", "namespace", "payload", "topic", "type")

    def __init__(
        self,
        topic: str,
        type_: str,
        key: str,
        namespace: str,
        payload: Callable[[], str],
        *,
        filter_keys: tuple[str, ...] = (),
    ) -> None:
        self.topic = topic
        self.type = type_
        self.key = key
        self.namespace = namespace
        self.filter_keys = filter_keys
        self.payload = payload
        self.index = 0
        self._json: str | None = None

    def json(self) -> str:
        if self._json is None:
            head = wire.dumps(
                {
                    "Topic": self.topic,
                    "Type": self.type,
                    "Key": self.key,
                    "Namespace": self.namespace,
                    "FilterKeys": list(self.filter_keys) or None,
                    "Index": self.index,
                }
            )
            text = head[:-1] + ',"Payload":' + self.payload() + "}"
            if len(text) > _CACHE_LIMIT:
                return text  # big payloads (allocations of 430 tasks) are rendered per subscriber
            self._json = text
        return self._json


class BufferItem:
    """One raft index worth of events, linked to the next one (subscribers hold their place)."""

    __slots__ = ("events", "index", "next")

    def __init__(self, index: int, events: tuple[Event, ...]) -> None:
        self.index = index
        self.events = events
        self.next: BufferItem | None = None


class EventBuffer:
    """Nomad's bounded event buffer: ``size`` items, oldest dropped first."""

    def __init__(self, size: int) -> None:
        self.size = max(1, size)
        self.head: BufferItem | None = None
        self.tail: BufferItem | None = None
        self.count = 0

    def append(self, item: BufferItem) -> None:
        if self.tail is None:
            self.head = self.tail = item
        else:
            self.tail.next = item
            self.tail = item
        self.count += 1
        while self.count > self.size and self.head is not None:
            self.head = self.head.next
            self.count -= 1

    def start_at_closest(self, index: int) -> BufferItem | None:
        """Where a subscription asking for ``index`` starts (``StartAtClosest``).

        ``index`` 0 starts at the oldest buffered item. Otherwise the first item with an index
        >= ``index``; when every item is older, the newest item (so it is delivered again).
        """
        item = self.head
        if item is None or index <= item.index:
            return item
        while item.index < index and item.next is not None:
            item = item.next
        return item


class Txn:
    """One write: one index, touched tables and watch keys, and the events it publishes."""

    def __init__(self, store: Store, index: int) -> None:
        self.store = store
        self.index = index
        self.tables: set[str] = set()
        self.watch: set[tuple[str, ...]] = set()
        self.events: list[Event] = []
        self.now_ns = store.clock_wall_ns()

    def touch(self, table: str, *keys: tuple[str, ...]) -> None:
        self.tables.add(table)
        self.watch.update(keys)

    def emit(
        self,
        topic: str,
        type_: str,
        key: str,
        namespace: str,
        payload: Callable[[], str],
        *,
        filter_keys: Iterable[str] = (),
    ) -> None:
        self.events.append(
            Event(topic, type_, key, namespace, payload, filter_keys=tuple(k for k in filter_keys if k))
        )


class Store:
    """Nomad's tables plus the indexes blocking queries watch. All access holds ``lock``."""

    def __init__(self, event_buffer_size: int, wall_ns: Callable[[], int], rng: random.Random) -> None:
        self.lock = threading.RLock()
        self.cond = threading.Condition(self.lock)
        self.clock_wall_ns = wall_ns
        self.rng = rng
        self.index = 0
        self.tables: dict[str, int] = {}
        self.watch: dict[tuple[str, ...], int] = {}
        self.nodes: dict[str, Node] = {}
        self.node_names: dict[str, str] = {}
        self.jobs: dict[tuple[str, str], JobRecord] = {}
        self.allocs: dict[str, Alloc] = {}
        self.allocs_by_job: dict[tuple[str, str], dict[str, None]] = {}
        self.allocs_by_node: dict[str, dict[str, None]] = {}
        self.evals: dict[str, dict[str, Any]] = {}
        self.evals_by_job: dict[tuple[str, str], dict[str, None]] = {}
        self.deployments: dict[str, dict[str, Any]] = {}
        self.deployments_by_job: dict[tuple[str, str], dict[str, None]] = {}
        self.events = EventBuffer(event_buffer_size)
        self.stopping = False
        self.waiters = 0  # parked blocking queries (tests use it to know a request is parked)
        self._open: Txn | None = None
        self._depth = 0

    # -- writes --------------------------------------------------------------------------------

    @contextlib.contextmanager
    def txn(self) -> Iterator[Txn]:
        """Open (or join) the write transaction; it commits when the outermost block exits."""
        with self.lock:
            if self._open is None:
                self._open = Txn(self, self.index + 1)
            self._depth += 1
            try:
                yield self._open
            finally:
                self._depth -= 1
                if self._depth == 0:
                    txn, self._open = self._open, None
                    self._commit(txn)

    def _commit(self, txn: Txn) -> None:
        if not txn.tables and not txn.events:
            return
        self.index = txn.index
        for t in txn.tables:
            self.tables[t] = txn.index
        for k in txn.watch:
            self.watch[k] = txn.index
        if txn.events:
            for e in txn.events:
                e.index = txn.index
            self.events.append(BufferItem(txn.index, tuple(txn.events)))
        self.cond.notify_all()

    def put_alloc(self, txn: Txn, a: Alloc) -> None:
        key = (a.namespace, a.job_id)
        self.allocs[a.id] = a
        self.allocs_by_job.setdefault(key, {})[a.id] = None
        self.allocs_by_node.setdefault(a.node_id, {})[a.id] = None
        txn.touch(
            "allocs", ("alloc", a.id), ("job_allocs", *key), ("node_allocs", a.node_id), ("job_summary", *key)
        )

    def drop_alloc(self, txn: Txn, alloc_id: str) -> None:
        a = self.allocs.pop(alloc_id, None)
        if a is None:
            return
        key = (a.namespace, a.job_id)
        self.allocs_by_job.get(key, {}).pop(alloc_id, None)
        self.allocs_by_node.get(a.node_id, {}).pop(alloc_id, None)
        txn.touch(
            "allocs", ("alloc", a.id), ("job_allocs", *key), ("node_allocs", a.node_id), ("job_summary", *key)
        )

    def put_job(self, txn: Txn, job: JobRecord) -> None:
        key = (job.namespace, job.id)
        self.jobs[key] = job
        txn.touch("jobs", ("job", *key), ("job_summary", *key))

    def put_eval(self, txn: Txn, ev: dict[str, Any]) -> None:
        key = (ev["Namespace"], ev["JobID"])
        self.evals[ev["ID"]] = ev
        self.evals_by_job.setdefault(key, {})[ev["ID"]] = None
        txn.touch("evals", ("eval", ev["ID"]), ("job_evals", *key), ("job_summary", *key))

    def put_deployment(self, txn: Txn, d: dict[str, Any]) -> None:
        key = (d["Namespace"], d["JobID"])
        self.deployments[d["ID"]] = d
        self.deployments_by_job.setdefault(key, {})[d["ID"]] = None
        txn.touch("deployment", ("deployment", d["ID"]), ("job_deployments", *key))

    def put_node(self, txn: Txn, node: Node) -> None:
        self.nodes[node.id] = node
        self.node_names[node.name] = node.id
        txn.touch("nodes", ("node", node.id))

    # -- reads ---------------------------------------------------------------------------------

    def table_index(self, *tables: str) -> int:
        return max([self.tables.get(t, 0) for t in tables] + [1])

    def watch_index(self, *keys: tuple[str, ...]) -> int:
        return max([self.watch.get(k, 0) for k in keys] + [0])

    def job_allocs(self, ns: str, job_id: str) -> list[Alloc]:
        return [self.allocs[i] for i in self.allocs_by_job.get((ns, job_id), ())]

    def node_allocs(self, node_id: str) -> list[Alloc]:
        return [self.allocs[i] for i in self.allocs_by_node.get(node_id, ())]

    def block(
        self,
        min_index: int,
        table_index: Callable[[], int],
        watched: Callable[[], int],
        wait_s: float,
    ) -> None:
        """Hold the calling request until its data may have changed (caller holds ``lock``)."""
        if min_index <= 0 or table_index() > min_index:
            return
        deadline = time.monotonic() + wait_s
        self.waiters += 1
        try:
            while not self.stopping and watched() <= min_index:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return
                self.cond.wait(remaining)
        finally:
            self.waiters -= 1


def wait_seconds(text: str | None, rng: random.Random) -> float:
    """Parse ``?wait=`` (Go duration), bound it to 10 minutes and add the ``wait/16`` jitter.

    Raises ``ValueError`` for text Go would reject.
    """
    if not text:
        wait = DEFAULT_WAIT
    else:
        wait = durations.parse_ns(text) / 1e9
        if wait <= 0:
            wait = DEFAULT_WAIT
    wait = min(wait, MAX_WAIT)
    return wait + rng.random() * wait / 16
