"""The placement rules Nomad CE cannot enforce: namespace → node pools, priority range, raw_exec pools."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from nomadctl.clients.nomad_acl import Namespace
from nomadctl.errors import PlanError
from nomadctl.policies import admission, spec

ROOT = Path(__file__).resolve().parents[2] / "policies"


@pytest.fixture(scope="module")
def table() -> admission.PlacementTable:
    return spec.load(ROOT).placement


def job(namespace="online", priority=85, pool="epn", driver="raw_exec", groups=None, **extra):
    return {
        "Job": {
            "ID": "aliecs-2oDvieFrVTi",
            "Namespace": namespace,
            "Priority": priority,
            "NodePool": pool,
            "TaskGroups": groups or [{"Name": "epn", "Tasks": [{"Name": "dpl", "Driver": driver}]}],
            **extra,
        }
    }


def fields(found):
    return [v.field for v in found]


def test_an_online_raw_exec_job_on_epn_is_admitted(table):
    assert admission.violations(job(), table) == []
    admission.admit(job(), table)
    admission.admit(job()["Job"], table)  # the bare job form too


def test_an_unknown_or_missing_namespace_is_refused(table):
    (v,) = admission.violations(job(namespace="physics"), table)
    assert v.field == "Namespace"
    assert "'physics'" in v.message
    assert "online" in v.message
    no_ns = job()
    del no_ns["Job"]["Namespace"]
    assert admission.violations(no_ns, table)  # lands in 'default': raw_exec and pool epn refused there


@pytest.mark.parametrize(
    ("namespace", "priority"), [("online", 79), ("online", 91), ("users", 31), ("async", 70)]
)
def test_priority_outside_the_namespace_range_is_refused(table, namespace, priority):
    pool = {"online": "epn", "users": "batch", "async": "batch"}[namespace]
    driver = {"online": "raw_exec", "users": "exec", "async": "docker"}[namespace]
    found = admission.violations(job(namespace=namespace, priority=priority, pool=pool, driver=driver), table)
    assert fields(found) == ["Priority"]
    assert f"priority {priority} is outside" in found[0].message


def test_a_missing_priority_is_nomads_default_50_which_online_refuses(table):
    unset = job(priority=None)
    assert fields(admission.violations(unset, table)) == ["Priority"]
    filled = admission.fill_defaults(unset, table)
    assert filled["Job"]["Priority"] == 85
    assert admission.violations(filled, table) == []
    assert unset["Job"]["Priority"] is None  # the input is not modified


def test_a_node_pool_outside_the_namespace_is_refused(table):
    (v,) = admission.violations(job(namespace="users", priority=20, pool="epn", driver="docker"), table)
    assert v.field == "TaskGroups[epn]"
    assert "node pool epn is not allowed in namespace 'users'" in v.message


def test_raw_exec_is_refused_where_nomad_refuses_it_too(table):
    found = admission.violations(job(namespace="users", priority=20, pool="batch"), table)
    assert fields(found) == ["TaskGroups[epn].Tasks[dpl].Driver"]
    assert "driver 'raw_exec' is not allowed in namespace 'users'" in found[0].message


def test_raw_exec_outside_the_raw_exec_pools_is_refused(table):
    found = admission.violations(job(namespace="async", priority=50, pool="batch"), table)
    assert fields(found) == ["TaskGroups[epn].Tasks[dpl].Driver"]
    assert "raw_exec may only run in node pools epn, flp, not batch" in found[0].message
    assert (
        admission.violations(job(namespace="async", priority=50, pool="batch", driver="docker"), table) == []
    )


def group(name, pool=None, driver="raw_exec"):
    g = {"Name": name, "Tasks": [{"Name": f"{name}-task", "Driver": driver}]}
    if pool:
        g["Constraints"] = [{"LTarget": "${node.pool}", "RTarget": pool, "Operand": "="}]
    return g


def test_pool_all_needs_a_node_pool_constraint_per_group(table):
    spanning = job(pool="all", groups=[group("flp", "flp"), group("epn", "epn")])
    assert admission.violations(spanning, table) == []
    loose = job(pool="all", groups=[group("flp", "flp"), group("epn")])
    found = admission.violations(loose, table)
    assert fields(found) == ["TaskGroups[epn]", "TaskGroups[epn].Tasks[epn-task].Driver"]
    assert "node pool 'all' without a ${node.pool} constraint" in found[0].message
    wrong = job(pool="all", groups=[group("b", "batch")])
    assert (
        "node pool batch is not allowed in namespace 'online'"
        in admission.violations(wrong, table)[0].message
    )


def test_admit_raises_one_plan_error_naming_the_job_and_every_violation(table):
    with pytest.raises(PlanError) as info:
        admission.admit(job(namespace="online", priority=10, pool="batch"), table)
    message = info.value.one_line()
    assert message.startswith("Priority: job 'aliecs-2oDvieFrVTi' refused by the placement rules: ")
    assert "priority 10 is outside 80..90" in message
    assert "node pool batch is not allowed" in message
    assert "raw_exec may only run in node pools epn, flp" in message


def test_the_table_round_trips_through_nomad_namespace_meta(table):
    declared = spec.load(ROOT).namespaces
    from_nomad = admission.PlacementTable.from_namespaces(
        Namespace(
            name=ns.name,
            meta=dict(ns.meta),
            enabled_task_drivers=ns.rules.enabled_task_drivers,
            disabled_task_drivers=ns.rules.disabled_task_drivers,
        )
        for ns in declared
    )
    assert from_nomad == table


def test_namespaces_without_nomadctl_meta_are_left_out_and_bad_meta_is_an_error():
    plain = Namespace(name="team", meta={"owner": "x"})
    assert admission.PlacementTable.from_namespaces([plain]).namespaces == {}
    bad = Namespace(name="team", meta={admission.META_NODE_POOLS: "a", admission.META_PRIORITY: "high"})
    with pytest.raises(PlanError, match="namespace 'team': malformed nomadctl meta"):
        admission.PlacementTable.from_namespaces([bad])


def test_admission_is_pure():
    tree = ast.parse(Path(admission.__file__).read_text())
    imported = {
        n.module if isinstance(n, ast.ImportFrom) else a.name
        for n in ast.walk(tree)
        if isinstance(n, ast.Import | ast.ImportFrom)
        for a in n.names
    }
    assert imported <= {"__future__", "collections.abc", "dataclasses", "typing", "nomadctl.errors"}
