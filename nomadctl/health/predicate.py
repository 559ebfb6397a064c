"""Allocation health, group state against NMIN, and the environment-level decision. Pure.

The controller converts Nomad's allocation and node models into the small frozen views below
(this module never imports ``nomadctl.clients``), calls ``group_health`` for each placement group
and ``decide`` with the previous decision; it performs the actions (GO_ERROR, events) itself.

An allocation is **healthy** when (reference "nomad-consul-vault" §3.1):

* its desired status is ``run`` (``stop``/``evict``: being stopped or preempted → not healthy);
* its client status is ``running`` (``pending`` → not yet; ``unknown`` → its client is
  disconnected: not healthy, but *not lost* either, it may reconnect; ``lost``, ``complete``,
  ``failed`` → not healthy);
* every critical task is ``running``. A task that is ``pending`` or ``dead`` after restarts is
  restarting: not healthy. Completed (dead, not failed) non-sidecar ``prestart``/``poststart``
  tasks are ignored, ``poststop`` tasks are ignored while the allocation runs;
* every check passes (Consul ``passing`` or Nomad ``success``; Consul ``warning`` counts as
  passing but is flagged, as Consul's own DNS does by default);
* its node is ``ready``. A running allocation on a *draining* node stays healthy but is flagged:
  Nomad will migrate it, and the group degrades only when it actually stops.

Allocations that were replaced (``replaced``: Nomad set ``NextAllocation``) and finished
allocations that were asked to stop (``complete``/``failed`` with desired ``stop``/``evict``: an
older job version, a scale-down) are history and ignored. A ``lost`` allocation that nothing has
replaced yet is reported: it names the node that went away.

A group counts its healthy allocations per **distinct node** (with ``distinct_hosts`` one alloc is
one node). Its state is OK (healthy ≥ count), DEGRADED (nmin ≤ healthy < count) or FAILED
(healthy < nmin). A *host* group (tasks pinned to one FLP) has nmin = count as soon as it has a
critical task — any critical task down fails it — and nmin = 0 when it has none, so non-critical
tasks only ever warn, as AliECS's ``critical: false`` does.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol


class GroupKind(enum.StrEnum):
    HOST = "host"
    REPLICATED = "replicated"


class GroupState(enum.StrEnum):
    OK = "OK"
    DEGRADED = "DEGRADED"
    FAILED = "FAILED"


# ------------------------------------------------------------------------------------------ views


@dataclass(frozen=True, slots=True)
class TaskView:
    """A task's state in one allocation (Nomad ``TaskStates[name]`` + the task's lifecycle)."""

    state: str  # pending | running | dead
    failed: bool = False
    restarts: int = 0
    finished_at: str | None = None
    lifecycle: str = ""  # "" (main) | prestart | poststart | poststop
    sidecar: bool = False


@dataclass(frozen=True, slots=True)
class AllocView:
    """One allocation. ``checks`` maps a check name to its status (Consul or Nomad wording)."""

    id: str
    node_id: str
    group: str
    desired_status: str
    client_status: str
    node_name: str = ""
    tasks: Mapping[str, TaskView] = field(default_factory=dict)
    checks: Mapping[str, str] = field(default_factory=dict)
    replaced: bool = False


@dataclass(frozen=True, slots=True)
class NodeView:
    id: str
    name: str = ""
    status: str = "ready"  # initializing | ready | down | disconnected
    eligibility: str = "eligible"
    drain: bool = False


@dataclass(frozen=True, slots=True)
class GroupSpec:
    """A placement group: ``count`` allocations wanted, ``nmin`` needed (replicated groups;
    ``None`` means all of them), ``critical_tasks`` the names of its critical tasks."""

    name: str
    kind: GroupKind
    count: int
    nmin: int | None = None
    critical_tasks: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        if self.count < 0:
            raise ValueError(f"group {self.name}: count {self.count} is negative")
        if self.nmin is not None and not 0 <= self.nmin <= self.count:
            raise ValueError(f"group {self.name}: nmin {self.nmin} is not within 0..count ({self.count})")

    @property
    def effective_nmin(self) -> int:
        if self.kind is GroupKind.HOST:
            return self.count if self.critical_tasks else 0
        return self.count if self.nmin is None else self.nmin


# --------------------------------------------------------------------------------------- findings


class Reason(enum.StrEnum):
    DESIRED_STOP = "desired_stop"
    EVICTED = "evicted"
    PENDING = "pending"
    DISCONNECTED = "disconnected"
    LOST = "lost"
    COMPLETE = "complete"
    FAILED = "failed"
    NODE_NOT_READY = "node_not_ready"
    NODE_UNKNOWN = "node_unknown"
    TASK_MISSING = "task_missing"
    TASK_PENDING = "task_pending"
    TASK_RESTARTING = "task_restarting"
    TASK_FAILED = "task_failed"
    TASK_EXITED = "task_exited"
    CHECK_FAILING = "check_failing"
    # flags: healthy, but worth saying
    NODE_DRAINING = "node_draining"
    CHECK_WARNING = "check_warning"
    TASK_RESTARTED = "task_restarted"


@dataclass(frozen=True, slots=True)
class Finding:
    """Why an allocation is not healthy (or what is worth a warning): where, which task, why."""

    alloc_id: str
    node_id: str
    node_name: str
    reason: Reason
    detail: str
    task: str = ""
    critical: bool = True

    def __str__(self) -> str:
        where = self.node_name or self.node_id or "unplaced"
        task = f" task {self.task}" if self.task else ""
        return f"{where}: alloc {self.alloc_id[:8]}{task}: {self.detail}"


class _Add(Protocol):
    def __call__(
        self, reason: Reason, detail: str, task: str = "", *, is_critical: bool = True, flag: bool = False
    ) -> None: ...


_PASSING = frozenset({"passing", "success"})
_JUDGE_TASKS = frozenset({"running", "pending", "failed"})
_AUX_LIFECYCLES = frozenset({"prestart", "poststart"})


@dataclass(frozen=True, slots=True)
class AllocHealth:
    healthy: bool
    problems: tuple[Finding, ...]
    flags: tuple[Finding, ...]


def is_history(alloc: AllocView) -> bool:
    """Replaced allocations and finished ones asked to stop: not part of the group any more."""
    if alloc.replaced:
        return True
    return alloc.client_status in ("complete", "failed") and alloc.desired_status in ("stop", "evict")


def alloc_health(alloc: AllocView, node: NodeView | None, critical_tasks: Iterable[str]) -> AllocHealth:
    """Judge one allocation; ``node`` is ``None`` when the controller does not know its node."""
    critical = frozenset(critical_tasks)
    problems: list[Finding] = []
    flags: list[Finding] = []
    node_name = alloc.node_name or (node.name if node else "")

    def add(
        reason: Reason, detail: str, task: str = "", *, is_critical: bool = True, flag: bool = False
    ) -> None:
        f = Finding(alloc.id, alloc.node_id, node_name, reason, detail, task, is_critical)
        (flags if flag or not is_critical else problems).append(f)

    if alloc.desired_status == "evict":
        add(Reason.EVICTED, "evicted (preempted)")
    elif alloc.desired_status != "run":
        add(Reason.DESIRED_STOP, f"desired status {alloc.desired_status}")

    status = alloc.client_status
    if status == "unknown":
        add(Reason.DISCONNECTED, "client disconnected: allocation unknown, not lost yet")
    elif status == "lost":
        add(Reason.LOST, "allocation lost: its node went down")
    elif status == "pending":
        add(Reason.PENDING, "allocation pending: not running yet")
    elif status in ("complete", "failed"):
        add(Reason.COMPLETE if status == "complete" else Reason.FAILED, f"allocation {status}")
    elif status != "running":
        add(Reason.FAILED, f"client status {status!r}")

    if node is None:
        add(Reason.NODE_UNKNOWN, f"node {alloc.node_id or '(none)'} is not known")
    elif node.status != "ready":
        add(Reason.NODE_NOT_READY, f"node is {node.status}")
    elif node.drain and status == "running":
        add(Reason.NODE_DRAINING, "node is draining: the allocation will be migrated", flag=True)

    if status == "running":
        for name in sorted(critical - set(alloc.tasks)):
            add(Reason.TASK_MISSING, "has no state yet", name)
    if status in _JUDGE_TASKS:  # an unknown (disconnected) client's task states are stale
        for name, ts in sorted(alloc.tasks.items()):
            _judge_task(name, ts, name in critical, add)

    if status == "running":
        for check, check_status in sorted(alloc.checks.items()):
            if check_status == "warning":
                add(Reason.CHECK_WARNING, f"check {check} is warning", flag=True)
            elif check_status not in _PASSING:
                add(Reason.CHECK_FAILING, f"check {check} is {check_status}")
    return AllocHealth(not problems, tuple(problems), tuple(flags))


def _judge_task(name: str, ts: TaskView, critical: bool, add: _Add) -> None:
    if ts.lifecycle == "poststop":
        return
    if ts.lifecycle in _AUX_LIFECYCLES and not ts.sidecar:
        # ephemeral helpers: only a failure matters; running or done is fine
        if ts.state == "dead" and ts.failed:
            add(Reason.TASK_FAILED, f"{ts.lifecycle} task failed", name, is_critical=critical)
        return
    if ts.state == "running":
        if ts.restarts:
            add(Reason.TASK_RESTARTED, f"running after {ts.restarts} restarts", name, flag=True)
        return
    if ts.restarts and ts.state in ("pending", "dead") and not ts.failed:
        add(
            Reason.TASK_RESTARTING,
            f"restarting after {ts.restarts} restarts ({ts.state})",
            name,
            is_critical=critical,
        )
    elif ts.state == "pending":
        add(Reason.TASK_PENDING, "not started yet", name, is_critical=critical)
    elif ts.failed:
        add(Reason.TASK_FAILED, "dead (failed)", name, is_critical=critical)
    else:
        add(
            Reason.TASK_EXITED,
            f"dead (exited{' at ' + ts.finished_at if ts.finished_at else ''})",
            name,
            is_critical=critical,
        )


# ------------------------------------------------------------------------------------------ groups


@dataclass(frozen=True, slots=True)
class GroupHealth:
    """One group's health: the state, the numbers behind it, and why allocations are unhealthy."""

    name: str
    kind: GroupKind
    state: GroupState
    healthy: int
    count: int
    nmin: int
    healthy_nodes: frozenset[str] = frozenset()
    unhealthy: tuple[Finding, ...] = ()
    warnings: tuple[Finding, ...] = ()

    @property
    def reason(self) -> str:
        """One line for events and GO_ERROR: the numbers, then up to three findings."""
        if self.kind is GroupKind.HOST and self.state is GroupState.FAILED:
            head = f"group {self.name}: critical task down"
        else:
            head = f"group {self.name}: {self.healthy}/{self.count} nodes healthy (nmin {self.nmin})"
        shown = [str(f) for f in self.unhealthy[:3]]
        if len(self.unhealthy) > 3:
            shown.append(f"{len(self.unhealthy) - 3} more")
        return head + (": " + "; ".join(shown) if shown else "")


def group_health(spec: GroupSpec, allocs: Iterable[AllocView], nodes: Mapping[str, NodeView]) -> GroupHealth:
    """Judge ``spec``'s group from all listed allocations (other groups' are ignored)."""
    healthy_nodes: set[str] = set()
    unhealthy: list[Finding] = []
    warnings: list[Finding] = []
    for alloc in allocs:
        if alloc.group != spec.name or is_history(alloc):
            continue
        h = alloc_health(alloc, nodes.get(alloc.node_id), spec.critical_tasks)
        warnings.extend(h.flags)
        if h.healthy:
            healthy_nodes.add(alloc.node_id)
        else:
            unhealthy.extend(h.problems)
    healthy = len(healthy_nodes)
    nmin = spec.effective_nmin
    if healthy >= spec.count:
        state = GroupState.OK
    elif healthy >= nmin:
        state = GroupState.DEGRADED
    else:
        state = GroupState.FAILED
    return GroupHealth(
        name=spec.name,
        kind=spec.kind,
        state=state,
        healthy=healthy,
        count=spec.count,
        nmin=nmin,
        healthy_nodes=frozenset(healthy_nodes),
        unhealthy=tuple(unhealthy),
        warnings=tuple(warnings),
    )


# ------------------------------------------------------------------------------------ environment


@dataclass(frozen=True, slots=True)
class GoError:
    """Issue GO_ERROR: a group fell below its nmin (or a host group lost a critical task)."""

    reason: str
    groups: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Degraded:
    """Report that ``group`` is below its count (or changed while below it); no transition."""

    group: GroupHealth

    @property
    def reason(self) -> str:
        return self.group.reason


@dataclass(frozen=True, slots=True)
class Recovered:
    """Report that ``group`` is back to its full count."""

    group: GroupHealth
    previous: GroupState


Action = GoError | Degraded | Recovered


@dataclass(frozen=True, slots=True)
class Decision:
    """The groups as judged now and the actions that follow from what changed."""

    groups: tuple[GroupHealth, ...]
    actions: tuple[Action, ...] = ()

    @property
    def state(self) -> GroupState:
        states = {g.state for g in self.groups}
        for s in (GroupState.FAILED, GroupState.DEGRADED):
            if s in states:
                return s
        return GroupState.OK


def decide(groups: Sequence[GroupHealth], previous: Decision | None = None) -> Decision:
    """Compare ``groups`` with ``previous`` and say only what changed; the controller acts.

    * groups that became FAILED → one ``GoError`` naming them (a group that stays FAILED is not
      reported again: GO_ERROR was already issued for it);
    * a DEGRADED group whose state or healthy count changed → ``Degraded``;
    * a group back to OK from DEGRADED or FAILED → ``Recovered``.

    A group never seen before counts as previously OK.
    """
    before = {g.name: g for g in previous.groups} if previous else {}
    actions: list[Action] = []
    failed: list[GroupHealth] = []
    for g in groups:
        old = before.get(g.name)
        old_state = old.state if old else GroupState.OK
        if g.state is GroupState.FAILED:
            if old_state is not GroupState.FAILED:
                failed.append(g)
        elif g.state is GroupState.DEGRADED:
            if old is None or (old.state, old.healthy, old.count, old.nmin) != (
                g.state,
                g.healthy,
                g.count,
                g.nmin,
            ):
                actions.append(Degraded(g))
        elif old_state is not GroupState.OK:
            actions.append(Recovered(g, old_state))
    if failed:
        actions.insert(0, GoError("; ".join(g.reason for g in failed), tuple(g.name for g in failed)))
    return Decision(tuple(groups), tuple(actions))
