"""The controller daemon on real agents: real processes die, Nomad reports it, the daemon decides.

Runs with a Nomad agent and a Consul agent (``NOMAD_ADDR``/``CONSUL_HTTP_ADDR``, or ``nomad`` and
``consul`` on PATH, started as ``-dev`` agents on loopback by ``integration/conftest.py``); skipped
with the reason otherwise. A dev agent is one node, so the replicated-group faults (node loss) are
the simulated farm's (``test_nmin_sim.py``); here the host groups of the demo's ``flp-dataflow``
run as real raw_exec processes, every process of the environment is killed (the seed's "ODC
reports everything happy" case), and the daemon must issue exactly one GO_ERROR. The processes
are found by the ``O2_PARTITION=<environment id>`` variable every example task sets, so the Nomad
client must be on this machine.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
import uuid
from pathlib import Path

import pytest

from nomadctl.clients.consul import ConsulClient
from nomadctl.clients.nomad import NomadClient
from nomadctl.controller.daemon import Daemon, DaemonSettings
from nomadctl.controller.demo import demo_inputs
from nomadctl.controller.enforce import Decided
from nomadctl.controller.leader import LeaderElection
from nomadctl.controller.service import Controller
from nomadctl.controller.settings import SYSTEM_CLOCK, Settings
from nomadctl.lifecycle.events import EnvironmentEvent
from tests.support.processes import pids_with_env

pytestmark = pytest.mark.real

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def processes_of(env_id: str) -> list[int]:
    """PIDs of this machine's processes started for ``env_id`` (by their environment)."""
    return pids_with_env(f"O2_PARTITION={env_id}")


def test_real_processes_killed_are_one_go_error(local_agents: tuple[NomadClient, ConsulClient]) -> None:
    nomad, consul = local_agents
    hosts = sorted(n.name for n in nomad.nodes().data if n.status == "ready")
    assert hosts, "the agent has no ready node"
    inputs = demo_inputs(str(EXAMPLES), hosts=hosts, real=True)
    prefix = f"nomadctl-test-{uuid.uuid4().hex[:8]}"
    settings = Settings(kv_prefix=prefix, deploy_timeout=60, lock_wait=10, max_wait=5, controller_id="real-1")
    decided: list[Decided] = []
    cond = threading.Condition()

    def on_decided(d: Decided) -> None:
        with cond:
            decided.append(d)
            cond.notify_all()

    with Controller(nomad, consul, settings) as controller:
        env_id = controller.create(inputs.request()).env_id
        daemon = Daemon(
            Controller(nomad, consul, settings),
            DaemonSettings(leader_ttl=10, leader_lock_delay=0),
            listeners=[on_decided],
        ).start()
        try:
            for step in (controller.deploy, controller.configure):
                report = step(env_id)
                assert report.ok, report.to_dict()
            with cond:
                assert cond.wait_for(lambda: any(d.env_id == env_id for d in decided), 30)
                assert decided[-1].decision.state == "OK"
            pids = processes_of(env_id)
            assert pids, "no process of the environment found on this machine"
            killed_at = time.monotonic()
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            with cond:
                assert cond.wait_for(lambda: any(d.go_error is not None for d in decided), 60)
                go = next(d for d in decided if d.go_error is not None)
            # Nomad reports the dead tasks; the decision follows within a second of that report
            assert go.decided - go.received < 1.0
            assert go.decided - killed_at < 30
            key = controller.keys.record(env_id)
            index = 0
            deadline = time.monotonic() + 60
            while controller.record(env_id).state != "ERROR":
                assert time.monotonic() < deadline, "GO_ERROR did not complete"
                _, index = consul.kv_get(key, index=index, wait=5)
            starts = [
                e
                for e in controller.events(env_id).tail(2000)
                if isinstance(e.payload, EnvironmentEvent)
                and e.payload.transition == "GO_ERROR"
                and e.payload.message == "transition starting"
            ]
            assert len(starts) == 1
        finally:
            daemon.stop()
            daemon.controller.close()
            controller.destroy(env_id, force=True)
            for key in (prefix + "/",):
                consul.kv_delete(key, recurse=True)


def test_replicas_elect_one_leader_on_real_consul(local_agents: tuple[NomadClient, ConsulClient]) -> None:
    _, consul = local_agents
    key = f"nomadctl-test-{uuid.uuid4().hex[:8]}/controller/leader"
    stops = [threading.Event(), threading.Event()]
    elections = [
        LeaderElection(consul, key, controller_id=name, clock=SYSTEM_CLOCK, ttl=10, lock_delay=0, max_wait=5)
        for name in ("r1", "r2")
    ]
    threads = [
        threading.Thread(target=e.run, args=(s,), daemon=True) for e, s in zip(elections, stops, strict=False)
    ]
    for t in threads:
        t.start()
    try:
        first = elections[0] if elections[0].wait_leading(10) else elections[1]
        other = elections[1] if first is elections[0] else elections[0]
        assert first.leading
        assert not other.leading
        stops[elections.index(first)].set()
        first.resign()
        assert other.wait_leading(10)  # released, not expired: the takeover is immediate
    finally:
        for s, e in zip(stops, elections, strict=False):
            s.set()
            e.resign()
        for t in threads:
            t.join(10)
        consul.kv_delete(key.split("/", maxsplit=1)[0] + "/", recurse=True)
