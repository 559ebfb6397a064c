"""The farm's engine: Nomad's server (evaluations, scheduling, deployments) and its clients.

One thread drives a heap of timed callbacks on the farm's clock: evaluation processing, task
start after the start latency, task exits, restart delays, heartbeat deadlines, reschedule
follow-ups, deployment health, session TTLs. Callbacks due at the same moment run in one store
transaction, i.e. one raft index and one event-stream item, the way Nomad batches client updates.

Server side (``nomad/``, ``scheduler/``): registering a job stores a new version and creates a
``pending`` evaluation; processing it reconciles the job's allocations per group and slot index
(place missing, stop unneeded, destructive vs in-place update by group hash, migrate on alloc
stop and drain, replace lost allocations, reschedule failed ones per ``ReschedulePolicy`` now or
through a delayed follow-up evaluation) and places through ``placement``. Placements that fail
leave a ``blocked`` evaluation that is retried when capacity appears.

Client side (``client/allocrunner``): an allocation is received (tasks ``pending``, services
registered in Consul with critical checks), its tasks start after the start latency (lifecycle
phases prestart -> main + poststart -> poststop), run and exit per the fault rules, restart per
``RestartPolicy``, kill their siblings when one fails, and stop when the server says so. A node
that stops heartbeating keeps its client work on hold; after the heartbeat grace the server marks
it ``down`` and its allocations ``lost`` (or ``disconnected``/``unknown`` with a ``disconnect``
block) and replaces them.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import heapq
import itertools
import math
import random
import re
import threading
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from nomadctl import durations
from nomadctl.sim import jobs as jobmod
from nomadctl.sim import model, wire
from nomadctl.sim.clock import Clock
from nomadctl.sim.consul import CheckDef, ConsulState
from nomadctl.sim.errors import SimError
from nomadctl.sim.faults import Faults
from nomadctl.sim.jobs import GroupSpec, TaskSpec
from nomadctl.sim.model import Alloc, JobRecord, JobVersion, TaskEvent, TaskState
from nomadctl.sim.nodes import Node, NodeSpec, make_attributes, node_event, node_json
from nomadctl.sim.placement import Overlay, Placement, Placer, Usage
from nomadctl.sim.state import Store, Txn

HTTPError = wire.HTTPError
SEC = 1_000_000_000
TRACKED_VERSIONS = 6  # JobTrackedVersions
ALLOC_NOT_NEEDED = "alloc not needed due to job update"
ALLOC_UPDATING = "alloc is being updated due to job update"
ALLOC_MIGRATING = "alloc is being migrated"
ALLOC_LOST = "alloc is lost since its node is down"
ALLOC_RESCHEDULED = "alloc was rescheduled because it failed"
ALLOC_UNKNOWN = "alloc is unknown since its node is disconnected"
ALLOC_RECONNECT_STOP = "alloc not needed as node is reconnected"
GC_DELAY = 300.0
# A zero restart delay would make a crash-looping task spin at one instant (Nomad would spin too,
# in real time); a millisecond keeps advance() and the engine thread moving.
MIN_RESTART_DELAY = 0.001
MAX_BATCHES_PER_ADVANCE = 1_000_000  # seconds before terminal allocations of purged jobs are forgotten


@dataclass(slots=True)
class Timer:
    due: float
    seq: int
    fn: Callable[[], None]

    def __lt__(self, other: Timer) -> bool:
        return (self.due, self.seq) < (other.due, other.seq)


@dataclass(slots=True)
class TaskRuntime:
    """Client-side bookkeeping of one task that the API does not show."""

    gen: int = 0
    window_start: float = -math.inf
    count: int = 0


@dataclass(slots=True)
class AllocRuntime:
    """Client-side bookkeeping of one allocation (per-task entries only for tasks that need one)."""

    tasks: dict[int, TaskRuntime] = field(default_factory=dict)
    phase: str = "new"  # new, received, prestart, main, poststop, stopping, done
    gen: int = 0
    service_ids: list[str] = field(default_factory=list)
    check_ids: list[tuple[str, str, str, ServiceCheckRef]] = field(default_factory=list)
    healthy_timer: int = 0

    def task(self, ti: int) -> TaskRuntime:
        tr = self.tasks.get(ti)
        if tr is None:
            tr = self.tasks[ti] = TaskRuntime()
        return tr

    def bump(self, ti: int) -> None:
        """Invalidate the task's pending timers (there are none if it has no entry)."""
        tr = self.tasks.get(ti)
        if tr is not None:
            tr.gen += 1

    def gen_of(self, ti: int) -> int:
        tr = self.tasks.get(ti)
        return tr.gen if tr is not None else 0


@dataclass(frozen=True, slots=True)
class ServiceCheckRef:
    """What a registered Consul check follows: a task (index) or, for -1, the whole allocation."""

    task_index: int
    type: str
    address: str
    port: int
    path: str


@dataclass(slots=True)
class PlanResult:
    """What one reconciliation decided for one job."""

    place: list[tuple[GroupSpec, int, Alloc | None, dict[str, Any] | None, Placement]] = field(
        default_factory=list
    )
    stop: list[tuple[Alloc, str]] = field(default_factory=list)
    inplace: list[Alloc] = field(default_factory=list)
    followups: list[tuple[Alloc, int]] = field(default_factory=list)
    failed: dict[str, dict[str, Any]] = field(default_factory=dict)
    queued: dict[str, int] = field(default_factory=dict)
    desired: dict[str, dict[str, int]] = field(default_factory=dict)


def _desired_updates() -> dict[str, int]:
    return {
        "Ignore": 0,
        "Place": 0,
        "Migrate": 0,
        "Stop": 0,
        "InPlaceUpdate": 0,
        "DestructiveUpdate": 0,
        "Canary": 0,
        "Preemptions": 0,
        "Disconnect": 0,
        "Reconnect": 0,
        "RescheduleNow": 0,
        "RescheduleLater": 0,
    }


class Engine:
    """Nomad server + clients + Consul state of the farm; every method takes the farm lock."""

    def __init__(
        self,
        *,
        clock: Clock,
        seed: int | None,
        start_latency: float,
        heartbeat_grace: float,
        event_buffer_size: int,
        datacenter: str = "dc1",
    ) -> None:
        self.clock = clock
        self.rng = random.Random(seed)  # noqa: S311 (simulation, not security)
        self.start_latency = max(0.0, start_latency)
        self.heartbeat_grace = max(0.0, heartbeat_grace)
        self.store = Store(event_buffer_size, clock.wall_ns, self.rng)
        self.lock = self.store.lock
        self.cond = self.store.cond
        self.consul = ConsulState(
            self.store,
            datacenter=datacenter,
            monotonic=clock.monotonic,
            schedule=self.schedule,
            new_id=self.new_id,
        )
        self.usage = Usage()
        self.faults = Faults(self)
        self._heap: list[Timer] = []
        self._seq = itertools.count()
        self.alive: dict[str, bool] = {}
        self.deferred: dict[str, list[Callable[[], None]]] = {}
        self.runtime: dict[str, AllocRuntime] = {}
        self.blocked: dict[tuple[str, str], str] = {}
        self._unblock_pending = False
        self._dirty_jobs: set[tuple[str, str]] = set()
        self._dirty_drains: set[str] = set()
        self._depth = 0
        self._thread: threading.Thread | None = None
        self._node_gens: dict[str, int] = {}
        # Versions of purged jobs, so their remaining allocations can still be rendered.
        self._purged_versions: dict[tuple[str, str, int], JobVersion] = {}

    # -- plumbing --------------------------------------------------------------------------------

    def new_id(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def now_ns(self) -> int:
        return self.clock.wall_ns()

    def schedule(self, delay: float, fn: Callable[[], None]) -> None:
        """Run ``fn`` (under the lock, inside a write) ``delay`` seconds from now."""
        with self.lock:
            heapq.heappush(self._heap, Timer(self.clock.monotonic() + max(0.0, delay), next(self._seq), fn))
            self.cond.notify_all()

    @contextlib.contextmanager
    def write(self) -> Iterator[Txn]:
        """A store transaction that also settles job statuses and drains before it commits."""
        with self.store.txn() as txn:
            self._depth += 1
            try:
                yield txn
            finally:
                self._depth -= 1
                if self._depth == 0:
                    self._settle(txn)

    def _settle(self, txn: Txn) -> None:
        for _ in range(4):  # settling a drain can dirty a job and the other way round; it converges fast
            if not self._dirty_jobs and not self._dirty_drains:
                break
            dirty, self._dirty_jobs = self._dirty_jobs, set()
            for key in dirty:
                self._update_job_status(txn, key)
            drains, self._dirty_drains = self._dirty_drains, set()
            for node_id in drains:
                self._check_drain_complete(txn, node_id)

    def start(self) -> None:
        with self.lock:
            self.store.stopping = False  # a stopped farm can be started again with its state
        self._thread = threading.Thread(target=self._run, name="nomadctl-sim-engine", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        with self.lock:
            self.store.stopping = True
            self.cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def _run(self) -> None:
        with self.lock:
            while not self.store.stopping:
                now = self.clock.monotonic()
                if self._heap and self._heap[0].due <= now:
                    self._run_due(now)
                    continue
                timeout = 1.0
                if self._heap and not self.clock.manual:
                    timeout = min(timeout, max(0.0, self._heap[0].due - now))
                self.cond.wait(timeout)

    def _run_due(self, now: float, limit: int = 2000) -> None:
        # One batch = one raft index. Work scheduled by the batch itself (a placement's client
        # receipt, say) goes to the next batch, as it would reach the real server in a later apply.
        first_new = next(self._seq)
        with self.write():
            n = 0
            while self._heap and self._heap[0].due <= now and self._heap[0].seq < first_new and n < limit:
                timer = heapq.heappop(self._heap)
                timer.fn()
                n += 1

    def advance(self, seconds: float) -> None:
        """Manual clock only: move time forward, running every callback that falls due on the way."""
        advance = getattr(self.clock, "advance", None)
        if advance is None or not self.clock.manual:
            raise SimError("advance() needs a farm built with a ManualClock")
        with self.lock:
            target = self.clock.monotonic() + max(0.0, seconds)
            for _ in range(MAX_BATCHES_PER_ADVANCE):
                now = self.clock.monotonic()
                if self._heap and self._heap[0].due <= now:
                    self._run_due(now)
                    continue
                if self._heap and self._heap[0].due <= target:
                    advance(self._heap[0].due - now)
                    continue
                break
            else:
                raise SimError(
                    "advance(): callbacks keep falling due; is something rescheduling itself at once?"
                )
            advance(max(0.0, target - self.clock.monotonic()))
            self._run_due(self.clock.monotonic())

    # -- nodes -----------------------------------------------------------------------------------

    def add_node(self, spec: NodeSpec) -> Node:
        with self.lock, self.write() as txn:
            if spec.name in self.store.node_names:
                raise SimError(f"node {spec.name!r} already exists")
            n = len(self.store.nodes) + 1
            address = spec.address or f"10.{(n >> 16) & 255}.{(n >> 8) & 255}.{n & 255}"
            node_id = self.new_id()
            gpu_ids = tuple(f"GPU-{self.new_id()}" for _ in range(spec.gpus))
            now = self.now_ns()
            node = Node(
                id=node_id,
                spec=spec,
                address=address,
                secret_attrs=make_attributes(spec, address),
                gpu_ids=gpu_ids,
                create_index=txn.index,
                modify_index=txn.index,
                status_updated_at=now // SEC,
                events=(node_event("Node registered", "Cluster", now, txn.index),),
                meta=dict(spec.meta),
            )
            self.store.put_node(txn, node)
            self.alive[node_id] = True
            self._emit_node(txn, node, "NodeRegistration")
            self.consul.register_node(spec.name, address)
            self._capacity_changed()
            self._eval_system_jobs(txn, node_id)
            return node

    def _emit_node(self, txn: Txn, node: Node, type_: str) -> None:
        now = self.now_ns()
        txn.emit("Node", type_, node.id, "", lambda: '{"Node":' + wire.dumps(node_json(node, now)) + "}")

    def _put_node(
        self, txn: Txn, node: Node, type_: str, message: str = "", subsystem: str = "Cluster"
    ) -> Node:
        if message:
            ev = node_event(message, subsystem, self.now_ns(), txn.index)
            node = node.evolve(events=(*node.events, ev)[-10:])
        node = node.evolve(modify_index=txn.index)
        self.store.put_node(txn, node)
        self._emit_node(txn, node, type_)
        return node

    def node_by_name(self, name: str) -> Node:
        with self.lock:
            node_id = self.store.node_names.get(name)
            if node_id is None:
                if name in self.store.nodes:
                    return self.store.nodes[name]
                raise SimError(f"no node named {name!r} in the farm")
            return self.store.nodes[node_id]

    def down_nodes(self) -> list[str]:
        with self.lock:
            return sorted(self.store.nodes[i].name for i, ok in self.alive.items() if not ok)

    def node_down(self, name: str) -> None:
        with self.lock, self.write():
            node = self.node_by_name(name)
            if not self.alive.get(node.id, True):
                return
            self.alive[node.id] = False
            self.consul.set_node_health(node.name, False)
            gen = self._node_gen(node.id)
            self.schedule(self.heartbeat_grace, lambda: self._heartbeat_missed(node.id, gen))

    def _node_gen(self, node_id: str) -> int:
        self._node_gens[node_id] = self._node_gens.get(node_id, 0) + 1
        return self._node_gens[node_id]

    def _heartbeat_missed(self, node_id: str, gen: int) -> None:
        if self.alive.get(node_id, True) or self._node_gens.get(node_id) != gen:
            return
        with self.write() as txn:
            node = self.store.nodes[node_id]
            unknown: list[Alloc] = []
            lost: list[Alloc] = []
            for a in self.store.node_allocs(node_id):
                if a.client_terminal:
                    continue
                if a.server_terminal:
                    # updateNonTerminalAllocsToLost: stopping allocations of a dead node are lost
                    self._put_alloc(txn, a.evolve(client_status="lost"), "AllocationUpdated")
                    self._client_terminal(txn, self.store.allocs[a.id], services=False)
                    continue
                group = self.group_of(a)
                if group is not None and group.disconnect is not None:
                    unknown.append(a)
                else:
                    lost.append(a)
            status = "disconnected" if unknown else "down"
            node = self._put_node(
                txn,
                node.evolve(status=status, status_updated_at=self.now_ns() // SEC),
                "NodeStreamEvent",
                "Node heartbeat missed",
            )
            jobs_touched: set[tuple[str, str]] = set()
            for a in lost:
                self._mark_lost(txn, a)
                jobs_touched.add((a.namespace, a.job_id))
            for a in unknown:
                self._put_alloc(
                    txn,
                    a.evolve(client_status="unknown", client_description=ALLOC_UNKNOWN),
                    "AllocationUpdated",
                )
                jobs_touched.add((a.namespace, a.job_id))
                group = self.group_of(a)
                assert group is not None
                assert group.disconnect is not None
                alloc_id = a.id
                self.schedule(
                    group.disconnect.lost_after_ns / 1e9, functools.partial(self._lost_after, alloc_id)
                )
            for key in jobs_touched:
                self._enqueue_eval_for(txn, key, "node-update", node_id=node_id)

    def _mark_lost(self, txn: Txn, a: Alloc) -> None:
        self._put_alloc(
            txn,
            a.evolve(
                desired_status="stop",
                desired_description=ALLOC_LOST,
                client_status="lost",
                client_description="",
            ),
            "PlanResult",
        )
        self._client_terminal(txn, self.store.allocs[a.id], services=False)

    def _lost_after(self, alloc_id: str) -> None:
        a = self.store.allocs.get(alloc_id)
        if a is None or a.client_status != "unknown":
            return
        with self.write() as txn:
            self._mark_lost(txn, a)
            node = self.store.nodes[a.node_id]
            if node.status == "disconnected" and not any(
                x.client_status == "unknown" for x in self.store.node_allocs(node.id)
            ):
                self._put_node(
                    txn, node.evolve(status="down"), "NodeStreamEvent", "Node marked down after disconnect"
                )
            self._enqueue_eval_for(txn, (a.namespace, a.job_id), "node-update", node_id=a.node_id)

    def node_up(self, name: str) -> None:
        with self.lock, self.write() as txn:
            node = self.node_by_name(name)
            if self.alive.get(node.id, True):
                return
            self.alive[node.id] = True
            self._node_gen(node.id)
            self.consul.set_node_health(node.name, True)
            if node.status in ("down", "disconnected"):
                self._put_node(
                    txn,
                    node.evolve(status="ready", status_updated_at=self.now_ns() // SEC),
                    "NodeStreamEvent",
                    "Node reregistered by heartbeat",
                )
                self._reconnect(txn, node)
                self._capacity_changed()
                self._eval_system_jobs(txn, node.id)
            for fn in self.deferred.pop(node.id, []):
                self.schedule(0, fn)

    def _reconnect(self, txn: Txn, node: Node) -> None:
        for a in self.store.node_allocs(node.id):
            if a.client_status == "lost":
                # The client learns its allocations were lost: it kills them and cleans up.
                self._deregister_services(a.id)
                self.runtime.pop(a.id, None)
                continue
            if a.client_status != "unknown":
                continue
            group = self.group_of(a)
            replacement = self._live_replacement(a)
            keep_original = True
            if replacement is not None and group is not None and group.disconnect is not None:
                keep_original = group.disconnect.reconcile != "keep_replacement"
            now = self.now_ns()
            states = a.task_states
            if states is not None:
                ev = TaskEvent("Reconnected", now, display="Client reconnected")
                states = tuple(s.evolve(ev) if s.state == "running" else s for s in states)
            restored = a.evolve(
                client_status="running", client_description="Tasks are running", task_states=states
            )
            self._put_alloc(txn, restored, "AllocationUpdated")
            if not keep_original:
                self._stop_alloc(txn, self.store.allocs[a.id], ALLOC_RECONNECT_STOP)
            elif replacement is not None:
                self._stop_alloc(txn, replacement, ALLOC_RECONNECT_STOP)
            self._refresh_checks(self.store.allocs[a.id])
            self._dirty_jobs.add((a.namespace, a.job_id))

    def _live_replacement(self, a: Alloc) -> Alloc | None:
        for other in self.store.job_allocs(a.namespace, a.job_id):
            if other.previous_allocation == a.id and not other.terminal:
                return other
        return None

    # -- small helpers ---------------------------------------------------------------------------

    def version_of(self, a: Alloc) -> JobVersion | None:
        """The job version an allocation runs (also for purged jobs, until GC)."""
        rec = self.store.jobs.get((a.namespace, a.job_id))
        if rec is None:
            return self._purged_versions.get((a.namespace, a.job_id, a.job_version))
        return rec.version(a.job_version) or self._purged_versions.get((a.namespace, a.job_id, a.job_version))

    def group_of(self, a: Alloc) -> GroupSpec | None:
        """The parsed task group an allocation runs."""
        v = self.version_of(a)
        return v.spec.group(a.task_group) if v is not None else None

    def _put_alloc(self, txn: Txn, a: Alloc, event_type: str) -> Alloc:
        a = a.evolve(modify_index=txn.index, modify_time=self.now_ns())
        self.store.put_alloc(txn, a)
        group = self.group_of(a)
        self._dirty_jobs.add((a.namespace, a.job_id))
        txn.emit(
            "Allocation",
            event_type,
            a.id,
            a.namespace,
            lambda: '{"Allocation":' + model.alloc_json(a, group, None) + "}",
            filter_keys=(a.job_id, a.deployment_id),
        )
        return a

    def _put_eval(
        self, txn: Txn, ev: dict[str, Any], event_type: str = "EvaluationUpdated"
    ) -> dict[str, Any]:
        ev = dict(ev)
        if not ev.get("CreateIndex"):
            ev["CreateIndex"] = txn.index
            ev["CreateTime"] = self.now_ns()
        ev["ModifyIndex"] = txn.index
        ev["ModifyTime"] = self.now_ns()
        self.store.put_eval(txn, ev)
        snapshot = dict(ev)
        txn.emit(
            "Evaluation",
            event_type,
            ev["ID"],
            ev["Namespace"],
            lambda: '{"Evaluation":' + wire.dumps(snapshot) + "}",
            filter_keys=(ev["JobID"], ev.get("DeploymentID", "")),
        )
        self._dirty_jobs.add((ev["Namespace"], ev["JobID"]))
        return ev

    def _new_eval(
        self,
        txn: Txn,
        rec: JobRecord,
        triggered_by: str,
        *,
        status: str = "pending",
        node_id: str = "",
        previous: str = "",
        wait_until_ns: int = 0,
        deployment_id: str = "",
        event_type: str = "EvaluationUpdated",
        priority: int | None = None,
    ) -> dict[str, Any]:
        node = self.store.nodes.get(node_id) if node_id else None
        ev: dict[str, Any] = {
            "ID": self.new_id(),
            "Namespace": rec.namespace,
            "Priority": priority or rec.spec.priority,
            "Type": rec.spec.type,
            "TriggeredBy": triggered_by,
            "JobID": rec.id,
            "JobModifyIndex": rec.current.job_modify_index,
            "NodeID": node_id,
            "NodeModifyIndex": node.modify_index if node else 0,
            "DeploymentID": deployment_id,
            "Status": status,
            "StatusDescription": "",
            "Wait": 0,
            "WaitUntil": wire.go_time(wait_until_ns),
            "NextEval": "",
            "PreviousEval": previous,
            "BlockedEval": "",
            "RelatedEvals": None,
            "FailedTGAllocs": None,
            "PlanAnnotations": None,
            "ClassEligibility": None,
            "EscapedComputedClass": False,
            "QuotaLimitReached": "",
            "AnnotatePlan": False,
            "QueuedAllocations": None,
            "LeaderACL": "",
            "SnapshotIndex": 0,
            "CreateIndex": 0,
            "ModifyIndex": 0,
            "CreateTime": 0,
            "ModifyTime": 0,
        }
        ev = self._put_eval(txn, ev, event_type)
        if status == "pending":
            eval_id = ev["ID"]
            delay = max(0.0, (wait_until_ns - self.now_ns()) / 1e9) if wait_until_ns else 0.0
            self.schedule(delay, lambda: self._process_eval(eval_id))
        return ev

    def _enqueue_eval_for(self, txn: Txn, key: tuple[str, str], triggered_by: str, node_id: str = "") -> None:
        rec = self.store.jobs.get(key)
        if rec is None:
            return
        self._new_eval(txn, rec, triggered_by, node_id=node_id)

    def _eval_system_jobs(self, txn: Txn, node_id: str) -> None:
        """A node became schedulable: system jobs may need an allocation on it."""
        for rec in list(self.store.jobs.values()):
            if rec.spec.type in ("system", "sysbatch") and not rec.stopped and not rec.purged:
                self._new_eval(txn, rec, "node-update", node_id=node_id)

    def _cancel_blocked(self, txn: Txn, key: tuple[str, str]) -> None:
        eval_id = self.blocked.pop(key, None)
        ev = self.store.evals.get(eval_id) if eval_id else None
        if ev is not None and ev["Status"] == "blocked":
            self._put_eval(txn, {**ev, "Status": "canceled", "StatusDescription": "job stopped"})

    def _capacity_changed(self) -> None:
        if self.blocked and not self._unblock_pending:
            self._unblock_pending = True
            self.schedule(0, self._unblock)

    def _unblock(self) -> None:
        self._unblock_pending = False
        with self.write() as txn:
            for key, eval_id in list(self.blocked.items()):
                ev = self.store.evals.get(eval_id)
                if ev is None or ev["Status"] != "blocked":
                    self.blocked.pop(key, None)
                    continue
                self.blocked.pop(key, None)
                self._put_eval(txn, {**ev, "Status": "pending"})
                self.schedule(0, functools.partial(self._process_eval, eval_id))

    # -- evaluations and scheduling ---------------------------------------------------------------

    def _process_eval(self, eval_id: str) -> None:
        ev = self.store.evals.get(eval_id)
        if ev is None or ev["Status"] != "pending":
            return
        key = (ev["Namespace"], ev["JobID"])
        rec = self.store.jobs.get(key)
        with self.write() as txn:
            if rec is None or rec.purged:
                self._stop_orphans(txn, key)
                self._put_eval(txn, {**ev, "Status": "complete"})
                return
            if rec.spec.parameterized is not None or rec.spec.periodic:
                self._put_eval(txn, {**ev, "Status": "complete"})
                return
            plan = self.reconcile(rec, rec.current, Overlay(self.usage))
            self._apply(txn, rec, ev, plan)
            done: dict[str, Any] = {
                **ev,
                "Status": "complete",
                "QueuedAllocations": {g.name: plan.queued.get(g.name, 0) for g in rec.spec.groups},
                "FailedTGAllocs": plan.failed or None,
            }
            old_blocked = self.blocked.pop(key, None)
            if old_blocked and old_blocked in self.store.evals:
                self._put_eval(txn, {**self.store.evals[old_blocked], "Status": "canceled"})
            if plan.failed:
                blocked = self._new_eval(txn, rec, "queued-allocs", status="blocked", previous=eval_id)
                self.blocked[key] = blocked["ID"]
                done["BlockedEval"] = blocked["ID"]
            self._put_eval(txn, done)

    def _stop_orphans(self, txn: Txn, key: tuple[str, str]) -> None:
        for a in self.store.job_allocs(*key):
            if not a.terminal:
                self._stop_alloc(txn, a, ALLOC_NOT_NEEDED)

    def reconcile(self, rec: JobRecord, version: JobVersion, overlay: Overlay) -> PlanResult:
        """Decide placements, stops and updates for ``version`` of ``rec`` (nothing is written)."""
        spec = version.spec
        plan = PlanResult()
        now = self.now_ns()
        allocs = [
            a for a in self.store.job_allocs(rec.namespace, rec.id) if a.job_create_index == rec.create_index
        ]
        by_group: dict[str, dict[int, list[Alloc]]] = {}
        for a in allocs:
            by_group.setdefault(a.task_group, {}).setdefault(a.index, []).append(a)
        placer = Placer(spec, self.store.nodes.values(), overlay, self.rng)
        stopped = version.stop
        groups = {g.name: g for g in spec.groups}
        if spec.type in ("system", "sysbatch"):
            self._reconcile_system(plan, version, allocs, placer)
            return plan
        for gname, slots in by_group.items():
            if gname not in groups:
                d = plan.desired.setdefault(gname, _desired_updates())
                for slot in slots.values():
                    for a in slot:
                        if not a.terminal:
                            plan.stop.append((a, ALLOC_NOT_NEEDED))
                            d["Stop"] += 1
        pending: list[tuple[GroupSpec, int, Alloc | None, dict[str, Any] | None, frozenset[str]]] = []
        for g in spec.groups:
            d = plan.desired.setdefault(g.name, _desired_updates())
            slots = by_group.get(g.name, {})
            count = 0 if stopped else g.count
            for idx in sorted(set(slots) | set(range(count))):
                slot = sorted(slots.get(idx, []), key=lambda a: a.create_index)
                live = [a for a in slot if not a.terminal]
                if idx >= count:
                    for a in live:
                        plan.stop.append((a, ALLOC_NOT_NEEDED))
                        d["Stop"] += 1
                    continue
                head = slot[-1] if slot else None
                if head is None:
                    pending.append((g, idx, None, None, frozenset()))
                    d["Place"] += 1
                    continue
                self._reconcile_slot(
                    plan, d, g, idx=idx, head=head, version=version, now=now, pending=pending
                )
        for a, _ in plan.stop:
            overlay.free(a.id)  # a plan's stops make room for its placements, as in Nomad
        for g, idx, prev, resched, avoid in pending:
            placement = placer.place(g, avoid)
            if placement is None:
                n = plan.queued.get(g.name, 0)
                if n == 0:
                    plan.failed[g.name] = {}
                plan.queued[g.name] = n + 1
                continue
            plan.place.append((g, idx, prev, resched, placement))
        for gname in list(plan.failed):
            g = groups[gname]
            plan.failed[gname] = placer.explain(g, plan.queued[gname] - 1)
        return plan

    def _reconcile_system(
        self, plan: PlanResult, version: JobVersion, allocs: list[Alloc], placer: Placer
    ) -> None:
        """System jobs: one allocation per feasible ready node (index 0 everywhere)."""
        spec = version.spec
        groups = {g.name for g in spec.groups}
        for a in allocs:
            if a.task_group not in groups and not a.terminal:
                plan.stop.append((a, ALLOC_NOT_NEEDED))
                plan.desired.setdefault(a.task_group, _desired_updates())["Stop"] += 1
        for g in spec.groups:
            d = plan.desired.setdefault(g.name, _desired_updates())
            mine = [a for a in allocs if a.task_group == g.name]
            live = {a.node_id: a for a in mine if not a.terminal}
            done = (
                {a.node_id for a in mine if a.client_status == "complete"}
                if spec.type == "sysbatch"
                else set()
            )
            for a in live.values():
                if version.stop:
                    plan.stop.append((a, ALLOC_NOT_NEEDED))
                    d["Stop"] += 1
                elif a.job_version == version.version:
                    d["Ignore"] += 1
                else:
                    old = self.group_of(a)
                    if old is not None and old.spec_hash == g.spec_hash:
                        plan.inplace.append(a)
                        d["InPlaceUpdate"] += 1
                    else:
                        plan.stop.append((a, ALLOC_UPDATING))
                        live_replace = placer.place_on(g, self.store.nodes[a.node_id])
                        if live_replace is not None:
                            plan.place.append((g, 0, a, None, live_replace))
                        d["DestructiveUpdate"] += 1
            if version.stop:
                continue
            for node in placer.nodes:
                if node.id in live or node.id in done:
                    continue
                p = placer.place_on(g, node)
                if p is not None:
                    plan.place.append((g, 0, None, None, p))
                    d["Place"] += 1

    def _reconcile_slot(
        self,
        plan: PlanResult,
        d: dict[str, int],
        g: GroupSpec,
        *,
        idx: int,
        head: Alloc,
        version: JobVersion,
        now: int,
        pending: list[tuple[GroupSpec, int, Alloc | None, dict[str, Any] | None, frozenset[str]]],
    ) -> None:
        batch = version.spec.type in ("batch", "sysbatch")
        if head.server_terminal:
            if head.next_allocation:
                d["Ignore"] += 1
                return
            prev = (
                head if head.client_status == "lost" or head.desired_description == ALLOC_MIGRATING else None
            )
            if (
                batch
                and head.client_status == "complete"
                and head.desired_description != ALLOC_MIGRATING
                and not self._older_version(head, version)
            ):
                d["Ignore"] += 1
                return
            pending.append((g, idx, prev, None, frozenset()))
            d["Migrate" if prev is not None and head.client_status != "lost" else "Place"] += 1
            return
        if head.desired_transition.get("Migrate"):
            plan.stop.append((head, ALLOC_MIGRATING))
            pending.append((g, idx, head, None, frozenset({head.node_id})))
            d["Migrate"] += 1
            return
        status = head.client_status
        if status in ("pending", "running", "unknown"):
            if status == "unknown":
                if g.disconnect is not None and g.disconnect.replace and not self._live_replacement(head):
                    pending.append((g, idx, head, None, frozenset({head.node_id})))
                    d["Disconnect"] += 1
                else:
                    d["Ignore"] += 1
                return
            if head.job_version == version.version:
                d["Ignore"] += 1
                return
            old = self.group_of(head)
            if old is not None and old.spec_hash == g.spec_hash:
                plan.inplace.append(head)
                d["InPlaceUpdate"] += 1
            else:
                plan.stop.append((head, ALLOC_UPDATING))
                pending.append((g, idx, head, None, frozenset()))
                d["DestructiveUpdate"] += 1
            return
        if status == "complete":
            if batch and not self._older_version(head, version):
                d["Ignore"] += 1
            else:
                pending.append((g, idx, head, None, frozenset()))
                d["Place"] += 1
            return
        if status == "lost":
            pending.append((g, idx, head, None, frozenset({head.node_id})))
            d["Place"] += 1
            return
        # failed: reschedule per policy
        when, event = self._reschedule_time(g, head, now)
        if when is None:
            d["Ignore"] += 1
            return
        if when <= now:
            pending.append((g, idx, head, event, frozenset({head.node_id})))
            d["RescheduleNow"] += 1
        else:
            if not head.followup_eval_id:
                plan.followups.append((head, when))
            d["RescheduleLater"] += 1

    def _older_version(self, a: Alloc, version: JobVersion) -> bool:
        """``filterOldTerminalAllocs``: a finished batch allocation of an older job version does not
        count, so updating a batch job runs it again (re-submitting it unchanged does not)."""
        v = self.version_of(a)
        return v is not None and v.job_modify_index < version.job_modify_index

    def _reschedule_time(self, g: GroupSpec, a: Alloc, now: int) -> tuple[int | None, dict[str, Any] | None]:
        policy = g.reschedule
        if policy is None or (policy.attempts == 0 and not policy.unlimited):
            return None, None
        events = list(a.reschedule_events)
        if not policy.unlimited:
            recent = [e for e in events if now - e["RescheduleTime"] < policy.interval_ns]
            if len(recent) >= policy.attempts:
                return None, None
        n = len(events)
        base = policy.delay_ns
        if policy.delay_function == "exponential":
            delay = base * (2**n)
        elif policy.delay_function == "fibonacci":
            x, y = base, base
            for _ in range(n):
                x, y = y, x + y
            delay = x
        else:
            delay = base
        if policy.max_delay_ns and policy.delay_function != "constant":
            delay = min(delay, policy.max_delay_ns)
        failed_at = max((s.finished_at for s in a.task_states or ()), default=0) or a.modify_time
        when = failed_at + delay
        event = {
            "RescheduleTime": max(now, when),
            "PrevAllocID": a.id,
            "PrevNodeID": a.node_id,
            "Delay": delay,
        }
        return when, event

    def _apply(self, txn: Txn, rec: JobRecord, ev: dict[str, Any], plan: PlanResult) -> None:
        now = self.now_ns()
        for a, why in plan.stop:
            self._stop_alloc(txn, self.store.allocs.get(a.id, a), why)
        for a in plan.inplace:
            self._put_alloc(
                txn, self.store.allocs[a.id].evolve(job_version=rec.current.version), "PlanResult"
            )
        deployment = self._deployment_for(txn, rec, plan)
        for g, idx, prev, resched, p in plan.place:
            alloc_id = self.new_id()
            events: tuple[Mapping[str, Any], ...] = ()
            if prev is not None and resched is not None:
                events = (*prev.reschedule_events, resched)
            elif prev is not None and prev.client_status == "failed":
                events = prev.reschedule_events
            a = Alloc(
                id=alloc_id,
                namespace=rec.namespace,
                eval_id=ev["ID"],
                name=f"{rec.id}.{g.name}[{idx}]",
                index=idx,
                node_id=p.node.id,
                node_name=p.node.name,
                address=p.node.address,
                job_id=rec.id,
                job_version=rec.current.version,
                job_create_index=rec.create_index,
                job_type=rec.spec.type,
                task_group=g.name,
                create_index=txn.index,
                modify_index=txn.index,
                create_time=now,
                modify_time=now,
                alloc_modify_index=txn.index,
                client_description="No tasks have started",
                previous_allocation=prev.id if prev is not None else "",
                reschedule_events=events,
                ports=p.ports,
                device_ids=p.devices,
                metrics=p.metric,
                deployment_id=deployment["ID"]
                if deployment is not None and g.name in deployment["TaskGroups"]
                else "",
            )
            self.usage.add(alloc_id, p.claim)
            self._put_alloc(txn, a, "PlanResult")
            if prev is not None:
                cur = self.store.allocs.get(prev.id)
                if cur is not None:
                    changes: dict[str, Any] = {"next_allocation": alloc_id}
                    if resched is not None:
                        changes.update(desired_status="stop", desired_description=ALLOC_RESCHEDULED)
                    self._put_alloc(txn, cur.evolve(**changes), "PlanResult")
            if deployment is not None and g.name in deployment["TaskGroups"]:
                self._deployment_placed(txn, deployment["ID"], g.name)
            self.runtime[alloc_id] = AllocRuntime()
            self._client(alloc_id, 0.0, functools.partial(self._receive, alloc_id))
        for a, when in plan.followups:
            follow = self._new_eval(txn, rec, "alloc-failure", wait_until_ns=when, previous=ev["ID"])
            cur = self.store.allocs.get(a.id)
            if cur is not None:
                self._put_alloc(txn, cur.evolve(followup_eval_id=follow["ID"]), "PlanResult")

    # -- deployments ------------------------------------------------------------------------------

    def _deployment_for(self, txn: Txn, rec: JobRecord, plan: PlanResult) -> dict[str, Any] | None:
        spec = rec.spec
        if spec.type != "service" or rec.stopped:
            return None
        tracked = [g for g in spec.groups if g.update and int(g.update.get("MaxParallel") or 0) > 0]
        if not tracked:
            return None
        current = self._latest_deployment(rec)
        if (
            current is not None
            and current["JobVersion"] == rec.current.version
            and current["JobCreateIndex"] == rec.create_index
        ):
            return current if current["Status"] == "running" else None
        if not plan.place and not any(why == ALLOC_UPDATING for _, why in plan.stop):
            return None
        if current is not None and current["Status"] == "running":
            self._set_deployment(txn, current, "cancelled", "Cancelled due to newer version of job")
        now = self.now_ns()
        groups = {}
        for g in tracked:
            assert g.update is not None
            groups[g.name] = {
                "AutoRevert": bool(g.update.get("AutoRevert")),
                "AutoPromote": bool(g.update.get("AutoPromote")),
                "ProgressDeadline": int(g.update.get("ProgressDeadline") or 0),
                "RequireProgressBy": wire.go_time(now + int(g.update.get("ProgressDeadline") or 0)),
                "Promoted": False,
                "PlacedCanaries": None,
                "DesiredCanaries": 0,
                "DesiredTotal": g.count,
                "PlacedAllocs": 0,
                "HealthyAllocs": 0,
                "UnhealthyAllocs": 0,
            }
        d: dict[str, Any] = {
            "ID": self.new_id(),
            "Namespace": rec.namespace,
            "JobID": rec.id,
            "JobVersion": rec.current.version,
            "JobModifyIndex": rec.modify_index,
            "JobSpecModifyIndex": rec.current.job_modify_index,
            "JobCreateIndex": rec.create_index,
            "IsMultiregion": False,
            "TaskGroups": groups,
            "Status": "running",
            "StatusDescription": "Deployment is running",
            "EvalPriority": spec.priority,
            "CreateIndex": txn.index,
            "ModifyIndex": txn.index,
            "CreateTime": now,
            "ModifyTime": now,
        }
        self._write_deployment(txn, d)
        deadlines = [int(g.update.get("ProgressDeadline") or 0) for g in tracked if g.update]
        if deadlines and max(deadlines) > 0:
            dep_id = d["ID"]
            self.schedule(max(deadlines) / 1e9, lambda: self._progress_deadline(dep_id))
        return d

    def _latest_deployment(self, rec: JobRecord) -> dict[str, Any] | None:
        ids = self.store.deployments_by_job.get((rec.namespace, rec.id), {})
        best = None
        for i in ids:
            d = self.store.deployments[i]
            if best is None or d["CreateIndex"] > best["CreateIndex"]:
                best = d
        return best

    def _write_deployment(self, txn: Txn, d: dict[str, Any], type_: str = "DeploymentStatusUpdate") -> None:
        d["ModifyIndex"] = txn.index
        d["ModifyTime"] = self.now_ns()
        self.store.put_deployment(txn, d)
        snapshot = wire.dumps(d)
        txn.emit(
            "Deployment",
            type_,
            d["ID"],
            d["Namespace"],
            lambda: '{"Deployment":' + snapshot + "}",
            filter_keys=(d["JobID"],),
        )

    def _set_deployment(self, txn: Txn, d: dict[str, Any], status: str, description: str) -> None:
        nd = {
            **d,
            "Status": status,
            "StatusDescription": description,
            "TaskGroups": {k: dict(v) for k, v in d["TaskGroups"].items()},
        }
        self._write_deployment(txn, nd)
        if status == "successful":
            rec = self.store.jobs.get((d["Namespace"], d["JobID"]))
            if rec is not None and rec.create_index == d["JobCreateIndex"]:
                self._put_job(txn, rec.evolve(stable_versions=rec.stable_versions | {d["JobVersion"]}))

    def _deployment_placed(self, txn: Txn, dep_id: str, group: str) -> None:
        d = self.store.deployments[dep_id]
        nd = {**d, "TaskGroups": {k: dict(v) for k, v in d["TaskGroups"].items()}}
        nd["TaskGroups"][group]["PlacedAllocs"] += 1
        self._write_deployment(txn, nd)

    def _deployment_health(self, txn: Txn, a: Alloc, healthy: bool) -> None:
        if not a.deployment_id or (a.deployment_status and a.deployment_status.get("Healthy") is not None):
            return
        d = self.store.deployments.get(a.deployment_id)
        a = self._put_alloc(
            txn,
            a.evolve(
                deployment_status={
                    "Healthy": healthy,
                    "Timestamp": self.now_ns(),
                    "Canary": False,
                    "ModifyIndex": txn.index,
                }
            ),
            "DeploymentAllocHealth",
        )
        if d is None or d["Status"] != "running" or a.task_group not in d["TaskGroups"]:
            return
        nd = {**d, "TaskGroups": {k: dict(v) for k, v in d["TaskGroups"].items()}}
        tg = nd["TaskGroups"][a.task_group]
        tg["HealthyAllocs" if healthy else "UnhealthyAllocs"] += 1
        if not healthy:
            nd["Status"], nd["StatusDescription"] = "failed", "Failed due to unhealthy allocations"
        elif all(s["HealthyAllocs"] >= s["DesiredTotal"] for s in nd["TaskGroups"].values()):
            self._set_deployment(txn, nd, "successful", "Deployment completed successfully")
            return
        self._write_deployment(txn, nd, "DeploymentAllocHealth")

    def _progress_deadline(self, dep_id: str) -> None:
        d = self.store.deployments.get(dep_id)
        if d is None or d["Status"] != "running":
            return
        with self.write() as txn:
            self._set_deployment(txn, d, "failed", "Failed due to progress deadline")

    def _watch_health(self, alloc_id: str) -> None:
        """An allocation became running: judge its deployment health after MinHealthyTime."""
        a = self.store.allocs.get(alloc_id)
        rt = self.runtime.get(alloc_id)
        if a is None or rt is None or not a.deployment_id:
            return
        group = self.group_of(a)
        if group is None or not group.update:
            return
        mode = group.update.get("HealthCheck") or "checks"
        if mode == "manual":
            return
        rt.healthy_timer += 1
        token = rt.healthy_timer
        min_healthy = int(group.update.get("MinHealthyTime") or 0) / 1e9

        def judge() -> None:
            cur = self.store.allocs.get(alloc_id)
            r = self.runtime.get(alloc_id)
            if cur is None or r is None or r.healthy_timer != token or cur.client_status != "running":
                return
            if mode == "checks" and not self._checks_passing(alloc_id):
                return
            with self.write() as txn:
                self._deployment_health(txn, cur, True)

        self.schedule(min_healthy, judge)

    def _checks_passing(self, alloc_id: str) -> bool:
        rt = self.runtime.get(alloc_id)
        if rt is None:
            return False
        return all(
            self.consul.checks[c].status == "passing"
            for c, _, _, _ in rt.check_ids
            if c in self.consul.checks
        )

    # -- job status ------------------------------------------------------------------------------

    def _put_job(self, txn: Txn, rec: JobRecord, event_type: str = "JobRegistered") -> JobRecord:
        rec = rec.evolve(modify_index=txn.index)
        self.store.put_job(txn, rec)
        body = rec.json()
        txn.emit("Job", event_type, rec.id, rec.namespace, lambda: '{"Job":' + body + "}")
        return rec

    def job_status(self, rec: JobRecord) -> str:
        if rec.spec.parameterized is not None or rec.spec.periodic:
            return "dead" if rec.stopped else "running"
        allocs = [
            a for a in self.store.job_allocs(rec.namespace, rec.id) if a.job_create_index == rec.create_index
        ]
        if any(not a.terminal for a in allocs):
            return "running"
        evals = [self.store.evals[i] for i in self.store.evals_by_job.get((rec.namespace, rec.id), ())]
        evals = [e for e in evals if e["CreateIndex"] >= rec.create_index]
        if any(e["Status"] in ("pending", "blocked") for e in evals):
            return "pending"
        if allocs or evals:
            return "dead"
        return "pending"

    def _update_job_status(self, txn: Txn, key: tuple[str, str]) -> None:
        rec = self.store.jobs.get(key)
        if rec is None:
            return
        status = self.job_status(rec)
        if status != rec.status:
            self._put_job(txn, rec.evolve(status=status))

    # -- client simulation -------------------------------------------------------------------------

    def _client(self, alloc_id: str, delay: float, fn: Callable[[], None]) -> None:
        """Schedule client-side work; it waits while the allocation's node is unreachable."""

        def run() -> None:
            a = self.store.allocs.get(alloc_id)
            if a is None:
                return
            if not self.alive.get(a.node_id, True):
                self.deferred.setdefault(a.node_id, []).append(run)
                return
            with self.write():
                fn()

        self.schedule(delay, run)

    def _receive(self, alloc_id: str) -> None:
        a = self.store.allocs.get(alloc_id)
        rt = self.runtime.get(alloc_id)
        group = self.group_of(a) if a is not None else None
        if a is None or rt is None or group is None or a.client_terminal or rt.phase != "new":
            return
        if a.server_terminal:
            self._finish_stop(alloc_id)
            return
        now = self.now_ns()
        pending = TaskState(
            "pending",
            events=(
                TaskEvent("Received", now, display="Task received by client"),
                TaskEvent(
                    "Task Setup", now, message="Building Task Directory", display="Building Task Directory"
                ),
            ),
        )
        rt.phase = "received"
        with self.write() as txn:
            self._put_alloc(txn, a.evolve(task_states=(pending,) * len(group.tasks)), "AllocationUpdated")
        self._register_services(self.store.allocs[alloc_id], group)
        delay = self.faults.start_delay(a.node_name, self.start_latency)
        self._client(alloc_id, delay, lambda: self._start_phase(alloc_id, "prestart"))

    def _phase_tasks(self, group: GroupSpec, phase: str) -> list[int]:
        if phase == "prestart":
            return [i for i, t in enumerate(group.tasks) if t.hook == "prestart"]
        if phase == "main":
            return [i for i, t in enumerate(group.tasks) if t.hook in ("", "poststart")]
        return [i for i, t in enumerate(group.tasks) if t.hook == "poststop"]

    def _start_phase(self, alloc_id: str, phase: str) -> None:
        a = self.store.allocs.get(alloc_id)
        rt = self.runtime.get(alloc_id)
        group = self.group_of(a) if a is not None else None
        if a is None or rt is None or group is None or a.client_terminal or rt.phase in ("stopping", "done"):
            return
        if a.server_terminal:
            self._finish_stop(alloc_id)
            return
        indexes = self._phase_tasks(group, phase)
        rt.phase = phase
        if not indexes:
            nxt = {"prestart": "main", "main": "poststop", "poststop": ""}[phase]
            if nxt:
                self._start_phase(alloc_id, nxt)
            else:
                rt.phase = "done"
            return
        self._start_tasks(alloc_id, indexes)

    def _start_tasks(self, alloc_id: str, indexes: list[int], restart: bool = False) -> None:
        a = self.store.allocs.get(alloc_id)
        if a is None or a.terminal or a.task_states is None:
            return  # stopped (or gone) while the start was pending
        group = self.group_of(a)
        assert group is not None
        assert a.task_states is not None
        now = self.now_ns()
        states = list(a.task_states)
        started: dict[int, TaskState] = {}
        failures: list[int] = []
        # Tasks that start together share one TaskState object (see model.py).
        shared: dict[tuple[int, int, int], TaskState] = {}
        for ti in indexes:
            task = group.tasks[ti]
            if self.faults.fails_to_start(a.job_id, task.name):
                failures.append(ti)
                continue
            prev = states[ti]
            key = (id(prev), prev.restarts, prev.last_restart)
            new = shared.get(key)
            if new is None:
                new = prev.evolve(
                    TaskEvent("Started", now, display="Task started by client"),
                    state="running",
                    started_at=now,
                    finished_at=0,
                    failed=False,
                )
                shared[key] = new
            started[ti] = new
        for ti, s in started.items():
            states[ti] = s
        with self.write() as txn:
            self._set_states(txn, alloc_id, states)
        for ti in started:
            self._arm_exit(alloc_id, ti)
        for ti in failures:
            self._task_exited(alloc_id, ti, exit_code=1, start_failure=True)
        a2 = self.store.allocs.get(alloc_id)
        if a2 is not None and a2.client_status == "running":
            self._refresh_checks(a2)
            if not restart:
                self._watch_health(alloc_id)

    def _arm_exit(self, alloc_id: str, ti: int) -> None:
        a = self.store.allocs[alloc_id]
        group = self.group_of(a)
        assert group is not None
        task = group.tasks[ti]
        batch = a.job_type in ("batch", "sysbatch") or (task.hook != "" and not task.sidecar)
        beh = self.faults.behaviour(a.job_id, task.name, task.env, batch)
        rt = self.runtime[alloc_id]
        rt.bump(ti)
        if math.isinf(beh.duration):
            return
        tr = rt.task(ti)
        gen = tr.gen
        code = beh.exit_code

        def exit_now() -> None:
            r = self.runtime.get(alloc_id)
            cur = self.store.allocs.get(alloc_id)
            if r is None or cur is None or r.gen_of(ti) != gen or cur.task_states is None:
                return
            if cur.task_states[ti].state != "running":
                return
            self._task_exited(alloc_id, ti, exit_code=code)

        self._client(alloc_id, beh.duration, exit_now)

    def _running_tasks(self, alloc_id: str, task: str, all_tasks: bool) -> tuple[Alloc, list[int]]:
        a = self.store.allocs.get(alloc_id)
        if a is None:
            raise HTTPError(404, "Unknown allocation")
        group = self.group_of(a)
        if group is None or a.task_states is None or a.client_terminal:
            raise HTTPError(500, "Allocation is not running")
        if task:
            if task not in group.task_index:
                raise HTTPError(500, f"Failed to restart task {task!r}: unknown task".replace("'", '"'))
            indexes = [group.task_index[task]]
        elif all_tasks:
            indexes = list(range(len(group.tasks)))
        else:
            indexes = [i for i, t in enumerate(group.tasks) if t.main]
        return a, [i for i in indexes if a.task_states[i].state == "running"]

    def restart_alloc(self, alloc_id: str, task: str = "", all_tasks: bool = False) -> None:
        """``POST /v1/client/allocation/:id/restart``: restart tasks in place (not a failure)."""
        with self.lock, self.write() as txn:
            a, indexes = self._running_tasks(alloc_id, task, all_tasks)
            assert a.task_states is not None
            now = self.now_ns()
            states = list(a.task_states)
            rt = self.runtime.get(alloc_id)
            for ti in indexes:
                if rt is not None:
                    rt.bump(ti)
                states[ti] = states[ti].evolve(
                    TaskEvent("Restart Signaled", now, display="User requested task to restart"),
                    TaskEvent("Terminated", now, display="Exit Code: 0", details=(("exit_code", "0"),)),
                    TaskEvent("Restarting", now, display="Task restarting in 0s"),
                    state="pending",
                    restarts=states[ti].restarts + 1,
                    last_restart=now,
                )
            self._set_states(txn, alloc_id, states)
            self._refresh_checks(self.store.allocs[alloc_id])
            delay = self.faults.start_delay(a.node_name, self.start_latency)
            self._client(alloc_id, delay, lambda: self._start_tasks(alloc_id, indexes, restart=True))

    def signal_alloc(self, alloc_id: str, task: str, signal: str) -> None:
        """``POST /v1/client/allocation/:id/signal``: record a ``Signaling`` event."""
        with self.lock, self.write() as txn:
            a, indexes = self._running_tasks(alloc_id, task, all_tasks=False)
            assert a.task_states is not None
            now = self.now_ns()
            states = list(a.task_states)
            sig = signal or "SIGKILL"
            for ti in indexes:
                states[ti] = states[ti].evolve(
                    TaskEvent("Signaling", now, display=f"Task being sent signal {sig}")
                )
            self._set_states(txn, alloc_id, states)

    def kill_task(self, alloc_id: str, task: str, exit_code: int = 137) -> None:
        with self.lock:
            a = self.store.allocs.get(alloc_id)
            if a is None:
                raise SimError(f"no allocation {alloc_id!r}")
            group = self.group_of(a)
            if group is None or task not in group.task_index:
                raise SimError(f"allocation {alloc_id} has no task {task!r}")
            ti = group.task_index[task]
            if a.task_states is None or a.task_states[ti].state != "running":
                raise SimError(f"task {task!r} of allocation {alloc_id} is not running")
            with self.write():
                self.runtime[alloc_id].bump(ti)
                self._task_exited(alloc_id, ti, exit_code=exit_code)

    def find_alloc(self, job: str, group: str, index: int, *, namespace: str = "default") -> str:
        with self.lock:
            name = f"{job}.{group}[{index}]"
            best: Alloc | None = None
            for a in self.store.job_allocs(namespace, job):
                if a.name == name and not a.terminal and (best is None or a.create_index > best.create_index):
                    best = a
            if best is None:
                raise SimError(f"no live allocation {name} in namespace {namespace}")
            return best.id

    def _task_exited(self, alloc_id: str, ti: int, *, exit_code: int, start_failure: bool = False) -> None:
        a = self.store.allocs[alloc_id]
        rt = self.runtime[alloc_id]
        group = self.group_of(a)
        assert group is not None
        assert a.task_states is not None
        task = group.tasks[ti]
        now = self.now_ns()
        states = list(a.task_states)
        cur = states[ti]
        if start_failure:
            ev = TaskEvent(
                "Driver Failure",
                now,
                driver_error="failed to launch command with executor: sim: injected start failure",
                display="failed to launch command with executor: sim: injected start failure",
                details=(
                    ("driver_error", "failed to launch command with executor: sim: injected start failure"),
                ),
            )
        else:
            signal = 9 if exit_code == 137 else 15 if exit_code == 143 else 0
            ev = TaskEvent(
                "Terminated",
                now,
                exit_code=exit_code,
                signal=signal,
                display=f"Exit Code: {exit_code}" + (f", Signal: {signal}" if signal else ""),
                details=(("exit_code", str(exit_code)), ("signal", str(signal)), ("oom_killed", "false")),
            )
        success = exit_code == 0 and not start_failure
        run_to_completion = a.job_type in ("batch", "sysbatch") or (task.hook != "" and not task.sidecar)
        decision, delay, reason = self._restart_decision(task, rt.task(ti), success, run_to_completion)
        if decision == "restart":
            restarting = TaskEvent(
                "Restarting",
                now,
                restart_reason=reason,
                start_delay_ns=int(delay * SEC),
                display=f"Task restarting in {_go_dur(delay)}",
                details=(("restart_reason", reason), ("start_delay", str(int(delay * SEC)))),
            )
            states[ti] = cur.evolve(
                ev, restarting, state="pending", restarts=cur.restarts + 1, last_restart=now
            )
            with self.write() as txn:
                self._set_states(txn, alloc_id, states)
            rt.bump(ti)
            gen = rt.gen_of(ti)

            def restart() -> None:
                r = self.runtime.get(alloc_id)
                c = self.store.allocs.get(alloc_id)
                if r is None or c is None or c.terminal or r.gen_of(ti) != gen:
                    return
                self._start_tasks(alloc_id, [ti], restart=True)

            self._client(alloc_id, delay, restart)
            self._refresh_checks(self.store.allocs[alloc_id])
            return
        failed = decision == "fail"
        extra: tuple[TaskEvent, ...] = ()
        if failed:
            extra = (
                TaskEvent(
                    "Not Restarting",
                    now,
                    restart_reason=reason,
                    fails_task=True,
                    display=reason,
                    details=(("restart_reason", reason), ("fails_task", "true")),
                ),
            )
        states[ti] = cur.evolve(ev, *extra, state="dead", failed=failed, finished_at=now)
        kill_others = failed or (task.leader and task.main)
        if kill_others:
            kind = "Sibling Task Failed" if failed else "Leader Task Dead"
            for oi, other in enumerate(states):
                if oi == ti or other.state == "dead":
                    continue
                states[oi] = self._killed(other, now, kind, task.name)
                self.runtime[alloc_id].bump(oi)
        with self.write() as txn:
            self._set_states(txn, alloc_id, states)
        self._after_task_change(alloc_id)

    def _killed(self, s: TaskState, now: int, reason_type: str = "", sibling: str = "") -> TaskState:
        events: list[TaskEvent] = []
        if reason_type == "Sibling Task Failed":
            events.append(
                TaskEvent(
                    reason_type,
                    now,
                    failed_sibling=sibling,
                    display=f"Task's sibling {sibling!r} failed".replace("'", '"'),
                )
            )
        elif reason_type == "Leader Task Dead":
            events.append(TaskEvent(reason_type, now, display="Leader Task in Group dead"))
        events.append(
            TaskEvent(
                "Killing",
                now,
                kill_timeout_ns=5 * SEC,
                display="Sent interrupt. Waiting 5s before force killing",
            )
        )
        events.append(TaskEvent("Killed", now, display="Task successfully killed"))
        return s.evolve(*events, state="dead", finished_at=now if s.state == "running" or s.started_at else 0)

    def _restart_decision(
        self, task: TaskSpec, tr: TaskRuntime, success: bool, run_to_completion: bool
    ) -> tuple[str, float, str]:
        policy = task.restart
        if success and run_to_completion:
            return "done", 0.0, ""
        if policy.attempts == 0:
            return "fail", 0.0, "Policy allows no restarts"
        now = self.clock.monotonic()
        interval = policy.interval_ns / 1e9
        if now - tr.window_start > interval:
            tr.window_start = now
            tr.count = 0
        tr.count += 1
        if tr.count > policy.attempts:
            if policy.mode == "fail":
                return (
                    "fail",
                    0.0,
                    f"Exceeded allowed attempts {policy.attempts} in interval {_go_dur(interval)}"
                    ' and mode is "fail"',
                )
            return (
                "restart",
                max(MIN_RESTART_DELAY, tr.window_start + interval - now),
                "Exceeded allowed attempts, applying a delay",
            )
        delay = policy.delay_ns / 1e9
        delay = max(MIN_RESTART_DELAY, delay + self.rng.random() * delay * 0.25)
        return "restart", delay, "Restart within policy"

    def _after_task_change(self, alloc_id: str) -> None:
        """Advance lifecycle phases once a task ended."""
        a = self.store.allocs.get(alloc_id)
        rt = self.runtime.get(alloc_id)
        group = self.group_of(a) if a is not None else None
        if a is None or rt is None or group is None or a.task_states is None:
            return
        states = a.task_states
        if a.client_terminal:
            return
        if rt.phase == "prestart":
            blocking = [i for i in self._phase_tasks(group, "prestart") if not group.tasks[i].sidecar]
            if all(states[i].state == "dead" and not states[i].failed for i in blocking):
                self._start_phase(alloc_id, "main")
            return
        if rt.phase == "main":
            mains = [i for i, t in enumerate(group.tasks) if t.main]
            if all(states[i].state == "dead" for i in mains):
                # Main tasks are done: stop sidecars, then run poststop tasks.
                now = self.now_ns()
                new = list(states)
                for i, t in enumerate(group.tasks):
                    if new[i].state != "dead" and (t.sidecar or t.hook == "poststart"):
                        new[i] = self._killed(new[i], now)
                        rt.bump(i)
                with self.write() as txn:
                    self._set_states(txn, alloc_id, new)
                if self._phase_tasks(group, "poststop"):
                    self._client(
                        alloc_id, self.start_latency, lambda: self._start_phase(alloc_id, "poststop")
                    )
            return

    def _set_states(self, txn: Txn, alloc_id: str, states: list[TaskState]) -> Alloc:
        a = self.store.allocs[alloc_id]
        group = self.group_of(a)
        assert group is not None
        rt = self.runtime.get(alloc_id)
        status, description = _client_status(states)
        waiting = (
            rt is not None and rt.phase in ("prestart", "main") and any(s.state == "pending" for s in states)
        )
        if (
            status == "complete"
            and rt is not None
            and rt.phase == "main"
            and self._phase_tasks(group, "poststop")
        ):
            status, description = "running", "Tasks are running"  # poststop tasks still to run
        if status == "complete" and waiting:
            status, description = "pending", "No tasks have started"
        new = a.evolve(task_states=tuple(states), client_status=status, client_description=description)
        new = self._put_alloc(txn, new, "AllocationUpdated")
        if new.client_terminal and not a.client_terminal:
            self._client_terminal(txn, new)
        return new

    def _client_terminal(self, txn: Txn, a: Alloc, *, services: bool = True) -> None:
        """The allocation stopped holding its node: free it, clean up, tell the scheduler."""
        self.usage.release(a.id)
        rt = self.runtime.get(a.id)
        if rt is not None:
            rt.phase = "done"
            rt.tasks.clear()
        if services:
            self._deregister_services(a.id)
        if a.client_status == "failed":
            self._deployment_health(txn, a, False)
            if not a.server_terminal:
                self._enqueue_eval_for(txn, (a.namespace, a.job_id), "alloc-failure")
        self._capacity_changed()
        node = self.store.nodes.get(a.node_id)
        if node is not None and node.drain:
            self._dirty_drains.add(node.id)
        self._dirty_jobs.add((a.namespace, a.job_id))
        rec = self.store.jobs.get((a.namespace, a.job_id))
        if rec is None or rec.purged:
            alloc_id = a.id
            self.schedule(GC_DELAY, lambda: self._gc_alloc(alloc_id))

    def _gc_alloc(self, alloc_id: str) -> None:
        a = self.store.allocs.get(alloc_id)
        if a is None or not a.client_terminal:
            return
        rec = self.store.jobs.get((a.namespace, a.job_id))
        if rec is not None and not rec.purged and rec.create_index == a.job_create_index:
            return
        with self.write() as txn:
            self.store.drop_alloc(txn, alloc_id)
            self.runtime.pop(alloc_id, None)
            key = (a.namespace, a.job_id)
            if not self.store.allocs_by_job.get(key):
                self._gc_job_history(txn, key)

    def _gc_job_history(self, txn: Txn, key: tuple[str, str]) -> None:
        """Forget evaluations and deployments of a purged job instance (Nomad's job GC)."""
        rec = self.store.jobs.get(key)
        keep_from = rec.create_index if rec is not None else math.inf
        for eval_id in list(self.store.evals_by_job.get(key, ())):
            if self.store.evals[eval_id]["CreateIndex"] < keep_from:
                self.store.drop_eval(txn, eval_id)
        for dep_id in list(self.store.deployments_by_job.get(key, ())):
            if self.store.deployments[dep_id]["JobCreateIndex"] < keep_from:
                self.store.drop_deployment(txn, dep_id)
        for vkey in [k for k in self._purged_versions if (k[0], k[1]) == key]:
            del self._purged_versions[vkey]

    def _stop_alloc(self, txn: Txn, a: Alloc, why: str) -> None:
        """The server wants the allocation stopped; the client kills it shortly after."""
        if a.server_terminal and a.desired_description == why:
            return
        a = self._put_alloc(txn, a.evolve(desired_status="stop", desired_description=why), "PlanResult")
        if a.client_terminal:
            return
        alloc_id = a.id
        rt = self.runtime.get(alloc_id)
        if rt is not None:
            rt.gen += 1
        self._client(alloc_id, min(self.start_latency, 0.05), lambda: self._finish_stop(alloc_id))

    def _finish_stop(self, alloc_id: str) -> None:
        a = self.store.allocs.get(alloc_id)
        rt = self.runtime.get(alloc_id)
        if a is None or a.client_terminal:
            return
        if rt is not None:
            rt.phase = "stopping"
            for tr in rt.tasks.values():
                tr.gen += 1
        now = self.now_ns()
        group = self.group_of(a)
        with self.write() as txn:
            if a.task_states is None:
                n = len(group.tasks) if group else 0
                states = [
                    TaskState("dead", events=(TaskEvent("Killed", now, display="Task successfully killed"),))
                ] * n
                new = a.evolve(
                    task_states=tuple(states) if n else None,
                    client_status="complete",
                    client_description="All tasks have completed",
                )
                new = self._put_alloc(txn, new, "AllocationUpdated")
                self._client_terminal(txn, new)
                return
            killed: dict[int, TaskState] = {}
            states = []
            for s in a.task_states:
                if s.state == "dead":
                    states.append(s)
                    continue
                k = killed.get(id(s))
                if k is None:
                    k = killed[id(s)] = self._killed(s, now)
                states.append(k)
            status, description = _client_status(states)
            if status == "pending":
                status, description = "complete", "All tasks have completed"
            new = a.evolve(task_states=tuple(states), client_status=status, client_description=description)
            new = self._put_alloc(txn, new, "AllocationUpdated")
            self._client_terminal(txn, new)

    # -- services and checks ---------------------------------------------------------------------------

    def _register_services(self, a: Alloc, group: GroupSpec) -> None:
        rt = self.runtime[a.id]
        ports = dict(a.ports)
        node = self.store.nodes[a.node_id]
        env = _interp_env(a, node, group)
        for svc in group.all_services:
            if svc.provider != "consul":
                continue
            owner = svc.task or ""
            owner_name = owner if owner else f"group-{group.name}"
            port = ports.get(svc.port_label, 0) if not svc.port_label.isdigit() else int(svc.port_label)
            name = _interp(svc.name, env, owner)
            service_id = f"_nomad-task-{a.id}-{owner_name}-{name}-{svc.port_label}"
            address = svc.address or a.address
            checks = []
            for c in svc.checks:
                cport = ports.get(c.port_label, port) if not c.port_label.isdigit() else int(c.port_label)
                check_id = (
                    "_nomad-check-"
                    + hashlib.sha1(
                        f"{service_id}{c.name}{c.type}{c.port_label}".encode(), usedforsecurity=False
                    ).hexdigest()
                )
                ti = group.task_index.get(c.task, -1) if c.task else group.task_index.get(owner, -1)
                ref = ServiceCheckRef(ti, c.type, address, cport, "")
                status = c.initial_status or "critical"
                checks.append(
                    CheckDef(
                        check_id,
                        c.name,
                        c.type,
                        _go_dur(c.interval_ns / 1e9),
                        _go_dur(c.timeout_ns / 1e9),
                        status,
                        _check_output(ref, status == "passing"),
                    )
                )
                rt.check_ids.append((check_id, name, service_id, ref))
            tags = [_interp(t, env, owner) for t in svc.tags]
            meta = {k: _interp(v, env, owner) for k, v in svc.meta.items()}
            meta["external-source"] = "nomad"
            self.consul.register_service(
                node.name,
                service_id,
                name=name,
                tags=tags,
                meta=meta,
                address=address,
                port=port,
                checks=checks,
            )
            rt.service_ids.append(service_id)

    def _refresh_checks(self, a: Alloc) -> None:
        rt = self.runtime.get(a.id)
        if rt is None or not rt.check_ids:
            return
        states = a.task_states or ()
        alloc_running = a.client_status == "running"
        for check_id, _, _, ref in rt.check_ids:
            if ref.task_index >= 0 and ref.task_index < len(states):
                ok = states[ref.task_index].state == "running" and not a.terminal
            else:
                ok = alloc_running and not a.terminal
            status = "passing" if ok else "critical"
            self.consul.set_check(check_id, status, _check_output(ref, ok))

    def _deregister_services(self, alloc_id: str) -> None:
        rt = self.runtime.get(alloc_id)
        if rt is None:
            return
        for sid in rt.service_ids:
            self.consul.deregister_service(sid)
        rt.service_ids.clear()
        rt.check_ids.clear()

    # -- drain and eligibility --------------------------------------------------------------------------

    def _check_drain_complete(self, txn: Txn, node_id: str) -> None:
        node = self.store.nodes.get(node_id)
        if node is None or not node.drain:
            return
        ignore_system = bool((node.drain_strategy or {}).get("IgnoreSystemJobs"))
        for a in self.store.node_allocs(node_id):
            if a.client_terminal:
                continue
            if ignore_system and a.job_type in ("system", "sysbatch"):
                continue
            return
        now = self.now_ns()
        last = dict(node.last_drain or {})
        last.update({"Status": "complete", "UpdatedAt": wire.go_time(now)})
        self._put_node(
            txn,
            node.evolve(drain=False, drain_strategy=None, last_drain=last),
            "NodeDrain",
            "Node drain complete",
            "Drain",
        )

    def drain_node(
        self,
        node_id: str,
        spec: Mapping[str, Any] | None,
        mark_eligible: bool,
        meta: Mapping[str, str] | None,
    ) -> dict[str, Any]:
        with self.lock, self.write() as txn:
            node = self.store.nodes.get(node_id)
            if node is None:
                raise HTTPError(404, "node not found")
            now = self.now_ns()
            if spec is None:
                node = node.evolve(
                    drain=False,
                    drain_strategy=None,
                    eligibility="eligible" if mark_eligible else node.eligibility,
                    last_drain={
                        **(node.last_drain or {}),
                        "Status": "canceled",
                        "UpdatedAt": wire.go_time(now),
                    },
                )
                self._put_node(txn, node, "NodeDrain", "Node drain strategy cleared", "Drain")
                self._capacity_changed()
                return {
                    "NodeModifyIndex": txn.index,
                    "EvalIDs": None,
                    "EvalCreateIndex": 0,
                    "Index": txn.index,
                }
            deadline = int(wire.get_ci(spec, "Deadline", 0) or 0)
            strategy = {
                "Deadline": deadline,
                "IgnoreSystemJobs": bool(wire.get_ci(spec, "IgnoreSystemJobs", False)),
                "ForceDeadline": wire.go_time(now + deadline if deadline > 0 else now if deadline < 0 else 0),
                "StartedAt": wire.go_time(now),
            }
            last = {
                "StartedAt": wire.go_time(now),
                "UpdatedAt": wire.go_time(now),
                "Status": "draining",
                "AccessorID": "",
                "Meta": dict(meta or {}),
            }
            node = self._put_node(
                txn,
                node.evolve(drain=True, drain_strategy=strategy, eligibility="ineligible", last_drain=last),
                "NodeDrain",
                "Node drain strategy set",
                "Drain",
            )
            eval_ids = self._migrate_node(txn, node, force=deadline < 0)
            if deadline > 0:
                nid = node.id
                self.schedule(deadline / 1e9, lambda: self._drain_deadline(nid))
            self._dirty_drains.add(node.id)
            return {
                "NodeModifyIndex": txn.index,
                "EvalIDs": eval_ids or None,
                "EvalCreateIndex": txn.index if eval_ids else 0,
                "Index": txn.index,
            }

    def _migrate_node(self, txn: Txn, node: Node, *, force: bool) -> list[str]:
        touched: set[tuple[str, str]] = set()
        for a in self.store.node_allocs(node.id):
            if a.terminal:
                continue
            if a.job_type in ("batch", "sysbatch") and not force:
                continue
            if a.job_type in ("system", "sysbatch") and (node.drain_strategy or {}).get("IgnoreSystemJobs"):
                continue
            self._put_alloc(
                txn, a.evolve(desired_transition={"Migrate": True}), "AllocationUpdateDesiredStatus"
            )
            touched.add((a.namespace, a.job_id))
        ids = []
        for key in touched:
            rec = self.store.jobs.get(key)
            if rec is not None:
                ids.append(self._new_eval(txn, rec, "node-drain", node_id=node.id)["ID"])
        return ids

    def _drain_deadline(self, node_id: str) -> None:
        node = self.store.nodes.get(node_id)
        if node is None or not node.drain:
            return
        with self.write() as txn:
            self._migrate_node(txn, node, force=True)

    def set_eligibility(self, node_id: str, eligibility: str) -> dict[str, Any]:
        with self.lock, self.write() as txn:
            node = self.store.nodes.get(node_id)
            if node is None:
                raise HTTPError(404, "node not found")
            if eligibility not in ("eligible", "ineligible"):
                raise HTTPError(400, f"invalid scheduling eligibility {eligibility!r}".replace("'", '"'))
            if node.drain and eligibility == "eligible":
                raise HTTPError(
                    500, "can not set node's scheduling eligibility to eligible while it is draining"
                )
            if node.eligibility != eligibility:
                self._put_node(
                    txn,
                    node.evolve(eligibility=eligibility),
                    "NodeEligibility",
                    f"Node marked as {eligibility}",
                    "Cluster",
                )
                if eligibility == "eligible":
                    self._capacity_changed()
                    self._eval_system_jobs(txn, node_id)
            return {"NodeModifyIndex": txn.index, "EvalIDs": None, "EvalCreateIndex": 0, "Index": txn.index}

    # -- job API operations --------------------------------------------------------------------------------

    def register(
        self,
        job: dict[str, Any],
        *,
        enforce_index: bool = False,
        job_modify_index: int = 0,
        preserve_counts: bool = False,
        eval_priority: int = 0,
    ) -> dict[str, Any]:
        """``Job.Register``: validate, store a new version (if changed), enqueue an evaluation."""
        canon = jobmod.canonicalize(job)
        errs = jobmod.validate(canon)
        if errs:
            raise HTTPError(500, wire.multierror(errs))
        with self.lock, self.write() as txn:
            key = (canon["Namespace"], canon["ID"])
            rec = self.store.jobs.get(key)
            if rec is not None and rec.purged:
                rec = None
            pool = canon["NodePool"]
            if pool not in ("default", "all") and not any(
                n.spec.pool == pool for n in self.store.nodes.values()
            ):
                raise HTTPError(500, f'job "{canon["ID"]}" is in nonexistent node pool "{pool}"')
            if enforce_index:
                if rec is not None:
                    if job_modify_index == 0:
                        raise HTTPError(500, "Enforcing job modify index 0: job already exists")
                    if job_modify_index != rec.current.job_modify_index:
                        raise HTTPError(
                            500,
                            _conflict(job_modify_index, rec.current.job_modify_index),
                        )
                elif job_modify_index != 0:
                    raise HTTPError(500, f"Enforcing job modify index {job_modify_index}: job does not exist")
            if rec is not None:
                if (rec.spec.parameterized is None) != (canon.get("ParameterizedJob") is None):
                    which = (
                        "parameterized job to being non-parameterized"
                        if rec.spec.parameterized is not None
                        else "non-parameterized job to being parameterized"
                    )
                    raise HTTPError(500, f"cannot update {which}")
                if preserve_counts:
                    counts = {g.name: g.count for g in rec.spec.groups}
                    for g in canon["TaskGroups"]:
                        if g["Name"] in counts:
                            g["Count"] = counts[g["Name"]]
            body = {k: v for k, v in canon.items() if k not in jobmod._DIFF_SKIP and k != "Stop"}
            spec = jobmod.parse(canon)
            now = self.now_ns()
            stop = bool(canon.get("Stop"))
            if rec is None:
                version = JobVersion(body, spec, 0, now, txn.index, stop)
                rec = JobRecord(canon["Namespace"], canon["ID"], (version,), txn.index, txn.index)
            else:
                same = wire.dumps(rec.current.body) == wire.dumps(body) and rec.current.stop == stop
                if same:
                    version = rec.current
                else:
                    version = JobVersion(body, spec, rec.current.version + 1, now, txn.index, stop)
                rec = rec.evolve(
                    versions=(*rec.versions, version)[-TRACKED_VERSIONS:]
                    if version is not rec.current
                    else rec.versions
                )
            rec = self._put_job(txn, rec)
            ev = self._new_eval(
                txn, rec, "job-register", event_type="JobRegistered", priority=eval_priority or None
            )
            return {
                "EvalID": ev["ID"] if rec.spec.parameterized is None and not rec.spec.periodic else "",
                "EvalCreateIndex": ev["CreateIndex"],
                "JobModifyIndex": rec.current.job_modify_index,
                "Warnings": jobmod.warnings(canon),
                "Index": txn.index,
                "LastContact": 0,
                "KnownLeader": False,
                "NextToken": "",
            }

    def plan(self, job: dict[str, Any], *, want_diff: bool) -> dict[str, Any]:
        """``Job.Plan``: the scheduler's dry run of ``job`` against the current farm."""
        canon = jobmod.canonicalize(job)
        errs = jobmod.validate(canon)
        if errs:
            raise HTTPError(500, wire.multierror(errs))
        with self.lock:
            key = (canon["Namespace"], canon["ID"])
            rec = self.store.jobs.get(key)
            if rec is not None and rec.purged:
                rec = None
            body = {k: v for k, v in canon.items() if k not in jobmod._DIFF_SKIP and k != "Stop"}
            spec = jobmod.parse(canon)
            now = self.now_ns()
            # The probe version gets the index a register would give it (filterOldTerminalAllocs).
            probe_index = self.store.index + 1
            if rec is None:
                version = JobVersion(body, spec, 0, now, probe_index, bool(canon.get("Stop")))
                probe = JobRecord(canon["Namespace"], canon["ID"], (version,), -1, 0)
            else:
                same = wire.dumps(rec.current.body) == wire.dumps(body) and rec.current.stop == bool(
                    canon.get("Stop")
                )
                if same:
                    version = rec.current
                else:
                    version = JobVersion(
                        body, spec, rec.current.version + 1, now, probe_index, bool(canon.get("Stop"))
                    )
                probe = rec if version is rec.current else rec.evolve(versions=(*rec.versions, version))
            overlay = Overlay(self.usage)
            result = self.reconcile(probe, version, overlay)
            updates = {n: _diff_updates(d) for n, d in result.desired.items()}
            old_body = rec.body_json() if rec is not None else None
            new_body = {**canon, "Version": version.version}
            diff = jobmod.diff(old_body, new_body, updates) if want_diff else None
            return {
                "JobModifyIndex": rec.current.job_modify_index if rec is not None else 0,
                "CreatedEvals": None,
                "Diff": diff,
                "Annotations": {"DesiredTGUpdates": result.desired, "PreemptedAllocs": None},
                "FailedTGAllocs": result.failed or None,
                "NextPeriodicLaunch": wire.ZERO_TIME,
                "Warnings": jobmod.warnings(canon),
                "Index": self.store.index,
            }

    def deregister(self, ns: str, job_id: str, *, purge: bool, eval_priority: int = 0) -> dict[str, Any]:
        with self.lock, self.write() as txn:
            rec = self.store.jobs.get((ns, job_id))
            if rec is None or rec.purged:
                # Nomad's Job.Deregister returns nil for a job it does not know (job_endpoint.go):
                # 200 with an empty EvalID, so deleting twice is not an error.
                return {
                    "EvalID": "",
                    "EvalCreateIndex": 0,
                    "JobModifyIndex": 0,
                    "VolumeEvalID": "",
                    "VolumeEvalIndex": 0,
                    "Index": self.store.index,
                }
            if purge:
                for v in rec.versions:
                    self._purged_versions[(ns, job_id, v.version)] = v
                rec = rec.evolve(purged=True)
                del self.store.jobs[(ns, job_id)]
                txn.touch("jobs", ("job", ns, job_id), ("job_summary", ns, job_id))
                body = rec.json()
                txn.emit("Job", "JobDeregistered", job_id, ns, lambda: '{"Job":' + body + "}")
                self._cancel_blocked(txn, (ns, job_id))
                for a in self.store.job_allocs(ns, job_id):
                    if not a.terminal:
                        self._stop_alloc(txn, a, ALLOC_NOT_NEEDED)
                    elif a.client_terminal:
                        alloc_id = a.id
                        self.schedule(GC_DELAY, functools.partial(self._gc_alloc, alloc_id))
                for dep_id in list(self.store.deployments_by_job.get((ns, job_id), {})):
                    dep = self.store.deployments[dep_id]
                    if dep["Status"] == "running":
                        self._set_deployment(txn, dep, "cancelled", "Cancelled because job is stopped")
                ev = self._new_eval(
                    txn, rec, "job-deregister", event_type="JobDeregistered", priority=eval_priority or None
                )
                return {
                    "EvalID": ev["ID"],
                    "EvalCreateIndex": ev["CreateIndex"],
                    "JobModifyIndex": txn.index,
                    "VolumeEvalID": "",
                    "VolumeEvalIndex": 0,
                    "Index": txn.index,
                }
            if not rec.stopped:
                v = rec.current
                version = JobVersion(v.body, v.spec, v.version + 1, self.now_ns(), txn.index, True)
                rec = rec.evolve(versions=(*rec.versions, version)[-TRACKED_VERSIONS:])
                rec = self._put_job(txn, rec, "JobDeregistered")
            d = self._latest_deployment(rec)
            if d is not None and d["Status"] == "running":
                self._set_deployment(txn, d, "cancelled", "Cancelled because job is stopped")
            self._cancel_blocked(txn, (ns, job_id))
            ev = self._new_eval(
                txn, rec, "job-deregister", event_type="JobDeregistered", priority=eval_priority or None
            )
            return {
                "EvalID": ev["ID"],
                "EvalCreateIndex": ev["CreateIndex"],
                "JobModifyIndex": rec.current.job_modify_index,
                "VolumeEvalID": "",
                "VolumeEvalIndex": 0,
                "Index": txn.index,
            }

    def scale(self, ns: str, job_id: str, body: Mapping[str, Any]) -> dict[str, Any]:
        with self.lock, self.write() as txn:
            rec = self.store.jobs.get((ns, job_id))
            if rec is None or rec.purged:
                raise HTTPError(404, "job not found")
            target = wire.get_ci(body, "Target") or {}
            group_name = wire.get_ci(target, "Group") if isinstance(target, dict) else None
            if not group_name:
                raise HTTPError(400, "missing task group name for scaling action")
            group = rec.spec.group(group_name)
            if group is None:
                raise HTTPError(
                    400,
                    f"task group {group_name!r} specified for scaling does not exist in job".replace(
                        "'", '"'
                    ),
                )
            count = wire.get_ci(body, "Count")
            jmi = int(wire.get_ci(body, "JobModifyIndex") or 0)
            if jmi and jmi != rec.current.job_modify_index:
                raise HTTPError(
                    500,
                    _conflict(jmi, rec.current.job_modify_index),
                )
            d = self._latest_deployment(rec)
            if (
                count is not None
                and d is not None
                and d["Status"] == "running"
                and d["JobCreateIndex"] == rec.create_index
            ):
                raise HTTPError(400, "job scaling blocked due to active deployment")
            now = self.now_ns()
            prev = group.count
            eval_id = None
            if count is not None:
                count = int(count)
                if count < 0:
                    raise HTTPError(400, "scaling action count can't be negative")
                if group.scaling_min is not None and count < group.scaling_min:
                    raise HTTPError(
                        400,
                        f"group count was less than scaling policy minimum: {count} < {group.scaling_min}",
                    )
                if group.scaling_max is not None and count > group.scaling_max:
                    raise HTTPError(
                        400,
                        f"group count was greater than scaling policy maximum: {count} > {group.scaling_max}",
                    )
                body2 = dict(rec.current.body)
                body2["TaskGroups"] = [
                    {**g, "Count": count} if g["Name"] == group_name else g
                    for g in rec.current.body["TaskGroups"]
                ]
                canon = {**body2, "Stop": rec.current.stop}
                version = JobVersion(
                    body2, jobmod.parse(canon), rec.current.version + 1, now, txn.index, rec.current.stop
                )
                rec = rec.evolve(versions=(*rec.versions, version)[-TRACKED_VERSIONS:])
            event = {
                "Count": count,
                "PreviousCount": prev,
                "Error": bool(wire.get_ci(body, "Error", False)),
                "Message": wire.get_ci(body, "Message", "") or "",
                "Meta": wire.get_ci(body, "Meta"),
                "EvalID": None,
                "Time": now,
                "CreateIndex": txn.index,
            }
            rec = self._put_job(txn, rec)
            if count is not None:
                ev = self._new_eval(txn, rec, "job-scaling")
                eval_id = ev["ID"]
                event["EvalID"] = eval_id
            events = dict(rec.scaling_events)
            events[group_name] = (event, *events.get(group_name, ()))[:20]
            rec = self._put_job(txn, rec.evolve(scaling_events=events))
            return {
                "EvalID": eval_id or "",
                "EvalCreateIndex": txn.index if eval_id else 0,
                "JobModifyIndex": rec.current.job_modify_index,
                "Warnings": "",
                "Index": txn.index,
            }

    def dispatch(self, ns: str, job_id: str, body: Mapping[str, Any]) -> dict[str, Any]:
        with self.lock:
            rec = self.store.jobs.get((ns, job_id))
            if rec is None or rec.purged:
                raise HTTPError(500, "parameterized job not found")
            param = rec.spec.parameterized
            if param is None:
                raise HTTPError(500, f'Specified job "{job_id}" is not a parameterized job')
            if rec.stopped:
                raise HTTPError(500, f'Specified job "{job_id}" is stopped')
            payload = wire.get_ci(body, "Payload")
            policy = param.get("Payload") or "optional"
            if policy == "required" and not payload:
                raise HTTPError(500, "Payload is not provided but required by parameterized job")
            if policy == "forbidden" and payload:
                raise HTTPError(500, "Payload provided but forbidden by parameterized job")
            meta = wire.as_str_map(wire.get_ci(body, "Meta"))
            allowed = set(param.get("MetaRequired") or ()) | set(param.get("MetaOptional") or ())
            extra = sorted(k for k in meta if k not in allowed)
            if extra:
                raise HTTPError(
                    500, f"Dispatch request included unpermitted metadata keys: [{' '.join(extra)}]"
                )
            missing = sorted(k for k in param.get("MetaRequired") or () if k not in meta)
            if missing:
                raise HTTPError(500, f"Dispatch did not provide required meta keys: [{' '.join(missing)}]")
            suffix = f"{self.now_ns() // SEC}-{self.new_id()[:8]}"
            prefix = wire.get_ci(body, "IdPrefixTemplate") or ""
            child_id = f"{job_id}/dispatch-{prefix + '-' if prefix else ''}{suffix}"
            child = dict(rec.current.body)
            child.update(
                {
                    "ID": child_id,
                    "Name": child_id,
                    "ParentID": job_id,
                    "Dispatched": True,
                    "ParameterizedJob": None,
                    "Meta": {**(child.get("Meta") or {}), **meta} or None,
                    "Payload": payload,
                }
            )
            prio = int(wire.get_ci(body, "Priority") or 0)
            if prio:
                child["Priority"] = prio
            resp = self.register(child)
            return {
                "DispatchedJobID": child_id,
                "EvalID": resp["EvalID"],
                "EvalCreateIndex": resp["EvalCreateIndex"],
                "JobCreateIndex": resp["Index"],
                "Index": resp["Index"],
            }

    def force_evaluate(self, ns: str, job_id: str) -> dict[str, Any]:
        """``POST /v1/job/:id/evaluate``: a fresh evaluation of the job."""
        with self.lock, self.write() as txn:
            rec = self.store.jobs.get((ns, job_id))
            if rec is None or rec.purged:
                raise HTTPError(404, "job not found")
            ev = self._new_eval(txn, rec, "job-register")
            return {
                "EvalID": ev["ID"],
                "EvalCreateIndex": ev["CreateIndex"],
                "JobModifyIndex": rec.current.job_modify_index,
                "Index": txn.index,
            }

    def stop_alloc_api(self, alloc_id: str) -> dict[str, Any]:
        with self.lock, self.write() as txn:
            a = self.store.allocs.get(alloc_id)
            if a is None:
                raise HTTPError(404, "alloc not found")
            a = self._put_alloc(
                txn, a.evolve(desired_transition={"Migrate": True}), "AllocationUpdateDesiredStatus"
            )
            rec = self.store.jobs.get((a.namespace, a.job_id))
            if rec is None:
                self._stop_alloc(txn, a, ALLOC_NOT_NEEDED)
                return {"EvalID": "", "Index": txn.index}
            ev = self._new_eval(txn, rec, "alloc-stop")
            return {"EvalID": ev["ID"], "Index": txn.index}

    def stats(self) -> dict[str, Any]:
        """Counts for ``/sim/v1/status`` and the benchmark."""
        with self.lock:
            by_status: dict[str, int] = {}
            task_states = running_tasks = 0
            for a in self.store.allocs.values():
                by_status[a.client_status] = by_status.get(a.client_status, 0) + 1
                if a.task_states:
                    task_states += len(a.task_states)
                    running_tasks += sum(1 for s in a.task_states if s.state == "running")
            return {
                "Nodes": len(self.store.nodes),
                "NodesReady": sum(1 for n in self.store.nodes.values() if n.status == "ready"),
                "DownNodes": self.down_nodes(),
                "Jobs": len(self.store.jobs),
                "Allocs": len(self.store.allocs),
                "AllocsByStatus": by_status,
                "TaskStates": task_states,
                "RunningTasks": running_tasks,
                "Services": len(self.consul.services),
                "Index": self.store.index,
                "ConsulIndex": self.consul.index,
                "PendingTimers": len(self._heap),
            }

    def job_summary(self, rec: JobRecord) -> dict[str, Any]:
        summary: dict[str, dict[str, int]] = {
            g.name: {
                "Queued": 0,
                "Complete": 0,
                "Failed": 0,
                "Running": 0,
                "Starting": 0,
                "Lost": 0,
                "Unknown": 0,
            }
            for g in rec.spec.groups
        }
        bucket = {
            "pending": "Starting",
            "running": "Running",
            "complete": "Complete",
            "failed": "Failed",
            "lost": "Lost",
            "unknown": "Unknown",
        }
        for a in self.store.job_allocs(rec.namespace, rec.id):
            if a.job_create_index != rec.create_index:
                continue
            s = summary.setdefault(
                a.task_group,
                {
                    "Queued": 0,
                    "Complete": 0,
                    "Failed": 0,
                    "Running": 0,
                    "Starting": 0,
                    "Lost": 0,
                    "Unknown": 0,
                },
            )
            s[bucket[a.client_status]] += 1
        blocked = self.blocked.get((rec.namespace, rec.id))
        for ev_id in self.store.evals_by_job.get((rec.namespace, rec.id), ()):
            ev = self.store.evals[ev_id]
            if ev.get("BlockedEval") and ev.get("BlockedEval") == blocked:
                for gname, n in (ev.get("QueuedAllocations") or {}).items():
                    if gname in summary:
                        summary[gname]["Queued"] = n
        children = None
        if rec.spec.parameterized is not None or rec.spec.periodic:
            pending = running = dead = 0
            for (ns, _), child in self.store.jobs.items():
                if ns != rec.namespace or child.current.body.get("ParentID") != rec.id:
                    continue
                if child.status == "pending":
                    pending += 1
                elif child.status == "running":
                    running += 1
                else:
                    dead += 1
            children = {"Pending": pending, "Running": running, "Dead": dead}
        return {
            "JobID": rec.id,
            "Namespace": rec.namespace,
            "Summary": summary,
            "Children": children,
            "CreateIndex": rec.create_index,
            "ModifyIndex": self.store.watch_index(("job_summary", rec.namespace, rec.id)) or rec.modify_index,
        }


def _diff_updates(d: Mapping[str, int]) -> dict[str, int]:
    """``TaskGroupDiff.Updates`` keys, as Nomad names them in plan output."""
    names = {
        "Ignore": "ignore",
        "Place": "create",
        "Migrate": "migrate",
        "Stop": "destroy",
        "InPlaceUpdate": "in-place update",
        "DestructiveUpdate": "create/destroy update",
        "Canary": "canary",
        "Preemptions": "preemptions",
        "RescheduleNow": "reschedule now",
        "RescheduleLater": "reschedule later",
        "Disconnect": "disconnect",
        "Reconnect": "reconnect",
    }
    return {names[k]: v for k, v in d.items() if v}


def _client_status(states: list[TaskState] | tuple[TaskState, ...]) -> tuple[str, str]:
    """``getClientStatus`` of the alloc runner."""
    pending = running = dead = failed = False
    for s in states:
        if s.state == "running":
            running = True
        elif s.state == "pending":
            pending = True
        elif s.state == "dead":
            if s.failed:
                failed = True
            else:
                dead = True
    if failed:
        return "failed", "Failed tasks"
    if running:
        return "running", "Tasks are running"
    if pending:
        return "pending", "No tasks have started"
    if dead:
        return "complete", "All tasks have completed"
    return "pending", "No tasks have started"


def _conflict(given: int, current: int) -> str:
    return f"Enforcing job modify index {given}: job exists with conflicting job modify index: {current}"


def _go_dur(seconds: float) -> str:
    return durations.format_ns(round(seconds * SEC))


_VAR = re.compile(r"\$\{([^}]+)\}")


def _interp_env(a: Alloc, node: Node, group: GroupSpec) -> dict[str, str]:
    env = {
        "NOMAD_ALLOC_ID": a.id,
        "NOMAD_ALLOC_NAME": a.name,
        "NOMAD_ALLOC_INDEX": str(a.index),
        "NOMAD_JOB_NAME": a.job_id,
        "NOMAD_JOB_ID": a.job_id,
        "NOMAD_GROUP_NAME": group.name,
        "NOMAD_NAMESPACE": a.namespace,
        "NOMAD_DC": node.spec.datacenter,
        "NOMAD_REGION": "global",
        "node.unique.name": node.name,
        "node.unique.id": node.id,
        "node.datacenter": node.spec.datacenter,
        "node.class": node.spec.node_class,
        "node.pool": node.spec.pool,
        "node.region": "global",
    }
    for label, port in a.ports:
        env[f"NOMAD_PORT_{label}"] = str(port)
        env[f"NOMAD_HOST_PORT_{label}"] = str(port)
        env[f"NOMAD_IP_{label}"] = a.address
        env[f"NOMAD_ADDR_{label}"] = f"{a.address}:{port}"
    for k, v in node.meta.items():
        env[f"meta.{k}"] = v
    for k, v in node.secret_attrs.items():
        env[f"attr.{k}"] = v
    return env


def _interp(text: str, env: Mapping[str, str], task: str) -> str:
    if "${" not in text:
        return text

    def sub(m: re.Match[str]) -> str:
        key = m.group(1)
        if key == "NOMAD_TASK_NAME":
            return task
        return env.get(key, m.group(0))

    return _VAR.sub(sub, text)


def _check_output(ref: ServiceCheckRef, ok: bool) -> str:
    target = f"{ref.address}:{ref.port}"
    if ref.type == "http":
        return (
            f"HTTP GET http://{target}/: 200 OK Output: ok"
            if ok
            else f'Get "http://{target}/": dial tcp {target}: connect: connection refused'
        )
    if ref.type == "grpc":
        return (
            f"gRPC check {target}: success"
            if ok
            else f"gRPC check {target}: dial tcp {target}: connect: connection refused"
        )
    if ref.type == "script":
        return "" if ok else "exit status 1"
    return f"TCP connect {target}: Success" if ok else f"dial tcp {target}: connect: connection refused"
