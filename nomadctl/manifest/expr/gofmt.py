"""Go value model and formatting: how AliECS turns an expression result into text.

Values inside the engine are plain Python objects standing for the Go values expr-lang produces:

    Go                          Python
    string                      str
    int (int64)                 int          (results wrap around like int64)
    float64                     float
    bool                        bool
    nil                         None
    []interface{} / []string    list
    []int (the ``..`` range)    IntList      (a list subclass: Go prints it with %v, not JSON)
    map[string]interface{}      dict
    *wfNode (Parent/Up/This)    RoleRef
    func                        GoFunc or any Python callable

``go_format`` is the result formatting of ``Fields.Execute`` (fields.go): ``[]interface{}`` and
``[]string`` go through ``json.Marshal``, everything else through ``fmt.Sprintf("%v")``.

Choices where Go prints machine addresses (not reproducible): a ``RoleRef`` prints as Go prints a
struct pointer at the top level, ``&{<name> <path>}``, wherever it appears; functions print as
``<func>``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from decimal import Decimal

from nomadctl.manifest.expr.values import IntList, RoleRef

__all__ = [
    "IntList",
    "JsonError",
    "go_format",
    "go_json",
    "go_quote",
    "go_type_name",
    "go_value",
]


class JsonError(Exception):
    """``encoding/json`` refused a value (NaN, Inf, a function)."""


# ---------------------------------------------------------------- %T


def go_type_name(value: object) -> str:
    """The Go ``%T`` of a value of the engine (used in expr-lang's runtime error messages)."""
    t = type(value)
    if t is str:
        return "string"
    if t is bool:
        return "bool"
    if t is int:
        return "int"
    if t is float:
        return "float64"
    if value is None:
        return "<nil>"
    if t is IntList:
        return "[]int"
    if isinstance(value, list):
        return "[]interface {}"
    if isinstance(value, Mapping):
        return "map[string]interface {}"
    if t is RoleRef:
        return "*workflow.wfNode"
    go_type = getattr(value, "go_type", None)
    if isinstance(go_type, str):
        return go_type
    if callable(value):
        return "func(...interface {}) interface {}"
    return "interface {}"


# ---------------------------------------------------------------- strconv.Quote


_QUOTE_ESCAPES = {
    "\a": "\\a",
    "\b": "\\b",
    "\f": "\\f",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
    "\v": "\\v",
    "\\": "\\\\",
    '"': '\\"',
}


def go_quote(text: str) -> str:
    """``strconv.Quote``: a double-quoted Go string literal (``%q`` and ``%#v`` of a string)."""
    out = ['"']
    for ch in text:
        esc = _QUOTE_ESCAPES.get(ch)
        if esc is not None:
            out.append(esc)
        elif ch.isprintable():
            out.append(ch)
        else:
            code = ord(ch)
            if code < 0x80:
                out.append(f"\\x{code:02x}")
            elif code <= 0xFFFF:
                out.append(f"\\u{code:04x}")
            else:
                out.append(f"\\U{code:08x}")
    out.append('"')
    return "".join(out)


# ---------------------------------------------------------------- floats


def _shortest_digits(value: float) -> tuple[str, int]:
    """Shortest round-trip decimal digits of a positive finite float and the decimal point position.

    ``value == 0.<digits> * 10**dp``. Python's ``repr`` and Go's ``strconv`` both produce the
    shortest digit string that round-trips, so the digits agree.
    """
    _sign, digit_tuple, exponent = Decimal(repr(value)).as_tuple()
    assert isinstance(exponent, int)
    digits = "".join(map(str, digit_tuple))
    stripped = digits.rstrip("0")
    exponent += len(digits) - len(stripped)
    stripped = stripped.lstrip("0") or "0"
    return stripped, len(stripped) + exponent


def _format_float(value: float, *, json_style: bool) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value == 0:
        return "-0" if math.copysign(1.0, value) < 0 and not json_style else "0"
    sign = "-" if value < 0 else ""
    digits, dp = _shortest_digits(abs(value))
    exp10 = dp - 1
    if json_style:
        # encoding/json: %e below 1e-6 and from 1e21 on, with a one-digit exponent kept as is.
        use_exp = abs(value) < 1e-6 or abs(value) >= 1e21
    else:
        # fmt %v is strconv 'g' with the shortest precision, where Go switches to %e when the
        # decimal exponent is < -4 or >= 6 (``if shortest { eprec = 6 }`` in strconv/ftoa.go).
        use_exp = exp10 < -4 or exp10 >= 6
    if use_exp:
        mantissa = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        exp_sign = "+" if exp10 >= 0 else "-"
        width = 1 if json_style else 2
        return f"{sign}{mantissa}e{exp_sign}{abs(exp10):0{width}d}"
    if dp <= 0:
        return f"{sign}0.{'0' * -dp}{digits}"
    if dp >= len(digits):
        return f"{sign}{digits}{'0' * (dp - len(digits))}"
    return f"{sign}{digits[:dp]}.{digits[dp:]}"


# ---------------------------------------------------------------- %v


def _map_key_order(item: tuple[object, object]) -> tuple[int, object]:
    # fmt prints maps sorted by key: numbers numerically, strings bytewise, bools false first
    key = item[0]
    t = type(key)
    if t is bool:
        return (0, key)
    if t is int or t is float:
        return (1, key)
    if t is str:
        return (2, key)
    return (3, go_value(key))


def go_value(value: object) -> str:
    """``fmt.Sprintf("%v", value)`` for the values of the engine."""
    t = type(value)
    if t is str:
        return value  # type: ignore[return-value]
    if t is bool:
        return "true" if value else "false"
    if t is int:
        return str(value)
    if t is float:
        return _format_float(value, json_style=False)  # type: ignore[arg-type]
    if value is None:
        return "<nil>"
    if isinstance(value, list):
        return "[" + " ".join(go_value(item) for item in value) + "]"
    if isinstance(value, Mapping):
        items = sorted(value.items(), key=_map_key_order)
        return "map[" + " ".join(f"{go_value(k)}:{go_value(v)}" for k, v in items) + "]"
    if t is RoleRef:
        return f"&{{{value.name} {value.path}}}"  # type: ignore[attr-defined]
    if callable(value):
        return "<func>"
    return str(value)


# ---------------------------------------------------------------- encoding/json


_JSON_ESCAPES = {
    '"': '\\"',
    "\\": "\\\\",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
    "\b": "\\b",
    "\f": "\\f",
    "<": "\\u003c",
    ">": "\\u003e",
    "&": "\\u0026",
    "\u2028": "\\u2028",
    "\u2029": "\\u2029",
}


def _json_string(text: str) -> str:
    out = ['"']
    for ch in text:
        esc = _JSON_ESCAPES.get(ch)
        if esc is not None:
            out.append(esc)
        elif ch < " ":
            out.append(f"\\u{ord(ch):04x}")
        elif "\ud800" <= ch <= "\udfff":
            out.append("\ufffd")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def _json(value: object, out: list[str], indent: str | None, depth: int) -> None:
    t = type(value)
    if t is str:
        out.append(_json_string(value))  # type: ignore[arg-type]
    elif t is bool:
        out.append("true" if value else "false")
    elif t is int:
        out.append(str(value))
    elif t is float:
        if math.isnan(value) or math.isinf(value):  # type: ignore[arg-type]
            raise JsonError(f"json: unsupported value: {_format_float(value, json_style=False)}")  # type: ignore[arg-type]
        out.append(_format_float(value, json_style=True))  # type: ignore[arg-type]
    elif value is None:
        out.append("null")
    elif isinstance(value, list):
        _json_seq(value, out, indent, depth)
    elif isinstance(value, Mapping):
        if not all(type(k) is str for k in value):
            # e.g. groupBy's map[interface {}][]interface {}: Go's encoder refuses it
            raise JsonError("json: unsupported type: map[interface {}]interface {}")
        items = sorted(value.items(), key=lambda kv: kv[0])
        _json_map(items, out, indent, depth)
    elif t is RoleRef:
        _json_map([("Name", value.name), ("Path", value.path)], out, indent, depth)  # type: ignore[attr-defined]
    else:
        raise JsonError(f"json: unsupported type: {go_type_name(value)}")


def _json_seq(items: list[object], out: list[str], indent: str | None, depth: int) -> None:
    if not items:
        out.append("[]")
        return
    out.append("[")
    for i, item in enumerate(items):
        if i:
            out.append(",")
        if indent is not None:
            out.append("\n" + indent * (depth + 1))
        _json(item, out, indent, depth + 1)
    if indent is not None:
        out.append("\n" + indent * depth)
    out.append("]")


def _json_map(items: list[tuple[str, object]], out: list[str], indent: str | None, depth: int) -> None:
    if not items:
        out.append("{}")
        return
    out.append("{")
    for i, (key, item) in enumerate(items):
        if i:
            out.append(",")
        if indent is not None:
            out.append("\n" + indent * (depth + 1))
        out.append(_json_string(key))
        out.append(": " if indent is not None else ":")
        _json(item, out, indent, depth + 1)
    if indent is not None:
        out.append("\n" + indent * depth)
    out.append("}")


def go_json(value: object, *, indent: str | None = None) -> str:
    """``json.Marshal`` (or ``json.MarshalIndent(v, "", indent)``) with Go's encoding rules.

    No spaces, keys sorted, ``<``, ``>``, ``&``, U+2028 and U+2029 escaped as Go does, floats in
    Go's JSON notation. Raises ``JsonError`` where Go's encoder returns an error.
    """
    out: list[str] = []
    _json(value, out, indent, 0)
    return "".join(out)


def go_format(value: object) -> str:
    """AliECS result formatting of one ``{{ }}`` tag (``Fields.Execute`` in fields.go).

    Lists (Go ``[]interface{}``/``[]string``) are ``json.Marshal``-ed; everything else is Go
    ``%v``: ``true``/``false``, ``42``, floats as Go prints them (``5``, ``0.5``, ``1e+21``,
    ``1e-05``), ``<nil>``, ``map[k:v]`` with sorted keys, a ``RoleRef`` as ``&{name path}``.
    Raises ``JsonError`` for a list Go cannot encode (NaN, Inf, functions).
    """
    t = type(value)
    if t is str:
        return value  # type: ignore[return-value]
    if t is list:
        return go_json(value)
    return go_value(value)
