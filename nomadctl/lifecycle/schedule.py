"""The steps of one transition or teardown, as a sans-I/O generator the controller drives.

``transition(env, event, hooks)`` and ``teardown(env, hooks)`` return a generator. It yields
*steps*; the controller performs each one and sends back its *reply*; when the generator returns,
its value is an ``Outcome`` with the new ``Environment``. Nothing here performs I/O, reads a
clock or sleeps: the controller performs every effect (writing events, starting and awaiting
calls, running hook tasks, moving tasks, allocating run numbers, taking timestamps) and this
module only decides what comes next::

    flow = schedule.transition(env, fsm.Transition.START_ACTIVITY, hooks)
    outcome = schedule.drive(flow, controller.perform)        # or the same loop, async
    rec = schedule.recovery(outcome)                           # GO_ERROR if it failed

=============  =====================================================  ==========================
step           the controller...                                      and replies with
=============  =====================================================  ==========================
Emit           stamps (``Event.stamped``) and writes the events         ``None``
StartCalls     starts every call asynchronously (vars: plan + step)   ``None``
AwaitCalls     waits for those calls (enforcing their ``timeout``)    ``tuple[HookResult, ...]``
RunCalls       runs the calls one after the other (teardown)          ``tuple[HookResult, ...]``
RunHooks       runs the hook tasks, each with its timeout, waits      ``tuple[HookResult, ...]``
CancelCalls    abandons those calls; reports any that had finished     ``tuple[HookResult, ...]``
CoreAction     allocates a run number / reads the clock               ``CoreResult``
TaskStep       moves the environment's tasks (deploy, configure...)   ``TaskStepResult``
ReleaseTasks   stops the tasks (teardown)                             ``ReleaseResult``
=============  =====================================================  ==========================

Order of one transition (AliECS ``environment.go`` with looplab/fsm v1.0.1):

1. ``before_<EV>``: hooks with negative weights; then the core action (run-number allocation and
   ``run_start_time_ms`` at START_ACTIVITY; ``run_end_time_ms`` at STOP_ACTIVITY/GO_ERROR when a
   run is open); then weights >= 0. A critical failure cancels the transition.
2. ``leave_<SRC>``: negative, then >= 0 weights. A critical failure cancels the transition.
3. ``tasks_<EV>``: the task transition. A failure cancels the transition (state stays SRC).
4. ``enter_<DST>``: the state is DST; negative weights, ``enter_state_time_ms``, weights >= 0.
   A critical failure marks the transition failed; it goes on.
5. ``after_<EV>``: negative weights, the core timestamps and run events, weights >= 0, then
   (STOP_ACTIVITY, GO_ERROR) the run number is cleared. Failure marks the transition failed.

Within one pass over a moment (negative or non-negative weights), for each weight in ascending
order over the union of hook weights and await weights: start the calls triggered there, await
the calls registered for that point, run the task hooks triggered there, and stop the pass after
the first weight with a critical failure. Critical failures of a pass are joined with ``"; "``
(more than three give a count instead); non-critical failures are only reported.

Where nomadctl deliberately differs from AliECS (each is in ``docs/lifecycle.md``):

* a call awaiting a later weight of the same moment with no hook of its own is awaited there
  (AliECS computes a pass's weights before starting any call and skips that await);
* calls whose await point is in this transition but is skipped because the transition was
  cancelled or a pass was cut short are cancelled when the transition ends, instead of being left
  pending to be consumed by a later transition;
* a call started again while its previous start is still pending supersedes (cancels) it;
* failures are joined in a fixed order (weight, then calls before tasks, then plan order), where
  AliECS iterates a Go map;
* a refused request (event not allowed in this state) emits AliECS's two events but does not lead
  to GO_ERROR (``recovery`` returns no action);
* step-finished events carry ``ONGOING`` on success and ``DONE_ERROR`` on failure everywhere.
"""

from __future__ import annotations

import contextlib
import enum
from bisect import insort
from collections.abc import Callable, Generator, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeAlias, TypeVar

from nomadctl.errors import LifecycleError
from nomadctl.lifecycle import fsm
from nomadctl.lifecycle.events import (
    CallEvent,
    EnvironmentEvent,
    Event,
    OpStatus,
    RunEvent,
    TaskEvent,
    User,
    WorkflowTemplateInfo,
)
from nomadctl.lifecycle.fsm import State, Transition
from nomadctl.lifecycle.hooks import CallHook, Hook, HookIndex, TaskHook
from nomadctl.lifecycle.state import Environment, PendingCall
from nomadctl.plan import TaskInstance
from nomadctl.triggers import Point

# ------------------------------------------------------------------------------------------- steps


@dataclass(frozen=True, slots=True)
class Emit:
    """Write these events, in order (stamp the ones without a time)."""

    events: tuple[Event, ...]


@dataclass(frozen=True, slots=True)
class StartCalls:
    """Start these calls asynchronously, in order, and return at once.

    ``vars`` are the core's runtime variables at this point (run number, timestamps): overlay
    them on each call's own variables, as AliECS's consolidated var stack does.
    """

    moment: str
    weight: int
    calls: tuple[CallHook, ...]
    vars: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class AwaitCalls:
    """Wait until these (earlier started) calls finish; reply with one result per call.

    AliECS leaves call timeouts to the plugins; nomadctl's controller should enforce each call's
    ``timeout`` and report ``TIMED_OUT``.
    """

    moment: str
    weight: int
    calls: tuple[CallHook, ...]


@dataclass(frozen=True, slots=True)
class RunCalls:
    """Run these calls synchronously, one after the other, in order (teardown only)."""

    moment: str
    weight: int
    calls: tuple[CallHook, ...]
    vars: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class RunHooks:
    """Run these hook tasks now (all at once), each with its own timeout; wait for all of them."""

    moment: str
    weight: int
    hooks: tuple[TaskHook, ...]
    vars: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class CancelCalls:
    """Abandon these started calls: their results are no longer awaited.

    Reply with the results of any that had already finished (they are reported as such); the rest
    are reported as cancelled with ``reason``.
    """

    calls: tuple[CallHook, ...]
    reason: str


class Core(enum.StrEnum):
    ALLOCATE_RUN_NUMBER = "allocate_run_number"
    TIMESTAMP = "timestamp"


@dataclass(frozen=True, slots=True)
class CoreAction:
    """A core action: allocate a new run number (reply ``run_number`` and the time) or just read
    the clock (reply the time; ``var`` names the variable it will be stored in)."""

    action: Core
    var: str = ""


@dataclass(frozen=True, slots=True)
class TaskStep:
    """Transition the environment's tasks for ``transition`` (``source`` → ``destination``)."""

    transition: Transition
    source: State
    destination: State
    vars: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class ReleaseTasks:
    """Stop and release these tasks (teardown)."""

    tasks: tuple[TaskInstance, ...]


Step: TypeAlias = (
    Emit | StartCalls | AwaitCalls | RunCalls | RunHooks | CancelCalls | CoreAction | TaskStep | ReleaseTasks
)

# ----------------------------------------------------------------------------------------- replies


class HookStatus(enum.StrEnum):
    OK = "ok"
    FAILED = "failed"
    TIMED_OUT = "timed_out"


@dataclass(frozen=True, slots=True)
class HookResult:
    """What happened to one call or hook task (``key`` as in the step).

    ``message`` is the error text (for calls: the plugin's ``__call_error`` plus
    ``". REASON: " + __call_error_reason`` when given); ``output`` a call's result text;
    ``hostname`` where a hook task actually ran.
    """

    key: str
    status: HookStatus
    message: str = ""
    exit_code: int | None = None
    output: str = ""
    hostname: str = ""


@dataclass(frozen=True, slots=True)
class CoreResult:
    """Reply to ``CoreAction``: the time (ns since the epoch) and, if allocated, the run number."""

    time_ns: int
    run_number: int | None = None
    error: str = ""


@dataclass(frozen=True, slots=True)
class TaskStepResult:
    error: str = ""

    @property
    def ok(self) -> bool:
        return not self.error


@dataclass(frozen=True, slots=True)
class ReleaseResult:
    """Tasks that failed to release: task id → error."""

    failed: Mapping[str, str] = field(default_factory=dict)


Reply: TypeAlias = tuple[HookResult, ...] | CoreResult | TaskStepResult | ReleaseResult | None

# ----------------------------------------------------------------------------------------- outcome


class Verdict(enum.StrEnum):
    OK = "ok"
    CANCELLED = "cancelled"  # failed in before/leave/tasks: the state did not change
    FAILED = "failed"  # failed in enter/after: the state changed, the transition is in error
    REFUSED = "refused"  # not allowed from this state: nothing ran


@dataclass(frozen=True, slots=True)
class HookFailure:
    """One failed call or hook task. Non-critical ones never change the verdict."""

    moment: str
    weight: int
    key: str
    path: str
    critical: bool
    status: HookStatus
    message: str


@dataclass(frozen=True, slots=True)
class Outcome:
    """How a transition (or ``DESTROY``) ended and the environment after it.

    ``error`` is the text AliECS's ``TryTransition`` returns (``"transition canceled with error:
    ..."`` for a cancelled one). ``skipped`` are hooks not run because a critical failure cut
    their pass short; ``cancelled`` are calls abandoned (see the module docstring).
    """

    transition: str
    source: State
    verdict: Verdict
    env: Environment
    error: str = ""
    failures: tuple[HookFailure, ...] = ()
    skipped: tuple[str, ...] = ()
    cancelled: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return self.verdict is Verdict.OK


Flow: TypeAlias = Generator[Step, Reply, Outcome]
_Sub = TypeVar("_Sub")
_Gen: TypeAlias = Generator[Step, Reply, _Sub]

_NEG = (-(2**63), -1)
_POS = (0, 2**63 - 1)
_ALL = (-(2**63), 2**63 - 1)

# ------------------------------------------------------------------------------------ run context


class _Run:
    """Mutable bookkeeping of one flow; never escapes the generator (the outcome is frozen)."""

    def __init__(
        self,
        env: Environment,
        hooks: HookIndex,
        name: str,
        user: User | None,
        workflow: WorkflowTemplateInfo | None,
    ) -> None:
        self.env = env
        self.source = env.state
        self.hooks = hooks
        self.name = name
        self.user = user
        self.workflow = workflow
        self.buffer: list[Event] = []
        self.failures: list[HookFailure] = []
        self.skipped: list[str] = []
        self.cancelled: list[str] = []
        self.covered: dict[str, list[tuple[int, int]]] = {}

    # events ---------------------------------------------------------------------------------
    def env_event(
        self, step: str, status: OpStatus, message: str, *, error: str = "", state: str | None = None
    ) -> None:
        self.buffer.append(
            Event(
                EnvironmentEvent(
                    environment_id=self.env.env_id,
                    state=state if state is not None else str(self.env.state),
                    run_number=self.env.run_number or 0,
                    error=error,
                    message=message,
                    transition=self.name,
                    transition_step=step,
                    transition_status=status,
                    last_request_user=self.user,
                    workflow_template_info=self.workflow,
                )
            )
        )

    def run_event(self, transition: str, status: OpStatus, time_ns: int, error: str = "") -> None:
        self.buffer.append(
            Event(
                RunEvent(
                    environment_id=self.env.env_id,
                    run_number=self.env.run_number or 0,
                    state=str(self.env.state),
                    error=error,
                    transition=transition,
                    transition_status=status,
                    last_request_user=self.user,
                ),
                timestamp_ns=time_ns,
            )
        )

    def call_event(
        self, hook: CallHook, status: OpStatus, result: HookResult | None = None, error: str = ""
    ) -> None:
        self.buffer.append(
            Event(
                CallEvent(
                    func=hook.call.func,
                    call_status=status,
                    return_=hook.call.return_var,
                    traits=hook.traits,
                    output=result.output if result else "",
                    error=error,
                    environment_id=self.env.env_id,
                    path=hook.path,
                )
            )
        )

    def task_event(self, hook: TaskHook, result: HookResult) -> None:
        t = hook.task
        self.buffer.append(
            Event(
                TaskEvent(
                    name=hook.name,
                    taskid=t.task_id,
                    state="DONE" if result.status is HookStatus.OK else "ERROR",
                    status="INACTIVE",
                    hostname=result.hostname or t.host or "",
                    class_name=t.task_class,
                    traits=hook.traits,
                    environment_id=self.env.env_id,
                    path=t.path,
                )
            )
        )

    def flush(self) -> _Gen[None]:
        if self.buffer:
            events, self.buffer = tuple(self.buffer), []
            yield Emit(events)

    def ask(self, step: Step) -> _Gen[Reply]:
        yield from self.flush()
        reply = yield step
        return reply

    def outcome(self, verdict: Verdict, error: str = "") -> Outcome:
        return Outcome(
            transition=self.name,
            source=self.source,
            verdict=verdict,
            env=self.env,
            error=error,
            failures=tuple(self.failures),
            skipped=tuple(self.skipped),
            cancelled=tuple(self.cancelled),
        )

    # coverage of await points ---------------------------------------------------------------
    def reached(self, p: Point) -> bool:
        return any(lo <= p.weight <= hi for lo, hi in self.covered.get(p.moment, ()))


# --------------------------------------------------------------------------------------- helpers


def _hook_results(reply: Reply, hooks: Sequence[Hook], *, partial: bool = False) -> dict[str, HookResult]:
    """Results by key; the controller must answer for exactly the hooks it was given."""
    if not isinstance(reply, tuple | list) or not all(isinstance(r, HookResult) for r in reply):
        raise LifecycleError(f"controller replied {type(reply).__name__}, expected a tuple of HookResult")
    by_key = {r.key: r for r in reply}
    wanted = {h.key for h in hooks}
    if set(by_key) - wanted or (not partial and wanted - set(by_key)):
        missing = sorted(wanted - set(by_key))
        extra = sorted(set(by_key) - wanted)
        raise LifecycleError(
            f"controller results do not match the step: missing {missing}, unexpected {extra}"
        )
    return by_key


def _core(reply: Reply) -> CoreResult:
    if not isinstance(reply, CoreResult):
        raise LifecycleError(f"controller replied {type(reply).__name__}, expected CoreResult")
    return reply


def _error_text(hook: Hook, result: HookResult) -> str:
    """The error AliECS would record for a failed hook (its own wording where it has one)."""
    if isinstance(hook, TaskHook):
        if result.status is HookStatus.TIMED_OUT:
            return f"hook task {hook.name} timed out after {hook.task.timeout}"
        if result.message:
            return result.message
        if result.exit_code is not None:
            return f"hook task {hook.name} finished with non-zero exit code {result.exit_code}"
        return f"hook task {hook.name} failed"
    if result.message:
        return result.message
    if result.status is HookStatus.TIMED_OUT:
        return f"call {hook.call.func} timed out after {hook.call.timeout}"
    return f"call {hook.call.func} failed"


def _record(run: _Run, moment: str, weight: int, hook: Hook, result: HookResult) -> str | None:
    """Record a failure; return its text if it is critical."""
    if result.status is HookStatus.OK:
        return None
    text = _error_text(hook, result)
    run.failures.append(HookFailure(moment, weight, hook.key, hook.path, hook.critical, result.status, text))
    return text if hook.critical else None


def summarize(errors: Sequence[str], moment: str) -> str | None:
    """AliECS's error for a pass: up to three critical failures joined by "; ", else a count."""
    if len(errors) > 3:
        return f"{len(errors)} critical hooks failed at trigger {moment} (see InfoLogger for details)"
    return "; ".join(errors) if errors else None


def _join(*errors: str | None) -> str | None:
    """Go's ``errors.Join(...).Error()``: the non-nil errors, one per line."""
    present = [e for e in errors if e is not None]
    return "\n".join(present) if present else None


_CALL_DONE = {HookStatus.OK: OpStatus.DONE_OK, HookStatus.FAILED: OpStatus.DONE_ERROR}


def _call_done(run: _Run, hook: CallHook, result: HookResult) -> None:
    status = _CALL_DONE.get(result.status, OpStatus.DONE_TIMEOUT)
    error = "" if result.status is HookStatus.OK else _error_text(hook, result)
    run.call_event(hook, status, result, error)


# ----------------------------------------------------------------------------------- moment pass


def _cancel(run: _Run, pending: Sequence[PendingCall], reason: str) -> _Gen[None]:
    """Abandon ``pending`` calls; report the ones that had finished anyway."""
    if not pending:
        return
    hooks: list[CallHook] = []
    for p in pending:
        with contextlib.suppress(KeyError):  # not in the plan any more: nothing to cancel
            hooks.append(run.hooks.call(p.key))
    run.env = run.env.without_pending(pending)
    if not hooks:
        return
    reply = yield from run.ask(CancelCalls(tuple(hooks), reason))
    finished = _hook_results(reply, hooks, partial=True)
    for h in hooks:
        if h.key in finished:
            _call_done(run, h, finished[h.key])
        else:
            run.cancelled.append(h.key)
            run.call_event(h, OpStatus.DONE_ERROR, error=f"call cancelled: {reason}")


def _pass(run: _Run, moment: str, bounds: tuple[int, int]) -> _Gen[str | None]:
    """One ``handleHooks`` pass over ``moment`` for weights within ``bounds``; its error text."""
    lo, hi = bounds
    weights = set(run.hooks.weights(moment))
    weights.update(p.await_.weight for p in run.env.pending if p.await_.moment == moment)
    todo = sorted(w for w in weights if lo <= w <= hi)
    errors: list[str] = []
    reached = hi
    while todo:
        w = todo.pop(0)
        here = Point(moment, w)
        calls = run.hooks.calls_at(moment, w)
        if calls:
            keys = {c.key for c in calls}
            stale = [p for p in run.env.pending if p.key in keys]
            yield from _cancel(run, stale, f"superseded: started again at {here}")
            run.env = run.env.with_pending(PendingCall(c.key, c.await_, c.trigger, run.name) for c in calls)
            for c in calls:
                a = c.await_
                # AliECS would skip this await (its weight list is fixed before calls start)
                if a.moment == moment and w < a.weight <= hi and a.weight not in todo:
                    insort(todo, a.weight)
                run.call_event(c, OpStatus.STARTED)
            yield from run.ask(StartCalls(moment, w, calls, run.env.vars))

        critical: list[str] = []
        due = [p for p in run.env.pending if p.await_ == here]
        if due:
            run.env = run.env.without_pending(due)
            hooks: list[CallHook] = []
            for p in due:
                try:
                    hooks.append(run.hooks.call(p.key))
                except KeyError:
                    run.failures.append(
                        HookFailure(
                            moment, w, p.key, p.key, False, HookStatus.FAILED, "call is not in the plan"
                        )
                    )
            if hooks:
                reply = yield from run.ask(AwaitCalls(moment, w, tuple(hooks)))
                results = _hook_results(reply, hooks)
                for h in hooks:
                    _call_done(run, h, results[h.key])
                    text = _record(run, moment, w, h, results[h.key])
                    if text is not None:
                        critical.append(text)

        tasks = run.hooks.tasks_at(moment, w)
        if tasks:
            reply = yield from run.ask(RunHooks(moment, w, tasks, run.env.vars))
            results = _hook_results(reply, tasks)
            for t in tasks:
                run.task_event(t, results[t.key])
                text = _record(run, moment, w, t, results[t.key])
                if text is not None:
                    critical.append(text)

        errors.extend(critical)
        if critical:
            reached = w
            for rest in todo:
                run.skipped.extend(h.key for h in run.hooks.calls_at(moment, rest))
                run.skipped.extend(h.key for h in run.hooks.tasks_at(moment, rest))
            break
    run.covered.setdefault(moment, []).append((lo, reached))
    return summarize(errors, moment)


def _stamp(run: _Run, var: str) -> _Gen[int]:
    reply = yield from run.ask(CoreAction(Core.TIMESTAMP, var))
    now = _core(reply).time_ns
    run.env = run.env.with_vars(**{var: str(now // 1_000_000)})
    return now


# ------------------------------------------------------------------------------ transition flow


def _before(run: _Run, t: Transition, moment: str) -> _Gen[str | None]:
    run.env_event(moment, OpStatus.ONGOING, "transition step starting")
    err = yield from _pass(run, moment, _NEG)
    if err is None and t is Transition.START_ACTIVITY:
        core = _core((yield from run.ask(CoreAction(Core.ALLOCATE_RUN_NUMBER))))
        if core.error or core.run_number is None:
            err = core.error or "no run number was allocated"
        else:
            ms = str(core.time_ns // 1_000_000)
            run.env = run.env.with_run_number(core.run_number).with_vars(
                run_start_time_ms=ms,
                run_start_completion_time_ms="",
                run_end_time_ms="",
                run_end_completion_time_ms="",
            )
            run.run_event(t, OpStatus.STARTED, core.time_ns)
    elif (
        err is None
        and t in (Transition.STOP_ACTIVITY, Transition.GO_ERROR)
        and run.env.vars.get("run_end_time_ms") == ""
    ):
        now = yield from _stamp(run, "run_end_time_ms")
        run.run_event(t, OpStatus.STARTED, now)
    if err is None:
        err = yield from _pass(run, moment, _POS)
    status = OpStatus.DONE_ERROR if err else OpStatus.ONGOING
    run.env_event(moment, status, "transition step finished", error=err or "")
    return err


def _leave(run: _Run, moment: str) -> _Gen[str | None]:
    run.env_event(moment, OpStatus.ONGOING, "transition step starting")
    err = yield from _pass(run, moment, _NEG)
    # leaving RUNNING by any event closes the run's end time (if nothing closed it before)
    if run.source is State.RUNNING and run.env.vars.get("run_end_time_ms") == "":
        yield from _stamp(run, "run_end_time_ms")
    if err is None:
        err = yield from _pass(run, moment, _POS)
    status = OpStatus.DONE_ERROR if err else OpStatus.ONGOING
    run.env_event(moment, status, "transition step finished", error=err or "")
    return err


def _tasks(run: _Run, t: Transition, dst: State) -> _Gen[str | None]:
    step = f"tasks_{t}"
    run.env_event(step, OpStatus.ONGOING, "transition step starting")
    reply = yield from run.ask(TaskStep(t, run.source, dst, run.env.vars))
    if not isinstance(reply, TaskStepResult):
        raise LifecycleError(f"controller replied {type(reply).__name__}, expected TaskStepResult")
    if reply.error:
        run.env_event(step, OpStatus.DONE_ERROR, "transition step finished", error=reply.error)
        return reply.error
    run.env_event(step, OpStatus.ONGOING, "transition step finished", state=str(dst))
    return None


def _enter(run: _Run, moment: str) -> _Gen[str | None]:
    run.env_event(moment, OpStatus.ONGOING, "transition step starting")
    neg = yield from _pass(run, moment, _NEG)
    yield from _stamp(run, "enter_state_time_ms")
    pos = yield from _pass(run, moment, _POS)
    err = _join(neg, pos)
    status = OpStatus.DONE_ERROR if err else OpStatus.ONGOING
    run.env_event(moment, status, "transition step finished", error=err or "")
    return err


def _after(run: _Run, t: Transition, moment: str, enter_err: str | None) -> _Gen[str | None]:
    run.env_event(moment, OpStatus.ONGOING, "transition step starting")
    neg = yield from _pass(run, moment, _NEG)
    so_far = neg if neg is not None else enter_err  # the FSM event's error at this point
    if t is Transition.START_ACTIVITY:
        count = run.env.vars.get("__fmq_cleanup_count", "")
        run.env = run.env.with_vars(__fmq_cleanup_count=str((int(count) if count.isdigit() else 0) + 1))
        now = yield from _stamp(run, "run_start_completion_time_ms")
        run.run_event(t, OpStatus.DONE_ERROR if so_far else OpStatus.DONE_OK, now, so_far or "")
    elif t is Transition.STOP_ACTIVITY:
        now = yield from _stamp(run, "run_end_completion_time_ms")
        run.run_event(t, OpStatus.DONE_ERROR if so_far else OpStatus.DONE_OK, now, so_far or "")
    elif t is Transition.GO_ERROR and run.env.vars.get("run_end_completion_time_ms") == "":
        now = yield from _stamp(run, "run_end_completion_time_ms")
        run.run_event(t, OpStatus.DONE_OK, now)
    pos = yield from _pass(run, moment, _POS)
    err = _join(neg, pos)
    final = err if err is not None else enter_err
    status = OpStatus.DONE_ERROR if final else OpStatus.ONGOING
    run.env_event(moment, status, "transition step finished", error=final or "")
    if t in (Transition.STOP_ACTIVITY, Transition.GO_ERROR):
        run.env = run.env.without_run_number()
    return err


def _orphans(run: _Run, moments: Iterable[str]) -> list[PendingCall]:
    """Pending calls whose await point lies in ``moments`` but was never reached."""
    ms = set(moments)
    return [p for p in run.env.pending if p.await_.moment in ms and not run.reached(p.await_)]


def transition(
    env: Environment,
    event: Transition | str,
    hooks: HookIndex,
    *,
    user: User | None = None,
    workflow: WorkflowTemplateInfo | None = None,
) -> Flow:
    """The steps of API transition ``event`` from ``env``; the controller performs them.

    A transition that may not fire from ``env.state`` (or that the API does not expose: EXIT,
    RECOVER) is refused: two events, verdict ``REFUSED``, nothing else.
    """
    run = _Run(env, hooks, str(event), user, workflow)
    run.env_event("", OpStatus.STARTED, "transition starting")
    try:
        dst = fsm.check(env.state, event)
    except LifecycleError as refusal:
        run.env_event("", OpStatus.DONE_ERROR, "transition error", error=str(refusal))
        yield from run.flush()
        return run.outcome(Verdict.REFUSED, str(refusal))
    t = Transition(event)
    before, leave, enter, after = fsm.moments(t, env.state)

    err = yield from _before(run, t, before)
    if err is None:
        err = yield from _leave(run, leave)
    if err is None:
        err = yield from _tasks(run, t, dst)
    if err is not None:
        error = f"transition canceled with error: {err}"
        yield from _cancel(run, _orphans(run, (before, leave, enter, after)), f"{t} was cancelled")
        run.env_event("", OpStatus.DONE_ERROR, "transition error", error=error)
        yield from run.flush()
        return run.outcome(Verdict.CANCELLED, error)

    run.env = run.env.with_state(dst)
    enter_err = yield from _enter(run, enter)
    after_err = yield from _after(run, t, after, enter_err)
    final = after_err if after_err is not None else enter_err
    if final is None:
        run.env_event("", OpStatus.DONE_OK, "transition completed successfully")
        yield from run.flush()
        return run.outcome(Verdict.OK)
    yield from _cancel(run, _orphans(run, (enter, after)), f"{t} failed")
    run.env_event("", OpStatus.DONE_ERROR, "transition error", error=final)
    yield from run.flush()
    return run.outcome(Verdict.FAILED, final)


# -------------------------------------------------------------------------------------- teardown


def teardown(
    env: Environment,
    hooks: HookIndex,
    *,
    force: bool = False,
    user: User | None = None,
    workflow: WorkflowTemplateInfo | None = None,
) -> Flow:
    """The steps of tearing ``env`` down (AliECS ``Manager.TeardownEnvironment``).

    Allowed from STANDBY and DEPLOYED, from any other state but DONE with ``force``. Order:
    ``before_DESTROY`` (an event only: AliECS runs no hooks there), ``leave_<state>`` hooks over
    all weights in one pass (failures reported, never blocking), the TEARDOWN run events when
    leaving RUNNING, release of every task except the DESTROY/after_DESTROY hooks, then per weight
    of DESTROY and after_DESTROY together: the calls synchronously in order, then the task hooks; then all
    pending calls are cancelled, the DESTROY hook tasks released, and the state is DONE.
    """
    run = _Run(env, hooks, "DESTROY", user, workflow)
    try:
        fsm.check_teardown(env.state, force=force)
    except LifecycleError as refusal:
        return run.outcome(Verdict.REFUSED, str(refusal))
    state = env.state
    run.env_event(fsm.BEFORE_DESTROY, OpStatus.STARTED, "workflow teardown started")
    leave = f"leave_{state}"
    run.env_event(leave, OpStatus.ONGOING, "workflow teardown ongoing")
    yield from _pass(run, leave, _ALL)
    if state is State.RUNNING:
        for var in ("run_end_time_ms", "run_end_completion_time_ms"):
            if run.env.vars.get(var) == "":
                now = yield from _stamp(run, var)
                run.run_event("TEARDOWN", OpStatus.STARTED, now)

    keep = tuple(t for t in hooks.tasks if hooks.is_destroy_hook(t))
    release = tuple(t for t in hooks.tasks if not hooks.is_destroy_hook(t))
    run.env_event(fsm.DESTROY, OpStatus.ONGOING, "releasing tasks")
    error = yield from _release(run, release)
    if error:
        return run.outcome(Verdict.FAILED, error)

    run.env_event(fsm.AFTER_DESTROY, OpStatus.ONGOING, "running DESTROY hooks")
    # AliECS merges the two maps by overwriting same-weight entries; nomadctl keeps both
    weights = sorted(hooks.weights(fsm.DESTROY) | hooks.weights(fsm.AFTER_DESTROY))
    for w in weights:
        calls = hooks.calls_at(fsm.DESTROY, w) + hooks.calls_at(fsm.AFTER_DESTROY, w)
        if calls:
            for c in calls:
                run.call_event(c, OpStatus.STARTED)
            reply = yield from run.ask(RunCalls(fsm.DESTROY, w, calls, run.env.vars))
            results = _hook_results(reply, calls)
            for c in calls:
                _call_done(run, c, results[c.key])
                _record(run, c.trigger.moment, w, c, results[c.key])
        tasks = hooks.tasks_at(fsm.DESTROY, w) + hooks.tasks_at(fsm.AFTER_DESTROY, w)
        if tasks:
            reply = yield from run.ask(RunHooks(fsm.DESTROY, w, tasks, run.env.vars))
            results = _hook_results(reply, tasks)
            for t in tasks:
                run.task_event(t, results[t.key])
                _record(run, t.trigger.moment, w, t, results[t.key])

    yield from _cancel(run, run.env.pending, "the environment is being torn down")
    error = yield from _release(run, keep)
    if error:
        return run.outcome(Verdict.FAILED, error)
    run.env = run.env.without_run_number().with_state(State.DONE)
    run.env_event(fsm.AFTER_DESTROY, OpStatus.DONE_OK, "environment teardown complete")
    yield from run.flush()
    return run.outcome(Verdict.OK)


def _release(run: _Run, tasks: tuple[TaskInstance, ...]) -> _Gen[str]:
    if not tasks:
        return ""
    reply = yield from run.ask(ReleaseTasks(tasks))
    if not isinstance(reply, ReleaseResult):
        raise LifecycleError(f"controller replied {type(reply).__name__}, expected ReleaseResult")
    if not reply.failed:
        return ""
    error = f"{len(reply.failed)} tasks failed to release for environment {run.env.env_id}"
    run.env_event(
        fsm.AFTER_DESTROY,
        OpStatus.DONE_ERROR,
        "environment teardown finished with error",
        error=error,
        state=str(State.DONE),
    )
    yield from run.flush()
    return error


# ----------------------------------------------------------------------------------- decisions


@dataclass(frozen=True, slots=True)
class Recovery:
    """What the controller does after an outcome (all false: nothing).

    ``go_error``: issue GO_ERROR now (after writing ``events``). ``force_error``: GO_ERROR itself
    failed, set the state to ERROR without hooks (``env.with_state(State.ERROR)``). ``teardown``:
    then tear the environment down with ``force=True`` (a failed creation).
    """

    go_error: bool = False
    force_error: bool = False
    teardown: bool = False
    reason: str = ""
    events: tuple[Event, ...] = ()


def recovery(
    outcome: Outcome,
    *,
    creating: bool = False,
    user: User | None = None,
    workflow: WorkflowTemplateInfo | None = None,
) -> Recovery:
    """Decide what follows ``outcome`` (AliECS ``server.go`` ``ControlEnvironment`` and
    ``CreateEnvironment``); the controller performs it.

    A cancelled or failed transition is followed by GO_ERROR, announced by AliECS's "a critical
    error occurred, GO_ERROR transition imminent" event. From ERROR (or DONE) there is no
    GO_ERROR: AliECS logs the invalid event and moves on. A failed GO_ERROR forces the state to
    ERROR. ``creating`` (the DEPLOY/CONFIGURE of a new environment) adds a forced teardown.
    Refused requests and teardowns need nothing.
    """
    if outcome.verdict in (Verdict.OK, Verdict.REFUSED) or outcome.transition == fsm.DESTROY:
        return Recovery()
    env = outcome.env
    if outcome.transition == Transition.GO_ERROR:
        if env.state is State.ERROR:
            return Recovery(teardown=creating, reason=outcome.error)
        return Recovery(
            force_error=True,
            teardown=creating,
            reason="could not complete requested GO_ERROR transition, forcing move to ERROR: "
            + outcome.error,
        )
    if creating:
        reason = f"deployment or configuration failed: {outcome.error}"
    else:
        reason = f"transition {outcome.transition} failed: {outcome.error}"
    if fsm.destination(env.state, Transition.GO_ERROR) is None:
        return Recovery(teardown=creating, reason=reason)
    event = EnvironmentEvent(
        environment_id=env.env_id,
        state=str(env.state),
        run_number=env.run_number or 0,
        error=reason,
        message="a critical error occurred, GO_ERROR transition imminent",
        last_request_user=user,
        workflow_template_info=workflow,
    )
    return Recovery(go_error=True, teardown=creating, reason=reason, events=(Event(event),))


@dataclass(frozen=True, slots=True)
class DestroyPlan:
    """How to destroy an environment: transitions to try first, then a teardown (``force``).

    If one of ``before`` fails, the controller issues GO_ERROR and tears down with force.
    """

    before: tuple[Transition, ...]
    force: bool


def destroy_plan(state: State, *, force: bool = False, allow_in_running: bool = False) -> DestroyPlan:
    """AliECS's ``DestroyEnvironment`` policy: leave a run cleanly when allowed, RESET a configured
    environment, and force the teardown from anywhere else (RUNNING without permission, ERROR)."""
    if force:
        return DestroyPlan((), True)
    if state is State.RUNNING and allow_in_running:
        return DestroyPlan((Transition.STOP_ACTIVITY, Transition.RESET), False)
    if state is State.CONFIGURED:
        return DestroyPlan((Transition.RESET,), False)
    if state in fsm.TEARDOWN_STATES:
        return DestroyPlan((), False)
    return DestroyPlan((), True)


# ------------------------------------------------------------------------------------------ driver


def drive(flow: Flow, perform: Callable[[Step], Any]) -> Outcome:
    """Run ``flow`` to its end, performing each step with ``perform`` (a synchronous controller,
    a simulator or a test double) and returning the outcome."""
    try:
        step = next(flow)
        while True:
            step = flow.send(perform(step))
    except StopIteration as stop:
        result: Outcome = stop.value
        return result
