"""``nomadctl sim serve``: run the simulated farm standalone and print the addresses to export."""

from __future__ import annotations

import signal
import threading
import time
from types import FrameType

import click

from nomadctl.cli import cli, reports_errors
from nomadctl.errors import UsageError
from nomadctl.sim import NodeSpec, SimFarm, parse_node_spec


@cli.group()
def sim() -> None:
    """The simulated Nomad + Consul farm (for tests, demos and benchmarks)."""


@sim.command("serve")
@click.option(
    "--nodes",
    "node_specs",
    multiple=True,
    metavar="PREFIX:COUNT[:KEY=VALUE...]",
    help="Nodes to create, e.g. flp:200 or epn:350:gpus=8:pool=epn (repeatable).",
)
@click.option("--seed", type=int, default=None, help="Seed for reproducible IDs and placement.")
@click.option("--start-latency", type=float, default=0.05, show_default=True, help="Seconds until tasks run.")
@click.option(
    "--heartbeat-grace",
    type=float,
    default=10.0,
    show_default=True,
    help="Seconds before a silent node is down.",
)
@click.option(
    "--event-buffer-size", type=int, default=100, show_default=True, help="Nomad's event_buffer_size."
)
@click.option(
    "--for",
    "duration",
    type=float,
    default=None,
    help="Stop after this many seconds (default: until interrupted).",
)
@reports_errors
def serve(
    *,
    node_specs: tuple[str, ...],
    seed: int | None,
    start_latency: float,
    heartbeat_grace: float,
    event_buffer_size: int,
    duration: float | None,
) -> None:
    """Serve the Nomad and Consul APIs on 127.0.0.1 and print NOMAD_ADDR / CONSUL_HTTP_ADDR."""
    if start_latency < 0 or heartbeat_grace < 0 or event_buffer_size < 1:
        raise UsageError("--start-latency and --heartbeat-grace must be >= 0, --event-buffer-size >= 1")
    nodes: list[NodeSpec] = []
    for text in node_specs:
        nodes.extend(parse_node_spec(text))
    names = [n.name for n in nodes]
    if len(set(names)) != len(names):
        raise UsageError("--nodes: two node specs produce the same node names; use different prefixes")
    done = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        del signum, frame
        done.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    farm = SimFarm(
        nodes,
        seed=seed,
        start_latency=start_latency,
        heartbeat_grace=heartbeat_grace,
        event_buffer_size=event_buffer_size,
    )
    with farm:
        click.echo(f"export NOMAD_ADDR={farm.nomad_addr}")
        click.echo(f"export CONSUL_HTTP_ADDR={farm.consul_addr}")
        click.echo(
            f"# {len(nodes)} nodes; fault API under {farm.nomad_addr}/sim/v1 (see docs/sim.md)", err=True
        )
        deadline = None if duration is None else time.monotonic() + duration
        while not done.is_set():
            timeout = 1.0 if deadline is None else max(0.0, min(1.0, deadline - time.monotonic()))
            if deadline is not None and timeout == 0.0:
                break
            done.wait(timeout)
