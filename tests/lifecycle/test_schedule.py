"""Step order of one transition: moments, weights, core actions, awaits and events."""

import pytest

from nomadctl.errors import LifecycleError
from nomadctl.lifecycle import fsm
from nomadctl.lifecycle import schedule as sch
from nomadctl.lifecycle.events import OpStatus
from nomadctl.lifecycle.fsm import State, Transition
from nomadctl.lifecycle.state import Environment
from tests.lifecycle._support import T0, Farm, call, index, task

CONFIGURED = Environment("env1", State.CONFIGURED)

# The START_ACTIVITY part of readout-dataflow's schedule (reference §6.3), with its criticality.
READOUT_START = index(
    call("rd.trg.pfr", "before_START_ACTIVITY-200"),
    call("rd.lhc", "before_START_ACTIVITY-50"),
    call("rd.trg.load", "before_START_ACTIVITY+10"),
    call("rd.bk.sor", "before_START_ACTIVITY+10", critical=False),
    call("rd.bk.fill", "before_START_ACTIVITY+11", critical=False),
    call("rd.kafka.start", "before_START_ACTIVITY+50", critical=False),
    call("rd.dcs.sor", "before_START_ACTIVITY+100"),
    call("rd.odc.start", "before_START_ACTIVITY+100", "after_START_ACTIVITY-10"),
    call("rd.ccdb", "before_START_ACTIVITY+100", critical=False),
    call("rd.kafka.leave", "leave_CONFIGURED", critical=False),
    task("rd.flp1.ctp-emu", "enter_RUNNING", critical=False),
    call("rd.kafka.enter", "enter_RUNNING", critical=False),
    call("rd.trg.start", "after_START_ACTIVITY-10"),
    call("rd.bk.update", "after_START_ACTIVITY+100", critical=False),
)


def test_readout_dataflow_start_activity_order() -> None:
    farm = Farm(READOUT_START)
    out = sch.drive(sch.transition(CONFIGURED, Transition.START_ACTIVITY, READOUT_START), farm)
    assert out.verdict is sch.Verdict.OK
    assert farm.trace == [
        "start rd.trg.pfr@before_START_ACTIVITY-200",
        "await rd.trg.pfr",
        "start rd.lhc@before_START_ACTIVITY-50",
        "await rd.lhc",
        "core allocate_run_number",
        "start rd.trg.load@before_START_ACTIVITY+10",
        "start rd.bk.sor@before_START_ACTIVITY+10",
        "await rd.trg.load",
        "await rd.bk.sor",
        "start rd.bk.fill@before_START_ACTIVITY+11",
        "await rd.bk.fill",
        "start rd.kafka.start@before_START_ACTIVITY+50",
        "await rd.kafka.start",
        "start rd.dcs.sor@before_START_ACTIVITY+100",
        "start rd.odc.start@before_START_ACTIVITY+100",
        "start rd.ccdb@before_START_ACTIVITY+100",
        "await rd.dcs.sor",
        "await rd.ccdb",
        "start rd.kafka.leave@leave_CONFIGURED+0",
        "await rd.kafka.leave",
        "tasks START_ACTIVITY",
        "stamp enter_state_time_ms",
        "start rd.kafka.enter@enter_RUNNING+0",
        "await rd.kafka.enter",
        "run rd.flp1.ctp-emu",
        "start rd.trg.start@after_START_ACTIVITY-10",
        "await rd.odc.start",
        "await rd.trg.start",
        "stamp run_start_completion_time_ms",
        "start rd.bk.update@after_START_ACTIVITY+100",
        "await rd.bk.update",
    ]
    assert out.env.state is State.RUNNING
    assert out.env.run_number == 42
    assert out.env.pending == ()
    # calls before the allocation do not see a run number, the ones after do
    assert "run_number" not in farm.vars_seen["rd.trg.pfr"]
    assert farm.vars_seen["rd.trg.load"]["run_number"] == "42"
    assert farm.vars_seen["tasks START_ACTIVITY"]["runNumber"] == "42"
    assert out.env.vars["__fmq_cleanup_count"] == "1"


def test_enter_state_time_is_taken_between_negative_and_positive_enter_weights() -> None:
    hooks = index(call("c.neg", "enter_RUNNING-1"), call("c.pos", "enter_RUNNING"))
    farm = Farm(hooks)
    sch.drive(sch.transition(CONFIGURED, "START_ACTIVITY", hooks), farm)
    i = farm.trace.index
    assert i("await c.neg") < i("stamp enter_state_time_ms") < i("start c.pos@enter_RUNNING+0")


@pytest.mark.parametrize(
    ("event", "source", "moments"),
    [
        (
            "DEPLOY",
            "STANDBY",
            ["before_DEPLOY", "leave_STANDBY", "tasks_DEPLOY", "enter_DEPLOYED", "after_DEPLOY"],
        ),
        (
            "CONFIGURE",
            "DEPLOYED",
            ["before_CONFIGURE", "leave_DEPLOYED", "tasks_CONFIGURE", "enter_CONFIGURED", "after_CONFIGURE"],
        ),
        (
            "RESET",
            "CONFIGURED",
            ["before_RESET", "leave_CONFIGURED", "tasks_RESET", "enter_DEPLOYED", "after_RESET"],
        ),
        (
            "STOP_ACTIVITY",
            "RUNNING",
            [
                "before_STOP_ACTIVITY",
                "leave_RUNNING",
                "tasks_STOP_ACTIVITY",
                "enter_CONFIGURED",
                "after_STOP_ACTIVITY",
            ],
        ),
        (
            "GO_ERROR",
            "DEPLOYED",
            ["before_GO_ERROR", "leave_DEPLOYED", "tasks_GO_ERROR", "enter_ERROR", "after_GO_ERROR"],
        ),
    ],
)
def test_environment_events_of_a_successful_transition(event: str, source: str, moments: list[str]) -> None:
    hooks = index()
    farm = Farm(hooks)
    out = sch.drive(sch.transition(Environment("e", State(source)), event, hooks), farm)
    assert out.ok
    expected = [("", "STARTED")]
    for m in moments:
        expected += [(m, "ONGOING"), (m, "ONGOING")]
    expected.append(("", "DONE_OK"))
    assert farm.env_steps() == expected
    envs = farm.payloads("environmentEvent")
    assert {e.transition for e in envs} == {event}
    assert envs[0].message == "transition starting"
    assert envs[-1].message == "transition completed successfully"
    assert envs[-1].state == out.env.state
    # the task step is announced in the source state and finished in the destination
    tasks_events = [e for e in envs if e.transition_step == f"tasks_{event}"]
    assert [e.state for e in tasks_events] == [source, str(out.env.state)]


@pytest.mark.parametrize(
    ("weights", "expected"),
    [
        ([5, -3, 0, -100, 100], [-100, -3, 0, 5, 100]),
        ([0], [0]),
        ([-1, 1], [-1, 1]),
        ([2**63 - 1, -(2**63)], [-(2**63), 2**63 - 1]),
    ],
)
@pytest.mark.parametrize(
    "moment", ["before_CONFIGURE", "leave_DEPLOYED", "enter_CONFIGURED", "after_CONFIGURE"]
)
def test_weights_run_in_ascending_order(moment: str, weights: list[int], expected: list[int]) -> None:
    hooks = index(*(task(f"h.{i}", f"{moment}{w:+d}") for i, w in enumerate(weights)))
    farm = Farm(hooks)
    sch.drive(sch.transition(Environment("e", State.DEPLOYED), "CONFIGURE", hooks), farm)
    order = [weights[int(line.split(".")[1])] for line in farm.trace if line.startswith("run ")]
    assert order == expected


def test_calls_then_awaits_then_tasks_within_one_weight() -> None:
    hooks = index(
        task("x.h", "before_DEPLOY"),
        call("x.c", "before_DEPLOY"),
        call("x.early", "before_DEPLOY-5", "before_DEPLOY"),
    )
    farm = Farm(hooks)
    sch.drive(sch.transition(Environment("e"), "DEPLOY", hooks), farm)
    assert farm.trace[:5] == [
        "start x.early@before_DEPLOY-5",
        "start x.c@before_DEPLOY+0",
        "await x.early",
        "await x.c",
        "run x.h",
    ]


def test_run_number_is_allocated_between_negative_and_non_negative_before_weights() -> None:
    hooks = index(call("c.m1", "before_START_ACTIVITY-1"), call("c.z", "before_START_ACTIVITY+0"))
    farm = Farm(hooks, run_number=505)
    out = sch.drive(sch.transition(CONFIGURED, "START_ACTIVITY", hooks), farm)
    assert farm.trace[:3] == ["start c.m1@before_START_ACTIVITY-1", "await c.m1", "core allocate_run_number"]
    assert out.env.run_number == 505
    alloc_time = T0 + 1_000_000 * (1 + [type(s) for s in farm.steps].index(sch.CoreAction))
    assert out.env.vars["run_start_time_ms"] == str(alloc_time // 1_000_000)
    for var in ("run_start_completion_time_ms",):
        assert out.env.vars[var] != ""
    assert out.env.vars["run_end_time_ms"] == ""
    assert out.env.vars["run_end_completion_time_ms"] == ""
    runs = farm.payloads("runEvent")
    assert [(r.transition, r.transition_status, r.run_number, r.state) for r in runs] == [
        ("START_ACTIVITY", OpStatus.STARTED, 505, "CONFIGURED"),
        ("START_ACTIVITY", OpStatus.DONE_OK, 505, "RUNNING"),
    ]
    # the STARTED run event carries the allocation time, not the write time
    started = next(e for e in farm.events if e.payload is runs[0])
    assert started.timestamp_ns == alloc_time


def test_stop_activity_clears_the_run_after_all_hooks() -> None:
    hooks = index(call("c.after", "after_STOP_ACTIVITY+100"), call("c.before", "before_STOP_ACTIVITY-10"))
    env = (
        Environment("e", State.RUNNING)
        .with_run_number(77)
        .with_vars(run_end_time_ms="", run_end_completion_time_ms="")
    )
    farm = Farm(hooks)
    out = sch.drive(sch.transition(env, "STOP_ACTIVITY", hooks), farm)
    assert out.ok
    assert out.env.state is State.CONFIGURED
    assert farm.vars_seen["c.after"]["run_number"] == "77"  # still there at after_STOP+100
    assert out.env.run_number is None
    assert out.env.last_run_number == 77
    assert out.env.vars["last_run_number"] == "77"
    assert "run_number" not in out.env.vars
    assert farm.trace.index("await c.before") < farm.trace.index("stamp run_end_time_ms")
    runs = farm.payloads("runEvent")
    assert [(r.transition, r.transition_status, r.run_number) for r in runs] == [
        ("STOP_ACTIVITY", OpStatus.STARTED, 77),
        ("STOP_ACTIVITY", OpStatus.DONE_OK, 77),
    ]
    assert out.env.vars["run_end_time_ms"] != ""
    assert out.env.vars["run_end_completion_time_ms"] != ""


@pytest.mark.parametrize(
    ("env", "expect_run_events"),
    [
        (Environment("e", State.DEPLOYED), []),  # never ran: no run variables at all
        (
            Environment("e", State.CONFIGURED).with_vars(run_end_time_ms="1", run_end_completion_time_ms="2"),
            [],
        ),
        (
            Environment("e", State.RUNNING)
            .with_run_number(8)
            .with_vars(run_end_time_ms="", run_end_completion_time_ms=""),
            [("GO_ERROR", OpStatus.STARTED, 8), ("GO_ERROR", OpStatus.DONE_OK, 8)],
        ),
    ],
)
def test_go_error_closes_an_open_run(
    env: Environment, expect_run_events: list[tuple[str, OpStatus, int]]
) -> None:
    hooks = index()
    farm = Farm(hooks)
    out = sch.drive(sch.transition(env, "GO_ERROR", hooks), farm)
    assert out.ok
    assert out.env.state is State.ERROR
    assert [
        (r.transition, r.transition_status, r.run_number) for r in farm.payloads("runEvent")
    ] == expect_run_events
    assert out.env.run_number is None


def test_run_number_allocation_failure_cancels_before_positive_weights() -> None:
    hooks = index(call("c.neg", "before_START_ACTIVITY-1"), call("c.pos", "before_START_ACTIVITY+1"))
    farm = Farm(hooks, run_number=None, run_number_error="cannot reach the run number service")
    out = sch.drive(sch.transition(CONFIGURED, "START_ACTIVITY", hooks), farm)
    assert out.verdict is sch.Verdict.CANCELLED
    assert out.error == "transition canceled with error: cannot reach the run number service"
    assert farm.actions() == [
        "start c.neg@before_START_ACTIVITY-1",
        "await c.neg",
        "core allocate_run_number",
    ]
    assert out.env.state is State.CONFIGURED
    assert out.env.run_number is None
    assert farm.payloads("runEvent") == []


def test_no_run_number_without_error_is_a_failure_too() -> None:
    farm = Farm(index(), run_number=None)
    out = sch.drive(sch.transition(CONFIGURED, "START_ACTIVITY", index()), farm)
    assert out.error == "transition canceled with error: no run number was allocated"


def test_task_step_failure_cancels_with_the_state_unchanged() -> None:
    hooks = index(call("c.enter", "enter_RUNNING"), call("c.after", "after_START_ACTIVITY"))
    farm = Farm(hooks, task_error="2 tasks failed to start")
    out = sch.drive(sch.transition(CONFIGURED, "START_ACTIVITY", hooks), farm)
    assert out.verdict is sch.Verdict.CANCELLED
    assert out.error == "transition canceled with error: 2 tasks failed to start"
    assert out.env.state is State.CONFIGURED
    assert "start c.enter@enter_RUNNING+0" not in farm.trace
    tasks_done = [
        e for e in farm.payloads("environmentEvent") if e.transition_step == "tasks_START_ACTIVITY"
    ][-1]
    assert (tasks_done.state, tasks_done.transition_status, tasks_done.error) == (
        "CONFIGURED",
        OpStatus.DONE_ERROR,
        "2 tasks failed to start",
    )
    last = farm.payloads("environmentEvent")[-1]
    assert (last.transition_status, last.message, last.error) == (
        OpStatus.DONE_ERROR,
        "transition error",
        out.error,
    )


REFUSED = [(s, e) for s in State for e in [*map(str, Transition), "NOOP"] if e not in fsm.available(s)]


@pytest.mark.parametrize(("state", "event"), REFUSED)
def test_refused_transitions_run_nothing(state: State, event: str) -> None:
    hooks = index(call("c", f"before_{event}"))
    farm = Farm(hooks)
    out = sch.drive(sch.transition(Environment("e", state), event, hooks), farm)
    assert out.verdict is sch.Verdict.REFUSED
    assert out.env == Environment("e", state)
    assert farm.trace == []
    assert farm.env_steps() == [("", "STARTED"), ("", "DONE_ERROR")]
    assert farm.payloads("environmentEvent")[1].error == out.error
    assert sch.recovery(out) == sch.Recovery()


def test_events_are_flushed_before_the_step_they_announce() -> None:
    hooks = index(call("c", "before_DEPLOY"))
    farm = Farm(hooks)
    sch.drive(sch.transition(Environment("e"), "DEPLOY", hooks), farm)
    kinds = [type(s).__name__ for s in farm.steps]
    assert kinds[:4] == ["Emit", "StartCalls", "AwaitCalls", "Emit"]
    first, second = farm.steps[0], farm.steps[3]
    assert isinstance(first, sch.Emit)
    assert isinstance(second, sch.Emit)
    assert [e.payload.KEY for e in first.events] == ["environmentEvent", "environmentEvent", "callEvent"]
    assert second.events[0].payload.KEY == "callEvent"  # DONE_OK, written after the await
    assert kinds[-1] == "Emit"  # the final events are written before the flow returns


def test_call_and_task_events() -> None:
    hooks = index(
        call("c.ok", "before_DEPLOY"),
        call("c.bad", "before_DEPLOY", critical=False),
        call("c.slow", "before_DEPLOY", critical=False, timeout="3s"),
        task("t.bad", "before_DEPLOY", critical=False),
    )
    farm = Farm(
        hooks,
        results={
            "c.ok": sch.HookResult("", sch.HookStatus.OK, output="fine"),
            "c.bad": sch.HookResult("", sch.HookStatus.FAILED, "odc says no. REASON: busy"),
            "c.slow": sch.HookStatus.TIMED_OUT,
            "t.bad": sch.HookResult("", sch.HookStatus.FAILED, exit_code=3, hostname="flp9"),
        },
    )
    out = sch.drive(sch.transition(Environment("e"), "DEPLOY", hooks), farm)
    assert out.ok
    calls = [(c.path, c.call_status, c.error, c.output) for c in farm.payloads("callEvent")]
    assert calls == [
        ("c.ok", OpStatus.STARTED, "", ""),
        ("c.bad", OpStatus.STARTED, "", ""),
        ("c.slow", OpStatus.STARTED, "", ""),
        ("c.ok", OpStatus.DONE_OK, "", "fine"),
        ("c.bad", OpStatus.DONE_ERROR, "odc says no. REASON: busy", ""),
        ("c.slow", OpStatus.DONE_TIMEOUT, "call test.slow() timed out after 3s", ""),
    ]
    c = farm.payloads("callEvent")[0]
    assert (c.func, c.environment_id, c.traits.trigger, c.traits.await_, c.traits.critical) == (
        "test.ok()",
        "e",
        "before_DEPLOY",
        "before_DEPLOY",
        True,
    )
    (t,) = farm.payloads("taskEvent")
    assert (t.name, t.taskid, t.state, t.hostname, t.class_name, t.path) == (
        "shell-command#id-t.bad",
        "id-t.bad",
        "ERROR",
        "flp9",
        "shell-command",
        "t.bad",
    )
    assert [(f.key, f.critical, f.message) for f in out.failures] == [
        ("c.bad", False, "odc says no. REASON: busy"),
        ("c.slow", False, "call test.slow() timed out after 3s"),
        ("id-t.bad", False, "hook task shell-command#id-t.bad finished with non-zero exit code 3"),
    ]


@pytest.mark.parametrize(
    ("reply", "match"),
    [
        ((), r"missing \['c'\]"),
        (
            (sch.HookResult("c", sch.HookStatus.OK), sch.HookResult("zz", sch.HookStatus.OK)),
            r"unexpected \['zz'\]",
        ),
        (None, "expected a tuple of HookResult"),
    ],
)
def test_a_controller_answering_for_other_hooks_is_an_error(reply: object, match: str) -> None:
    hooks = index(call("c", "before_DEPLOY"))
    flow = sch.transition(Environment("e"), "DEPLOY", hooks)
    step = next(flow)
    while not isinstance(step, sch.AwaitCalls):
        step = flow.send(None)
    with pytest.raises(LifecycleError, match=match):
        flow.send(reply)  # type: ignore[arg-type]


def test_wrong_reply_type_for_core_action() -> None:
    flow = sch.transition(CONFIGURED, "START_ACTIVITY", index())
    step = next(flow)
    while not isinstance(step, sch.CoreAction):
        step = flow.send(None)
    with pytest.raises(LifecycleError, match="expected CoreResult"):
        flow.send(None)
