"""Task instances: the command build of reference §2 and what AliECS appends."""

# ruff: noqa: E501  (inline YAML fixtures read best on one line)

from __future__ import annotations

import pytest

from nomadctl.errors import ManifestError
from nomadctl.plan import ControlMode

from .conftest import plan_of, task_of

ONE_TASK = "name: w\nroles:\n  - name: t\n{extra}    task: {{load: tt{traits}}}\n"


def build(make_repo, tt: str, extra: str = "", traits: str = "", **kw):  # type: ignore[no-untyped-def]
    root = make_repo(workflows={"w": ONE_TASK.format(extra=extra, traits=traits)}, tasks={"tt": tt})
    return task_of(plan_of(root, **kw), "w.t")


def test_command_precedence_is_flipped(make_repo) -> None:
    # role tree & special vars > TT defaults > TT vars (BuildTaskCommand)
    tt = """
        name: tt
        defaults: {a: tt-default, b: tt-default, task_id: not-the-id}
        vars: {b: tt-var, c: tt-var}
        control: {mode: basic}
        command:
          value: echo
          arguments: ["{{ a }}", "{{ b }}", "{{ c }}", "{{ task_id }}"]
        """
    t = build(make_repo, tt, extra="    vars: {a: role}\n")
    assert t.arguments[:3] == ("role", "tt-default", "tt-var")
    assert t.arguments[3] == t.task_id


def test_tt_vars_see_tt_defaults_and_the_role_stack(make_repo) -> None:
    tt = """
        name: tt
        defaults: {base: /opt/o2, r: tt}
        vars: {exe: "{{ base }}/bin/x-{{ r }}"}
        control: {mode: basic}
        command: {value: "{{ exe }}"}
        """
    assert build(make_repo, tt, extra="    vars: {r: role}\n").value == "/opt/o2/bin/x-role"


def test_shell_command_joins_with_single_spaces_without_quoting(make_repo) -> None:
    tt = """
        name: tt
        control: {mode: basic}
        command:
          shell: true
          value: "{{ len(modulepath) > 0 ? 'module load X &&' : '/opt/bin/x' }}"
          arguments: ["--session='{{ s }}'", " ", "", "a b"]
        """
    t = build(make_repo, tt, extra="    defaults: {modulepath: '', s: 'my session'}\n")
    assert t.command == "/opt/bin/x --session='my session'    a b"
    assert t.argv == ("/bin/sh", "-c", t.command)


def test_exec_form_argv(make_repo) -> None:
    tt = "name: tt\ncontrol: {mode: basic}\ncommand: {value: /bin/x, arguments: [a, 'b c']}\n"
    t = build(make_repo, tt)
    assert t.shell is False
    assert t.argv == ("/bin/x", "a", "b c")
    assert t.command == "/bin/x a b c"


def test_env_items_are_literal_and_o2_role_system_are_filled(make_repo) -> None:
    tt = """
        name: tt
        control: {mode: basic}
        command:
          value: x
          env: ['http_proxy=""', "O2_DETECTOR={{ d }}"]
        """
    t = build(
        make_repo,
        tt,
        extra="    defaults: {d: ITS}\n    constraints: [{attribute: machine_id, value: flp7}]\n",
    )
    assert t.env == ('http_proxy=""', "O2_DETECTOR=ITS", "O2_ROLE=flp7", "O2_SYSTEM=FLP")
    assert t.env_map["http_proxy"] == '""'


def test_o2_role_is_kept_when_already_given_by_prefix(make_repo) -> None:
    tt = "name: tt\ncontrol: {mode: basic}\ncommand: {value: x, env: [O2_ROLE=mine, O2_SYSTEMX=1]}\n"
    # fillEnvDefault tests a prefix: O2_SYSTEMX counts as O2_SYSTEM being set
    assert build(make_repo, tt).env == ("O2_ROLE=mine", "O2_SYSTEMX=1")


def test_special_vars(make_repo) -> None:
    tt = """
        name: tt
        control: {mode: basic}
        command:
          value: x
          arguments: ["{{ task_name }}", "{{ task_id }}", "{{ task_class_name }}", "{{ task_hostname }}",
                      "{{ environment_id }}", "{{ task_parent_role }}"]
        """
    root = make_repo(
        workflows={
            "w": ONE_TASK.format(extra="    constraints: [{attribute: machine_id, value: h1}]\n", traits="")
        },
        tasks={"tt": tt},
    )
    t = task_of(plan_of(root, env_id="E1"), "w.t")
    cls = f"{root.name}/tasks/tt@local"
    assert t.arguments == (f"{cls}#{t.task_id}", t.task_id, cls, "h1", "E1", "w.t")


def test_unpinned_task_uses_nomad_interpolation_for_its_host(make_repo) -> None:
    tt = "name: tt\ncontrol: {mode: basic}\ncommand: {value: x, arguments: ['{{ task_hostname }}']}\n"
    t = build(make_repo, tt)
    assert t.host is None
    assert t.arguments == ("${node.unique.name}",)
    assert "O2_ROLE=${node.unique.name}" in t.env


def test_host_attribute_is_configurable(make_repo) -> None:
    tt = "name: tt\ncontrol: {mode: basic}\ncommand: {value: x}\n"
    t = build(
        make_repo,
        tt,
        extra="    constraints: [{attribute: hostname, value: n1}]\n",
        host_attribute="hostname",
    )
    assert t.host == "n1"


def test_fairmq_gets_id_plugin_and_control_port(make_repo) -> None:
    tt = "name: tt\ncontrol: {mode: fairmq}\ncommand: {value: x, arguments: [--a]}\n"
    t = build(make_repo, tt)
    assert t.arguments == (
        "--a",
        "--id",
        t.task_id,
        "-S",
        "$CONTROL_OCCPLUGIN_ROOT/lib/",
        "-P",
        "OCClite",
        "--color",
        "false",
        "--control-port",
        "${NOMAD_PORT_occ}",
    )
    assert "OCC_CONTROL_PORT=${NOMAD_PORT_occ}" in t.env


def test_fairmq_keeps_an_explicit_id(make_repo) -> None:
    tt = "name: tt\ncontrol: {mode: fairmq}\ncommand: {value: x, arguments: [--id, mine]}\n"
    assert build(make_repo, tt).arguments[:3] == ("--id", "mine", "-S")


def test_direct_gets_only_the_control_port_env(make_repo) -> None:
    tt = "name: tt\ncontrol: {mode: direct}\ncommand: {value: x, arguments: [a]}\n"
    t = build(make_repo, tt)
    assert t.arguments == ("a",)
    assert t.env[0] == "OCC_CONTROL_PORT=${NOMAD_PORT_occ}"


@pytest.mark.parametrize(
    ("trigger", "mode"), [("", ControlMode.BASIC), (", trigger: before_CONFIGURE", ControlMode.HOOK)]
)
def test_basic_with_trigger_is_a_hook(make_repo, trigger: str, mode: ControlMode) -> None:
    tt = "name: tt\ncontrol: {mode: basic}\ncommand: {value: x}\n"
    t = build(make_repo, tt, traits=trigger)
    assert t.control_mode is mode
    assert "OCC_CONTROL_PORT=${NOMAD_PORT_occ}" not in t.env
    assert t.is_hook is bool(trigger)


def test_hook_traits(make_repo) -> None:
    tt = "name: tt\ncontrol: {mode: basic}\ncommand: {value: x}\n"
    t = build(make_repo, tt, traits=", trigger: DESTROY, critical: false, timeout: 10s")
    assert (t.trigger, t.await_, t.timeout, t.critical, t.timeout_seconds) == (
        "DESTROY",
        "DESTROY",
        "10s",
        False,
        10.0,
    )


def test_stdout_stderr(make_repo) -> None:
    tt = "name: tt\ncontrol: {mode: basic}\ncommand: {value: x, stdout: '{{ o }}', stderr: ' ALL '}\n"
    t = build(make_repo, tt, extra="    defaults: {o: StdOut}\n")
    assert (t.stdout, t.stderr) == ("stdout", "all")
    assert build(make_repo, "name: tt\ncommand: {value: x}\n").stdout == "none"


def test_stdout_is_templated_per_task_not_shared(make_repo) -> None:
    # AliECS reuses the first task's templated stdout for every task of the template; fixed here.
    root = make_repo(
        workflows={
            "w": "name: w\nroles:\n  - {name: a, vars: {o: all}, task: {load: tt}}\n  - {name: b, vars: {o: none}, task: {load: tt}}\n"
        },
        tasks={"tt": "name: tt\ncontrol: {mode: basic}\ncommand: {value: x, stdout: '{{ o }}'}\n"},
    )
    plan = plan_of(root)
    assert (task_of(plan, "w.a").stdout, task_of(plan, "w.b").stdout) == ("all", "none")


def test_bad_stdout_is_an_error(make_repo) -> None:
    with pytest.raises(ManifestError, match="bad stdout forwarding expression loud"):
        build(make_repo, "name: tt\ncommand: {value: x, stdout: loud}\n")


def test_wants_limits_ports(make_repo) -> None:
    t = build(
        make_repo,
        "name: tt\nwants: {cpu: 0.15, memory: 128, ports: '9000-9001'}\nlimits: {cpu: 2, memory: 512}\ncommand: {value: x}\n",
    )
    assert (t.wants.cpu, t.wants.memory, t.wants.ports, t.limits.cpu, t.limits.memory) == (
        0.15,
        128.0,
        (9000, 9001),
        2.0,
        512.0,
    )


def test_properties_are_templated_with_their_own_precedence(make_repo) -> None:
    # property map: TT defaults < TT vars < role tree < special vars; TT maps are used raw
    tt = """
        name: tt
        defaults: {a: tt-default, b: tt-default, raw: "{{ b }}"}
        vars: {a: tt-var}
        control: {mode: direct}
        properties:
          p1: "{{ a }}/{{ b }}"
          p2: "{{ raw }}"
          p3: "{{ task_hostname }}"
          conf: '{{ ToPtree("[s]\\nk=v", "INI") }}'
          bad: "{{ ToPtree('x', 'yaml') }}"
        command: {value: x}
        """
    t = build(make_repo, tt, extra="    vars: {b: role}\n")
    assert t.properties["p1"] == "tt-var/role"
    assert t.properties["p2"] == "{{ b }}"
    assert t.properties["p3"] == "${node.unique.name}"
    assert t.properties["__ptree__:ini:conf"] == "[s]\nk=v"
    assert t.properties["__ptree__:json:bad"].startswith('{"error":"bad ToPtree syntax argument')
    assert "conf" not in t.properties


def test_basic_tasks_have_no_property_map(make_repo) -> None:
    t = build(
        make_repo,
        "name: tt\ncontrol: {mode: basic}\nproperties: {p: '{{ undefined }}'}\ncommand: {value: x}\n",
    )
    assert dict(t.properties) == {}


def test_task_vars_are_the_stack_the_command_saw(make_repo) -> None:
    tt = "name: tt\ndefaults: {a: tt}\ncontrol: {mode: basic}\ncommand: {value: x}\n"
    t = build(make_repo, tt, extra="    vars: {b: role}\n", user_vars={"u": "user"})
    assert (t.vars["a"], t.vars["b"], t.vars["u"], t.vars["task_id"]) == ("tt", "role", "user", t.task_id)
    assert dict(t.vars)["b"] == "role"


def test_constraints_role_beats_task_template(make_repo) -> None:
    tt = "name: tt\nconstraints: [{attribute: machine_id, value: tt-host}, {attribute: machine_type, value: flp}]\ncommand: {value: x}\n"
    t = build(make_repo, tt, extra="    constraints: [{attribute: machine_id, value: role-host}]\n")
    assert [(c.attribute, c.value) for c in t.constraints] == [
        ("machine_id", "role-host"),
        ("machine_type", "flp"),
    ]
    assert t.host == "role-host"


def test_child_constraint_replaces_the_parents_same_attribute(make_repo) -> None:
    root = make_repo(
        workflows={
            "w": """
        name: w
        constraints: [{attribute: machine_id, value: a}, {attribute: zone, value: z}]
        roles:
          - name: t
            constraints: [{attribute: machine_id, value: b}]
            task: {load: tt}
        """
        },
        tasks={"tt": "name: tt\ncommand: {value: x}\n"},
    )
    t = task_of(plan_of(root), "w.t")
    assert [(c.attribute, c.value) for c in t.constraints] == [("machine_id", "b"), ("zone", "z")]


def test_user_is_templated(make_repo) -> None:
    tt = "name: tt\ndefaults: {user: flp}\ncontrol: {mode: basic}\ncommand: {value: x, user: '{{ user }}'}\n"
    assert build(make_repo, tt).user == "flp"
    assert build(make_repo, tt, extra="    vars: {user: root}\n").user == "root"
