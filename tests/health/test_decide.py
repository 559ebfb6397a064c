import pytest

from nomadctl.health import predicate as hp
from nomadctl.health.predicate import GroupHealth, GroupKind, GroupState

OK, DEG, FAIL = GroupState.OK, GroupState.DEGRADED, GroupState.FAILED


def _g(name: str, state: GroupState, healthy: int, count: int = 10, nmin: int = 7) -> GroupHealth:
    return GroupHealth(name, GroupKind.REPLICATED, state, healthy, count, nmin)


def _kinds(decision: hp.Decision) -> list[tuple[str, tuple[str, ...] | str]]:
    out: list[tuple[str, tuple[str, ...] | str]] = []
    for a in decision.actions:
        if isinstance(a, hp.GoError):
            out.append(("go_error", a.groups))
        elif isinstance(a, hp.Degraded):
            out.append(("degraded", a.group.name))
        else:
            out.append(("recovered", a.group.name))
    return out


@pytest.mark.parametrize(
    ("previous", "now", "expected"),
    [
        (None, [_g("a", OK, 10)], []),
        (None, [_g("a", DEG, 8)], [("degraded", "a")]),
        (None, [_g("a", FAIL, 5)], [("go_error", ("a",))]),
        ([_g("a", FAIL, 5)], [_g("a", FAIL, 4)], []),  # GO_ERROR already issued
        ([_g("a", DEG, 8)], [_g("a", DEG, 8)], []),
        ([_g("a", DEG, 8)], [_g("a", DEG, 7)], [("degraded", "a")]),  # one more node lost
        ([_g("a", DEG, 8)], [_g("a", DEG, 8, nmin=6)], [("degraded", "a")]),
        ([_g("a", DEG, 8)], [_g("a", OK, 10)], [("recovered", "a")]),
        ([_g("a", FAIL, 5)], [_g("a", DEG, 8)], [("degraded", "a")]),
        ([_g("a", FAIL, 5)], [_g("a", OK, 10)], [("recovered", "a")]),
        ([_g("a", OK, 10)], [_g("a", FAIL, 2)], [("go_error", ("a",))]),
        (
            [_g("a", OK, 10), _g("b", OK, 10), _g("c", OK, 10)],
            [_g("a", FAIL, 2), _g("b", DEG, 9), _g("c", FAIL, 0)],
            [("go_error", ("a", "c")), ("degraded", "b")],
        ),
        ([_g("a", OK, 10)], [_g("a", OK, 10), _g("new", DEG, 9)], [("degraded", "new")]),
    ],
)
def test_decide_reports_only_changes(
    previous: list[GroupHealth] | None, now: list[GroupHealth], expected: list[tuple[str, object]]
) -> None:
    prev = hp.Decision(tuple(previous)) if previous is not None else None
    assert _kinds(hp.decide(now, prev)) == expected


def test_go_error_reason_joins_the_failed_groups() -> None:
    d = hp.decide([_g("a", FAIL, 2), _g("c", FAIL, 0, count=4, nmin=2)])
    (go,) = d.actions
    assert isinstance(go, hp.GoError)
    assert go.reason == "group a: 2/10 nodes healthy (nmin 7); group c: 0/4 nodes healthy (nmin 2)"


def test_recovered_remembers_the_previous_state() -> None:
    (rec,) = hp.decide([_g("a", OK, 10)], hp.Decision((_g("a", FAIL, 1),))).actions
    assert isinstance(rec, hp.Recovered)
    assert rec.previous is FAIL


@pytest.mark.parametrize(
    ("states", "worst"),
    [([], OK), ([OK, OK], OK), ([OK, DEG], DEG), ([DEG, FAIL, OK], FAIL)],
)
def test_decision_state_is_the_worst_group(states: list[GroupState], worst: GroupState) -> None:
    groups = tuple(_g(str(i), s, 0) for i, s in enumerate(states))
    assert hp.Decision(groups).state is worst


def test_the_decision_feeds_the_next_one() -> None:
    d1 = hp.decide([_g("a", DEG, 8)])
    d2 = hp.decide([_g("a", DEG, 8)], d1)
    d3 = hp.decide([_g("a", FAIL, 6)], d2)
    d4 = hp.decide([_g("a", FAIL, 6)], d3)
    assert [len(d.actions) for d in (d1, d2, d3, d4)] == [1, 0, 1, 0]
