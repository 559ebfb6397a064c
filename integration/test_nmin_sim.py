"""NMIN end to end on the simulated farm: fault injection against the controller daemon.

The environment is the EPN example (``examples/workflows/epn-processing.yaml``) with n = 10 and
m = 2 (nmin = 8): a replicated ``reco`` group on exactly ten GPU nodes (so a lost replica cannot be
replaced elsewhere) and a ``qc001`` host group. The daemon runs in-process on the farm's loopback
Nomad and Consul, through the real clients; waits are blocking reads of the environment's event
log (``Controller.watch``) or the daemon's decision listener, each bounded.
"""

from __future__ import annotations

import json
import math
import os
import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from nomadctl.cli import cli
from nomadctl.clients.config import ConsulConfig, NomadConfig
from nomadctl.clients.consul import ConsulClient
from nomadctl.clients.nomad import NomadClient
from nomadctl.controller.daemon import Daemon, DaemonSettings
from nomadctl.controller.enforce import Decided
from nomadctl.controller.errors import PlacementRefused
from nomadctl.controller.health_record import DONE, HealthRecord, HealthStore
from nomadctl.controller.model import CreateRequest
from nomadctl.controller.service import Controller
from nomadctl.controller.settings import Settings
from nomadctl.lifecycle.events import EnvironmentEvent, OpStatus
from nomadctl.sim import NodeSpec, SimFarm, parse_node_spec

ROOT = Path(__file__).resolve().parents[1]
EPN = "epn:{n}:gpus=1:pool=epn:cpu=64000:memory=262144"
TTL = 10.0
LOCK_DELAY = 1.0


class JumpClock:
    """The farm's clock: real time, plus jumps (a dead leader's session expires without waiting
    its 2 x TTL). Implements ``nomadctl.sim.clock.Clock``."""

    manual = False

    def __init__(self) -> None:
        self.offset = 0.0

    def monotonic(self) -> float:
        return time.monotonic() + self.offset

    def wall_ns(self) -> int:
        return time.time_ns() + int(self.offset * 1e9)

    def jump(self, farm: SimFarm, seconds: float) -> None:
        self.offset += seconds
        with farm.engine.lock:  # wake the engine: timers fell due
            farm.engine.cond.notify_all()


def make_farm(epns: int = 10, *, clock: JumpClock | None = None) -> SimFarm:
    nodes = [*parse_node_spec(EPN.format(n=epns)), NodeSpec(name="qc001", cpu_mhz=64000, memory_mb=262144)]
    # stream heartbeats every 0.5 s, so a closed watcher notices at once (Nomad: every 30 s)
    farm = SimFarm(
        nodes, start_latency=0.02, heartbeat_grace=0.3, heartbeat_interval=0.5, seed=11, clock=clock
    ).start()
    farm.faults.task_behaviour("aliecs-*-run-*", duration=math.inf)  # run-scoped tasks keep running
    return farm


@dataclass
class Rig:
    farm: SimFarm
    controller: Controller
    clients: list[NomadClient | ConsulClient] = field(default_factory=list)
    daemons: list[Daemon] = field(default_factory=list)
    decided: list[Decided] = field(default_factory=list)
    cond: threading.Condition = field(default_factory=threading.Condition)

    def settings(self, name: str) -> Settings:
        return Settings(
            nomad_version="2.0.5",
            lock_delay=0,
            lock_wait=3,
            deploy_timeout=2,
            release_timeout=10,
            max_wait=1,
            controller_id=name,
        )

    def daemon(self, name: str, **kwargs: object) -> Daemon:
        nomad = NomadClient(NomadConfig(address=self.farm.nomad_addr))
        consul = ConsulClient(ConsulConfig(address=self.farm.consul_addr))
        self.clients += [nomad, consul]
        d = Daemon(
            Controller(nomad, consul, self.settings(name)),
            DaemonSettings(leader_ttl=TTL, leader_lock_delay=LOCK_DELAY),
            listeners=[self._decided],
            **kwargs,  # type: ignore[arg-type]
        )
        self.daemons.append(d)
        return d.start()

    def _decided(self, d: Decided) -> None:
        with self.cond:
            self.decided.append(d)
            self.cond.notify_all()

    def wait_decided(self, check: Callable[[Decided], bool], timeout: float = 10.0) -> Decided:
        with self.cond:
            found: list[Decided] = []

            def ready() -> bool:
                found[:] = [d for d in self.decided if check(d)]
                return bool(found)

            assert self.cond.wait_for(ready, timeout), f"no such decision in {timeout} s: {self.decided}"
            return found[0]

    def create(self, *, n: int = 10, m: int = 2) -> str:
        request = CreateRequest(
            "epn-processing",
            str(ROOT / "examples"),
            user_vars={"odc_n_epns": str(n), "odc_n_epns_max_fail": str(m)},
            providers=str(ROOT / "examples" / "providers.yaml"),
        )
        return self.controller.create(request).env_id

    def running(self) -> str:
        env_id = self.create()
        for event in ("DEPLOY", "CONFIGURE", "START_ACTIVITY"):
            report = self.controller.transition(env_id, event)
            assert report.ok, report.error
        return env_id

    def close(self) -> None:
        for d in self.daemons:
            d.stop(timeout=5)
        self.controller.close()
        for c in self.clients:
            c.close()
        self.farm.stop()


def rig_for(farm: SimFarm) -> Rig:
    nomad = NomadClient(NomadConfig(address=farm.nomad_addr))
    consul = ConsulClient(ConsulConfig(address=farm.consul_addr))
    rig = Rig(farm, Controller(nomad, consul), [nomad, consul])
    rig.controller = Controller(nomad, consul, rig.settings("cli"))
    return rig


@pytest.fixture
def rig() -> Iterator[Rig]:
    r = rig_for(make_farm())
    yield r
    r.close()


def wait_event(
    controller: Controller, env_id: str, check: Callable[[EnvironmentEvent], bool], timeout: float = 10.0
) -> EnvironmentEvent:
    """Follow the environment's event log (blocking queries) until an event matches."""
    for event in controller.watch(env_id, timeout=timeout, until_done=False):
        if isinstance(event.payload, EnvironmentEvent) and check(event.payload):
            return event.payload
    raise AssertionError(f"no matching event of {env_id} within {timeout} s")


def wait_state(controller: Controller, env_id: str, state: str, timeout: float = 10.0) -> None:
    """Blocking reads of the environment record until it shows ``state``."""
    key = controller.keys.record(env_id)
    deadline = time.monotonic() + timeout
    index = 0
    while controller.record(env_id).state != state:
        remaining = deadline - time.monotonic()
        assert remaining > 0, f"{env_id} is {controller.record(env_id).state}, not {state}"
        _, index = controller.consul.kv_get(key, index=index, wait=min(remaining, 2))


def wait_health(
    controller: Controller, env_id: str, check: Callable[[HealthRecord], bool], timeout: float = 10.0
) -> HealthRecord:
    """Blocking reads of the environment's health record until ``check`` holds."""
    store = HealthStore(controller.consul, controller.keys)
    key = controller.keys.health(env_id)
    deadline = time.monotonic() + timeout
    index = 0
    while not check(health := store.get(env_id)):
        remaining = deadline - time.monotonic()
        assert remaining > 0, f"health record of {env_id}: {health}"
        _, index = controller.consul.kv_get(key, index=index, wait=min(remaining, 2))
    return health


def decision_done(h: HealthRecord) -> bool:
    return h.go_error is not None and h.go_error.status == DONE


def messages(controller: Controller, env_id: str) -> list[EnvironmentEvent]:
    return [
        e.payload for e in controller.events(env_id).tail(2000) if isinstance(e.payload, EnvironmentEvent)
    ]


def go_errors(controller: Controller, env_id: str) -> int:
    """GO_ERROR transitions that ran (started) on the environment."""
    return sum(
        1
        for p in messages(controller, env_id)
        if p.transition == "GO_ERROR" and p.message == "transition starting"
    )


def go_error_done(p: EnvironmentEvent) -> bool:
    return p.transition == "GO_ERROR" and p.transition_status is OpStatus.DONE_OK and not p.transition_step


def health_message(text: str) -> Callable[[EnvironmentEvent], bool]:
    return lambda p: p.message.startswith("health:") and text in p.message


def reco(d: Decided) -> str:
    return next(str(g.state) for g in d.decision.groups if g.name == "reco")


# ------------------------------------------------------------------------------------ the faults


def test_two_nodes_lost_degrade_and_their_return_recovers(rig: Rig) -> None:
    env_id = rig.running()
    rig.daemon("d1")
    rig.wait_decided(lambda d: d.env_id == env_id and reco(d) == "OK")
    for name in ("epn001", "epn002"):
        rig.farm.faults.node_down(name)
    event = wait_event(rig.controller, env_id, health_message("DEGRADED"))
    assert "group reco: 8/10 nodes healthy (nmin 8)" in event.message
    assert "epn00" in event.message  # which nodes
    status = rig.controller.show(env_id, events=0)
    assert status.state == "RUNNING"
    assert {g.name: g.state for g in status.groups}["reco"] == "DEGRADED"
    assert status.health is not None
    assert status.health["state"] == "DEGRADED"
    for name in ("epn001", "epn002"):
        rig.farm.faults.node_up(name)
    wait_event(rig.controller, env_id, health_message("back to OK"))
    assert rig.controller.record(env_id).state == "RUNNING"
    assert go_errors(rig.controller, env_id) == 0
    assert HealthStore(rig.controller.consul, rig.controller.keys).get(env_id).state == "OK"


def test_a_third_node_lost_is_go_error_and_nodes_back_are_ok(rig: Rig) -> None:
    env_id = rig.running()
    rig.daemon("d1")
    rig.wait_decided(lambda d: d.env_id == env_id and reco(d) == "OK")
    for name in ("epn001", "epn002"):
        rig.farm.faults.node_down(name)
    wait_event(rig.controller, env_id, health_message("DEGRADED"))
    assert rig.controller.record(env_id).state == "RUNNING"
    rig.farm.faults.node_down("epn003")
    decided = rig.wait_decided(lambda d: d.env_id == env_id and d.go_error is not None)
    assert "group reco: 7/10 nodes healthy (nmin 8)" in decided.go_error.reason  # type: ignore[union-attr]
    wait_state(rig.controller, env_id, "ERROR")
    for name in ("epn001", "epn002", "epn003"):
        rig.farm.faults.node_up(name)
    wait_event(rig.controller, env_id, health_message("back to OK"))
    health = wait_health(rig.controller, env_id, decision_done)
    assert health.state == "OK"
    assert go_errors(rig.controller, env_id) == 1
    assert rig.controller.record(env_id).state == "ERROR"  # GO_ERROR is not undone by recovery


def test_all_tasks_of_a_host_group_dying_is_go_error(rig: Rig) -> None:
    env_id = rig.running()
    rig.daemon("d1")
    rig.wait_decided(lambda d: d.env_id == env_id and reco(d) == "OK")
    qc = next(s for s in rig.controller.groups(env_id) if s.ref.name == "qc001")
    alloc = qc.allocs[0]
    # every process of the host dies: in ODC "everything happy", here GO_ERROR
    for task in sorted(alloc.task_states):
        rig.farm.faults.kill_task(alloc.id, task, 137)
    decided = rig.wait_decided(lambda d: d.env_id == env_id and d.go_error is not None)
    assert decided.go_error is not None
    assert decided.go_error.groups == ("qc001",)
    assert "group qc001: critical task down" in decided.go_error.reason
    wait_state(rig.controller, env_id, "ERROR")
    assert go_errors(rig.controller, env_id) == 1


def test_a_slow_node_does_not_block_deploy_when_nmin_is_met(rig: Rig) -> None:
    rig.farm.faults.slow_start("epn001", 600)
    rig.farm.faults.slow_start("epn002", 600)
    env_id = rig.create()
    # deploy_timeout is 2 s and the stragglers take 600 s: DEPLOY succeeds only by not waiting
    report = rig.controller.deploy(env_id)
    assert report.ok, report.error
    assert report.state == "DEPLOYED"
    progress = [p.message for p in messages(rig.controller, env_id)]
    assert any("not waited for" in m and "reco 8/10 healthy (nmin 8)" in m for m in progress)
    rig.daemon("d1")
    decided = rig.wait_decided(lambda d: d.env_id == env_id)
    assert reco(decided) == "DEGRADED"
    assert rig.controller.record(env_id).state == "DEPLOYED"


def test_deploy_reads_task_states_of_changed_allocations_only(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    # at ALICE size a job's allocation list is ~230 MB of task states: the DEPLOY wait must read
    # the states of the allocations that changed, never whole jobs at every change
    nomad = rig.controller.nomad
    read: list[str] = []  # IDs asked for, one entry per read
    whole_jobs: list[str] = []
    briefs, job_allocations = nomad.allocation_briefs, nomad.job_allocations

    def spy_briefs(*, filter: str | None = None, per_page: int | None = None) -> Any:
        read.extend(re.findall(r'ID == "([^"]+)"', filter or ""))
        return briefs(filter=filter, per_page=per_page)

    def spy_job_allocations(job_id: str, **kwargs: Any) -> Any:
        whole_jobs.append(job_id)
        return job_allocations(job_id, **kwargs)

    monkeypatch.setattr(nomad, "allocation_briefs", spy_briefs)
    monkeypatch.setattr(nomad, "job_allocations", spy_job_allocations)
    env_id = rig.create()
    report = rig.controller.deploy(env_id)
    assert report.ok, report.error
    assert whole_jobs == []
    live = {a.id for s in rig.controller.groups(env_id) for a in s.allocs}
    assert len(live) == 11  # reco x 10 + qc001
    assert live <= set(read)  # every allocation judged on its task states
    per_alloc = Counter(read)
    # once placed (pending), once running, at most once more for a late client update
    assert max(per_alloc.values()) <= 3, per_alloc


def test_deploy_is_refused_before_registering_when_nmin_is_unreachable() -> None:
    rig = rig_for(make_farm(epns=7))
    try:
        env_id = rig.create()
        with pytest.raises(PlacementRefused) as err:
            rig.controller.deploy(env_id)
        text = err.value.one_line()
        assert "group reco" in text
        assert "7/10 placeable, needs 8" in text
        assert "nodes evaluated" in text
        assert "exhausted" in text or "filtered" in text
        assert rig.controller.record(env_id).state == "STANDBY"
        assert not rig.controller.observer.env_jobs(env_id)  # nothing was registered
    finally:
        rig.close()


def test_nine_nodes_for_ten_deploys_with_a_warning() -> None:
    rig = rig_for(make_farm(epns=9))
    try:
        env_id = rig.create()
        report = rig.controller.deploy(env_id)
        assert report.ok, report.error
        assert any("9/10 placeable, needs 8" in w for w in report.warnings)
    finally:
        rig.close()


# ------------------------------------------------------------------------------------ env scale


def test_env_scale_changes_a_replicated_group_live_never_below_nmin(rig: Rig) -> None:
    env_id = rig.running()
    daemon = rig.daemon("d1")
    rig.wait_decided(lambda d: d.env_id == env_id and reco(d) == "OK")
    env = {"NOMAD_ADDR": rig.farm.nomad_addr, "CONSUL_HTTP_ADDR": rig.farm.consul_addr}
    runner = CliRunner()

    def scale(*args: str) -> tuple[int, str]:
        result = runner.invoke(cli, ["env", "--lock-wait", "3", "scale", env_id, *args], env=env)
        return result.exit_code, result.output

    code, out = scale("reco", "7")
    assert code == 2
    assert "below its NMIN 8" in out
    code, out = scale("qc001", "2")
    assert code == 2
    assert "only replicated groups scale" in out
    code, out = scale("nope", "2")
    assert code == 2
    assert "replicated groups: reco" in out
    code, out = scale("reco", "9", "--wait", "10", "--json")
    assert code == 0, out
    report = json.loads(out)
    assert (report["previous"], report["count"], report["nmin"], report["changed"]) == (10, 9, 8, True)
    assert rig.controller.record(env_id).counts == {"reco": 9}
    job = rig.controller.nomad.job(report["job_id"]).data
    assert {g.name: g.count for g in job.task_groups}["reco"] == 9
    assert any(p.message.startswith("scale: group reco") for p in messages(rig.controller, env_id))
    # the daemon re-plans with the new count: 9/9 is OK, one node lost is DEGRADED at 8/9
    rig.wait_decided(
        lambda d: d.env_id == env_id and any(g.name == "reco" and g.count == 9 for g in d.decision.groups)
    )
    rig.farm.faults.node_down(
        next(s for s in rig.controller.groups(env_id) if s.ref.name == "reco").allocs[0].node_name
    )
    wait_event(rig.controller, env_id, health_message("reco: 8/9 nodes healthy (nmin 8)"))
    assert not any("9/10" in p.message for p in messages(rig.controller, env_id))  # no false DEGRADED
    assert daemon.leading


# ------------------------------------------------------------------------------------ leadership


@pytest.fixture
def jump_rig() -> Iterator[tuple[Rig, JumpClock]]:
    clock = JumpClock()
    r = rig_for(make_farm(clock=clock))
    yield r, clock
    r.close()


class Killed(BaseException):
    """Stands for the leader process dying at a checkpoint (nothing catches it)."""


# the "killed" leader's watcher thread ends with Killed, as a dead process's would
@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_leader_killed_after_deciding_the_other_finishes_once(jump_rig: tuple[Rig, JumpClock]) -> None:
    rig, clock = jump_rig
    env_id = rig.running()
    died = threading.Event()

    def die(name: str) -> None:
        if name == "health:decided":
            died.set()
            raise Killed(name)

    a = rig.daemon("a", checkpoint=die)
    assert a.election.wait_leading(5)
    b = rig.daemon("b")
    rig.wait_decided(lambda d: d.env_id == env_id and reco(d) == "OK")
    for name in ("epn001", "epn002", "epn003"):
        rig.farm.faults.node_down(name)
    assert died.wait(10)  # a recorded the decision and died before acting on it
    a.abandon()
    health = HealthStore(rig.controller.consul, rig.controller.keys).get(env_id)
    assert health.go_error is not None
    assert health.go_error.status == "pending"
    assert health.go_error.decided_by == "a"
    assert rig.controller.record(env_id).state == "RUNNING"
    assert not b.leading
    farm_before = clock.monotonic()
    clock.jump(rig.farm, 2 * TTL + LOCK_DELAY)  # a's session expires (Consul's 2 x TTL), lock-delay passes
    assert b.election.wait_leading(10)
    assert clock.monotonic() - farm_before <= 2 * TTL + LOCK_DELAY + 10  # farm time of the takeover
    wait_state(rig.controller, env_id, "ERROR")
    decision = wait_health(rig.controller, env_id, decision_done).go_error
    assert decision is not None
    assert decision.decided_by == "a"
    assert go_errors(rig.controller, env_id) == 1


def test_leader_killed_after_acting_is_not_repeated(jump_rig: tuple[Rig, JumpClock]) -> None:
    rig, clock = jump_rig
    env_id = rig.running()
    acted = threading.Event()

    def die(name: str) -> None:
        if name == "health:acted":
            acted.set()
            raise Killed(name)

    a = rig.daemon("a", checkpoint=die)
    assert a.election.wait_leading(5)
    b = rig.daemon("b")
    rig.wait_decided(lambda d: d.env_id == env_id and reco(d) == "OK")
    for name in ("epn001", "epn002", "epn003"):
        rig.farm.faults.node_down(name)
    assert acted.wait(10)  # GO_ERROR done, the decision not yet marked done
    a.abandon()
    assert HealthStore(rig.controller.consul, rig.controller.keys).get(env_id).go_error.status == "pending"  # type: ignore[union-attr]
    clock.jump(rig.farm, 2 * TTL + LOCK_DELAY)
    assert b.election.wait_leading(10)
    decision = wait_health(rig.controller, env_id, decision_done).go_error
    assert decision is not None
    assert "already happened" in decision.outcome
    assert go_errors(rig.controller, env_id) == 1


def test_a_new_leader_after_an_idle_death_decides_exactly_once(jump_rig: tuple[Rig, JumpClock]) -> None:
    rig, clock = jump_rig
    env_id = rig.running()
    a = rig.daemon("a")
    assert a.election.wait_leading(5)
    b = rig.daemon("b")
    rig.wait_decided(lambda d: d.env_id == env_id and reco(d) == "OK")
    a.abandon()
    clock.jump(rig.farm, 2 * TTL + LOCK_DELAY)
    assert b.election.wait_leading(10)
    for name in ("epn004", "epn005", "epn006"):
        rig.farm.faults.node_down(name)
    decision = wait_health(rig.controller, env_id, decision_done).go_error
    assert decision is not None
    assert decision.decided_by == "b"
    assert go_errors(rig.controller, env_id) == 1


@pytest.mark.skipif(os.name != "posix", reason="signals")
def test_controller_run_cli_leads_and_resigns_on_sigterm(rig: Rig) -> None:
    import signal
    import subprocess
    import sys

    env = dict(os.environ, NOMAD_ADDR=rig.farm.nomad_addr, CONSUL_HTTP_ADDR=rig.farm.consul_addr)
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "nomadctl",
            "controller",
            "run",
            "--id",
            "cli-1",
            "--leader-ttl",
            "10",
            "--max-wait",
            "2",
        ],
        cwd=ROOT,
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        key = rig.controller.keys.leader
        index = 0
        deadline = time.monotonic() + 20
        holder = None
        while time.monotonic() < deadline:  # blocking reads of the leader key, not a sleep loop
            entry, index = rig.controller.consul.kv_get(key, index=index, wait=2)
            if entry is not None and entry.session:
                holder = json.loads(entry.text or "{}")
                break
        assert holder is not None
        assert holder["controller"] == "cli-1"
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=20)
        assert proc.returncode == 0, err
        assert "stopped" in err
        entry = rig.controller.consul.kv_get(key).data
        assert entry is None or not entry.session  # resigned: the key is free at once
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)
