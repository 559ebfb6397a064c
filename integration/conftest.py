"""The backends the client contract suite runs against: the simulated farm, and real agents.

``backend`` is parameterized:

* ``sim`` (always): ``nomadctl.sim.SimFarm`` on 127.0.0.1 with two FLP-like nodes;
* ``real``: Nomad and/or Consul given by ``NOMAD_ADDR``/``CONSUL_HTTP_ADDR`` (with their usual
  token/TLS variables), else ``nomad agent -dev`` / ``consul agent -dev`` started here on
  127.0.0.1 with free ports and bounded startup waits when the binaries are on PATH, else
  skipped with the reason.

Agents started here run in their own process group and are killed at the end of the session.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from nomadctl.clients.config import ConsulConfig, NomadConfig
from nomadctl.clients.consul import ConsulClient
from nomadctl.clients.nomad import NomadClient
from tests.support.processes import DevProcess, free_port

NOMAD_STARTUP = 60.0
CONSUL_STARTUP = 30.0


@dataclass
class Backend:
    """Where the contract tests point their clients, and what the backend offers."""

    name: str
    nomad_config: NomadConfig | None
    consul_config: ConsulConfig | None
    farm: Any = None  # the SimFarm, for fault injection in sim-only tests
    nomad_registers_in_consul: bool = False  # Nomad's client agent registers services in this Consul
    clients: list[Any] = field(default_factory=list)

    def nomad(self, **kwargs: Any) -> NomadClient:
        if self.nomad_config is None:
            pytest.skip(f"{self.name}: no Nomad (set NOMAD_ADDR or put nomad on PATH)")
        client = NomadClient(self.nomad_config, **kwargs)
        self.clients.append(client)
        return client

    def consul(self, **kwargs: Any) -> ConsulClient:
        if self.consul_config is None:
            pytest.skip(f"{self.name}: no Consul (set CONSUL_HTTP_ADDR or put consul on PATH)")
        client = ConsulClient(self.consul_config, **kwargs)
        self.clients.append(client)
        return client

    def close(self) -> None:
        for client in self.clients:
            client.close()


def start_consul(workdir: Path) -> tuple[DevProcess, str]:
    http = free_port()
    config = {
        "ports": {
            "http": http,
            "dns": -1,
            "grpc": -1,
            "grpc_tls": -1,
            "serf_lan": free_port(),
            "serf_wan": free_port(),
            "server": free_port(),
        },
        "bind_addr": "127.0.0.1",
        "client_addr": "127.0.0.1",
        "log_level": "warn",
    }
    config_path = workdir / "consul.json"
    config_path.write_text(json.dumps(config))
    agent = DevProcess(["consul", "agent", "-dev", f"-config-file={config_path}"], workdir / "consul.log")
    address = f"http://127.0.0.1:{http}"
    agent.wait_until(
        lambda: httpx.get(f"{address}/v1/status/leader", timeout=1).json() not in ("", None),
        CONSUL_STARTUP,
        "consul agent -dev",
    )
    return agent, address


def start_nomad(workdir: Path, consul_address: str | None) -> tuple[DevProcess, str]:
    http, rpc, serf = free_port(), free_port(), free_port()
    if consul_address:
        consul_block = f'consul {{\n  address = "{consul_address.removeprefix("http://")}"\n}}\n'
    else:
        # no Consul here: keep the dev agent from looking for one on 127.0.0.1:8500
        consul_block = (
            'consul {\n  address = "127.0.0.1:1"\n  auto_advertise = false\n'
            "  server_auto_join = false\n  client_auto_join = false\n}\n"
        )
    (workdir / "nomad.hcl").write_text(
        f'bind_addr = "127.0.0.1"\nports {{\n  http = {http}\n  rpc = {rpc}\n  serf = {serf}\n}}\n'
        f'log_level = "WARN"\n{consul_block}'
    )
    agent = DevProcess(["nomad", "agent", "-dev", f"-config={workdir / 'nomad.hcl'}"], workdir / "nomad.log")
    address = f"http://127.0.0.1:{http}"

    def ready() -> bool:
        nodes = httpx.get(f"{address}/v1/nodes", timeout=1).json()
        return any(n.get("Status") == "ready" for n in nodes)

    agent.wait_until(ready, NOMAD_STARTUP, "nomad agent -dev")
    return agent, address


@pytest.fixture(scope="session")
def real_agents(tmp_path_factory) -> Iterator[tuple[NomadConfig | None, ConsulConfig | None, bool]]:
    agents: list[DevProcess] = []
    workdir = tmp_path_factory.mktemp("agents")
    try:
        consul_config: ConsulConfig | None = None
        if os.environ.get("CONSUL_HTTP_ADDR"):
            consul_config = ConsulConfig.from_env()
        elif shutil.which("consul"):
            agent, address = start_consul(workdir)
            agents.append(agent)
            consul_config = ConsulConfig(address=address)
        nomad_config: NomadConfig | None = None
        if os.environ.get("NOMAD_ADDR"):
            nomad_config = NomadConfig.from_env()
        elif shutil.which("nomad"):
            local_consul = consul_config.address if consul_config and agents else None
            agent, address = start_nomad(workdir, local_consul)
            agents.append(agent)
            nomad_config = NomadConfig(address=address)
        # Agents we started are connected; agents given by address are assumed to be (as a
        # Nomad cluster with a Consul agent on each client is), when both are given.
        linked = nomad_config is not None and consul_config is not None
        yield nomad_config, consul_config, linked
    finally:
        for agent in reversed(agents):
            agent.stop()


@pytest.fixture(scope="module")
def local_agents(real_agents) -> Iterator[tuple[NomadClient, ConsulClient]]:
    """Clients of a Nomad agent with a Consul agent whose processes run on this machine (tests
    that look at or kill the tasks' processes); skipped with the reason otherwise."""
    nomad_config, consul_config, linked = real_agents
    if nomad_config is None or consul_config is None or not linked:
        pytest.skip(
            "needs a Nomad agent with a Consul agent: set NOMAD_ADDR and CONSUL_HTTP_ADDR, "
            "or put nomad and consul on PATH"
        )
    if urlsplit(nomad_config.address).hostname not in ("127.0.0.1", "localhost", "::1"):
        pytest.skip(
            f"the Nomad agent {nomad_config.address} is not on this machine: its processes are out of reach"
        )
    with NomadClient(nomad_config) as nomad, ConsulClient(consul_config) as consul:
        yield nomad, consul


@pytest.fixture(scope="session", params=["sim", "real"])
def backend(request) -> Iterator[Backend]:
    if request.param == "sim":
        try:
            from nomadctl.sim import NodeSpec, SimFarm
        except ImportError:
            pytest.skip("simulated farm (nomadctl.sim.SimFarm) not available on this branch")
        nodes = [
            NodeSpec(
                name=f"flp00{i}",
                node_class="flp",
                pool="default",
                cpu_mhz=8000,
                memory_mb=16000,
                gpus=0,
                meta={},
            )
            for i in (1, 2)
        ]
        with SimFarm(nodes, start_latency=0.05) as farm:
            b = Backend(
                "sim",
                NomadConfig(address=farm.nomad_addr),
                ConsulConfig(address=farm.consul_addr),
                farm=farm,
                nomad_registers_in_consul=True,
            )
            yield b
            b.close()
        return
    nomad_config, consul_config, linked = request.getfixturevalue("real_agents")
    if nomad_config is None and consul_config is None:
        pytest.skip(
            "no real agents: set NOMAD_ADDR/CONSUL_HTTP_ADDR, "
            "or put nomad/consul on PATH to start -dev agents"
        )
    b = Backend("real", nomad_config, consul_config, nomad_registers_in_consul=linked)
    yield b
    b.close()
