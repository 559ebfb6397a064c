"""``nomadctl render`` and ``nomadctl validate``: AliECS workflow -> Nomad job files, no cluster.

    nomadctl render readout-dataflow --repo ControlWorkflows --var-file vars.yaml \\
        --providers kv.yaml --env-id 2oDvzkBmdBA --out jobspecs/
    nomad job run -json jobspecs/aliecs-2oDvzkBmdBA-<group>.json

Exit codes: 0 done, 2 bad input (usage, manifest, or a plan Nomad would refuse).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from nomadctl.cli import cli, reports_errors
from nomadctl.cli.manifest import load_inputs, manifest_inputs
from nomadctl.errors import UsageError
from nomadctl.jobspec import Format, JobKind, JobSet, NomadVersion, RenderOptions, Split, files, render
from nomadctl.jobspec.render import hcl_filename, json_filename
from nomadctl.manifest import build_plan
from nomadctl.plan import EnvironmentPlan

F = TypeVar("F", bound=Callable[..., Any])

_OPTIONS: list[Callable[[Any], Any]] = [
    manifest_inputs("Seed for uid.New() and task ids (reproducible renders)."),
    click.option(
        "--nomad-version",
        default=str(RenderOptions().nomad_version),
        show_default=True,
        help="Version of the Nomad agents the files are for.",
    ),
    click.option(
        "--split",
        type=click.Choice([s.value for s in Split]),
        default=RenderOptions().split.value,
        show_default=True,
        help="Cut long-running tasks into one job (none), per stage, or per placement group (host).",
    ),
    click.option(
        "--datacenter", "datacenters", multiple=True, help="Datacenter (repeatable; default: all, '*')."
    ),
    click.option("--region", help="Nomad region of the jobs."),
    click.option("--namespace", help="Default Nomad namespace (a nomad_namespace variable wins)."),
    click.option(
        "--host-target",
        default=RenderOptions().host_target,
        show_default=True,
        help="Nomad node attribute that machine_id host pinning maps to.",
    ),
    click.option(
        "--mhz-per-core",
        type=click.IntRange(min=1),
        default=RenderOptions().mhz_per_core,
        show_default=True,
        help="CPU MHz that one AliECS core (wants.cpu) is worth.",
    ),
    click.option(
        "--vault-role",
        default=RenderOptions().vault_role,
        help=(
            "Vault role for vault: secrets (Nomad >= 1.7; default aliecs-<namespace>, as in "
            "policies/vault; a nomad_vault_role variable wins)."
        ),
    ),
    click.option(
        "--check-secrets",
        type=click.Choice(["auto", "always", "never"]),
        default="auto",
        show_default=True,
        help=(
            "Check that every vault: reference names an existing secret (KV metadata only, values "
            "are never read); auto: when VAULT_ADDR is set."
        ),
    ),
]


def _inputs(fn: F) -> F:
    for option in reversed(_OPTIONS):
        fn = option(fn)
    return fn


def _plan_and_options(
    *,
    workflow: str,
    repo: str,
    var_opts: tuple[str, ...],
    var_files: tuple[str, ...],
    providers: str | None,
    seed: int | None,
    env_id: str | None,
    nomad_version: str,
    split: str,
    datacenters: tuple[str, ...],
    region: str | None,
    namespace: str | None,
    host_target: str,
    mhz_per_core: int,
    vault_role: str,
    check_secrets: str,
) -> tuple[EnvironmentPlan, RenderOptions]:
    version = NomadVersion.parse(nomad_version)
    options = RenderOptions(
        nomad_version=version,
        split=Split(split),
        datacenters=datacenters or RenderOptions().datacenters,
        region=region,
        namespace=namespace,
        host_target=host_target,
        mhz_per_core=mhz_per_core,
        vault_role=vault_role,
    )
    user_vars, kv = load_inputs(var_files, var_opts, providers)
    plan = build_plan(repo, workflow, user_vars=user_vars, kv=kv, env_id=env_id, seed=seed)
    if check_secrets == "always" or (check_secrets == "auto" and os.environ.get("VAULT_ADDR")):
        _check_secrets(plan)
    return plan, options


def _check_secrets(plan: EnvironmentPlan) -> None:
    # Imported here: only renders that check secrets pay for the Vault client.
    from nomadctl.clients.vault import VaultClient  # noqa: PLC0415
    from nomadctl.controller.secrets import check_secrets  # noqa: PLC0415

    with VaultClient.from_env() as vault:
        check_secrets(plan, vault)


def _warn(plan: EnvironmentPlan, jobs: JobSet) -> None:
    for warning in (*plan.warnings, *jobs.warnings):
        click.echo(f"warning: {warning}", err=True)


def _summary(jobs: JobSet) -> str:
    counts = {kind: len(jobs.of_kind(kind)) for kind in JobKind}
    groups = len(jobs.groups)
    return (
        f"{counts[JobKind.SERVICE]} service, {counts[JobKind.RUN]} run and {counts[JobKind.HOOK]} hook jobs, "
        f"{groups} groups, {len(jobs.tasks)} tasks"
    )


def write_files(out: Path, rendered: dict[str, str], env_id: str) -> list[str]:
    """Write ``rendered`` into ``out`` (atomically per file); remove stale renders of ``env_id``.

    Only files nomadctl names for this environment (``aliecs-<env>.json``, ``aliecs-<env>-*``)
    are ever removed, so ``out`` may hold other files. Returns the names removed.
    """
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"--out {out}: cannot create directory: {exc.strerror}") from None
    prefix = f"aliecs-{env_id}"
    removed: list[str] = []
    for path in sorted(out.iterdir()):
        name = path.name
        ours = name.startswith((prefix + ".", prefix + "-")) and name.endswith((".json", ".nomad.hcl"))
        if ours and name not in rendered and path.is_file():
            path.unlink()
            removed.append(name)
    for name, text in rendered.items():
        fd, tmp = tempfile.mkstemp(dir=out, prefix=f".{name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as fh:
                fh.write(text)
            os.chmod(tmp, 0o644)
            os.replace(tmp, out / name)
        except OSError as exc:
            Path(tmp).unlink(missing_ok=True)
            raise UsageError(f"--out {out}: cannot write {name}: {exc.strerror}") from None
    return removed


@cli.command("render")
@_inputs
@click.option("--env-id", required=True, help="Environment id: names the jobs (aliecs-<env-id>...).")
@click.option(
    "--format",
    "fmt",
    type=click.Choice([f.value for f in Format]),
    default=Format.BOTH.value,
    show_default=True,
    help="API-JSON (<job>.json, for `nomad job run -json`), HCL2 (<job>.nomad.hcl) or both.",
)
@click.option("--out", required=True, type=click.Path(file_okay=False), help="Directory for the job files.")
@reports_errors
def render_command(env_id: str, fmt: str, out: str, **inputs: Any) -> None:
    """Render WORKFLOW as Nomad job files, one per job, checked against Nomad's rules."""
    plan, options = _plan_and_options(env_id=env_id, **inputs)
    jobs = render(plan, options)
    rendered = files(jobs, Format(fmt))
    removed = write_files(Path(out), rendered, plan.env_id)
    _warn(plan, jobs)
    for job in jobs.jobs:
        names = [n for n in (json_filename(job), hcl_filename(job)) if n in rendered]
        click.echo(f"{jobs.kinds[job.id]:<8} {' '.join(os.path.join(out, n) for n in names)}")
    for name in removed:
        click.echo(f"removed  {os.path.join(out, name)} (stale)")
    click.echo(f"{plan.workflow}: {_summary(jobs)} for Nomad {options.nomad_version}", err=True)


@cli.command("validate")
@_inputs
@click.option("--env-id", help="Environment id (default: a new id).")
@reports_errors
def validate_command(env_id: str | None, **inputs: Any) -> None:
    """Check that WORKFLOW maps to Nomad jobs that Nomad's rules accept (no cluster needed)."""
    plan, options = _plan_and_options(env_id=env_id, **inputs)
    jobs = render(plan, options)
    _warn(plan, jobs)
    click.echo(f"ok: {plan.workflow}: {_summary(jobs)} valid for Nomad {options.nomad_version}")
