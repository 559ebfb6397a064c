"""Task templates (``tasks/<name>.yaml``) as written, decoded like ``taskclass/class.go``.

TT maps are Go ``map[string]string`` (a null value becomes ``""``, a nested mapping is an error),
``control.mode`` falls back to ``direct`` for unknown text, ``command.shell`` is true iff its text is
``true`` (case-insensitive, trimmed), ``command.log`` is the deprecated alias of ``stdout``,
``wants``/``limits`` numbers are parsed with Go ``strconv.ParseFloat`` from the raw text, and a TT
``connect`` target is dropped with a warning (targets only come from the workflow).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import yaml

from nomadctl.errors import ManifestError
from nomadctl.manifest import yamlraw
from nomadctl.manifest.schema import RawChannel, RawConstraint, Text, parse_channel
from nomadctl.plan import ControlMode

_FLOAT = re.compile(r"^[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?$")
_SPECIAL_FLOATS = {
    "inf": math.inf,
    "+inf": math.inf,
    "-inf": -math.inf,
    "infinity": math.inf,
    "+infinity": math.inf,
    "-infinity": -math.inf,
    "nan": math.nan,
}
_UINT = re.compile(r"^[0-9]+$")
_MAX_PORT = 65535

_TT_KEYS = frozenset(
    {
        "name",
        "defaults",
        "vars",
        "control",
        "command",
        "wants",
        "limits",
        "bind",
        "properties",
        "constraints",
        "connect",
    }
)
_COMMAND_KEYS = frozenset({"env", "shell", "value", "user", "arguments", "log", "stdout", "stderr"})


@dataclass(frozen=True, slots=True)
class CommandInfo:
    """``command:`` of a TT; templated fields keep their raw text."""

    shell: bool
    value: Text
    user: Text
    env: tuple[Text, ...]
    arguments: tuple[Text, ...]
    stdout: Text | None
    stderr: Text | None


@dataclass(frozen=True, slots=True)
class TaskClass:
    """A decoded task template."""

    name: str
    file: str
    control_mode: ControlMode
    command: CommandInfo
    defaults: tuple[tuple[str, Text], ...] = ()
    vars: tuple[tuple[str, Text], ...] = ()
    properties: tuple[tuple[str, Text], ...] = ()
    wants_cpu: float | None = None
    wants_memory: float | None = None
    wants_ports: tuple[int, ...] = ()
    limits_cpu: float | None = None
    limits_memory: float | None = None
    bind: tuple[RawChannel, ...] = ()
    connect: tuple[RawChannel, ...] = ()
    constraints: tuple[RawConstraint, ...] = ()
    warnings: tuple[str, ...] = ()


def go_parse_float(text: str) -> float:
    """Go ``strconv.ParseFloat(s, 64)`` for the decimal forms; ``ValueError`` with Go's wording."""
    special = _SPECIAL_FLOATS.get(text.lower())
    if special is not None:
        return special
    if not _FLOAT.match(text):
        raise ValueError(f'strconv.ParseFloat: parsing "{text}": invalid syntax')
    return float(text)


def parse_ports(expression: str) -> tuple[int, ...]:
    """``wants.ports``: ``"1000-1010,2000"``.

    AliECS parses a range's end from its *begin* (``port/range.go:107``), collapsing every range to
    one port; nomadctl fixes that and expands ``a-b`` to every port from ``a`` to ``b``.
    """
    if not expression.strip():
        return ()
    ports: list[int] = []
    for part in expression.split(","):
        bounds = part.strip().split("-")
        if len(bounds) > 2:
            raise ValueError("bad format for roleClass ports range")
        values: list[int] = []
        for bound in bounds:
            if not _UINT.match(bound):
                raise ValueError(f'strconv.ParseUint: parsing "{bound}": invalid syntax')
            port = int(bound)
            if port > _MAX_PORT:
                raise ValueError(f"port {port} out of range (max {_MAX_PORT})")
            values.append(port)
        begin, end = values[0], values[-1]
        if end < begin:
            raise ValueError(f"ports range {part.strip()} ends before it begins")
        ports.extend(range(begin, end + 1))
    return tuple(sorted(set(ports)))


class _TTParser:
    def __init__(self, file: str, expected_name: str) -> None:
        self.file = file
        self.expected_name = expected_name
        self.warnings: list[str] = []

    def fail(self, message: str, node: yaml.Node | None, what: str | None = None) -> ManifestError:
        line = yamlraw.line_of(node) if node is not None else None
        return ManifestError(message, file=self.file, line=line, field=what)

    def warn(self, message: str, node: yaml.Node | None, _path: str = "") -> None:
        where = f"{self.file}:{yamlraw.line_of(node)}" if node is not None else self.file
        self.warnings.append(f"{where}: {message}")

    def string_map(self, node: yaml.Node | None, what: str) -> tuple[tuple[str, Text], ...]:
        """A Go ``map[string]string``: null values give ``""``, non-scalars are errors."""
        if yamlraw.is_null(node):
            return ()
        assert node is not None
        out: list[tuple[str, Text]] = []
        for key, _k, value in yamlraw.mapping_items(node, self.file):
            out.append((key, Text(yamlraw.text(value, self.file, f"{what}.{key}"), yamlraw.line_of(value))))
        return tuple(out)

    def number(self, m: dict[str, yaml.Node], key: str, section: str) -> float | None:
        raw = yamlraw.optional_text(m.get(key), self.file, f"{section}.{key}")
        if raw is None:
            return None
        try:
            return go_parse_float(raw)
        except ValueError as err:
            raise self.fail(str(err), m.get(key), f"{section}.{key}") from None

    def parse(self, node: yaml.Node | None) -> TaskClass:
        if node is None:
            raise ManifestError("empty task template", file=self.file)
        if not isinstance(node, yaml.MappingNode):
            raise self.fail("a task template must be a YAML mapping", node)
        m = yamlraw.mapping(node, self.file)
        for key, value in m.items():
            if key not in _TT_KEYS:
                self.warn(f"unknown key '{key}' ignored (AliECS ignores it too)", value)
        name = yamlraw.text(m.get("name"), self.file, "name")
        if name != self.expected_name:
            raise self.fail(
                f"the name of the task template file and the name of the task template don't match "
                f"(name: '{name}' in {self.expected_name}.yaml)",
                m.get("name", node),
                "name",
            )
        mode = ControlMode.DIRECT
        control = m.get("control")
        if not yamlraw.is_null(control):
            assert control is not None
            cm = yamlraw.mapping(control, self.file)
            raw_mode = yamlraw.optional_text(cm.get("mode"), self.file, "control.mode")
            if raw_mode is not None:
                lowered = raw_mode.strip('"').lower()
                try:
                    mode = ControlMode(lowered)
                except ValueError:
                    self.warn(
                        f"control.mode '{raw_mode}' unknown: AliECS treats it as direct", cm.get("mode")
                    )
        command_node = m.get("command")
        if yamlraw.is_null(command_node):
            raise self.fail("missing: a task template needs a command", node, "command")
        assert command_node is not None
        command = self.command(command_node)

        wants_cpu = wants_memory = None
        ports: tuple[int, ...] = ()
        wants = m.get("wants")
        if not yamlraw.is_null(wants):
            assert wants is not None
            wm = yamlraw.mapping(wants, self.file)
            wants_cpu = self.number(wm, "cpu", "wants")
            wants_memory = self.number(wm, "memory", "wants")
            raw_ports = yamlraw.optional_text(wm.get("ports"), self.file, "wants.ports")
            if raw_ports is not None:
                try:
                    ports = parse_ports(raw_ports)
                except ValueError as err:
                    raise self.fail(str(err), wm.get("ports"), "wants.ports") from None
        limits_cpu = limits_memory = None
        limits = m.get("limits")
        if not yamlraw.is_null(limits):
            assert limits is not None
            lm = yamlraw.mapping(limits, self.file)
            limits_cpu = self.number(lm, "cpu", "limits")
            limits_memory = self.number(lm, "memory", "limits")

        bind = tuple(
            parse_channel(item, self.file, "", f"bind[{i}]", inbound=True, warn=self.warn)
            for i, item in enumerate(yamlraw.sequence(m.get("bind"), self.file, "bind"))
        )
        connect: list[RawChannel] = []
        for i, item in enumerate(yamlraw.sequence(m.get("connect"), self.file, "connect")):
            ch = parse_channel(item, self.file, "", f"connect[{i}]", inbound=False, warn=self.warn)
            if ch.target.text:
                self.warn(
                    f"connect[{i}]: task template outbound channel definition has a target (will be ignored)",
                    item,
                )
                ch = RawChannel(
                    name=ch.name,
                    type=ch.type,
                    transport=ch.transport,
                    snd_buf_size=ch.snd_buf_size,
                    rcv_buf_size=ch.rcv_buf_size,
                    rate_logging=ch.rate_logging,
                    target=Text(""),
                    line=ch.line,
                )
            connect.append(ch)
        constraints: list[RawConstraint] = []
        for i, item in enumerate(yamlraw.sequence(m.get("constraints"), self.file, "constraints")):
            cm2 = yamlraw.mapping(item, self.file) if not yamlraw.is_null(item) else {}
            constraints.append(
                RawConstraint(
                    yamlraw.text(cm2.get("attribute"), self.file, f"constraints[{i}].attribute"),
                    Text(
                        yamlraw.text(cm2.get("value"), self.file, f"constraints[{i}].value"),
                        yamlraw.line_of(item),
                    ),
                )
            )
        return TaskClass(
            name=name,
            file=self.file,
            control_mode=mode,
            command=command,
            defaults=self.string_map(m.get("defaults"), "defaults"),
            vars=self.string_map(m.get("vars"), "vars"),
            properties=self.string_map(m.get("properties"), "properties"),
            wants_cpu=wants_cpu,
            wants_memory=wants_memory,
            wants_ports=ports,
            limits_cpu=limits_cpu,
            limits_memory=limits_memory,
            bind=bind,
            connect=tuple(connect),
            constraints=tuple(constraints),
            warnings=tuple(self.warnings),
        )

    def command(self, node: yaml.Node) -> CommandInfo:
        f = self.file
        cm = yamlraw.mapping(node, f)
        for key, value in cm.items():
            if key not in _COMMAND_KEYS:
                self.warn(f"command: unknown key '{key}' ignored (AliECS ignores it too)", value)

        def opt(key: str) -> Text | None:
            raw = yamlraw.optional_text(cm.get(key), f, f"command.{key}")
            return None if raw is None else Text(raw, yamlraw.line_of(cm[key]))

        shell_text = opt("shell")
        stdout = opt("stdout")
        log = opt("log")
        if log is not None and stdout is None:
            self.warn(
                "command.log is deprecated, AliECS uses it as command.stdout (write stdout/stderr instead)",
                cm.get("log"),
            )
            stdout = log
        return CommandInfo(
            shell=shell_text is not None and shell_text.text.strip().lower() == "true",
            value=opt("value") or Text(""),
            user=opt("user") or Text(""),
            env=tuple(Text(t, line) for t, line in yamlraw.text_list(cm.get("env"), f, "command.env")),
            arguments=tuple(
                Text(t, line) for t, line in yamlraw.text_list(cm.get("arguments"), f, "command.arguments")
            ),
            stdout=stdout,
            stderr=opt("stderr"),
        )


def parse_task_class(node: yaml.Node | None, file: str, name: str) -> TaskClass:
    """Decode the TT in ``file``; ``name`` is the file's stem, which the TT ``name`` must equal."""
    return _TTParser(file, name).parse(node)
