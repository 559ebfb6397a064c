"""NMIN enforcement for one environment: judge each change the watcher reports, record what
changed, and act — GO_ERROR for a failed group, events for degraded and recovered ones.

``EnvEnforcer.on_change`` is the health watcher's consumer (``nomadctl.health.watcher``). For
each change it judges the environment's long-running groups with ``nomadctl.health.predicate``
and asks ``predicate.decide`` what changed since the recorded state:

* a group that became **FAILED** (a replicated group below NMIN, a host group with a critical
  task down) while the environment is DEPLOYED, CONFIGURED or RUNNING → a GO_ERROR decision
  naming the groups, nodes and tasks. The decision is written to the environment's health record
  (``health_record``, check-and-set) **before** anything is done about it, then carried out with
  ``Controller.go_error`` on a worker, then marked done. A leader that dies in between leaves it
  pending and the next leader finishes it (``resume``); since GO_ERROR runs under the
  environment's lock and is refused in ERROR, it never runs twice;
* a group that is **DEGRADED** (nmin ≤ healthy < count) or whose healthy count moved while
  degraded → an event and the group's new state in the record (``env show`` prints both);
  replacements are Nomad's rescheduler's business;
* a group back to **OK** → an event and the record.

Health is watched and recorded in ERROR too (the long-running jobs stay after GO_ERROR, and the
operator wants to see them recover), but nothing is enforced there, nor while the environment is
being torn down (its jobs are stopping): the GO_ERROR decision, if any, is ``skipped``.

Every write is fenced: ``fence()`` (the leader election's) raises ``LeadershipLost`` unless this
replica still holds the leader lock, and a lost check-and-set on the health record means another
writer moved it on — this one then stops deciding for the environment.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Protocol

from nomadctl.controller.errors import (
    EnvironmentBusy,
    EnvironmentNotFound,
    LockLost,
    RecordConflict,
    TransitionRefused,
)
from nomadctl.controller.health_record import (
    DONE,
    PENDING,
    SKIPPED,
    GoErrorDecision,
    GroupMark,
    HealthConflict,
    HealthRecord,
    HealthStore,
)
from nomadctl.controller.observe import critical_tasks, group_spec
from nomadctl.controller.record import EnvRecord
from nomadctl.controller.service import Controller
from nomadctl.controller.settings import Clock
from nomadctl.errors import ApiError, LifecycleError
from nomadctl.health import predicate
from nomadctl.health.predicate import AllocView, GroupHealth, GroupSpec, NodeView
from nomadctl.health.watcher import Change, Tracked
from nomadctl.jobspec import JobKind, JobSet
from nomadctl.lifecycle import fsm
from nomadctl.lifecycle.events import EnvironmentEvent, Event
from nomadctl.lifecycle.fsm import State

log = logging.getLogger(__name__)

#: States in which a failed group issues GO_ERROR (the environment's jobs are meant to run).
ENFORCED = frozenset({State.DEPLOYED, State.CONFIGURED, State.RUNNING})
#: States in which health is watched and recorded: after GO_ERROR the long-running jobs stay, and
#: the operator deciding what to do next wants to see them recover (or not).
WATCHED = ENFORCED | {State.ERROR}


class Fence(Protocol):
    def fence(self) -> None:
        """Raise ``LeadershipLost`` unless this replica may write now."""


class Stopped(LifecycleError):
    """The enforcer was stopped (leadership lost, environment gone): it does nothing more."""


def not_watched(rec: EnvRecord) -> str:
    """Why ``rec``'s groups are not watched now (``""``: they are)."""
    if rec.lifecycle.state not in WATCHED:
        return f"environment is {rec.state}"
    ip = rec.in_progress
    if ip is not None and ip.transition == fsm.DESTROY:
        return "environment is being torn down"
    return ""


def not_enforced(rec: EnvRecord) -> str:
    """Why a failed group of ``rec`` must not issue GO_ERROR now (``""``: it must)."""
    if rec.lifecycle.state not in ENFORCED:
        return f"environment is {rec.state}"
    ip = rec.in_progress
    if ip is not None and ip.transition == fsm.DESTROY:
        return "environment is being torn down"
    return ""


# --------------------------------------------------------------------------------------- judging


@dataclass(frozen=True, slots=True)
class Target:
    """A long-running group to judge: the predicate's spec and the job holding it."""

    spec: GroupSpec
    job_id: str


def targets(jobset: JobSet) -> tuple[Target, ...]:
    """The environment's long-running groups (service jobs), with their critical tasks."""
    critical = critical_tasks(jobset)
    return tuple(
        Target(group_spec(ref, critical), ref.job_id)
        for ref in jobset.groups
        if ref.job_kind is JobKind.SERVICE
    )


def judge(
    groups: Sequence[Target], allocs: Mapping[str, Tracked], nodes: Mapping[str, NodeView]
) -> list[GroupHealth]:
    """Judge ``groups`` from the watcher's mirror."""
    by_job: dict[str, list[AllocView]] = {}
    for tracked in allocs.values():
        by_job.setdefault(tracked.job_id, []).append(tracked.view)
    return [predicate.group_health(t.spec, by_job.get(t.job_id, ()), nodes) for t in groups]


# -------------------------------------------------------------------------------------- messages


def degraded_message(g: GroupHealth) -> str:
    return f"health: {g.reason}; DEGRADED, replacements are left to Nomad's rescheduler"


def recovered_message(g: GroupHealth, previous: predicate.GroupState) -> str:
    return f"health: group {g.name} back to OK: {g.healthy}/{g.count} nodes healthy (was {previous})"


def skipped_message(reason: str, why: str) -> str:
    return f"health: {reason}; GO_ERROR not issued: {why}"


@dataclass(frozen=True, slots=True)
class Decided:
    """What one change led to (for listeners: tests, the latency benchmark, the status page).

    ``received`` is when the watcher got the data, ``decided`` when the decision was recorded
    (monotonic seconds); ``reported_ns`` Nomad's newest timestamp among the changed objects."""

    env_id: str
    decision: predicate.Decision
    index: int
    trigger: str
    received: float
    decided: float
    reported_ns: int
    decided_ns: int
    go_error: GoErrorDecision | None = None


Listener = Callable[[Decided], None]
Submit = Callable[[Callable[[], None]], object]


class EnvEnforcer:
    """Judges and enforces one environment's groups (see the module docstring).

    ``submit(fn)`` runs GO_ERROR executions off the watcher's thread (the daemon's pool; tests
    may run them inline). ``stop`` ends everything this enforcer does. ``checkpoint(name)`` is
    called at ``health:decided`` (decision recorded, not acted on) and ``health:acted``
    (GO_ERROR done, not yet marked): a test hook to kill a leader at a chosen point.
    """

    def __init__(
        self,
        controller: Controller,
        env_id: str,
        groups: Sequence[Target],
        *,
        fence: Fence,
        clock: Clock,
        submit: Submit | None = None,
        stop: threading.Event | None = None,
        listeners: Sequence[Listener] = (),
        checkpoint: Callable[[str], None] | None = None,
        retry_max: float = 30.0,
    ) -> None:
        self.controller = controller
        self.env_id = env_id
        self.groups = tuple(groups)
        self.fence = fence
        self.clock = clock
        self.store = HealthStore(controller.consul, controller.keys)
        self.submit: Submit = submit or (lambda fn: fn())
        self.stop = stop or threading.Event()
        self.listeners = list(listeners)
        self.checkpoint = checkpoint or (lambda name: None)
        self.retry_max = retry_max
        self.health: HealthRecord | None = None
        self._mutex = threading.Lock()  # one writer of ``health`` at a time (watcher vs worker)
        self._executing: str | None = None

    def retarget(self, groups: Sequence[Target]) -> None:
        """Judge ``groups`` from now on (a re-plan: ``env scale`` changed a count)."""
        with self._mutex:
            self.groups = tuple(groups)

    # --- state ----------------------------------------------------------------------------------

    def _guard(self) -> None:
        if self.stop.is_set():
            raise Stopped(f"enforcer of {self.env_id} stopped")
        self.fence.fence()

    def _write(self, record: HealthRecord) -> HealthRecord:
        self._guard()
        stored = self.store.put(
            record.with_(controller=self.controller.settings.controller_id, updated_ns=self.clock.now_ns())
        )
        self.health = stored
        return stored

    def _current(self) -> HealthRecord:
        if self.health is None:
            self.health = self.store.get(self.env_id)
        return self.health

    def _emit(self, messages: Sequence[str], *, error: str = "") -> None:
        if not messages:
            return
        try:
            state = self.controller.record(self.env_id).state
        except EnvironmentNotFound:
            return
        self.controller.events(self.env_id).append(
            [
                Event(EnvironmentEvent(environment_id=self.env_id, state=state, message=m, error=error))
                for m in messages
            ]
        )

    def _announce(self) -> None:
        """Write the record's pending announcements to the event log, then clear them."""
        health = self._current()
        if not health.announce:
            return
        self._guard()
        self._emit(health.announce)
        self._write(health.with_(announce=()))

    # --- start (a new leader) ---------------------------------------------------------------------

    def resume(self) -> None:
        """Pick up from the health record: announce what was not announced, and finish a GO_ERROR
        decision left pending by a leader that died."""
        with self._mutex:
            self.health = self.store.get(self.env_id)
            self._announce()
            decision = self.health.go_error
        if decision is not None and decision.pending:
            log.warning(
                "environment %s: resuming GO_ERROR decided by %s: %s",
                self.env_id,
                decision.decided_by,
                decision.reason,
            )
            self._start_execution(decision)

    # --- each change ----------------------------------------------------------------------------

    def on_change(self, change: Change) -> Decided | None:
        """Judge ``change`` (the watcher's mirror), record what changed and act on it.

        A lost check-and-set on the health record (another writer moved it on) is followed by a
        fresh read and a new decision, a few times; then the change is left to the next one."""
        for _ in range(3):
            if self.stop.is_set():
                return None
            try:
                return self._on_change(change)
            except HealthConflict:
                with self._mutex:
                    self.health = None
                log.warning("environment %s: health record changed under us; deciding again", self.env_id)
        return None

    def _on_change(self, change: Change) -> Decided | None:
        with self._mutex:
            groups = judge(self.groups, change.allocs, change.nodes)
            health = self._current()
            decision = predicate.decide(groups, health.previous())
            now = self.clock.now_ns()
            marks: dict[str, GroupMark] = {}
            for g in groups:
                old = health.groups.get(g.name)
                marks[g.name] = old if old is not None and old.same(g) else GroupMark.of(g, now)
            messages: list[str] = []
            new_decision: GoErrorDecision | None = None
            for action in decision.actions:
                if isinstance(action, predicate.Degraded):
                    messages.append(degraded_message(action.group))
                elif isinstance(action, predicate.Recovered):
                    messages.append(recovered_message(action.group, action.previous))
                elif isinstance(action, predicate.GoError):
                    new_decision, skip = self._go_error_decision(action, health, now)
                    if skip:
                        messages.append(skip)
            changed = marks != dict(health.groups) or messages or new_decision is not None
            if not changed:
                return None
            health = self._write(
                health.with_(
                    groups=marks,
                    announce=(*health.announce, *messages),
                    go_error=new_decision or health.go_error,
                )
            )
            done = Decided(
                env_id=self.env_id,
                decision=decision,
                index=change.index,
                trigger=change.trigger,
                received=change.received,
                decided=self.clock.monotonic(),
                reported_ns=change.reported_ns,
                decided_ns=self.clock.now_ns(),
                go_error=new_decision if new_decision is not None and new_decision.pending else None,
            )
            for listener in self.listeners:
                listener(done)
            self._announce()
        if done.go_error is not None:
            self.checkpoint("health:decided")
            self._start_execution(done.go_error)
        return done

    def _go_error_decision(
        self, action: predicate.GoError, health: HealthRecord, now: int
    ) -> tuple[GoErrorDecision | None, str]:
        """A new decision for ``action`` (or none: one is pending or done already) and the
        message to announce when it is skipped."""
        previous = health.go_error
        if previous is not None and previous.status in (PENDING, DONE):
            why = f"GO_ERROR {previous.id} already {'decided' if previous.pending else 'issued'}"
            return None, skipped_message(action.reason, why)
        rec = self.controller.record(self.env_id)
        why = not_enforced(rec)
        decision = GoErrorDecision(
            id=uuid.uuid4().hex[:12],
            reason=action.reason,
            groups=action.groups,
            decided_ns=now,
            decided_by=self.controller.settings.controller_id,
            env_state=rec.state,
            status=SKIPPED if why else PENDING,
            outcome=why,
            finished_ns=now if why else 0,
        )
        return decision, skipped_message(action.reason, why) if why else ""

    # --- GO_ERROR ---------------------------------------------------------------------------------

    def _start_execution(self, decision: GoErrorDecision) -> None:
        with self._mutex:
            if self._executing == decision.id:
                return
            self._executing = decision.id
        self.submit(lambda: self.execute(decision))

    def _finish(self, decision: GoErrorDecision, status: str, outcome: str) -> None:
        with self._mutex:
            health = self._current()
            current = health.go_error
            if current is None or current.id != decision.id:
                return
            finished = replace(current, status=status, outcome=outcome, finished_ns=self.clock.now_ns())
            self._write(health.with_(go_error=finished))

    def execute(self, decision: GoErrorDecision) -> None:
        """Carry out a recorded GO_ERROR decision; retried (with backoff, waiting on ``stop``)
        while the environment is busy or a backend fails; ends marked done or skipped."""
        attempt = 0
        try:
            while True:
                attempt += 1
                self._guard()
                # a GO_ERROR already running (a failed transition's) makes ours wait for the lock
                # and then be refused in ERROR: marked done below
                try:
                    rec = self.controller.record(self.env_id)
                except EnvironmentNotFound:
                    self._finish(decision, SKIPPED, "environment record is gone")
                    return
                if rec.lifecycle.state is State.ERROR:
                    self._finish(decision, DONE, "environment is ERROR (GO_ERROR already happened)")
                    return
                why = not_enforced(rec)
                if why:
                    self._finish(decision, SKIPPED, why)
                    self._emit([skipped_message(decision.reason, why)])
                    return
                try:
                    report = self.controller.go_error(self.env_id, decision.reason)
                except EnvironmentBusy as err:
                    outcome = err.one_line()
                except TransitionRefused as err:
                    after = self.controller.record(self.env_id)
                    status = DONE if after.lifecycle.state is State.ERROR else SKIPPED
                    self._finish(decision, status, err.one_line())
                    return
                except (LockLost, RecordConflict, ApiError) as err:
                    outcome = err.one_line()
                else:
                    self.checkpoint("health:acted")
                    self._finish(
                        decision, DONE, f"GO_ERROR {report.verdict}: {report.source} -> {report.final_state}"
                    )
                    return
                delay = min(self.retry_max, 0.5 * 2 ** min(attempt, 6))
                log.warning(
                    "environment %s: GO_ERROR not done yet (%s); attempt %d, retrying in %.1f s",
                    self.env_id,
                    outcome,
                    attempt,
                    delay,
                )
                if self.stop.wait(delay):
                    return
        except (Stopped, LifecycleError) as err:
            # not the leader any more (or stopped): the decision stays pending for the next one
            log.warning("environment %s: GO_ERROR left pending: %s", self.env_id, err.one_line())
        finally:
            with self._mutex:
                if self._executing == decision.id:
                    self._executing = None
