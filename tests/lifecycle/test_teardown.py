"""Teardown (DESTROY): allowed states, order, TEARDOWN run events, release and DESTROY hooks."""

import pytest

from nomadctl.lifecycle import schedule as sch
from nomadctl.lifecycle.events import OpStatus
from nomadctl.lifecycle.fsm import State
from nomadctl.lifecycle.state import Environment, PendingCall
from nomadctl.triggers import Point
from tests.lifecycle._support import Farm, call, index, task

S = sch.HookStatus


@pytest.mark.parametrize("state", list(State))
@pytest.mark.parametrize("force", [False, True])
def test_teardown_from_each_state(state: State, force: bool) -> None:
    hooks = index(task("wf.readout"), call("wf.k", f"leave_{state}"), task("wf.clean", "DESTROY"))
    farm = Farm(hooks)
    env = Environment("e", state)
    out = sch.drive(sch.teardown(env, hooks, force=force), farm)
    allowed = state is not State.DONE and (force or state in (State.STANDBY, State.DEPLOYED))
    if not allowed:
        assert out.verdict is sch.Verdict.REFUSED
        assert out.env == env
        assert farm.steps == []
        return
    assert out.verdict is sch.Verdict.OK
    assert out.env.state is State.DONE
    assert farm.actions() == [
        f"start wf.k@leave_{state}+0",
        "await wf.k",
        "release wf.readout",
        "run wf.clean",
        "release wf.clean",
    ]
    assert farm.env_steps() == [
        ("before_DESTROY", "STARTED"),
        (f"leave_{state}", "ONGOING"),
        ("DESTROY", "ONGOING"),
        ("after_DESTROY", "ONGOING"),
        ("after_DESTROY", "DONE_OK"),
    ]
    final = farm.payloads("environmentEvent")[-1]
    assert (final.state, final.transition, final.message) == (
        "DONE",
        "DESTROY",
        "environment teardown complete",
    )


def test_teardown_from_running_stops_the_run() -> None:
    hooks = index(task("wf.readout"))
    env = (
        Environment("e", State.RUNNING)
        .with_run_number(9)
        .with_vars(run_end_time_ms="", run_end_completion_time_ms="")
    )
    farm = Farm(hooks)
    out = sch.drive(sch.teardown(env, hooks, force=True), farm)
    assert farm.trace[:2] == ["stamp run_end_time_ms", "stamp run_end_completion_time_ms"]
    runs = farm.payloads("runEvent")
    assert [(r.transition, r.transition_status, r.run_number, r.state) for r in runs] == [
        ("TEARDOWN", OpStatus.STARTED, 9, "RUNNING"),
        ("TEARDOWN", OpStatus.STARTED, 9, "RUNNING"),
    ]
    assert out.env.vars["run_end_time_ms"] != ""
    assert out.env.run_number is None
    assert out.env.last_run_number == 9


def test_no_teardown_run_event_when_the_run_end_is_already_known() -> None:
    env = Environment("e", State.RUNNING).with_vars(run_end_time_ms="5", run_end_completion_time_ms="")
    farm = Farm(index())
    sch.drive(sch.teardown(env, index(), force=True), farm)
    assert len(farm.payloads("runEvent")) == 1


def test_teardown_order_per_destroy_weight() -> None:
    hooks = index(
        task("wf.readout"),
        task("wf.hook.configure", "before_CONFIGURE"),  # a hook of another moment is released too
        call("wf.leave.neg", "leave_DEPLOYED-5"),
        call("wf.leave.pos", "leave_DEPLOYED+5"),
        task("wf.d.t0", "DESTROY"),
        call("wf.d.c0", "DESTROY"),
        call("wf.a.c0", "after_DESTROY"),  # same weight as DESTROY: AliECS would drop the DESTROY+0 hooks
        task("wf.a.t0", "after_DESTROY"),
        call("wf.d.cm", "DESTROY-100"),
        task("wf.d.t50", "DESTROY+50"),
    )
    farm = Farm(hooks)
    out = sch.drive(sch.teardown(Environment("e", State.DEPLOYED), hooks), farm)
    assert out.ok
    assert farm.actions() == [
        "start wf.leave.neg@leave_DEPLOYED-5",
        "await wf.leave.neg",
        "start wf.leave.pos@leave_DEPLOYED+5",
        "await wf.leave.pos",
        "release wf.readout,wf.hook.configure",
        "call wf.d.cm",
        "call wf.d.c0",
        "call wf.a.c0",
        "run wf.d.t0",
        "run wf.a.t0",
        "run wf.d.t50",
        "release wf.d.t0,wf.a.t0,wf.d.t50",
    ]
    run_calls = [s for s in farm.steps if isinstance(s, sch.RunCalls)]
    assert [(s.moment, s.weight) for s in run_calls] == [("DESTROY", -100), ("DESTROY", 0)]


def test_leave_hooks_at_teardown_are_one_pass_and_never_block() -> None:
    hooks = index(call("l.neg", "leave_DEPLOYED-5"), call("l.pos", "leave_DEPLOYED+5"), task("d", "DESTROY"))
    farm = Farm(hooks, results={"l.neg": S.FAILED})
    out = sch.drive(sch.teardown(Environment("e", State.DEPLOYED), hooks), farm)
    assert out.ok
    assert out.env.state is State.DONE
    assert "await l.pos" not in farm.trace  # the critical failure stopped the (single) pass
    assert out.skipped == ("l.pos",)
    assert [f.path for f in out.failures] == ["l.neg"]


def test_destroy_hook_failures_are_reported_but_teardown_completes() -> None:
    hooks = index(call("d.c", "DESTROY"), task("d.t", "after_DESTROY"))
    farm = Farm(hooks, results={"d.c": sch.HookResult("", S.FAILED, "dcs down"), "d.t": S.TIMED_OUT})
    out = sch.drive(sch.teardown(Environment("e"), hooks), farm)
    assert out.ok
    assert out.env.state is State.DONE
    assert [(f.moment, f.path, f.critical, f.message) for f in out.failures] == [
        ("DESTROY", "d.c", True, "dcs down"),
        ("after_DESTROY", "d.t", True, "hook task shell-command#id-d.t timed out after 5s"),
    ]
    statuses = [(c.path, c.call_status) for c in farm.payloads("callEvent")]
    assert statuses == [("d.c", OpStatus.STARTED), ("d.c", OpStatus.DONE_ERROR)]


def test_pending_calls_are_cancelled_at_teardown() -> None:
    hooks = index(call("c", "before_CONFIGURE", "after_RESET"))
    p = PendingCall("c", Point("after_RESET"), Point("before_CONFIGURE"), "CONFIGURE")
    farm = Farm(hooks)
    out = sch.drive(sch.teardown(Environment("e", State.DEPLOYED).with_pending([p]), hooks), farm)
    assert "cancel c" in farm.trace
    cancel = next(s for s in farm.steps if isinstance(s, sch.CancelCalls))
    assert cancel.reason == "the environment is being torn down"
    assert out.cancelled == ("c",)
    assert out.env.pending == ()


@pytest.mark.parametrize("which", ["first", "second"])
def test_release_failure_fails_the_teardown(which: str) -> None:
    hooks = index(task("wf.readout"), task("wf.stfb"), task("wf.clean", "DESTROY"))
    failed = {"id-wf.readout": "x", "id-wf.stfb": "y"} if which == "first" else {"id-wf.clean": "z"}

    class Partial(Farm):
        def __call__(self, step: sch.Step) -> object:
            if isinstance(step, sch.ReleaseTasks):
                self.trace.append("release")
                hit = {t.task_id for t in step.tasks} & set(failed)
                return sch.ReleaseResult({k: failed[k] for k in hit})
            return super().__call__(step)

    farm = Partial(hooks)
    out = sch.drive(sch.teardown(Environment("e", State.DEPLOYED), hooks), farm)
    assert out.verdict is sch.Verdict.FAILED
    assert out.error == f"{len(failed)} tasks failed to release for environment e"
    assert out.env.state is State.DEPLOYED
    last = farm.payloads("environmentEvent")[-1]
    assert (last.transition_step, last.transition_status, last.state, last.error) == (
        "after_DESTROY",
        OpStatus.DONE_ERROR,
        "DONE",
        out.error,
    )
    assert ("run wf.clean" in farm.trace) is (which == "second")
