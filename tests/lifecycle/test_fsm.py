import pytest

from nomadctl.errors import LifecycleError
from nomadctl.lifecycle import fsm
from nomadctl.lifecycle.fsm import State, Transition

# Written out by hand from AliECS environment.go (not derived from fsm.TABLE).
EXPECTED = {
    ("STANDBY", "DEPLOY"): "DEPLOYED",
    ("DEPLOYED", "CONFIGURE"): "CONFIGURED",
    ("CONFIGURED", "RESET"): "DEPLOYED",
    ("CONFIGURED", "START_ACTIVITY"): "RUNNING",
    ("RUNNING", "STOP_ACTIVITY"): "CONFIGURED",
    ("CONFIGURED", "EXIT"): "DONE",
    ("DEPLOYED", "EXIT"): "DONE",
    ("STANDBY", "EXIT"): "DONE",
    ("STANDBY", "GO_ERROR"): "ERROR",
    ("CONFIGURED", "GO_ERROR"): "ERROR",
    ("DEPLOYED", "GO_ERROR"): "ERROR",
    ("RUNNING", "GO_ERROR"): "ERROR",
    ("ERROR", "RECOVER"): "DEPLOYED",
}
PAIRS = [(s, t) for s in State for t in Transition]


@pytest.mark.parametrize(("state", "transition"), PAIRS)
def test_destination_matches_aliecs_table(state: State, transition: Transition) -> None:
    expected = EXPECTED.get((state.value, transition.value))
    assert fsm.destination(state, transition) == (State(expected) if expected else None)


@pytest.mark.parametrize(("state", "transition"), PAIRS)
def test_check_allows_only_api_transitions_that_fire(state: State, transition: Transition) -> None:
    expected = EXPECTED.get((state.value, transition.value))
    if transition in (Transition.EXIT, Transition.RECOVER):
        with pytest.raises(LifecycleError, match=f"cannot prepare invalid transition {transition}"):
            fsm.check(state, transition)
    elif expected is None:
        with pytest.raises(
            LifecycleError, match=f"event {transition} inappropriate in current state {state}"
        ):
            fsm.check(state, transition)
    else:
        assert fsm.check(state, transition.value) == State(expected)


def test_unknown_transition_is_refused() -> None:
    with pytest.raises(LifecycleError, match="cannot prepare invalid transition NOOP"):
        fsm.check(State.STANDBY, "NOOP")


@pytest.mark.parametrize(
    ("state", "expected"),
    [
        (State.STANDBY, ("DEPLOY", "GO_ERROR")),
        (State.DEPLOYED, ("CONFIGURE", "GO_ERROR")),
        (State.CONFIGURED, ("RESET", "START_ACTIVITY", "GO_ERROR")),
        (State.RUNNING, ("STOP_ACTIVITY", "GO_ERROR")),
        (State.ERROR, ()),
        (State.DONE, ()),
    ],
)
def test_available(state: State, expected: tuple[str, ...]) -> None:
    assert tuple(str(t) for t in fsm.available(state)) == expected


@pytest.mark.parametrize("state", list(State))
@pytest.mark.parametrize("force", [False, True])
def test_teardown_allowed_from_standby_deployed_or_forced(state: State, force: bool) -> None:
    if state is State.DONE:
        with pytest.raises(LifecycleError, match="already in DONE"):
            fsm.check_teardown(state, force=force)
    elif state in (State.STANDBY, State.DEPLOYED) or force:
        fsm.check_teardown(state, force=force)
    else:
        with pytest.raises(LifecycleError, match=f"cannot teardown environment in state {state}"):
            fsm.check_teardown(state, force=force)


def test_moments_of_a_transition() -> None:
    assert fsm.moments(Transition.START_ACTIVITY, State.CONFIGURED) == (
        "before_START_ACTIVITY",
        "leave_CONFIGURED",
        "enter_RUNNING",
        "after_START_ACTIVITY",
    )
    assert fsm.moments(Transition.GO_ERROR, State.RUNNING)[1:3] == ("leave_RUNNING", "enter_ERROR")
    with pytest.raises(LifecycleError):
        fsm.moments(Transition.START_ACTIVITY, State.RUNNING)


def test_firing_moments_are_exactly_the_reachable_ones() -> None:
    events = ["DEPLOY", "CONFIGURE", "RESET", "START_ACTIVITY", "STOP_ACTIVITY", "GO_ERROR"]
    expected = {f"before_{e}" for e in events} | {f"after_{e}" for e in events}
    expected |= {f"leave_{s}" for s in ["STANDBY", "DEPLOYED", "CONFIGURED", "RUNNING", "ERROR"]}
    expected |= {f"enter_{s}" for s in ["DEPLOYED", "CONFIGURED", "RUNNING", "ERROR"]}
    expected |= {"DESTROY", "after_DESTROY"}
    assert expected == fsm.FIRING_MOMENTS
    for never in [
        "CONFIGURE",
        "after_EXIT",
        "before_RECOVER",
        "enter_STANDBY",
        "enter_DONE",
        "before_DESTROY",
    ]:
        assert never not in fsm.FIRING_MOMENTS


def test_transitions_with_moment() -> None:
    assert fsm.transitions_with_moment("leave_CONFIGURED") == (
        (Transition.RESET, State.CONFIGURED),
        (Transition.START_ACTIVITY, State.CONFIGURED),
        (Transition.GO_ERROR, State.CONFIGURED),
    )
    assert fsm.transitions_with_moment("leave_ERROR") == ()
