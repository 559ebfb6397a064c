"""Calls started at one point and awaited at another: within a moment, across moments, across
transitions, and what happens to awaits a transition never reaches."""

from nomadctl.lifecycle import schedule as sch
from nomadctl.lifecycle.events import OpStatus
from nomadctl.lifecycle.fsm import State
from nomadctl.lifecycle.state import Environment, PendingCall
from nomadctl.triggers import Point
from tests.lifecycle._support import Farm, call, index, task

CONFIGURED = Environment("e", State.CONFIGURED)
S = sch.HookStatus


def _await_steps(farm: Farm) -> list[tuple[str, int, tuple[str, ...]]]:
    return [
        (s.moment, s.weight, tuple(c.path for c in s.calls))
        for s in farm.steps
        if isinstance(s, sch.AwaitCalls)
    ]


def test_await_at_a_later_weight_of_the_same_moment_without_hooks_there() -> None:
    # AliECS fixes a pass's weights before starting calls and would never await c here
    hooks = index(call("c", "before_DEPLOY", "before_DEPLOY+5"), task("t", "before_DEPLOY+10"))
    farm = Farm(hooks)
    out = sch.drive(sch.transition(Environment("e"), "DEPLOY", hooks), farm)
    assert farm.actions()[:3] == ["start c@before_DEPLOY+0", "await c", "run t"]
    assert _await_steps(farm) == [("before_DEPLOY", 5, ("c",))]
    assert out.env.pending == ()


def test_await_in_the_same_negative_pass_is_inserted_in_order() -> None:
    hooks = index(call("c", "enter_DEPLOYED-10", "enter_DEPLOYED-3"), call("d", "enter_DEPLOYED-5"))
    farm = Farm(hooks)
    sch.drive(sch.transition(Environment("e"), "DEPLOY", hooks), farm)
    assert [(m, w) for m, w, _ in _await_steps(farm)] == [("enter_DEPLOYED", -5), ("enter_DEPLOYED", -3)]


def test_negative_trigger_awaited_in_the_positive_pass_after_the_run_number() -> None:
    hooks = index(call("c", "before_START_ACTIVITY-5", "before_START_ACTIVITY+3"))
    farm = Farm(hooks)
    sch.drive(sch.transition(CONFIGURED, "START_ACTIVITY", hooks), farm)
    assert farm.actions()[:3] == ["start c@before_START_ACTIVITY-5", "core allocate_run_number", "await c"]


def test_await_in_a_later_moment_happens_before_that_weights_hooks() -> None:
    hooks = index(call("c", "before_CONFIGURE", "after_CONFIGURE-1"), task("t", "after_CONFIGURE-1"))
    farm = Farm(hooks)
    out = sch.drive(sch.transition(Environment("e", State.DEPLOYED), "CONFIGURE", hooks), farm)
    assert farm.actions() == ["start c@before_CONFIGURE+0", "tasks CONFIGURE", "await c", "run t"]
    # and a failure reported at the await counts at the await point
    farm = Farm(hooks, results={"c": sch.HookResult("", S.FAILED, "ddsched down")})
    out = sch.drive(sch.transition(Environment("e", State.DEPLOYED), "CONFIGURE", hooks), farm)
    assert out.verdict is sch.Verdict.FAILED
    assert out.error == "ddsched down"
    assert (out.failures[0].moment, out.failures[0].weight) == ("after_CONFIGURE", -1)


def test_await_before_the_trigger_is_carried_to_the_next_occurrence() -> None:
    hooks = index(call("c", "after_CONFIGURE", "before_CONFIGURE"))
    farm = Farm(hooks)
    out = sch.drive(sch.transition(Environment("e", State.DEPLOYED), "CONFIGURE", hooks), farm)
    assert out.ok
    assert out.env.pending == (
        PendingCall("c", Point("before_CONFIGURE"), Point("after_CONFIGURE"), "CONFIGURE"),
    )
    out = sch.drive(sch.transition(out.env, "RESET", hooks), farm)
    assert len(out.env.pending) == 1
    farm.trace.clear()
    out = sch.drive(sch.transition(out.env, "CONFIGURE", hooks), farm)
    assert farm.actions() == ["await c", "tasks CONFIGURE", "start c@after_CONFIGURE+0"]
    assert len(out.env.pending) == 1


def test_a_call_started_again_while_pending_supersedes_the_old_start() -> None:
    # leave_CONFIGURED → enter_RUNNING: in RESET the await never comes, so the call stays pending
    hooks = index(call("c", "leave_CONFIGURED", "enter_RUNNING"))
    farm = Farm(hooks)
    env = sch.drive(sch.transition(CONFIGURED, "RESET", hooks), farm).env
    env = sch.drive(sch.transition(env, "CONFIGURE", hooks), farm).env
    farm.trace.clear()
    out = sch.drive(sch.transition(env, "RESET", hooks), farm)
    assert farm.actions() == ["cancel c", "start c@leave_CONFIGURED+0", "tasks RESET"]
    assert out.cancelled == ("c",)
    assert len(out.env.pending) == 1
    cancelled = [c for c in farm.payloads("callEvent") if c.call_status is OpStatus.DONE_ERROR]
    assert cancelled[0].error == "call cancelled: superseded: started again at leave_CONFIGURED+0"


ODC = index(
    call("odc.start", "before_START_ACTIVITY+100", "after_START_ACTIVITY-10"),
    call("kafka.leave", "leave_CONFIGURED"),
)


def test_awaits_skipped_by_a_cancelled_transition_are_cancelled() -> None:
    farm = Farm(ODC, results={"kafka.leave": S.FAILED})
    out = sch.drive(sch.transition(CONFIGURED, "START_ACTIVITY", ODC), farm)
    assert out.verdict is sch.Verdict.CANCELLED
    assert farm.actions()[-1] == "cancel odc.start"
    cancel = next(s for s in farm.steps if isinstance(s, sch.CancelCalls))
    assert cancel.reason == "START_ACTIVITY was cancelled"
    assert out.cancelled == ("odc.start",)
    assert out.env.pending == ()
    done = farm.payloads("callEvent")[-1]
    assert (done.path, done.call_status, done.error) == (
        "odc.start",
        OpStatus.DONE_ERROR,
        "call cancelled: START_ACTIVITY was cancelled",
    )
    # the cancellation is reported before the transition's final event
    kinds = [e.payload.KEY for e in farm.events]
    assert kinds[-2:] == ["callEvent", "environmentEvent"]


def test_a_call_that_finished_before_its_cancellation_is_reported_as_finished() -> None:
    farm = Farm(ODC, results={"kafka.leave": S.FAILED}, finished_on_cancel=["odc.start"])
    out = sch.drive(sch.transition(CONFIGURED, "START_ACTIVITY", ODC), farm)
    assert out.cancelled == ()
    done = farm.payloads("callEvent")[-1]
    assert (done.path, done.call_status) == ("odc.start", OpStatus.DONE_OK)


def test_awaits_skipped_by_a_cut_short_pass_are_cancelled_after_a_failed_transition() -> None:
    hooks = index(call("c", "enter_RUNNING-10", "enter_RUNNING-1"), call("x", "enter_RUNNING-5"))
    farm = Farm(hooks, results={"x": S.FAILED})
    out = sch.drive(sch.transition(CONFIGURED, "START_ACTIVITY", hooks), farm)
    assert out.verdict is sch.Verdict.FAILED
    assert out.cancelled == ("c",)
    assert out.env.pending == ()


def test_carried_calls_for_other_transitions_survive_a_failure() -> None:
    p = PendingCall("c", Point("before_STOP_ACTIVITY"), Point("after_START_ACTIVITY"), "START_ACTIVITY")
    hooks = index(call("c", "after_START_ACTIVITY", "before_STOP_ACTIVITY"), call("x", "before_RESET"))
    out = sch.drive(
        sch.transition(CONFIGURED.with_pending([p]), "RESET", hooks), Farm(hooks, results={"x": S.FAILED})
    )
    assert out.verdict is sch.Verdict.CANCELLED
    assert out.env.pending == (p,)


def test_carried_calls_whose_point_this_transition_skipped_are_cancelled() -> None:
    p = PendingCall("c", Point("after_RESET"), Point("before_CONFIGURE"), "CONFIGURE")
    hooks = index(call("c", "before_CONFIGURE", "after_RESET"), call("x", "before_RESET"))
    farm = Farm(hooks, results={"x": S.FAILED})
    out = sch.drive(sch.transition(CONFIGURED.with_pending([p]), "RESET", hooks), farm)
    assert out.cancelled == ("c",)
    assert out.env.pending == ()


def test_a_pending_call_missing_from_the_plan_is_dropped_and_reported() -> None:
    p = PendingCall("gone", Point("before_DEPLOY"), Point("x"), "X")
    hooks = index(task("t", "before_DEPLOY"))
    farm = Farm(hooks)
    out = sch.drive(sch.transition(Environment("e").with_pending([p]), "DEPLOY", hooks), farm)
    assert out.ok
    assert out.env.pending == ()
    assert [(f.key, f.critical, f.message) for f in out.failures] == [
        ("gone", False, "call is not in the plan")
    ]
    assert not any(isinstance(s, sch.AwaitCalls) for s in farm.steps)
