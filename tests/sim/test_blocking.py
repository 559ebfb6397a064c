"""Blocking queries: ``?index=&wait=`` hold until the watched data changes or the wait ends."""

from __future__ import annotations

import time

import httpx
import pytest

from nomadctl.sim import SimFarm
from tests.sim.helpers import make_job, parked


def test_blocking_job_allocations_returns_on_change(farm: SimFarm, nomad: httpx.Client) -> None:
    nomad.post("/v1/jobs", json=make_job())
    farm.advance(0)
    r = nomad.get("/v1/job/web/allocations")
    index = int(r.headers["X-Nomad-Index"])
    with httpx.Client(base_url=farm.nomad_addr, timeout=10) as other:
        t, out = parked(
            farm, lambda: other.get("/v1/job/web/allocations", params={"index": index, "wait": "5s"})
        )
        farm.advance(0.5)  # tasks start: the allocations change
        t.join(5)
    assert not t.is_alive()
    resp = out[0]
    assert int(resp.headers["X-Nomad-Index"]) > index
    assert {a["ClientStatus"] for a in resp.json()} == {"running"}


def test_blocking_query_times_out_with_the_same_index(farm: SimFarm, nomad: httpx.Client) -> None:
    nomad.post("/v1/jobs", json=make_job())
    farm.advance(1)
    index = int(nomad.get("/v1/job/web/allocations").headers["X-Nomad-Index"])
    r = nomad.get("/v1/job/web/allocations", params={"index": index, "wait": "100ms"})
    assert r.status_code == 200
    assert int(r.headers["X-Nomad-Index"]) == index


def test_blocking_on_one_job_ignores_other_jobs(farm: SimFarm, nomad: httpx.Client) -> None:
    nomad.post("/v1/jobs", json=make_job("a"))
    farm.advance(1)
    index = int(nomad.get("/v1/job/a/allocations").headers["X-Nomad-Index"])
    with httpx.Client(base_url=farm.nomad_addr, timeout=10) as other:
        t, out = parked(
            farm, lambda: other.get("/v1/job/a/allocations", params={"index": index, "wait": "5s"})
        )
        nomad.post("/v1/jobs", json=make_job("b"))
        farm.advance(1)
        t.join(0.2)
        assert t.is_alive()  # job b's allocations changed, job a's did not: still parked
        farm.faults.kill_task(farm.find_alloc("a", "g", 0), "t0")
        t.join(5)
    assert int(out[0].headers["X-Nomad-Index"]) > index
    assert {a["JobID"] for a in out[0].json()} == {"a"}


def test_old_index_answers_at_once(farm: SimFarm, nomad: httpx.Client) -> None:
    nomad.post("/v1/jobs", json=make_job())
    farm.advance(1)
    t0 = time.monotonic()
    r = nomad.get("/v1/job/web/allocations", params={"index": 1, "wait": "5s"})
    assert time.monotonic() - t0 < 2
    assert int(r.headers["X-Nomad-Index"]) > 1


@pytest.mark.parametrize(
    ("params", "text"),
    [({"index": "x"}, "Invalid index"), ({"index": "1", "wait": "5"}, "Invalid wait time")],
)
def test_bad_blocking_parameters_are_400(nomad: httpx.Client, params: dict[str, str], text: str) -> None:
    r = nomad.get("/v1/nodes", params=params)
    assert r.status_code == 400
    assert r.text == text
