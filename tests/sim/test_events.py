"""The event stream: NDJSON frames, topics, namespaces, index resume, the bounded buffer, heartbeats."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from nomadctl.sim import ManualClock, SimFarm, parse_node_spec
from tests.sim.helpers import make_job


def _frames(
    farm: SimFarm, params: dict[str, Any], n: int, *, heartbeats: bool = False
) -> list[dict[str, Any]]:
    """Read ``n`` frames (skipping ``{}`` heartbeats unless asked) from a fresh stream."""
    out: list[dict[str, Any]] = []
    with httpx.stream("GET", f"{farm.nomad_addr}/v1/event/stream", params=params, timeout=5) as r:
        assert r.status_code == 200
        assert r.headers["content-type"] == "application/json"
        for line in r.iter_lines():
            frame = json.loads(line)
            if frame or heartbeats:
                out.append(frame)
            if len(out) >= n:
                break
    return out


def test_frames_carry_index_and_events_of_the_asked_topic(farm: SimFarm, nomad: httpx.Client) -> None:
    nomad.post("/v1/jobs", json=make_job())
    farm.advance(1)
    frames = _frames(farm, {"topic": "Allocation:web", "index": 1}, 3)
    assert [f["Index"] for f in frames] == sorted(f["Index"] for f in frames)
    ev = frames[0]["Events"][0]
    assert ev["Topic"] == "Allocation"
    assert ev["Type"] == "PlanResult"
    assert ev["Namespace"] == "default"
    assert "web" in ev["FilterKeys"]
    assert ev["Index"] == frames[0]["Index"]
    assert ev["Payload"]["Allocation"]["JobID"] == "web"
    assert ev["Payload"]["Allocation"]["Job"] is None  # alloc events carry no job
    types = [e["Type"] for f in frames for e in f["Events"]]
    assert "AllocationUpdated" in types
    assert all(e["Topic"] == "Allocation" for f in frames for e in f["Events"])


def test_topic_key_filters_other_jobs_and_other_topics(farm: SimFarm, nomad: httpx.Client) -> None:
    nomad.post("/v1/jobs", json=make_job("a"))
    nomad.post("/v1/jobs", json=make_job("b"))
    farm.advance(1)
    frames = _frames(farm, {"topic": ["Job:b", "Node"], "index": 1}, 6)
    keys = {(e["Topic"], e["Key"]) for f in frames for e in f["Events"]}
    assert ("Job", "b") in keys
    assert not any(t == "Job" and k == "a" for t, k in keys)
    assert {t for t, _ in keys} <= {"Job", "Node"}


def test_resume_starts_at_the_asked_index(farm: SimFarm, nomad: httpx.Client) -> None:
    nomad.post("/v1/jobs", json=make_job())
    farm.advance(1)
    all_frames = _frames(farm, {"topic": "Allocation", "index": 1}, 3)
    second = all_frames[1]["Index"]
    resumed = _frames(farm, {"topic": "Allocation", "index": second}, 1)
    assert resumed[0]["Index"] == second  # inclusive, as StartAtClosest


def test_index_beyond_the_newest_redelivers_the_newest(farm: SimFarm, nomad: httpx.Client) -> None:
    nomad.post("/v1/jobs", json=make_job())
    farm.advance(1)
    newest = farm.engine.store.events.tail
    assert newest is not None
    (frame,) = _frames(farm, {"index": newest.index + 50}, 1)
    assert frame["Index"] == newest.index


def test_namespace_filter(farm: SimFarm, nomad: httpx.Client) -> None:
    nomad.post("/v1/jobs", json=make_job("x"), params={"namespace": "online"})
    nomad.post("/v1/jobs", json=make_job("y"))
    farm.advance(1)
    frames = _frames(farm, {"topic": "Job", "index": 1, "namespace": "online"}, 1)
    assert {e["Namespace"] for f in frames for e in f["Events"]} == {"online"}


def test_the_buffer_is_bounded_and_old_events_are_skipped_silently() -> None:
    farm = SimFarm(parse_node_spec("n:2"), seed=1, clock=ManualClock(), event_buffer_size=5)
    with farm, httpx.Client(base_url=farm.start().nomad_addr) as c:
        for i in range(8):
            c.post("/v1/jobs", json=make_job(f"j{i}", count=1))
        farm.advance(1)
        assert farm.engine.store.events.count == 5
        oldest = farm.engine.store.events.head
        assert oldest is not None
        (frame,) = _frames(farm, {"index": 1}, 1)
        assert frame["Index"] == oldest.index > 1


@pytest.fixture
def fast_beats() -> Iterator[SimFarm]:
    with SimFarm(parse_node_spec("n:1"), seed=1, heartbeat_interval=0.05) as farm:
        yield farm


def test_heartbeats_are_empty_objects(fast_beats: SimFarm) -> None:
    frames = _frames(fast_beats, {"topic": "Job"}, 2, heartbeats=True)
    assert frames == [{}, {}]


def test_bad_topic_and_index_are_400(nomad: httpx.Client) -> None:
    assert nomad.get("/v1/event/stream", params={"topic": "a:b:c"}).status_code == 400
    assert nomad.get("/v1/event/stream", params={"index": "x"}).status_code == 400
