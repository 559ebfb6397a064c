"""Fixtures: a farm on a manual clock (time moves only through ``farm.advance``) and raw httpx clients."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from nomadctl.sim import ManualClock, NodeSpec, SimFarm, parse_node_spec


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def nodes() -> list[NodeSpec]:
    return parse_node_spec("n:4")


@pytest.fixture
def farm(clock: ManualClock, nodes: list[NodeSpec]) -> Iterator[SimFarm]:
    with SimFarm(nodes, seed=7, clock=clock, start_latency=0.5, heartbeat_grace=5.0) as f:
        yield f


@pytest.fixture
def nomad(farm: SimFarm) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=farm.nomad_addr, timeout=10) as c:
        yield c


@pytest.fixture
def consul(farm: SimFarm) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=farm.consul_addr, timeout=10) as c:
        yield c
