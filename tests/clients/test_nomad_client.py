"""NomadClient over httpx.MockTransport: requests sent, answers parsed, errors and retries."""

from __future__ import annotations

import base64

import httpx
import pytest

from nomadctl.clients import errors
from nomadctl.clients.config import NomadConfig
from nomadctl.clients.nomad import NomadClient, job_from_payload
from nomadctl.errors import PlanError

JOB = {"ID": "aliecs-env1", "Name": "aliecs-env1", "Type": "service", "TaskGroups": []}

ALLOC = {
    "ID": "a1",
    "EvalID": "e1",
    "Name": "aliecs-env1.flp001[0]",
    "Namespace": "default",
    "NodeID": "n1",
    "NodeName": "flp001",
    "JobID": "aliecs-env1",
    "JobType": "service",
    "JobVersion": 2,
    "TaskGroup": "flp001",
    "DesiredStatus": "run",
    "DesiredDescription": "",
    "ClientStatus": "running",
    "ClientDescription": "Tasks are running",
    "TaskStates": {
        "readout": {
            "State": "running",
            "Failed": False,
            "Restarts": 1,
            "LastRestart": "2026-01-01T10:00:00Z",
            "StartedAt": "2026-01-01T10:00:01.5Z",
            "FinishedAt": "0001-01-01T00:00:00Z",
            "Events": [
                {"Type": "Started", "Time": 1, "DisplayMessage": "Task started by client", "Details": None}
            ],
        }
    },
    "DeploymentStatus": {
        "Healthy": None,
        "Timestamp": "0001-01-01T00:00:00Z",
        "Canary": False,
        "ModifyIndex": 0,
    },
    "FollowupEvalID": "",
    "RescheduleTracker": None,
    "PreemptedAllocations": None,
    "CreateIndex": 10,
    "ModifyIndex": 12,
    "CreateTime": 1,
    "ModifyTime": 2,
    "SomeFutureField": {"x": 1},
}


def client(router, sleeps=None, **config):
    return NomadClient(
        NomadConfig(**config),
        transport=router.transport(),
        sleep=sleeps if sleeps is not None else (lambda s: None),
    )


def test_payload_accepts_wrapper_or_bare_job():
    assert job_from_payload({"Job": JOB}) == JOB
    assert job_from_payload(JOB) == JOB
    with pytest.raises(PlanError, match="no ID"):
        job_from_payload({"Job": {"Name": "x"}})
    with pytest.raises(PlanError, match="not an object"):
        job_from_payload({"Job": "x"})


def test_token_namespace_region_on_every_request(router):
    router.json("GET", "/v1/job/aliecs-env1/allocations", [], headers={"X-Nomad-Index": "5"})
    nomad = client(router, token="secret-token", namespace="online", region="p2")
    nomad.job_allocations("aliecs-env1")
    request = router.last()
    assert request.headers["X-Nomad-Token"] == "secret-token"
    assert request.url.params["namespace"] == "online"
    assert request.url.params["region"] == "p2"
    assert "secret-token" not in str(request.url)
    assert request.headers["User-Agent"].startswith("nomadctl/")


def test_no_token_header_without_token(router):
    router.json("GET", "/v1/nodes", [])
    client(router).nodes()
    assert "X-Nomad-Token" not in router.last().headers


def test_register_sends_wrapper_and_check_index(router):
    router.json(
        "POST",
        "/v1/job/aliecs-env1",
        {"EvalID": "e9", "EvalCreateIndex": 20, "JobModifyIndex": 20, "Warnings": ""},
    )
    response = client(router).register_job({"Job": JOB}, check_index=0)
    body = router.body()
    assert body == {"Job": JOB, "EnforceIndex": True, "JobModifyIndex": 0}
    assert response.eval_id == "e9"
    assert response.job_modify_index == 20


def test_register_without_check_index_is_plain_and_retried_on_5xx(router, sleeps):
    router.add(
        "POST",
        "/v1/job/aliecs-env1",
        httpx.Response(500, text="rpc error: No cluster leader"),
        httpx.Response(200, json={"EvalID": "e1", "JobModifyIndex": 3}),
    )
    response = client(router, sleeps).register_job(JOB)
    assert router.body() == {"Job": JOB}
    assert response.job_modify_index == 3
    assert len(router.requests) == 2
    assert sleeps == [0.25]


def test_check_index_conflict_is_not_retried(router, sleeps):
    router.add(
        "POST",
        "/v1/job/aliecs-env1",
        httpx.Response(
            500, text="Enforcing job modify index 4: job exists with conflicting job modify index: 5"
        ),
    )
    with pytest.raises(errors.NomadConflict) as info:
        client(router, sleeps).register_job(JOB, check_index=4)
    assert isinstance(info.value, errors.Conflict)
    assert len(router.requests) == 1
    assert sleeps == []


def test_register_with_check_index_is_not_repeated_after_a_500(router, sleeps):
    router.add("POST", "/v1/job/aliecs-env1", httpx.Response(500, text="raft apply failed"))
    with pytest.raises(errors.NomadServerError):
        client(router, sleeps).register_job(JOB, check_index=4)
    assert len(router.requests) == 1


PLAN = {
    "JobModifyIndex": 0,
    "CreatedEvals": None,
    "Diff": {
        "Type": "Added",
        "ID": "aliecs-env1",
        "Fields": [{"Type": "Added", "Name": "Type", "Old": "", "New": "service", "Annotations": None}],
        "Objects": None,
        "TaskGroups": [
            {
                "Type": "Added",
                "Name": "epn",
                "Fields": None,
                "Objects": None,
                "Tasks": [
                    {"Type": "Added", "Name": "reco", "Fields": [], "Objects": [], "Annotations": None}
                ],
                "Updates": {"create": 3},
            }
        ],
    },
    "Annotations": {"DesiredTGUpdates": {"epn": {"Place": 3, "Ignore": 0}}, "PreemptedAllocs": None},
    "FailedTGAllocs": {
        "epn": {
            "NodesEvaluated": 5,
            "NodesFiltered": 3,
            "NodesInPool": 5,
            "NodePool": "epn",
            "NodesAvailable": {"dc1": 5},
            "ClassFiltered": None,
            "ConstraintFiltered": {"${node.class} = epn": 3},
            "NodesExhausted": 2,
            "ClassExhausted": None,
            "DimensionExhausted": {"devices: no devices match request": 2},
            "QuotaExhausted": None,
            "CoalescedFailures": 1,
            "ScoreMetaData": None,
        }
    },
    "NextPeriodicLaunch": "0001-01-01T00:00:00Z",
    "Warnings": "",
}


def test_plan_parses_diff_and_failed_groups(router):
    router.json("POST", "/v1/job/aliecs-env1/plan", PLAN)
    plan = client(router).plan_job({"Job": JOB})
    assert router.body() == {"Job": JOB, "Diff": True, "PolicyOverride": False}
    assert not plan.placeable
    metric = plan.failed_tg_allocs["epn"]
    assert metric.nodes_evaluated == 5
    assert metric.coalesced_failures == 1
    assert metric.reasons() == [
        "constraint '${node.class} = epn' filtered 3 node(s)",
        "resources exhausted (devices: no devices match request) on 2 node(s)",
    ]
    assert plan.diff is not None
    assert plan.diff.task_groups[0].updates == {"create": 3}
    assert plan.diff.task_groups[0].tasks[0].name == "reco"
    assert plan.annotations is not None
    assert plan.annotations.desired_tg_updates["epn"].place == 3


def test_deregister_purge(router):
    router.json("DELETE", "/v1/job/aliecs-env1", {"EvalID": "", "EvalCreateIndex": 0, "JobModifyIndex": 0})
    response = client(router).deregister_job("aliecs-env1", purge=True)
    assert router.last().url.params["purge"] == "true"
    assert "global" not in router.last().url.params
    assert response.eval_id == ""


def test_job_ids_are_path_quoted(router):
    router.json(
        "GET", "/v1/job/batch%2Fdispatch-1", {**JOB, "ID": "batch/dispatch-1"}, headers={"X-Nomad-Index": "4"}
    )
    job, index = client(router).job("batch/dispatch-1")
    assert job.id == "batch/dispatch-1"
    assert index == 4


def test_scale_body_and_status(router):
    router.json("POST", "/v1/job/aliecs-env1/scale", {"EvalID": "e3", "JobModifyIndex": 8})
    router.json(
        "GET",
        "/v1/job/aliecs-env1/scale",
        {
            "JobID": "aliecs-env1",
            "Namespace": "default",
            "JobCreateIndex": 1,
            "JobModifyIndex": 8,
            "JobStopped": False,
            "TaskGroups": {
                "epn": {"Desired": 4, "Placed": 4, "Running": 3, "Healthy": 3, "Unhealthy": 0, "Events": None}
            },
        },
        headers={"X-Nomad-Index": "8"},
    )
    nomad = client(router)
    nomad.scale_job("aliecs-env1", "epn", 4, message="nmin recovery")
    assert router.body() == {"Count": 4, "Target": {"Group": "epn"}, "Message": "nmin recovery"}
    status, index = nomad.job_scale_status("aliecs-env1")
    assert status.task_groups["epn"].running == 3
    assert index == 8


def dispatch_router():
    from tests.clients.conftest import Router

    return Router().add(
        "POST",
        "/v1/job/hook/dispatch",
        httpx.Response(502, text="bad gateway"),
        httpx.Response(200, json={"DispatchedJobID": "hook/dispatch-1", "EvalID": "e"}),
    )


def test_dispatch_without_idempotency_token_is_not_repeated(sleeps):
    router = dispatch_router()
    with pytest.raises(errors.NomadServerError):
        client(router, sleeps).dispatch_job("hook", payload=b"\x00run")
    assert len(router.requests) == 1
    assert router.body()["Payload"] == base64.b64encode(b"\x00run").decode()


def test_dispatch_with_idempotency_token_is_retried(sleeps):
    router = dispatch_router()
    result = client(router, sleeps).dispatch_job("hook", meta={"run": "1"}, idempotency_token="env1-run1")
    assert result.dispatched_job_id == "hook/dispatch-1"
    assert len(router.requests) == 2
    assert router.last().url.params["idempotency_token"] == "env1-run1"
    assert router.body()["Meta"] == {"run": "1"}


def test_job_allocations_parse_task_states(router):
    router.json("GET", "/v1/job/aliecs-env1/allocations", [ALLOC], headers={"X-Nomad-Index": "12"})
    allocs, index = client(router).job_allocations("aliecs-env1")
    assert index == 12
    (alloc,) = allocs
    state = alloc.task_states["readout"]
    assert state.state == "running"
    assert state.restarts == 1
    assert state.finished_at is None  # Go zero time
    assert state.started_at is not None
    assert state.started_at.year == 2026
    assert state.events[0].type == "Started"
    assert alloc.deployment_status is not None
    assert alloc.deployment_status.healthy is None


def test_blocking_read_sends_index_and_wait_and_stretches_read_timeout(router):
    router.json("GET", "/v1/job/aliecs-env1/allocations", [ALLOC], headers={"X-Nomad-Index": "13"})
    _, index = client(router).job_allocations("aliecs-env1", index=12, wait=60)
    request = router.last()
    assert request.url.params["index"] == "12"
    assert request.url.params["wait"] == "60000ms"
    timeout = request.extensions["timeout"]
    assert timeout["read"] > 60 * 17 / 16
    assert timeout["connect"] == 30.0
    assert index == 13


def test_non_blocking_read_has_no_index_param(router):
    router.json("GET", "/v1/job/aliecs-env1/allocations", [])
    client(router).job_allocations("aliecs-env1")
    assert "index" not in router.last().url.params
    assert router.last().extensions["timeout"]["read"] == 30.0


def test_cluster_allocations_follow_pagination(router):
    router.add(
        "GET",
        "/v1/allocations",
        httpx.Response(200, json=[ALLOC], headers={"X-Nomad-Index": "20", "X-Nomad-Nexttoken": "tok2"}),
        httpx.Response(200, json=[{**ALLOC, "ID": "a2"}], headers={"X-Nomad-Index": "20"}),
    )
    allocs, index = client(router).allocations(filter='JobID == "aliecs-env1"', task_states=False, per_page=1)
    assert [a.id for a in allocs] == ["a1", "a2"]
    assert router.requests[0].url.params["task_states"] == "false"
    assert router.requests[1].url.params["next_token"] == "tok2"
    assert router.requests[1].url.params["filter"] == 'JobID == "aliecs-env1"'
    assert index == 20


def test_allocation_briefs_keep_task_states_without_their_events(router):
    router.add(
        "GET",
        "/v1/allocations",
        httpx.Response(200, json=[ALLOC], headers={"X-Nomad-Index": "20", "X-Nomad-Nexttoken": "tok2"}),
        httpx.Response(
            200, json=[{**ALLOC, "ID": "a2", "TaskStates": None}], headers={"X-Nomad-Index": "21"}
        ),
    )
    briefs, index = client(router).allocation_briefs(filter='ID == "a1" or ID == "a2"')
    assert index == 21
    assert [b.id for b in briefs] == ["a1", "a2"]
    state = briefs[0].task_states["readout"]
    assert (state.state, state.failed, state.restarts, state.finished_at) == ("running", False, 1, None)
    assert not hasattr(state, "events")
    assert briefs[1].task_states == {}  # Nomad's null
    assert "task_states" not in router.requests[0].url.params  # the states are what is wanted
    assert router.requests[1].url.params["next_token"] == "tok2"
    assert router.requests[1].url.params["filter"] == 'ID == "a1" or ID == "a2"'


def test_allocation_briefs_of_nothing_is_empty(router):
    router.add("GET", "/v1/allocations", httpx.Response(200, text="null"))
    assert client(router).allocation_briefs(filter='ID == "x"').data == []


def test_allocation_briefs_bad_answers_are_nomad_errors(router):
    router.add(
        "GET",
        "/v1/allocations",
        httpx.Response(200, text="<html>proxy</html>"),
        httpx.Response(200, json=[{**ALLOC, "TaskStates": {"readout": {"Failed": True}}}]),
        httpx.Response(200, json={"ID": "a1"}),
    )
    nomad = client(router)
    with pytest.raises(errors.NomadError, match="not JSON"):
        nomad.allocation_briefs()
    with pytest.raises(
        errors.NomadError, match=r"AllocationBrief: 0\.TaskStates\.readout\.State: Field required"
    ):
        nomad.allocation_briefs()
    with pytest.raises(errors.NomadError, match="AllocationBrief"):
        nomad.allocation_briefs()


NODE = {
    "Address": "10.0.0.1",
    "ID": "n1",
    "Datacenter": "dc1",
    "Name": "epn001",
    "NodeClass": "epn",
    "NodePool": "epn",
    "Version": "1.10.3",
    "Drain": False,
    "SchedulingEligibility": "eligible",
    "Status": "ready",
    "StatusDescription": "",
    "Drivers": {
        "raw_exec": {"Attributes": {}, "Detected": True, "Healthy": True, "HealthDescription": "Healthy"}
    },
    "NodeResources": {
        "Cpu": {"CpuShares": 64000, "TotalCpuCores": 32},
        "Memory": {"MemoryMB": 256000},
        "Devices": [
            {
                "Vendor": "nvidia",
                "Type": "gpu",
                "Name": "A100",
                "Instances": [{"ID": "GPU-1", "Healthy": True, "HealthDescription": "", "Locality": None}],
                "Attributes": {},
            }
        ],
    },
    "LastDrain": None,
    "CreateIndex": 1,
    "ModifyIndex": 3,
}


def test_nodes_with_resources_and_devices(router):
    router.json(
        "GET",
        "/v1/nodes",
        [NODE, {**NODE, "ID": "n2", "Name": "epn002", "Drain": True, "NodeResources": None}],
    )
    nodes, _ = client(router).nodes(resources=True)
    assert router.last().url.params["resources"] == "true"
    first, second = nodes
    assert first.schedulable
    assert not second.schedulable
    assert first.node_resources is not None
    assert first.node_resources.memory.memory_mb == 256000
    assert [d.id for d in first.devices] == ["nvidia/gpu/A100"]
    assert first.devices[0].instances[0].healthy
    assert second.devices == []


def test_agent_self_version(router):
    router.json(
        "GET",
        "/v1/agent/self",
        {
            "config": {"Version": {"Version": "1.10.3", "VersionPrerelease": ""}, "NodeName": "x"},
            "member": {},
            "stats": {},
        },
    )
    assert client(router).agent_self().version == "1.10.3"
    router.routes.clear()
    router.json(
        "GET", "/v1/agent/self", {"config": {}, "member": {"Name": "s1", "Tags": {"build": "2.0.5:abc"}}}
    )
    assert client(router).agent_self().version == "2.0.5"


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, errors.NomadBadRequest),
        (403, errors.NomadForbidden),
        (404, errors.NomadNotFound),
        (429, errors.NomadTooManyRequests),
        (500, errors.NomadServerError),
    ],
)
def test_error_statuses(router, sleeps, status, cls):
    router.add("GET", "/v1/job/missing", httpx.Response(status, text="job not found"))
    with pytest.raises(cls) as info:
        client(router, sleeps, token="t0k3n-value").job("missing")
    assert info.value.method == "GET"
    assert info.value.path == "/v1/job/missing"
    assert "t0k3n-value" not in str(info.value)


def test_connection_refused_is_unreachable_with_cause(sleeps):
    def refuse(request):
        raise httpx.ConnectError("[Errno 111] Connection refused", request=request)

    nomad = NomadClient(NomadConfig(), transport=httpx.MockTransport(refuse), sleep=sleeps)
    with pytest.raises(errors.NomadUnreachable) as info:
        nomad.nodes()
    assert isinstance(info.value.__cause__, httpx.ConnectError)
    assert info.value.attempts == 4
    assert len(sleeps) == 3


def test_non_json_answer_is_a_nomad_error(router):
    router.add("GET", "/v1/nodes", httpx.Response(200, text="<html>proxy</html>"))
    with pytest.raises(errors.NomadError, match="not JSON"):
        client(router).nodes()


def test_unexpected_shape_is_a_nomad_error_naming_the_field(router):
    router.json("GET", "/v1/nodes", [{"ID": "n1"}])
    with pytest.raises(errors.NomadError, match="NodeListStub"):
        client(router).nodes()


def test_https_verifies_by_default():
    nomad = NomadClient(NomadConfig(address="https://nomad.example:4646"))
    # httpx keeps the SSL context on the pool of the default transport
    context = nomad._api._client._transport._pool._ssl_context
    import ssl

    assert context.verify_mode == ssl.CERT_REQUIRED
    assert context.check_hostname
    nomad.close()


def test_watch_over_the_client_follows_and_resets_the_index(router):
    from nomadctl.clients.blocking import watch

    def answer(index, ids):
        return httpx.Response(
            200, json=[{**ALLOC, "ID": i} for i in ids], headers={"X-Nomad-Index": str(index)}
        )

    router.add(
        "GET",
        "/v1/job/aliecs-env1/allocations",
        answer(10, ["a1"]),
        answer(10, ["a1"]),  # the wait ran out: nothing new
        answer(11, ["a1", "a2"]),
        answer(3, ["a1"]),  # a restored snapshot: the index went backwards
        answer(4, ["a3"]),
        answer(5, ["a3"]),
    )
    seen = []
    for allocs, index in watch(client(router).job_allocations, "aliecs-env1", wait=5):
        seen.append((index, [a.id for a in allocs]))
        if len(seen) == 4:
            break
    assert seen == [(10, ["a1"]), (11, ["a1", "a2"]), (4, ["a3"]), (5, ["a3"])]
    sent = [(r.url.params.get("index"), r.url.params.get("wait")) for r in router.requests]
    assert sent == [
        (None, None),
        ("10", "5000ms"),
        ("10", "5000ms"),
        ("11", "5000ms"),
        (None, None),
        ("4", "5000ms"),
    ]


def test_id_filter_selects_by_id_and_refuses_what_would_break_the_expression():
    from nomadctl.clients.nomad import id_filter

    assert id_filter(["a1", "b2"]) == 'ID == "a1" or ID == "b2"'
    with pytest.raises(ValueError, match="cannot be used"):
        id_filter(['a" or ID != "'])
    with pytest.raises(ValueError, match="at least one"):
        id_filter([])
