"""Parse-back: HCL2 text (via python-hcl2) -> the API-JSON the same job model would send.

Independent of the printer: it reads python-hcl2's generic tree with the quotes kept, undoes HCL
string escapes itself, and maps HCL names back to Go keys only through the model's ``Hcl`` markers.
"""

from __future__ import annotations

import re
from typing import Any

import hcl2
from hcl2.utils import SerializationOptions

from nomadctl import durations
from nomadctl.jobspec.model import Job, NetworkResource, NomadObject, hcl_of

_SIMPLE = {'"': '"', "\\": "\\", "n": "\n", "r": "\r", "t": "\t"}


def unescape(raw: str) -> str:
    out: list[str] = []
    i = 0
    while i < len(raw):
        ch = raw[i]
        if ch == "\\":
            nxt = raw[i + 1]
            if nxt in _SIMPLE:
                out.append(_SIMPLE[nxt])
                i += 2
                continue
            if nxt == "u":
                out.append(chr(int(raw[i + 2 : i + 6], 16)))
                i += 6
                continue
            raise ValueError(f"unknown escape \\{nxt} in {raw!r}")
        if raw.startswith("$${", i) or raw.startswith("%%{", i):
            out.append(raw[i] + "{")
            i += 3
            continue
        if raw.startswith("${", i) or raw.startswith("%{", i):
            raise ValueError(f"unescaped HCL template sequence in {raw!r}")
        out.append(ch)
        i += 1
    return "".join(out)


def _text(v: str) -> str:
    """A string as python-hcl2 returns it (quoted literal, or a bare identifier key) -> its value."""
    if len(v) >= 2 and v[0] == v[-1] == '"':
        return unescape(v[1:-1])
    assert re.fullmatch(r"[A-Za-z_][A-Za-z0-9_-]*", v), f"not a string literal: {v!r}"
    return v


def _value(v: Any) -> Any:
    if isinstance(v, str):
        return _text(v)
    if isinstance(v, list):
        return [_value(x) for x in v]
    return v


def _blocks(v: Any) -> list[dict[str, Any]]:
    assert isinstance(v, list), v
    return [{k: x for k, x in b.items() if k != "__is_block__"} for b in v]


def _map(v: Any) -> dict[str, str]:
    if isinstance(v, list):  # block form: meta { k = "v" }
        (body,) = _blocks(v)
        return {_text(k): _text(x) for k, x in body.items()}
    assert isinstance(v, dict), v  # attribute form: meta = { "k.x" = "v" }
    return {_text(k): _text(x) for k, x in v.items() if k != "__is_block__"}


def _labelled(cls: type[NomadObject]) -> str | None:
    for name in cls.model_fields:
        if hcl_of(cls, name).kind == "label":
            return name
    return None


def _item_type(cls: type[NomadObject], field_name: str) -> type[NomadObject]:
    ann = cls.model_fields[field_name].annotation
    # list[X] | None, X | None, list[X], X
    args = getattr(ann, "__args__", ())
    for a in (ann, *args):
        inner = getattr(a, "__args__", ())
        for b in (a, *inner):
            if isinstance(b, type) and issubclass(b, NomadObject):
                return b
    raise TypeError(f"{cls.__name__}.{field_name}: no model type in {ann}")


def decode(cls: type[NomadObject], body: dict[str, Any], label: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    label_field = _labelled(cls)
    for name, info in cls.model_fields.items():
        marker = hcl_of(cls, name)
        key = info.alias or name
        if name == label_field:
            out[key] = label
            continue
        if cls is NetworkResource and marker.kind == "ports":
            ports = [(lbl, b) for item in _blocks(body.get("port", [])) for lbl, b in item.items()]
            want_static = name == "reserved_ports"
            chosen = [
                {"Label": _text(lbl), **({"Value": b["static"]} if "static" in b else {})}
                for lbl, b in ports
                if ("static" in b) == want_static
            ]
            if chosen:
                out[key] = chosen
            continue
        if marker.name not in body:
            continue
        raw = body[marker.name]
        if marker.kind == "attr":
            out[key] = durations.parse_ns(_text(raw)) if marker.duration else _value(raw)
        elif marker.kind == "map":
            out[key] = _map(raw)
        else:
            item_cls = _item_type(cls, name)
            items: list[dict[str, Any]] = []
            for block in _blocks(raw):
                if _labelled(item_cls) is not None:
                    ((lbl, inner),) = block.items()
                    inner = {k: x for k, x in inner.items() if k != "__is_block__"}
                    items.append(decode(item_cls, inner, _text(lbl)))
                else:
                    items.append(decode(item_cls, block))
            is_list = "list[" in str(info.annotation)
            out[key] = items if is_list else items[0]
    return out


def parse_job(text: str) -> dict[str, Any]:
    """``{"Job": {...}}`` decoded from an HCL2 job file."""
    tree = hcl2.loads(
        text, serialization_options=SerializationOptions(strip_string_quotes=False, with_comments=False)
    )
    ((label, body),) = _blocks(tree["job"])[0].items()
    body = {k: x for k, x in body.items() if k != "__is_block__"}
    job = decode(Job, body, _text(label))
    job.setdefault("Name", job["ID"])
    # restore the model's key order for a readable diff (dict equality ignores it anyway)
    return {"Job": {k: job[k] for k in (i.alias for i in Job.model_fields.values()) if k in job}}
