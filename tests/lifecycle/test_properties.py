"""Property tests: for any hook set and any results, the schedule keeps its ordering promises."""

from hypothesis import given, settings
from hypothesis import strategies as st

from nomadctl.lifecycle import schedule as sch
from nomadctl.lifecycle.fsm import State
from nomadctl.lifecycle.state import Environment
from tests.lifecycle._support import Farm, call, index, task

MOMENTS = ["before_START_ACTIVITY", "leave_CONFIGURED", "enter_RUNNING", "after_START_ACTIVITY"]
RANK = {m: i for i, m in enumerate(MOMENTS)}
points = st.tuples(st.sampled_from([*MOMENTS, "before_STOP_ACTIVITY"]), st.integers(-3, 3))
hook_specs = st.lists(
    st.tuples(
        st.sampled_from(["call", "task"]),
        st.sampled_from(MOMENTS),
        st.integers(-3, 3),
        points,
        st.booleans(),
        st.sampled_from(list(sch.HookStatus)),
    ),
    max_size=12,
)


def _build(specs):  # type: ignore[no-untyped-def]
    items, results = [], {}
    for i, (kind, moment, weight, (am, aw), critical, status) in enumerate(specs):
        path = f"h{i}"
        trig = f"{moment}{weight:+d}"
        if kind == "call":
            items.append(call(path, trig, f"{am}{aw:+d}", critical=critical))
        else:
            items.append(task(path, trig, critical=critical))
        results[path] = status
    return index(*items), results


@settings(max_examples=300, deadline=None)
@given(hook_specs)
def test_schedule_invariants(specs) -> None:  # type: ignore[no-untyped-def]
    hooks, results = _build(specs)
    farm = Farm(hooks, results=results)
    out = sch.drive(sch.transition(Environment("e", State.CONFIGURED), "START_ACTIVITY", hooks), farm)

    # 1. hook steps never go back in time: (moment, weight) is non-decreasing
    stamps = [
        (RANK[s.moment], s.weight)
        for s in farm.steps
        if isinstance(s, sch.StartCalls | sch.AwaitCalls | sch.RunHooks)
    ]
    assert stamps == sorted(stamps)

    # 2. every call started here is awaited once at its await point, cancelled, or still pending
    started = [c for s in farm.steps if isinstance(s, sch.StartCalls) for c in s.calls]
    awaited = {
        c.key: (s.moment, s.weight) for s in farm.steps if isinstance(s, sch.AwaitCalls) for c in s.calls
    }
    cancelled = {c.key for s in farm.steps if isinstance(s, sch.CancelCalls) for c in s.calls}
    pending = {p.key for p in out.env.pending}
    for c in started:
        fates = [c.key in awaited, c.key in cancelled, c.key in pending]
        assert fates.count(True) == 1, (c.key, fates)
        if c.key in awaited:
            assert awaited[c.key] == (c.await_.moment, c.await_.weight)
    # a pending call after the flow is one whose await point does not follow its trigger here
    for p in out.env.pending:
        if p.await_.moment in RANK:
            assert (RANK[p.await_.moment], p.await_.weight) < (RANK[p.trigger.moment], p.trigger.weight) or (
                out.verdict is not sch.Verdict.OK
            )

    # 3. the verdict follows the first critical failure
    first = next(
        ((f.moment, f.weight) for f in out.failures if f.critical and f.moment in RANK),
        None,
    )
    if first is None:
        assert out.verdict is sch.Verdict.OK
        assert out.env.state is State.RUNNING
        assert out.skipped == ()
    elif RANK[first[0]] < 2:
        assert out.verdict is sch.Verdict.CANCELLED
        assert out.env.state is State.CONFIGURED
        assert "tasks START_ACTIVITY" not in farm.trace
    else:
        assert out.verdict is sch.Verdict.FAILED
        assert out.env.state is State.RUNNING

    # 4. non-critical failures never appear in the error
    for f in out.failures:
        if not f.critical and f.message and out.error:
            assert f.message not in out.error or any(
                g.critical and g.message == f.message for g in out.failures
            )

    # 5. the run number exists from the allocation on, and only if the allocation was reached
    alloc = "core allocate_run_number" in farm.trace
    assert (out.env.run_number == 42) is alloc
