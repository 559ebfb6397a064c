"""Fault injection: the /sim/v1 admin API and API errors (5xx, timeouts, dropped connections)."""

from __future__ import annotations

import httpx
import pytest

from nomadctl.sim import SimError, SimFarm
from tests.sim.helpers import allocs, make_job


def test_admin_api_mirrors_the_python_handle(farm: SimFarm, nomad: httpx.Client) -> None:
    assert nomad.post("/sim/v1/faults/slow_start", json={"Node": "n00*", "Seconds": 3}).status_code == 200
    assert nomad.post("/sim/v1/faults/failing_start", json={"Job": "bad-*", "Task": "*"}).status_code == 200
    assert (
        nomad.post(
            "/sim/v1/faults/task_behaviour",
            json={"Job": "h*", "Task": "t0", "ExitCode": 4, "Duration": "inf"},
        ).status_code
        == 200
    )
    rules = nomad.get("/sim/v1/faults").json()
    assert rules["SlowStart"] == [{"Node": "n00*", "Seconds": 3.0}]
    assert rules["FailingStart"] == [{"Job": "bad-*", "Task": "*"}]
    assert rules["TaskBehaviour"] == [{"Job": "h*", "Task": "t0", "ExitCode": 4, "Duration": "inf"}]
    assert nomad.delete("/sim/v1/faults").status_code == 200
    assert nomad.get("/sim/v1/faults").json()["SlowStart"] == []


def test_admin_node_down_up_and_kill(farm: SimFarm, nomad: httpx.Client) -> None:
    nomad.post("/v1/jobs", json=make_job(count=1, tasks=2))
    farm.advance(1)
    (a,) = allocs(nomad)
    r = nomad.post("/sim/v1/job/web/kill", json={"Group": "g", "Index": 0, "Task": "t1", "ExitCode": 9})
    assert r.status_code == 200, r.text
    assert r.json()["AllocID"] == a["ID"]
    t1 = nomad.get(f"/v1/allocation/{a['ID']}").json()["TaskStates"]["t1"]
    assert t1["Events"][-2]["ExitCode"] == 9
    assert nomad.post(f"/sim/v1/node/{a['NodeName']}/down").status_code == 200
    assert nomad.get("/sim/v1/status").json()["DownNodes"] == [a["NodeName"]]
    assert nomad.post(f"/sim/v1/node/{a['NodeName']}/up").status_code == 200
    assert nomad.get("/sim/v1/status").json()["DownNodes"] == []
    assert nomad.post("/sim/v1/node/nope/down").status_code == 404
    assert nomad.post("/sim/v1/allocation/nope/kill", json={"Task": "t0"}).status_code == 404


def test_admin_adds_nodes_and_advances_the_manual_clock(farm: SimFarm, nomad: httpx.Client) -> None:
    r = nomad.post("/sim/v1/nodes", json={"Spec": "gpu:2:gpus=4"})
    assert r.status_code == 200
    assert len(r.json()) == 2
    assert nomad.post("/sim/v1/advance", json={"Seconds": 1}).status_code == 200
    assert nomad.get("/sim/v1/status").json()["Nodes"] == 6


def test_python_handle_errors_name_what_is_missing(farm: SimFarm) -> None:
    with pytest.raises(SimError, match="no node named 'x'"):
        farm.faults.node_down("x")
    with pytest.raises(SimError, match=r"no live allocation web\.g\[0\]"):
        farm.faults.kill_group_task("web", "g", 0, "t0")
    with pytest.raises(ValueError, match="kind"):
        farm.faults.api_errors(kind="teapot")


def test_5xx_at_full_rate_with_nomad_and_consul_bodies(
    farm: SimFarm, nomad: httpx.Client, consul: httpx.Client
) -> None:
    farm.faults.api_errors(rate=1.0, kind="5xx", paths="/v1/*")
    r = nomad.get("/v1/jobs")
    assert r.status_code == 500
    assert r.text == "No cluster leader"
    c = consul.get("/v1/kv/x")
    assert c.status_code == 500
    assert c.text == "rpc error making call: No cluster leader"
    assert nomad.get("/sim/v1/status").status_code == 200  # the admin API is never faulted
    farm.faults.clear()
    assert nomad.get("/v1/jobs").status_code == 200


def test_error_rate_is_seeded_and_path_scoped(farm: SimFarm, nomad: httpx.Client) -> None:
    def pattern() -> list[int]:
        farm.faults.api_errors(rate=0.5, kind="5xx", seed=42, paths="/v1/jobs", server="nomad")
        return [nomad.get("/v1/jobs").status_code for _ in range(20)]

    first = pattern()
    assert first == pattern()
    assert 0 < first.count(500) < 20
    assert nomad.get("/v1/nodes").status_code == 200


def test_dropped_connection(farm: SimFarm) -> None:
    farm.faults.api_errors(rate=1.0, kind="drop", server="nomad")
    with pytest.raises(httpx.RemoteProtocolError):
        httpx.get(f"{farm.nomad_addr}/v1/jobs", timeout=5)


def test_timeout_holds_past_the_client_timeout(farm: SimFarm) -> None:
    farm.faults.api_errors(rate=1.0, kind="timeout", server="consul", hold=5)
    with pytest.raises(httpx.ReadTimeout):
        httpx.get(f"{farm.consul_addr}/v1/kv/x", timeout=0.2)
    farm.faults.clear()
    assert httpx.get(f"{farm.consul_addr}/v1/kv/x", timeout=5).status_code == 404
