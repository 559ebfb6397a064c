"""Every file of policies/ parses (python-hcl2) and grants what its header says, no more."""

from __future__ import annotations

from pathlib import Path

import hcl2
import pytest

from nomadctl.policies import nomad_caps, spec

ROOT = Path(__file__).resolve().parents[2] / "policies"
HCL_FILES = sorted(ROOT.rglob("*.hcl"))
OPTIONS = hcl2.SerializationOptions(with_comments=False, explicit_blocks=False, strip_string_quotes=True)


@pytest.fixture(scope="module")
def desired() -> spec.Spec:
    return spec.load(ROOT)


def rules(text: str) -> dict:
    return hcl2.loads(text, serialization_options=OPTIONS)


def namespace_caps(doc: spec.PolicyDoc) -> dict[str, set[str]]:
    """Effective namespace capabilities per namespace label (policy shorthand expanded)."""
    shorthand = {
        "read": {"list-jobs", "parse-job", "read-job", "read-job-scaling", "list-scaling-policies"},
        "write": {"submit-job", "dispatch-job", "read-logs", "read-fs", "alloc-exec", "alloc-lifecycle"},
        "deny": set(),
    }
    out: dict[str, set[str]] = {}
    for entry in rules(doc.rules).get("namespace", []):
        ((label, body),) = entry.items()
        caps = set(body.get("capabilities", []))
        policy = body.get("policy")
        if policy == "write":
            caps |= shorthand["read"] | shorthand["write"]
        elif policy:
            caps |= shorthand[policy]
        out[label] = caps
    return out


def test_the_tree_has_every_file_the_deployment_needs():
    names = {str(p.relative_to(ROOT)) for p in HCL_FILES}
    assert {
        "namespaces.hcl",
        "vault/aliecs-online-read.hcl",
        "vault/aliecs-async-read.hcl",
        "vault/aliecs-users-read.hcl",
        "vault/nomadctl-controller.hcl",
        "vault/nomadctl-policy-admin.hcl",
        "vault/auth/jwt-nomad.hcl",
        "nomad/nomadctl-controller.hcl",
        "nomad/ci-submitter.hcl",
        "nomad/operator.hcl",
        "nomad/operator-exec.hcl",
        "nomad/dashboard-read.hcl",
        "consul/nomadctl-controller.hcl",
        "consul/task-discovery.hcl",
        "consul/aliecs-config-read.hcl",
        "consul/roles.hcl",
    } <= names


@pytest.mark.parametrize("path", HCL_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_file_parses_with_python_hcl2_and_says_who_holds_it_and_why(path):
    text = path.read_text()
    assert hcl2.loads(text)  # the library's default options as well as ours
    head = "\n".join(spec.header(text))
    assert "Held by:" in head
    assert "Why:" in head


def test_the_loader_accepts_the_tree(desired):
    assert len(desired.vault_policies) == 5
    assert len(desired.nomad_policies) == 5
    assert len(desired.consul_policies) == 3
    assert [a.path for a in desired.vault_auth] == ["jwt-nomad"]
    assert {ns.name for ns in desired.namespaces} == {"online", "async", "users", "infra", "default"}
    for doc in (*desired.vault_policies, *desired.nomad_policies, *desired.consul_policies):
        assert doc.description.startswith("Held by: ")
        assert len(doc.description) <= 256


# --- Nomad ----------------------------------------------------------------------------------------


def test_nomad_capabilities_are_2_0_names_and_rewrite_to_valid_1_x(desired):
    for doc in desired.nomad_policies:
        for label, caps in namespace_caps(doc).items():
            assert caps <= nomad_caps.NAMESPACE_CAPABILITIES_2X, (doc.name, label)
        old, widened = nomad_caps.for_version(doc.rules, (1, 10, 5))
        for entry in rules(old).get("namespace", []):
            ((label, body),) = entry.items()
            assert set(body.get("capabilities", [])) <= nomad_caps.NAMESPACE_CAPABILITIES_1X, (
                doc.name,
                label,
            )
        assert widened <= nomad_caps.SPLIT_FROM_SUBMIT_JOB
        same, none = nomad_caps.for_version(doc.rules, (2, 0, 0))
        assert same == doc.rules
        assert not none


def test_the_1_x_rewrite_says_what_it_widened():
    text = 'namespace "a" {\n  capabilities = ["read-job", "register-job", "plan-job"]\n}\n'
    old, widened = nomad_caps.for_version(text, (1, 11, 2))
    assert widened == {"register-job", "plan-job"}
    assert (
        old.splitlines()[0]
        == "# Rewritten by nomadctl for Nomad 1.11.2 (< 2.0): plan-job, register-job -> submit-job"
    )
    assert rules(old)["namespace"][0]["a"]["capabilities"] == ["read-job", "submit-job", "submit-job"]


def by_name(docs, name):
    return next(d for d in docs if d.name == name)


def test_only_the_break_glass_policy_can_exec_into_allocations(desired):
    for doc in desired.nomad_policies:
        granted = set().union(*namespace_caps(doc).values())
        if doc.name == "operator-exec":
            assert granted == {"alloc-exec", "alloc-node-exec"}
        else:
            assert not granted & {"alloc-exec", "alloc-node-exec"}, doc.name


# What each NomadClient method the controller calls needs (Nomad >= 2.0 capability names).
CONTROLLER_CALL_CAPS = {
    "agent_self": set(),  # agent { policy = "read" }
    "nodes": set(),  # node { policy = "read" }
    "node": set(),
    "jobs": {"list-jobs"},
    "job": {"read-job"},
    "job_allocations": {"read-job"},
    "job_allocation_briefs": {"read-job"},
    "job_evaluations": {"read-job"},
    "job_deployments": {"read-job"},
    "job_latest_deployment": {"read-job"},
    "job_scale_status": {"read-job-scaling"},
    "allocations": {"read-job"},
    "allocation_briefs": {"read-job"},
    "allocation": {"read-job"},
    "evaluation": {"read-job"},
    "deployment": {"read-job"},
    "events": {"read-job"},
    "register_job": {"register-job"},
    "plan_job": {"plan-job"},
    "deregister_job": {"deregister-job", "purge-job"},
    "dispatch_job": {"dispatch-job"},
    "scale_job": {"scale-job"},
}


def test_the_controller_policy_grants_what_the_controller_calls_and_little_else(desired):
    import re

    source = "\n".join(p.read_text() for p in (ROOT.parent / "nomadctl" / "controller").rglob("*.py"))
    called = set(re.findall(r"\bnomad\.([a-z_]+)\(", source))
    assert called, "the scan must find the controller's Nomad calls"
    unknown = called - set(CONTROLLER_CALL_CAPS)
    assert not unknown, f"add the capabilities of {sorted(unknown)} to CONTROLLER_CALL_CAPS"
    needed = set().union(*(CONTROLLER_CALL_CAPS[c] for c in called))
    caps = namespace_caps(by_name(desired.nomad_policies, "nomadctl-controller"))
    assert set(caps) == {"online", "async"}
    for granted in caps.values():
        assert needed <= granted
        assert not granted & {
            "submit-job",
            "read-logs",
            "read-fs",
            "alloc-lifecycle",
            "alloc-exec",
            "revert-job",
        }
    parsed = rules(by_name(desired.nomad_policies, "nomadctl-controller").rules)
    assert parsed["node"] == [{"policy": "read"}]
    assert parsed["agent"] == [{"policy": "read"}]


def test_ci_registers_in_its_namespace_only(desired):
    caps = namespace_caps(by_name(desired.nomad_policies, "ci-submitter"))
    assert set(caps) == {"async"}
    assert {"register-job", "plan-job"} <= caps["async"]
    assert not caps["async"] & {"deregister-job", "purge-job", "submit-job", "read-logs", "dispatch-job"}


def test_dashboards_and_operators_do_not_register_jobs(desired):
    for name in ("dashboard-read", "operator", "operator-exec"):
        for granted in namespace_caps(by_name(desired.nomad_policies, name)).values():
            assert not granted & {"register-job", "submit-job", "purge-job", "revert-job"}, name
    dashboard = rules(by_name(desired.nomad_policies, "dashboard-read").rules)
    assert set(dashboard) == {"namespace", "node", "node_pool"}
    assert namespace_caps(by_name(desired.nomad_policies, "dashboard-read"))["*"] <= {
        "list-jobs",
        "parse-job",
        "read-job",
        "read-job-scaling",
        "list-scaling-policies",
    }


def test_raw_exec_is_allowed_only_in_online_and_async(desired):
    table = desired.placement
    assert table.raw_exec_pools == ("epn", "flp")
    assert {n for n, r in table.namespaces.items() if r.allows_driver("raw_exec")} == {"online", "async"}
    assert table.namespaces["online"].enabled_task_drivers == ("raw_exec",)


def test_priorities_keep_online_ten_above_async_and_async_above_users(desired):
    ns = desired.placement.namespaces
    assert ns["online"].priority_min >= ns["async"].priority_max + 10  # preemption needs a delta of 10
    assert ns["async"].priority_min > ns["users"].priority_max
    assert ns["users"].priority_max <= 30


# --- Vault and Consul -----------------------------------------------------------------------------


@pytest.mark.parametrize("cls", ["online", "async", "users"])
def test_each_class_policy_reads_its_own_tree_only(desired, cls):
    parsed = rules(by_name(desired.vault_policies, f"aliecs-{cls}-read").rules)
    assert parsed == {"path": [{f"kv/data/aliecs/{cls}/*": {"capabilities": ["read"]}}]}


def test_every_jwt_role_binds_a_namespace_and_the_vault_audience(desired):
    (auth,) = desired.vault_auth
    assert auth.config["default_role"] == ""
    for role in auth.roles:
        assert role.fields["bound_audiences"] == ["vault.io"]
        assert "nomad_namespace" in role.fields["bound_claims"]
        assert role.fields["token_type"] == "service"
        assert len(role.fields["token_policies"]) == 1


def test_consul_task_policies_write_nothing(desired):
    for name in ("task-discovery", "aliecs-config-read"):
        parsed = rules(by_name(desired.consul_policies, name).rules)
        for blocks in parsed.values():
            for entry in blocks:
                ((_, body),) = entry.items()
                assert body["policy"] == "read", name


def test_consul_controller_writes_only_its_prefix_and_runtime(desired):
    parsed = rules(by_name(desired.consul_policies, "nomadctl-controller").rules)
    writes = {
        (kind, label)
        for kind, blocks in parsed.items()
        for entry in blocks
        for label, body in entry.items()
        if body["policy"] == "write"
    }
    assert writes == {("key_prefix", "nomadctl/"), ("key_prefix", "o2/runtime/"), ("session_prefix", "")}
