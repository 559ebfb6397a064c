"""Staged evaluation (reference §1.5, §3.1): what each stage sees, pruning before evaluation."""

# ruff: noqa: E501  (inline YAML fixtures read best on one line)

from __future__ import annotations

import pytest

from nomadctl.errors import ManifestError

from .conftest import ECHO_TT, paths, plan_of, task_of


def wf(body: str) -> dict[str, str]:
    return {"w": "name: w\nroles:\n" + body}


def test_enabled_does_not_see_the_roles_own_defaults(make_repo) -> None:
    # Stage 0 sees the parent stack only: `flag` is undefined there, the expression fails, and a
    # failing enabled disables the role silently (AliECS roleutils.go).
    root = make_repo(
        workflows=wf(
            "  - name: t\n    enabled: \"{{ flag == 'on' }}\"\n    defaults: {flag: 'on'}\n    task: {load: echo}\n"
            "  - name: u\n    task: {load: echo}\n"
        ),
        tasks={"echo": ECHO_TT},
    )
    plan = plan_of(root)
    assert paths(plan) == ["w", "w.u"]
    assert any("unknown name flag" in w and "role disabled" in w for w in plan.warnings)


def test_enabled_sees_the_parent_stack(make_repo) -> None:
    root = make_repo(
        workflows={
            "w": "name: w\ndefaults: {flag: 'on'}\nroles:\n  - name: t\n    enabled: \"{{ flag == 'on' }}\"\n    task: {load: echo}\n"
        },
        tasks={"echo": ECHO_TT},
    )
    assert paths(plan_of(root)) == ["w", "w.t"]


@pytest.mark.parametrize(
    ("value", "enabled"),
    [
        ("true", True),
        ("1", True),
        (" TRUE ", True),
        ("True", True),
        ("yes", False),
        ("on", False),
        ("false", False),
        ("0", False),
        ("{{ 1 == 1 }}", True),
        ("{{ 'x' }}", False),
    ],
)
def test_enabled_truthiness(make_repo, value: str, enabled: bool) -> None:
    root = make_repo(
        workflows=wf(
            f'  - name: t\n    enabled: "{value}"\n    task: {{load: echo}}\n  - name: keep\n    task: {{load: echo}}\n'
        ),
        tasks={"echo": ECHO_TT},
    )
    assert ("w.t" in paths(plan_of(root))) is enabled


def test_defaults_of_one_map_cannot_see_each_other(make_repo) -> None:
    root = make_repo(
        workflows=wf("  - name: t\n    defaults: {a: x, b: '{{ a }}'}\n    task: {load: echo}\n"),
        tasks={"echo": ECHO_TT},
    )
    with pytest.raises(ManifestError, match=r"w.yaml:4: w.t: defaults.b: unknown name a"):
        plan_of(root)


def test_vars_see_own_defaults_but_not_own_vars(make_repo) -> None:
    root = make_repo(
        workflows={
            "w": "name: w\nvars: {x: parent}\nroles:\n  - name: t\n    defaults: {d: own-default}\n"
            "    vars: {x: child, y: '{{ x }}/{{ d }}'}\n    task: {load: echo}\n"
        },
        tasks={"echo": ECHO_TT},
    )
    role = plan_of(root).role("w.t")
    assert role.vars["y"] == "parent/own-default"


def test_name_and_task_fields_see_own_vars(make_repo) -> None:
    root = make_repo(
        workflows=wf("  - name: '{{ n }}'\n    vars: {n: named, tt: echo}\n    task: {load: '{{ tt }}'}\n"),
        tasks={"echo": ECHO_TT},
    )
    assert task_of(plan_of(root), "w.named").task_class == "echo"


def test_this_exists_only_from_stage_4(make_repo) -> None:
    ok = make_repo(
        workflows=wf(
            "  - name: t\n    constraints: [{attribute: a, value: '{{ This().Path }}'}]\n    task: {load: echo}\n"
        ),
        tasks={"echo": ECHO_TT},
    )
    assert task_of(plan_of(ok), "w.t").constraints[0].value == "w.t"
    bad = make_repo(
        workflows=wf("  - name: t\n    vars: {p: '{{ This().Path }}'}\n    task: {load: echo}\n"),
        tasks={"echo": ECHO_TT},
    )
    with pytest.raises(ManifestError, match=r"vars\.p: .*This"):
        plan_of(bad)


def test_disabled_branches_are_never_evaluated(make_repo) -> None:
    # undefined variables, bad expressions and dangling includes under a disabled role are harmless
    root = make_repo(
        workflows=wf(
            "  - name: off\n    enabled: 'false'\n    vars: {a: '{{ undefined_thing }}'}\n    roles:\n"
            "      - name: inc\n        include: does-not-exist\n      - name: bad\n        vars: {b: '{{ ( }}'}\n        task: {load: missing}\n"
            "  - name: on\n    task: {load: echo}\n"
        ),
        tasks={"echo": ECHO_TT},
    )
    assert paths(plan_of(root)) == ["w", "w.on"]


def test_undefined_name_in_vars_is_a_hard_error(make_repo) -> None:
    root = make_repo(
        workflows=wf("  - name: t\n    vars: {a: '{{ nope }}'}\n    task: {load: echo}\n"),
        tasks={"echo": ECHO_TT},
    )
    with pytest.raises(ManifestError) as info:
        plan_of(root)
    assert str(info.value) == "workflows/w.yaml:4: w.t: vars.a: unknown name nope"


def test_children_see_resolved_parent_values(make_repo) -> None:
    # uid.New() in a parent var is evaluated once; both children see the same value
    root = make_repo(
        workflows=wf(
            "  - name: p\n    vars: {id: '{{ uid.New() }}'}\n    roles:\n"
            "      - name: a\n        vars: {msg: '{{ id }}'}\n        task: {load: echo}\n"
            "      - name: b\n        vars: {msg: '{{ id }}'}\n        task: {load: echo}\n"
        ),
        tasks={"echo": ECHO_TT},
    )
    plan = plan_of(root)
    a, b = task_of(plan, "w.p.a"), task_of(plan, "w.p.b")
    assert a.arguments == b.arguments
    assert a.arguments[0] == plan.role("w.p").vars["id"]


def test_uid_new_is_reproducible_with_a_seed(make_repo) -> None:
    root = make_repo(
        workflows=wf("  - name: t\n    vars: {msg: '{{ uid.New() }}'}\n    task: {load: echo}\n"),
        tasks={"echo": ECHO_TT},
    )
    one, two = plan_of(root, seed=3), plan_of(root, seed=3)
    assert task_of(one, "w.t").arguments == task_of(two, "w.t").arguments
    assert task_of(one, "w.t").task_id == task_of(two, "w.t").task_id
    assert task_of(plan_of(root, seed=4), "w.t").arguments != task_of(one, "w.t").arguments


def test_enabled_may_be_a_raw_variable(make_repo) -> None:
    # production: enabled: "{{stfb_standalone}}"
    root = make_repo(
        workflows=wf(
            "  - name: a\n    enabled: '{{flag}}'\n    task: {load: echo}\n  - name: b\n    task: {load: echo}\n"
        ),
        tasks={"echo": ECHO_TT},
    )
    assert paths(plan_of(root, user_vars={"flag": "true"})) == ["w", "w.a", "w.b"]
    assert paths(plan_of(root, user_vars={"flag": "false"})) == ["w", "w.b"]


def test_workflow_argument_may_carry_the_yaml_suffix(make_repo) -> None:
    root = make_repo(workflows=wf("  - name: a\n    task: {load: echo}\n"), tasks={"echo": ECHO_TT})
    assert plan_of(root, "w.yaml").workflow == "w"
