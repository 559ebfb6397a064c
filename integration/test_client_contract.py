"""The client contract: what nomadctl relies on from Nomad and Consul, through the real clients.

Written to pass against real agents (``nomad agent -dev``, ``consul agent -dev``) and run the same
against the simulated farm, so the farm is held to real shapes. Waiting is done with blocking
queries (the behaviour under test), bounded by deadlines; nothing sleeps.
"""

from __future__ import annotations

import contextlib
import re
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest

from nomadctl.clients import errors
from nomadctl.clients.blocking import next_index
from nomadctl.clients.retry import RetryPolicy

DEADLINE = 30.0


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def sleep_job(job_id: str, count: int = 1) -> dict[str, Any]:
    """A tiny raw_exec service job, as nomadctl.jobspec would emit it (API JSON, ns durations)."""
    return {
        "Job": {
            "ID": job_id,
            "Name": job_id,
            "Type": "service",
            "Datacenters": ["*"],
            "Meta": {"nomadctl.env": job_id},
            "TaskGroups": [
                {
                    "Name": "g",
                    "Count": count,
                    # max_parallel = 0: no deployment, so scaling is not blocked by one
                    "Update": {"MaxParallel": 0},
                    "EphemeralDisk": {"SizeMB": 110},
                    "Tasks": [
                        {
                            "Name": "sleep",
                            "Driver": "raw_exec",
                            "Config": {"command": "/bin/sleep", "args": ["600"]},
                            "Resources": {"CPU": 20, "MemoryMB": 20},
                            "KillTimeout": 1_000_000_000,
                        }
                    ],
                }
            ],
        }
    }


def wait_for(read: Callable[..., Any], predicate: Callable[[Any], bool], what: str, *, wait: float = 1.0):
    """Blocking-query loop until ``predicate(data)``; fails after ``DEADLINE`` seconds."""
    deadline = time.monotonic() + DEADLINE
    index = 0
    while True:
        data, returned = read(index=index, wait=wait)
        if predicate(data):
            return data
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}; last answer: {data!r}"[:2000])
        index = next_index(index, returned)


def sim_disagrees(backend, request, what: str) -> None:
    """Mark this test as a known disagreement of the simulated farm with real Nomad/Consul.

    Strict: once the farm is fixed the test passes, the xfail turns into a failure, and this
    call must be removed.
    """
    if backend.name == "sim":
        request.applymarker(pytest.mark.xfail(strict=True, reason=f"sim disagrees with real agents: {what}"))


@pytest.fixture
def job_id(backend):
    nomad = backend.nomad()
    job = unique("nomadctl-contract")
    yield job
    with contextlib.suppress(errors.NomadError):
        nomad.deregister_job(job, purge=True)


# --- Nomad --------------------------------------------------------------------------------------


def test_agent_reports_a_version(backend):
    version = backend.nomad().agent_self().version
    assert re.match(r"^\d+\.\d+\.\d+", version), version


def test_nodes_are_listed_ready_and_readable_one_by_one(backend):
    nomad = backend.nomad()
    nodes, index = nomad.nodes(resources=True)
    assert index > 0
    ready = [n for n in nodes if n.status == "ready"]
    assert ready
    first = ready[0]
    assert first.scheduling_eligibility == "eligible"
    assert first.node_pool
    assert first.node_resources is not None
    assert first.node_resources.cpu.cpu_shares > 0
    assert first.node_resources.memory.memory_mb > 0
    assert "raw_exec" in first.drivers
    assert first.drivers["raw_exec"].healthy
    node, _ = nomad.node(first.id)
    assert (node.id, node.name, node.status) == (first.id, first.name, "ready")
    with pytest.raises(errors.NomadNotFound):
        nomad.node(str(uuid.uuid4()))


def test_register_plan_scale_deregister(backend, job_id):
    nomad = backend.nomad()
    payload = sleep_job(job_id)

    plan = nomad.plan_job(payload)
    assert plan.placeable, plan.failed_tg_allocs
    assert plan.diff is not None
    assert plan.diff.type == "Added"
    assert plan.annotations is not None
    assert plan.annotations.desired_tg_updates["g"].place == 1

    registered = nomad.register_job(payload, check_index=0)
    assert registered.eval_id
    assert registered.job_modify_index > 0
    with pytest.raises(errors.NomadConflict):
        nomad.register_job(payload, check_index=0)  # create-only: it exists now

    evaluation = nomad.evaluation(registered.eval_id)
    assert evaluation.job_id == job_id

    allocs = wait_for(
        lambda index, wait: nomad.job_allocations(job_id, index=index, wait=wait),
        lambda data: any(a.client_status == "running" for a in data),
        "the allocation to run",
    )
    alloc = next(a for a in allocs if a.client_status == "running")
    assert alloc.job_id == job_id
    assert alloc.task_group == "g"
    assert alloc.desired_status == "run"
    assert alloc.task_states["sleep"].state == "running"
    assert alloc.task_states["sleep"].started_at is not None
    full = nomad.allocation(alloc.id)
    assert full.node_id == alloc.node_id

    job, _ = nomad.job(job_id)
    assert job.id == job_id
    assert job.meta["nomadctl.env"] == job_id
    assert [g.name for g in job.task_groups] == ["g"]

    same = nomad.plan_job(payload)
    assert same.diff is not None
    assert same.diff.type == "None"  # nothing changed

    nomad.scale_job(job_id, "g", 2, message="contract test")
    status = wait_for(
        lambda index, wait: nomad.job_scale_status(job_id, index=index, wait=wait),
        lambda data: data.task_groups["g"].running == 2,
        "two running allocations after scaling",
    )
    assert status.task_groups["g"].desired == 2
    versions = nomad.job_versions(job_id)
    assert [v.version for v in versions][:2] == [1, 0]
    assert versions[0].task_groups[0].count == 2

    listed, _ = nomad.jobs(prefix=job_id)
    assert [j.id for j in listed] == [job_id]
    assert listed[0].meta.get("nomadctl.env") == job_id

    stopped = nomad.deregister_job(job_id, purge=True)
    assert stopped.eval_id
    with pytest.raises(errors.NomadNotFound):
        nomad.job(job_id)


def test_the_watchers_two_step_list_reads_task_states_by_id(backend, job_id):
    # what a health watcher relies on: a light list by job, then task states by allocation ID,
    # briefly (without events), filtered on fields other than the task states
    nomad = backend.nomad()
    nomad.register_job(sleep_job(job_id, count=2))
    wait_for(
        lambda index, wait: nomad.job_allocations(job_id, index=index, wait=wait),
        lambda data: sum(a.client_status == "running" for a in data) == 2,
        "two running allocations",
    )
    light, index = nomad.allocations(filter=f'JobID == "{job_id}"', task_states=False)
    assert index > 0
    assert len(light) == 2
    assert all(a.task_states == {} for a in light)
    ids = sorted(a.id for a in light)
    briefs, _ = nomad.allocation_briefs(filter=f'ID == "{ids[0]}" or ID == "{ids[1]}"')
    assert sorted(b.id for b in briefs) == ids
    full = {a.id: a for a in nomad.job_allocations(job_id).data}
    for brief in briefs:
        state = brief.task_states["sleep"]
        assert state.state == "running"
        assert not state.failed
        assert state.started_at == full[brief.id].task_states["sleep"].started_at
        assert full[brief.id].task_states["sleep"].events  # Nomad sent them; the brief left them out
        assert not hasattr(state, "events")
    # Nomad judges a filter on the allocation itself, whatever the answer leaves out
    running, _ = nomad.allocations(
        filter=f'JobID == "{job_id}" and TaskStates.sleep.State == "running"', task_states=False
    )
    assert sorted(a.id for a in running) == ids


def test_deregistering_a_missing_job_succeeds(backend, request):
    # nomad/job_endpoint.go Job.Deregister: "if job == nil { return nil }" -> 200, empty EvalID
    stopped = backend.nomad().deregister_job(unique("nomadctl-missing"), purge=True)
    assert stopped.eval_id == ""


def test_invalid_job_is_a_bad_request_not_retried(backend, job_id):
    calls: list[float] = []
    nomad = backend.nomad(sleep=calls.append)
    payload = sleep_job(job_id)
    payload["Job"]["TaskGroups"][0]["Tasks"][0]["Driver"] = ""
    with pytest.raises(errors.NomadBadRequest):
        nomad.register_job(payload)
    assert calls == []


def test_missing_job_is_not_found(backend):
    with pytest.raises(errors.NotFound) as info:
        backend.nomad().job("nomadctl-no-such-job")
    assert info.value.status == 404


def test_blocking_query_returns_on_change_and_holds_without_one(backend, job_id):
    nomad = backend.nomad()
    before, index = nomad.job_allocations(job_id)
    assert before == []
    nomad.register_job(sleep_job(job_id))
    started = time.monotonic()
    _, new_index = nomad.job_allocations(job_id, index=index, wait=20)
    assert new_index > index  # answered because something changed, not because the wait ran out
    assert time.monotonic() - started < 20

    settled = wait_for(
        lambda index, wait: nomad.job_allocations(job_id, index=index, wait=wait),
        lambda data: len(data) == 1 and data[0].client_status == "running",
        "the allocation to run",
    )
    assert settled[0].job_id == job_id
    _, latest = nomad.job_allocations(job_id)
    started = time.monotonic()
    unchanged, same = nomad.job_allocations(job_id, index=latest, wait=0.5)
    held = time.monotonic() - started
    assert same >= latest
    if same == latest:  # on a busy shared cluster another job's allocation may wake it earlier
        assert held >= 0.4  # the server held the query for (about) the wait
        assert [a.id for a in unchanged] == [a.id for a in settled]


def test_event_stream_delivers_job_and_allocation_events(backend, job_id):
    nomad = backend.nomad()
    _, index = nomad.jobs()
    stream = nomad.events(
        {"Job": [job_id], "Allocation": [job_id]}, index=index + 1, retry=RetryPolicy(attempts=2)
    )
    seen: list[tuple[str, str, str]] = []
    failure: list[BaseException] = []

    def consume() -> None:
        try:
            for frame in stream:
                for event in frame.events:
                    seen.append((event.topic, event.type, event.key))
                    if event.topic == "Allocation":
                        alloc = event.allocation()
                        assert alloc is not None
                        assert alloc.job_id == job_id
                if any(t == "Job" for t, _, _ in seen) and any(t == "Allocation" for t, _, _ in seen):
                    return
        except BaseException as exc:  # reported to the test thread
            failure.append(exc)

    consumer = threading.Thread(target=consume, daemon=True)
    consumer.start()
    nomad.register_job(sleep_job(job_id))
    consumer.join(timeout=DEADLINE)
    stream.close()
    assert not failure, failure
    assert ("Job", "JobRegistered", job_id) in seen, seen
    assert any(t == "Allocation" for t, _, _ in seen), seen
    assert stream.last_index > index


# --- Consul -------------------------------------------------------------------------------------


@pytest.fixture
def prefix(backend):
    consul = backend.consul()
    root = unique("nomadctl-contract") + "/"
    yield root
    consul.kv_delete(root, recurse=True)


def test_kv_check_and_set(backend, prefix):
    consul = backend.consul()
    key = prefix + "state/env1"
    assert consul.kv_get(key).data is None
    consul.kv_put(key, '{"state":"STANDBY"}', cas=0)
    with pytest.raises(errors.ConsulConflict):
        consul.kv_put(key, "other", cas=0)
    entry, index = consul.kv_get(key)
    assert entry is not None
    assert entry.text == '{"state":"STANDBY"}'
    assert index >= entry.modify_index > 0
    consul.kv_put(key, '{"state":"DEPLOYED"}', cas=entry.modify_index)
    with pytest.raises(errors.Conflict):
        consul.kv_put(key, "stale", cas=entry.modify_index)
    assert consul.kv_get(key).data.text == '{"state":"DEPLOYED"}'


def test_kv_list_keys_and_blocking_read(backend, prefix):
    consul = backend.consul()
    for name in ("b", "a", "sub/c"):
        consul.kv_put(prefix + name, name.upper())
    assert consul.kv_keys(prefix) == [prefix + "a", prefix + "b", prefix + "sub/c"]
    assert consul.kv_keys(prefix, separator="/") == [prefix + "a", prefix + "b", prefix + "sub/"]
    entries, _ = consul.kv_list(prefix)
    assert [(e.key, e.text) for e in entries] == [
        (prefix + "a", "A"),
        (prefix + "b", "B"),
        (prefix + "sub/c", "SUB/C"),
    ]

    _, index = consul.kv_get(prefix + "a")
    consul.kv_put(prefix + "a", "A2")
    changed, new_index = consul.kv_get(prefix + "a", index=index, wait=10)
    assert new_index > index
    assert changed is not None
    assert changed.text == "A2"
    started = time.monotonic()
    _, same = consul.kv_get(prefix + "a", index=new_index, wait=0.5)
    assert same == new_index
    assert time.monotonic() - started >= 0.4


def test_sessions_and_locks(backend, prefix):
    consul = backend.consul()
    key = prefix + "lock/env1"
    first = consul.lock(key, name="nomadctl-contract-a", ttl=10, lock_delay=0)
    second = consul.lock(key, name="nomadctl-contract-b", ttl=10, lock_delay=0)
    try:
        assert first.acquire(b"controller-a")
        assert first.held()
        assert consul.lock_holder(key) == first.session_id
        assert not second.acquire(b"controller-b")
        first.renew()
        info = consul.session_info(first.session_id)
        assert info is not None
        assert info["TTL"] == "10s"
        assert info["Behavior"] == "release"
        first.release()
        assert consul.lock_holder(key) is None
        assert second.acquire(b"controller-b")
        assert consul.kv_get(key).data.text == "controller-b"
        # a destroyed session cannot be renewed, and its lock is gone
        consul.session_destroy(second.session_id)
        with pytest.raises(errors.ConsulNotFound):
            second.renew()
        assert consul.lock_holder(key) is None
    finally:
        first.release()
        second.session_id = None


def test_catalog_and_health_of_an_agent_service(backend, request):
    sim_disagrees(
        backend,
        request,
        "no agent endpoints: PUT /v1/agent/service/register, /v1/agent/service/deregister/:id and "
        "/v1/agent/check/pass/:id answer 404",
    )
    consul = backend.consul()
    name = unique("nomadctl-contract")
    check_id = consul.register_service(name, port=4242, tags=["aliecs", "env-e1"], meta={"env": "e1"}, ttl=30)
    assert check_id == f"service:{name}"
    try:
        # the agent syncs local registrations to the catalog asynchronously: watch for it
        services = wait_for(
            lambda index, wait: consul.catalog_services(index=index, wait=wait),
            lambda data: name in data,
            "the service in the catalog",
        )
        assert set(services[name]) == {"aliecs", "env-e1"}
        (entry,), _ = consul.catalog_service(name)
        assert entry.service_port == 4242
        assert entry.service_meta == {"env": "e1"}

        all_instances, _ = consul.health_service(name)
        assert len(all_instances) == 1
        assert not all_instances[0].passing  # a TTL check starts critical
        assert consul.health_service(name, passing=True).data == []

        consul.pass_ttl_check(check_id)
        passing = wait_for(
            lambda index, wait: consul.health_service(name, passing=True, index=index, wait=wait),
            lambda data: len(data) == 1,
            "the service to pass its check",
        )
        assert passing[0].service.tags == ["aliecs", "env-e1"]
        assert passing[0].passing
        checks, _ = consul.health_checks(name)
        assert [c.status for c in checks if c.check_id == check_id] == ["passing"]
    finally:
        consul.deregister_service(name)
    wait_for(
        lambda index, wait: consul.catalog_service(name, index=index, wait=wait),
        lambda data: data == [],
        "the service to leave the catalog",
    )


def service_job(job_id: str, service: str) -> dict[str, Any]:
    """A raw_exec job whose group registers a Consul service with a TCP check on a dynamic port
    (the task listens on it), as nomadctl.jobspec maps a TCP bind channel."""
    payload = sleep_job(job_id)
    group = payload["Job"]["TaskGroups"][0]
    group["Networks"] = [{"DynamicPorts": [{"Label": "data"}]}]
    group["Services"] = [
        {
            "Name": service,
            "PortLabel": "data",
            "Provider": "consul",
            "Tags": ["aliecs", f"env-{job_id}"],
            "Meta": {"nomadctl_env": job_id, "channel": "data"},
            "Checks": [
                {
                    "Name": "data-tcp",
                    "Type": "tcp",
                    "PortLabel": "data",
                    "Interval": 1_000_000_000,
                    "Timeout": 1_000_000_000,
                }
            ],
        }
    ]
    group["Tasks"][0]["Config"] = {
        "command": "/bin/sh",
        "args": ["-c", "exec python3 -m http.server --bind 127.0.0.1 ${NOMAD_PORT_data}"],
    }
    return payload


def test_nomad_group_service_in_consul_catalog_and_health(backend, job_id):
    if not backend.nomad_registers_in_consul:
        pytest.skip(f"{backend.name}: Nomad and Consul are not known to be connected")
    nomad, consul = backend.nomad(), backend.consul()
    service = unique("nomadctl-contract-svc")
    nomad.register_job(service_job(job_id, service))
    healthy = wait_for(
        lambda index, wait: consul.health_service(service, passing=True, index=index, wait=wait),
        lambda data: len(data) == 1,
        "the Nomad-registered service to pass its TCP check",
    )
    (instance,) = healthy
    allocs, _ = nomad.job_allocations(job_id)
    assert instance.service.id.startswith(f"_nomad-task-{allocs[0].id}-")
    assert instance.service.tags == ["aliecs", f"env-{job_id}"]
    assert instance.service.meta["nomadctl_env"] == job_id
    assert instance.service.meta["external-source"] == "nomad"
    assert instance.service.port > 0
    assert instance.passing
    (entry,), _ = consul.catalog_service(service)
    assert entry.service_id == instance.service.id
    nomad.deregister_job(job_id, purge=True)
    wait_for(
        lambda index, wait: consul.catalog_service(service, index=index, wait=wait),
        lambda data: data == [],
        "the service to leave the catalog with its allocation",
    )


# --- simulated farm only: faults the contract must survive -----------------------------------------


def test_api_errors_are_retried_transparently(backend):
    if backend.farm is None:
        pytest.skip("fault injection needs the simulated farm")
    nomad = backend.nomad(sleep=lambda s: None, retry=RetryPolicy(attempts=10, max_total_wait=1000))
    backend.farm.faults.api_errors(rate=0.5, kind="5xx", seed=1)
    try:
        for _ in range(10):
            nodes, _ = nomad.nodes()
            assert nodes
    finally:
        backend.farm.faults.clear()


def test_node_down_shows_in_node_status(backend):
    if backend.farm is None:
        pytest.skip("fault injection needs the simulated farm")
    nomad = backend.nomad()
    backend.farm.faults.node_down("flp002")
    try:
        nodes = wait_for(
            lambda index, wait: nomad.nodes(index=index, wait=wait),
            lambda data: any(n.name == "flp002" and n.status == "down" for n in data),
            "flp002 to be down",
        )
        assert any(n.name == "flp001" and n.status == "ready" for n in nodes)
    finally:
        backend.farm.faults.node_up("flp002")
