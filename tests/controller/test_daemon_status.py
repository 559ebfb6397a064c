"""The daemon's status page and ``nomadctl controller status``, against the simulated farm."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest
from click.testing import CliRunner

from nomadctl.cli import cli
from nomadctl.clients.config import ConsulConfig, NomadConfig
from nomadctl.clients.consul import ConsulClient
from nomadctl.clients.nomad import NomadClient
from nomadctl.controller.daemon import Daemon, DaemonSettings, serve_status
from nomadctl.controller.service import Controller
from nomadctl.controller.settings import Settings
from nomadctl.errors import UsageError
from nomadctl.sim import SimFarm


@pytest.fixture
def farm() -> Iterator[SimFarm]:
    with SimFarm([], seed=4) as f:
        yield f


@pytest.fixture
def daemon(farm: SimFarm) -> Iterator[Daemon]:
    nomad = NomadClient(NomadConfig(address=farm.nomad_addr))
    consul = ConsulClient(ConsulConfig(address=farm.consul_addr))
    controller = Controller(nomad, consul, Settings(max_wait=1, controller_id="status-1"))
    d = Daemon(controller, DaemonSettings(leader_ttl=10, leader_lock_delay=0))
    yield d
    d.stop(timeout=5)
    controller.close()
    nomad.close()
    consul.close()


def test_status_page_says_who_leads(daemon: Daemon) -> None:
    server = serve_status(daemon, "127.0.0.1:0")
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        before = httpx.get(f"{url}/v1/status").json()
        assert before == {"controller": "status-1", "leading": False, "terms": 0, "environments": {}}
        daemon.start()
        assert daemon.election.wait_leading(5)
        after = httpx.get(f"{url}/v1/status").json()
        assert after["leading"] is True
        assert after["terms"] == 1
        assert httpx.get(f"{url}/nope").status_code == 404
    finally:
        server.shutdown()
        server.server_close()


def test_status_address_must_be_host_and_port(daemon: Daemon) -> None:
    with pytest.raises(UsageError):
        serve_status(daemon, "localhost")


def test_controller_status_cli(farm: SimFarm, daemon: Daemon) -> None:
    env = {"CONSUL_HTTP_ADDR": farm.consul_addr}
    runner = CliRunner()
    result = runner.invoke(cli, ["controller", "status"], env=env)
    assert result.exit_code == 0
    assert "no leader" in result.output
    daemon.start()
    assert daemon.election.wait_leading(5)
    result = runner.invoke(cli, ["controller", "status", "--json"], env=env)
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["key"] == "nomadctl/controller/leader"
    assert data["leader"]["controller"] == "status-1"
    assert data["leader"]["session"] == daemon.election.session_id
