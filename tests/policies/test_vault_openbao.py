"""The Vault policies and JWT roles of policies/vault/, applied to a real OpenBao dev server.

Each policy is held by a token minted for it (or obtained by a JWT login, as Nomad does for a
task) and tried against every path it should and should not reach: read allowed exactly where the
header says, everything else (other classes, writes, deletes, lists, policy edits) refused.
"""

from __future__ import annotations

import logging
import secrets
from pathlib import Path

import pytest
from click.testing import CliRunner

from nomadctl.cli import cli
from nomadctl.clients import errors
from nomadctl.clients.config import VaultConfig
from nomadctl.clients.retry import NO_RETRY
from nomadctl.clients.vault import VaultClient
from nomadctl.clients.vault_auth import VaultAuth
from nomadctl.policies import reconcile, spec

from .conftest import nomad_claims

CLASSES = ("online", "async", "users")
MOUNT = "kv"
JWT_MOUNT = "jwt-nomad"


def client(address: str, token: str) -> VaultClient:
    return VaultClient(VaultConfig(address=address, token=token), mount=MOUNT, retry=NO_RETRY)


@pytest.fixture(scope="module")
def root(openbao):
    address, token = openbao
    vault = client(address, token)
    auth = VaultAuth(vault)
    if MOUNT not in auth.secrets_engines():
        auth.enable_kv_v2(MOUNT, description="AliECS task secrets")
    for cls in CLASSES:
        vault.kv_write(f"aliecs/{cls}/bookkeeping", {"token": f"{cls}-secret-value"})
    vault.kv_write("nomadctl/controller", {"nomad_token": "n-" + secrets.token_hex(8)})
    yield vault
    vault.close()


@pytest.fixture(scope="module")
def desired(policies_dir):
    return spec.load(policies_dir)


@pytest.fixture(scope="module")
def first_apply(root, desired, jwks_url):
    return reconcile.execute(
        [reconcile.plan_vault(root, desired, jwt_config_overrides={"jwks_url": jwks_url})]
    )


def plan(vault, desired, jwks_url) -> reconcile.Report:
    return reconcile.execute(
        [reconcile.plan_vault(vault, desired, jwt_config_overrides={"jwks_url": jwks_url})], dry_run=True
    )


def holder(root: VaultClient, *policies: str) -> VaultClient:
    token = root.token_create(policies=list(policies), ttl="10m", display_name="policy-test")
    return root.with_token(token)


def refused(fn, *args, **kwargs) -> None:
    with pytest.raises(errors.VaultForbidden):
        fn(*args, **kwargs)


# --- apply: create, idempotence, drift ----------------------------------------------------------


def test_first_apply_creates_every_declared_item(first_apply, desired):
    kinds = {(c.kind, c.name): c.action for c in first_apply.changes}
    assert {name for kind, name in kinds if kind == "policy"} == {d.name for d in desired.vault_policies}
    assert kinds[("auth method", JWT_MOUNT)] is reconcile.Action.CREATE
    assert kinds[("jwt config", JWT_MOUNT)] is reconcile.Action.CREATE
    assert {name for kind, name in kinds if kind == "jwt role"} == {
        f"{JWT_MOUNT}/{r}" for r in ("aliecs-online", "aliecs-async", "aliecs-users", "nomadctl-controller")
    }
    assert set(kinds.values()) == {reconcile.Action.CREATE}


def test_second_apply_changes_nothing(first_apply, root, desired, jwks_url):
    report = reconcile.execute(
        [reconcile.plan_vault(root, desired, jwt_config_overrides={"jwks_url": jwks_url})]
    )
    assert not report.drift
    assert {c.action for c in report.changes} == {reconcile.Action.UNCHANGED}
    assert report.lines()[-1] == "0 created, 0 updated, 11 unchanged"


def test_drift_is_reported_with_its_difference_and_repaired(first_apply, root, desired, jwks_url):
    root.policy_write("aliecs-online-read", 'path "kv/data/aliecs/*" { capabilities = ["read"] }')
    auth = VaultAuth(root)
    role = dict(next(r.fields for r in desired.vault_auth[0].roles if r.name == "aliecs-users"))
    auth.write_jwt_role(JWT_MOUNT, "aliecs-users", {**role, "token_policies": ["aliecs-online-read"]})

    report = plan(root, desired, jwks_url)
    assert report.drift
    changed = {c.name: c for c in report.changes if c.action is reconcile.Action.UPDATE}
    assert set(changed) == {"aliecs-online-read", f"{JWT_MOUNT}/aliecs-users"}
    assert '-path "kv/data/aliecs/*" { capabilities = ["read"] }' in changed["aliecs-online-read"].details
    assert 'path "kv/data/aliecs/online/*" {' in "\n".join(changed["aliecs-online-read"].details)
    assert changed[f"{JWT_MOUNT}/aliecs-users"].details == (
        "token_policies: ['aliecs-online-read'] -> ['aliecs-users-read']",
    )
    # the dry run changed nothing
    assert plan(root, desired, jwks_url).drift

    reconcile.execute([reconcile.plan_vault(root, desired, jwt_config_overrides={"jwks_url": jwks_url})])
    assert not plan(root, desired, jwks_url).drift


# --- what each policy's holder can and cannot do --------------------------------------------------


@pytest.mark.parametrize("cls", CLASSES)
def test_class_read_policy_reads_its_own_class_only(first_apply, root, cls):
    vault = holder(root, f"aliecs-{cls}-read")
    assert vault.kv_read(f"aliecs/{cls}/bookkeeping").data == {"token": f"{cls}-secret-value"}
    for other in CLASSES:
        if other != cls:
            refused(vault.kv_read, f"aliecs/{other}/bookkeeping")
    refused(vault.kv_read, "nomadctl/controller")
    refused(vault.kv_write, f"aliecs/{cls}/bookkeeping", {"token": "overwritten"})
    refused(vault.kv_write, f"aliecs/{cls}/new", {"token": "x"})
    refused(vault.kv_delete, f"aliecs/{cls}/bookkeeping")
    refused(vault.kv_list, f"aliecs/{cls}")
    refused(
        vault.hvac.secrets.kv.v2.read_secret_metadata, path=f"aliecs/{cls}/bookkeeping", mount_point=MOUNT
    )
    refused(vault.policy_write, f"aliecs-{cls}-read", 'path "*" { capabilities = ["sudo"] }')
    assert root.kv_read(f"aliecs/{cls}/bookkeeping").data == {"token": f"{cls}-secret-value"}


def test_controller_policy_sees_that_secrets_exist_but_not_their_values(first_apply, root):
    vault = holder(root, "nomadctl-controller")
    for cls in CLASSES:
        meta = vault.hvac.secrets.kv.v2.read_secret_metadata(
            path=f"aliecs/{cls}/bookkeeping", mount_point=MOUNT
        )
        assert meta["data"]["current_version"] >= 1
        assert vault.kv_list(f"aliecs/{cls}") == ["bookkeeping"]
        refused(vault.kv_read, f"aliecs/{cls}/bookkeeping")
        refused(vault.kv_write, f"aliecs/{cls}/bookkeeping", {"token": "x"})
    assert "nomad_token" in vault.kv_read("nomadctl/controller").data
    refused(vault.kv_write, "nomadctl/controller", {"nomad_token": "x"})
    refused(vault.hvac.secrets.kv.v2.read_secret_metadata, path="nomadctl/controller", mount_point=MOUNT)
    refused(vault.policy_write, "nomadctl-controller", 'path "*" { capabilities = ["read"] }')
    refused(vault.token_create, policies=["aliecs-online-read"])


def test_policy_admin_applies_everything_but_cannot_widen_itself(first_apply, root, desired, jwks_url):
    vault = holder(root, "nomadctl-policy-admin")
    assert not plan(vault, desired, jwks_url).drift

    root.policy_write("aliecs-async-read", 'path "kv/data/*" { capabilities = ["read"] }')
    report = reconcile.execute(
        [reconcile.plan_vault(vault, desired, jwt_config_overrides={"jwks_url": jwks_url})]
    )
    assert [c.name for c in report.changes if c.action is reconcile.Action.UPDATE] == ["aliecs-async-read"]
    assert not plan(root, desired, jwks_url).drift

    assert "nomadctl-policy-admin" in vault.policy_read("nomadctl-policy-admin")
    refused(vault.policy_write, "nomadctl-policy-admin", 'path "*" { capabilities = ["sudo"] }')
    refused(vault.policy_write, "ops-root", 'path "*" { capabilities = ["sudo"] }')
    refused(vault.policy_delete, "default")
    refused(VaultAuth(vault).enable_auth, "approle", "approle")
    refused(vault.kv_read, "aliecs/online/bookkeeping")
    refused(vault.kv_read, "nomadctl/controller")
    refused(vault.token_create, policies=["nomadctl-policy-admin"], ttl="1h")


# --- Nomad workload identities logging in ---------------------------------------------------------


@pytest.mark.parametrize("cls", CLASSES)
def test_a_workload_identity_gets_its_class_secrets_only(first_apply, root, rsa_key, cls):
    jwt = rsa_key.sign(nomad_claims(cls, f"aliecs-{secrets.token_hex(4)}"))
    task = VaultAuth(root).jwt_login(JWT_MOUNT, f"aliecs-{cls}", jwt)
    info = task.token_lookup_self()
    assert set(info.policies) == {"default", f"aliecs-{cls}-read"}
    assert 1700 <= info.ttl <= 1800  # periodic: token_period 30m, renewed by the Nomad client
    assert task.kv_read(f"aliecs/{cls}/bookkeeping").data["token"] == f"{cls}-secret-value"
    for other in CLASSES:
        if other != cls:
            refused(task.kv_read, f"aliecs/{other}/bookkeeping")
    refused(task.kv_write, f"aliecs/{cls}/bookkeeping", {"token": "x"})


def login_refused(root, role: str, jwt: str, reason: str = "") -> None:
    with pytest.raises(errors.VaultError) as info:
        VaultAuth(root).jwt_login(JWT_MOUNT, role, jwt)
    assert info.value.status in (400, 403)
    assert reason in str(info.value)


def test_a_job_cannot_log_in_to_another_namespace_role(first_apply, root, rsa_key):
    users_job = rsa_key.sign(nomad_claims("users", "innocent-looking"))
    login_refused(root, "aliecs-online", users_job, "bound claim")
    login_refused(root, "nomadctl-controller", users_job, "bound claim")


def test_logins_need_the_vault_audience_a_valid_signature_and_a_live_token(first_apply, root, rsa_key):
    login_refused(root, "aliecs-online", rsa_key.sign(nomad_claims("online", "x", aud="consul.io")))
    login_refused(root, "aliecs-online", rsa_key.sign(nomad_claims("online", "x", ttl=-600)))
    forged = type(rsa_key).generate(bits=1024)
    login_refused(root, "aliecs-online", forged.sign(nomad_claims("online", "x")))


def test_only_the_controller_job_in_infra_gets_the_controller_policy(first_apply, root, rsa_key):
    controller = VaultAuth(root).jwt_login(
        JWT_MOUNT, "nomadctl-controller", rsa_key.sign(nomad_claims("infra", "nomadctl", task="controller"))
    )
    assert set(controller.token_lookup_self().policies) == {"default", "nomadctl-controller"}
    assert "nomad_token" in controller.kv_read("nomadctl/controller").data
    login_refused(
        root, "nomadctl-controller", rsa_key.sign(nomad_claims("infra", "other-service")), "bound claim"
    )
    login_refused(
        root, "nomadctl-controller", rsa_key.sign(nomad_claims("online", "nomadctl")), "bound claim"
    )


def test_there_is_no_default_role(first_apply, root, rsa_key):
    login_refused(root, "", rsa_key.sign(nomad_claims("online", "x")), "missing role")


# --- the CLI against the same server --------------------------------------------------------------


def run_cli(args, env):
    return CliRunner().invoke(cli, ["policies", *args], env=env, catch_exceptions=False)


@pytest.mark.usefixtures("first_apply")
def test_cli_check_and_apply_exit_codes_and_no_token_in_output(openbao, root, policies_dir, jwks_url, caplog):
    address, root_token = openbao
    admin_token = root.token_create(policies=["nomadctl-policy-admin"], ttl="10m")
    env = {"VAULT_ADDR": address, "VAULT_TOKEN": admin_token}
    common = ["--vault", "--dir", str(policies_dir), "--jwks-url", jwks_url]
    caplog.set_level(logging.DEBUG)

    ok = run_cli(["check", *common], env)
    assert ok.exit_code == 0, ok.output
    assert ok.output.rstrip().endswith("no drift")

    root.policy_write(
        "aliecs-users-read", 'path "kv/data/aliecs/users/*" { capabilities = ["read", "list"] }'
    )
    drift = run_cli(["check", *common], env)
    assert drift.exit_code == 1, drift.output
    assert "aliecs-users-read" in drift.output
    assert "updated" in drift.output

    dry = run_cli(["apply", "--dry-run", *common], env)
    assert dry.exit_code == 0, dry.output
    assert "dry run: nothing was changed" in dry.output
    assert run_cli(["check", *common], env).exit_code == 1

    applied = run_cli(["apply", *common], env)
    assert applied.exit_code == 0, applied.output
    assert "0 created, 1 updated, 10 unchanged" in applied.output
    assert run_cli(["check", *common], env).exit_code == 0

    denied = run_cli(["check", *common], {**env, "VAULT_TOKEN": "s." + secrets.token_hex(12)})
    assert denied.exit_code == 255
    assert "403" in denied.output

    for token in (root_token, admin_token):
        assert token not in caplog.text
        for result in (ok, drift, dry, applied, denied):
            assert token not in result.output


def test_controller_checks_manifest_secrets_with_its_own_policy(first_apply, root):
    # The plan-time check reads metadata only, so it works with the controller's policy, which
    # cannot read values; a missing or deleted secret is a clear error naming the path only.
    from nomadctl.controller.errors import SecretMissing
    from nomadctl.controller.secrets import check_secrets
    from nomadctl.plan import ControlMode, EnvironmentPlan, RoleKind, RoleNode, TaskInstance

    def plan_with(*env: str) -> EnvironmentPlan:
        task = TaskInstance(
            path="wf.qc.merger",
            name="merger",
            parent_path="wf.qc",
            task_class="m",
            task_id="t",
            control_mode=ControlMode.DIRECT,
            shell=True,
            value="/bin/true",
            arguments=(),
            env=env,
            user="qc",
            host="qc001",
        )
        root_role = RoleNode(path="wf", name="wf", kind=RoleKind.AGGREGATOR)
        return EnvironmentPlan(
            env_id="e",
            workflow="wf",
            repo="r",
            root=root_role,
            tasks=(task,),
            calls=(),
            vars={},
            user_vars={},
            manifest_sha="x",
        )

    vault = holder(root, "nomadctl-controller")
    assert check_secrets(plan_with("T=vault:kv/aliecs/online/bookkeeping#token", "A=1"), vault) == 1
    with pytest.raises(SecretMissing) as missing:
        check_secrets(plan_with("T=vault:kv/aliecs/online/nope#token"), vault)
    assert str(missing.value) == (
        "vault secret kv/aliecs/online/nope (task wf.qc.merger, env T): no such secret"
    )
    root.kv_write("aliecs/async/gone", {"token": "gone-secret-value"})
    root.hvac.secrets.kv.v2.delete_latest_version_of_secret(path="aliecs/async/gone", mount_point=MOUNT)
    with pytest.raises(SecretMissing, match="no such secret") as deleted:
        check_secrets(plan_with("T=vault:kv/aliecs/async/gone#token"), vault)
    assert "gone-secret-value" not in str(deleted.value)


def test_render_checks_secrets_when_vault_addr_is_set(first_apply, root, openbao, monkeypatch, tmp_path):
    # CI renders with VAULT_ADDR set fail on a reference to a secret that does not exist (exit 2,
    # one line naming the path), and pass once it exists; no value is ever printed.
    from click.testing import CliRunner

    from nomadctl.cli import cli

    examples = Path(__file__).resolve().parents[2] / "examples"
    address, _ = openbao
    token = root.token_create(policies=["nomadctl-controller"], ttl="10m", display_name="ci-render")
    monkeypatch.setenv("VAULT_ADDR", address)
    monkeypatch.setenv("VAULT_TOKEN", token)
    args = [
        "render",
        "epn-processing",
        "--repo",
        str(examples),
        "--providers",
        str(examples / "providers.yaml"),
        "--var-file",
        str(examples / "vars" / "epn-vault.yaml"),
        "--env-id",
        "epnvault",
        "--seed",
        "1",
        "--out",
        str(tmp_path / "out"),
    ]
    res = CliRunner().invoke(cli, args)
    assert res.exit_code == 2, res.output
    assert res.output.splitlines()[0] == (
        "Secret: vault secret kv/aliecs/online/epn/ccdb (task epn-processing.qc.merger, env CCDB_TOKEN): "
        "no such secret"
    )
    assert not (tmp_path / "out").exists()
    root.kv_write("aliecs/online/epn/ccdb", {"token": "ccdb-secret-value"})
    res = CliRunner().invoke(cli, args)
    assert res.exit_code == 0, res.output
    assert "ccdb-secret-value" not in res.output
    assert not any("ccdb-secret-value" in p.read_text() for p in (tmp_path / "out").iterdir())
    assert (
        CliRunner()
        .invoke(cli, [*args[:-2], "--out", str(tmp_path / "o2"), "--check-secrets", "never"])
        .exit_code
        == 0
    )
