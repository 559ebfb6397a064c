"""``nomadctl env ...``: create environments and drive their lifecycle on a Nomad cluster.

    nomadctl env create flp-dataflow --repo examples --var-file examples/vars/flp-dev.yaml \\
        --providers examples/providers.yaml [--auto]
    nomadctl env deploy|configure|start|stop|reset ID
    nomadctl env transition ID GO_ERROR
    nomadctl env destroy ID [--force]
    nomadctl env list | show ID | watch ID          (--json on every read)
    nomadctl env scale ID GROUP N [--wait S]        (a replicated group, never below its NMIN)

The clients are configured as the ``nomad`` and ``consul`` CLIs are (``NOMAD_ADDR``,
``CONSUL_HTTP_ADDR``, tokens, TLS); with ``VAULT_ADDR`` set, ``create`` checks ``vault:`` secrets.
Events of a transition are printed live on stderr; the result goes to stdout.

Exit codes: 0 done; 1 the transition failed (GO_ERROR followed: the environment is in ERROR);
2 bad input or refused (unknown environment, event not allowed in this state, placement
impossible as ``nomad job plan`` says, environment busy, manifests changed).
"""

from __future__ import annotations

import datetime
import json
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

import click

from nomadctl.cli import cli, reports_errors
from nomadctl.cli.manifest import load_inputs
from nomadctl.clients.consul import ConsulClient
from nomadctl.clients.nomad import NomadClient
from nomadctl.clients.vault import VaultClient
from nomadctl.controller.errors import TransitionFailed
from nomadctl.controller.model import CreateRequest, RenderSettings, TransitionReport
from nomadctl.controller.service import Controller
from nomadctl.controller.settings import Settings, parse_plugin_options
from nomadctl.controller.status import EnvStatus
from nomadctl.jobspec import Split
from nomadctl.lifecycle.events import CallEvent, EnvironmentEvent, Event, RunEvent, TaskEvent


@cli.group()
@click.option(
    "--kv-prefix",
    envvar="NOMADCTL_KV_PREFIX",
    default=Settings().kv_prefix,
    show_default=True,
    help="Consul KV prefix of the controller's records, locks, events and run counter.",
)
@click.option(
    "--lock-wait",
    type=click.FloatRange(min=0),
    default=Settings().lock_wait,
    show_default=True,
    help="Seconds to wait for another transition of the same environment before refusing.",
)
@click.option(
    "--deploy-timeout",
    type=click.FloatRange(min=1),
    default=Settings().deploy_timeout,
    show_default=True,
    help="Seconds DEPLOY waits for critical groups (and NMIN) to be healthy.",
)
@click.pass_context
def env(ctx: click.Context, kv_prefix: str, lock_wait: float, deploy_timeout: float) -> None:
    """Environments: create, drive through DEPLOY/CONFIGURE/START/STOP/RESET, destroy, inspect."""
    ctx.obj = {"kv_prefix": kv_prefix, "lock_wait": lock_wait, "deploy_timeout": deploy_timeout}


# --- plumbing -------------------------------------------------------------------------------------


@contextmanager
def open_controller(
    options: dict[str, Any], *, listeners: list[Callable[[Event], None]] | None = None, **settings: Any
) -> Iterator[Controller]:
    """A controller on clients configured from the environment (closed afterwards)."""
    with ExitStack() as stack:
        nomad = stack.enter_context(NomadClient.from_env())
        consul = stack.enter_context(ConsulClient.from_env())
        vault = VaultClient.from_env() if os.environ.get("VAULT_ADDR") else None
        controller = Controller(
            nomad,
            consul,
            Settings(
                kv_prefix=options["kv_prefix"],
                lock_wait=options["lock_wait"],
                deploy_timeout=options["deploy_timeout"],
                **settings,
            ),
            vault=vault,
            listeners=listeners or [],
        )
        stack.callback(controller.close)
        yield controller


def _clock(ns: int | None) -> str:
    if not ns:
        return "--:--:--.---"
    return datetime.datetime.fromtimestamp(ns / 1e9).strftime("%H:%M:%S.%f")[:-3]


def format_event(event: Event) -> str:
    """One readable line for an event."""
    p = event.payload
    when = _clock(event.timestamp_ns)
    if isinstance(p, EnvironmentEvent):
        what = " ".join(x for x in (p.transition, p.transition_step) if x)
        text = f"{when}  env   {p.state:<10} {what:<36} {p.transition_status.name:<10} {p.message}"
        return text + (f" | error: {p.error}" if p.error else "")
    if isinstance(p, CallEvent):
        text = f"{when}  call  {p.func:<36} {p.call_status.name:<10} {p.path}"
        extra = p.error or p.output
        return text + (f" | {extra}" if extra else "")
    if isinstance(p, TaskEvent):
        return f"{when}  hook  {p.name:<36} {p.state:<10} {p.hostname} {p.path}"
    if isinstance(p, RunEvent):
        text = f"{when}  run   {p.run_number:<10} {p.transition!s:<36} {p.transition_status.name:<10}"
        return text + (f" | error: {p.error}" if p.error else "")
    return f"{when}  {event.to_json_line()}"


def _printer(quiet: bool) -> list[Callable[[Event], None]]:
    if quiet:
        return []
    return [lambda e: click.echo(format_event(e), err=True)]


def _report_text(r: TransitionReport) -> list[str]:
    lines = [
        f"{r.transition} {r.verdict}: {r.source} -> {r.state} in {r.duration_s:.2f} s"
        + (f", run {r.run_number}" if r.run_number else "")
    ]
    lines += [f"  note: {n}" for n in r.notes]
    if r.error:
        lines.append(f"  error: {r.error}")
    lines += [f"  warning: {w}" for w in r.warnings]
    lines += [f"  left behind: {x}" for x in r.leftovers]
    for follow in (r.go_error, r.teardown):
        if follow is not None:
            lines += ["then " + line for line in _report_text(follow)[:1]] + _report_text(follow)[1:]
    return lines


def finish(report: TransitionReport, as_json: bool) -> None:
    """Print ``report``; exit 1 (one line on stderr) when the transition failed."""
    if as_json:
        click.echo(json.dumps(report.to_dict(), indent=2))
    else:
        for line in _report_text(report):
            click.echo(line)
    if not report.ok:
        what = report.error or "; ".join(report.leftovers) or report.verdict
        raise TransitionFailed(
            f"{report.transition} of {report.env_id} failed: {what}; environment is now {report.final_state}",
            report,
        )


# --- create ---------------------------------------------------------------------------------------


@env.command("create")
@click.argument("workflow")
@click.option("--repo", required=True, type=click.Path(), help="AliECS config repo (workflows/, tasks/).")
@click.option("--var", "var_opts", multiple=True, metavar="NAME=VALUE", help="User variable (repeatable).")
@click.option(
    "--var-file", "var_files", multiple=True, type=click.Path(), help="YAML file of user variables."
)
@click.option(
    "--providers", type=click.Path(), help="YAML file with the o2/... KV layout (default: Consul KV)."
)
@click.option("--seed", type=int, help="Seed for uid.New() and task ids (default: random, stored).")
@click.option(
    "--plugin",
    "plugin_opts",
    multiple=True,
    metavar="NAME=noop|http:URL",
    help="Run calls of AliECS plugin NAME as an explicit no-op or over HTTP (repeatable).",
)
@click.option("--auto", is_flag=True, help="Then DEPLOY and CONFIGURE (teardown if either fails), as AliECS.")
@click.option(
    "--split",
    type=click.Choice([s.value for s in Split]),
    default=RenderSettings().split,
    show_default=True,
    help="Cut long-running tasks into one job, per stage, or per placement group.",
)
@click.option("--datacenter", "datacenters", multiple=True, help="Datacenter (repeatable; default: all).")
@click.option("--namespace", help="Default Nomad namespace (a nomad_namespace variable wins).")
@click.option("--region", help="Nomad region of the jobs.")
@click.option("--nomad-version", help="Render for this Nomad version (default: the agent's).")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.option("-q", "--quiet", is_flag=True, help="Do not print events live.")
@click.pass_obj
@reports_errors
def create(
    obj: dict[str, Any],
    *,
    workflow: str,
    repo: str,
    var_opts: tuple[str, ...],
    var_files: tuple[str, ...],
    providers: str | None,
    seed: int | None,
    plugin_opts: tuple[str, ...],
    auto: bool,
    split: str,
    datacenters: tuple[str, ...],
    namespace: str | None,
    region: str | None,
    nomad_version: str | None,
    as_json: bool,
    quiet: bool,
) -> None:
    """Create an environment from WORKFLOW (state STANDBY) and print its id."""
    user_vars, _ = load_inputs(var_files, var_opts, None)
    request = CreateRequest(
        workflow=workflow,
        repo=repo,
        user_vars=user_vars,
        providers=providers,
        seed=seed,
        plugins=parse_plugin_options(plugin_opts),
        render=RenderSettings(
            split=split,
            datacenters=datacenters or RenderSettings().datacenters,
            namespace=namespace,
            region=region,
            nomad_version=nomad_version,
        ),
    )
    with open_controller(obj, listeners=_printer(quiet or as_json)) as controller:
        created = controller.create(request, auto=auto)
    if as_json:
        click.echo(
            json.dumps(
                {
                    "env_id": created.env_id,
                    "state": created.record.state,
                    "warnings": list(created.warnings),
                    "reports": [r.to_dict() for r in created.reports],
                },
                indent=2,
            )
        )
    else:
        for warning in created.warnings:
            click.echo(f"warning: {warning}", err=True)
        click.echo(created.env_id)
        for report in created.reports:
            for line in _report_text(report):
                click.echo(line)
    failed = [r for r in created.reports if not r.ok]
    if failed:
        r = failed[0]
        raise TransitionFailed(
            f"{r.transition} of new environment {r.env_id} failed: {r.error}; "
            f"environment is now {r.final_state}",
            r,
        )


# --- transitions ----------------------------------------------------------------------------------


def _transition_command(name: str, event: str, help_text: str) -> None:
    @env.command(name, help=help_text)
    @click.argument("env_id")
    @click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
    @click.option("-q", "--quiet", is_flag=True, help="Do not print events live.")
    @click.pass_obj
    @reports_errors
    def command(obj: dict[str, Any], env_id: str, as_json: bool, quiet: bool) -> None:
        with open_controller(obj, listeners=_printer(quiet or as_json)) as controller:
            report = controller.transition(env_id, event)
        finish(report, as_json)


_transition_command(
    "deploy", "DEPLOY", "DEPLOY: plan, register the jobs, wait for health (STANDBY -> DEPLOYED)."
)
_transition_command("configure", "CONFIGURE", "CONFIGURE (DEPLOYED -> CONFIGURED).")
_transition_command(
    "start", "START_ACTIVITY", "START_ACTIVITY: allocate a run number, start the run (-> RUNNING)."
)
_transition_command("stop", "STOP_ACTIVITY", "STOP_ACTIVITY: stop the run (RUNNING -> CONFIGURED).")
_transition_command("reset", "RESET", "RESET (CONFIGURED -> DEPLOYED).")


@env.command("transition")
@click.argument("env_id")
@click.argument("event")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.option("-q", "--quiet", is_flag=True, help="Do not print events live.")
@click.pass_obj
@reports_errors
def transition(obj: dict[str, Any], env_id: str, event: str, as_json: bool, quiet: bool) -> None:
    """Run EVENT (DEPLOY, CONFIGURE, START_ACTIVITY, STOP_ACTIVITY, RESET, GO_ERROR) on ENV_ID."""
    with open_controller(obj, listeners=_printer(quiet or as_json)) as controller:
        report = controller.transition(env_id, event)
    finish(report, as_json)


@env.command("destroy")
@click.argument("env_id")
@click.option("--force", is_flag=True, help="Tear down from any state without stopping the run first.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.option("-q", "--quiet", is_flag=True, help="Do not print events live.")
@click.pass_obj
@reports_errors
def destroy(obj: dict[str, Any], env_id: str, force: bool, as_json: bool, quiet: bool) -> None:
    """Tear ENV_ID down: stop the run, RESET, deregister every job, run DESTROY hooks (-> DONE)."""
    with open_controller(obj, listeners=_printer(quiet or as_json)) as controller:
        report = controller.destroy(env_id, force=force)
    finish(report, as_json)


# --- reading --------------------------------------------------------------------------------------


@env.command("scale")
@click.argument("env_id")
@click.argument("group")
@click.argument("count", type=click.IntRange(min=0))
@click.option(
    "--wait",
    type=click.FloatRange(min=0),
    default=0.0,
    show_default=True,
    help="Seconds to wait for the job's active deployment to end (Nomad does not scale during one).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.pass_obj
@reports_errors
def scale(obj: dict[str, Any], env_id: str, group: str, count: int, *, wait: float, as_json: bool) -> None:
    """Set the count of ENV_ID's replicated GROUP to COUNT, live; never below its NMIN."""
    with open_controller(obj) as controller:
        report = controller.scale(env_id, group, count, wait=wait)
    click.echo(json.dumps(report.to_dict(), indent=2) if as_json else report.text())


@env.command("list")
@click.option("--all", "include_done", is_flag=True, help="Include environments in DONE.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
@reports_errors
def list_(obj: dict[str, Any], include_done: bool, as_json: bool) -> None:
    """List environments."""
    with open_controller(obj) as controller:
        envs = controller.list_envs(include_done=include_done)
    if as_json:
        click.echo(json.dumps([e.to_dict() for e in envs], indent=2))
        return
    click.echo(f"{'ID':<13} {'WORKFLOW':<24} {'STATE':<11} {'RUN':>7}  CREATED              IN PROGRESS")
    for e in envs:
        created = datetime.datetime.fromtimestamp(e.created_ns / 1e9).strftime("%Y-%m-%d %H:%M:%S")
        run = str(e.run_number) if e.run_number else "-"
        click.echo(f"{e.env_id:<13} {e.workflow:<24} {e.state:<11} {run:>7}  {created}  {e.in_progress}")


def health_text(health: dict[str, Any] | None) -> list[str]:
    """What the controller daemon recorded (``env show``): group states and the GO_ERROR decision."""
    if not health:
        return ["health: not watched by a controller daemon (`nomadctl controller run`)"]
    by = f"controller {health.get('controller', '?')}, {_clock(health.get('updated_ns'))}"
    lines = [f"health: {health.get('state') or '-'} ({by})"]
    for name, g in sorted((health.get("groups") or {}).items()):
        if g.get("state") != "OK":
            lines.append(f"  {name} {g['state']} since {_clock(g.get('since_ns'))}: {g.get('reason', '')}")
    decision = health.get("go_error")
    if decision:
        lines.append(
            f"  GO_ERROR {decision['status']} (decided {_clock(decision.get('decided_ns'))} by "
            f"{decision.get('decided_by', '?')}): {decision.get('reason', '')}"
            + (f" -> {decision['outcome']}" if decision.get("outcome") else "")
        )
    return lines


def show_text(s: EnvStatus) -> list[str]:
    """``env show`` as text."""
    created = datetime.datetime.fromtimestamp(s.created_ns / 1e9).strftime("%Y-%m-%d %H:%M:%S")
    run = f"run {s.run_number}" if s.run_number else "no run"
    lines = [
        f"environment {s.env_id}  workflow {s.workflow}  state {s.state}  {run}"
        + (f" (last run {s.last_run_number})" if s.last_run_number else ""),
        f"  created {created} by {s.created_by}; repo {s.repo}; manifest_sha {s.manifest_sha[:12]}",
    ]
    if s.in_progress:
        lines.append(f"  in progress: {s.in_progress}")
    if s.last:
        took = (s.last.finished_ns - s.last.started_ns) / 1e9
        lines.append(
            f"  last transition: {s.last.transition} {s.last.verdict} "
            f"({s.last.source} -> {s.last.state}, {took:.2f} s)"
            + (f": {s.last.error}" if s.last.error else "")
        )
        lines += [f"    warning: {w}" for w in s.last.warnings]
    if s.process_control:
        lines.append(f"  process control: {s.process_control}")
    lines.append(
        f"  hooks {s.hooks}, calls {s.calls}"
        + (f", pending calls {', '.join(s.pending_calls)}" if s.pending_calls else "")
    )
    lines.append("groups (healthy/count, nmin):")
    if not s.groups:
        lines.append("  (none running)")
    for g in s.groups:
        lines.append(
            f"  {g.name:<32} {g.kind:<10} {g.healthy}/{g.count} nmin {g.nmin}  {g.state:<8} job {g.job}"
        )
        if g.reason:
            lines.append(f"      {g.reason}")
    lines.append("tasks:")
    for t in s.tasks:
        crit = "" if t.critical else " (non-critical)"
        lines.append(f"  {t.path:<60} {t.control:<7} {t.node or '-':<10} {t.state}{crit}")
    lines.append("services:")
    if not s.services:
        lines.append("  (none)")
    for svc in s.services:
        lines.append(f"  {svc.name:<48} {svc.passing}/{svc.instances} passing")
    lines += health_text(s.health)
    lines.append(f"jobs: {', '.join(s.jobs) if s.jobs else '(none)'}")
    lines += [f"warning: {w}" for w in s.warnings]
    if s.events:
        lines.append("last events:")
        lines += ["  " + format_event(Event.from_dict(e)) for e in s.events]
    return lines


@env.command("show")
@click.argument("env_id")
@click.option("--events", "event_count", type=click.IntRange(min=0), default=10, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
@reports_errors
def show(obj: dict[str, Any], env_id: str, event_count: int, as_json: bool) -> None:
    """State, run number, groups (healthy/count/nmin), tasks, services and last events of ENV_ID."""
    with open_controller(obj) as controller:
        status = controller.show(env_id, events=event_count)
    if as_json:
        click.echo(json.dumps(status.to_dict(), indent=2))
    else:
        for line in show_text(status):
            click.echo(line)


@env.command("watch")
@click.argument("env_id")
@click.option("--json", "as_json", is_flag=True, help="Print the events as JSON lines (AliECS Ev_* shapes).")
@click.option("--new", "only_new", is_flag=True, help="Only events written from now on.")
@click.option("--timeout", type=click.FloatRange(min=0), help="Stop after this many seconds.")
@click.option("--keep", is_flag=True, help="Keep following after the environment's teardown.")
@click.pass_obj
@reports_errors
def watch(
    obj: dict[str, Any], env_id: str, *, as_json: bool, only_new: bool, timeout: float | None, keep: bool
) -> None:
    """Follow ENV_ID's events live (blocking queries); ends after its teardown."""
    with open_controller(obj) as controller:
        try:
            for event in controller.watch(
                env_id, from_start=not only_new, timeout=timeout, until_done=not keep
            ):
                click.echo(event.to_json_line() if as_json else format_event(event))
                sys.stdout.flush()
        except KeyboardInterrupt:
            return
