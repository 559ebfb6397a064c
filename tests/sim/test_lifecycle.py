"""Task and allocation lifecycle: exits, restarts, reschedules, faults, lost nodes, disconnects."""

from __future__ import annotations

from typing import Any

import httpx

from nomadctl.sim import SimFarm
from tests.sim.helpers import allocs, make_job

RESTART_FAST = {"Attempts": 2, "Interval": 3_600_000_000_000, "Delay": 1_000_000_000, "Mode": "fail"}
NO_RESCHEDULE = {"Attempts": 0, "Unlimited": False}


def _live(nomad: httpx.Client, job: str = "web") -> list[dict[str, Any]]:
    return [
        a
        for a in allocs(nomad, job)
        if a["DesiredStatus"] == "run" and a["ClientStatus"] in ("pending", "running")
    ]


def test_batch_exit_code_from_a_behaviour_rule(farm: SimFarm, nomad: httpx.Client) -> None:
    farm.faults.task_behaviour("hook-*", "t0", exit_code=3, duration=1.0)
    spec = make_job(
        "hook-1",
        type_="batch",
        count=1,
        RestartPolicy={"Attempts": 0, "Mode": "fail"},
        ReschedulePolicy=NO_RESCHEDULE,
    )
    nomad.post("/v1/jobs", json=spec)
    farm.advance(0.5)
    assert allocs(nomad, "hook-1")[0]["ClientStatus"] == "running"
    farm.advance(1.0)
    (a,) = allocs(nomad, "hook-1")
    assert a["ClientStatus"] == "failed"
    t = a["TaskStates"]["t0"]
    assert t["Failed"] is True
    types = [e["Type"] for e in t["Events"]]
    assert types[-2:] == ["Terminated", "Not Restarting"]
    assert t["Events"][-2]["ExitCode"] == 3
    assert t["Events"][-1]["RestartReason"] == "Policy allows no restarts"
    assert nomad.get("/v1/job/hook-1").json()["Status"] == "dead"


def test_task_env_chooses_the_outcome(farm: SimFarm, nomad: httpx.Client) -> None:
    spec = make_job(
        "hook-env", type_="batch", count=1, RestartPolicy={"Attempts": 0}, ReschedulePolicy=NO_RESCHEDULE
    )
    spec["Job"]["TaskGroups"][0]["Tasks"][0]["Env"] = {
        "NOMADCTL_SIM_EXIT_CODE": "7",
        "NOMADCTL_SIM_DURATION": "2s",
    }
    nomad.post("/v1/jobs", json=spec)
    farm.advance(2.0)
    assert allocs(nomad, "hook-env")[0]["ClientStatus"] == "running"
    farm.advance(0.5)
    (a,) = allocs(nomad, "hook-env")
    assert a["ClientStatus"] == "failed"
    assert a["TaskStates"]["t0"]["Events"][-2]["ExitCode"] == 7


def test_inf_duration_keeps_a_batch_task_running(farm: SimFarm, nomad: httpx.Client) -> None:
    spec = make_job("basic", type_="batch", count=1)
    spec["Job"]["TaskGroups"][0]["Tasks"][0]["Env"] = {"NOMADCTL_SIM_DURATION": "inf"}
    nomad.post("/v1/jobs", json=spec)
    farm.advance(3600)
    assert allocs(nomad, "basic")[0]["ClientStatus"] == "running"


def test_restarts_within_policy_then_not_restarting_and_siblings_killed(
    farm: SimFarm, nomad: httpx.Client
) -> None:
    spec = make_job(count=1, tasks=2, RestartPolicy=RESTART_FAST, ReschedulePolicy=NO_RESCHEDULE)
    nomad.post("/v1/jobs", json=spec)
    farm.advance(0.5)
    alloc_id = farm.find_alloc("web", "g", 0)
    for attempt in (1, 2):
        farm.faults.kill_task(alloc_id, "t0", exit_code=137)
        a = nomad.get(f"/v1/allocation/{alloc_id}").json()
        t0 = a["TaskStates"]["t0"]
        assert t0["State"] == "pending"
        assert t0["Restarts"] == attempt
        assert [e["Type"] for e in t0["Events"][-2:]] == ["Terminated", "Restarting"]
        assert t0["Events"][-2]["ExitCode"] == 137
        assert t0["Events"][-2]["Signal"] == 9
        assert t0["Events"][-1]["RestartReason"] == "Restart within policy"
        assert a["ClientStatus"] == "running"  # the sibling still runs
        farm.advance(1.3)  # delay + up to 25 % jitter
        assert nomad.get(f"/v1/allocation/{alloc_id}").json()["TaskStates"]["t0"]["State"] == "running"
    farm.faults.kill_task(alloc_id, "t0", exit_code=1)
    a = nomad.get(f"/v1/allocation/{alloc_id}").json()
    assert a["ClientStatus"] == "failed"
    assert a["TaskStates"]["t0"]["Events"][-1]["RestartReason"] == (
        'Exceeded allowed attempts 2 in interval 1h0m0s and mode is "fail"'
    )
    t1 = a["TaskStates"]["t1"]
    assert t1["State"] == "dead"
    assert t1["Failed"] is False
    assert [e["Type"] for e in t1["Events"][-3:]] == ["Sibling Task Failed", "Killing", "Killed"]
    assert a["Job"]["ID"] == "web"


def test_failed_alloc_is_rescheduled_on_another_node(farm: SimFarm, nomad: httpx.Client) -> None:
    resched = {
        "Attempts": 1,
        "Interval": 3_600_000_000_000,
        "Delay": 5_000_000_000,
        "DelayFunction": "constant",
        "Unlimited": False,
    }
    spec = make_job(count=1, RestartPolicy={"Attempts": 0, "Mode": "fail"}, ReschedulePolicy=resched)
    nomad.post("/v1/jobs", json=spec)
    farm.advance(0.5)
    first = farm.find_alloc("web", "g", 0)
    first_node = nomad.get(f"/v1/allocation/{first}").json()["NodeID"]
    farm.faults.kill_task(first, "t0", exit_code=2)
    farm.advance(1)
    a = nomad.get(f"/v1/allocation/{first}").json()
    assert a["ClientStatus"] == "failed"
    assert a["FollowupEvalID"]  # delayed reschedule: a follow-up evaluation waits 5 s
    assert a["NextAllocation"] == ""
    farm.advance(5)
    a = nomad.get(f"/v1/allocation/{first}").json()
    assert a["NextAllocation"]
    nxt = nomad.get(f"/v1/allocation/{a['NextAllocation']}").json()
    assert nxt["PreviousAllocation"] == first
    assert nxt["Name"] == "web.g[0]"
    assert nxt["NodeID"] != first_node
    assert nxt["RescheduleTracker"]["Events"][0]["PrevAllocID"] == first
    farm.advance(1)
    farm.faults.kill_task(nxt["ID"], "t0", exit_code=2)
    farm.advance(30)
    # the one allowed attempt is used up: no further replacement
    assert nomad.get(f"/v1/allocation/{nxt['ID']}").json()["NextAllocation"] == ""
    assert nomad.get("/v1/job/web").json()["Status"] == "dead"
    summary = nomad.get("/v1/job/web/summary").json()["Summary"]["g"]
    assert summary["Failed"] == 2


def test_failing_start_is_a_driver_failure(farm: SimFarm, nomad: httpx.Client) -> None:
    farm.faults.failing_start("web", "t0")
    nomad.post(
        "/v1/jobs",
        json=make_job(count=1, RestartPolicy={"Attempts": 0, "Mode": "fail"}, ReschedulePolicy=NO_RESCHEDULE),
    )
    farm.advance(0.5)
    (a,) = allocs(nomad)
    assert a["ClientStatus"] == "failed"
    ev = a["TaskStates"]["t0"]["Events"]
    assert [e["Type"] for e in ev][-2:] == ["Driver Failure", "Not Restarting"]
    assert "injected start failure" in ev[-2]["DriverError"]


def test_slow_start_on_chosen_nodes(farm: SimFarm, nomad: httpx.Client) -> None:
    farm.faults.slow_start("n00[12]", 10)
    nomad.post(
        "/v1/jobs", json=make_job(count=4, Constraints=[{"Operand": "distinct_hosts", "RTarget": "true"}])
    )
    farm.advance(0.5)
    by_node = {a["NodeName"]: a["ClientStatus"] for a in allocs(nomad)}
    assert by_node == {"n001": "pending", "n002": "pending", "n003": "running", "n004": "running"}
    farm.advance(9.5)
    assert {a["ClientStatus"] for a in allocs(nomad)} == {"running"}


def test_node_down_loses_allocations_and_replaces_them(farm: SimFarm, nomad: httpx.Client) -> None:
    nomad.post(
        "/v1/jobs", json=make_job(count=4, Constraints=[{"Operand": "distinct_hosts", "RTarget": "true"}])
    )
    farm.advance(1)
    victim = farm.find_alloc("web", "g", 0)
    node = nomad.get(f"/v1/allocation/{victim}").json()["NodeName"]
    farm.faults.node_down(node)
    farm.advance(4.9)  # within the heartbeat grace: nothing happens yet
    assert nomad.get(f"/v1/node/{farm.node_id(node)}").json()["Status"] == "ready"
    farm.advance(0.2)
    assert nomad.get(f"/v1/node/{farm.node_id(node)}").json()["Status"] == "down"
    lost = nomad.get(f"/v1/allocation/{victim}").json()
    assert (lost["DesiredStatus"], lost["ClientStatus"]) == ("stop", "lost")
    assert lost["DesiredDescription"] == "alloc is lost since its node is down"
    farm.advance(1)
    # distinct_hosts on 4 nodes with one down: the replacement cannot be placed
    assert nomad.get("/v1/job/web/summary").json()["Summary"]["g"]["Queued"] == 1
    farm.faults.node_up(node)
    farm.advance(1)
    live = _live(nomad)
    assert len(live) == 4
    repl = [a for a in live if a["Name"] == "web.g[0]"]
    assert repl
    assert nomad.get(f"/v1/allocation/{repl[0]['ID']}").json()["PreviousAllocation"] == victim
    assert nomad.get("/v1/job/web/summary").json()["Summary"]["g"]["Lost"] == 1


def test_disconnect_block_marks_unknown_then_reconnects(farm: SimFarm, nomad: httpx.Client) -> None:
    spec = make_job(
        count=1,
        Disconnect={"LostAfter": 60_000_000_000, "Replace": False, "Reconcile": "keep_original"},
    )
    nomad.post("/v1/jobs", json=spec)
    farm.advance(1)
    alloc_id = farm.find_alloc("web", "g", 0)
    node = nomad.get(f"/v1/allocation/{alloc_id}").json()["NodeName"]
    farm.faults.node_down(node)
    farm.advance(6)
    assert nomad.get(f"/v1/node/{farm.node_id(node)}").json()["Status"] == "disconnected"
    assert nomad.get(f"/v1/allocation/{alloc_id}").json()["ClientStatus"] == "unknown"
    assert len(allocs(nomad)) == 1  # Replace=false: no replacement
    farm.faults.node_up(node)
    farm.advance(0.1)
    a = nomad.get(f"/v1/allocation/{alloc_id}").json()
    assert a["ClientStatus"] == "running"
    assert a["TaskStates"]["t0"]["Events"][-1]["Type"] == "Reconnected"


def test_disconnect_lost_after_expiry(farm: SimFarm, nomad: httpx.Client) -> None:
    nomad.post("/v1/jobs", json=make_job(count=1, Disconnect={"LostAfter": 30_000_000_000}))
    farm.advance(1)
    alloc_id = farm.find_alloc("web", "g", 0)
    node = nomad.get(f"/v1/allocation/{alloc_id}").json()["NodeName"]
    farm.faults.node_down(node)
    farm.advance(6)
    live = _live(nomad)
    assert len(live) == 1  # Replace defaults to true: a replacement runs elsewhere
    assert live[0]["ID"] != alloc_id
    farm.advance(31)
    assert nomad.get(f"/v1/allocation/{alloc_id}").json()["ClientStatus"] == "lost"
    assert nomad.get(f"/v1/node/{farm.node_id(node)}").json()["Status"] == "down"


def test_alloc_stop_migrates_to_a_replacement(farm: SimFarm, nomad: httpx.Client) -> None:
    nomad.post("/v1/jobs", json=make_job(count=1))
    farm.advance(1)
    alloc_id = farm.find_alloc("web", "g", 0)
    r = nomad.post(f"/v1/allocation/{alloc_id}/stop")
    assert r.status_code == 200
    assert r.json()["EvalID"]
    farm.advance(1)
    old = nomad.get(f"/v1/allocation/{alloc_id}").json()
    assert (old["DesiredStatus"], old["ClientStatus"]) == ("stop", "complete")
    assert old["DesiredDescription"] == "alloc is being migrated"
    (live,) = _live(nomad)
    assert live["ID"] != alloc_id
    assert live["ClientStatus"] == "running"


def test_drain_moves_service_allocs_and_completes(farm: SimFarm, nomad: httpx.Client) -> None:
    nomad.post("/v1/jobs", json=make_job(count=2))
    farm.advance(1)
    node = allocs(nomad)[0]["NodeID"]
    r = nomad.post(
        f"/v1/node/{node}/drain", json={"DrainSpec": {"Deadline": 3_600_000_000_000}, "Meta": {"why": "test"}}
    )
    assert r.status_code == 200
    farm.advance(1)
    n = nomad.get(f"/v1/node/{node}").json()
    assert n["Drain"] is False
    assert n["SchedulingEligibility"] == "ineligible"
    assert n["LastDrain"]["Status"] == "complete"
    assert all(a["NodeID"] != node for a in _live(nomad))
    assert len(_live(nomad)) == 2
    r = nomad.post(f"/v1/node/{node}/eligibility", json={"Eligibility": "eligible"})
    assert r.status_code == 200
    assert nomad.get(f"/v1/node/{node}").json()["SchedulingEligibility"] == "eligible"


def test_scale_changes_the_count_and_records_an_event(farm: SimFarm, nomad: httpx.Client) -> None:
    spec = make_job(count=2, Update={"MaxParallel": 0})
    nomad.post("/v1/jobs", json=spec)
    farm.advance(1)
    r = nomad.post("/v1/job/web/scale", json={"Count": 3, "Target": {"Group": "g"}, "Message": "more"})
    assert r.status_code == 200, r.text
    farm.advance(1)
    status = nomad.get("/v1/job/web/scale").json()
    g = status["TaskGroups"]["g"]
    assert (g["Desired"], g["Running"]) == (3, 3)
    assert g["Events"][0]["Message"] == "more"
    assert g["Events"][0]["PreviousCount"] == 2
    bad = nomad.post("/v1/job/web/scale", json={"Count": 1, "Target": {"Group": "nope"}})
    assert bad.status_code == 400


def test_deployment_becomes_successful_after_min_healthy_time(farm: SimFarm, nomad: httpx.Client) -> None:
    spec = make_job(
        count=2, Update={"MaxParallel": 1, "MinHealthyTime": 2_000_000_000, "HealthCheck": "task_states"}
    )
    nomad.post("/v1/jobs", json=spec)
    farm.advance(1)
    dep = nomad.get("/v1/job/web/deployment").json()
    assert dep["Status"] == "running"
    assert dep["TaskGroups"]["g"]["DesiredTotal"] == 2
    farm.advance(2)
    dep = nomad.get(f"/v1/deployment/{dep['ID']}").json()
    assert dep["Status"] == "successful"
    assert dep["TaskGroups"]["g"]["HealthyAllocs"] == 2
    assert {a["DeploymentStatus"]["Healthy"] for a in allocs(nomad)} == {True}
    assert nomad.get("/v1/job/web").json()["Stable"] is True


def test_dispatch_creates_a_child_job(farm: SimFarm, nomad: httpx.Client) -> None:
    spec = make_job("param", type_="batch", count=1)
    spec["Job"]["ParameterizedJob"] = {"Payload": "optional", "MetaRequired": ["run"]}
    nomad.post("/v1/jobs", json=spec)
    assert nomad.post("/v1/job/param/dispatch", json={"Meta": {}}).status_code == 500
    r = nomad.post("/v1/job/param/dispatch", json={"Meta": {"run": "123"}})
    assert r.status_code == 200, r.text
    child = r.json()["DispatchedJobID"]
    assert child.startswith("param/dispatch-")
    farm.advance(1)
    job = nomad.get(f"/v1/job/{child}").json()
    assert job["ParentID"] == "param"
    assert job["Meta"] == {"run": "123"}
    assert allocs(nomad, child)[0]["ClientStatus"] == "complete"
    assert nomad.get("/v1/job/param/summary").json()["Children"] == {"Pending": 0, "Running": 0, "Dead": 1}


def test_prestart_hook_runs_before_the_main_task(farm: SimFarm, nomad: httpx.Client) -> None:
    spec = make_job(count=1, tasks=2)
    hook = spec["Job"]["TaskGroups"][0]["Tasks"][0]
    hook["Lifecycle"] = {"Hook": "prestart", "Sidecar": False}
    hook["Env"] = {"NOMADCTL_SIM_DURATION": "2"}
    nomad.post("/v1/jobs", json=spec)
    farm.advance(0.5)
    (a,) = allocs(nomad)
    assert (a["TaskStates"]["t0"]["State"], a["TaskStates"]["t1"]["State"]) == ("running", "pending")
    assert a["ClientStatus"] == "running"
    farm.advance(2.0)
    (a,) = allocs(nomad)
    assert (a["TaskStates"]["t0"]["State"], a["TaskStates"]["t0"]["Failed"]) == ("dead", False)
    assert a["TaskStates"]["t1"]["State"] == "running"


def test_restart_mode_delay_waits_out_the_interval(farm: SimFarm, nomad: httpx.Client) -> None:
    policy = {"Attempts": 1, "Interval": 60_000_000_000, "Delay": 1_000_000_000, "Mode": "delay"}
    nomad.post("/v1/jobs", json=make_job(count=1, RestartPolicy=policy))
    farm.advance(0.5)
    alloc_id = farm.find_alloc("web", "g", 0)
    farm.faults.kill_task(alloc_id, "t0")
    farm.advance(1.3)
    farm.faults.kill_task(alloc_id, "t0")
    t0 = nomad.get(f"/v1/allocation/{alloc_id}").json()["TaskStates"]["t0"]
    assert t0["Events"][-1]["RestartReason"] == "Exceeded allowed attempts, applying a delay"
    assert t0["Events"][-1]["StartDelay"] > 50_000_000_000
    farm.advance(60)
    assert nomad.get(f"/v1/allocation/{alloc_id}").json()["TaskStates"]["t0"]["State"] == "running"


def test_stopping_a_job_with_queued_placements_makes_it_dead(farm: SimFarm, nomad: httpx.Client) -> None:
    spec = make_job(count=1, Constraints=[{"LTarget": "${node.class}", "Operand": "=", "RTarget": "none"}])
    nomad.post("/v1/jobs", json=spec)
    farm.advance(1)
    assert nomad.get("/v1/job/web").json()["Status"] == "pending"
    nomad.delete("/v1/job/web")
    farm.advance(1)
    assert nomad.get("/v1/job/web").json()["Status"] == "dead"
    assert "blocked" not in {e["Status"] for e in nomad.get("/v1/job/web/evaluations").json()}


def test_batch_job_reruns_only_when_changed(farm: SimFarm, nomad: httpx.Client) -> None:
    nomad.post("/v1/jobs", json=make_job("hook", type_="batch", count=1))
    farm.advance(1)
    (first,) = allocs(nomad, "hook")
    assert first["ClientStatus"] == "complete"
    nomad.post("/v1/jobs", json=make_job("hook", type_="batch", count=1))  # unchanged: not run again
    farm.advance(1)
    assert len(allocs(nomad, "hook")) == 1
    changed = make_job("hook", type_="batch", count=1)
    changed["Job"]["Meta"] = {"run": "2"}
    plan = nomad.post("/v1/job/hook/plan", json=changed).json()
    assert plan["Annotations"]["DesiredTGUpdates"]["g"]["Place"] == 1
    nomad.post("/v1/jobs", json=changed)
    farm.advance(1)
    runs = allocs(nomad, "hook")
    assert len(runs) == 2
    assert {a["ClientStatus"] for a in runs} == {"complete"}


def test_client_restart_and_signal(farm: SimFarm, nomad: httpx.Client) -> None:
    nomad.post("/v1/jobs", json=make_job(count=1, tasks=2))
    farm.advance(1)
    alloc_id = farm.find_alloc("web", "g", 0)
    assert nomad.post(f"/v1/client/allocation/{alloc_id}/restart", json={"TaskName": "t1"}).status_code == 200
    a = nomad.get(f"/v1/allocation/{alloc_id}").json()
    assert a["TaskStates"]["t1"]["State"] == "pending"
    assert a["TaskStates"]["t1"]["Restarts"] == 1
    assert a["TaskStates"]["t0"]["State"] == "running"
    farm.advance(0.5)
    a = nomad.get(f"/v1/allocation/{alloc_id}").json()
    assert [e["Type"] for e in a["TaskStates"]["t1"]["Events"][-4:]] == [
        "Restart Signaled",
        "Terminated",
        "Restarting",
        "Started",
    ]
    assert (
        nomad.post(
            f"/v1/client/allocation/{alloc_id}/signal", json={"Task": "t0", "Signal": "SIGHUP"}
        ).status_code
        == 200
    )
    ev = nomad.get(f"/v1/allocation/{alloc_id}").json()["TaskStates"]["t0"]["Events"][-1]
    assert (ev["Type"], ev["DisplayMessage"]) == ("Signaling", "Task being sent signal SIGHUP")
    assert nomad.post("/v1/client/allocation/nope/restart", json={}).status_code == 404
