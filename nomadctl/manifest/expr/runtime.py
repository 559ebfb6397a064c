"""expr-lang's runtime operations (``vm/runtime``, ``vm/vm.go``) on the engine's Go-like values.

Every failure raises ``GoPanic`` with the text expr-lang's VM would recover from the Go panic; the
compiled closures attach the position of the node that failed.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

from nomadctl.manifest.expr.gofmt import go_type_name, go_value
from nomadctl.manifest.expr.values import IntList, RoleRef

__all__ = [
    "GoPanic",
    "go_add",
    "go_div",
    "go_equal",
    "go_fetch",
    "go_in",
    "go_len_runtime",
    "go_less",
    "go_mod",
    "go_mul",
    "go_negate",
    "go_pow",
    "go_slice",
    "go_sub",
    "to_bool",
    "to_int",
    "wrap_int",
]

_INT_MIN = -(2**63)
_INT_MAX = 2**63 - 1


class GoPanic(Exception):
    """A runtime failure of an expression; ``pos`` is filled in by the innermost failing node."""

    def __init__(self, message: str, pos: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.pos = pos


def wrap_int(value: int) -> int:
    """Go int64 overflow: results wrap around."""
    if _INT_MIN <= value <= _INT_MAX:
        return value
    return ((value - _INT_MIN) % 2**64) + _INT_MIN


def _is_int(v: object) -> bool:
    return type(v) is int


def _is_num(v: object) -> bool:
    t = type(v)
    return t is int or t is float


def to_bool(value: object) -> bool:
    """The VM's ``.(bool)`` type assertion (``&&``, ``||``, ``!``, ``?:`` conditions)."""
    if value is True or value is False:
        return value
    got = "nil" if value is None else go_type_name(value)
    raise GoPanic(f"interface conversion: interface {{}} is {got}, not bool")


def to_int(value: object) -> int:
    """``runtime.ToInt``: indexes, slice bounds, ``split``'s count."""
    t = type(value)
    if t is int:
        return value  # type: ignore[return-value]
    if t is float:
        if math.isnan(value) or math.isinf(value):  # type: ignore[arg-type]
            return _INT_MIN
        return wrap_int(int(value))  # type: ignore[call-overload]
    raise GoPanic(f"invalid operation: int({go_type_name(value)})")


def _deep_equal(a: object, b: object) -> bool:
    """``reflect.DeepEqual`` on engine values: same Go type and equal contents."""
    ta, tb = type(a), type(b)
    if ta is not tb:
        if (isinstance(a, Mapping) and isinstance(b, Mapping)) or (
            isinstance(a, list) and isinstance(b, list) and (ta is IntList) == (tb is IntList)
        ):
            pass
        else:
            return False
    if isinstance(a, list):
        assert isinstance(b, list)
        return len(a) == len(b) and all(_deep_equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, Mapping):
        assert isinstance(b, Mapping)
        return a.keys() == b.keys() and all(_deep_equal(a[k], b[k]) for k in a)
    if ta is float:
        return a == b  # NaN != NaN as in Go
    return a == b


def go_equal(a: object, b: object) -> bool:
    """``runtime.Equal``: numbers compare across int/float, strings and bools by value, arrays
    element-wise, nil equals nil, anything else ``reflect.DeepEqual``."""
    ta = type(a)
    tb = type(b)
    if ta is str:
        return tb is str and a == b
    if ta is int or ta is float:
        return (tb is int or tb is float) and a == b
    if ta is bool:
        return tb is bool and a is b
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(go_equal(x, y) for x, y in zip(a, b, strict=True))
    return _deep_equal(a, b)


def go_less(a: object, b: object, op: str) -> bool:
    """``<``, ``>``, ``<=``, ``>=`` on numbers or on strings (byte order, like Go)."""
    if _is_num(a) and _is_num(b):
        x: Any = a
        y: Any = b
        if op == "<":
            return bool(x < y)
        if op == ">":
            return bool(x > y)
        if op == "<=":
            return bool(x <= y)
        return bool(x >= y)
    if type(a) is str and type(b) is str:
        # Go compares strings bytewise; for UTF-8 that equals code point order, as Python does.
        if op == "<":
            return a < b
        if op == ">":
            return a > b
        if op == "<=":
            return a <= b
        return a >= b
    raise GoPanic(f"invalid operation: {go_type_name(a)} {op} {go_type_name(b)}")


def go_add(a: object, b: object) -> object:
    ta = type(a)
    tb = type(b)
    if ta is str and tb is str:
        return a + b  # type: ignore[operator]
    if ta is int and tb is int:
        return wrap_int(a + b)  # type: ignore[operator]
    if (ta is int or ta is float) and (tb is int or tb is float):
        return float(a) + float(b)  # type: ignore[arg-type]
    raise GoPanic(f"invalid operation: {go_type_name(a)} + {go_type_name(b)}")


def go_sub(a: object, b: object) -> object:
    if _is_int(a) and _is_int(b):
        return wrap_int(a - b)  # type: ignore[operator]
    if _is_num(a) and _is_num(b):
        return float(a) - float(b)  # type: ignore[arg-type]
    raise GoPanic(f"invalid operation: {go_type_name(a)} - {go_type_name(b)}")


def go_mul(a: object, b: object) -> object:
    if _is_int(a) and _is_int(b):
        return wrap_int(a * b)  # type: ignore[operator]
    if _is_num(a) and _is_num(b):
        x = float(a) * float(b)  # type: ignore[arg-type]
        return x
    raise GoPanic(f"invalid operation: {go_type_name(a)} * {go_type_name(b)}")


def go_div(a: object, b: object) -> float:
    """``/`` is always float division in expr; division by zero gives ±Inf or NaN as in Go."""
    if _is_num(a) and _is_num(b):
        x = float(a)  # type: ignore[arg-type]
        y = float(b)  # type: ignore[arg-type]
        if y == 0.0:
            if x == 0.0 or math.isnan(x):
                return math.nan
            return math.copysign(math.inf, x) * math.copysign(1.0, y)
        return x / y
    raise GoPanic(f"invalid operation: {go_type_name(a)} / {go_type_name(b)}")


def go_mod(a: object, b: object) -> int:
    """``%`` on integers only, truncated toward zero like Go."""
    if _is_int(a) and _is_int(b):
        x: int = a  # type: ignore[assignment]
        y: int = b  # type: ignore[assignment]
        if y == 0:
            raise GoPanic("runtime error: integer divide by zero")
        r = abs(x) % abs(y)
        return -r if x < 0 else r
    raise GoPanic(f"invalid operation: {go_type_name(a)} % {go_type_name(b)}")


def go_pow(a: object, b: object) -> float:
    """``**`` / ``^``: Go's ``math.Pow`` on float64."""
    if not (_is_num(a) and _is_num(b)):
        raise GoPanic(f"invalid operation: float({go_type_name(a if not _is_num(a) else b)})")
    x = float(a)  # type: ignore[arg-type]
    y = float(b)  # type: ignore[arg-type]
    try:
        return math.pow(x, y)
    except OverflowError:
        odd = y.is_integer() and int(y) % 2 == 1
        return -math.inf if (x < 0 and odd) else math.inf
    except ValueError:
        if x == 0:
            odd = y.is_integer() and int(y) % 2 == 1
            return math.copysign(math.inf, x) if odd else math.inf
        return math.nan


def go_negate(a: object) -> object:
    if type(a) is int:
        return wrap_int(-a)
    if type(a) is float:
        return -a
    raise GoPanic(f"invalid operation: - {go_type_name(a)}")


def go_len_runtime(value: object) -> int:
    """``runtime.Len`` (byte length of strings), used for an open slice end ``s[a:]``."""
    if type(value) is str:
        return len(value.encode()) if not value.isascii() else len(value)
    if isinstance(value, list | Mapping):
        return len(value)
    raise GoPanic(f"invalid argument for len (type {go_type_name(value)})")


def _role_ref_fields(value: object) -> dict[str, str] | None:
    if type(value) is RoleRef:
        return {"Name": value.name, "Path": value.path}
    return None


def _map_key_panic(key: object) -> GoPanic:
    return GoPanic(
        f"reflect.Value.MapIndex: value of type {go_type_name(key)} is not assignable to type string"
    )


def go_in(needle: object, haystack: object) -> bool:
    """``runtime.In``: array membership, map key, struct field name; ``in nil`` is false."""
    if haystack is None:
        return False
    if isinstance(haystack, list):
        return any(go_equal(item, needle) for item in haystack)
    if isinstance(haystack, Mapping):
        if needle is None:
            return "" in haystack
        if type(needle) is not str:
            raise _map_key_panic(needle)
        return needle in haystack
    fields = _role_ref_fields(haystack)
    if fields is not None:
        if type(needle) is not str:
            raise GoPanic(f"cannot use {go_type_name(needle)} as field name of workflow.wfNode")
        return needle in fields
    raise GoPanic(f'operator "in" not defined on {go_type_name(haystack)}')


def go_fetch(base: object, key: object) -> object:
    """``runtime.Fetch``: ``a.b`` and ``a[b]`` on arrays, strings, maps and role references."""
    if isinstance(base, Mapping):
        if key is None:
            key = ""
        elif type(key) is not str:
            raise _map_key_panic(key)
        return base.get(key)
    tb = type(base)
    if tb is str or isinstance(base, list):
        index = to_int(key)
        seq: Any = base
        if tb is str and not seq.isascii():
            # Go indexes strings by byte and yields a uint8
            seq = seq.encode()
        length = len(seq)
        if index < 0:
            index += length
        if index < 0 or index >= length:
            raise GoPanic(f"index out of range: {index} (array length is {length})")
        item = seq[index]
        return ord(item) if tb is str and type(item) is str else item
    if base is None:
        raise GoPanic(f"cannot fetch {go_value(key)} from <nil>")
    if isinstance(base, RoleRef) and type(key) is str:
        if key == "Path":
            return base.path
        if key == "Name":
            return base.name
    fields = _role_ref_fields(base)
    if fields is not None:
        if type(key) is not str:
            raise GoPanic(f"interface conversion: interface {{}} is {go_type_name(key)}, not string")
        if key in fields:
            return fields[key]
    raise GoPanic(f"cannot fetch {go_value(key)} from {go_type_name(base)}")


def go_slice(base: object, start: object, stop: object) -> object:
    """``runtime.Slice``: clamped Go slicing of arrays and (byte-wise) strings."""
    tb = type(base)
    if tb is str or isinstance(base, list):
        seq: Any = base
        raw = tb is str and not seq.isascii()
        if raw:
            seq = seq.encode()
        length = len(seq)
        a = to_int(start)
        b = to_int(stop)
        if a < 0:
            a += length
        a = max(a, 0)
        if b < 0:
            b += length
        b = min(max(b, 0), length)
        a = min(a, b)
        part = seq[a:b]
        if raw:
            return part.decode("utf-8", errors="replace")
        if tb is IntList:
            return IntList(part)
        return part
    raise GoPanic(f"cannot slice {go_value(start)}")


_RE2_UNSUPPORTED = re.compile(r"\(\?<?[=!]|\(\?>|\\[1-9]|\\[ZG]|\\k<")
_RE2_END_OF_TEXT = re.compile(r"(?<!\\)((?:\\\\)*)\\z")


def _nested_repetition(pattern: str) -> bool:
    """Whether a group that holds a repetition is itself repeated (``(a+)+``, ``((x*))*``).

    RE2 matches such patterns in linear time; Python's backtracking engine can take exponential
    time on them, and an expression must never hang.
    """
    stack: list[bool] = []  # per open group: does it contain a repetition so far
    i = 0
    in_class = False
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\":
            i += 2
            continue
        if in_class:
            in_class = ch != "]"
        elif ch == "[":
            in_class = True
        elif ch == "(":
            stack.append(False)
        elif ch == ")" and stack:
            inner = stack.pop()
            following = pattern[i + 1 : i + 2]
            if inner and following and following in "*+?{":
                return True
            if stack:
                stack[-1] = stack[-1] or inner
        elif stack and (ch in "*+{" or (ch == "?" and i > 0 and pattern[i - 1] not in "(*+?}")):
            stack[-1] = True
        i += 1
    return False


def go_regexp(pattern: str) -> re.Pattern[str]:
    """Compile a Go RE2 pattern with Python's ``re`` (``matches`` searches, unanchored, as Go does).

    Supported: the RE2 syntax Python shares (classes, repetitions, groups incl. ``(?P<n>...)``,
    flags ``(?i)``/``(?m)``/``(?s)``, ``\\A``, ``\\z``), with ASCII ``\\d``/``\\w``/``\\s``/``\\b`` as in
    RE2. Rejected with a clear error: what RE2 lacks but Python would accept (lookaround,
    backreferences, atomic groups, ``\\Z``), RE2 features Python lacks (``\\pL`` classes), and a
    repeated group that itself repeats (``(a+)+``): RE2 matches it in linear time, Python's
    backtracking engine can take exponential time, and an expression must never hang.
    """
    if _RE2_UNSUPPORTED.search(pattern):
        raise GoPanic(f"error parsing regexp: invalid or unsupported Perl syntax in `{pattern}`")
    if _nested_repetition(pattern):
        raise GoPanic(f"error parsing regexp: nested repetition is not supported by nomadctl in `{pattern}`")
    translated = _RE2_END_OF_TEXT.sub(lambda m: m.group(1) + "\\Z", pattern)
    try:
        return re.compile(translated, re.ASCII)
    except re.error as exc:
        raise GoPanic(f"error parsing regexp: {exc.msg}: `{pattern}`") from None
