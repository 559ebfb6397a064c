import json

import pytest

from nomadctl.errors import LifecycleError
from nomadctl.lifecycle.fsm import State
from nomadctl.lifecycle.state import Environment, PendingCall
from nomadctl.triggers import Point


def test_new_environment() -> None:
    env = Environment("e")
    assert env.state is State.STANDBY
    assert env.run_number is None
    assert dict(env.vars) == {"__fmq_cleanup_count": "0"}


def test_run_number_lifecycle() -> None:
    env = Environment("e").with_run_number(12)
    assert (env.run_number, env.vars["run_number"], env.vars["runNumber"]) == (12, "12", "12")
    env = env.without_run_number()
    assert env.run_number is None
    assert env.last_run_number == 12
    assert env.vars["last_run_number"] == "12"
    assert "run_number" not in env.vars
    assert "runNumber" not in env.vars
    # ending no run keeps the previous last run
    assert env.without_run_number().last_run_number == 12


@pytest.mark.parametrize("rn", [0, -1])
def test_run_numbers_are_positive(rn: int) -> None:
    with pytest.raises(LifecycleError, match="invalid run number"):
        Environment("e").with_run_number(rn)


def test_with_methods_do_not_mutate() -> None:
    env = Environment("e")
    env2 = env.with_vars(a="1").with_state(State.RUNNING)
    assert "a" not in env.vars
    assert env.state is State.STANDBY
    assert env2.vars["a"] == "1"
    assert env2.state is State.RUNNING
    with pytest.raises(TypeError):
        env2.vars["b"] = "2"  # type: ignore[index]


def test_pending() -> None:
    p1 = PendingCall("a", Point("after_X", -1), Point("before_X"), "X")
    p2 = PendingCall("b", Point("after_X", 2), Point("before_X"), "X")
    env = Environment("e").with_pending([p1, p2])
    assert env.pending == (p1, p2)
    assert env.without_pending([p1]).pending == (p2,)


def test_roundtrip_through_json() -> None:
    p = PendingCall("a", Point("after_X", -1), Point("before_X", 3), "X")
    env = Environment("e", State.RUNNING, 5, 4).with_vars(x="y").with_pending([p])
    back = Environment.from_dict(json.loads(json.dumps(env.to_dict())))
    assert back == env


@pytest.mark.parametrize(
    "data",
    [{}, {"env_id": "e", "state": "NOPE"}, {"env_id": "e", "state": "RUNNING", "pending": [{"key": "a"}]}],
)
def test_malformed_state(data: dict[str, object]) -> None:
    with pytest.raises(LifecycleError, match="malformed environment state"):
        Environment.from_dict(data)
