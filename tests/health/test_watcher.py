"""The health watcher: list (small list, then task states in batches), apply event frames,
re-list after a reconnect; driven step by step through its test hooks on an httpx MockTransport."""

from __future__ import annotations

import json
import threading

import httpx
import pytest

from nomadctl.clients import errors
from nomadctl.clients.config import NomadConfig
from nomadctl.clients.nomad import NomadClient
from nomadctl.clients.nomad_models import EventFrame
from nomadctl.clients.retry import RetryPolicy
from nomadctl.health.watcher import AllocWatcher, Change

JOB = "aliecs-e1-reco"


def task_states(state="running", restarts=0, failed=False):
    return {
        t: {"State": state, "Failed": failed, "Restarts": restarts, "Events": [{"Type": "Started"}]}
        for t in ("reco", "recv")
    }


def alloc(i, *, job=JOB, status="running", desired="run", index=10, node=None, tasks=True, **extra):
    a = {
        "ID": f"a{i:07d}-0000-0000-0000-000000000000",
        "JobID": job,
        "TaskGroup": "reco",
        "NodeID": node or f"n{i}",
        "NodeName": f"epn{i:03d}",
        "DesiredStatus": desired,
        "ClientStatus": status,
        "CreateIndex": 5,
        "ModifyIndex": index,
        "ModifyTime": 1_000 + index,
    }
    if tasks:
        a["TaskStates"] = task_states()
    a.update(extra)
    return a


def node(i, status="ready", index=3):
    return {"ID": f"n{i}", "Name": f"epn{i:03d}", "Status": status, "ModifyIndex": index}


def frame(index, *events):
    return {"Index": index, "Events": list(events)}


def alloc_event(a, type_="AllocationUpdated"):
    return {
        "Topic": "Allocation",
        "Type": type_,
        "Key": a["ID"],
        "Index": a["ModifyIndex"],
        "Payload": {"Allocation": a},
    }


def node_event(n, type_="NodeStreamEvent"):
    return {"Topic": "Node", "Type": type_, "Key": n["ID"], "Index": n["ModifyIndex"], "Payload": {"Node": n}}


class Lines(httpx.SyncByteStream):
    def __init__(self, lines, end=None):
        self.lines = lines
        self.end = end

    def __iter__(self):
        for line in self.lines:
            yield (json.dumps(line) + "\n").encode()
        if self.end is not None:
            raise self.end


class FakeNomad:
    """Answers /v1/nodes, /v1/allocations (with filters) and /v1/event/stream from its state."""

    def __init__(self, allocs, nodes, *, index=20):
        self.allocs = {a["ID"]: a for a in allocs}
        self.nodes = nodes
        self.index = index
        self.requests: list[httpx.Request] = []
        self.streams: list[list] = []  # one list of frames per connection

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        path = request.url.path
        headers = {"X-Nomad-Index": str(self.index)}
        if path == "/v1/nodes":
            return httpx.Response(200, json=self.nodes, headers=headers)
        if path == "/v1/allocations":
            flt = request.url.params.get("filter", "")
            wanted = [v.split('"')[1] for v in flt.split(" or ")]
            field = flt.split(" ")[0]
            out = []
            for stored in self.allocs.values():
                if stored[field] in wanted:
                    a = dict(stored)
                    if request.url.params.get("task_states") == "false":
                        a.pop("TaskStates", None)
                    out.append(a)
            return httpx.Response(200, json=out, headers=headers)
        if path == "/v1/event/stream":
            if not self.streams:
                raise AssertionError("no more stream connections scripted")
            frames = self.streams.pop(0)
            return httpx.Response(200, stream=Lines(frames, httpx.ReadTimeout("silence")))
        return httpx.Response(404, text="not found")

    def alloc_reads(self):
        return [r for r in self.requests if r.url.path == "/v1/allocations"]


def client(fake):
    return NomadClient(NomadConfig(), transport=httpx.MockTransport(fake), sleep=lambda s: None)


def collect():
    seen: list[Change] = []
    return seen, seen.append


def test_relist_reads_a_small_list_then_task_states_in_batches():
    allocs = [alloc(i) for i in range(5)] + [
        alloc(9, status="pending"),
        alloc(8, status="lost", desired="stop"),
        alloc(7, status="complete", desired="stop"),
    ]
    fake = FakeNomad(allocs, [node(i) for i in range(10)])
    seen, on_change = collect()
    w = AllocWatcher(client(fake), [JOB], on_change, batch=2)
    change = w.relist()
    reads = fake.alloc_reads()
    assert reads[0].url.params["task_states"] == "false"
    assert reads[0].url.params["filter"] == f'JobID == "{JOB}"'
    # 6 allocations need task states (running or pending), 2 per request; the lost one is kept
    # (it names the node that went away) without them; the completed one asked to stop is history
    assert len(reads) == 1 + 3
    assert all("task_states" not in r.url.params for r in reads[1:])
    assert sorted(change.allocs) == sorted(a["ID"] for a in allocs[:7])
    assert not change.allocs[allocs[6]["ID"]].detailed
    assert change.relisted
    assert change.changed == frozenset(change.allocs)
    assert change.allocs[allocs[0]["ID"]].view.tasks["reco"].state == "running"
    assert change.nodes["n3"].name == "epn003"
    assert seen == [change]
    assert w.index == 20


def test_task_views_are_shared_between_allocations():
    fake = FakeNomad([alloc(1), alloc(2)], [node(1), node(2)])
    w = AllocWatcher(client(fake), [JOB], lambda c: None)
    change = w.relist()
    a, b = (change.allocs[x].view for x in sorted(change.allocs))
    assert a.tasks["reco"] is b.tasks["reco"]


def test_an_allocation_gone_between_the_two_reads_is_dropped():
    fake = FakeNomad([alloc(1), alloc(2)], [node(1), node(2)])
    gone = alloc(2)["ID"]
    real = fake.__call__

    def vanish(request):
        if request.url.params.get("task_states") != "false" and request.url.path == "/v1/allocations":
            fake.allocs.pop(gone, None)
        return real(request)

    w = AllocWatcher(NomadClient(NomadConfig(), transport=httpx.MockTransport(vanish)), [JOB], lambda c: None)
    change = w.relist()
    assert gone not in change.allocs  # never judged without its task states


def test_frames_update_the_mirror_and_report_what_changed():
    a1, a2 = alloc(1), alloc(2)
    fake = FakeNomad([a1, a2], [node(1), node(2), node(7)])
    seen, on_change = collect()
    w = AllocWatcher(client(fake), [JOB], on_change)
    w.relist()
    lost = dict(a1, ClientStatus="unknown", ModifyIndex=30, ModifyTime=5_000)
    change = w.apply(
        EventFrame.model_validate(frame(30, node_event(node(1, "disconnected", 30)), alloc_event(lost)))
    )
    assert change is not None
    assert change.changed == {a1["ID"]}
    assert change.allocs[a1["ID"]].view.client_status == "unknown"
    assert change.nodes["n1"].status == "disconnected"
    assert change.reported_ns == 5_000
    assert change.trigger == "NodeStreamEvent,AllocationUpdated"
    assert w.index == 30
    # an event older than what the mirror holds (replayed after a list) changes nothing
    assert w.apply(EventFrame.model_validate(frame(31, alloc_event(dict(a1, ModifyIndex=25))))) is None
    assert w.allocs[a1["ID"]].view.client_status == "unknown"
    # another job's allocation, and a node none of ours is on: nothing to report
    other = alloc(3, job="aliecs-other", index=32)
    assert (
        w.apply(EventFrame.model_validate(frame(32, alloc_event(other), node_event(node(7, "down", 32)))))
        is None
    )
    assert other["ID"] not in w.allocs
    # the node of one of ours: reported as a change of that allocation
    change = w.apply(EventFrame.model_validate(frame(33, node_event(node(2, "down", 33)))))
    assert change is not None
    assert change.changed == {a2["ID"]}
    # a replaced allocation is history: it leaves the mirror
    replaced = dict(a2, NextAllocation="b", ClientStatus="lost", DesiredStatus="stop", ModifyIndex=34)
    change = w.apply(EventFrame.model_validate(frame(34, alloc_event(replaced))))
    assert change is not None
    assert a2["ID"] not in change.allocs
    # a deregistered node is forgotten, and the allocation on it reported
    change = w.apply(
        EventFrame.model_validate(frame(35, node_event(node(1, index=35), "NodeDeregistration")))
    )
    assert change is not None
    assert change.changed == {a1["ID"]}
    assert "n1" not in w.nodes
    assert len(seen) == 5  # the list and four reported frames


def test_run_lists_streams_and_relists_after_every_reconnect():
    a1 = alloc(1)
    fake = FakeNomad([a1], [node(1)], index=20)
    fake.streams = [
        [frame(21, alloc_event(dict(a1, ModifyIndex=21, TaskStates=task_states("pending", restarts=1))))],
        [frame(22, alloc_event(dict(a1, ModifyIndex=22, TaskStates=task_states(restarts=2))))],
    ]
    stop = threading.Event()
    seen: list[Change] = []
    restarts: list[int] = []

    def on_change(change):
        seen.append(change)
        # the mirror is live: read it during the callback
        restarts.append(change.allocs[a1["ID"]].view.tasks["reco"].restarts)
        if change.index == 22:
            stop.set()

    w = AllocWatcher(client(fake), [JOB], on_change)
    w.run(stop)
    kinds = [(c.relisted, c.index) for c in seen]
    # list, frame 21, (connection cut: reconnect) re-list, frame 22
    assert kinds == [(True, 20), (False, 21), (True, 20), (False, 22)]
    assert restarts == [0, 1, 0, 2]
    streams = [r for r in fake.requests if r.url.path == "/v1/event/stream"]
    assert streams[0].url.params["index"] == "21"  # snapshot index + 1
    assert streams[1].url.params["index"] == "22"  # resumes after the last frame
    assert streams[0].url.params.get_list("topic") == [f"Allocation:{JOB}", "Node:*"]
    assert w.lists == 2


def test_run_raises_what_no_retry_can_fix():
    def forbidden(request):
        return httpx.Response(403, text="Permission denied")

    nomad = NomadClient(
        NomadConfig(), transport=httpx.MockTransport(forbidden), retry=RetryPolicy(attempts=1)
    )
    w = AllocWatcher(nomad, [JOB], lambda c: None)
    with pytest.raises(errors.NomadForbidden):
        w.run(threading.Event())


def test_job_ids_that_cannot_be_filtered_are_refused():
    with pytest.raises(ValueError):
        AllocWatcher(client(FakeNomad([], [])), ['bad"job'], lambda c: None)
    with pytest.raises(ValueError):
        AllocWatcher(client(FakeNomad([], [])), [], lambda c: None)
