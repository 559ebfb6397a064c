"""Performing the lifecycle schedule's steps: the one place where decisions meet I/O.

``Performer`` is the ``perform`` function of ``schedule.drive(flow, perform)`` for one transition
(or teardown) of one environment. For each step it does the effect and returns the reply the
schedule expects (table in ``nomadctl.lifecycle.schedule``), and it keeps the record truthful as
it goes: the step reached, a run number as soon as it is allocated, every job as soon as it is
registered or dispatched. Before each step it checks that the environment's lock is still held.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from nomadctl.controller.calls import CallRunner
from nomadctl.controller.events import EventLog
from nomadctl.controller.hooks import HookRunner
from nomadctl.controller.locks import EnvLock
from nomadctl.controller.observe import EnvObserver
from nomadctl.controller.record import EnvRecord, RecordStore
from nomadctl.controller.runs import RunNumbers
from nomadctl.controller.settings import Clock
from nomadctl.controller.tasks import PlacementCheck, TaskDriver
from nomadctl.errors import NomadctlError
from nomadctl.jobspec import JobKind, JobSet
from nomadctl.lifecycle.events import EnvironmentEvent, Event, OpStatus, User, WorkflowTemplateInfo
from nomadctl.lifecycle.fsm import Transition
from nomadctl.lifecycle.schedule import (
    AwaitCalls,
    CancelCalls,
    Core,
    CoreAction,
    CoreResult,
    Emit,
    ReleaseResult,
    ReleaseTasks,
    Reply,
    RunCalls,
    RunHooks,
    StartCalls,
    Step,
    TaskStep,
    TaskStepResult,
)
from nomadctl.plan import ControlMode, EnvironmentPlan, TaskInstance

log = logging.getLogger(__name__)

CONTROLLED = (ControlMode.DIRECT, ControlMode.FAIRMQ)


def controlled_tasks(plan: EnvironmentPlan) -> list[TaskInstance]:
    """The ``direct``/``fairmq`` tasks: AliECS drives them over OCC; nomadctl does not yet."""
    return [t for t in plan.tasks if t.control_mode in CONTROLLED and not t.is_hook]


def no_process_control(plan: EnvironmentPlan, transition: str) -> str:
    """The plain statement that no process-level transition was sent (empty if none applies)."""
    n = len(controlled_tasks(plan))
    if not n:
        return ""
    if transition == Transition.DEPLOY:
        return (
            f"{n} direct/fairmq tasks run from DEPLOY on; no process-level (OCC) transition is sent to "
            "them (process control comes in a later issue)"
        )
    return (
        f"no process-level {transition} sent to the {n} direct/fairmq tasks (OCC control comes in a "
        "later issue); they keep running as deployed"
    )


class RecordKeeper:
    """The current record of a locked environment and its check-and-set writes."""

    def __init__(self, store: RecordStore, record: EnvRecord, lock: EnvLock | None = None) -> None:
        self.store = store
        self.record = record
        self.lock = lock

    def set(self, **changes: Any) -> EnvRecord:
        if self.lock is not None:
            self.lock.check()
        self.record = self.store.put(replace(self.record, **changes))
        return self.record

    def progress(self, **changes: Any) -> None:
        """Update fields of the transition in progress."""
        ip = self.record.in_progress
        if ip is None:
            return
        self.set(in_progress=replace(ip, **changes))


@dataclass
class StepContext:
    """Everything one transition needs to perform its steps."""

    env_id: str
    transition: str
    plan: EnvironmentPlan
    jobset: JobSet
    keeper: RecordKeeper
    events: EventLog
    calls: CallRunner
    hooks: HookRunner
    tasks: TaskDriver
    observer: EnvObserver
    runs: RunNumbers
    clock: Clock
    lock: EnvLock | None
    user: User | None = None
    workflow: WorkflowTemplateInfo | None = None
    placement: PlacementCheck | None = None
    checkpoint: Callable[[str], None] | None = None


class Performer:
    """``perform(step) -> reply`` for ``schedule.drive``."""

    def __init__(self, ctx: StepContext) -> None:
        self.ctx = ctx
        self.step = ""
        # state and run number as the schedule last reported them (the record is written at the end)
        self.state = ctx.keeper.record.state
        self.run_number = ctx.keeper.record.lifecycle.run_number or 0
        self.token = f"{ctx.env_id}-{ctx.transition}-{ctx.clock.now_ns()}"
        ctx.tasks.progress = self.note
        ctx.tasks.checkpoint = self._checkpoint

    # --- helpers ---------------------------------------------------------------------------------

    def _checkpoint(self, name: str) -> None:
        if self.ctx.checkpoint is not None:
            self.ctx.checkpoint(name)

    def note(self, message: str, *, status: OpStatus = OpStatus.ONGOING, error: str = "") -> None:
        """An environment event from the controller itself (progress, statements)."""
        self.ctx.events.append(
            [
                Event(
                    EnvironmentEvent(
                        environment_id=self.ctx.env_id,
                        state=self.state,
                        run_number=self.run_number,
                        message=message,
                        error=error,
                        transition=self.ctx.transition,
                        transition_step=self.step,
                        transition_status=status,
                        last_request_user=self.ctx.user,
                        workflow_template_info=self.ctx.workflow,
                    )
                )
            ]
        )

    def _track(self, events: Sequence[Event]) -> None:
        for event in events:
            p = event.payload
            if isinstance(p, EnvironmentEvent) and p.state:
                self.state, self.run_number = p.state, p.run_number
            if (
                isinstance(p, EnvironmentEvent)
                and p.transition_step
                and p.transition_step != self.step
                and p.transition_status in (OpStatus.STARTED, OpStatus.ONGOING)
            ):
                self.step = p.transition_step
                self.ctx.keeper.progress(step=self.step)
                self._checkpoint(self.step)

    # --- the steps -------------------------------------------------------------------------------

    def __call__(self, step: Step) -> Reply:
        if self.ctx.lock is not None:
            self.ctx.lock.check()
        if isinstance(step, Emit):
            self.ctx.events.append(step.events)
            self._track(step.events)
            return None
        if isinstance(step, StartCalls):
            self.ctx.calls.start(step.calls, step.vars)
            return None
        if isinstance(step, AwaitCalls):
            return self.ctx.calls.await_(step.calls)
        if isinstance(step, RunCalls):
            return self.ctx.calls.run(step.calls, step.vars)
        if isinstance(step, CancelCalls):
            return self.ctx.calls.cancel(step.calls)
        if isinstance(step, RunHooks):
            return self.ctx.hooks.run(step.hooks, step.vars, f"{self.token}-{step.moment}{step.weight:+d}")
        if isinstance(step, CoreAction):
            return self._core(step)
        if isinstance(step, TaskStep):
            return self._task_step(step)
        if isinstance(step, ReleaseTasks):
            return self._release(step.tasks)
        raise TypeError(f"unknown step {type(step).__name__}")

    def _core(self, step: CoreAction) -> CoreResult:
        if step.action is Core.ALLOCATE_RUN_NUMBER:
            try:
                number = self.ctx.runs.allocate()
            except NomadctlError as err:
                return CoreResult(
                    self.ctx.clock.now_ns(), None, f"cannot allocate a run number: {err.one_line()}"
                )
            # recorded at once: a crash from here on leaves an open run that GO_ERROR must close
            self.ctx.keeper.progress(run_number=number)
            return CoreResult(self.ctx.clock.now_ns(), number)
        return CoreResult(self.ctx.clock.now_ns())

    def _registered(self, job_id: str) -> None:
        rec = self.ctx.keeper.record
        if job_id not in rec.jobs:
            ip = rec.in_progress
            self.ctx.keeper.set(
                jobs=(*rec.jobs, job_id),
                in_progress=replace(ip, jobs=(*ip.jobs, job_id)) if ip else None,
            )

    def _task_step(self, step: TaskStep) -> TaskStepResult:
        t = step.transition
        ctx = self.ctx
        try:
            if t is Transition.DEPLOY:
                placement = ctx.placement or ctx.tasks.check_placement(ctx.jobset)
                error = ctx.tasks.deploy(ctx.jobset, placement, self._registered)
            elif t is Transition.GO_ERROR or t is Transition.STOP_ACTIVITY:
                error = self._stop_run()
            else:
                error = ctx.tasks.verify(ctx.jobset)
                if error is None and t is Transition.START_ACTIVITY:
                    error = self._start_run(step)
        except NomadctlError as err:
            error = err.one_line()
        if error is None:
            statement = no_process_control(ctx.plan, str(t))
            if statement:
                self.note(statement)
        return TaskStepResult(error or "")

    def _start_run(self, step: TaskStep) -> str | None:
        if not self.ctx.jobset.of_kind(JobKind.RUN):
            return None
        number = step.vars.get("run_number", "")
        if not number.isdigit():
            return "no run number for the run-scoped tasks"

        def dispatched(child: str) -> None:
            self.ctx.keeper.set(run_job=child)
            self.ctx.keeper.progress(run_job=child)
            self._registered(child)

        return self.ctx.tasks.start_run(self.ctx.jobset, int(number), dispatched)

    def _stop_run(self) -> str | None:
        child = self.ctx.keeper.record.run_job
        if not child:
            return None
        error = self.ctx.tasks.stop_run([child], self.ctx.env_id)
        if error is None:
            self.ctx.keeper.set(run_job=None)
        return error

    def _release(self, tasks: tuple[TaskInstance, ...]) -> ReleaseResult:
        ctx = self.ctx
        jobs: dict[str, list[TaskInstance]] = {}
        for t in tasks:
            ref = ctx.jobset.tasks.get(t.path)
            if ref is not None:
                jobs.setdefault(ref.job_id, []).append(t)
        # the children dispatched from these jobs (run, hooks) go with them
        for stub in ctx.observer.env_jobs(ctx.env_id):
            if stub.parent_id in jobs:
                jobs.setdefault(stub.id, list(jobs[stub.parent_id]))
        failed = ctx.tasks.release(list(jobs), ctx.env_id)
        if ctx.keeper.record.run_job in jobs and ctx.keeper.record.run_job not in failed:
            ctx.keeper.set(run_job=None)
        out: dict[str, str] = {}
        for job, error in failed.items():
            for t in jobs.get(job, ()):
                out[t.task_id or t.path] = f"{job}: {error}"
        return ReleaseResult(out)
