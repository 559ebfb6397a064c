"""Variable sources and precedence (reference §3.3, §8b): category first, depth second."""

# ruff: noqa: E501  (inline YAML fixtures read best on one line)

from __future__ import annotations

import pytest

from nomadctl.errors import ManifestError
from nomadctl.manifest.build import MemoryKV

from .conftest import ECHO_TT, plan_of, task_of


def two_levels(root_maps: str, leaf_maps: str) -> dict[str, str]:
    return {
        "w": f"name: w\n{root_maps}roles:\n  - name: mid\n    roles:\n      - name: t\n{leaf_maps}        task: {{load: echo}}\n"
    }


def msg(plan) -> str:  # type: ignore[no-untyped-def]
    return task_of(plan, "w.mid.t").arguments[0]


def test_root_vars_beat_leaf_defaults(make_repo) -> None:
    root = make_repo(
        workflows=two_levels("vars: {msg: root-var}\n", "        defaults: {msg: leaf-default}\n"),
        tasks={"echo": ECHO_TT},
    )
    assert msg(plan_of(root)) == "root-var"


def test_deeper_wins_within_a_category(make_repo) -> None:
    root = make_repo(
        workflows=two_levels("defaults: {msg: root}\n", "        defaults: {msg: leaf}\n"),
        tasks={"echo": ECHO_TT},
    )
    assert msg(plan_of(root)) == "leaf"


def test_user_vars_beat_everything_and_are_literal(make_repo) -> None:
    root = make_repo(
        workflows=two_levels("vars: {msg: root}\n", "        vars: {msg: leaf}\n"), tasks={"echo": ECHO_TT}
    )
    assert msg(plan_of(root, user_vars={"msg": "{{ n }}"})) == "{{ n }}"


def test_empty_string_overrides(make_repo) -> None:
    root = make_repo(
        workflows=two_levels("defaults: {msg: root}\n", "        defaults: {msg: ''}\n"),
        tasks={"echo": ECHO_TT},
    )
    assert msg(plan_of(root)) == ""


def test_consul_vars_beat_wft_defaults_and_wft_vars_beat_consul_vars(make_repo) -> None:
    kv = MemoryKV(
        {
            "o2/runtime/aliecs/defaults/a": "consul-default",
            "o2/runtime/aliecs/vars/b": "consul-var",
            "o2/runtime/aliecs/vars/c": "consul-var",
            "o2/runtime/aliecs/defaults/d": "consul-default",
        }
    )
    root = make_repo(
        workflows={
            "w": "name: w\ndefaults: {b: wft-default}\nvars: {c: wft-var}\nroles:\n  - name: t\n"
            "    vars: {msg: '{{ a }} {{ b }} {{ c }} {{ d }}'}\n    task: {load: echo}\n"
        },
        tasks={"echo": ECHO_TT},
    )
    assert (
        task_of(plan_of(root, kv=kv), "w.t").arguments[0]
        == "consul-default consul-var wft-var consul-default"
    )


def test_environment_id_is_a_user_var_that_wins(make_repo) -> None:
    root = make_repo(
        workflows=two_levels("vars: {msg: '{{ environment_id }}'}\n", ""), tasks={"echo": ECHO_TT}
    )
    plan = plan_of(root, env_id="2kXyZ", user_vars={"environment_id": "ignored"})
    assert msg(plan) == "2kXyZ"
    assert plan.user_vars["environment_id"] == "2kXyZ"


def test_role_targeted_user_vars_are_dropped_with_a_warning(make_repo) -> None:
    root = make_repo(workflows=two_levels("", ""), tasks={"echo": ECHO_TT})
    plan = plan_of(root, user_vars={"w.mid.t:msg": "targeted"})
    assert msg(plan) == "default-msg"
    assert any("targets a role and is dropped" in w for w in plan.warnings)


def test_apricot_injects_consul_endpoint_from_the_base_uri(make_repo) -> None:
    root = make_repo(
        workflows=two_levels(
            "vars: {msg: '{{ consul_endpoint }} {{ consul_hostname }} {{ consul_port }}'}\n", ""
        ),
        tasks={"echo": ECHO_TT},
    )
    kv = MemoryKV({"o2/runtime/aliecs/defaults/consul_base_uri": "consul://cons.cern.ch:8500"})
    assert msg(plan_of(root, kv=kv)) == "cons.cern.ch:8500 cons.cern.ch 8500"


def test_detectors_is_set_in_global_defaults_after_loading(make_repo) -> None:
    # Visible to task templates (built after load), lowest precedence, from the hosts' inventory.
    kv = MemoryKV(
        {"o2/hardware/detectors/ITS/flps/flp1/x": "1", "o2/hardware/detectors/TPC/flps/flp2/x": "1"}
    )
    tt = ECHO_TT.replace('"{{ msg }}"', '"{{ detectors }}"')
    root = make_repo(
        workflows={"w": "name: w\nroles:\n  - name: t\n    task: {load: echo}\n"}, tasks={"echo": tt}
    )
    plan = plan_of(root, kv=kv, user_vars={"hosts": '["flp1","flp2"]'})
    assert task_of(plan, "w.t").arguments[0] in ('["ITS","TPC"]', '["TPC","ITS"]')
    assert plan.vars["detectors"] == task_of(plan, "w.t").arguments[0]


def test_detectors_is_not_visible_while_the_workflow_loads(make_repo) -> None:
    root = make_repo(
        workflows={
            "w": "name: w\nroles:\n  - name: t\n    enabled: '{{ detectors == \"[]\" }}'\n    task: {load: echo}\n"
            "  - name: u\n    task: {load: echo}\n"
        },
        tasks={"echo": ECHO_TT},
    )
    assert [t.path for t in plan_of(root).tasks] == ["w.u"]


def test_wft_tilde_stays_text_but_tt_tilde_is_empty(make_repo) -> None:
    tt = ECHO_TT.replace("msg: default-msg", "msg: ~\n  other: '{{ wft }}'").replace(
        '"{{ msg }}"', '"[{{ msg }}][{{ other }}]"'
    )
    root = make_repo(
        workflows={"w": "name: w\ndefaults: {wft: ~}\nroles:\n  - name: t\n    task: {load: echo}\n"},
        tasks={"echo": tt},
    )
    assert task_of(plan_of(root), "w.t").arguments[0] == "[][~]"


def test_a_host_missing_from_the_inventory_fails_like_environment_creation(make_repo) -> None:
    root = make_repo(
        workflows={"w": "name: w\nroles:\n  - name: t\n    task: {load: echo}\n"}, tasks={"echo": ECHO_TT}
    )
    kv = MemoryKV({"o2/hardware/detectors/ITS/flps/flp1/x": "1"})
    with pytest.raises(
        ManifestError,
        match="cannot acquire detectors for the hosts in `hosts`: detector not found for host flp9",
    ):
        plan_of(root, kv=kv, user_vars={"hosts": '["flp1","flp9"]'})
