"""The controller's Consul KV pieces against the simulated farm's Consul (real HTTP, loopback):
records with check-and-set, the run-number counter, the event log, the environment lock."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from nomadctl.clients.config import ConsulConfig
from nomadctl.clients.consul import ConsulClient
from nomadctl.controller.errors import EnvironmentBusy, EnvironmentNotFound, RecordConflict
from nomadctl.controller.events import EventLog
from nomadctl.controller.locks import EnvLock, describe_holder
from nomadctl.controller.record import EnvRecord, Keys, RecordStore
from nomadctl.controller.runs import RunNumbers
from nomadctl.controller.settings import SYSTEM_CLOCK
from nomadctl.errors import LifecycleError
from nomadctl.lifecycle.events import EnvironmentEvent, Event
from nomadctl.lifecycle.state import Environment
from nomadctl.sim import SimFarm
from tests.controller.test_calls import FakeClock


@pytest.fixture(scope="module")
def consul() -> Iterator[ConsulClient]:
    with SimFarm([]) as farm, ConsulClient(ConsulConfig(address=farm.consul_addr)) as client:
        yield client


def new_record(env_id: str) -> EnvRecord:
    return EnvRecord(env_id, "wf", "/r", 1, "sha", 1, "me", Environment(env_id))


def test_records_use_check_and_set(consul: ConsulClient) -> None:
    store = RecordStore(consul, Keys("t1"))
    rec = store.create(new_record("e1"))
    assert rec.modify_index > 0
    moved = store.put(rec.with_(jobs=("a",)))
    assert moved.jobs == ("a",)
    assert moved.modify_index > rec.modify_index
    with pytest.raises(RecordConflict, match="check-and-set at index"):
        store.put(rec.with_(jobs=("b",)))  # written from a stale copy
    assert store.get("e1").jobs == ("a",)
    with pytest.raises(EnvironmentNotFound, match="no record at t1/envs/zz"):
        store.get("zz")
    # locks and events under the record's folder are not records
    consul.kv_put("t1/envs/e1/events/000000000001", "{}")
    store.create(new_record("e2"))
    assert [r.env_id for r in store.list()] == ["e1", "e2"]


def test_run_numbers_are_unique_under_contention(consul: ConsulClient) -> None:
    runs = RunNumbers(consul, "t2/run_number")
    got: list[int] = []
    lock = threading.Lock()

    def take() -> None:
        for _ in range(5):
            n = runs.allocate()
            with lock:
                got.append(n)

    threads = [threading.Thread(target=take) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(got) == list(range(1, 21))
    assert runs.last() == 20
    consul.kv_put("t2/run_number", "oops")
    with pytest.raises(LifecycleError, match="not a number"):
        runs.allocate()


def ev(message: str) -> Event:
    return Event(EnvironmentEvent("e1", message=message))


def test_event_log_appends_batches_and_follows(consul: ConsulClient) -> None:
    clock = FakeClock()
    heard: list[Event] = []
    log = EventLog(consul, Keys("t3"), "e1", clock=clock, listeners=[heard.append])
    log.append([ev("a"), ev("b")])
    other = EventLog(consul, Keys("t3"), "e1", clock=clock)  # a second writer (another controller)
    other.append([ev("c")])
    log.append([ev("d")])  # its cached sequence lost the race: it re-reads and goes on
    events, _ = log.read()
    assert [(s, e.payload.message) for s, e in events] == [(1, "a"), (1, "b"), (2, "c"), (3, "d")]  # type: ignore[union-attr]
    assert all(e.timestamp_ns == clock.now_ns() for _, e in events)
    assert [e.payload.message for e in heard] == ["a", "b", "d"]  # type: ignore[union-attr]
    # follow: what exists, then what is written while blocking
    stop = threading.Event()
    followed: list[str] = []

    def follow() -> None:
        for _, e in log.follow(after=2, stop=stop, wait=5):
            followed.append(e.payload.message)  # type: ignore[union-attr]
            if len(followed) == 2:
                stop.set()
                return

    t = threading.Thread(target=follow)
    t.start()
    other.append([ev("e")])
    t.join(10)
    assert followed == ["d", "e"]


def test_event_log_is_bounded(consul: ConsulClient) -> None:
    log = EventLog(consul, Keys("t4"), "e1", clock=FakeClock(), max_batches=10)
    for i in range(100):
        log.append([ev(str(i))])
    seqs = sorted({s for s, _ in log.read()[0]})
    assert seqs == list(range(91, 101))
    assert [e.payload.message for e in log.tail(2)] == ["98", "99"]  # type: ignore[union-attr]


def test_lock_is_exclusive_and_says_who_holds_it(consul: ConsulClient) -> None:
    key = "t5/envs/e1/lock"

    def lock(wait: float, who: str) -> EnvLock:
        return EnvLock(
            consul,
            key,
            env_id="e1",
            holder={"controller": who, "transition": "DEPLOY"},
            clock=SYSTEM_CLOCK,
            ttl=10,
            lock_delay=0,
            wait=wait,
            max_wait=1,
        )

    with lock(0, "c1"):
        assert describe_holder(consul, key)["controller"] == "c1"  # type: ignore[index]
        with pytest.raises(EnvironmentBusy, match="c1 is running DEPLOY"), lock(0, "c2"):
            pass
    assert describe_holder(consul, key) is None
    # a waiter gets the lock as soon as the holder lets go
    first = lock(0, "c1")
    first.acquire()
    got = threading.Event()

    def wait_for_it() -> None:
        with lock(10, "c2"):
            got.set()

    t = threading.Thread(target=wait_for_it)
    t.start()
    assert not got.is_set()
    first.release()
    t.join(10)
    assert got.is_set()
