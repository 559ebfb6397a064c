"""Jobs: register, canonical shape, validation and decode errors, versions, stop and purge."""

from __future__ import annotations

import httpx

from nomadctl.sim import SimFarm
from tests.sim.helpers import allocs, make_job


def test_register_places_allocations_that_start_after_the_latency(farm: SimFarm, nomad: httpx.Client) -> None:
    r = nomad.post("/v1/jobs", json=make_job(count=3, tasks=2))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["EvalID"]
    assert body["JobModifyIndex"] == int(r.headers["X-Nomad-Index"])
    farm.advance(0)
    placed = allocs(nomad)
    assert len(placed) == 3
    assert {a["ClientStatus"] for a in placed} == {"pending"}
    assert sorted(a["Name"] for a in placed) == ["web.g[0]", "web.g[1]", "web.g[2]"]
    assert {a["TaskStates"]["t0"]["State"] for a in placed} == {"pending"}
    farm.advance(0.5)
    running = allocs(nomad)
    assert {a["ClientStatus"] for a in running} == {"running"}
    states = running[0]["TaskStates"]
    assert set(states) == {"t0", "t1"}
    assert [e["Type"] for e in states["t0"]["Events"]] == ["Received", "Task Setup", "Started"]
    assert states["t0"]["StartedAt"] != "0001-01-01T00:00:00Z"
    job = nomad.get("/v1/job/web").json()
    assert job["Status"] == "running"
    ev = nomad.get(f"/v1/evaluation/{body['EvalID']}").json()
    assert ev["Status"] == "complete"
    assert ev["TriggeredBy"] == "job-register"


def test_job_is_canonicalized_and_unknown_keys_are_dropped(farm: SimFarm, nomad: httpx.Client) -> None:
    spec = make_job()
    spec["Job"]["ReschedulePolicy"] = {"Attempts": 9}  # typo for the job-level "Reschedule": ignored
    spec["Job"]["taskgroups"] = spec["Job"].pop("TaskGroups")  # keys match case-insensitively
    assert nomad.post("/v1/jobs", json=spec).status_code == 200
    job = nomad.get("/v1/job/web").json()
    assert "ReschedulePolicy" not in job
    assert job["Namespace"] == "default"
    assert job["Priority"] == 50
    assert job["NodePool"] == "default"
    (g,) = job["TaskGroups"]
    assert g["RestartPolicy"] == {
        "Interval": 1_800_000_000_000,
        "Attempts": 2,
        "Delay": 15_000_000_000,
        "Mode": "fail",
        "RenderTemplates": False,
    }
    assert g["ReschedulePolicy"]["DelayFunction"] == "exponential"
    assert g["ReschedulePolicy"]["Unlimited"] is True
    assert g["Update"]["MaxParallel"] == 1  # the default update block of service jobs
    assert g["Update"]["MinHealthyTime"] == 10_000_000_000
    assert g["EphemeralDisk"]["SizeMB"] == 300
    assert g["Tasks"][0]["KillTimeout"] == 5_000_000_000


def test_validation_errors_are_multierror_text_with_500(nomad: httpx.Client) -> None:
    spec = make_job()
    spec["Job"]["TaskGroups"][0]["Tasks"][0]["Driver"] = ""
    r = nomad.post("/v1/jobs", json=spec)
    assert r.status_code == 500
    assert r.text.startswith("1 error occurred:\n\t* Task group g validation failed: ")
    assert "Task t0 validation failed" in r.text
    assert "Missing task driver" in r.text
    v = nomad.post("/v1/validate/job", json=spec).json()
    assert v["ValidationErrors"]
    assert "Missing task driver" in v["Error"]


def test_wrong_json_types_are_400_decode_errors(nomad: httpx.Client) -> None:
    spec = make_job()
    spec["Job"]["TaskGroups"][0]["Tasks"][0]["KillTimeout"] = "5s"
    r = nomad.post("/v1/jobs", json=spec)
    assert r.status_code == 400
    assert "cannot unmarshal string" in r.text
    assert "time.Duration" in r.text


def test_enforce_index_conflict_uses_nomads_text(farm: SimFarm, nomad: httpx.Client) -> None:
    spec = make_job()
    first = nomad.post("/v1/jobs", json={**spec, "EnforceIndex": True, "JobModifyIndex": 0})
    assert first.status_code == 200
    jmi = first.json()["JobModifyIndex"]
    again = nomad.post("/v1/jobs", json={**spec, "EnforceIndex": True, "JobModifyIndex": 0})
    assert again.status_code == 500
    assert again.text == "Enforcing job modify index 0: job already exists"
    stale = nomad.post("/v1/job/web", json={**spec, "EnforceIndex": True, "JobModifyIndex": jmi + 100})
    assert (
        stale.text
        == f"Enforcing job modify index {jmi + 100}: job exists with conflicting job modify index: {jmi}"
    )
    ok = nomad.post("/v1/job/web", json={**spec, "EnforceIndex": True, "JobModifyIndex": jmi})
    assert ok.status_code == 200


def test_path_id_must_match_job_id(nomad: httpx.Client) -> None:
    r = nomad.post("/v1/job/other", json=make_job())
    assert r.status_code == 400
    assert r.text == "Job ID does not match name"


def test_unchanged_register_keeps_version_and_changes_make_new_ones(
    farm: SimFarm, nomad: httpx.Client
) -> None:
    nomad.post("/v1/jobs", json=make_job())
    nomad.post("/v1/jobs", json=make_job())
    assert nomad.get("/v1/job/web").json()["Version"] == 0
    nomad.post("/v1/jobs", json=make_job(count=3))
    versions = nomad.get("/v1/job/web/versions").json()["Versions"]
    assert [v["Version"] for v in versions] == [1, 0]


def test_job_list_prefix_and_namespace(farm: SimFarm, nomad: httpx.Client) -> None:
    nomad.post("/v1/jobs", json=make_job("web"))
    nomad.post("/v1/jobs", json=make_job("db"), params={"namespace": "online"})
    assert [j["ID"] for j in nomad.get("/v1/jobs").json()] == ["web"]
    assert [j["ID"] for j in nomad.get("/v1/jobs", params={"namespace": "online"}).json()] == ["db"]
    assert sorted(j["ID"] for j in nomad.get("/v1/jobs", params={"namespace": "*"}).json()) == ["db", "web"]
    assert nomad.get("/v1/jobs", params={"prefix": "w"}).json()[0]["JobSummary"]["Summary"]["g"]
    assert nomad.get("/v1/job/db").status_code == 404


def test_stop_then_purge(farm: SimFarm, nomad: httpx.Client) -> None:
    nomad.post("/v1/jobs", json=make_job())
    farm.advance(1)
    r = nomad.delete("/v1/job/web")
    assert r.status_code == 200
    farm.advance(1)
    job = nomad.get("/v1/job/web").json()
    assert job["Stop"] is True
    assert job["Status"] == "dead"
    assert {(a["DesiredStatus"], a["ClientStatus"]) for a in allocs(nomad)} == {("stop", "complete")}
    assert {a["TaskStates"]["t0"]["Events"][-1]["Type"] for a in allocs(nomad)} == {"Killed"}
    assert nomad.delete("/v1/job/web", params={"purge": "true"}).status_code == 200
    assert nomad.get("/v1/job/web").status_code == 404
    # Nomad's Job.Deregister ignores unknown jobs: 200 with an empty EvalID, not 404.
    again = nomad.delete("/v1/job/web")
    assert again.status_code == 200
    assert again.json()["EvalID"] == ""


def test_batch_tasks_complete_and_the_job_is_dead(farm: SimFarm, nomad: httpx.Client) -> None:
    nomad.post("/v1/jobs", json=make_job("hook", type_="batch", count=1))
    farm.advance(0.5)
    assert allocs(nomad, "hook")[0]["ClientStatus"] == "running"
    farm.advance(0.1)
    (a,) = allocs(nomad, "hook")
    assert a["ClientStatus"] == "complete"
    t = a["TaskStates"]["t0"]
    assert t["State"] == "dead"
    assert t["Failed"] is False
    assert t["Events"][-1]["Type"] == "Terminated"
    assert t["Events"][-1]["ExitCode"] == 0
    assert nomad.get("/v1/job/hook").json()["Status"] == "dead"
    assert nomad.get("/v1/job/hook/summary").json()["Summary"]["g"]["Complete"] == 1


def test_purged_jobs_are_garbage_collected(farm: SimFarm, nomad: httpx.Client) -> None:
    nomad.post("/v1/jobs", json=make_job())
    farm.advance(1)
    nomad.delete("/v1/job/web", params={"purge": "true"})
    farm.advance(1)
    assert len(nomad.get("/v1/allocations").json()) == 2  # kept for a while, as Nomad's GC threshold
    farm.advance(300)
    assert nomad.get("/v1/allocations").json() == []
    assert nomad.get("/v1/evaluations").json() == []


def test_system_job_runs_on_every_feasible_node(farm: SimFarm, nomad: httpx.Client) -> None:
    nomad.post("/v1/jobs", json=make_job("agent", type_="system", count=1))
    farm.advance(1)
    placed = allocs(nomad, "agent")
    assert sorted(a["NodeName"] for a in placed) == ["n001", "n002", "n003", "n004"]
    assert {a["Name"] for a in placed} == {"agent.g[0]"}
    from nomadctl.sim import NodeSpec

    farm.add_node(NodeSpec("n005"))
    farm.advance(1)
    assert len(allocs(nomad, "agent")) == 5


def test_allocations_filter_and_task_states_flag(farm: SimFarm, nomad: httpx.Client) -> None:
    nomad.post("/v1/jobs", json=make_job("a", count=2))
    nomad.post("/v1/jobs", json=make_job("b", count=1))
    farm.advance(1)
    only_b = nomad.get(
        "/v1/allocations", params={"filter": 'JobID == "b" and ClientStatus == "running"'}
    ).json()
    assert [a["JobID"] for a in only_b] == ["b"]
    light = nomad.get("/v1/allocations", params={"task_states": "false"}).json()
    assert {a["TaskStates"] is None for a in light} == {True}
    bad = nomad.get("/v1/allocations", params={"filter": "JobID ==="})
    assert bad.status_code == 400
    assert bad.text.startswith("failed to parse filter")
    node_id = only_b[0]["NodeID"]
    on_node = nomad.get(f"/v1/node/{node_id}/allocations").json()
    assert only_b[0]["ID"] in {a["ID"] for a in on_node}
    assert all(a["Job"]["ID"] in ("a", "b") for a in on_node)


def test_a_filter_not_reading_task_states_still_returns_them(farm: SimFarm, nomad: httpx.Client) -> None:
    # the farm judges such filters without rendering task states (a watcher's ID batches)
    nomad.post("/v1/jobs", json=make_job("a", count=3, tasks=2))
    farm.advance(1)
    ids = sorted(a["ID"] for a in allocs(nomad, "a"))
    got = nomad.get("/v1/allocations", params={"filter": f'ID == "{ids[0]}" or ID == "{ids[2]}"'}).json()
    assert [a["ID"] for a in got] == [ids[0], ids[2]]
    assert {a["TaskStates"]["t1"]["State"] for a in got} == {"running"}
    assert got[0]["TaskStates"]["t0"]["Events"]  # whole task states, events included
    # a filter that reads the task states is judged on them
    farm.faults.kill_task(ids[1], "t0", 137)  # the restart policy restarts it
    farm.advance(1)
    restarted = nomad.get("/v1/allocations", params={"filter": "TaskStates.t0.Restarts == 1"}).json()
    assert [a["ID"] for a in restarted] == [ids[1]]
    light = nomad.get(
        "/v1/allocations", params={"filter": "TaskStates.t0.Restarts == 1", "task_states": "false"}
    ).json()
    # Nomad judges the allocation in memory, then trims the answer
    assert [(a["ID"], a["TaskStates"]) for a in light] == [(ids[1], None)]


def test_filter_roots_name_the_top_level_fields_read() -> None:
    from nomadctl.sim.bexpr import FilterError, filter_roots

    assert filter_roots('ID == "a" or (JobID != "b" and not ClientStatus is empty)') == {
        "ID",
        "JobID",
        "ClientStatus",
    }
    assert filter_roots('"x" in TaskStates.main.Events and Name matches "^web"') == {"TaskStates", "Name"}
    try:
        filter_roots("ID ===")
    except FilterError:
        pass
    else:
        raise AssertionError("a bad filter must raise FilterError")


def test_agent_self_and_leader(nomad: httpx.Client) -> None:
    assert nomad.get("/v1/agent/self").json()["config"]["Version"]["Version"]
    assert nomad.get("/v1/status/leader").json() == "127.0.0.1:4647"


def test_a_stopped_farm_starts_again_with_its_state(farm: SimFarm) -> None:
    with httpx.Client(base_url=farm.nomad_addr) as c:
        c.post("/v1/jobs", json=make_job())
    farm.advance(1)
    farm.stop()
    farm.start()
    with httpx.Client(base_url=farm.nomad_addr) as c:
        assert {a["ClientStatus"] for a in allocs(c)} == {"running"}
        c.post("/v1/jobs", json=make_job("again"))
        farm.advance(1)
        assert {a["ClientStatus"] for a in allocs(c, "again")} == {"running"}


def test_restart_policy_is_validated(nomad: httpx.Client) -> None:
    spec = make_job(
        RestartPolicy={"Attempts": 2, "Interval": 1_000_000_000, "Delay": 5_000_000_000, "Mode": "sometimes"}
    )
    r = nomad.post("/v1/jobs", json=spec)
    assert r.status_code == 500
    assert 'Unsupported restart mode: "sometimes"' in r.text
    assert "the interval is only 1s" in r.text


def test_hcl_parse_is_clearly_unsupported(nomad: httpx.Client) -> None:
    r = nomad.post("/v1/jobs/parse", json={"JobHCL": 'job "x" {}'})
    assert r.status_code == 501
    assert "not simulated" in r.text


def test_memory_max_no_limit_sentinel_is_accepted(farm: SimFarm, nomad: httpx.Client) -> None:
    # Nomad's Resources.Validate: MemoryMaxMB 0 and -1 (MemoryNoLimit) are sentinels, not sizes
    job = make_job("nolimit", count=1)
    job["Job"]["TaskGroups"][0]["Tasks"][0]["Resources"]["MemoryMaxMB"] = -1
    assert nomad.post("/v1/jobs", json=job).status_code == 200
    bad = make_job("toolow", count=1)
    bad["Job"]["TaskGroups"][0]["Tasks"][0]["Resources"]["MemoryMaxMB"] = 5
    answer = nomad.post("/v1/jobs", json=bad)
    assert answer.status_code == 500
    assert "MemoryMaxMB value (5) should be larger than MemoryMB" in answer.text
