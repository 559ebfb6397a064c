"""A live mirror of some jobs' allocations and of the cluster's nodes: list, then watch.

``AllocWatcher`` keeps, for a fixed set of job IDs, every allocation that is still part of its
group (``predicate.is_history`` drops the rest) as the predicate's ``AllocView``, and every node
as a ``NodeView``. It never polls:

1. **list**: ``GET /v1/allocations?filter=JobID == ...&task_states=false`` (0.4 MB for an
   ALICE-sized environment instead of ~230 MB with task states), ``GET /v1/nodes``, then task
   states only for the allocations that need them (running, pending or failed: the predicate
   judges their tasks), in batches of ``batch`` allocations with an ``ID == ...`` filter, parsed
   without the tasks' event histories (``NomadClient.allocation_briefs``), so memory stays
   bounded whatever the size and a new leader judges an ALICE-sized environment seconds after
   it starts. (Batches in flight concurrently were measured slower and 2.5x the memory: the
   parse holds the GIL, so one reader keeps up with Nomad.)
2. **watch**: Nomad's event stream, topics ``Allocation:<job>`` for each job and ``Node``, from
   the allocation list's index + 1 (see ``relist`` for why that index). Allocation events carry
   the allocation with its task states (without the job), so a change costs one allocation,
   never a list.
3. **re-list after every reconnect**: the server buffers only ``event_buffer_size`` events and
   silently skips what fell out, so the stream's ``on_reconnect`` runs a full list (step 1) before
   any new frame is applied. Objects carry their ``ModifyIndex``; an event older than what the
   mirror holds is ignored, so replaying events after a list is harmless.

After every list and every frame that changed something the consumer may care about (an
allocation of the jobs, or the node of one of them), ``on_change(Change)`` is called on the
watcher's thread with the mirror as it is now. The consumer judges it with
``nomadctl.health.predicate`` (the controller does: ``nomadctl.controller.enforce``); the
watcher itself decides nothing.

Test hooks, as in kopf: ``relist()`` and ``apply(frame)`` are public, so tests drive iterations
one by one; ``run()`` takes a ``stop`` event and an injectable clock.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Protocol

from nomadctl.clients.errors import BackendError
from nomadctl.clients.nomad import NomadClient, id_filter
from nomadctl.clients.nomad_events import EventStream
from nomadctl.clients.nomad_models import AllocationBrief, Event, EventFrame, NodeListStub
from nomadctl.errors import ApiError
from nomadctl.health.predicate import AllocView, NodeView, TaskView, is_history

__all__ = ["AllocWatcher", "Change", "Clock", "Tracked", "alloc_state", "node_state"]

log = logging.getLogger(__name__)

# Client statuses whose task states the predicate reads (see ``predicate.alloc_health``).
_TASKS_MATTER = frozenset({"running", "pending", "failed"})


class Clock(Protocol):
    """Monotonic seconds (latency, backoff) and wall time (what Nomad stamps objects with)."""

    def now_ns(self) -> int: ...

    def monotonic(self) -> float: ...


class _SystemClock:
    def now_ns(self) -> int:
        return time.time_ns()

    def monotonic(self) -> float:
        return time.monotonic()


@dataclass(frozen=True, slots=True)
class Tracked:
    """One allocation as the mirror keeps it: the predicate's view, its job, and its indexes.

    ``detailed`` is false while its task states have not been read (only the list stub is
    known); ``modify_time_ns`` is when Nomad last changed it (for latency measurements).
    """

    view: AllocView
    job_id: str
    modify_index: int
    create_index: int = 0
    modify_time_ns: int = 0
    detailed: bool = True


@dataclass(frozen=True, slots=True)
class NodeState:
    view: NodeView
    modify_index: int = 0


@dataclass(frozen=True, slots=True)
class Change:
    """What the watcher hands its consumer: the mirror now, and why it is being handed over.

    ``allocs`` and ``nodes`` are read-only views of the live mirror: valid during the callback
    (copy what must outlive it). ``relisted`` is true for a full list (start, reconnect);
    ``received`` the monotonic time the data arrived; ``reported_ns`` the newest Nomad
    timestamp among the changed objects (allocation ``ModifyTime``, 0 if none was given);
    ``changed`` the IDs of the allocations this change touched (all of them after a list).
    """

    index: int
    allocs: Mapping[str, Tracked]
    nodes: Mapping[str, NodeView]
    relisted: bool
    received: float
    reported_ns: int = 0
    trigger: str = ""
    changed: frozenset[str] = field(default_factory=frozenset)


# -------------------------------------------------------------------------------- conversions

# Most task states are identical (running, no restarts): share one instance per distinct value,
# so 150k task states of an ALICE environment cost a handful of objects.
_TASK_VIEWS: dict[tuple[str, bool, int, str | None], TaskView] = {}
_TASK_VIEWS_MAX = 4096


def _task_view(state: str, failed: bool, restarts: int, finished_at: str | None) -> TaskView:
    key = (state, failed, restarts, finished_at)
    view = _TASK_VIEWS.get(key)
    if view is None:
        view = TaskView(state=state, failed=failed, restarts=restarts, finished_at=finished_at)
        if len(_TASK_VIEWS) < _TASK_VIEWS_MAX:
            _TASK_VIEWS[key] = view
    return view


def alloc_state(stub: AllocationBrief, *, detailed: bool = True) -> Tracked:
    """The mirror's record of an allocation list stub (or an event's allocation)."""
    view = AllocView(
        id=stub.id,
        node_id=stub.node_id,
        group=stub.task_group,
        desired_status=stub.desired_status,
        client_status=stub.client_status,
        node_name=stub.node_name,
        tasks=MappingProxyType(
            {
                name: _task_view(
                    ts.state, ts.failed, ts.restarts, str(ts.finished_at) if ts.finished_at else None
                )
                for name, ts in stub.task_states.items()
            }
        ),
        replaced=bool(stub.next_allocation),
    )
    return Tracked(
        view=view,
        job_id=stub.job_id,
        modify_index=stub.modify_index,
        create_index=stub.create_index,
        modify_time_ns=stub.modify_time,
        detailed=detailed,
    )


def node_state(stub: NodeListStub) -> NodeState:
    return NodeState(
        NodeView(
            id=stub.id,
            name=stub.name,
            status=stub.status,
            eligibility=stub.scheduling_eligibility,
            drain=stub.drain,
        ),
        stub.modify_index,
    )


def _or_filter(selector: str, values: Iterable[str]) -> str:
    return " or ".join(f'{selector} == "{v}"' for v in values)


# ------------------------------------------------------------------------------------ watcher


class AllocWatcher:
    """Mirror ``jobs``' allocations and the nodes, calling ``on_change`` after each change.

    ``heartbeat_timeout`` is the stream's silence limit (above Nomad's 30 s heartbeat);
    ``batch`` the number of allocations whose task states one list request reads.
    """

    def __init__(
        self,
        nomad: NomadClient,
        jobs: Sequence[str],
        on_change: Callable[[Change], object],
        *,
        clock: Clock | None = None,
        batch: int = 10,
        heartbeat_timeout: float = 45.0,
        name: str = "",
    ) -> None:
        if not jobs:
            raise ValueError("AllocWatcher needs at least one job")
        for job in jobs:
            if '"' in job or "\\" in job:
                raise ValueError(f"job ID {job!r} cannot be used in a Nomad filter")
        self.nomad = nomad
        self.jobs = tuple(dict.fromkeys(jobs))
        self.on_change = on_change
        self.clock: Clock = clock or _SystemClock()
        self.batch = max(1, batch)
        self.heartbeat_timeout = heartbeat_timeout
        self.name = name or ",".join(self.jobs)
        self.index = 0
        self.lists = 0
        self.list_requests = 0  # requests of the last list (1 + task-state batches)
        self.list_seconds = 0.0  # duration of the last list
        self.frames = 0
        self._allocs: dict[str, Tracked] = {}
        self._nodes: dict[str, NodeState] = {}
        self._node_views: dict[str, NodeView] = {}
        self._stream: EventStream | None = None
        self._stop = threading.Event()
        self._jobset = frozenset(self.jobs)

    # --- the mirror -----------------------------------------------------------------------------

    @property
    def allocs(self) -> Mapping[str, Tracked]:
        return MappingProxyType(self._allocs)

    @property
    def nodes(self) -> Mapping[str, NodeView]:
        return MappingProxyType(self._node_views)

    def _change(self, *, relisted: bool, trigger: str, changed: Iterable[str], reported_ns: int) -> Change:
        return Change(
            index=self.index,
            allocs=self.allocs,
            nodes=self.nodes,
            relisted=relisted,
            received=self.clock.monotonic(),
            reported_ns=reported_ns,
            trigger=trigger,
            changed=frozenset(changed),
        )

    def _put_node(self, state: NodeState) -> bool:
        old = self._nodes.get(state.view.id)
        if old is not None and old.modify_index > state.modify_index:
            return False  # an older event replayed after a list
        self._nodes[state.view.id] = state
        self._node_views[state.view.id] = state.view
        return old is None or old.view != state.view

    def _put_alloc(self, tracked: Tracked) -> bool:
        old = self._allocs.get(tracked.view.id)
        if old is not None and old.modify_index > tracked.modify_index:
            return False
        if is_history(tracked.view):
            return self._allocs.pop(tracked.view.id, None) is not None
        self._allocs[tracked.view.id] = tracked
        return old is None or old.view != tracked.view

    # --- step 1: list ---------------------------------------------------------------------------

    def relist(self) -> Change:
        """Replace the mirror with a fresh list (nodes, allocations, then the task states that
        matter) and hand it to ``on_change``. Returns the change delivered."""
        started = self.clock.monotonic()
        requests = 2
        # Allocations first: the stream resumes after *their* index. Every node change up to the
        # node read (which comes later) is in the node list, every later one has a higher index,
        # and the task-state reads only return newer states. Resuming after the oldest index read
        # instead (the node table's may be ancient) would replay the server's whole event buffer,
        # start-up frames of tens of MB included.
        stubs, alloc_index = self.nomad.allocations(filter=_or_filter("JobID", self.jobs), task_states=False)
        nodes, _ = self.nomad.nodes()
        self._nodes.clear()
        self._node_views.clear()
        for n in nodes:
            self._put_node(node_state(n))
        self._allocs.clear()
        need: list[str] = []
        for stub in stubs:
            if stub.job_id not in self._jobset:
                continue
            tracked = alloc_state(stub, detailed=False)
            if is_history(tracked.view):
                continue
            self._allocs[stub.id] = tracked
            if stub.client_status in _TASKS_MATTER:
                need.append(stub.id)
        for start in range(0, len(need), self.batch):
            chunk = need[start : start + self.batch]
            details, _ = self.nomad.allocation_briefs(filter=id_filter(chunk))
            requests += 1
            for brief in details:
                if brief.job_id in self._jobset:
                    self._allocs.pop(brief.id, None)
                    self._put_alloc(alloc_state(brief))
            for alloc_id in chunk:
                kept = self._allocs.get(alloc_id)
                if kept is not None and not kept.detailed:
                    # gone between the two reads (garbage-collected); judging it without its
                    # task states would call it unhealthy for nothing
                    del self._allocs[alloc_id]
        # what the stream replays that the list already has is discarded by the modify indexes
        self.index = alloc_index
        self.lists += 1
        self.list_requests = requests
        self.list_seconds = self.clock.monotonic() - started
        change = self._change(relisted=True, trigger="list", changed=self._allocs, reported_ns=0)
        self.on_change(change)
        return change

    # --- step 2: watch --------------------------------------------------------------------------

    def apply(self, frame: EventFrame) -> Change | None:
        """Apply one event-stream frame; ``on_change`` is called (and the change returned) if an
        allocation of the jobs, or a node holding one, changed."""
        self.frames += 1
        changed: set[str] = set()
        touched_nodes: set[str] = set()
        reported = 0
        types: list[str] = []
        for event in frame.events:
            if event.topic == "Allocation":
                stub = _event_alloc(event)
                if stub is None or stub.job_id not in self._jobset:
                    continue
                if self._put_alloc(alloc_state(stub)):
                    changed.add(stub.id)
                    reported = max(reported, stub.modify_time)
                    types.append(event.type)
            elif event.topic == "Node":
                node = _event_node(event)
                if node is None:
                    continue
                if event.type == "NodeDeregistration":
                    if self._nodes.pop(node.id, None) is not None:
                        self._node_views.pop(node.id, None)
                        touched_nodes.add(node.id)
                        types.append(event.type)
                elif self._put_node(node_state(node)):
                    touched_nodes.add(node.id)
                    types.append(event.type)
        self.index = max(self.index, frame.index)
        if touched_nodes:
            on_them = {a.view.id for a in self._allocs.values() if a.view.node_id in touched_nodes}
            if on_them:
                changed |= on_them
            elif not changed:
                return None  # a node none of our allocations is on
        if not changed:
            return None
        change = self._change(
            relisted=False, trigger=",".join(dict.fromkeys(types)), changed=changed, reported_ns=reported
        )
        self.on_change(change)
        return change

    # --- the loop -------------------------------------------------------------------------------

    def _reconnected(self, last_index: int) -> None:
        log.info("watcher %s: event stream reconnected after index %d: re-listing", self.name, last_index)
        self.relist()

    def run(self, stop: threading.Event | None = None, *, max_backoff: float = 30.0) -> None:
        """List, then follow the event stream until ``stop`` is set or ``close()`` is called.

        A stream that gives up (the client's ``STREAM_RETRY``) or a failed list is retried after
        an exponential backoff (waiting on ``stop``), starting over with a list. Errors that no
        retry can fix (``Forbidden``, ``BadRequest``) are raised.
        """
        if stop is not None:
            self._stop = stop
        failures = 0
        while not self._stop.is_set():
            try:
                self.relist()
                stream = self.nomad.events(
                    {"Allocation": self.jobs, "Node": []},
                    index=self.index + 1,
                    heartbeat_timeout=self.heartbeat_timeout,
                    on_reconnect=self._reconnected,
                )
                self._stream = stream
                if self._stop.is_set():
                    return
                for frame in stream:
                    failures = 0
                    if self._stop.is_set():
                        return
                    self.apply(frame)
                    if self._stop.is_set():  # asked to stop while handling it: read no further
                        return
            except ApiError as err:
                if self._stop.is_set():
                    return
                if isinstance(err, BackendError) and not err.retryable:
                    raise
                failures += 1
                delay = min(max_backoff, 0.5 * 2 ** min(failures, 8))
                log.warning("watcher %s: %s; starting over in %.1f s", self.name, err.one_line(), delay)
                self._stop.wait(delay)
            finally:
                if self._stream is not None:
                    self._stream.close()
                    self._stream = None

    def close(self) -> None:
        """Ask ``run`` to end (thread-safe; sets the ``stop`` event given to ``run``; a stream
        read in progress ends at its next line or heartbeat)."""
        self._stop.set()
        stream = self._stream
        if stream is not None:
            stream.close()


def _event_alloc(event: Event) -> AllocationBrief | None:
    try:
        return event.allocation(AllocationBrief)
    except ValueError as err:  # pydantic's ValidationError: a payload we cannot read
        log.warning("skipping an allocation event at index %d: %s", event.index, err)
        return None


def _event_node(event: Event) -> NodeListStub | None:
    raw: Any = event.payload.get("Node")
    if not isinstance(raw, dict):
        return None
    try:
        return NodeListStub.model_validate(raw)
    except ValueError as err:
        log.warning("skipping a node event at index %d: %s", event.index, err)
        return None
