"""Helpers shared by the farm tests."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import httpx

from nomadctl.sim import SimFarm


def make_job(
    job_id: str = "web", *, count: int = 2, type_: str = "service", tasks: int = 1, **group: Any
) -> dict[str, Any]:
    """A minimal API-JSON job (``{"Job": ...}``) with one group of ``tasks`` raw_exec tasks."""
    g: dict[str, Any] = {
        "Name": "g",
        "Count": count,
        "Tasks": [
            {
                "Name": f"t{i}",
                "Driver": "raw_exec",
                "Config": {"command": "/bin/true"},
                "Resources": {"CPU": 100, "MemoryMB": 64},
            }
            for i in range(tasks)
        ],
    }
    g.update(group)
    return {"Job": {"ID": job_id, "Type": type_, "Datacenters": ["dc1"], "TaskGroups": [g]}}


def allocs(nomad: httpx.Client, job: str = "web", **params: Any) -> list[dict[str, Any]]:
    r = nomad.get(f"/v1/job/{job}/allocations", params=params)
    r.raise_for_status()
    return r.json()


def parked(farm: SimFarm, fn: Callable[[], Any], n: int = 1) -> tuple[threading.Thread, list[Any]]:
    """Run ``fn`` (a blocking request) in a thread and return once ``n`` queries are parked."""
    out: list[Any] = []
    t = threading.Thread(target=lambda: out.append(fn()), daemon=True)
    t.start()
    deadline = time.monotonic() + 5
    while farm.engine.store.waiters < n:
        assert t.is_alive(), "the request returned instead of blocking"
        assert time.monotonic() < deadline, "the request never parked"
        time.sleep(0.005)
    return t, out
