"""``nomadctl demo``: one environment of ``examples/`` through its whole lifecycle.

Without ``NOMAD_ADDR`` it starts the simulated farm in this process (nodes named like the example's
hosts) and runs there in a few seconds. With ``NOMAD_ADDR`` (and ``CONSUL_HTTP_ADDR``) it runs on
that cluster: the hosts are the cluster's ready nodes (a dev agent is one node), the tasks are the
stand-in executables of ``examples/o2`` run by raw_exec, their services appear in Consul.
Exit 0 when every step succeeded and nothing of the environment is left, 1 otherwise.
"""

from __future__ import annotations

import json
import os
from contextlib import ExitStack
from pathlib import Path

import click

from nomadctl.cli import cli, reports_errors
from nomadctl.cli.env import format_event
from nomadctl.clients.config import ConsulConfig, NomadConfig
from nomadctl.clients.consul import ConsulClient
from nomadctl.clients.nomad import NomadClient
from nomadctl.controller.demo import DEMO_VAR_FILE, demo_inputs, run_demo
from nomadctl.controller.service import Controller
from nomadctl.controller.settings import Settings
from nomadctl.errors import UsageError
from nomadctl.manifest import load_var_files
from nomadctl.sim import NodeSpec, SimFarm


def _repo(path: str | None) -> Path:
    candidates = (
        [Path(path)] if path else [Path("examples"), Path(__file__).resolve().parents[2] / "examples"]
    )
    for candidate in candidates:
        if (candidate / "workflows").is_dir():
            return candidate
    raise UsageError(f"--repo: no AliECS config repo (workflows/) at {', '.join(map(str, candidates))}")


@cli.command("demo")
@click.option("--repo", type=click.Path(), help="The example config repo (default: ./examples).")
@click.option("--events", "show_events", is_flag=True, help="Also print every event as it is written.")
@reports_errors
def demo(repo: str | None, show_events: bool) -> None:
    """Create an environment from examples/ and walk it through DEPLOY, CONFIGURE, START, STOP,
    RESET and teardown, printing each step and its duration (simulated farm unless NOMAD_ADDR)."""
    root = _repo(repo)
    listeners = [lambda e: click.echo("       event   " + format_event(e))] if show_events else []
    with ExitStack() as stack:
        if os.environ.get("NOMAD_ADDR"):
            if not os.environ.get("CONSUL_HTTP_ADDR"):
                raise UsageError(
                    "NOMAD_ADDR is set but CONSUL_HTTP_ADDR is not: the controller keeps its state in Consul"
                )
            nomad = stack.enter_context(NomadClient.from_env())
            consul = stack.enter_context(ConsulClient.from_env())
            nodes = [
                n
                for n in nomad.nodes().data
                if n.status == "ready" and n.scheduling_eligibility == "eligible" and not n.drain
            ]
            if not nodes:
                raise UsageError(f"{nomad.config.address}: the cluster has no ready, eligible node")
            hosts = sorted(n.name for n in nodes)
            inputs = demo_inputs(str(root), hosts=hosts, real=True)
            settings = Settings()
            click.echo(
                f"cluster: Nomad {nomad.config.address} ({nomad.agent_self().version}), Consul "
                f"{consul.config.address}; hosts = ready nodes: {', '.join(hosts)}"
            )
        else:
            hosts = json.loads(load_var_files([str(root / DEMO_VAR_FILE)]).get("hosts", "[]"))
            farm = stack.enter_context(
                SimFarm([NodeSpec(name=h, node_class="flp") for h in hosts], start_latency=0.05)
            )
            nomad = stack.enter_context(NomadClient(NomadConfig(address=farm.nomad_addr)))
            consul = stack.enter_context(ConsulClient(ConsulConfig(address=farm.consul_addr)))
            inputs = demo_inputs(str(root))
            settings = Settings(lock_delay=0)
            click.echo(
                f"no NOMAD_ADDR: simulated farm in this process (Nomad {farm.nomad_addr}, Consul "
                f"{farm.consul_addr}) with nodes {', '.join(hosts)}"
            )
        controller = stack.enter_context(Controller(nomad, consul, settings, listeners=listeners))
        result = run_demo(controller, inputs, click.echo)
    raise SystemExit(0 if result.ok else 1)
