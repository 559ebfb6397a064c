"""What follows an outcome: GO_ERROR, forced ERROR, forced teardown; and the destroy policy."""

import pytest

from nomadctl.lifecycle import schedule as sch
from nomadctl.lifecycle.events import OpStatus, User
from nomadctl.lifecycle.fsm import State, Transition
from nomadctl.lifecycle.state import Environment


def _outcome(transition: str, verdict: sch.Verdict, state: State, error: str = "boom") -> sch.Outcome:
    return sch.Outcome(
        transition, State.CONFIGURED, verdict, Environment("e", state).with_run_number(3), error
    )


@pytest.mark.parametrize(
    ("outcome", "creating", "expected"),
    [
        (_outcome("START_ACTIVITY", sch.Verdict.OK, State.RUNNING, ""), False, sch.Recovery()),
        (_outcome("START_ACTIVITY", sch.Verdict.REFUSED, State.CONFIGURED), False, sch.Recovery()),
        (_outcome("DESTROY", sch.Verdict.FAILED, State.DEPLOYED), False, sch.Recovery()),
        (
            _outcome("START_ACTIVITY", sch.Verdict.CANCELLED, State.CONFIGURED),
            False,
            ("go_error", "transition START_ACTIVITY failed: boom"),
        ),
        (
            _outcome("START_ACTIVITY", sch.Verdict.FAILED, State.RUNNING),
            False,
            ("go_error", "transition START_ACTIVITY failed: boom"),
        ),
        (
            _outcome("CONFIGURE", sch.Verdict.CANCELLED, State.DEPLOYED),
            True,
            ("go_error+teardown", "deployment or configuration failed: boom"),
        ),
        (
            _outcome("GO_ERROR", sch.Verdict.CANCELLED, State.RUNNING),
            False,
            sch.Recovery(
                force_error=True,
                reason="could not complete requested GO_ERROR transition, forcing move to ERROR: boom",
            ),
        ),
        (_outcome("GO_ERROR", sch.Verdict.FAILED, State.ERROR), False, sch.Recovery(reason="boom")),
        (
            _outcome("GO_ERROR", sch.Verdict.FAILED, State.ERROR),
            True,
            sch.Recovery(teardown=True, reason="boom"),
        ),
    ],
)
def test_recovery(outcome: sch.Outcome, creating: bool, expected: object) -> None:
    rec = sch.recovery(outcome, creating=creating, user=User("op"))
    if isinstance(expected, sch.Recovery):
        assert rec == expected
        return
    kind, reason = expected  # type: ignore[misc]
    assert rec.go_error
    assert not rec.force_error
    assert rec.teardown is ("teardown" in kind)
    assert rec.reason == reason
    (event,) = rec.events
    p = event.payload
    assert (p.state, p.run_number, p.error, p.message, p.transition_status) == (  # type: ignore[union-attr]
        str(outcome.env.state),
        3,
        reason,
        "a critical error occurred, GO_ERROR transition imminent",
        OpStatus.NULL,
    )
    assert p.last_request_user == User("op")  # type: ignore[union-attr]


def test_no_go_error_from_error() -> None:
    # e.g. a transition that failed after the environment already reached ERROR
    out = _outcome("STOP_ACTIVITY", sch.Verdict.FAILED, State.ERROR)
    assert sch.recovery(out) == sch.Recovery(reason="transition STOP_ACTIVITY failed: boom")


@pytest.mark.parametrize(
    ("state", "force", "allow", "before", "forced"),
    [
        (State.STANDBY, False, False, (), False),
        (State.DEPLOYED, False, False, (), False),
        (State.CONFIGURED, False, False, (Transition.RESET,), False),
        (State.RUNNING, False, True, (Transition.STOP_ACTIVITY, Transition.RESET), False),
        (State.RUNNING, False, False, (), True),
        (State.ERROR, False, False, (), True),
        (State.CONFIGURED, True, False, (), True),
        (State.RUNNING, True, True, (), True),
    ],
)
def test_destroy_plan(
    state: State, force: bool, allow: bool, before: tuple[Transition, ...], forced: bool
) -> None:
    assert sch.destroy_plan(state, force=force, allow_in_running=allow) == sch.DestroyPlan(before, forced)


def test_drive_returns_the_outcome_of_a_flow_without_steps() -> None:
    def flow():  # type: ignore[no-untyped-def]
        return _outcome("X", sch.Verdict.OK, State.DONE)
        yield  # pragma: no cover

    assert sch.drive(flow(), lambda s: None).transition == "X"
