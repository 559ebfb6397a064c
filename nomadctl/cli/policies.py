"""``nomadctl policies ...``: apply the ACL policies of ``policies/`` and report drift.

Backends are reached with the usual variables (``VAULT_*``, ``NOMAD_*``, ``CONSUL_*``; see
``docs/clients.md``); tokens come only from there and are never printed. Without any of
``--vault/--nomad/--consul`` all three are used.

Exit codes of ``check`` follow ``nomad job plan``: 0 no drift, 1 drift, 255 an error (the error
is printed as for every command). ``apply`` exits 0 on success, else with the error's code.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import click

from nomadctl.cli import cli, reports_errors
from nomadctl.clients.config import NomadConfig
from nomadctl.clients.consul_acl import ConsulAclClient
from nomadctl.clients.nomad import NomadClient
from nomadctl.clients.nomad_acl import NomadAclClient
from nomadctl.clients.vault import VaultClient
from nomadctl.errors import NomadctlError, UsageError
from nomadctl.policies import nomad_caps, reconcile, spec

CHECK_ERROR_EXIT = 255


@dataclass(frozen=True, slots=True)
class Selection:
    """Which backends a command touches, and the deployment-specific inputs it was given."""

    vault: bool
    nomad: bool
    consul: bool
    jwks_url: str | None = None
    jwks_ca_file: str | None = None
    nomad_version: str | None = None


def _version(text: str, source: str) -> tuple[int, int, int]:
    try:
        return nomad_caps.parse_version(text)
    except ValueError as exc:
        raise UsageError(f"{source}: {exc}") from exc


def _jwt_overrides(selection: Selection) -> dict[str, str | None]:
    url = selection.jwks_url or NomadConfig.from_env().address + "/.well-known/jwks.json"
    ca_pem = None
    if selection.jwks_ca_file:
        try:
            ca_pem = Path(selection.jwks_ca_file).read_text(encoding="utf-8")
        except OSError as exc:
            raise UsageError(f"--jwks-ca-file: cannot read {selection.jwks_ca_file}: {exc.strerror}") from exc
    return {"jwks_url": url, "jwks_ca_pem": ca_pem}


@contextmanager
def open_backends(selection: Selection) -> Iterator[reconcile.Backends]:
    """Clients for the selected backends from the environment, closed on exit."""
    with ExitStack() as stack:
        vault = nomad = consul = None
        version = None
        overrides: dict[str, str | None] = {}
        if selection.vault:
            vault = stack.enter_context(VaultClient.from_env())
            overrides = _jwt_overrides(selection)
        if selection.nomad:
            nomad = stack.enter_context(NomadAclClient.from_env())
            if selection.nomad_version:
                version = _version(selection.nomad_version, "--nomad-version")
            else:
                with NomadClient(nomad.config) as agent:
                    version = _version(agent.agent_self().version, "Nomad /v1/agent/self version")
        if selection.consul:
            consul = stack.enter_context(ConsulAclClient.from_env())
        yield reconcile.Backends(
            vault=vault, nomad=nomad, consul=consul, nomad_version=version, jwt_config_overrides=overrides
        )


def run(directory: str, selection: Selection, *, dry_run: bool) -> reconcile.Report:
    """Load ``directory``, plan every selected backend and execute (nothing with ``dry_run``)."""
    desired = spec.load(directory)
    with open_backends(selection) as backends:
        return reconcile.execute(reconcile.plan_all(desired, backends), dry_run=dry_run)


def _selection(vault: bool, nomad: bool, consul: bool, **inputs: str | None) -> Selection:
    if not (vault or nomad or consul):
        vault = nomad = consul = True
    return Selection(vault=vault, nomad=nomad, consul=consul, **inputs)


_DIR = click.option(
    "--dir",
    "directory",
    default="policies",
    show_default=True,
    type=click.Path(),
    help="The policies directory (vault/, nomad/, consul/, namespaces.hcl).",
)


def _backend_options(fn: click.decorators.FC) -> click.decorators.FC:
    for option in reversed(
        (
            click.option("--vault", is_flag=True, help="Vault/OpenBao policies and JWT auth roles."),
            click.option("--nomad", is_flag=True, help="Nomad namespaces and ACL policies."),
            click.option("--consul", is_flag=True, help="Consul ACL policies and roles."),
            click.option("--jwks-url", help="Nomad's JWKS URL (default: $NOMAD_ADDR/.well-known/jwks.json)."),
            click.option("--jwks-ca-file", type=click.Path(), help="CA (PEM) to verify the JWKS URL's TLS."),
            click.option("--nomad-version", help="Nomad server version (default: asked from the agent)."),
            _DIR,
        )
    ):
        fn = option(fn)
    return fn


@cli.group()
def policies() -> None:
    """ACL policies as code: Vault, Nomad and Consul."""


@policies.command("validate")
@_DIR
@reports_errors
def validate(*, directory: str) -> None:
    """Parse and cross-check every policy file, without any cluster."""
    desired = spec.load(directory)
    click.echo(
        f"{len(desired.vault_policies)} Vault policies, {len(desired.vault_auth)} auth methods "
        f"({sum(len(a.roles) for a in desired.vault_auth)} roles), {len(desired.nomad_policies)} Nomad "
        f"policies, {len(desired.namespaces)} namespaces, {len(desired.consul_policies)} Consul policies, "
        f"{len(desired.consul_roles)} Consul roles: valid"
    )


@policies.command("apply")
@_backend_options
@click.option("--dry-run", is_flag=True, help="Show what would change; change nothing.")
@reports_errors
def apply(
    *,
    directory: str,
    vault: bool,
    nomad: bool,
    consul: bool,
    jwks_url: str | None,
    jwks_ca_file: str | None,
    nomad_version: str | None,
    dry_run: bool,
) -> None:
    """Create or update every declared policy, role and namespace; print what changed."""
    selection = _selection(
        vault, nomad, consul, jwks_url=jwks_url, jwks_ca_file=jwks_ca_file, nomad_version=nomad_version
    )
    report = run(directory, selection, dry_run=dry_run)
    if dry_run:
        click.echo("dry run: nothing was changed")
    for line in report.lines():
        click.echo(line)


@policies.command("check")
@_backend_options
def check(
    *,
    directory: str,
    vault: bool,
    nomad: bool,
    consul: bool,
    jwks_url: str | None,
    jwks_ca_file: str | None,
    nomad_version: str | None,
) -> None:
    """Report drift between policies/ and the backends: exit 0 none, 1 drift, 255 error."""
    selection = _selection(
        vault, nomad, consul, jwks_url=jwks_url, jwks_ca_file=jwks_ca_file, nomad_version=nomad_version
    )
    try:
        report = run(directory, selection, dry_run=True)
    except NomadctlError as err:
        click.echo(f"{err.kind}: {err.one_line()}", err=True)
        for line in err.details():
            click.echo(line, err=True)
        sys.exit(CHECK_ERROR_EXIT)
    for line in report.lines():
        click.echo(line)
    click.echo("drift: the backends differ from policies/" if report.drift else "no drift")
    sys.exit(1 if report.drift else 0)
