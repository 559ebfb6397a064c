"""Security baseline checks: planted tokens never surface; TLS verification is never switched off
in code, except on the explicit, warned skip-verify path of the clients' configuration."""

from __future__ import annotations

import ast
import logging
import secrets
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from nomadctl.cli import cli
from nomadctl.cli import policies as cli_policies
from nomadctl.clients.config import ConsulConfig, NomadConfig
from nomadctl.clients.consul_acl import ConsulAclClient, ConsulAclToken
from nomadctl.clients.nomad import NomadClient
from nomadctl.clients.nomad_acl import AclToken, NomadAclClient
from nomadctl.clients.retry import RetryPolicy

from .conftest import FakeConsulAcl, FakeNomadAcl

PACKAGE = Path(__file__).resolve().parents[2] / "nomadctl"
ROOT = PACKAGE.parent / "policies"
FAST_RETRY = RetryPolicy(attempts=3, backoff_initial=0.0, backoff_max=0.0)


class EchoOnce:
    """Wraps a fake API: the first answer is a 500 whose body echoes the caller's token."""

    def __init__(self, inner, header: str) -> None:
        self.inner = inner
        self.header = header
        self.echoed = False

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if not self.echoed:
            self.echoed = True
            return httpx.Response(
                500, text=f"internal error handling token {request.headers.get(self.header)}"
            )
        return self.inner(request)


@pytest.fixture
def planted():
    return {"nomad": "nomad-" + secrets.token_hex(16), "consul": "consul-" + secrets.token_hex(16)}


@pytest.fixture
def wired(monkeypatch, planted):
    """The CLI's clients, configured from the environment as in production, on in-memory APIs."""
    nomad = FakeNomadAcl(token=planted["nomad"])
    consul = FakeConsulAcl(token=planted["consul"])
    nomad_transport = httpx.MockTransport(EchoOnce(nomad, "X-Nomad-Token"))
    consul_transport = httpx.MockTransport(EchoOnce(consul, "X-Consul-Token"))
    no_sleep = {"retry": FAST_RETRY, "sleep": lambda _s: None}

    class Nomad(NomadAclClient):
        @classmethod
        def from_env(cls, env=None, **kwargs):
            return NomadAclClient(NomadConfig.from_env(env), transport=nomad_transport, **no_sleep)

    class Consul(ConsulAclClient):
        @classmethod
        def from_env(cls, env=None, **kwargs):
            return ConsulAclClient(ConsulConfig.from_env(env), transport=consul_transport, **no_sleep)

    monkeypatch.setattr(cli_policies, "NomadAclClient", Nomad)
    monkeypatch.setattr(cli_policies, "ConsulAclClient", Consul)
    monkeypatch.setattr(
        cli_policies, "NomadClient", lambda config: NomadClient(config, transport=nomad_transport, **no_sleep)
    )
    env = {
        "NOMAD_ADDR": "http://nomad.test:4646",
        "NOMAD_TOKEN": planted["nomad"],
        "CONSUL_HTTP_ADDR": "consul.test:8500",
        "CONSUL_HTTP_TOKEN": planted["consul"],
    }
    return nomad, consul, env


def test_planted_tokens_never_reach_logs_output_or_errors(wired, planted, caplog):
    nomad, consul, env = wired
    caplog.set_level(logging.DEBUG)  # every logger: ours, httpx, httpcore, urllib3
    runner = CliRunner()
    args = ["--nomad", "--consul", "--dir", str(ROOT)]
    applied = runner.invoke(cli, ["policies", "apply", *args], env=env, catch_exceptions=False)
    assert applied.exit_code == 0, applied.output
    # the apply really ran, with the tokens from the environment
    assert set(nomad.policies) == {p.stem for p in (ROOT / "nomad").glob("*.hcl")}
    assert len(consul.roles) == 4
    checked = runner.invoke(cli, ["policies", "check", *args], env=env, catch_exceptions=False)
    assert checked.exit_code == 0, checked.output
    denied = runner.invoke(
        cli,
        ["policies", "check", *args],
        env={**env, "NOMAD_TOKEN": planted["consul"]},
        catch_exceptions=False,
    )
    assert denied.exit_code == 255
    assert "Permission denied" in denied.output

    # one retry warning per backend for the 500 that echoed its token, with the token masked
    retries = [r for r in caplog.records if r.name == "nomadctl.clients" and r.levelno == logging.WARNING]
    assert len(retries) == 2
    assert all("<redacted>" in r.getMessage() for r in retries)
    for token in planted.values():
        assert token not in caplog.text
        for result in (applied, checked, denied):
            assert token not in result.output


def test_token_objects_never_show_their_secret():
    secret = secrets.token_hex(16)
    nomad = AclToken.model_validate({"AccessorID": "a", "SecretID": secret, "Policies": ["p"]})
    consul = ConsulAclToken.model_validate(
        {"AccessorID": "a", "SecretID": secret, "Policies": [{"Name": "p"}]}
    )
    for token in (nomad, consul):
        assert secret not in repr(token)
        assert secret not in str(token)
    assert consul.policies == ("p",)
    assert secret not in repr(NomadConfig(token=secret))


# --- TLS verification stays on ----------------------------------------------------------------

ALLOWED_SKIP = "clients/config.py"


def unverified_tls(source: str, rel: str) -> list[str]:
    """Places in ``source`` that switch TLS verification off outside the warned skip path."""
    tree = ast.parse(source)
    found: list[str] = []
    parents: dict[ast.AST, ast.AST] = {}
    for node in ast.walk(tree):
        for child in ast.iter_child_nodes(node):
            parents[child] = node

    def warned(node: ast.AST) -> bool:
        while node in parents:
            node = parents[node]
            if isinstance(node, ast.FunctionDef):
                calls = {
                    n.func.attr if isinstance(n.func, ast.Attribute) else getattr(n.func, "id", "")
                    for n in ast.walk(node)
                    if isinstance(n, ast.Call)
                }
                return rel == ALLOWED_SKIP and "warn_skip" in calls
        return False

    for node in ast.walk(tree):
        where = f"{rel}:{getattr(node, 'lineno', '?')}"
        if isinstance(node, ast.keyword) and node.arg == "verify":
            if isinstance(node.value, ast.Constant) and node.value.value is False:
                found.append(f"{where}: verify=False")
        elif isinstance(node, ast.Attribute) and node.attr in ("CERT_NONE", "_create_unverified_context"):
            if not warned(node):
                found.append(f"{where}: {node.attr}")
        elif isinstance(node, ast.Assign):
            for target in node.targets:
                if (
                    isinstance(target, ast.Attribute)
                    and target.attr == "check_hostname"
                    and isinstance(node.value, ast.Constant)
                    and node.value.value is False
                    and not warned(node)
                ):
                    found.append(f"{where}: check_hostname = False")
        elif isinstance(node, ast.FunctionDef) and node.name == "requests_verify":
            for ret in ast.walk(node):
                if (
                    isinstance(ret, ast.Return)
                    and isinstance(ret.value, ast.Constant)
                    and ret.value.value is False
                    and not (rel == ALLOWED_SKIP and warned(ret))
                ):
                    found.append(f"{where}: requests_verify returns False")
    return found


def test_no_module_switches_tls_verification_off():
    found: list[str] = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = str(path.relative_to(PACKAGE))
        found += unverified_tls(path.read_text(), rel)
    assert found == []


def test_the_tls_checker_catches_what_it_looks_for():
    bad = (
        "import ssl, httpx\n"
        "httpx.Client(verify=False)\n"
        "ctx = ssl.create_default_context()\n"
        "ctx.check_hostname = False\n"
        "ctx.verify_mode = ssl.CERT_NONE\n"
        "ssl._create_unverified_context()\n"
    )
    assert len(unverified_tls(bad, "controller/x.py")) == 4
    warned_elsewhere = "def f(self):\n    self.warn_skip('x')\n    ctx.verify_mode = ssl.CERT_NONE\n"
    assert unverified_tls(warned_elsewhere, "controller/x.py")
    assert not unverified_tls(warned_elsewhere, ALLOWED_SKIP)
