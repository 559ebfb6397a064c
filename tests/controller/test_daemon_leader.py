"""Leader election among controller replicas (``controller.leader``) against the simulated farm's
Consul, whose session TTLs and lock-delays run on a manual clock: a dead leader's session expires
when the test moves time, never by waiting."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator

import pytest

from nomadctl.clients.config import ConsulConfig
from nomadctl.clients.consul import ConsulClient
from nomadctl.controller.leader import LeaderElection, LeadershipLost
from nomadctl.controller.settings import SYSTEM_CLOCK
from nomadctl.sim import ManualClock, SimFarm

KEY = "nomadctl/controller/leader"
TTL = 10.0


@pytest.fixture
def farm() -> Iterator[SimFarm]:
    with SimFarm([], clock=ManualClock(), seed=2) as f:
        yield f


@pytest.fixture
def consul(farm: SimFarm) -> Iterator[ConsulClient]:
    with ConsulClient(ConsulConfig(address=farm.consul_addr)) as client:
        yield client


class Replica:
    """One election on its own thread, with what it was told."""

    def __init__(self, consul: ConsulClient, name: str, *, lock_delay: float = 0.0) -> None:
        self.stop = threading.Event()
        self.lost: list[str] = []
        self.lost_event = threading.Event()
        self.elected = 0
        self.election = LeaderElection(
            consul,
            KEY,
            controller_id=name,
            clock=SYSTEM_CLOCK,
            ttl=TTL,
            lock_delay=lock_delay,
            max_wait=2.0,
            on_elected=self._elected,
            on_lost=self._lost,
        )
        self.thread = threading.Thread(target=self.election.run, args=(self.stop,), daemon=True)
        self.thread.start()

    def _elected(self) -> None:
        self.elected += 1

    def _lost(self, reason: str) -> None:
        self.lost.append(reason)
        self.lost_event.set()

    def close(self) -> None:
        self.stop.set()
        self.election.resign()
        self.thread.join(5)


@pytest.fixture
def replicas(consul: ConsulClient) -> Iterator[list[Replica]]:
    made: list[Replica] = []
    yield made
    for r in made:
        r.close()


def test_one_replica_leads_the_other_waits_and_writes_are_fenced(
    consul: ConsulClient, replicas: list[Replica]
) -> None:
    a = Replica(consul, "a")
    replicas.append(a)
    assert a.election.wait_leading(5)
    b = Replica(consul, "b")
    replicas.append(b)
    a.election.fence()  # the leader may write
    with pytest.raises(LeadershipLost):
        b.election.fence()
    entry = consul.kv_get(KEY).data
    assert entry is not None
    assert entry.session == a.election.session_id
    assert json.loads(entry.text or "{}")["controller"] == "a"
    assert not b.election.leading
    assert b.election.session_id is None


def test_a_replica_that_stops_hands_over_at_once(consul: ConsulClient, replicas: list[Replica]) -> None:
    a = Replica(consul, "a")
    replicas.append(a)
    assert a.election.wait_leading(5)
    b = Replica(consul, "b")
    replicas.append(b)
    a.close()  # resigns: releases the key, no TTL or lock-delay to wait for
    assert b.election.wait_leading(5)
    assert a.lost == ["stopping"]
    with pytest.raises(LeadershipLost):
        a.election.fence()


def test_a_dead_leader_is_replaced_when_its_session_expires(
    farm: SimFarm, consul: ConsulClient, replicas: list[Replica]
) -> None:
    a = Replica(consul, "a", lock_delay=1.0)
    replicas.append(a)
    assert a.election.wait_leading(5)
    b = Replica(consul, "b", lock_delay=1.0)
    replicas.append(b)
    session = a.election.session_id
    a.election.abandon()  # "killed": renews nothing, releases nothing
    assert consul.lock_holder(KEY) == session  # the key stays held until Consul expires the session
    assert not b.election.leading
    farm.advance(2 * TTL + 1.0 + 0.1)  # Consul's 2 x TTL grace, then the lock-delay
    assert b.election.wait_leading(5)
    assert consul.lock_holder(KEY) == b.election.session_id
    assert a.lost == []  # a dead replica is told nothing
    with pytest.raises(LeadershipLost):
        a.election.fence()


def test_a_leader_whose_key_is_deleted_stops_and_campaigns_again(
    consul: ConsulClient, replicas: list[Replica]
) -> None:
    a = Replica(consul, "a")
    replicas.append(a)
    assert a.election.wait_leading(5)
    first = a.election.session_id
    consul.kv_delete(KEY)  # an operator removes the key; the leader's blocking read returns
    assert a.lost_event.wait(5)
    assert a.lost[0] == "the leader key was released or deleted"
    assert a.election.wait_leading(5)  # nobody else campaigns: it leads again, with a new session
    assert a.election.terms == 2
    assert a.election.session_id != first


def test_a_destroyed_session_loses_the_leadership(consul: ConsulClient, replicas: list[Replica]) -> None:
    a = Replica(consul, "a")
    replicas.append(a)
    assert a.election.wait_leading(5)
    b = Replica(consul, "b")
    replicas.append(b)
    session = a.election.session_id
    assert session is not None
    consul.session_destroy(session)  # Consul releases the key; b takes it
    assert b.election.wait_leading(5)
    with pytest.raises(LeadershipLost):
        a.election.fence()
    assert a.lost_event.wait(5)  # told, by its blocking read of the key or by a failed renewal
