"""Services from job ``service`` blocks in the Consul catalog, with health that follows the tasks."""

from __future__ import annotations

from typing import Any

import httpx

from nomadctl.sim import SimFarm
from tests.sim.helpers import make_job


def _service_job(count: int = 2) -> dict[str, Any]:
    return make_job(
        count=count,
        tasks=2,
        Networks=[{"DynamicPorts": [{"Label": "ctl"}]}],
        Services=[
            {
                "Name": "stage-${NOMAD_ALLOC_INDEX}",
                "PortLabel": "ctl",
                "Tags": ["aliecs", "env-1"],
                "Meta": {"role": "readout", "node": "${node.unique.name}"},
                "Checks": [
                    {"Name": "ctl-tcp", "Type": "tcp", "Interval": 1_000_000_000, "Timeout": 1_000_000_000}
                ],
            },
            {"Name": "stage", "PortLabel": "ctl", "TaskName": "t1"},
        ],
    )


def test_services_register_critical_then_pass_when_tasks_run(
    farm: SimFarm, nomad: httpx.Client, consul: httpx.Client
) -> None:
    nomad.post("/v1/jobs", json=_service_job())
    farm.advance(0)
    entries = consul.get("/v1/health/service/stage-0").json()
    (entry,) = entries
    svc = entry["Service"]
    alloc = nomad.get(f"/v1/allocation/{farm.find_alloc('web', 'g', 0)}").json()
    port = alloc["AllocatedResources"]["Shared"]["Ports"][0]["Value"]
    assert svc["ID"] == f"_nomad-task-{alloc['ID']}-group-g-stage-0-ctl"
    assert svc["Port"] == port
    assert svc["Address"] == entry["Node"]["Address"]
    assert entry["Node"]["Node"] == alloc["NodeName"]
    assert svc["Tags"] == ["aliecs", "env-1"]
    assert svc["Meta"] == {"role": "readout", "node": alloc["NodeName"], "external-source": "nomad"}
    statuses = {c["CheckID"]: c["Status"] for c in entry["Checks"]}
    assert statuses["serfHealth"] == "passing"
    (check_id,) = [k for k in statuses if k != "serfHealth"]
    assert check_id.startswith("_nomad-check-")
    assert statuses[check_id] == "critical"
    assert consul.get("/v1/health/service/stage-0", params={"passing": ""}).json() == []
    farm.advance(0.5)
    (entry,) = consul.get("/v1/health/service/stage-0", params={"passing": ""}).json()
    assert {c["Status"] for c in entry["Checks"]} == {"passing"}
    task_level = consul.get("/v1/catalog/service/stage").json()
    assert len(task_level) == 2
    assert {s["ServiceID"].split("-")[-3] for s in task_level} == {"t1"}
    assert consul.get("/v1/catalog/services").json()["stage-1"] == ["aliecs", "env-1"]


def test_services_are_removed_when_the_job_stops(
    farm: SimFarm, nomad: httpx.Client, consul: httpx.Client
) -> None:
    nomad.post("/v1/jobs", json=_service_job(count=1))
    farm.advance(1)
    assert consul.get("/v1/catalog/service/stage-0").json()
    nomad.delete("/v1/job/web")
    farm.advance(1)
    assert consul.get("/v1/catalog/service/stage-0").json() == []
    assert "stage-0" not in consul.get("/v1/catalog/services").json()


def test_killed_task_fails_its_check(farm: SimFarm, nomad: httpx.Client, consul: httpx.Client) -> None:
    spec = _service_job(count=1)
    spec["Job"]["TaskGroups"][0]["Services"][0]["Checks"][0]["TaskName"] = "t0"
    spec["Job"]["TaskGroups"][0]["RestartPolicy"] = {
        "Attempts": 1,
        "Delay": 10_000_000_000,
        "Interval": 600_000_000_000,
    }
    nomad.post("/v1/jobs", json=spec)
    farm.advance(1)
    farm.faults.kill_task(farm.find_alloc("web", "g", 0), "t0")
    (entry,) = consul.get("/v1/health/service/stage-0").json()
    assert {c["Name"]: c["Status"] for c in entry["Checks"]}["ctl-tcp"] == "critical"
    farm.advance(13)
    (entry,) = consul.get("/v1/health/service/stage-0").json()
    assert {c["Name"]: c["Status"] for c in entry["Checks"]}["ctl-tcp"] == "passing"


def test_a_dead_node_makes_its_services_critical(
    farm: SimFarm, nomad: httpx.Client, consul: httpx.Client
) -> None:
    nomad.post("/v1/jobs", json=_service_job(count=1))
    farm.advance(1)
    node = consul.get("/v1/catalog/service/stage-0").json()[0]["Node"]
    farm.faults.node_down(node)
    assert consul.get("/v1/health/service/stage-0", params={"passing": ""}).json() == []
    (entry,) = consul.get("/v1/health/service/stage-0").json()
    assert {c["CheckID"]: c["Status"] for c in entry["Checks"]}["serfHealth"] == "critical"


def test_blocking_health_query_wakes_on_check_change(
    farm: SimFarm, nomad: httpx.Client, consul: httpx.Client
) -> None:
    nomad.post("/v1/jobs", json=_service_job(count=1))
    farm.advance(0)
    r = consul.get("/v1/health/service/stage-0", params={"passing": ""})
    assert r.json() == []
    index = int(r.headers["X-Consul-Index"])
    farm.advance(0.5)
    r2 = consul.get("/v1/health/service/stage-0", params={"passing": "", "index": index, "wait": "2s"})
    assert int(r2.headers["X-Consul-Index"]) > index
    assert len(r2.json()) == 1
