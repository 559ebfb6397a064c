"""The loader refuses bad policy trees with one line naming the file and the item."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from nomadctl.errors import UsageError
from nomadctl.policies import spec

ROOT = Path(__file__).resolve().parents[2] / "policies"
HEADER = "# Held by: the tests.\n# Why: to check the loader.\n"


@pytest.fixture
def tree(tmp_path) -> Path:
    target = tmp_path / "policies"
    shutil.copytree(ROOT, target)
    return target


def write(tree: Path, rel: str, body: str, *, header: str = HEADER) -> None:
    path = tree / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(header + body)


def fails(tree: Path, *parts: str) -> spec.PolicyError:
    with pytest.raises(spec.PolicyError) as info:
        spec.load(tree)
    message = str(info.value)
    assert "\n" not in message
    for part in parts:
        assert part in message
    return info.value


def test_a_copy_of_the_real_tree_loads(tree):
    assert spec.load(tree).nomad_policies


def test_policy_errors_are_usage_errors_of_their_own_kind(tmp_path):
    error = fails(tmp_path / "nowhere", "policies directory not found")
    assert isinstance(error, UsageError)
    assert error.kind == "Policy"
    assert error.exit_code == 2


def test_a_file_without_held_by_and_why_is_refused(tree):
    write(tree, "nomad/anon.hcl", 'node { policy = "read" }\n', header="# a policy\n")
    fails(tree, "policies/nomad/anon.hcl", "Held by:", "Why:")


def test_bad_hcl_names_the_file_and_line(tree):
    write(tree, "consul/broken.hcl", 'key_prefix "x/" {\n  policy = \n}\n')
    fails(tree, "policies/consul/broken.hcl:", "not valid HCL")


def test_an_unknown_nomad_capability_is_refused(tree):
    write(tree, "nomad/typo.hcl", 'namespace "online" {\n  capabilities = ["submit-jobs"]\n}\n')
    fails(tree, "nomad/typo.hcl", "namespace 'online'", "submit-jobs")


def test_a_nomad_policy_naming_an_undeclared_namespace_is_refused(tree):
    write(tree, "nomad/typo.hcl", 'namespace "onlnie" {\n  policy = "read"\n}\n')
    fails(tree, "nomad/typo.hcl", "onlnie", "not declared in namespaces.hcl")


def test_glob_namespaces_need_no_declaration(tree):
    write(tree, "nomad/glob.hcl", 'namespace "team-*" {\n  policy = "read"\n}\n')
    assert "glob" in {d.name for d in spec.load(tree).nomad_policies}


def test_unknown_nomad_rule_blocks_are_refused(tree):
    write(tree, "nomad/extra.hcl", 'nodes {\n  policy = "read"\n}\n')
    fails(tree, "nomad/extra.hcl", "nodes")


def test_vault_capabilities_are_checked(tree):
    write(tree, "vault/bad.hcl", 'path "kv/data/x" {\n  capabilities = ["read", "write"]\n}\n')
    fails(tree, "vault/bad.hcl", "path 'kv/data/x'", "write")


def test_consul_policy_values_are_checked(tree):
    write(tree, "consul/bad.hcl", 'key_prefix "x/" {\n  policy = "admin"\n}\n')
    fails(tree, "consul/bad.hcl", "key_prefix 'x/'", "admin")


def test_a_jwt_role_without_bound_claims_is_refused(tree):
    text = (ROOT / "vault/auth/jwt-nomad.hcl").read_text()
    write(
        tree,
        "vault/auth/jwt-nomad.hcl",
        text.replace('bound_claims            = { nomad_namespace = "users" }', ""),
        header="",
    )
    fails(tree, "vault/auth/jwt-nomad.hcl", "role 'aliecs-users'", "bound_claims")


def test_a_jwt_role_must_name_declared_policies(tree):
    text = (ROOT / "vault/auth/jwt-nomad.hcl").read_text()
    write(
        tree,
        "vault/auth/jwt-nomad.hcl",
        text.replace('["aliecs-users-read"]', '["aliecs-user-read"]'),
        header="",
    )
    fails(tree, "role 'aliecs-users'", "aliecs-user-read", "not declared in vault/")


def test_a_consul_role_must_name_declared_policies(tree):
    write(tree, "consul/roles.hcl", 'role "r" {\n  policies = ["nope"]\n}\n')
    fails(tree, "consul/roles.hcl", "role 'r'", "nope")


def test_namespace_priorities_must_be_ordered(tree):
    text = (ROOT / "namespaces.hcl").read_text()
    write(tree, "namespaces.hcl", text.replace("priority_default = 85", "priority_default = 95"), header="")
    fails(tree, "namespaces.hcl", "namespace 'online'", "min <= default <= max")


def test_namespace_node_pool_config_is_refused_as_unknown(tree):
    write(
        tree,
        "namespaces.hcl",
        'namespace "x" {\n  node_pool_config {\n    default = "epn"\n  }\n'
        '  nomadctl {\n    node_pools = ["epn"]\n  }\n}\n',
    )
    fails(tree, "namespaces.hcl", "node_pool_config")


def test_namespace_meta_carries_the_placement_rules(tree):
    online = next(ns for ns in spec.load(tree).namespaces if ns.name == "online")
    assert online.meta == {
        "nomadctl.node_pools": "epn,flp",
        "nomadctl.priority": "80-90",
        "nomadctl.priority_default": "85",
        "nomadctl.raw_exec_node_pools": "epn,flp",
    }


def test_bad_names_are_refused(tree):
    write(tree, "nomad/has space.hcl", 'node { policy = "read" }\n')
    fails(tree, "has space", "not a valid name")


def test_long_held_by_sentences_are_cut_to_nomads_limit(tree):
    write(
        tree,
        "nomad/long.hcl",
        'node { policy = "read" }\n',
        header=f"# Held by: {'x ' * 200}\n# Why: test.\n",
    )
    doc = next(d for d in spec.load(tree).nomad_policies if d.name == "long")
    assert 250 <= len(doc.description) <= 256
    assert doc.description.endswith("...")
