"""plan/apply/drift for Nomad and Consul through the real ACL clients on in-memory APIs."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from nomadctl.clients import errors
from nomadctl.clients.config import ConsulConfig, NomadConfig
from nomadctl.clients.consul_acl import ConsulAclClient
from nomadctl.clients.nomad_acl import Namespace, NomadAclClient
from nomadctl.clients.retry import NO_RETRY
from nomadctl.policies import reconcile, spec
from nomadctl.policies.reconcile import Action

from .conftest import FakeNomadAcl

ROOT = Path(__file__).resolve().parents[2] / "policies"


@pytest.fixture(scope="module")
def desired():
    return spec.load(ROOT)


def nomad_client(fake) -> NomadAclClient:
    return NomadAclClient(
        NomadConfig(address="http://nomad.test:4646"), transport=httpx.MockTransport(fake), retry=NO_RETRY
    )


def consul_client(fake) -> ConsulAclClient:
    return ConsulAclClient(
        ConsulConfig(address="http://consul.test:8500"), transport=httpx.MockTransport(fake), retry=NO_RETRY
    )


def apply_nomad(fake, desired, version=(2, 0, 5), dry_run=False) -> reconcile.Report:
    return reconcile.execute(
        [reconcile.plan_nomad(nomad_client(fake), desired, version=version)], dry_run=dry_run
    )


def actions(report):
    return {(c.kind, c.name): c.action for c in report.changes}


# --- Nomad ----------------------------------------------------------------------------------------


def test_nomad_first_apply_creates_then_nothing_changes(fake_nomad, desired):
    first = apply_nomad(fake_nomad, desired)
    got = actions(first)
    assert got[("namespace", "default")] is Action.UPDATE  # exists in every cluster; we restrict it
    assert {a for k, a in got.items() if k != ("namespace", "default")} == {Action.CREATE}
    assert set(fake_nomad.policies) == {d.name for d in desired.nomad_policies}
    assert fake_nomad.policies["operator"]["Description"].startswith("Held by: ALICE run coordinators")
    online = fake_nomad.namespaces["online"]
    assert online["Capabilities"] == {"EnabledTaskDrivers": ["raw_exec"], "DisabledTaskDrivers": []}
    assert online["Meta"]["nomadctl.priority"] == "80-90"

    fake_nomad.requests.clear()
    second = apply_nomad(fake_nomad, desired)
    assert not second.drift
    assert fake_nomad.writes() == []


def test_nomad_dry_run_writes_nothing_and_reports_what_it_would_do(fake_nomad, desired):
    report = apply_nomad(fake_nomad, desired, dry_run=True)
    assert report.drift
    assert fake_nomad.writes() == []
    assert report.lines()[-1] == "9 would be created, 1 would be updated, 0 unchanged"
    assert fake_nomad.policies == {}


def test_nomad_drift_names_the_fields_and_lines_that_differ(fake_nomad, desired):
    apply_nomad(fake_nomad, desired)
    fake_nomad.namespaces["users"]["Capabilities"] = None
    fake_nomad.namespaces["users"]["Meta"]["nomadctl.priority"] = "1-100"
    fake_nomad.policies["ci-submitter"]["Rules"] += 'namespace "online" {\n  policy = "write"\n}\n'
    report = apply_nomad(fake_nomad, desired, dry_run=True)
    changed = {c.name: c.details for c in report.changes if c.action is Action.UPDATE}
    assert set(changed) == {"users", "ci-submitter"}
    assert "disabled_task_drivers: [] -> ['raw_exec']" in changed["users"]
    assert any(d.startswith("meta: ") and "'1-100'" in d for d in changed["users"])
    assert changed["ci-submitter"] == ('-namespace "online" {', '-  policy = "write"', "-}")
    apply_nomad(fake_nomad, desired)
    assert not apply_nomad(fake_nomad, desired, dry_run=True).drift


def test_nomad_1_x_gets_the_submit_job_variant_and_a_note_per_widened_policy(desired):
    old = FakeNomadAcl(version="1.10.6")
    with pytest.raises(errors.NomadBadRequest, match="invalid namespace capability"):
        nomad_client(old).write_policy("raw", by_name(desired, "nomadctl-controller"))
    report = apply_nomad(old, desired, version=(1, 10, 6))
    stored = old.policies["nomadctl-controller"]["Rules"]
    assert stored.startswith("# Rewritten by nomadctl for Nomad 1.10.6 (< 2.0)")
    assert '"register-job"' not in stored
    assert '"submit-job"' in stored
    assert {n.split("'")[1] for n in report.notes} == {"nomadctl-controller", "ci-submitter", "operator"}
    assert not apply_nomad(old, desired, version=(1, 10, 6), dry_run=True).drift
    # the same cluster upgraded to 2.0: the fine-grained variant is drift, and applying narrows it
    upgraded = apply_nomad(old, desired, version=(2, 0, 0), dry_run=True)
    assert {c.name for c in upgraded.changes if c.action is Action.UPDATE} == {
        "nomadctl-controller",
        "ci-submitter",
        "operator",
    }


def by_name(desired, name):
    return next(d.rules for d in desired.nomad_policies if d.name == name)


def test_nomad_acl_client_reads_absent_objects_as_none_and_maps_errors():
    fake = FakeNomadAcl(token="mgmt-token-123")
    anonymous = nomad_client(fake)
    with pytest.raises(errors.NomadForbidden) as info:
        anonymous.policies()
    assert "mgmt-token-123" not in str(info.value)
    client = NomadAclClient(
        NomadConfig(address="http://nomad.test:4646", token="mgmt-token-123"),
        transport=httpx.MockTransport(fake),
        retry=NO_RETRY,
    )
    assert client.policy("nope") is None
    assert client.namespace("nope") is None
    client.write_namespace(Namespace(name="x", description="d", meta={"k": "v"}))
    assert client.namespace("x") == Namespace(name="x", description="d", meta={"k": "v"})
    assert fake.namespaces["x"] == {"Name": "x", "Description": "d", "Meta": {"k": "v"}}


# --- Consul ---------------------------------------------------------------------------------------


def test_consul_policies_then_roles_created_once(fake_consul, desired):
    first = reconcile.execute([reconcile.plan_consul(consul_client(fake_consul), desired)])
    assert {c.action for c in first.changes} == {Action.CREATE}
    assert [c.kind for c in first.changes] == ["policy"] * 3 + ["role"] * 4
    roles = {r["Name"]: r for r in fake_consul.roles.values()}
    assert roles["nomad-online-tasks"]["Policies"] == [
        {"Name": "task-discovery"},
        {"Name": "aliecs-config-read"},
    ]
    fake_consul.requests.clear()
    second = reconcile.execute([reconcile.plan_consul(consul_client(fake_consul), desired)])
    assert not second.drift
    assert fake_consul.writes() == []


def test_consul_drift_is_updated_in_place_by_id(fake_consul, desired):
    reconcile.execute([reconcile.plan_consul(consul_client(fake_consul), desired)])
    (pid,) = [i for i, p in fake_consul.policies.items() if p["Name"] == "task-discovery"]
    fake_consul.policies[pid]["Rules"] = 'service_prefix "" { policy = "write" }'
    (rid,) = [i for i, r in fake_consul.roles.items() if r["Name"] == "nomad-users-tasks"]
    fake_consul.roles[rid]["Policies"].append({"Name": "aliecs-config-read"})
    report = reconcile.execute([reconcile.plan_consul(consul_client(fake_consul), desired)])
    changed = {c.name: c.details for c in report.changes if c.action is Action.UPDATE}
    assert set(changed) == {"task-discovery", "nomad-users-tasks"}
    assert changed["nomad-users-tasks"] == (
        "policies: ['aliecs-config-read', 'task-discovery'] -> ['task-discovery']",
    )
    assert f"PUT /v1/acl/policy/{pid}" in fake_consul.writes()
    assert f"PUT /v1/acl/role/{rid}" in fake_consul.writes()
    assert len(fake_consul.policies) == 3
    assert not reconcile.execute(
        [reconcile.plan_consul(consul_client(fake_consul), desired)], dry_run=True
    ).drift


# --- the report -----------------------------------------------------------------------------------


def test_report_lines_show_each_item_its_differences_notes_and_totals():
    report = reconcile.Report(
        changes=(
            reconcile.Change("nomad", "policy", "operator", Action.UPDATE, ("-a", "+b")),
            reconcile.Change("consul", "role", "r", Action.UNCHANGED),
        ),
        notes=("something widened",),
    )
    assert report.lines() == [
        "nomad  policy        operator                    updated",
        "    -a",
        "    +b",
        "consul role          r                           unchanged",
        "note: something widened",
        "0 created, 1 updated, 1 unchanged",
    ]
    assert report.drift


def test_jwt_config_needs_exactly_one_key_source(desired):
    (auth,) = desired.vault_auth
    with pytest.raises(spec.PolicyError, match="pass --jwks-url"):
        reconcile._jwt_config(auth, {})
    with pytest.raises(spec.PolicyError, match="exactly one key source"):
        reconcile._jwt_config(
            auth, {"jwks_url": "https://n/.well-known/jwks.json", "jwt_validation_pubkeys": ["k"]}
        )
    assert reconcile._jwt_config(auth, {"jwks_url": "u", "jwks_ca_pem": None})["jwks_url"] == "u"


def test_role_fields_are_compared_as_vault_reports_them():
    written = {
        "token_period": "30m",
        "token_policies": ["b", "a"],
        "bound_claims": {"x": "y"},
        "token_ttl": "0",
    }
    reported = {
        "token_period": 1800,
        "token_policies": ["a", "b"],
        "bound_claims": {"x": "y"},
        "token_ttl": 0,
        "extra": 1,
    }
    assert reconcile.normalize_fields(reported, written) == reconcile.normalize_fields(written, written)
