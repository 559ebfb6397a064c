"""End-to-end lifecycle on real agents: raw_exec processes really start and teardown stops them.

Runs with a Nomad agent and a Consul agent (``NOMAD_ADDR``/``CONSUL_HTTP_ADDR``, or ``nomad`` and
``consul`` on PATH, started as ``-dev`` agents on loopback by ``integration/conftest.py``); skipped
with the reason otherwise. The environment is the demo's: ``examples/``' flp-dataflow on the
cluster's ready nodes, each task a stand-in executable of ``examples/o2`` run by raw_exec. The
processes are found by the ``O2_PARTITION=<environment id>`` variable every example task sets,
which needs the Nomad client on this machine (the agents started here, or a local address).
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import pytest

from nomadctl.clients.consul import ConsulClient
from nomadctl.clients.nomad import NomadClient
from nomadctl.controller.demo import demo_inputs
from nomadctl.controller.service import Controller
from nomadctl.controller.settings import Settings
from tests.support.processes import pids_with_env

pytestmark = pytest.mark.real

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
STOP_DEADLINE_S = 30.0


def processes_of(env_id: str) -> list[int]:
    """PIDs of this machine's processes started for ``env_id`` (by their environment)."""
    return pids_with_env(f"O2_PARTITION={env_id}")


def test_real_processes_start_and_teardown_stops_them(local_agents: tuple[NomadClient, ConsulClient]) -> None:
    nomad, consul = local_agents
    hosts = sorted(n.name for n in nomad.nodes().data if n.status == "ready")
    assert hosts, "the agent has no ready node"
    inputs = demo_inputs(str(EXAMPLES), hosts=hosts, real=True)
    settings = Settings(kv_prefix=f"nomadctl-test-{uuid.uuid4().hex[:8]}", deploy_timeout=60, lock_wait=10)
    with Controller(nomad, consul, settings) as controller:
        env_id = controller.create(inputs.request()).env_id
        try:
            for step in (controller.deploy, controller.configure, controller.start):
                report = step(env_id)
                assert report.ok, report.to_dict()
            status = controller.show(env_id)
            assert {t.state for t in status.tasks} == {"running"}
            assert status.run_number
            # readout, StfBuilder and StfSender run on every host as real processes
            pids = processes_of(env_id)
            assert len(pids) >= 3 * len(hosts), f"found {pids}"
            commands = {
                Path(f"/proc/{p}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
                for p in pids
            }
            assert any("o2-readout-exe" in c for c in commands)
            assert any("StfSender" in c for c in commands)
            assert len(status.services) == len(hosts)  # one stage service per host group, in Consul
            assert controller.stop(env_id).ok
            assert controller.reset(env_id).ok
        finally:
            done = controller.destroy(
                env_id, force=controller.record(env_id).state not in ("STANDBY", "DEPLOYED")
            )
        assert done.ok, done.to_dict()
        assert done.state == "DONE"
        assert [j.id for j in nomad.jobs(prefix=f"aliecs-{env_id}").data] == []
        deadline = time.monotonic() + STOP_DEADLINE_S
        while processes_of(env_id) and time.monotonic() < deadline:
            time.sleep(0.2)  # the client reports killed processes ~200 ms after the stop
        assert processes_of(env_id) == [], "processes survived the teardown"
