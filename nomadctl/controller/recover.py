"""After a controller died mid-transition: what the record and Nomad say, and what follows.

The record of an interrupted transition still has ``in_progress`` (transition, source state, the
last step reached, a run number it allocated, jobs it registered or dispatched). The next command
that takes the environment's lock (the dead controller's session has expired by then) compares
that with Nomad (``Observation``) and applies one ``Diagnosis``; ``env show`` prints the same
diagnosis without acting. The rules (``docs/controller.md``):

1. **Teardown** interrupted: only ``destroy`` may follow; it tears down again with force (every
   job still in Nomad is released; DESTROY hooks may run a second time).
2. **GO_ERROR** interrupted: the state is forced to ERROR (as when GO_ERROR itself fails).
3. Interrupted **before the task step** (``before_``/``leave_``): the long-running tasks were not
   touched. The transition counts as cancelled: state unchanged (with the run number it may have
   allocated), then GO_ERROR, as after any cancelled transition.
4. Interrupted **in the task step** (``tasks_<EV>``): if Nomad shows the step's effect complete
   (DEPLOY: every long-running job registered and every group at its NMIN; START: the run job
   dispatched and the groups healthy; STOP: the run job stopped; CONFIGURE/RESET: the groups
   healthy) it is treated as done and rule 5 applies; otherwise GO_ERROR from the source state.
   A DEPLOY that had registered every job first finishes its wait for health (what is left of
   ``deploy_timeout`` since the transition started; ``Controller._finish_deploy_wait``), so
   allocations that were still starting are not mistaken for a failure.
5. Interrupted **after the task step** (``enter_``/``after_``): the state is the destination.
   The hooks and calls of ``enter_<DST>`` and ``after_<EV>`` may not have run. If any of them is
   critical, the transition counts as failed: GO_ERROR. If none is, the bookkeeping is finished
   (state, run number) and the interruption is recorded; nothing is run late.

Calls started by the dead controller have no result anywhere: a later await of one reports it
failed (``calls``).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from nomadctl.controller.record import EnvRecord
from nomadctl.lifecycle import fsm
from nomadctl.lifecycle.fsm import State, Transition
from nomadctl.lifecycle.hooks import HookIndex
from nomadctl.lifecycle.state import Environment


class Action(enum.StrEnum):
    FINISH = "finish"  # record the destination state, nothing else
    GO_ERROR = "go_error"  # record ``env`` then issue GO_ERROR
    FORCE_ERROR = "force_error"  # set the state to ERROR without hooks
    TEARDOWN = "teardown"  # only a forced teardown may continue


@dataclass(frozen=True, slots=True)
class Observation:
    """What Nomad shows of the environment now."""

    jobs_expected: int
    jobs_registered: int
    groups_total: int
    groups_ready: int
    run_jobs_expected: int = 0
    run_job_alive: bool = False

    @property
    def groups_ok(self) -> bool:
        return self.groups_ready == self.groups_total

    def describe(self) -> str:
        return (
            f"jobs registered {self.jobs_registered}/{self.jobs_expected}; "
            f"{self.groups_ready}/{self.groups_total} groups healthy"
        )


@dataclass(frozen=True, slots=True)
class Diagnosis:
    action: Action
    env: Environment
    description: str
    reason: str = ""

    def next_step(self) -> str:
        if self.action is Action.FINISH:
            return f"the next command finishes the bookkeeping (state {self.env.state})"
        if self.action is Action.GO_ERROR:
            return f"the next command issues GO_ERROR ({self.reason})"
        if self.action is Action.FORCE_ERROR:
            return "the next command sets the state to ERROR"
        return "only `nomadctl env destroy` may continue (forced teardown)"


def _critical_after_tasks(hooks: HookIndex, enter: str, after: str) -> list[str]:
    out: list[str] = []
    for moment in (enter, after):
        for w in sorted(hooks.weights(moment)):
            out.extend(c.path for c in hooks.calls_at(moment, w) if c.critical)
            out.extend(h.path for h in hooks.tasks_at(moment, w) if h.critical)
    return out


def diagnose(record: EnvRecord, obs: Observation, hooks: HookIndex | None) -> Diagnosis:
    """The diagnosis of ``record``'s interrupted transition (``record.in_progress`` must be set).

    ``hooks`` is ``None`` when the manifests cannot be planned any more: then whether critical
    hooks were skipped is unknown, and GO_ERROR is the safe answer.
    """
    ip = record.in_progress
    if ip is None:
        raise ValueError("diagnose() needs a record with a transition in progress")
    env = record.lifecycle
    where = f"{ip.transition} interrupted at {ip.step or 'its start'} (controller {ip.controller or '?'})"
    if ip.transition == fsm.DESTROY:
        return Diagnosis(Action.TEARDOWN, env, f"{where}; {obs.describe()}", "teardown interrupted")
    if ip.transition == Transition.GO_ERROR:
        return Diagnosis(
            Action.FORCE_ERROR,
            env.without_run_number().with_state(State.ERROR),
            f"{where}",
            "GO_ERROR interrupted",
        )
    t = Transition(ip.transition)
    source = State(ip.source)
    if ip.run_number is not None and env.run_number != ip.run_number:
        env = env.with_run_number(ip.run_number)
    dst = fsm.destination(source, t)
    if dst is None:  # the record is inconsistent; nothing sensible but ERROR
        return Diagnosis(Action.FORCE_ERROR, env.with_state(State.ERROR), where, "inconsistent record")
    before, leave, enter, after = fsm.moments(t, source)
    position = {before: 0, leave: 1, f"tasks_{t}": 2, enter: 3, after: 4}.get(ip.step, 0)
    desc = f"{where}; {obs.describe()}"
    if position < 2:
        return Diagnosis(
            Action.GO_ERROR,
            env,
            desc + "; the task step was not reached",
            f"{t} interrupted before its task step",
        )
    if position == 2:
        if t is Transition.DEPLOY:
            complete = obs.jobs_registered >= obs.jobs_expected and obs.groups_ok
        elif t is Transition.START_ACTIVITY:
            complete = obs.groups_ok and (obs.run_jobs_expected == 0 or ip.run_job is not None)
        elif t is Transition.STOP_ACTIVITY:
            complete = not obs.run_job_alive
        else:
            complete = obs.groups_ok
        if not complete:
            return Diagnosis(
                Action.GO_ERROR, env, desc + "; the task step is incomplete", f"{t} task step incomplete"
            )
    done = env.with_state(dst)
    if t is Transition.STOP_ACTIVITY:
        done = done.without_run_number()
    if not obs.groups_ok:
        return Diagnosis(Action.GO_ERROR, done, desc, "groups below their NMIN")
    if hooks is None:
        return Diagnosis(
            Action.GO_ERROR, done, desc, "the manifests cannot be planned: skipped hooks unknown"
        )
    skipped = _critical_after_tasks(hooks, enter, after)
    if skipped:
        listed = ", ".join(skipped[:3]) + (f" and {len(skipped) - 3} more" if len(skipped) > 3 else "")
        return Diagnosis(
            Action.GO_ERROR, done, desc, f"critical hooks of {enter}/{after} may not have run: {listed}"
        )
    return Diagnosis(Action.FINISH, done, desc + "; the task step is complete")
