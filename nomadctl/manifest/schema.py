"""Workflow-template roles as written: the YAML decoded into raw, unevaluated role objects.

This is AliECS's ``yaml.Unmarshal`` step (reference §1.2-§1.8): role-kind detection by probing the
keys ``for``/``roles``/``task``/``call``/``include`` (``aggregator.go``), the per-kind fields with
their load-time defaults (hook timeout ``30s`` decided on the raw ``trigger``, ``await`` defaulting
to the raw ``trigger``, ``critical`` a real YAML bool defaulting to ``true``), ``defaults``/``vars``
maps with ``!public`` mappings giving their ``value`` and other non-scalars dropped, constraints and
channels with their decode-time validation. Nothing is templated here; every templated field keeps
its raw text and line so the engine can evaluate it later and locate its errors.

A parsed file is immutable and shared: iterators and repeated includes evaluate the same raw
roles many times with different variables.
"""

from __future__ import annotations

import dataclasses
import enum
import re
from collections.abc import Callable
from dataclasses import dataclass, field

import yaml

from nomadctl.errors import ManifestError
from nomadctl.manifest import yamlraw
from nomadctl.plan import Addressing, ChannelType, Transport


@dataclass(frozen=True, slots=True)
class Text:
    """A raw (possibly templated) string field and the line it was written on."""

    text: str
    line: int | None = None


class Kind(enum.StrEnum):
    AGGREGATOR = "aggregator"
    ITERATOR = "iterator"
    TASK = "task"
    CALL = "call"
    INCLUDE = "include"


@dataclass(frozen=True, slots=True)
class RawConstraint:
    attribute: str
    value: Text


@dataclass(frozen=True, slots=True)
class RawChannel:
    """A ``bind`` (inbound) or ``connect`` (outbound) entry as decoded by ``channel.go``.

    ``type`` is ``None`` when the key is absent (AliECS would carry an empty type to FairMQ).
    """

    name: str
    type: ChannelType | None
    transport: Transport
    snd_buf_size: int
    rcv_buf_size: int
    rate_logging: Text
    target: Text
    line: int
    global_alias: Text = Text("")
    addressing: Addressing = Addressing.TCP


@dataclass(frozen=True, slots=True)
class RawFor:
    """``for: {range, var}`` (a JSON array of strings) or ``for: {begin, end, var}`` (inclusive)."""

    var: str
    range: Text | None = None
    begin: Text | None = None
    end: Text | None = None
    line: int | None = None


@dataclass(frozen=True, slots=True)
class RawRole:
    """One role of a workflow template, unevaluated."""

    kind: Kind
    file: str
    line: int | None
    name: Text
    enabled: Text = Text("true")
    defaults: tuple[tuple[str, Text], ...] = ()
    vars: tuple[tuple[str, Text], ...] = ()
    constraints: tuple[RawConstraint, ...] = ()
    connect: tuple[RawChannel, ...] = ()
    bind: tuple[RawChannel, ...] = ()
    roles: tuple[RawRole, ...] = ()
    # task and call roles
    load: Text | None = None
    func: Text | None = None
    return_var: Text | None = None
    trigger: Text = Text("")
    await_: Text = Text("")
    timeout: Text = Text("0s")
    critical: bool = True
    # include roles
    include: Text | None = None
    # iterator roles: the range and the role generated per value
    for_: RawFor | None = None
    template: RawRole | None = None
    # root only
    public: bool = False
    description: str = ""
    warnings: tuple[str, ...] = field(default=(), compare=False)


_ROLE_KEYS = frozenset(
    {
        "name",
        "enabled",
        "defaults",
        "vars",
        "constraints",
        "connect",
        "bind",
        "roles",
        "task",
        "call",
        "include",
        "for",
    }
)
_TASK_KEYS = frozenset({"load", "trigger", "await", "timeout", "critical"})
_CALL_KEYS = frozenset({"func", "return", "trigger", "await", "timeout", "critical"})
_FOR_KEYS = frozenset({"range", "var", "begin", "end"})
_CHANNEL_KEYS = frozenset({"name", "type", "sndBufSize", "rcvBufSize", "rateLogging", "transport", "target"})
_INBOUND_KEYS = _CHANNEL_KEYS | {"global", "addressing"}
_ATOI = re.compile(r"^[+-]?[0-9]+$")


def _line(node: yaml.Node | None) -> int | None:
    return None if node is None else yamlraw.line_of(node)


def _txt(node: yaml.Node | None, file: str, what: str, default: str = "") -> Text:
    return Text(yamlraw.text(node, file, what, default), _line(node))


class _Parser:
    """Decodes one workflow file; collects warnings instead of printing them."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.warnings: list[str] = []

    def fail(self, message: str, node: yaml.Node | None, path: str, what: str | None = None) -> ManifestError:
        return ManifestError(message, file=self.file, line=_line(node), role_path=path or None, field=what)

    def warn(self, message: str, node: yaml.Node | None, path: str) -> None:
        where = f"{self.file}:{_line(node)}" if node is not None else self.file
        self.warnings.append(f"{where}: {path}: {message}" if path else f"{where}: {message}")

    def unknown_keys(self, m: dict[str, yaml.Node], allowed: frozenset[str], path: str, what: str) -> None:
        for key, value in m.items():
            if key not in allowed:
                self.warn(f"{what}unknown key '{key}' ignored (AliECS ignores it too)", value, path)

    # -- maps -------------------------------------------------------------------------------

    def kv_store(self, node: yaml.Node | None, path: str, what: str) -> tuple[tuple[str, Text], ...]:
        """``kvStoreUnmarshalYAMLWithTags``: scalars give their raw text, ``!public`` mappings
        their ``value``, anything else is dropped."""
        if yamlraw.is_null(node):
            return ()
        assert node is not None
        if not isinstance(node, yaml.MappingNode):
            raise self.fail(
                f"cannot unmarshal {'!!seq' if isinstance(node, yaml.SequenceNode) else '!!str'} into a "
                "mapping of variables",
                node,
                path,
                what,
            )
        out: list[tuple[str, Text]] = []
        for key, _key_node, value in yamlraw.mapping_items(node, self.file):
            if isinstance(value, yaml.ScalarNode):
                out.append((key, Text(str(value.value), _line(value))))
            elif isinstance(value, yaml.MappingNode) and value.tag == "!public":
                public = self._public_value(value)
                if public is not None:
                    out.append((key, public))
                else:
                    self.warn(f"{what}.{key}: !public mapping without a scalar value dropped", value, path)
            else:
                kind = "mapping" if isinstance(value, yaml.MappingNode) else "sequence"
                hint = " (a missing !public tag?)" if kind == "mapping" else ""
                self.warn(
                    f"{what}.{key}: untagged {kind} dropped as AliECS does{hint}; "
                    "the variable is not defined here",
                    value,
                    path,
                )
        return tuple(out)

    def _public_value(self, node: yaml.MappingNode) -> Text | None:
        try:
            items = yamlraw.mapping(node, self.file)
        except ManifestError:
            return None
        value = items.get("value")
        if value is None:
            return Text("", _line(node))
        if not isinstance(value, yaml.ScalarNode):
            return None
        if value.tag == yamlraw.NULL_TAG:
            return Text("", _line(value))
        return Text(str(value.value), _line(value))

    # -- constraints and channels ------------------------------------------------------------

    def constraints(self, node: yaml.Node | None, path: str) -> tuple[RawConstraint, ...]:
        out: list[RawConstraint] = []
        for i, item in enumerate(yamlraw.sequence(node, self.file, "constraints")):
            what = f"constraints[{i}]"
            if yamlraw.is_null(item):
                out.append(RawConstraint("", Text("", _line(item))))
                continue
            m = yamlraw.mapping(item, self.file)
            self.unknown_keys(m, frozenset({"attribute", "value"}), path, f"{what}: ")
            out.append(
                RawConstraint(
                    yamlraw.text(m.get("attribute"), self.file, f"{what}.attribute"),
                    _txt(m.get("value"), self.file, f"{what}.value"),
                )
            )
        return tuple(out)

    def channels(self, node: yaml.Node | None, path: str, inbound: bool) -> tuple[RawChannel, ...]:
        section = "bind" if inbound else "connect"
        return tuple(
            parse_channel(item, self.file, path, f"{section}[{i}]", inbound=inbound, warn=self.warn)
            for i, item in enumerate(yamlraw.sequence(node, self.file, section))
        )

    # -- roles ------------------------------------------------------------------------------

    def root(self, node: yaml.Node | None) -> RawRole:
        """The file's root, always decoded as an aggregator (``load.go``: ``new(aggregatorRole)``)."""
        if node is None:
            raise ManifestError("empty workflow template", file=self.file)
        if not isinstance(node, yaml.MappingNode):
            raise self.fail("a workflow template must be a YAML mapping", node, "")
        m = yamlraw.mapping(node, self.file)
        name_node = m.get("name")
        name = _txt(name_node, self.file, "name")
        path = name.text
        self.unknown_keys(m, _ROLE_KEYS | {"description"}, path, "")
        public = isinstance(name_node, yaml.ScalarNode) and name_node.tag == "!public"
        desc_node = m.get("description")
        description = ""
        if isinstance(desc_node, yaml.ScalarNode) and desc_node.tag == "!public":
            description = str(desc_node.value)
        role = self.role_fields(Kind.AGGREGATOR, node, m, path, name)
        return _replace(role, public=public, description=description, warnings=tuple(self.warnings))

    def role(self, node: yaml.Node, parent_path: str, index: int) -> RawRole:
        what = f"roles[{index}]"
        if not isinstance(node, yaml.MappingNode):
            raise self.fail(
                "cannot unmarshal invalid role to union (a role is a mapping)", node, parent_path, what
            )
        m = yamlraw.mapping(node, self.file)
        name = _txt(m.get("name"), self.file, "name")
        path = f"{parent_path}.{name.text}" if parent_path else name.text
        probe = self.probe(m, path)
        if probe["for"]:
            return self.iterator(node, m, path, probe)
        kind = self.kind_of(probe, node, path, what)
        self.unknown_keys(m, _ROLE_KEYS, path, "")
        return self.role_fields(kind, node, m, path, name)

    def probe(self, m: dict[str, yaml.Node], path: str) -> dict[str, bool]:
        """``_unionTypeProbe``: which of the kind keys are present (null counts as absent)."""
        present: dict[str, bool] = {}
        expect = {
            "for": "mapping",
            "task": "mapping",
            "call": "mapping",
            "roles": "list",
            "include": "string",
        }
        for key, shape in expect.items():
            node = m.get(key)
            if yamlraw.is_null(node):
                present[key] = False
                continue
            assert node is not None
            ok = {
                "mapping": isinstance(node, yaml.MappingNode),
                "list": isinstance(node, yaml.SequenceNode),
                "string": isinstance(node, yaml.ScalarNode),
            }[shape]
            if not ok:
                raise self.fail(f"must be a {shape}", node, path, key)
            present[key] = True
        return present

    def kind_of(self, probe: dict[str, bool], node: yaml.Node, path: str, what: str) -> Kind:
        keys = [k for k in ("roles", "task", "call", "include") if probe[k]]
        if len(keys) == 1:
            return {"roles": Kind.AGGREGATOR, "task": Kind.TASK, "call": Kind.CALL, "include": Kind.INCLUDE}[
                keys[0]
            ]
        found = ", ".join(keys) if keys else "none of them"
        raise self.fail(
            "cannot unmarshal invalid role to union: a role needs exactly one of roles, task, call, "
            f"include (found {found})",
            node,
            path,
            what,
        )

    def iterator(
        self, node: yaml.Node, m: dict[str, yaml.Node], path: str, probe: dict[str, bool]
    ) -> RawRole:
        for_node = m["for"]
        fm = yamlraw.mapping(for_node, self.file)
        self.unknown_keys(fm, _FOR_KEYS, path, "for: ")
        var = yamlraw.optional_text(fm.get("var"), self.file, "for.var")
        rng = yamlraw.optional_text(fm.get("range"), self.file, "for.range")
        begin = yamlraw.optional_text(fm.get("begin"), self.file, "for.begin")
        end = yamlraw.optional_text(fm.get("end"), self.file, "for.end")
        if begin is not None and end is not None and var is not None:
            spec = RawFor(
                var,
                begin=Text(begin, _line(fm.get("begin"))),
                end=Text(end, _line(fm.get("end"))),
                line=_line(for_node),
            )
        elif rng is not None and var is not None:
            spec = RawFor(var, range=Text(rng, _line(fm.get("range"))), line=_line(for_node))
        else:
            raise self.fail(
                "invalid range specifier in iterator (need range and var, or begin, end and var)",
                for_node,
                path,
                "for",
            )
        try:
            kind = self.kind_of(probe, node, path, "for")
        except ManifestError:
            raise self.fail(
                "invalid template role in iterator: for needs exactly one of roles, task, call, include",
                node,
                path,
                "for",
            ) from None
        self.unknown_keys(m, _ROLE_KEYS, path, "")
        template = self.role_fields(kind, node, m, path, _txt(m.get("name"), self.file, "name"))
        return RawRole(
            kind=Kind.ITERATOR,
            file=self.file,
            line=_line(node),
            name=template.name,
            enabled=template.enabled,
            for_=spec,
            template=template,
        )

    def role_fields(
        self, kind: Kind, node: yaml.Node, m: dict[str, yaml.Node], path: str, name: Text
    ) -> RawRole:
        f = self.file
        enabled_node = m.get("enabled")
        # yaml.v3 leaves a string field untouched on null, so an empty `enabled:` keeps "true".
        enabled = _txt(enabled_node, f, "enabled", "true")
        common: dict[str, object] = {
            "kind": kind,
            "file": f,
            "line": _line(node),
            "name": name,
            "enabled": enabled,
            "defaults": self.kv_store(m.get("defaults"), path, "defaults"),
            "vars": self.kv_store(m.get("vars"), path, "vars"),
            "constraints": self.constraints(m.get("constraints"), path),
            "connect": self.channels(m.get("connect"), path, inbound=False),
            "bind": self.channels(m.get("bind"), path, inbound=True),
        }
        if kind is Kind.AGGREGATOR:
            items = yamlraw.sequence(m.get("roles"), f, "roles")
            common["roles"] = tuple(self.role(item, path, i) for i, item in enumerate(items))
        elif kind is Kind.TASK:
            tm = yamlraw.mapping(m["task"], f)
            self.unknown_keys(tm, _TASK_KEYS, path, "task: ")
            common["load"] = _txt(tm.get("load"), f, "task.load")
            common.update(self.traits(tm, path, "task"))
        elif kind is Kind.CALL:
            cm = yamlraw.mapping(m["call"], f)
            self.unknown_keys(cm, _CALL_KEYS, path, "call: ")
            common["func"] = _txt(cm.get("func"), f, "call.func")
            common["return_var"] = _txt(cm.get("return"), f, "call.return")
            common.update(self.traits(cm, path, "call"))
        elif kind is Kind.INCLUDE:
            common["include"] = _txt(m.get("include"), f, "include")
        return RawRole(**common)  # type: ignore[arg-type]

    def traits(self, m: dict[str, yaml.Node], path: str, section: str) -> dict[str, object]:
        """``task.Traits`` with AliECS's load-time defaults (``taskrole.go``/``callrole.go``)."""
        f = self.file
        trigger = yamlraw.optional_text(m.get("trigger"), f, f"{section}.trigger")
        awaited = yamlraw.optional_text(m.get("await"), f, f"{section}.await")
        timeout = yamlraw.optional_text(m.get("timeout"), f, f"{section}.timeout")
        try:
            critical = yamlraw.go_bool(m.get("critical"), f, f"{section}.critical")
        except ManifestError as err:
            raise err.locate(role_path=path) from None
        out: dict[str, object] = {"critical": True if critical is None else critical}
        if trigger:  # a hook: the 30 s default is decided on the raw text, before templating
            out["trigger"] = Text(trigger, _line(m.get("trigger")))
            out["timeout"] = (
                Text(timeout, _line(m.get("timeout"))) if timeout else Text("30s", _line(m.get("trigger")))
            )
            out["await_"] = (
                Text(awaited, _line(m.get("await"))) if awaited else Text(trigger, _line(m.get("trigger")))
            )
        else:
            out["timeout"] = Text(timeout, _line(m.get("timeout"))) if timeout else Text("0s")
        return out


def _replace(role: RawRole, **changes: object) -> RawRole:
    return dataclasses.replace(role, **changes)  # type: ignore[arg-type]


def parse_channel(
    node: yaml.Node,
    file: str,
    path: str,
    what: str,
    *,
    inbound: bool,
    warn: Callable[[str, yaml.Node | None, str], None],
) -> RawChannel:
    """One channel as ``channel.go``/``inbound.go`` decode it, with their validation errors."""

    def fail(message: str, at: yaml.Node | None, sub: str = "") -> ManifestError:
        return ManifestError(
            message,
            file=file,
            line=_line(at if at is not None else node),
            role_path=path or None,
            field=f"{what}.{sub}" if sub else what,
        )

    m = yamlraw.mapping(node, file) if not yamlraw.is_null(node) else {}
    warn_keys = _INBOUND_KEYS if inbound else _CHANNEL_KEYS
    for key, value in m.items():
        if key not in warn_keys:
            warn(f"{what}: unknown key '{key}' ignored (AliECS ignores it too)", value, path)

    def opt(key: str) -> str | None:
        return yamlraw.optional_text(m.get(key), file, f"{what}.{key}")

    name = opt("name") or ""
    ctype: ChannelType | None = None
    raw_type = opt("type")
    if "type" in m and not yamlraw.is_null(m["type"]):
        lowered = (raw_type or "").strip('"').lower()
        try:
            ctype = ChannelType(lowered)
        except ValueError:
            raise fail(f"invalid channel type: {lowered}", m["type"], "type") from None
    transport = Transport.DEFAULT
    raw_transport = opt("transport")
    if raw_transport:
        lowered = raw_transport.strip('"').lower()
        try:
            transport = Transport(lowered) if lowered else Transport.DEFAULT
        except ValueError:
            raise fail(f"invalid transport type: {lowered}", m["transport"], "transport") from None
    sizes: dict[str, int] = {}
    for key in ("sndBufSize", "rcvBufSize"):
        raw = opt(key) or "1000"
        if not _ATOI.match(raw):
            raise fail(f'strconv.Atoi: parsing "{raw}": invalid syntax', m.get(key), key)
        sizes[key] = int(raw)
    rate = opt("rateLogging") or "0"
    target = (opt("target") or "").strip()
    addressing = Addressing.TCP
    global_alias = Text("")
    if inbound:
        raw_addr = opt("addressing")
        if raw_addr:
            lowered = raw_addr.strip('"').lower()
            try:
                addressing = Addressing(lowered) if lowered else Addressing.TCP
            except ValueError:
                raise fail(f"invalid address format: {lowered}", m["addressing"], "addressing") from None
        global_alias = Text(opt("global") or "", _line(m.get("global")))
    return RawChannel(
        name=name,
        type=ctype,
        transport=transport,
        snd_buf_size=sizes["sndBufSize"],
        rcv_buf_size=sizes["rcvBufSize"],
        rate_logging=Text(rate, _line(m.get("rateLogging"))),
        target=Text(target, _line(m.get("target"))),
        line=_line(node) or 0,
        global_alias=global_alias,
        addressing=addressing,
    )


def parse_workflow(node: yaml.Node | None, file: str) -> RawRole:
    """Decode a workflow template file into its raw root role."""
    return _Parser(file).root(node)
