"""``nomadctl controller ...``: the controller daemon, its leader, and its own Nomad job.

    nomadctl controller run [--id ID] [--leader-ttl S] [--lock-delay S] [--status-addr HOST:PORT]
    nomadctl controller status [--json]
    nomadctl controller jobspec [--out DIR] [--venv PATH] [--count N] ...

``run`` watches every environment's health and enforces NMIN (``nomadctl.controller.daemon``);
run it as several replicas: one leads (Consul session lock), the others wait. SIGTERM or
Ctrl-C resigns the leadership and exits 0. Clients are configured as the ``nomad``/``consul``
CLIs are (``NOMAD_ADDR``, ``CONSUL_HTTP_ADDR``, tokens, TLS).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import signal
import threading
from pathlib import Path
from types import FrameType
from typing import Any

import click

from nomadctl.cli import cli, reports_errors
from nomadctl.clients.consul import ConsulClient
from nomadctl.clients.nomad import NomadClient
from nomadctl.controller.controller_job import HCL_FILE, JSON_FILE, ControllerJobOptions, controller_job
from nomadctl.controller.daemon import Daemon, DaemonSettings, serve_status
from nomadctl.controller.locks import describe_holder
from nomadctl.controller.record import Keys
from nomadctl.controller.service import Controller
from nomadctl.controller.settings import Settings
from nomadctl.errors import UsageError
from nomadctl.jobspec import NomadVersion
from nomadctl.jobspec.render import to_api_json, to_hcl


@cli.group("controller")
@click.option(
    "--kv-prefix",
    envvar="NOMADCTL_KV_PREFIX",
    default=Settings().kv_prefix,
    show_default=True,
    help="Consul KV prefix of the controller's records, locks, events and leader key.",
)
@click.pass_context
def controller(ctx: click.Context, kv_prefix: str) -> None:
    """The controller daemon (health and NMIN enforcement) and its deployment on Nomad."""
    ctx.obj = {"kv_prefix": kv_prefix}


@controller.command("run")
@click.option(
    "--id", "controller_id", envvar="NOMADCTL_CONTROLLER_ID", help="This replica's name (default host:pid)."
)
@click.option(
    "--leader-ttl",
    type=click.FloatRange(min=10, max=86400),
    default=DaemonSettings().leader_ttl,
    show_default=True,
    help="TTL of the leader's Consul session; a dead leader is replaced within 2 x TTL + lock delay.",
)
@click.option(
    "--lock-delay",
    type=click.FloatRange(min=0, max=60),
    default=DaemonSettings().leader_lock_delay,
    show_default=True,
    help="Consul lock-delay after a leader's session is invalidated.",
)
@click.option(
    "--lock-wait",
    type=click.FloatRange(min=0),
    default=Settings().lock_wait,
    show_default=True,
    help="Seconds GO_ERROR waits for a transition in progress before retrying later.",
)
@click.option(
    "--max-wait",
    type=click.FloatRange(min=1, max=600),
    default=Settings().max_wait,
    show_default=True,
    help="Longest single blocking query, seconds.",
)
@click.option("--status-addr", metavar="HOST:PORT", help="Serve GET /v1/status (JSON) here, for checks.")
@click.option("-v", "--verbose", is_flag=True, help="Log at DEBUG.")
@click.pass_obj
@reports_errors
def run(
    obj: dict[str, Any],
    *,
    controller_id: str | None,
    leader_ttl: float,
    lock_delay: float,
    lock_wait: float,
    max_wait: float,
    status_addr: str | None,
    verbose: bool,
) -> None:
    """Watch every environment's health and enforce NMIN; one replica leads (Consul lock)."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    settings = Settings(kv_prefix=obj["kv_prefix"], lock_wait=lock_wait, max_wait=max_wait)
    if controller_id:
        settings = dataclasses.replace(settings, controller_id=controller_id)
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    with (
        NomadClient.from_env() as nomad,
        ConsulClient.from_env() as consul,
        Controller(nomad, consul, settings) as ctl,
    ):
        daemon = Daemon(ctl, DaemonSettings(leader_ttl=leader_ttl, leader_lock_delay=lock_delay))
        server = serve_status(daemon, status_addr) if status_addr else None
        click.echo(f"controller {settings.controller_id}: campaigning for {ctl.keys.leader}", err=True)
        daemon.start()
        try:
            while not stop.wait(1.0):  # wakes for signals; the daemon runs on its threads
                pass
        finally:
            daemon.stop()
            if server is not None:
                server.shutdown()
                server.server_close()
    click.echo(f"controller {settings.controller_id}: stopped", err=True)


@controller.command("status")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
@reports_errors
def status(obj: dict[str, Any], as_json: bool) -> None:
    """Which replica leads (the leader key's holder), if any."""
    keys = Keys(obj["kv_prefix"])
    with ConsulClient.from_env() as consul:
        holder = describe_holder(consul, keys.leader)
    if as_json:
        click.echo(json.dumps({"key": keys.leader, "leader": holder}, indent=2))
    elif holder is None:
        click.echo(f"no leader ({keys.leader} is free): is `nomadctl controller run` running?")
    else:
        click.echo(f"leader {holder.get('controller', '?')} (session {holder['session']}) on {keys.leader}")


@controller.command("jobspec")
@click.option("--out", type=click.Path(file_okay=False), help="Write the .json and .nomad.hcl files here.")
@click.option("--format", "fmt", type=click.Choice(["hcl", "json"]), default="hcl", show_default=True)
@click.option(
    "--venv", default=ControllerJobOptions().venv, show_default=True, help="Virtualenv holding nomadctl."
)
@click.option("--count", type=click.IntRange(min=1), default=ControllerJobOptions().count, show_default=True)
@click.option("--namespace", default=ControllerJobOptions().namespace, show_default=True)
@click.option("--datacenter", "datacenters", multiple=True, help="Datacenter (repeatable; default all).")
@click.option("--node-pool", help="Node pool of the controller hosts.")
@click.option("--nomad-version", default="2.0", show_default=True, help="Validate for this Nomad version.")
@click.pass_obj
@reports_errors
def jobspec(
    obj: dict[str, Any],
    *,
    out: str | None,
    fmt: str,
    venv: str,
    count: int,
    namespace: str,
    datacenters: tuple[str, ...],
    node_pool: str | None,
    nomad_version: str,
) -> None:
    """Render the controller's own Nomad job (count 2, one leader), validated like every job."""
    try:
        version = NomadVersion.parse(nomad_version)
    except ValueError as err:
        raise UsageError(f"--nomad-version {nomad_version!r}: {err}") from None
    options = ControllerJobOptions(
        venv=venv,
        count=count,
        namespace=namespace,
        datacenters=datacenters or ("*",),
        node_pool=node_pool,
        kv_prefix=obj["kv_prefix"],
    )
    job = controller_job(options, version)
    if out is None:
        click.echo(to_hcl(job) if fmt == "hcl" else to_api_json(job), nl=False)
        return
    target = Path(out)
    target.mkdir(parents=True, exist_ok=True)
    (target / JSON_FILE).write_text(to_api_json(job))
    (target / HCL_FILE).write_text(to_hcl(job))
    click.echo(f"wrote {target / JSON_FILE} and {target / HCL_FILE}")
