"""A subset of ``hashicorp/go-bexpr``, the language of Nomad's and Consul's ``?filter=``.

Supported: ``Sel == "v"``, ``Sel != "v"``, ``"v" in Sel``, ``"v" not in Sel``, ``Sel contains "v"``,
``Sel not contains "v"``, ``Sel matches "re"``, ``Sel not matches "re"``, ``Sel is empty``,
``Sel is not empty``, ``not``, ``and``, ``or`` and parentheses. Selectors are dotted paths into the
response object (``TaskStates.main.State``, ``Meta["k"]`` is not supported). Values are compared as
text (``true``, ``3``, ``running``), which is what the field-typed comparison of go-bexpr amounts
to for the string, bool and integer fields these APIs expose. Anything else is rejected with
Nomad's 400 ``failed to parse filter`` error, never silently ignored.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

_TOKEN = re.compile(
    r"""\s*(?:
        (?P<str>"(?:[^"\\]|\\.)*"|`[^`]*`)
      | (?P<op>==|!=|\(|\))
      | (?P<word>[A-Za-z_][A-Za-z0-9_./\-]*)
      | (?P<num>-?\d+(?:\.\d+)?)
    )""",
    re.VERBOSE,
)

Predicate = Callable[[Mapping[str, Any]], bool]


class FilterError(ValueError):
    """The filter does not parse (the API answers 400)."""


def _tokens(text: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    pos = 0
    text = text.strip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None or m.end() == pos:
            raise FilterError(f"failed to parse filter: unexpected input at {pos}: {text[pos : pos + 20]!r}")
        pos = m.end()
        kind = m.lastgroup or ""
        value = m.group(kind)
        if kind == "str":
            value = value[1:-1].replace('\\"', '"') if value.startswith('"') else value[1:-1]
        out.append((kind, value))
    return out


def _lookup(obj: Any, selector: str) -> tuple[Any, bool]:
    cur = obj
    for part in selector.split("."):
        if isinstance(cur, Mapping) and part in cur:
            cur = cur[part]
        else:
            return None, False
    return cur, True


def _text(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    return "" if v is None else str(v)


class _Parser:
    def __init__(self, tokens: list[tuple[str, str]]) -> None:
        self.t = tokens
        self.i = 0
        self.selectors: set[str] = set()

    def peek(self, k: int = 0) -> tuple[str, str] | None:
        j = self.i + k
        return self.t[j] if j < len(self.t) else None

    def take(self) -> tuple[str, str]:
        tok = self.peek()
        if tok is None:
            raise FilterError("failed to parse filter: unexpected end of expression")
        self.i += 1
        return tok

    def word(self, w: str) -> bool:
        tok = self.peek()
        if tok is not None and tok[0] == "word" and tok[1] == w:
            self.i += 1
            return True
        return False

    def parse(self) -> Predicate:
        expr = self.or_()
        if self.peek() is not None:
            raise FilterError(f"failed to parse filter: unexpected {self.peek()[1]!r}")  # type: ignore[index]
        return expr

    def or_(self) -> Predicate:
        left = self.and_()
        while self.word("or"):
            right = self.and_()
            left = _either(left, right)
        return left

    def and_(self) -> Predicate:
        left = self.not_()
        while self.word("and"):
            right = self.not_()
            left = _both(left, right)
        return left

    def not_(self) -> Predicate:
        if self.word("not"):
            inner = self.not_()
            return lambda o: not inner(o)
        return self.atom()

    def atom(self) -> Predicate:
        tok = self.take()
        if tok == ("op", "("):
            inner = self.or_()
            if self.take() != ("op", ")"):
                raise FilterError("failed to parse filter: missing )")
            return inner
        if tok[0] in ("str", "num"):
            value = tok[1]
            negate = self.word("not")
            if not self.word("in"):
                raise FilterError("failed to parse filter: expected 'in' after a value")
            sel = self.take()
            if sel[0] != "word":
                raise FilterError("failed to parse filter: expected a selector")
            self.selectors.add(sel[1])
            return _in(sel[1], value, negate)
        if tok[0] != "word":
            raise FilterError(f"failed to parse filter: unexpected {tok[1]!r}")
        selector = tok[1]
        self.selectors.add(selector)
        op = self.take()
        if op in (("op", "=="), ("op", "!=")):
            val = self.take()
            if val[0] not in ("str", "num", "word"):
                raise FilterError("failed to parse filter: expected a value")
            want = val[1]
            eq = op[1] == "=="
            return lambda o: (_text(_lookup(o, selector)[0]) == want) == eq
        if op == ("word", "is"):
            negate = self.word("not")
            if not self.word("empty"):
                raise FilterError("failed to parse filter: expected 'empty'")
            return lambda o: _empty(_lookup(o, selector)[0]) != negate
        negate = op == ("word", "not")
        if negate:
            op = self.take()
        if op == ("word", "contains"):
            needle = self.take()[1]
            return _in(selector, needle, negate)
        if op == ("word", "matches"):
            pattern = re.compile(self.take()[1])
            return lambda o: (pattern.search(_text(_lookup(o, selector)[0])) is not None) != negate
        raise FilterError(f"failed to parse filter: unsupported operator {op[1]!r}")


def _either(a: Predicate, b: Predicate) -> Predicate:
    return lambda o: a(o) or b(o)


def _both(a: Predicate, b: Predicate) -> Predicate:
    return lambda o: a(o) and b(o)


def _empty(v: Any) -> bool:
    return v is None or v == "" or (isinstance(v, (list, dict)) and not v)


def _in(selector: str, value: str, negate: bool) -> Predicate:
    def pred(o: Mapping[str, Any]) -> bool:
        v, _ = _lookup(o, selector)
        if isinstance(v, Mapping):
            hit = value in v
        elif isinstance(v, list):
            hit = value in [_text(x) for x in v]
        else:
            hit = value in _text(v)
        return hit != negate

    return pred


def compile_filter(text: str) -> Predicate:
    """Compile a ``?filter=`` expression; raises ``FilterError``."""
    return _Parser(_tokens(text)).parse()


def filter_roots(text: str) -> frozenset[str]:
    """The top-level fields a ``?filter=`` expression reads (``TaskStates`` for
    ``TaskStates.main.State``); raises ``FilterError``. Lets a handler evaluate the filter on a
    lighter rendering of each object when the heavy fields are not read."""
    parser = _Parser(_tokens(text))
    parser.parse()
    return frozenset(s.split(".", 1)[0] for s in parser.selectors)
