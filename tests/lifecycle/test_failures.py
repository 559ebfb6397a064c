"""Every moment x critical/non-critical x ok/failed/timed out, and how errors are composed."""

import itertools

import pytest

from nomadctl.lifecycle import schedule as sch
from nomadctl.lifecycle.events import OpStatus
from nomadctl.lifecycle.fsm import State
from nomadctl.lifecycle.state import Environment
from tests.lifecycle._support import Farm, call, index, task

MOMENTS = ["before_START_ACTIVITY", "leave_CONFIGURED", "enter_RUNNING", "after_START_ACTIVITY"]
CONFIGURED = Environment("e", State.CONFIGURED)
S = sch.HookStatus


def _setup(moment: str, kind: str, critical: bool) -> tuple[list[object], str]:
    """One hook x at <moment>+0 and non-critical probes at -1 and +1 of every moment."""
    items: list[object] = []
    for m in MOMENTS:
        items += [call(f"p.{m}.neg", f"{m}-1", critical=False), call(f"p.{m}.pos", f"{m}+1", critical=False)]
    x = (
        call("m.x", f"{moment}+0", critical=critical)
        if kind == "call"
        else task("m.x", f"{moment}+0", critical=critical)
    )
    items.append(x)
    return items, "m.x"


MESSAGES = {
    ("call", S.FAILED): "boom",
    ("call", S.TIMED_OUT): "call test.x() timed out after 10s",
    ("task", S.FAILED): "hook task shell-command#id-m.x finished with non-zero exit code 2",
    ("task", S.TIMED_OUT): "hook task shell-command#id-m.x timed out after 5s",
}


@pytest.mark.parametrize(
    ("moment", "kind", "critical", "status"),
    list(itertools.product(MOMENTS, ["call", "task"], [True, False], list(S))),
)
def test_failure_matrix(moment: str, kind: str, critical: bool, status: sch.HookStatus) -> None:
    items, x = _setup(moment, kind, critical)
    hooks = index(*items)  # type: ignore[arg-type]
    message = "boom" if (kind, status) == ("call", S.FAILED) else ""
    farm = Farm(hooks, results={x: sch.HookResult("", status, message, exit_code=2)})
    out = sch.drive(sch.transition(CONFIGURED, "START_ACTIVITY", hooks), farm)

    ran = {line.split()[1].split("@")[0] for line in farm.trace if line.startswith(("await ", "run "))}
    probes = [f"p.{m}.{s}" for m in MOMENTS for s in ("neg", "pos")]
    fails = status is not S.OK
    if not fails:
        assert out.verdict is sch.Verdict.OK
        assert out.failures == ()
        assert set(probes) <= ran
        return
    (failure,) = out.failures
    assert (failure.path, failure.critical, failure.status, failure.moment, failure.weight) == (
        x,
        critical,
        status,
        moment,
        0,
    )
    assert failure.message == MESSAGES[kind, status]
    if not critical:
        assert out.verdict is sch.Verdict.OK
        assert out.env.state is State.RUNNING
        assert set(probes) <= ran
        return

    i = MOMENTS.index(moment)
    skipped_probe = f"p.{moment}.pos"
    assert out.skipped == (skipped_probe,)
    if i < 2:  # before/leave: cancelled, nothing after it ran
        assert out.verdict is sch.Verdict.CANCELLED
        assert out.env.state is State.CONFIGURED
        assert out.error == f"transition canceled with error: {MESSAGES[kind, status]}"
        assert "tasks START_ACTIVITY" not in farm.trace
        expected_ran = {p for p in probes if MOMENTS.index(p.split(".")[1]) < i} | {f"p.{moment}.neg"}
    else:  # enter/after: the state changed, the rest still ran, the transition is failed
        assert out.verdict is sch.Verdict.FAILED
        assert out.env.state is State.RUNNING
        assert out.error == MESSAGES[kind, status]
        expected_ran = set(probes) - {skipped_probe}
    assert {p for p in probes if p in ran} == expected_ran
    last = farm.payloads("environmentEvent")[-1]
    assert (last.transition_status, last.error, last.state) == (
        OpStatus.DONE_ERROR,
        out.error,
        str(out.env.state),
    )
    step_done = [e for e in farm.payloads("environmentEvent") if e.transition_step == moment][-1]
    assert step_done.transition_status is OpStatus.DONE_ERROR


@pytest.mark.parametrize(
    ("n", "expected"),
    [
        (1, "e0"),
        (2, "e0; e1"),
        (3, "e0; e1; e2"),
        (4, "4 critical hooks failed at trigger before_DEPLOY (see InfoLogger for details)"),
        (7, "7 critical hooks failed at trigger before_DEPLOY (see InfoLogger for details)"),
    ],
)
def test_critical_failures_joined_or_counted(n: int, expected: str) -> None:
    hooks = index(*(call(f"c.{i}", "before_DEPLOY+3") for i in range(n)))
    farm = Farm(hooks, results={f"c.{i}": sch.HookResult("", S.FAILED, f"e{i}") for i in range(n)})
    out = sch.drive(sch.transition(Environment("e"), "DEPLOY", hooks), farm)
    assert out.error == f"transition canceled with error: {expected}"


def test_failures_are_summarized_per_pass_not_per_moment() -> None:
    # a failure in enter's negative pass does not stop its positive pass, and the two are joined
    hooks = index(
        call("c.n1", "enter_RUNNING-2"),
        call("c.n2", "enter_RUNNING-1", critical=False),  # skipped: after the critical failure
        call("c.p", "enter_RUNNING+5"),
    )
    farm = Farm(
        hooks,
        results={"c.n1": sch.HookResult("", S.FAILED, "neg"), "c.p": sch.HookResult("", S.FAILED, "pos")},
    )
    out = sch.drive(sch.transition(CONFIGURED, "START_ACTIVITY", hooks), farm)
    assert out.verdict is sch.Verdict.FAILED
    assert out.error == "neg\npos"
    assert out.skipped == ("c.n2",)
    assert "await c.n2" not in farm.trace


def test_critical_failure_in_before_negative_pass_skips_allocation_and_positive_weights() -> None:
    hooks = index(call("c.n", "before_START_ACTIVITY-5"), call("c.p", "before_START_ACTIVITY+5"))
    farm = Farm(hooks, results={"c.n": S.FAILED})
    out = sch.drive(sch.transition(CONFIGURED, "START_ACTIVITY", hooks), farm)
    assert out.verdict is sch.Verdict.CANCELLED
    assert out.error == "transition canceled with error: call test.n() failed"
    assert farm.actions() == ["start c.n@before_START_ACTIVITY-5", "await c.n"]
    assert out.env.run_number is None
    assert out.skipped == ()  # +5 belongs to the positive pass, which never started


def test_critical_failure_in_before_positive_pass_keeps_the_allocated_run_number() -> None:
    hooks = index(call("c.p", "before_START_ACTIVITY+5"))
    out = sch.drive(
        sch.transition(CONFIGURED, "START_ACTIVITY", hooks), Farm(hooks, results={"c.p": S.FAILED})
    )
    assert out.verdict is sch.Verdict.CANCELLED
    assert out.env.state is State.CONFIGURED
    assert out.env.run_number == 42  # AliECS clears it in the GO_ERROR that follows
    assert out.env.vars["run_end_time_ms"] == ""  # ...which therefore sees an open run


@pytest.mark.parametrize(
    ("enter", "after", "error", "after_event_error"),
    [
        ("x", None, "x", "x"),
        (None, "y", "y", "y"),
        ("x", "y", "y", "y"),  # the FSM event's error is overwritten by after's
    ],
)
def test_enter_and_after_errors(
    enter: str | None, after: str | None, error: str, after_event_error: str
) -> None:
    items = []
    results = {}
    if enter:
        items.append(call("c.enter", "enter_RUNNING"))
        results["c.enter"] = sch.HookResult("", S.FAILED, enter)
    if after:
        items.append(call("c.after", "after_START_ACTIVITY+1"))
        results["c.after"] = sch.HookResult("", S.FAILED, after)
    hooks = index(*items)
    farm = Farm(hooks, results=results)
    out = sch.drive(sch.transition(CONFIGURED, "START_ACTIVITY", hooks), farm)
    assert out.verdict is sch.Verdict.FAILED
    assert out.error == error
    after_done = [
        e for e in farm.payloads("environmentEvent") if e.transition_step == "after_START_ACTIVITY"
    ][-1]
    assert after_done.error == after_event_error
    # the run event at after_START carries the error known before after's positive pass
    (_, done) = farm.payloads("runEvent")
    assert done.transition_status is (OpStatus.DONE_ERROR if enter else OpStatus.DONE_OK)
    assert done.error == (enter or "")


def test_non_critical_failure_does_not_stop_higher_weights() -> None:
    hooks = index(task("t.a", "before_DEPLOY", critical=False), task("t.b", "before_DEPLOY+1"))
    farm = Farm(hooks, results={"t.a": S.FAILED})
    out = sch.drive(sch.transition(Environment("e"), "DEPLOY", hooks), farm)
    assert out.ok
    assert farm.actions()[:2] == ["run t.a", "run t.b"]
    assert [f.critical for f in out.failures] == [False]


def test_every_hook_of_a_failing_weight_runs_before_the_pass_stops() -> None:
    hooks = index(call("c.a", "before_DEPLOY"), call("c.b", "before_DEPLOY"), task("t.c", "before_DEPLOY"))
    farm = Farm(
        hooks, results={"c.a": sch.HookResult("", S.FAILED, "a"), "t.c": sch.HookResult("", S.FAILED, "c")}
    )
    out = sch.drive(sch.transition(Environment("e"), "DEPLOY", hooks), farm)
    assert farm.actions() == [
        "start c.a@before_DEPLOY+0",
        "start c.b@before_DEPLOY+0",
        "await c.a",
        "await c.b",
        "run t.c",
    ]
    assert out.error == "transition canceled with error: a; c"
