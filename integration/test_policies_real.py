"""Nomad and Consul ACL policies of policies/ applied to real ACL-enabled agents, and exercised.

Where the agents come from, in order:

* ``NOMAD_ADDR`` + ``NOMAD_TOKEN`` (a management token) / ``CONSUL_HTTP_ADDR`` +
  ``CONSUL_HTTP_TOKEN``: an existing cluster. Only throwaway objects are touched: every policy,
  role, namespace, job and KV key gets a random ``t<hex>-`` prefix and is deleted afterwards.
* ``nomad`` / ``consul`` on PATH: a ``-dev`` agent with ACLs on, started here on 127.0.0.1 with
  free ports, bootstrapped, and stopped at the end of the module.
* otherwise the tests are skipped with the reason.

Each policy is held by a freshly created token and tried on the calls it must allow and the
calls it must refuse.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import secrets
import shutil
import uuid
from pathlib import Path

import httpx
import pytest

from nomadctl.clients import errors
from nomadctl.clients.config import ConsulConfig, NomadConfig
from nomadctl.clients.consul import ConsulClient
from nomadctl.clients.consul_acl import ConsulAclClient
from nomadctl.clients.nomad import NomadClient
from nomadctl.clients.nomad_acl import NomadAclClient
from nomadctl.clients.retry import NO_RETRY
from nomadctl.policies import nomad_caps, reconcile, spec
from tests.support.processes import DevProcess, free_port

pytestmark = pytest.mark.real

ROOT = Path(__file__).resolve().parents[1] / "policies"
STARTUP = 60.0
PREFIX = f"t{secrets.token_hex(3)}-"


# readiness probes may meet a not-yet-listening agent, a half-started API, or ACLs still off
NOT_YET = (httpx.HTTPError, ValueError, errors.BackendError)


# --- throwaway copies of the declared objects ---------------------------------------------------


def prefixed(desired: spec.Spec) -> spec.Spec:
    """The same spec with every name (and every namespace a Nomad rule names) behind PREFIX."""
    names = {ns.name for ns in desired.namespaces}

    def rename_namespaces(text: str) -> str:
        return re.sub(
            r'namespace "([^"]+)"',
            lambda m: f'namespace "{PREFIX}{m.group(1)}"' if m.group(1) in names else m.group(0),
            text,
        )

    def doc(d: spec.PolicyDoc, rules: str | None = None) -> spec.PolicyDoc:
        return dataclasses.replace(d, name=PREFIX + d.name, rules=rules if rules is not None else d.rules)

    return dataclasses.replace(
        desired,
        nomad_policies=tuple(doc(d, rename_namespaces(d.rules)) for d in desired.nomad_policies),
        namespaces=tuple(
            dataclasses.replace(
                ns, name=PREFIX + ns.name, rules=dataclasses.replace(ns.rules, name=PREFIX + ns.name)
            )
            for ns in desired.namespaces
            if ns.name != "default"  # never touch a shared cluster's default namespace
        ),
        consul_policies=tuple(doc(d) for d in desired.consul_policies),
        consul_roles=tuple(
            dataclasses.replace(r, name=PREFIX + r.name, policies=tuple(PREFIX + p for p in r.policies))
            for r in desired.consul_roles
        ),
    )


@pytest.fixture(scope="module")
def desired() -> spec.Spec:
    return prefixed(spec.load(ROOT))


# --- Nomad ----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def nomad(tmp_path_factory):
    """A management-token NomadConfig for an ACL-enabled Nomad."""
    if os.environ.get("NOMAD_ADDR") and os.environ.get("NOMAD_TOKEN"):
        yield NomadConfig.from_env()
        return
    if not shutil.which("nomad"):
        pytest.skip("no Nomad: set NOMAD_ADDR and NOMAD_TOKEN (management), or put nomad on PATH")
    workdir = tmp_path_factory.mktemp("nomad-acl")
    http = free_port()
    (workdir / "nomad.hcl").write_text(
        f'bind_addr = "127.0.0.1"\nports {{\n  http = {http}\n  rpc = {free_port()}\n'
        f"  serf = {free_port()}\n}}\n"
        'log_level = "WARN"\nacl {\n  enabled = true\n}\n'
        'consul {\n  address = "127.0.0.1:1"\n  auto_advertise = false\n  server_auto_join = false\n'
        "  client_auto_join = false\n}\n"
    )
    agent = DevProcess(["nomad", "agent", "-dev", f"-config={workdir / 'nomad.hcl'}"], workdir / "nomad.log")
    address = f"http://127.0.0.1:{http}"
    try:
        agent.wait_until(
            lambda: httpx.get(f"{address}/v1/status/leader", timeout=1).json() != "",
            STARTUP,
            "nomad agent -dev",
            tolerate=NOT_YET,
        )
        tokens = []
        agent.wait_until(
            lambda: (
                tokens.append(NomadAclClient(NomadConfig(address=address), retry=NO_RETRY).bootstrap())
                is None
            ),
            STARTUP,
            "nomad acl bootstrap",
            tolerate=NOT_YET,
        )
        yield NomadConfig(address=address, token=tokens[0].secret_id)
    finally:
        agent.stop()


def probe_job(job_id: str, namespace: str, driver: str = "raw_exec") -> dict:
    config = {"command": "/bin/true"} if driver == "raw_exec" else {"image": "busybox"}
    return {
        "Job": {
            "ID": job_id,
            "Name": job_id,
            "Type": "batch",
            "Namespace": namespace,
            "Datacenters": ["*"],
            "Priority": 50,
            "TaskGroups": [
                {
                    "Name": "probe",
                    "Count": 1,
                    "Tasks": [
                        {
                            "Name": "probe",
                            "Driver": driver,
                            "Config": config,
                            "Resources": {"CPU": 20, "MemoryMB": 16},
                        }
                    ],
                }
            ],
        }
    }


@pytest.fixture(scope="module")
def nomad_applied(nomad, desired):
    admin = NomadAclClient(nomad, retry=NO_RETRY)
    with NomadClient(nomad, retry=NO_RETRY) as agent:
        version = nomad_caps.parse_version(agent.agent_self().version)
    first = reconcile.execute([reconcile.plan_nomad(admin, desired, version=version)])
    tokens = {}
    try:
        for doc in desired.nomad_policies:
            tokens[doc.name.removeprefix(PREFIX)] = admin.create_token(f"{PREFIX}probe", [doc.name])
        yield first, version, tokens
    finally:
        for ns in desired.namespaces:
            with NomadClient(dataclasses.replace(nomad, namespace=ns.name), retry=NO_RETRY) as mgmt:
                for job in mgmt.jobs().data:
                    mgmt.deregister_job(job.id, purge=True)
        for token in tokens.values():
            admin.delete_token(token.accessor_id)
        for doc in desired.nomad_policies:
            admin.delete_policy(doc.name)
        for ns in desired.namespaces:
            admin.delete_namespace(ns.name)
        admin.close()


def as_holder(nomad: NomadConfig, token, namespace: str) -> NomadClient:
    return NomadClient(
        dataclasses.replace(nomad, token=token.secret_id, namespace=PREFIX + namespace), retry=NO_RETRY
    )


def test_nomad_apply_creates_then_is_idempotent(nomad, desired, nomad_applied):
    first, version, _ = nomad_applied
    assert {c.action for c in first.changes} == {reconcile.Action.CREATE}
    again = reconcile.execute(
        [reconcile.plan_nomad(NomadAclClient(nomad, retry=NO_RETRY), desired, version=version)], dry_run=True
    )
    assert not again.drift, again.lines()


def test_nomad_controller_drives_jobs_in_its_namespaces_only(nomad, nomad_applied):
    _, version, tokens = nomad_applied
    with as_holder(nomad, tokens["nomadctl-controller"], "online") as controller:
        job = probe_job(f"{PREFIX}ctl", PREFIX + "online")
        controller.plan_job(job)
        controller.register_job(job)
        assert controller.job(f"{PREFIX}ctl").data.id == f"{PREFIX}ctl"
        assert controller.nodes().data is not None
        assert controller.agent_self().version
        with pytest.raises(errors.NomadBadRequest, match="not allowed in namespace"):
            controller.register_job(probe_job(f"{PREFIX}docker", PREFIX + "online", driver="docker"))
        if nomad_caps.supports_fine_grained(version):
            with pytest.raises(errors.NomadForbidden):
                controller.deregister_job(f"{PREFIX}ctl", purge=True)
        controller.deregister_job(f"{PREFIX}ctl")
    with (
        as_holder(nomad, tokens["nomadctl-controller"], "users") as controller,
        pytest.raises(errors.NomadForbidden),
    ):
        controller.register_job(probe_job(f"{PREFIX}ctl", PREFIX + "users", driver="exec"))


def test_nomad_ci_registers_in_async_only(nomad, nomad_applied):
    _, version, tokens = nomad_applied
    with as_holder(nomad, tokens["ci-submitter"], "async") as ci:
        ci.register_job(probe_job(f"{PREFIX}ci", PREFIX + "async"))
        if nomad_caps.supports_fine_grained(version):
            with pytest.raises(errors.NomadForbidden):
                ci.deregister_job(f"{PREFIX}ci")
    with as_holder(nomad, tokens["ci-submitter"], "online") as ci, pytest.raises(errors.NomadForbidden):
        ci.register_job(probe_job(f"{PREFIX}ci", PREFIX + "online"))


def test_nomad_dashboard_reads_and_cannot_write(nomad, nomad_applied):
    _, _, tokens = nomad_applied
    with as_holder(nomad, tokens["dashboard-read"], "online") as dashboard:
        dashboard.jobs()
        dashboard.nodes()
        with pytest.raises(errors.NomadForbidden):
            dashboard.register_job(probe_job(f"{PREFIX}dash", PREFIX + "online"))


def test_nomad_operator_stops_but_does_not_register(nomad, nomad_applied):
    _, version, tokens = nomad_applied
    with as_holder(nomad, tokens["operator"], "async") as operator:
        if nomad_caps.supports_fine_grained(version):
            with pytest.raises(errors.NomadForbidden):
                operator.register_job(probe_job(f"{PREFIX}op", PREFIX + "async"))
        operator.deregister_job(f"{PREFIX}ci")  # registered by CI above, or absent: both succeed


# --- Consul ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def consul(tmp_path_factory):
    """A management-token ConsulConfig for an ACL-enabled Consul."""
    if os.environ.get("CONSUL_HTTP_ADDR") and os.environ.get("CONSUL_HTTP_TOKEN"):
        yield ConsulConfig.from_env()
        return
    if not shutil.which("consul"):
        pytest.skip(
            "no Consul: set CONSUL_HTTP_ADDR and CONSUL_HTTP_TOKEN (management), or put consul on PATH"
        )
    workdir = tmp_path_factory.mktemp("consul-acl")
    http = free_port()
    management = str(uuid.uuid4())
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
        "acl": {"enabled": True, "default_policy": "deny", "tokens": {"initial_management": management}},
    }
    (workdir / "consul.json").write_text(json.dumps(config))
    agent = DevProcess(
        ["consul", "agent", "-dev", f"-config-file={workdir / 'consul.json'}"], workdir / "consul.log"
    )
    address = f"http://127.0.0.1:{http}"
    try:
        agent.wait_until(
            lambda: httpx.get(f"{address}/v1/status/leader", timeout=1).json() not in ("", None),
            STARTUP,
            "consul agent -dev",
            tolerate=NOT_YET,
        )
        yield ConsulConfig(address=address, token=management)
    finally:
        agent.stop()


@pytest.fixture(scope="module")
def consul_applied(consul, desired):
    admin = ConsulAclClient(consul, retry=NO_RETRY)
    first = reconcile.execute([reconcile.plan_consul(admin, desired)])
    tokens = {}
    try:
        for role in desired.consul_roles:
            tokens[role.name.removeprefix(PREFIX)] = admin.create_token(f"{PREFIX}probe", roles=[role.name])
        yield first, tokens
    finally:
        with ConsulClient(consul, retry=NO_RETRY) as kv:
            for prefix in ("nomadctl/", "o2/runtime/", "o2/components/"):
                kv.kv_delete(f"{prefix}{PREFIX}", recurse=True)
        for token in tokens.values():
            admin.delete_token(token.accessor_id)
        for role in admin.roles():
            if role.name.startswith(PREFIX):
                admin.delete_role(role.id)
        for policy in admin.policies():
            if policy.name.startswith(PREFIX):
                admin.delete_policy(policy.id)
        admin.close()


def kv_as(consul: ConsulConfig, token) -> ConsulClient:
    return ConsulClient(dataclasses.replace(consul, token=token.secret_id), retry=NO_RETRY)


def unreadable(client: ConsulClient, key: str) -> None:
    """Consul answers 403 for a key the token may not read (older versions: as if absent)."""
    try:
        entry = client.kv_get(key).data
    except errors.ConsulForbidden:
        return
    assert entry is None, key


def test_consul_apply_creates_then_is_idempotent(consul, desired, consul_applied):
    first, _ = consul_applied
    assert {c.action for c in first.changes} == {reconcile.Action.CREATE}
    again = reconcile.execute(
        [reconcile.plan_consul(ConsulAclClient(consul, retry=NO_RETRY), desired)], dry_run=True
    )
    assert not again.drift, again.lines()


def test_consul_controller_writes_its_prefix_and_runtime_only(consul, consul_applied):
    _, tokens = consul_applied
    with ConsulClient(consul, retry=NO_RETRY) as admin:
        admin.kv_put(f"o2/components/{PREFIX}readout", "cfg")
    with kv_as(consul, tokens["nomadctl-controller"]) as controller:
        controller.kv_put(f"nomadctl/{PREFIX}env", "state")
        controller.kv_put(f"o2/runtime/{PREFIX}var", "1")
        assert controller.kv_get(f"o2/components/{PREFIX}readout").data.text == "cfg"
        session = controller.session_create(f"{PREFIX}lock", ttl=10)
        controller.session_destroy(session)
        controller.catalog_services()
        for key in (f"o2/components/{PREFIX}readout", f"elsewhere/{PREFIX}x"):
            with pytest.raises(errors.ConsulForbidden):
                controller.kv_put(key, "x")


def test_consul_tasks_read_config_and_services_and_write_nothing(consul, consul_applied):
    _, tokens = consul_applied
    with ConsulClient(consul, retry=NO_RETRY) as admin:
        admin.kv_put(f"o2/components/{PREFIX}qc", "cfg")
        admin.kv_put(f"nomadctl/{PREFIX}state", "secret-ish")
    with kv_as(consul, tokens["nomad-online-tasks"]) as task:
        assert task.kv_get(f"o2/components/{PREFIX}qc").data.text == "cfg"
        task.catalog_services()
        with pytest.raises(errors.ConsulForbidden):
            task.kv_put(f"o2/components/{PREFIX}qc", "x")
        unreadable(task, f"nomadctl/{PREFIX}state")
    with kv_as(consul, tokens["nomad-users-tasks"]) as task:
        unreadable(task, f"o2/components/{PREFIX}qc")
        task.catalog_services()
