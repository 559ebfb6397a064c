"""Task templates decoded like taskclass/class.go and common/cmdinfo.go."""

from __future__ import annotations

import math
import textwrap

import pytest

from nomadctl.errors import ManifestError
from nomadctl.manifest import yamlraw
from nomadctl.manifest.taskclass import TaskClass, go_parse_float, parse_ports, parse_task_class
from nomadctl.plan import ControlMode


def tt(text: str, name: str = "t") -> TaskClass:
    source = textwrap.dedent(text)
    return parse_task_class(yamlraw.parse(source, f"tasks/{name}.yaml"), f"tasks/{name}.yaml", name)


BASE = "name: t\ncommand: {value: run}\n"


def test_name_must_equal_file_name() -> None:
    with pytest.raises(ManifestError) as info:
        tt("name: other\ncommand: {value: x}\n", "t")
    assert str(info.value).startswith("tasks/t.yaml:1: name: the name of the task template file")


@pytest.mark.parametrize(
    ("mode", "expected"),
    [
        ("direct", ControlMode.DIRECT),
        ("FairMQ", ControlMode.FAIRMQ),
        ("basic", ControlMode.BASIC),
        ('"hook"', ControlMode.HOOK),
        ("kubectl_fairmq", ControlMode.KUBECTL_FAIRMQ),
        ("nonsense", ControlMode.DIRECT),
    ],
)
def test_control_mode(mode: str, expected: ControlMode) -> None:
    assert tt(f"{BASE}control: {{mode: {mode}}}\n").control_mode is expected


def test_missing_control_is_direct() -> None:
    assert tt(BASE).control_mode is ControlMode.DIRECT


@pytest.mark.parametrize(
    ("shell", "expected"),
    [("true", True), ("TRUE", True), ('" true "', True), ("yes", False), ("false", False)],
)
def test_shell_is_true_only_for_the_text_true(shell: str, expected: bool) -> None:
    assert tt(f"name: t\ncommand: {{value: x, shell: {shell}}}\n").command.shell is expected


def test_log_is_the_deprecated_alias_of_stdout() -> None:
    cls = tt("name: t\ncommand: {value: x, log: '{{ log_task_output }}'}\n")
    assert cls.command.stdout is not None
    assert cls.command.stdout.text == "{{ log_task_output }}"
    assert any("command.log is deprecated" in w for w in cls.warnings)
    both = tt("name: t\ncommand: {value: x, log: a, stdout: b}\n")
    assert both.command.stdout is not None
    assert both.command.stdout.text == "b"


def test_tt_maps_turn_null_into_empty_string() -> None:
    cls = tt(f"{BASE}defaults: {{a: ~, b: false, c: ''}}\nvars: {{d: null}}\n")
    assert [(k, v.text) for k, v in cls.defaults] == [("a", ""), ("b", "false"), ("c", "")]
    assert [(k, v.text) for k, v in cls.vars] == [("d", "")]


def test_tt_maps_reject_nested_mappings() -> None:
    with pytest.raises(ManifestError, match="cannot unmarshal !!map into string"):
        tt(f"{BASE}defaults: {{a: {{value: x}}}}\n")


def test_wants_and_limits_are_go_floats() -> None:
    cls = tt(f"{BASE}wants: {{cpu: 0.15, memory: 128, ports: '1000-1002,2000'}}\nlimits: {{memory: 1e3}}\n")
    assert (cls.wants_cpu, cls.wants_memory, cls.wants_ports) == (0.15, 128.0, (1000, 1001, 1002, 2000))
    assert (cls.limits_cpu, cls.limits_memory) == (None, 1000.0)


def test_bad_wants_is_an_error() -> None:
    with pytest.raises(ManifestError, match=r'wants.cpu: strconv.ParseFloat: parsing "lots": invalid syntax'):
        tt(f"{BASE}wants: {{cpu: lots}}\n")


@pytest.mark.parametrize(
    ("text", "value"), [("1", 1.0), ("-2.5", -2.5), (".5", 0.5), ("1e3", 1000.0), ("Inf", math.inf)]
)
def test_go_parse_float(text: str, value: float) -> None:
    assert go_parse_float(text) == value


@pytest.mark.parametrize("text", ["1_000", " 1", "0x10", "", "1.2.3"])
def test_go_parse_float_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="invalid syntax"):
        go_parse_float(text)


def test_port_ranges_are_expanded_not_collapsed() -> None:
    # AliECS parses a range's end from its begin (port/range.go:107); nomadctl fixes it.
    assert parse_ports("9000-9003") == (9000, 9001, 9002, 9003)
    assert parse_ports(" ") == ()


@pytest.mark.parametrize(
    ("text", "message"),
    [("1-2-3", "bad format"), ("a", "invalid syntax"), ("5-4", "ends before"), ("70000", "out of range")],
)
def test_bad_port_ranges(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_ports(text)


def test_tt_connect_target_is_ignored_with_a_warning() -> None:
    cls = tt(f"{BASE}connect: [{{name: a, type: pull, target: 'tcp://x:1'}}]\n")
    assert cls.connect[0].target.text == ""
    assert any("has a target (will be ignored)" in w for w in cls.warnings)


def test_command_is_required() -> None:
    with pytest.raises(ManifestError, match="missing: a task template needs a command"):
        tt("name: t\n")


def test_arguments_and_env_keep_raw_text() -> None:
    cls = tt(
        'name: t\ncommand:\n  value: x\n  env:\n    - http_proxy=""\n    - A=1  # comment\n'
        "  arguments: [\"'{{ s }}'\", ' ']\n"
    )
    assert [e.text for e in cls.command.env] == ['http_proxy=""', "A=1"]
    assert [a.text for a in cls.command.arguments] == ["'{{ s }}'", " "]
