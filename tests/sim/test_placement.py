"""Placement: constraints, pools, drivers, resources, devices, distinct_hosts, and plan metrics."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from nomadctl.sim import ManualClock, NodeSpec, SimFarm, parse_node_spec
from tests.sim.helpers import allocs, make_job


@pytest.fixture
def nodes() -> list[NodeSpec]:
    return [
        *parse_node_spec("flp:3:cpu=8000:memory=16384"),
        *parse_node_spec("epn:4:gpus=2:pool=epn:meta.rack=r1"),
        NodeSpec("odd", node_class="misc", drivers=("exec",)),
    ]


def _plan(nomad: httpx.Client, spec: dict[str, Any]) -> dict[str, Any]:
    r = nomad.post(f"/v1/job/{spec['Job']['ID']}/plan", json={**spec, "Diff": True})
    assert r.status_code == 200, r.text
    return r.json()


def test_hostname_constraint_pins_a_group(farm: SimFarm, nomad: httpx.Client) -> None:
    spec = make_job(
        count=1, Constraints=[{"LTarget": "${attr.unique.hostname}", "Operand": "=", "RTarget": "flp002"}]
    )
    nomad.post("/v1/jobs", json=spec)
    farm.advance(0)
    assert [a["NodeName"] for a in allocs(nomad)] == ["flp002"]


def test_pool_class_meta_and_regexp(farm: SimFarm, nomad: httpx.Client) -> None:
    spec = make_job(
        count=4,
        Constraints=[
            {"LTarget": "${node.class}", "Operand": "=", "RTarget": "epn"},
            {"LTarget": "${meta.rack}", "Operand": "regexp", "RTarget": "^r[0-9]$"},
            {"Operand": "distinct_hosts", "RTarget": "true"},
        ],
    )
    spec["Job"]["NodePool"] = "epn"
    nomad.post("/v1/jobs", json=spec)
    farm.advance(0)
    assert sorted(a["NodeName"] for a in allocs(nomad)) == ["epn001", "epn002", "epn003", "epn004"]


def test_distinct_hosts_failure_explains_itself_in_the_plan(farm: SimFarm, nomad: httpx.Client) -> None:
    spec = make_job(count=6, Constraints=[{"Operand": "distinct_hosts", "RTarget": "true"}])
    spec["Job"]["NodePool"] = "epn"
    plan = _plan(nomad, spec)
    metric = plan["FailedTGAllocs"]["g"]
    assert metric["NodesEvaluated"] == 4
    assert metric["NodesInPool"] == 4
    assert metric["NodePool"] == "epn"
    assert metric["NodesAvailable"] == {"dc1": 4}
    assert metric["ConstraintFiltered"] == {"distinct_hosts": 4}
    assert metric["ClassFiltered"] == {"epn": 4}
    assert metric["CoalescedFailures"] == 1
    assert plan["Annotations"]["DesiredTGUpdates"]["g"]["Place"] == 6
    assert plan["Diff"]["Type"] == "Added"
    assert plan["JobModifyIndex"] == 0
    # a plan is a dry run: nothing was registered or placed
    assert nomad.get("/v1/job/web").status_code == 404
    assert farm.stats()["Allocs"] == 0


def test_resources_exhausted_and_drivers_and_devices(farm: SimFarm, nomad: httpx.Client) -> None:
    big = make_job(count=1)
    big["Job"]["TaskGroups"][0]["Tasks"][0]["Resources"] = {"CPU": 10000, "MemoryMB": 1024}
    big["Job"]["NodePool"] = "all"
    metric = _plan(nomad, big)["FailedTGAllocs"]
    assert metric is None  # epn nodes (16000 MHz) fit
    gpu = make_job(count=5, Constraints=[{"Operand": "distinct_hosts", "RTarget": "true"}])
    gpu["Job"]["NodePool"] = "all"
    gpu["Job"]["TaskGroups"][0]["Tasks"][0]["Resources"] = {
        "CPU": 100,
        "MemoryMB": 64,
        "Devices": [{"Name": "nvidia/gpu", "Count": 2}],
    }
    m = _plan(nomad, gpu)["FailedTGAllocs"]["g"]
    assert m["ConstraintFiltered"] == {"missing devices": 3, "missing drivers": 1, "distinct_hosts": 4}
    three = make_job(count=3)
    three["Job"]["NodePool"] = "epn"
    three["Job"]["TaskGroups"][0]["Tasks"][0]["Resources"] = {
        "CPU": 100,
        "MemoryMB": 64,
        "Devices": [{"Name": "gpu", "Count": 1}],
    }
    three["Job"]["TaskGroups"][0]["Count"] = 9
    m = _plan(nomad, three)["FailedTGAllocs"]["g"]
    assert m["DimensionExhausted"] == {"devices: no devices match request": 4}
    assert m["NodesExhausted"] == 4


def test_cpu_exhaustion_is_a_dimension(farm: SimFarm, nomad: httpx.Client) -> None:
    spec = make_job(count=3, Constraints=[{"LTarget": "${node.class}", "Operand": "=", "RTarget": "flp"}])
    spec["Job"]["TaskGroups"][0]["Tasks"][0]["Resources"] = {"CPU": 6000, "MemoryMB": 64}
    nomad.post("/v1/jobs", json=spec)
    nomad.post("/v1/jobs", json={"Job": {**spec["Job"], "ID": "more"}})
    farm.advance(0)
    ev = nomad.get("/v1/job/more/evaluations").json()
    done = next(e for e in ev if e["Status"] == "complete")
    m = done["FailedTGAllocs"]["g"]
    assert m["DimensionExhausted"] == {"cpu": 3}
    assert m["ConstraintFiltered"] == {"missing drivers": 1}  # drivers are checked before group constraints
    assert done["BlockedEval"]
    summary = nomad.get("/v1/job/more/summary").json()["Summary"]["g"]
    assert summary["Queued"] == 3
    assert nomad.get("/v1/job/more").json()["Status"] == "pending"


def test_blocked_placements_are_retried_when_capacity_appears(farm: SimFarm, nomad: httpx.Client) -> None:
    spec = make_job(count=2, Constraints=[{"LTarget": "${node.class}", "Operand": "=", "RTarget": "late"}])
    nomad.post("/v1/jobs", json=spec)
    farm.advance(1)
    assert allocs(nomad) == []
    farm.add_node(NodeSpec("late1", node_class="late"))
    farm.add_node(NodeSpec("late2", node_class="late"))
    farm.advance(1)
    placed = allocs(nomad)
    assert len(placed) == 2
    assert {a["NodeName"] for a in placed} <= {"late1", "late2"}
    assert {a["ClientStatus"] for a in placed} == {"running"}
    assert nomad.get("/v1/job/web/summary").json()["Summary"]["g"]["Queued"] == 0


def test_nonexistent_pool_is_refused(nomad: httpx.Client) -> None:
    spec = make_job()
    spec["Job"]["NodePool"] = "gpu"
    r = nomad.post("/v1/jobs", json=spec)
    assert r.status_code == 500
    assert r.text == 'job "web" is in nonexistent node pool "gpu"'


def test_plan_of_an_update_shows_diff_and_destructive_updates(farm: SimFarm, nomad: httpx.Client) -> None:
    nomad.post("/v1/jobs", json=make_job(count=2))
    farm.advance(1)
    changed = make_job(count=3)
    changed["Job"]["TaskGroups"][0]["Tasks"][0]["Env"] = {"X": "1"}
    plan = _plan(nomad, changed)
    assert plan["JobModifyIndex"] == nomad.get("/v1/job/web").json()["JobModifyIndex"]
    upd = plan["Annotations"]["DesiredTGUpdates"]["g"]
    assert upd["DestructiveUpdate"] == 2
    assert upd["Place"] == 1
    (tg,) = plan["Diff"]["TaskGroups"]
    assert tg["Type"] == "Edited"
    assert tg["Updates"] == {"create": 1, "create/destroy update": 2}
    assert {f["Name"]: (f["Old"], f["New"]) for f in tg["Fields"]}["Count"] == ("2", "3")
    (task,) = tg["Tasks"]
    assert task["Annotations"] == ["forces create/destroy update"]


def test_destructive_update_replaces_and_count_change_is_in_place(farm: SimFarm, nomad: httpx.Client) -> None:
    nomad.post("/v1/jobs", json=make_job(count=2))
    farm.advance(1)
    before = {a["ID"] for a in allocs(nomad)}
    nomad.post("/v1/jobs", json=make_job(count=3))
    farm.advance(1)
    live = [a for a in allocs(nomad) if a["DesiredStatus"] == "run"]
    assert before < {a["ID"] for a in live}
    assert {a["JobVersion"] for a in live} == {1}
    changed = make_job(count=3)
    changed["Job"]["TaskGroups"][0]["Tasks"][0]["Env"] = {"X": "1"}
    nomad.post("/v1/jobs", json=changed)
    farm.advance(1)
    live = [a for a in allocs(nomad) if a["DesiredStatus"] == "run"]
    assert len(live) == 3
    assert not before & {a["ID"] for a in live}
    stopped = [a for a in allocs(nomad) if a["DesiredStatus"] == "stop"]
    assert {a["DesiredDescription"] for a in stopped} == {"alloc is being updated due to job update"}


def test_seeded_farms_place_identically() -> None:
    def run() -> list[tuple[str, str]]:
        f = SimFarm(parse_node_spec("n:20"), seed=3, clock=ManualClock())
        with f, httpx.Client(base_url=f.start().nomad_addr) as c:
            c.post("/v1/jobs", json=make_job(count=5))
            f.advance(0)
            return sorted((a["Name"], a["NodeName"]) for a in allocs(c))

    assert run() == run()
