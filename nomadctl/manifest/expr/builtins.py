"""expr-lang's builtin functions (``builtin/builtin.go``, ``builtin/lib.go``) at run time.

Each takes the evaluated arguments and returns an engine value or raises ``GoPanic`` with expr's
message. The static checks of the same builtins live in ``checker.py``.

Deliberate differences from Go, all about reproducibility: ``keys``/``values``/``toPairs`` return
map entries sorted by key (Go iterates maps in random order); ``repeat`` and ``..`` refuse results
above one million elements/characters (Go's memory budget is of the same order).
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from collections.abc import Callable, Mapping
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from nomadctl.manifest.expr.gofmt import JsonError, go_json, go_type_name, go_value
from nomadctl.manifest.expr.runtime import GoPanic, go_add, go_less, to_int, wrap_int
from nomadctl.manifest.expr.values import IntList

__all__ = [
    "BUILTIN_FUNCTIONS",
    "go_atoi",
    "go_case",
    "go_parse_json",
    "go_split",
    "go_trim_space",
    "json_error_text",
]

MEMORY_BUDGET = 1_000_000

# unicode.IsSpace: Latin-1 spaces plus the White_Space property (Python's isspace adds \x1c-\x1f)
_GO_SPACE = (
    "\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a"
    "\u2028\u2029\u202f\u205f\u3000"
)


def go_trim_space(text: str) -> str:
    """``strings.TrimSpace``."""
    return text.strip(_GO_SPACE)


def _str_arg(value: object) -> str:
    if type(value) is str:
        return value
    got = "nil" if value is None else go_type_name(value)
    raise GoPanic(f"interface conversion: interface {{}} is {got}, not string")


def go_atoi(text: str) -> tuple[int, bool]:
    """``strconv.Atoi``: (value, ok). Out-of-range values clamp to the int64 bounds, not ok."""
    body = text[1:] if text[:1] in ("+", "-") else text
    if not body or not body.isascii() or not body.isdigit():
        return 0, False
    value = int(text)
    if value > 2**63 - 1:
        return 2**63 - 1, False
    if value < -(2**63):
        return -(2**63), False
    return value, True


def _go_parse_float(text: str) -> float | None:
    """``strconv.ParseFloat(s, 64)`` for the spellings Go accepts (no spaces, no ``_``)."""
    if not text or text != text.strip() or "_" in text:
        return None
    lowered = text.lstrip("+-").lower()
    if lowered in ("inf", "infinity", "nan"):
        return float(text)
    if not all(c in "0123456789.eE+-xXpPabcdefABCDEF" for c in text):
        return None
    try:
        if "x" in lowered:
            return float.fromhex(text)
        return float(text)
    except (ValueError, OverflowError):
        return None


def go_split(text: str, sep: str, count: int = -1, *, after: bool = False) -> list[object]:
    """``strings.SplitN``/``SplitAfterN`` (an empty separator splits into characters)."""
    if count == 0:
        return []
    if sep == "":
        chars = list(text)
        if count > 0 and len(chars) > count:
            chars = [*chars[: count - 1], "".join(chars[count - 1 :])]
        return list(chars)
    parts = text.split(sep, count - 1 if count > 0 else -1)
    if after:
        parts = [p + sep for p in parts[:-1]] + parts[-1:]
    return list(parts)


def _byte_index(text: str, index: int) -> int:
    return index if index < 0 or text.isascii() else len(text[:index].encode())


# ------------------------------------------------------------------ JSON in


def _quote_char(ch: str) -> str:
    if ch == "'":
        return "'\\''"
    if ch == '"':
        return "'\"'"
    return "'" + json.dumps(ch)[1:-1] + "'"


def json_error_text(text: str, exc: Exception) -> str:
    """The ``encoding/json`` error text for a document Python's parser rejected (close to Go's)."""
    if isinstance(exc, GoPanic):
        return exc.message
    if not text.strip():
        return "unexpected end of JSON input"
    pos = getattr(exc, "pos", len(text))
    msg = getattr(exc, "msg", str(exc))
    if pos >= len(text.rstrip()) and msg != "Extra data":
        return "unexpected end of JSON input"
    ch = _quote_char(text[pos]) if pos < len(text) else "EOF"
    if msg == "Extra data":
        return f"invalid character {ch} after top-level value"
    if msg.startswith("Expecting property name"):
        return f"invalid character {ch} looking for beginning of object key string"
    if msg.startswith("Expecting ':'"):
        return f"invalid character {ch} after object key"
    if msg.startswith("Expecting ','"):
        depth: list[str] = []
        in_string = escaped = False
        for c in text[:pos]:
            if in_string:
                escaped = not escaped and c == "\\"
                in_string = escaped or c != '"'
            elif c == '"':
                in_string = True
            elif c in "[{":
                depth.append(c)
            elif c in "]}" and depth:
                depth.pop()
        where = "object key:value pair" if depth and depth[-1] == "{" else "array element"
        return f"invalid character {ch} after {where}"
    if msg.startswith(("Invalid control character", "Invalid \\escape", "Unterminated string")):
        return f"invalid character {ch} in string literal"
    for literal in ("null", "true", "false"):
        if pos < len(text) and text[pos] == literal[0]:
            # Go's scanner reads a literal letter by letter
            for i, want in enumerate(literal[1:], start=1):
                if pos + i >= len(text):
                    return "unexpected end of JSON input"
                if text[pos + i] != want:
                    got = _quote_char(text[pos + i])
                    return f"invalid character {got} in literal {literal} (expecting '{want}')"
    return f"invalid character {ch} looking for beginning of value"


def _reject_constant(name: str) -> float:
    raise GoPanic(f"invalid character '{name[0]}' looking for beginning of value")


def go_parse_json(text: str) -> object:
    """``json.Unmarshal`` into ``interface{}``: numbers become float64. Raises ``GoPanic``."""
    try:
        return json.loads(text, parse_int=float, parse_constant=_reject_constant)
    except (ValueError, GoPanic) as exc:
        raise GoPanic(json_error_text(text, exc)) from None
    except RecursionError:
        raise GoPanic("exceeded max depth") from None


# ------------------------------------------------------------------ the builtins


def _len(x: object) -> int:
    if type(x) is str or isinstance(x, list | Mapping):
        return len(x)
    raise GoPanic(f"invalid argument for len (type {go_type_name(x)})")


def _type(x: object) -> str:
    if x is None:
        return "nil"
    t = type(x)
    if t is bool:
        return "bool"
    if t is int:
        return "int"
    if t is float:
        return "float"
    if t is str:
        return "string"
    if isinstance(x, list):
        return "array"
    if isinstance(x, Mapping):
        return "map"
    if callable(x):
        return "func"
    return "unknown"


def _abs(x: object) -> object:
    if type(x) is int:
        return wrap_int(abs(x))
    if type(x) is float:
        return abs(x)
    raise GoPanic(f"invalid argument for abs (type {go_type_name(x)})")


def _rounder(name: str, fn: Callable[[float], float]) -> Callable[[object], float]:
    def run(x: object) -> float:
        if type(x) is float:
            return fn(x)
        if type(x) is int:
            return float(x)
        raise GoPanic(f"invalid argument for {name} (type {go_type_name(x)})")

    return run


def _go_round(x: float) -> float:
    if math.isnan(x) or math.isinf(x):
        return x
    return float(Decimal(x).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def _ceil(x: float) -> float:
    return x if math.isnan(x) or math.isinf(x) else float(math.ceil(x))


def _floor(x: float) -> float:
    return x if math.isnan(x) or math.isinf(x) else float(math.floor(x))


def _int(x: object) -> int:
    t = type(x)
    if t is int:
        return x  # type: ignore[return-value]
    if t is float:
        return to_int(x)
    if t is str:
        value, ok = go_atoi(x)  # type: ignore[arg-type]
        if not ok:
            raise GoPanic(f"invalid operation: int({x})")
        return value
    raise GoPanic(f"invalid operation: int({go_type_name(x)})")


def _float(x: object) -> float:
    t = type(x)
    if t is float:
        return x  # type: ignore[return-value]
    if t is int:
        return float(x)  # type: ignore[arg-type]
    if t is str:
        value = _go_parse_float(x)  # type: ignore[arg-type]
        if value is None:
            raise GoPanic(f"invalid operation: float({x})")
        return value
    raise GoPanic(f"invalid operation: float({go_type_name(x)})")


def _trim(*args: object) -> str:
    if len(args) == 1:
        return go_trim_space(_str_arg(args[0]))
    if len(args) == 2:
        return _str_arg(args[0]).strip(_str_arg(args[1]))
    raise GoPanic(f"invalid number of arguments for trim (expected 1 or 2, got {len(args)})")


def _trim_prefix(s: object, prefix: object = " ") -> str:
    return _str_arg(s).removeprefix(_str_arg(prefix))


def _trim_suffix(s: object, suffix: object = " ") -> str:
    return _str_arg(s).removesuffix(_str_arg(suffix))


def go_case(text: str, upper: bool) -> str:
    if text.isascii():
        return text.upper() if upper else text.lower()
    out = []
    for ch in text:
        mapped = ch.upper() if upper else ch.lower()
        # Go maps rune by rune and never expands one rune into several
        out.append(mapped if len(mapped) == 1 else ch)
    return "".join(out)


def _split(*args: object, after: bool = False) -> list[object]:
    name = "splitAfter" if after else "split"
    if len(args) not in (2, 3):
        raise GoPanic(f"invalid number of arguments for {name} (expected 2 or 3, got {len(args)})")
    count = to_int(args[2]) if len(args) == 3 else -1
    return go_split(_str_arg(args[0]), _str_arg(args[1]), count, after=after)


def _replace(*args: object) -> str:
    if len(args) == 3:
        return _str_arg(args[0]).replace(_str_arg(args[1]), _str_arg(args[2]))
    if len(args) == 4:
        count = to_int(args[3])
        return _str_arg(args[0]).replace(_str_arg(args[1]), _str_arg(args[2]), count if count >= 0 else -1)
    raise GoPanic(f"invalid number of arguments for replace (expected 3 or 4, got {len(args)})")


def _repeat(s: object, count: object) -> str:
    text = _str_arg(s)
    times = to_int(count)
    if times < 0:
        raise GoPanic(f"invalid argument for repeat (expected positive integer, got {times})")
    if times > MEMORY_BUDGET or len(text) * times > MEMORY_BUDGET:
        raise GoPanic("memory budget exceeded")
    return text * times


def _join(*args: object) -> str:
    glue = _str_arg(args[1]) if len(args) == 2 else ""
    items = args[0] if args else None
    if isinstance(items, list) and type(items) is not IntList:
        return glue.join(_str_arg(item) for item in items)
    raise GoPanic(f"invalid argument for join (type {go_type_name(items)})")


def _index_of(s: object, sub: object) -> int:
    text = _str_arg(s)
    return _byte_index(text, text.find(_str_arg(sub)))


def _last_index_of(s: object, sub: object) -> int:
    text = _str_arg(s)
    return _byte_index(text, text.rfind(_str_arg(sub)))


def _numbers(name: str, args: tuple[object, ...], depth: int = 0) -> list[int | float]:
    if depth > 10_000:
        raise GoPanic("recursion depth exceeded")
    out: list[int | float] = []
    for arg in args:
        if isinstance(arg, list):
            out.extend(_numbers(name, tuple(arg), depth + 1))
        elif type(arg) is int or type(arg) is float:
            out.append(arg)
        else:
            raise GoPanic(f"invalid argument for {name} (type {go_type_name(arg)})")
    return out


def _min_max(name: str, op: str) -> Callable[..., object]:
    def run(*args: object) -> object:
        if len(args) == 1 and not isinstance(args[0], list) and type(args[0]) not in (int, float):
            return args[0]
        best: object = None
        for value in _numbers(name, args):
            if best is None or go_less(best, value, op):
                best = value
        return best

    return run


def _mean(*args: object) -> float:
    values = _numbers("mean", args)
    if not values:
        return 0.0
    return sum(float(v) for v in values) / len(values)


def _median(*args: object) -> float:
    values = sorted(float(v) for v in _numbers("median", args))
    if not values:
        return 0.0
    mid = len(values) // 2
    if len(values) % 2:
        return values[mid]
    return (values[mid - 1] + values[mid]) / 2


def _to_json(value: object) -> str:
    try:
        return go_json(value, indent="  ")
    except JsonError as exc:
        raise GoPanic(str(exc)) from None


def _from_json(text: object) -> object:
    return go_parse_json(_str_arg(text))


def _to_base64(text: object) -> str:
    return base64.b64encode(_str_arg(text).encode()).decode()


def _from_base64(text: object) -> str:
    data = _str_arg(text)
    try:
        return base64.b64decode(data.encode(), validate=True).decode("utf-8", errors="replace")
    except (binascii.Error, ValueError):
        bad = next((i for i, c in enumerate(data) if not (c.isalnum() or c in "+/=")), len(data))
        raise GoPanic(f"illegal base64 data at input byte {bad}") from None


def _first_last(index: int) -> Callable[[object], object]:
    def run(value: object) -> object:
        if isinstance(value, list) or type(value) is str:
            seq: Any = value
            if type(value) is str and not seq.isascii():
                seq = seq.encode()
            if not seq:
                return None
            item = seq[index]
            return ord(item) if type(value) is str and type(item) is str else item
        return None

    return run


def _get(base: object, key: object) -> object:
    if isinstance(base, Mapping):
        return base.get(key) if type(key) is str else None
    if isinstance(base, list) or type(base) is str:
        if type(key) not in (int, float):
            return None
        index = to_int(key)
        length = len(base)
        if index < 0:
            index += length
        if 0 <= index < length:
            item = base[index]
            return ord(item) if type(base) is str and type(item) is str else item
    return None


def _take(value: object, count: object) -> object:
    if not isinstance(value, list):
        raise GoPanic(f"cannot take from {_kind_name(value)}")
    if type(count) is not int:
        raise GoPanic(f"cannot take {_kind_name(count)} elements")
    if count < 0:
        raise GoPanic("reflect: slice index out of range")
    part = value[:count]
    return IntList(part) if type(value) is IntList else part


def _kind_name(value: object) -> str:
    kinds = {str: "string", int: "int", float: "float64", bool: "bool"}
    if value is None:
        return "invalid"
    if isinstance(value, list):
        return "slice"
    if isinstance(value, Mapping):
        return "map"
    return kinds.get(type(value), "ptr")


def _sorted_items(value: object, name: str) -> list[tuple[Any, Any]]:
    if not isinstance(value, Mapping):
        raise GoPanic(f"cannot get {name} from {_kind_name(value)}")
    return sorted(value.items(), key=lambda kv: str(kv[0]))


def _keys(value: object) -> list[object]:
    return [k for k, _ in _sorted_items(value, "keys")]


def _values(value: object) -> list[object]:
    return [v for _, v in _sorted_items(value, "values")]


def _to_pairs(value: object) -> list[object]:
    return [[k, v] for k, v in _sorted_items(value, "pairs")]


def _from_pairs(value: object) -> dict[object, object]:
    if not isinstance(value, list):
        raise GoPanic(f"cannot transform {_kind_name(value)} from pairs")
    out: dict[object, object] = {}
    for pair in value:
        if not isinstance(pair, list) or len(pair) != 2:
            raise GoPanic("invalid pair: expected array of length 2")
        out[pair[0]] = pair[1]
    return out


def _array_arg(name: str, value: object) -> list[object]:
    if isinstance(value, list):
        return value
    raise GoPanic(f"cannot {name} {_kind_name(value)}")


def _reverse(value: object) -> list[object]:
    return list(reversed(_array_arg("reverse", value)))


def _uniq(value: object) -> list[object]:
    out: list[object] = []
    for item in _array_arg("uniq", value):
        if not any(type(seen) is type(item) and seen == item for seen in out):
            out.append(item)
    return out


def _concat(*values: object) -> list[object]:
    out: list[object] = []
    for value in values:
        out.extend(_array_arg("concat", value))
    return out


def _flatten(value: object) -> list[object]:
    out: list[object] = []

    def walk(items: list[object], depth: int) -> None:
        if depth > 10_000:
            raise GoPanic("recursion depth exceeded")
        for item in items:
            if isinstance(item, list):
                walk(item, depth + 1)
            else:
                out.append(item)

    walk(_array_arg("flatten", value), 0)
    return out


class _GoKey:
    """Sort key ordering values with expr's ``runtime.Less`` (mixed kinds raise ``GoPanic``)."""

    __slots__ = ("value",)

    def __init__(self, value: object) -> None:
        self.value = value

    def __lt__(self, other: _GoKey) -> bool:
        return go_less(self.value, other.value, "<")


def go_sort(items: list[object], order: object = "asc") -> list[object]:
    if order not in ("asc", "desc"):
        raise GoPanic(f"unknown order, use asc or desc: {go_value(order)}")
    return sorted(items, key=_GoKey, reverse=order == "desc")


def _sort(value: object, order: object = "asc") -> list[object]:
    return go_sort(list(_array_arg("sort", value)), order)


def _bit(name: str, fn: Callable[[int, int], int], *, shift: bool = False) -> Callable[[object, object], int]:
    def run(x: object, y: object) -> int:
        if type(x) is not int or type(y) is not int:
            bad = x if type(x) is not int else y
            raise GoPanic(f"cannot use {go_type_name(bad)} as argument (type int) to call {name}")
        if shift and y < 0:
            raise GoPanic(f"invalid operation: negative shift count {y} (type int)")
        return wrap_int(fn(x, y))

    return run


def _bitnot(x: object) -> int:
    if type(x) is not int:
        raise GoPanic(f"cannot use {go_type_name(x)} as argument (type int) to call bitnot")
    return ~x


def _string(x: object) -> str:
    return go_value(x)


def _str1(fn: Callable[[str], object]) -> Callable[[object], object]:
    return lambda x: fn(_str_arg(x))


def _str2(fn: Callable[[str, str], object]) -> Callable[[object, object], object]:
    return lambda x, y: fn(_str_arg(x), _str_arg(y))


BUILTIN_FUNCTIONS: dict[str, Callable[..., object]] = {
    "len": _len,
    "type": _type,
    "abs": _abs,
    "ceil": _rounder("ceil", _ceil),
    "floor": _rounder("floor", _floor),
    "round": _rounder("round", _go_round),
    "int": _int,
    "float": _float,
    "string": _string,
    "trim": _trim,
    "trimPrefix": _trim_prefix,
    "trimSuffix": _trim_suffix,
    "upper": _str1(lambda s: go_case(s, True)),
    "lower": _str1(lambda s: go_case(s, False)),
    "split": _split,
    "splitAfter": lambda *a: _split(*a, after=True),
    "replace": _replace,
    "repeat": _repeat,
    "join": _join,
    "indexOf": _index_of,
    "lastIndexOf": _last_index_of,
    "hasPrefix": _str2(lambda s, p: s.startswith(p)),
    "hasSuffix": _str2(lambda s, p: s.endswith(p)),
    "max": _min_max("max", "<"),
    "min": _min_max("min", ">"),
    "mean": _mean,
    "median": _median,
    "toJSON": _to_json,
    "fromJSON": _from_json,
    "toBase64": _to_base64,
    "fromBase64": _from_base64,
    "first": _first_last(0),
    "last": _first_last(-1),
    "get": _get,
    "take": _take,
    "keys": _keys,
    "values": _values,
    "toPairs": _to_pairs,
    "fromPairs": _from_pairs,
    "reverse": _reverse,
    "uniq": _uniq,
    "concat": _concat,
    "flatten": _flatten,
    "sort": _sort,
    "bitand": _bit("bitand", lambda x, y: x & y),
    "bitor": _bit("bitor", lambda x, y: x | y),
    "bitxor": _bit("bitxor", lambda x, y: x ^ y),
    "bitnand": _bit("bitnand", lambda x, y: x & ~y),
    "bitshl": _bit("bitshl", lambda x, y: x << min(y, 64), shift=True),
    "bitshr": _bit("bitshr", lambda x, y: x >> min(y, 64), shift=True),
    "bitushr": _bit("bitushr", lambda x, y: (x % 2**64) >> min(y, 64), shift=True),
    "bitnot": _bitnot,
}


def sum_values(values: list[object]) -> object:
    total: object = 0
    for value in values:
        total = go_add(total, value)
    return total
