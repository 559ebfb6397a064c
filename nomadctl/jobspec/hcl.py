"""HCL2 rendering of the job model, in ``nomad fmt`` layout.

A small printer rather than templates: the model's ``Hcl`` markers say how each field is written,
so HCL and API-JSON can never describe different jobs. Layout rules (those of ``nomad fmt`` /
hclwrite): two-space indent, ``=`` aligned over each run of one-line attributes, one block per
line group, blank lines between blocks, and never a one-line block holding several arguments
(HCL2 forbids that). Strings escape ``${`` and ``%{`` as ``$${`` and ``%%{`` so that Nomad's
runtime interpolations (``${NOMAD_PORT_x}``, ``${node.unique.name}``) reach Nomad literally.
"""

from __future__ import annotations

import functools
import re
from typing import Any

from nomadctl import durations
from nomadctl.jobspec.model import Hcl, Job, NomadObject, hcl_of

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")
_PLAIN = re.compile(r"^[^\"\\\x00-\x1f\x7f$%]*$")
_ESCAPES = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def quote(text: str) -> str:
    """``text`` as an HCL2 quoted string literal (template sequences escaped)."""
    if _PLAIN.match(text):
        return f'"{text}"'
    out = []
    for ch in text:
        if ch in _ESCAPES:
            out.append(_ESCAPES[ch])
        elif ord(ch) < 0x20 or ch == "\x7f":
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    body = "".join(out).replace("${", "$${").replace("%{", "%%{")
    return f'"{body}"'


def duration_text(ns: int) -> str:
    """Go duration text, shortest form for whole seconds (``"30m"``, ``"1m30s"``, ``"24h"``)."""
    if ns <= 0 or ns % 1_000_000_000:
        return durations.format_ns(ns)
    hours, rest = divmod(ns // 1_000_000_000, 3600)
    minutes, seconds = divmod(rest, 60)
    return "".join(f"{v}{u}" for v, u in ((hours, "h"), (minutes, "m"), (seconds, "s")) if v)


def _scalar(value: Any, *, duration: bool = False) -> str:
    if duration:
        return quote(duration_text(int(value)))
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return quote(value)
    if isinstance(value, list):
        return "[" + ", ".join(_scalar(v) for v in value) + "]"
    raise TypeError(f"cannot write {type(value).__name__} as an HCL value")


def _attr_lines(pairs: list[tuple[str, str]], indent: str) -> list[str]:
    width = max((len(k) for k, _ in pairs), default=0)
    return [f"{indent}{k.ljust(width)} = {v}" for k, v in pairs]


def _map_lines(name: str, mapping: dict[str, str], indent: str) -> list[str]:
    inner = indent + "  "
    if all(_IDENT.match(k) for k in mapping):
        pairs = [(k, quote(v)) for k, v in mapping.items()]
        return [f"{indent}{name} {{", *_attr_lines(pairs, inner), f"{indent}}}"]
    # Keys such as `nomadctl.env` are not HCL identifiers: jobspec2 also accepts the map as an
    # attribute holding an object, where keys may be quoted.
    pairs = [(quote(k), quote(v)) for k, v in mapping.items()]
    return [f"{indent}{name} = {{", *_attr_lines(pairs, inner), f"{indent}}}"]


@functools.cache
def _markers(cls: type[NomadObject]) -> tuple[tuple[str, Hcl], ...]:
    return tuple((name, hcl_of(cls, name)) for name in cls.model_fields)


def _body(obj: NomadObject, indent: str) -> list[str]:
    """The lines inside ``obj``'s block: attributes, then maps, then nested blocks."""
    attrs: list[tuple[str, str]] = []
    sections: list[list[str]] = []
    for field_name, marker in _markers(type(obj)):
        value = getattr(obj, field_name)
        if value is None:
            continue
        if marker.kind == "label":
            continue
        if isinstance(obj, Job) and field_name == "name" and value == obj.id:
            continue
        if marker.kind == "attr":
            attrs.append((marker.name, _scalar(value, duration=marker.duration)))
        elif marker.kind == "map":
            sections.append(_map_lines(marker.name, value, indent))
        elif marker.kind == "ports":
            for port in value:
                sections.append(_block(marker.name, port, indent))
        else:
            items = value if isinstance(value, list) else [value]
            for item in items:
                sections.append(_block(marker.name, item, indent))
    lines = _attr_lines(attrs, indent)
    previous: list[str] = []
    for section in sections:
        # one-line blocks in a row (`port "a" {}`) stay together, as people write them
        if lines and not (len(section) == 1 and len(previous) == 1):
            lines.append("")
        lines.extend(section)
        previous = section
    return lines


def _label(obj: NomadObject) -> str | None:
    for field_name, marker in _markers(type(obj)):
        if marker.kind == "label":
            return str(getattr(obj, field_name))
    return None


def _block(name: str, obj: NomadObject, indent: str) -> list[str]:
    label = _label(obj)
    head = f"{indent}{name} {quote(label)}" if label is not None else f"{indent}{name}"
    body = _body(obj, indent + "  ")
    if not body:
        return [head + " {}"]
    return [head + " {", *body, f"{indent}}}"]


def to_hcl(job: Job) -> str:
    """The job as an HCL2 job file (``<job-id>.nomad.hcl``), ending with a newline."""
    return "\n".join(_block("job", job, "")) + "\n"
