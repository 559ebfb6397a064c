"""Role kinds: aggregators, iterators, includes, tasks, calls (reference §1.3, §1.4, §3.7)."""

# ruff: noqa: E501  (inline YAML fixtures read best on one line)

from __future__ import annotations

import pytest

from nomadctl.errors import ManifestError
from nomadctl.plan import RoleKind

from .conftest import ECHO_TT, paths, plan_of, task_of

TT = {"echo": ECHO_TT}


def test_iterator_adds_no_path_segment_and_reparents(make_repo) -> None:
    root = make_repo(
        workflows={
            "w": """
            name: w
            roles:
              - name: host-{{ it }}
                for: {range: "{{ machines }}", var: it}
                roles:
                  - name: t
                    vars: {msg: "{{ Parent().Path }}|{{ Up(2).Path }}|{{ it }}"}
                    task: {load: echo}
            """
        },
        tasks=TT,
    )
    plan = plan_of(root, user_vars={"machines": '["a","b"]'})
    assert paths(plan) == ["w", "w.host-a", "w.host-a.t", "w.host-b", "w.host-b.t"]
    assert task_of(plan, "w.host-b.t").arguments == ("w.host-b|w|b",)


def test_iterator_locals_become_vars_for_descendants_and_nested_iterators(make_repo) -> None:
    root = make_repo(
        workflows={
            "w": """
            name: w
            roles:
              - name: h-{{ host }}
                for: {range: '["x","y"]', var: host}
                roles:
                  - name: c-{{ card }}
                    for: {begin: 1, end: 2, var: card}
                    vars: {msg: "{{ host }}/{{ card }}"}
                    task: {load: echo}
            """
        },
        tasks=TT,
    )
    plan = plan_of(root)
    assert [t.arguments[0] for t in plan.tasks] == ["x/1", "x/2", "y/1", "y/2"]
    assert plan.role("w.h-x").vars["host"] == "x"


def test_begin_end_is_inclusive_and_templated(make_repo) -> None:
    root = make_repo(
        workflows={
            "w": "name: w\ndefaults: {n: '3'}\nroles:\n  - name: i{{ i }}\n    for: {begin: '{{ n }}', end: 5, var: i}\n    task: {load: echo}\n"
        },
        tasks=TT,
    )
    assert [t.name for t in plan_of(root).tasks] == ["i3", "i4", "i5"]


def test_range_sees_only_the_parent_stack(make_repo) -> None:
    # the template's own defaults are not visible to the range expression
    root = make_repo(
        workflows={
            "w": "name: w\nroles:\n  - name: i{{ i }}\n    for: {range: '{{ mine }}', var: i}\n    defaults: {mine: '[\"a\"]'}\n    task: {load: echo}\n"
        },
        tasks=TT,
    )
    with pytest.raises(ManifestError, match=r"for\.range: unknown name mine"):
        plan_of(root)


def test_range_has_no_object_stack(make_repo) -> None:
    root = make_repo(
        workflows={
            "w": "name: w\nroles:\n  - name: i{{ i }}\n    for: {range: '[\"{{ Parent().Name }}\"]', var: i}\n    task: {load: echo}\n"
        },
        tasks=TT,
    )
    with pytest.raises(ManifestError, match=r"for\.range: unknown name Parent"):
        plan_of(root)


@pytest.mark.parametrize(
    ("rng", "message"),
    [
        ("[1, 2]", "cannot unmarshal number"),
        ("flp001", "not a JSON array"),
        ("", "unexpected end of JSON input"),
    ],
)
def test_range_must_be_a_json_array_of_strings(make_repo, rng: str, message: str) -> None:
    root = make_repo(
        workflows={
            "w": f"name: w\nroles:\n  - name: i{{{{ i }}}}\n    for: {{range: '{rng}', var: i}}\n    task: {{load: echo}}\n"
        },
        tasks=TT,
    )
    with pytest.raises(ManifestError, match=message):
        plan_of(root)


def test_range_null_gives_no_roles(make_repo) -> None:
    root = make_repo(
        workflows={
            "w": "name: w\nroles:\n  - name: i{{ i }}\n    for: {range: 'null', var: i}\n    task: {load: echo}\n  - name: k\n    task: {load: echo}\n"
        },
        tasks=TT,
    )
    assert paths(plan_of(root)) == ["w", "w.k"]


def test_templated_enabled_on_an_iterator_drops_it_as_aliecs_does(make_repo) -> None:
    root = make_repo(
        workflows={
            "w": 'name: w\nroles:\n  - name: i{{ i }}\n    enabled: "{{ true }}"\n    for: {range: \'["a"]\', var: i}\n    task: {load: echo}\n  - name: k\n    task: {load: echo}\n'
        },
        tasks=TT,
    )
    plan = plan_of(root)
    assert paths(plan) == ["w", "w.k"]
    assert any("iterator" in w and "dropped" in w for w in plan.warnings)


def test_aggregator_without_enabled_children_is_disabled(make_repo) -> None:
    root = make_repo(
        workflows={
            "w": "name: w\nroles:\n  - name: empty\n    roles:\n      - name: t\n        enabled: 'false'\n        task: {load: echo}\n  - name: k\n    task: {load: echo}\n"
        },
        tasks=TT,
    )
    assert paths(plan_of(root)) == ["w", "w.k"]


def test_empty_workflow_is_an_error(make_repo) -> None:
    root = make_repo(
        workflows={"w": "name: w\nroles:\n  - name: t\n    enabled: 'false'\n    task: {load: echo}\n"},
        tasks=TT,
    )
    with pytest.raises(ManifestError, match="the workflow is empty"):
        plan_of(root)


def test_aggregator_critical_is_the_or_of_its_children(make_repo) -> None:
    root = make_repo(
        workflows={
            "w": """
        name: w
        roles:
          - name: soft
            roles:
              - {name: a, task: {load: echo, critical: false}}
              - {name: b, call: {func: x.Y(), critical: false}}
          - name: hard
            roles:
              - {name: a, task: {load: echo, critical: false}}
              - {name: b, task: {load: echo}}
        """
        },
        tasks=TT,
    )
    plan = plan_of(root)
    assert plan.role("w.soft").critical is False
    assert plan.role("w.hard").critical is True
    assert plan.root.critical


def test_duplicate_siblings_are_resolved_after_pruning(make_repo) -> None:
    body = "name: w\ndefaults: {m: b}\nroles:\n" + "".join(
        f"  - name: dpl\n    enabled: \"{{{{ m == '{x}' }}}}\"\n    vars: {{msg: {x}}}\n    task: {{load: echo}}\n"
        for x in "abc"
    )
    root = make_repo(workflows={"w": body}, tasks=TT)
    assert task_of(plan_of(root), "w.dpl").arguments == ("b",)


def test_duplicate_enabled_siblings_are_an_error_naming_both(make_repo) -> None:
    root = make_repo(
        workflows={
            "w": "name: w\nroles:\n  - name: d\n    task: {load: echo}\n  - name: d\n    task: {load: echo}\n"
        },
        tasks=TT,
    )
    with pytest.raises(ManifestError, match=r"both named 'd' \(workflows/w.yaml:3 and workflows/w.yaml:5\)"):
        plan_of(root)


def test_up_beyond_the_root_is_nil_and_path_fails(make_repo) -> None:
    root = make_repo(
        workflows={
            "w": "name: w\nroles:\n  - name: t\n    vars: {msg: '{{ Up(2).Path }}'}\n    task: {load: echo}\n"
        },
        tasks=TT,
    )
    with pytest.raises(ManifestError, match=r"vars\.msg"):
        plan_of(root)


def test_root_name_must_equal_the_file_name(make_repo) -> None:
    root = make_repo(workflows={"w": "name: other\nroles: []\n"})
    with pytest.raises(
        ManifestError, match=r"workflows/w.yaml:1: name: the name of the workflow template file"
    ):
        plan_of(root)


def test_root_may_hold_constraints_and_channels(make_repo) -> None:
    root = make_repo(
        workflows={
            "w": "name: w\nconstraints: [{attribute: machine_type, value: qc}]\nroles:\n  - name: t\n    task: {load: echo}\n"
        },
        tasks=TT,
    )
    assert task_of(plan_of(root), "w.t").constraints[0].value == "qc"


# -- includes -----------------------------------------------------------------------------

SUB = """
name: sub-root-name-is-ignored
defaults: {d: sub-default, e: sub-default}
constraints: [{attribute: zone, value: sub}]
roles:
  - name: t
    vars: {msg: "{{ d }} {{ e }} {{ v }} {{ Parent().Path }}"}
    task: {load: echo}
"""


def test_include_replaces_the_role_and_keeps_its_name(make_repo) -> None:
    root = make_repo(
        workflows={
            "w": """
                name: w
                roles:
                  - name: here
                    defaults: {d: site-default}
                    vars: {e: site-var, v: site-var}
                    constraints: [{attribute: zone, value: site}, {attribute: rack, value: r1}]
                    include: sub
                """,
            "sub": SUB,
        },
        tasks=TT,
    )
    plan = plan_of(root)
    node = plan.role("w.here")
    assert node.kind is RoleKind.INCLUDE
    assert node.include == "sub"
    t = task_of(plan, "w.here.t")
    # included root defaults beat include-site defaults; include-site vars beat both
    assert t.arguments == ("sub-default site-var site-var w.here",)
    # the include role's own constraints are replaced by the included root's
    assert [(c.attribute, c.value) for c in t.constraints] == [("zone", "sub")]


def test_include_cycle_is_detected(make_repo) -> None:
    root = make_repo(
        workflows={
            "w": "name: w\nroles:\n  - name: a\n    include: x\n",
            "x": "name: x\nroles:\n  - name: b\n    include: y\n",
            "y": "name: y\nroles:\n  - name: c\n    include: x\n",
        }
    )
    with pytest.raises(ManifestError, match=r"include cycle: w -> x -> y -> x"):
        plan_of(root)


def test_missing_include_is_an_error_only_when_enabled(make_repo) -> None:
    root = make_repo(workflows={"w": "name: w\nroles:\n  - name: a\n    include: nope\n"})
    with pytest.raises(
        ManifestError, match=r"w.yaml:4: w.a: include: included workflow template 'nope' not found"
    ):
        plan_of(root)


def test_included_root_enabled_is_evaluated(make_repo) -> None:
    root = make_repo(
        workflows={
            "w": "name: w\nroles:\n  - name: a\n    include: sub\n  - name: k\n    task: {load: echo}\n",
            "sub": "name: sub\nenabled: '{{ 1 == 2 }}'\nroles:\n  - name: t\n    task: {load: echo}\n",
        },
        tasks=TT,
    )
    assert paths(plan_of(root)) == ["w", "w.k"]


def test_include_from_an_iterator(make_repo) -> None:
    root = make_repo(
        workflows={
            "w": 'name: w\nroles:\n  - name: h{{ it }}\n    for: {range: \'["1","2"]\', var: it}\n    include: sub\n',
            "sub": "name: sub\nroles:\n  - name: t\n    vars: {msg: '{{ it }}'}\n    task: {load: echo}\n",
        },
        tasks=TT,
    )
    assert [t.arguments[0] for t in plan_of(root).tasks] == ["1", "2"]


# -- calls --------------------------------------------------------------------------------


def test_call_roles(make_repo) -> None:
    root = make_repo(
        workflows={
            "w": """
        name: w
        defaults: {t: 90s}
        roles:
          - name: dcs
            roles:
              - name: sor
                call: {func: dcs.StartOfRun(), trigger: before_START_ACTIVITY+100, timeout: "{{ t }}", return: sor_out}
              - name: pfr
                call: {func: dcs.PrepareForRun(), trigger: before_CONFIGURE, await: after_CONFIGURE-1, critical: false}
              - name: plain
                call: {func: testplugin.Noop()}
        """
        }
    )
    plan = plan_of(root)
    sor, pfr, plain = plan.calls
    assert (sor.path, sor.func, sor.trigger, sor.await_, sor.timeout, sor.critical, sor.return_var) == (
        "w.dcs.sor",
        "dcs.StartOfRun()",
        "before_START_ACTIVITY+100",
        "before_START_ACTIVITY+100",
        "90s",
        True,
        "sor_out",
    )
    assert (pfr.await_, pfr.timeout, pfr.critical) == ("after_CONFIGURE-1", "30s", False)
    assert (plain.trigger, plain.await_, plain.timeout) == ("", "", "0s")
    assert sor.vars["t"] == "90s"


def test_never_firing_trigger_warns(make_repo) -> None:
    root = make_repo(
        workflows={
            "w": "name: w\nroles:\n  - name: n\n    call: {func: testplugin.Noop(), trigger: CONFIGURE}\n"
        }
    )
    assert any("names no lifecycle moment" in w for w in plan_of(root).warnings)


def test_aggregator_with_an_iterator_over_nothing_stays_as_aliecs_keeps_it(make_repo) -> None:
    root = make_repo(
        workflows={
            "w": "name: w\nroles:\n  - name: a\n    roles:\n      - name: i{{ i }}\n        for: {range: '[]', var: i}\n        task: {load: echo}\n  - name: k\n    task: {load: echo}\n"
        },
        tasks=TT,
    )
    plan = plan_of(root)
    assert paths(plan) == ["w", "w.a", "w.k"]
    assert plan.role("w.a").critical is False


def test_include_role_channels_are_replaced_by_the_included_roots(make_repo) -> None:
    root = make_repo(
        workflows={
            "w": "name: w\nroles:\n  - name: inc\n    connect: [{name: lost, type: pull, target: 'tcp://a:1'}]\n    include: sub\n",
            "sub": "name: sub\nconnect: [{name: kept, type: pull, target: 'tcp://b:2'}]\nroles:\n  - {name: t, task: {load: echo}}\n",
        },
        tasks=TT,
    )
    assert [c.name for c in task_of(plan_of(root), "w.inc.t").connect] == ["kept"]


def test_locals_beat_user_vars_while_processing_but_not_afterwards(make_repo) -> None:
    # AliECS: Locals top the stack during the role's own processing, then are written into its vars,
    # where user vars beat them (so a task template sees the user's value).
    tt = ECHO_TT.replace('"{{ msg }}"', '"{{ it }}"')
    root = make_repo(
        workflows={
            "w": "name: w\nroles:\n  - name: h-{{ it }}\n    for: {range: '[\"local\"]', var: it}\n    task: {load: echo}\n"
        },
        tasks={"echo": tt},
    )
    task = plan_of(root, user_vars={"it": "user"}).tasks[0]
    assert task.name == "h-local"
    assert task.arguments == ("user",)
