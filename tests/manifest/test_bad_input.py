"""Bad input: every case is one ``file:line: role path: field: message`` line, exit code 2."""

# ruff: noqa: E501  (inline YAML fixtures read best on one line)

from __future__ import annotations

import re
from dataclasses import dataclass, field

import pytest
from click.testing import CliRunner

from nomadctl.cli import cli
from nomadctl.errors import ManifestError

from .conftest import ECHO_TT, plan_of, write_repo

PINNED = "name: pinned\ncontrol: {mode: fairmq}\ncommand: {value: x}\n"


@dataclass
class Case:
    id: str
    workflow: str  # body of workflows/w.yaml
    expected: str  # regex that must match the whole one-line message
    workflows: dict[str, str] = field(default_factory=dict)
    tasks: dict[str, str] = field(default_factory=dict)
    jit: dict[str, str] = field(default_factory=dict)
    name: str = "w"


def task(extra: str = "", load: str = "echo", traits: str = "") -> str:
    return f"name: w\nroles:\n  - name: t\n{extra}    task: {{load: {load}{traits}}}\n"


TT_CMD = "name: tt\ncontrol: {{mode: basic}}\ncommand:\n  value: x\n{rest}"
CASES = [
    Case("yaml-syntax-workflow", "name: w\nroles:\n  - name: [\n", r"workflows/w\.yaml:\d+: yaml: .+"),
    Case(
        "yaml-syntax-task",
        task(load="tt"),
        r"tasks/tt\.yaml:\d+: w\.t: yaml: .+",
        tasks={"tt": "name: tt\ncommand: {value: x\n"},
    ),
    Case(
        "yaml-duplicate-key",
        "name: w\nroles: []\nroles: []\n",
        r'workflows/w\.yaml:3: mapping key "roles" already defined at line 2',
    ),
    Case(
        "root-name-mismatch",
        "name: other\nroles: []\n",
        r"workflows/w\.yaml:1: name: the name of the workflow template file and the name of the workflow don't match \(name: 'other' in w\.yaml\)",
    ),
    Case(
        "workflow-missing",
        "name: w\nroles: []\n",
        r"workflows/nope\.yaml: workflow template 'nope' not found",
        name="nope",
    ),
    Case("empty-workflow-file", "# nothing\n", r"workflows/w\.yaml: empty workflow template"),
    Case(
        "unknown-role-shape",
        "name: w\nroles:\n  - name: a\n    vars: {x: y}\n",
        r"workflows/w\.yaml:3: w\.a: roles\[0\]: cannot unmarshal invalid role to union: a role needs exactly one of roles, task, call, include \(found none of them\)",
    ),
    Case(
        "two-role-kinds",
        "name: w\nroles:\n  - name: a\n    task: {load: echo}\n    roles: []\n",
        r"workflows/w\.yaml:3: w\.a: roles\[0\]: cannot unmarshal invalid role to union: .*\(found roles, task\)",
    ),
    Case(
        "role-not-a-mapping",
        "name: w\nroles:\n  - just-a-string\n",
        r"workflows/w\.yaml:3: w: roles\[0\]: cannot unmarshal invalid role to union \(a role is a mapping\)",
    ),
    Case(
        "roles-not-a-list",
        "name: w\nroles:\n  - name: a\n    roles: x\n",
        r"workflows/w\.yaml:4: w\.a: roles: must be a list",
    ),
    Case(
        "task-not-a-mapping",
        "name: w\nroles:\n  - name: a\n    task: echo\n",
        r"workflows/w\.yaml:4: w\.a: task: must be a mapping",
    ),
    Case(
        "for-not-a-mapping",
        "name: w\nroles:\n  - name: a\n    for: hosts\n    task: {load: echo}\n",
        r"workflows/w\.yaml:4: w\.a: for: must be a mapping",
    ),
    Case(
        "iterator-range-spec",
        "name: w\nroles:\n  - name: a\n    for: {range: '[]'}\n    task: {load: echo}\n",
        r"workflows/w\.yaml:4: w\.a: for: invalid range specifier in iterator \(need range and var, or begin, end and var\)",
    ),
    Case(
        "iterator-no-template",
        "name: w\nroles:\n  - name: a\n    for: {range: '[]', var: i}\n",
        r"workflows/w\.yaml:3: w\.a: for: invalid template role in iterator: .*",
    ),
    Case(
        "range-numbers",
        "name: w\nroles:\n  - name: a{{ i }}\n    for: {range: '[1,2]', var: i}\n    task: {load: echo}\n",
        r"workflows/w\.yaml:4: w\.a\{\{ i \}\}: for\.range: json: cannot unmarshal number into Go value of type string \('\[1,2\]'\)",
    ),
    Case(
        "range-not-json",
        "name: w\nroles:\n  - name: a{{ i }}\n    for: {range: 'flp1,flp2', var: i}\n    task: {load: echo}\n",
        r"workflows/w\.yaml:4: w\.a\{\{ i \}\}: for\.range: range is not a JSON array of strings: 'flp1,flp2'",
    ),
    Case(
        "begin-not-int",
        "name: w\nroles:\n  - name: a{{ i }}\n    for: {begin: one, end: 2, var: i}\n    task: {load: echo}\n",
        r'workflows/w\.yaml:4: w\.a\{\{ i \}\}: for\.begin: strconv\.Atoi: parsing "one": invalid syntax',
    ),
    Case(
        "undefined-in-vars",
        task("    vars: {a: '{{ nope }}'}\n"),
        r"workflows/w\.yaml:4: w\.t: vars\.a: unknown name nope",
    ),
    Case(
        "undefined-in-defaults",
        task("    defaults: {a: 'x{{ nope }}'}\n"),
        r"workflows/w\.yaml:4: w\.t: defaults\.a: unknown name nope",
    ),
    Case(
        "undefined-in-name",
        "name: w\nroles:\n  - name: '{{ nope }}'\n    task: {load: echo}\n",
        r"workflows/w\.yaml:3: w\.\{\{ nope \}\}: name: unknown name nope",
    ),
    Case(
        "undefined-in-iterator-role",
        "name: w\nroles:\n  - name: h{{ it }}\n    for: {range: '[\"x\"]', var: it}\n    vars: {a: '{{ nope }}'}\n    task: {load: echo}\n",
        r"workflows/w\.yaml:5: w\.h\{\{ it \}\}\[it=x\]: vars\.a: unknown name nope",
    ),
    Case("bad-expression", task("    vars: {a: '{{ 1 == }}'}\n"), r"workflows/w\.yaml:4: w\.t: vars\.a: .+"),
    Case("unclosed-tag", task("    vars: {a: 'x {{ y'}\n"), r"workflows/w\.yaml:4: w\.t: vars\.a: .+"),
    Case(
        "undefined-in-load",
        task(load="'{{ which }}'"),
        r"workflows/w\.yaml:4: w\.t: task\.load: unknown name which",
    ),
    Case("empty-load", task(load="''"), r"workflows/w\.yaml:3: w\.t: task\.load: task\.load is empty"),
    Case(
        "missing-task-template",
        task(load="nope"),
        r"workflows/w\.yaml:3: w\.t: task\.load: task template 'nope' not found \(tasks/nope\.yaml\)",
    ),
    Case(
        "task-name-mismatch",
        task(load="tt"),
        r"tasks/tt\.yaml:1: w\.t: name: the name of the task template file and the name of the task template don't match \(name: 'zz' in tt\.yaml\)",
        tasks={"tt": "name: zz\ncommand: {value: x}\n"},
    ),
    Case(
        "task-without-command",
        task(load="tt"),
        r"tasks/tt\.yaml:1: w\.t: command: missing: a task template needs a command",
        tasks={"tt": "name: tt\n"},
    ),
    Case(
        "task-bad-cpu",
        task(load="tt"),
        r'tasks/tt\.yaml:2: w\.t: wants\.cpu: strconv\.ParseFloat: parsing "much": invalid syntax',
        tasks={"tt": "name: tt\nwants: {cpu: much}\ncommand: {value: x}\n"},
    ),
    Case(
        "task-bad-ports",
        task(load="tt"),
        r"tasks/tt\.yaml:2: w\.t: wants\.ports: bad format for roleClass ports range",
        tasks={"tt": "name: tt\nwants: {ports: '1-2-3'}\ncommand: {value: x}\n"},
    ),
    Case(
        "undefined-in-tt-argument",
        task(load="tt"),
        r"tasks/tt\.yaml:5: w\.t: command\.arguments\[0\]: unknown name nope",
        tasks={"tt": TT_CMD.format(rest="  arguments: ['{{ nope }}']\n")},
    ),
    Case(
        "undefined-in-tt-default",
        task(load="tt"),
        r"tasks/tt\.yaml:2: w\.t: defaults\.d: unknown name nope",
        tasks={"tt": "name: tt\ndefaults: {d: '{{ nope }}'}\ncommand: {value: x}\n"},
    ),
    Case(
        "tt-uses-parent",
        task(load="tt"),
        r"tasks/tt\.yaml:4: w\.t: command\.value: unknown name Parent",
        tasks={"tt": "name: tt\ncontrol: {mode: basic}\ncommand:\n  value: '{{ Parent().Path }}'\n"},
    ),
    Case(
        "bad-stdout",
        task(load="tt"),
        r"tasks/tt\.yaml:5: w\.t: command\.stdout: bad stdout forwarding expression loud, allowed values: none, stdout, all",
        tasks={"tt": TT_CMD.format(rest="  stdout: loud\n")},
    ),
    Case(
        "missing-include",
        "name: w\nroles:\n  - name: a\n    include: nope\n",
        r"workflows/w\.yaml:4: w\.a: include: included workflow template 'nope' not found \(workflows/nope\.yaml\)",
    ),
    Case(
        "include-cycle",
        "name: w\nroles:\n  - name: a\n    include: w\n",
        r"workflows/w\.yaml:4: w\.a: include: include cycle: w -> w",
    ),
    Case(
        "include-other-repo",
        "name: w\nroles:\n  - name: a\n    include: github.com/x/other/workflows/y\n",
        r"workflows/w\.yaml:4: w\.a: include: 'github\.com/x/other/workflows/y' refers to another repository; .*",
    ),
    Case(
        "include-bad-name",
        "name: w\nroles:\n  - name: a\n    include: '../../etc/passwd'\n",
        r"workflows/w\.yaml:4: w\.a: include: '\.\./\.\./etc/passwd' is not a workflow template reference",
    ),
    Case(
        "include-empty",
        "name: w\nroles:\n  - name: a\n    include: \"{{ '' }}\"\n",
        r"workflows/w\.yaml:4: w\.a: include: include evaluated to an empty workflow name",
    ),
    Case(
        "include-bad-subworkflow",
        "name: w\nroles:\n  - name: a\n    include: sub\n",
        r"workflows/sub\.yaml:2: sub\.t: vars\.v: unknown name nope|workflows/sub\.yaml:2: w\.a\.t: vars\.v: unknown name nope",
        workflows={"sub": "name: sub\nroles: [{name: t, vars: {v: '{{ nope }}'}, task: {load: echo}}]\n"},
    ),
    Case(
        "channel-type",
        task("    bind: [{name: o, type: req}]\n"),
        r"workflows/w\.yaml:4: w\.t: bind\[0\]\.type: invalid channel type: req",
    ),
    Case(
        "channel-transport",
        task("    connect: [{name: o, type: pull, transport: tcp}]\n"),
        r"workflows/w\.yaml:4: w\.t: connect\[0\]\.transport: invalid transport type: tcp",
    ),
    Case(
        "channel-addressing",
        task("    bind: [{name: o, type: push, addressing: udp}]\n"),
        r"workflows/w\.yaml:4: w\.t: bind\[0\]\.addressing: invalid address format: udp",
    ),
    Case(
        "channel-bufsize",
        task("    bind: [{name: o, type: push, rcvBufSize: lots}]\n"),
        r'workflows/w\.yaml:4: w\.t: bind\[0\]\.rcvBufSize: strconv\.Atoi: parsing "lots": invalid syntax',
    ),
    Case(
        "channel-no-type",
        task("    bind: [{name: o}]\n"),
        r"workflows/w\.yaml:4: w\.t: bind\[0\]: channel 'o' has no type \(push, pull, pub or sub\)",
    ),
    Case(
        "connect-unknown-target",
        task("    connect: [{name: o, type: pull, target: 'w.x:o'}]\n"),
        r"workflows/w\.yaml:4: w\.t: connect\[0\]\.target: could not match target for outbound channel w\.x:o",
    ),
    Case(
        "connect-malformed-target",
        task("    connect: [{name: o, type: pull, target: 'flp001'}]\n"),
        r"workflows/w\.yaml:4: w\.t: connect\[0\]\.target: could not match target for outbound channel flp001 \(expected <role path>:<channel>, ::<alias> or tcp://, ipc://\)",
    ),
    Case(
        "bind-bad-target",
        task("    bind: [{name: o, type: push, target: 'x:1'}]\n"),
        r"workflows/w\.yaml:4: w\.t: bind\[0\]\.target: inbound channel target x:1 provided but invalid",
    ),
    Case(
        "duplicate-alias",
        "name: w\nbind: [{name: o, type: push, global: g}]\nroles:\n  - {name: a, task: {load: echo}}\n  - {name: b, task: {load: echo}}\n",
        r"workflows/w\.yaml:5: w\.b: bind 'o'\.global: illegal redefinition of global channel alias ::g: bound by w\.a:o and w\.b:o",
    ),
    Case(
        "ipc-across-hosts",
        "name: w\nroles:\n  - name: a\n    constraints: [{attribute: machine_id, value: h1}]\n    bind: [{name: o, type: push, addressing: ipc}]\n    task: {load: echo}\n  - name: b\n    constraints: [{attribute: machine_id, value: h2}]\n    connect: [{name: o, type: pull, target: 'w.a:o'}]\n    task: {load: echo}\n",
        r"workflows/w\.yaml:9: w\.b: connect\[0\]\.target: ipc channel to w\.a:o needs both tasks on one host, but this task is pinned to h2 and the peer is pinned to h1",
    ),
    Case(
        "shmem-to-unpinned",
        "name: w\nroles:\n  - name: a\n    constraints: [{attribute: machine_id, value: h1}]\n    bind: [{name: o, type: push, transport: shmem}]\n    task: {load: echo}\n  - name: b\n    connect: [{name: o, type: pull, target: 'w.a:o'}]\n    task: {load: echo}\n",
        r"workflows/w\.yaml:8: w\.b: connect\[0\]\.target: shmem channel to w\.a:o needs both tasks on one host, but this task is not pinned to any host and the peer is pinned to h1",
    ),
    Case(
        "quoted-critical",
        task(traits=", critical: 'false'"),
        r"workflows/w\.yaml:4: w\.t: task\.critical: cannot unmarshal `false` into bool \(critical is a YAML bool: write true or false without quotes\)",
    ),
    Case(
        "templated-critical",
        task(traits=", critical: '{{ c }}'"),
        r"workflows/w\.yaml:4: w\.t: task\.critical: cannot unmarshal `\{\{ c \}\}` into bool .*",
    ),
    Case(
        "bad-timeout",
        task(traits=", trigger: DESTROY, timeout: soon"),
        r'workflows/w\.yaml:4: w\.t: task\.timeout: time: invalid duration "soon"',
    ),
    Case(
        "call-bad-timeout",
        "name: w\nroles:\n  - name: c\n    call: {func: x.Y(), timeout: 10 seconds}\n",
        r'workflows/w\.yaml:4: w\.c: call\.timeout: time: .*"10 seconds"',
    ),
    Case(
        "call-bad-func",
        "name: w\nroles:\n  - name: c\n    call: {func: 'dcs.StartOfRun(('}\n",
        r"workflows/w\.yaml:4: w\.c: call\.func: .+",
    ),
    Case(
        "call-empty-func",
        "name: w\nroles:\n  - name: c\n    call: {trigger: DESTROY}\n",
        r"workflows/w\.yaml:3: w\.c: call\.func: call\.func is empty",
    ),
    Case(
        "duplicate-siblings",
        "name: w\nroles:\n  - {name: d, task: {load: echo}}\n  - {name: d, task: {load: echo}}\n",
        r"workflows/w\.yaml:4: w\.d: name: two enabled sibling roles are both named 'd' \(workflows/w\.yaml:3 and workflows/w\.yaml:4\); make their enabled conditions exclusive",
    ),
    Case(
        "defaults-is-a-list",
        "name: w\ndefaults: [a, b]\nroles: []\n",
        r"workflows/w\.yaml:2: w: defaults: cannot unmarshal !!seq into a mapping of variables",
    ),
    Case(
        "up-beyond-root",
        task("    vars: {p: '{{ Up(3).Path }}'}\n"),
        r"workflows/w\.yaml:4: w\.t: vars\.p: .+",
    ),
    Case(
        "all-disabled",
        "name: w\nroles:\n  - {name: a, enabled: 'false', task: {load: echo}}\n",
        r"workflows/w\.yaml:1: w: the workflow is empty: its root role is disabled or has no enabled roles",
    ),
    Case(
        "jit-needs-o2",
        "name: w\nroles:\n  - name: dpl\n    include: \"{{ dpl.GenerateFromUri('qc') }}\"\n",
        r"workflows/w\.yaml:4: w\.dpl: include: dpl\.GenerateFromUri: JIT generation needs an O2 installation; pre-generate workflows/jit-qc\.yaml .* o2-qc --o2-control jit-qc",
        jit={"qc": "o2-qc\n"},
    ),
]


def make(tmp_path, case: Case):  # type: ignore[no-untyped-def]
    root = tmp_path / case.id
    root.mkdir()
    return write_repo(
        root,
        {"w": case.workflow, **case.workflows},
        {"echo": ECHO_TT, "pinned": PINNED, **case.tasks},
        case.jit,
    )


def test_there_are_at_least_40_cases() -> None:
    assert len(CASES) >= 40
    assert len({c.id for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_message(tmp_path, case: Case) -> None:
    root = make(tmp_path, case)
    with pytest.raises(ManifestError) as info:
        plan_of(root, case.name)
    line = info.value.one_line()
    assert re.fullmatch(case.expected, line), line


@pytest.mark.parametrize("case", CASES[::7], ids=[c.id for c in CASES[::7]])
def test_cli_prints_one_line_and_exits_2(tmp_path, case: Case) -> None:
    root = make(tmp_path, case)
    result = CliRunner().invoke(cli, ["manifest", "show", case.name, "--repo", str(root)])
    assert result.exit_code == 2, result.output
    lines = [x for x in result.stderr.splitlines() if not x.startswith("    ")]  # caret lines are details
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Manifest: "), result.stderr
    assert "Traceback" not in result.output
