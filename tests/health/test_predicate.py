import pytest
from hypothesis import given
from hypothesis import strategies as st

from nomadctl.health import predicate as hp
from nomadctl.health.predicate import (
    AllocView,
    GroupKind,
    GroupSpec,
    GroupState,
    NodeView,
    Reason,
    TaskView,
)

R = Reason
RUN = TaskView("running")
READY = NodeView("n1", "epn001")


def _alloc(**kw: object) -> AllocView:
    base: dict[str, object] = dict(
        id="a1b2c3d4e5",
        node_id="n1",
        group="reco",
        desired_status="run",
        client_status="running",
        tasks={"main": RUN},
    )
    base.update(kw)
    return AllocView(**base)  # type: ignore[arg-type]


CASES = [
    # id, alloc overrides, node, problems, flags
    ("healthy", {}, READY, [], []),
    ("desired stop", {"desired_status": "stop"}, READY, [R.DESIRED_STOP], []),
    ("evicted", {"desired_status": "evict"}, READY, [R.EVICTED], []),
    (
        "pending alloc",
        {"client_status": "pending", "tasks": {"main": TaskView("pending")}},
        READY,
        [R.PENDING, R.TASK_PENDING],
        [],
    ),
    (
        "disconnected",
        {"client_status": "unknown"},
        NodeView("n1", status="disconnected"),
        [R.DISCONNECTED, R.NODE_NOT_READY],
        [],
    ),
    (
        "disconnected ignores stale task states",
        {"client_status": "unknown", "tasks": {"main": TaskView("dead", failed=True)}},
        READY,
        [R.DISCONNECTED],
        [],
    ),
    (
        "lost",
        {"client_status": "lost", "desired_status": "stop"},
        NodeView("n1", status="down"),
        [R.DESIRED_STOP, R.LOST, R.NODE_NOT_READY],
        [],
    ),
    ("complete", {"client_status": "complete", "tasks": {"main": TaskView("dead")}}, READY, [R.COMPLETE], []),
    (
        "failed names the task",
        {"client_status": "failed", "tasks": {"main": TaskView("dead", failed=True)}},
        READY,
        [R.FAILED, R.TASK_FAILED],
        [],
    ),
    ("odd client status", {"client_status": "weird"}, READY, [R.FAILED], []),
    (
        "restarting pending",
        {"tasks": {"main": TaskView("pending", restarts=2)}},
        READY,
        [R.TASK_RESTARTING],
        [],
    ),
    ("restarting dead", {"tasks": {"main": TaskView("dead", restarts=1)}}, READY, [R.TASK_RESTARTING], []),
    (
        "dead failed after restarts",
        {"tasks": {"main": TaskView("dead", failed=True, restarts=3)}},
        READY,
        [R.TASK_FAILED],
        [],
    ),
    (
        "dead exited",
        {"tasks": {"main": TaskView("dead", finished_at="2026-01-01T00:00:00Z")}},
        READY,
        [R.TASK_EXITED],
        [],
    ),
    ("critical task without state", {"tasks": {}}, READY, [R.TASK_MISSING], []),
    (
        "non-critical task dead warns",
        {"tasks": {"main": RUN, "helper": TaskView("dead", failed=True)}},
        READY,
        [],
        [R.TASK_FAILED],
    ),
    (
        "completed prestart ignored",
        {"tasks": {"main": RUN, "init": TaskView("dead", lifecycle="prestart")}},
        READY,
        [],
        [],
    ),
    (
        "running poststart ignored",
        {"tasks": {"main": RUN, "post": TaskView("running", lifecycle="poststart")}},
        READY,
        [],
        [],
    ),
    (
        "failed critical prestart",
        {"tasks": {"main": RUN, "init": TaskView("dead", failed=True, lifecycle="prestart")}},
        READY,
        [R.TASK_FAILED],
        [],
    ),
    (
        "dead sidecar",
        {"tasks": {"main": RUN, "init": TaskView("dead", lifecycle="prestart", sidecar=True)}},
        READY,
        [R.TASK_EXITED],
        [],
    ),
    (
        "poststop ignored",
        {"tasks": {"main": RUN, "init": TaskView("pending", lifecycle="poststop")}},
        READY,
        [],
        [],
    ),
    (
        "running after restarts",
        {"tasks": {"main": TaskView("running", restarts=4)}},
        READY,
        [],
        [R.TASK_RESTARTED],
    ),
    ("consul check critical", {"checks": {"svc": "critical"}}, READY, [R.CHECK_FAILING], []),
    ("nomad check pending", {"checks": {"svc": "pending"}}, READY, [R.CHECK_FAILING], []),
    ("checks passing", {"checks": {"a": "passing", "b": "success"}}, READY, [], []),
    ("check warning", {"checks": {"svc": "warning"}}, READY, [], [R.CHECK_WARNING]),
    (
        "checks ignored unless running",
        {"client_status": "pending", "tasks": {"main": TaskView("pending")}, "checks": {"svc": "critical"}},
        READY,
        [R.PENDING, R.TASK_PENDING],
        [],
    ),
    ("draining node", {}, NodeView("n1", drain=True, eligibility="ineligible"), [], [R.NODE_DRAINING]),
    ("ineligible node", {}, NodeView("n1", eligibility="ineligible"), [], []),
    ("initializing node", {}, NodeView("n1", status="initializing"), [R.NODE_NOT_READY], []),
    ("unknown node", {}, None, [R.NODE_UNKNOWN], []),
]


@pytest.mark.parametrize(
    ("overrides", "node", "problems", "flags"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_alloc_health(
    overrides: dict[str, object], node: NodeView | None, problems: list[Reason], flags: list[Reason]
) -> None:
    alloc = _alloc(**overrides)
    # "init" is critical where a case has it; "helper" never is
    h = hp.alloc_health(alloc, node, {"main"} | ({"init"} & set(alloc.tasks)))
    assert [f.reason for f in h.problems] == problems
    assert [f.reason for f in h.flags] == flags
    assert h.healthy is (not problems)


def test_findings_say_where_which_task_and_why() -> None:
    h = hp.alloc_health(
        _alloc(node_name="epn042", tasks={"main": TaskView("dead", failed=True)}), READY, {"main"}
    )
    (f,) = h.problems
    assert (f.node_name, f.task, f.critical) == ("epn042", "main", True)
    assert str(f) == "epn042: alloc a1b2c3d4 task main: dead (failed)"
    # without a node name in the alloc, the node view's name is used
    (g,) = hp.alloc_health(_alloc(tasks={}), READY, {"main"}).problems
    assert str(g) == "epn001: alloc a1b2c3d4 task main: has no state yet"


def test_non_critical_findings_are_marked() -> None:
    h = hp.alloc_health(_alloc(tasks={"main": RUN, "qc": TaskView("pending", restarts=1)}), READY, {"main"})
    (f,) = h.flags
    assert (f.task, f.critical, f.reason) == ("qc", False, R.TASK_RESTARTING)


@pytest.mark.parametrize(
    ("alloc", "history"),
    [
        (_alloc(replaced=True), True),
        (_alloc(client_status="complete", desired_status="stop"), True),
        (_alloc(client_status="failed", desired_status="evict"), True),
        (_alloc(client_status="failed"), False),  # waiting for a reschedule: still the group's
        (_alloc(client_status="lost", desired_status="stop"), False),  # not replaced: name the node
        (_alloc(desired_status="stop"), False),  # still running while being stopped
    ],
)
def test_history(alloc: AllocView, history: bool) -> None:
    assert hp.is_history(alloc) is history


def _nodes(n: int, **kw: object) -> dict[str, NodeView]:
    return {f"n{i}": NodeView(f"n{i}", f"epn{i:03d}", **kw) for i in range(n)}  # type: ignore[arg-type]


def _group(healthy: int, bad: int = 0) -> list[AllocView]:
    allocs = [_alloc(id=f"ok{i:08d}", node_id=f"n{i}") for i in range(healthy)]
    allocs += [
        _alloc(id=f"bad{i:07d}", node_id=f"n{healthy + i}", tasks={"main": TaskView("dead", failed=True)})
        for i in range(bad)
    ]
    return allocs


REPLICATED = GroupSpec("reco", GroupKind.REPLICATED, count=10, nmin=7, critical_tasks=frozenset({"main"}))


@pytest.mark.parametrize(
    ("healthy", "state"),
    [
        (10, GroupState.OK),
        (9, GroupState.DEGRADED),
        (7, GroupState.DEGRADED),
        (6, GroupState.FAILED),
        (0, GroupState.FAILED),
    ],
)
def test_replicated_group_states(healthy: int, state: GroupState) -> None:
    g = hp.group_health(REPLICATED, _group(healthy, 10 - healthy), _nodes(10))
    assert (g.state, g.healthy, g.count, g.nmin) == (state, healthy, 10, 7)
    assert len(g.unhealthy) == 10 - healthy
    assert g.healthy_nodes == {f"n{i}" for i in range(healthy)}


def test_healthy_counts_distinct_nodes() -> None:
    allocs = [_alloc(id="x1", node_id="n0"), _alloc(id="x2", node_id="n0"), _alloc(id="x3", node_id="n1")]
    g = hp.group_health(GroupSpec("reco", GroupKind.REPLICATED, 3, 2), allocs, _nodes(2))
    assert (g.healthy, g.state) == (2, GroupState.DEGRADED)


def test_history_and_other_groups_are_ignored_but_a_lost_alloc_is_named() -> None:
    allocs = [
        *_group(2),
        _alloc(id="old00000", node_id="n5", replaced=True, client_status="failed"),
        _alloc(id="stopped0", node_id="n6", client_status="complete", desired_status="stop"),
        _alloc(id="other000", node_id="n7", group="calib"),
        _alloc(id="lost0000", node_id="n8", node_name="epn008", client_status="lost", desired_status="stop"),
    ]
    nodes = {**_nodes(2), "n8": NodeView("n8", "epn008", status="down")}
    g = hp.group_health(GroupSpec("reco", GroupKind.REPLICATED, 3, 1), allocs, nodes)
    assert (g.healthy, g.state) == (2, GroupState.DEGRADED)
    assert {f.alloc_id for f in g.unhealthy} == {"lost0000"}
    assert {f.reason for f in g.unhealthy} == {R.DESIRED_STOP, R.LOST, R.NODE_NOT_READY}


def test_a_disconnected_node_is_not_healthy_and_not_lost() -> None:
    allocs = [*_group(2), _alloc(id="unk00000", node_id="n2", client_status="unknown")]
    nodes = {**_nodes(2), "n2": NodeView("n2", "epn002", status="disconnected")}
    g = hp.group_health(GroupSpec("reco", GroupKind.REPLICATED, 3, 2), allocs, nodes)
    assert g.state is GroupState.DEGRADED
    assert R.DISCONNECTED in {f.reason for f in g.unhealthy}
    assert R.LOST not in {f.reason for f in g.unhealthy}


def test_a_draining_node_keeps_its_alloc_healthy_but_warns() -> None:
    nodes = {**_nodes(3), "n2": NodeView("n2", "epn002", drain=True)}
    g = hp.group_health(GroupSpec("reco", GroupKind.REPLICATED, 3, 3), _group(3), nodes)
    assert (g.state, g.healthy) == (GroupState.OK, 3)
    assert [(w.reason, w.node_name) for w in g.warnings] == [(R.NODE_DRAINING, "epn002")]


FLP = GroupSpec("flp001", GroupKind.HOST, count=1, critical_tasks=frozenset({"readout", "stfb"}))


@pytest.mark.parametrize(
    ("tasks", "state", "unhealthy", "warnings"),
    [
        ({"readout": RUN, "stfb": RUN, "qc": RUN}, GroupState.OK, 0, 0),
        ({"readout": RUN, "stfb": TaskView("dead", failed=True), "qc": RUN}, GroupState.FAILED, 1, 0),
        ({"readout": RUN, "stfb": RUN, "qc": TaskView("dead", failed=True)}, GroupState.OK, 0, 1),
        ({"readout": RUN, "stfb": TaskView("pending", restarts=1), "qc": RUN}, GroupState.FAILED, 1, 0),
    ],
)
def test_host_group(tasks: dict[str, TaskView], state: GroupState, unhealthy: int, warnings: int) -> None:
    g = hp.group_health(FLP, [_alloc(group="flp001", tasks=tasks)], _nodes(2))
    assert (g.state, g.nmin, len(g.unhealthy), len(g.warnings)) == (state, 1, unhealthy, warnings)


def test_host_group_reason_names_task_and_host() -> None:
    g = hp.group_health(
        FLP,
        [
            _alloc(
                group="flp001",
                node_name="flp001",
                tasks={"readout": RUN, "stfb": TaskView("dead", failed=True)},
            )
        ],
        _nodes(2),
    )
    assert g.reason == "group flp001: critical task down: flp001: alloc a1b2c3d4 task stfb: dead (failed)"


def test_host_group_without_critical_tasks_only_degrades() -> None:
    spec = GroupSpec("flp002", GroupKind.HOST, count=1, critical_tasks=frozenset())
    g = hp.group_health(spec, [_alloc(group="flp002", client_status="lost")], _nodes(1))
    assert (g.state, g.nmin) == (GroupState.DEGRADED, 0)


@pytest.mark.parametrize(
    ("spec", "state"),
    [
        (GroupSpec("reco", GroupKind.REPLICATED, 0, 0), GroupState.OK),
        (GroupSpec("reco", GroupKind.REPLICATED, 3, 0), GroupState.DEGRADED),  # expendable: never FAILED
        (GroupSpec("reco", GroupKind.REPLICATED, 3), GroupState.FAILED),  # nmin defaults to count
    ],
)
def test_edge_nmin(spec: GroupSpec, state: GroupState) -> None:
    assert hp.group_health(spec, [], {}).state is state


@pytest.mark.parametrize(("count", "nmin"), [(-1, None), (3, 4), (3, -1)])
def test_invalid_specs(count: int, nmin: int | None) -> None:
    with pytest.raises(ValueError, match="group reco"):
        GroupSpec("reco", GroupKind.REPLICATED, count, nmin)


def test_reason_lists_three_findings_then_a_count() -> None:
    g = hp.group_health(REPLICATED, _group(5, 5), _nodes(10))
    assert g.reason.startswith(
        "group reco: 5/10 nodes healthy (nmin 7): epn005: alloc bad00000 task main: dead (failed); "
    )
    assert g.reason.endswith("; 2 more")


@given(
    count=st.integers(0, 12),
    data=st.data(),
)
def test_state_follows_healthy_nmin_count(count: int, data: st.DataObject) -> None:
    nmin = data.draw(st.integers(0, count))
    healthy = data.draw(st.integers(0, count))
    spec = GroupSpec("reco", GroupKind.REPLICATED, count, nmin, frozenset({"main"}))
    g = hp.group_health(spec, _group(healthy, count - healthy), _nodes(count))
    assert g.healthy == healthy
    expected = (
        GroupState.OK if healthy >= count else GroupState.DEGRADED if healthy >= nmin else GroupState.FAILED
    )
    assert g.state is expected
