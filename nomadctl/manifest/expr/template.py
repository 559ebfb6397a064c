"""Templates (``{{ }}`` fields) and expressions: compiled once per distinct text, rendered many times.

A field is split like ``fasttemplate.NewTemplate(field, "{{", "}}")``; each tag body is an
expr-lang expression, evaluated and formatted as ``Fields.Execute`` does (fields.go). Parsing and
compilation to closures happen once per distinct text (module-level caches); the static check
against the names' types runs once per distinct combination of those types and is cached on the
expression. A render then costs the name lookups plus the closures.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any, Final

from nomadctl.errors import ExpressionError
from nomadctl.manifest.expr import nodes as n
from nomadctl.manifest.expr.checker import CheckError, check
from nomadctl.manifest.expr.compiler import CTX_KEY, Fn, compile_tree
from nomadctl.manifest.expr.context import MISSING, EvalContext, lookup
from nomadctl.manifest.expr.gofmt import JsonError, go_format
from nomadctl.manifest.expr.lexer import ExprSyntaxError
from nomadctl.manifest.expr.natures import GoFunc, Nature, nature_of
from nomadctl.manifest.expr.parser import parse
from nomadctl.manifest.expr.runtime import GoPanic

__all__ = ["Expression", "Template", "compile_expression", "compile_template"]

_CACHE_LIMIT: Final = 200_000


def _free_names(tree: n.Node) -> tuple[list[str], list[str], set[str]]:
    """(free identifiers in first-use order, ``let`` names, builtin names called)."""
    free: dict[str, None] = {}
    lets: dict[str, None] = {}
    builtins: set[str] = set()

    def walk(node: n.Node, bound: frozenset[str]) -> None:
        if isinstance(node, n.Ident):
            if node.name not in bound and node.name != "$env":
                free.setdefault(node.name, None)
            return
        if isinstance(node, n.VarDecl):
            lets.setdefault(node.name, None)
            walk(node.value, bound)
            walk(node.body, bound | {node.name})
            return
        if isinstance(node, n.Builtin):
            builtins.add(node.name)
        for child in _children(node):
            walk(child, bound)

    walk(tree, frozenset())
    return list(free), [name for name in lets if name not in free], builtins


def _children(node: n.Node) -> Iterator[n.Node]:
    if isinstance(node, n.Unary):
        yield node.operand
    elif isinstance(node, n.Binary):
        yield node.left
        yield node.right
    elif isinstance(node, n.Chain):
        yield node.node
    elif isinstance(node, n.Member):
        yield node.base
        yield node.prop
    elif isinstance(node, n.SliceExpr):
        yield node.base
        if node.start is not None:
            yield node.start
        if node.stop is not None:
            yield node.stop
    elif isinstance(node, n.Call):
        yield node.callee
        yield from node.args
    elif isinstance(node, n.Builtin):
        yield from node.args
    elif isinstance(node, n.Predicate):
        yield node.body
    elif isinstance(node, n.Sequence):
        yield from node.nodes
    elif isinstance(node, n.Conditional):
        yield node.cond
        yield node.then
        yield node.otherwise
    elif isinstance(node, n.Array):
        yield from node.items
    elif isinstance(node, n.MapLit):
        for key, value in node.pairs:
            yield key
            yield value


def _resolve(ctx: EvalContext, name: str) -> object:
    # ``context.lookup`` with its common case inlined: no extra, a library or variable name
    if ctx.extra:
        return lookup(ctx, name)
    value = ctx.library.namespace.get(name, MISSING)
    if value is MISSING:
        if name in _OBJECT_STACK:
            return lookup(ctx, name)
        return ctx.variables.get(name, MISSING)
    return value


_OBJECT_STACK: Final = frozenset({"Parent", "Up", "This"})


def _nature_key(value: object) -> object:
    # the static type of a value depends on its Python type only, except for typed Go functions
    return value.nature if type(value) is GoFunc else type(value)


class Expression:
    """One compiled expr-lang expression (a tag body, or a call role's ``func``)."""

    __slots__ = ("_builtin_calls", "_checked", "_fn", "_overridden", "_probe", "_tree", "names", "text")

    def __init__(self, text: str, overrides: frozenset[str] = frozenset()) -> None:
        self.text = text
        try:
            tree = parse(text, overrides)
            fn = compile_tree(tree)
            free, lets, builtins = _free_names(tree)
        except ExprSyntaxError as exc:
            raise ExpressionError(exc.message, expression=text, column=exc.pos) from None
        except RecursionError:
            raise ExpressionError("expression is nested too deeply", expression=text, column=0) from None
        self._tree = tree
        self._fn: Fn = fn
        #: the free identifiers of the expression
        self.names: frozenset[str] = frozenset(free)
        # names looked up per render: the free ones, then ``let`` names (redeclaring a defined
        # name is an error in expr)
        self._probe: tuple[str, ...] = (*free, *lets)
        self._builtin_calls: tuple[str, ...] = tuple(sorted(builtins))
        self._checked: dict[tuple[object, ...], tuple[str, int] | None] = {}
        self._overridden: dict[frozenset[str], Expression] = {}

    def __repr__(self) -> str:
        return f"Expression({self.text!r})"

    def _error(self, message: str, column: int) -> ExpressionError:
        return ExpressionError(message, expression=self.text, column=column)

    def evaluate(self, ctx: EvalContext) -> object:
        """Evaluate in ``ctx`` and return the Python value (str, bool, int, float, list, dict,
        None, RoleRef or a function). Raises ``ExpressionError``."""
        probe = self._probe
        values = [_resolve(ctx, name) for name in probe]
        if self._builtin_calls:
            defined = frozenset(name for name in self._builtin_calls if lookup(ctx, name) is not MISSING)
            if defined:
                # expr parses ``name(...)`` as a call of the environment's ``name`` when it has one
                return self._with_overrides(defined).evaluate(ctx)
        key = tuple([_nature_key(v) for v in values])
        try:
            verdict = self._checked[key]
        except KeyError:
            verdict = self._check(values)
            if len(self._checked) < 64:
                self._checked[key] = verdict
        if verdict is not None:
            raise self._error(*verdict)
        env: dict[str, Any] = {
            name: (None if v is MISSING else v) for name, v in zip(probe, values, strict=True)
        }
        env[CTX_KEY] = ctx
        try:
            return self._fn(env)
        except GoPanic as exc:
            raise self._error(exc.message, exc.pos or 0) from None
        except ExpressionError:
            raise
        except RecursionError:
            raise self._error("expression is nested too deeply", 0) from None
        except Exception as exc:  # an engine bug must still surface as an expression error
            raise self._error(f"internal error: {type(exc).__name__}: {exc}", 0) from exc

    def _check(self, values: list[object]) -> tuple[str, int] | None:
        natures: dict[str, Nature | None] = {
            name: None if value is MISSING else nature_of(value)
            for name, value in zip(self._probe, values, strict=True)
        }
        try:
            check(self._tree, natures)
        except CheckError as exc:
            return exc.message, exc.pos
        except RecursionError:
            return "expression is nested too deeply", 0
        return None

    def _with_overrides(self, overrides: frozenset[str]) -> Expression:
        variant = self._overridden.get(overrides)
        if variant is None:
            variant = Expression(self.text, overrides)
            self._overridden[overrides] = variant
        return variant

    def render(self, ctx: EvalContext) -> str:
        """Evaluate and format the result as a template tag would (``go_format``)."""
        value = self.evaluate(ctx)
        if type(value) is str:
            return value
        try:
            return go_format(value)
        except JsonError as exc:
            raise self._error(str(exc), 0) from None
        except RecursionError:
            raise self._error("result is nested too deeply to format", 0) from None


class Template:
    """A text with ``{{ expression }}`` tags (a manifest field)."""

    __slots__ = ("_parts", "is_static", "names", "text")

    def __init__(self, text: str) -> None:
        self.text = text
        parts: list[str | Expression] = []
        start = 0
        while True:
            open_at = text.find("{{", start)
            if open_at < 0:
                break
            close_at = text.find("}}", open_at + 2)
            if close_at < 0:
                body = text[open_at + 2 :]
                raise ExpressionError(
                    'Cannot find end tag="}}" in the template', expression=body, column=len(body)
                )
            if open_at > start:
                parts.append(text[start:open_at])
            parts.append(compile_expression(text[open_at + 2 : close_at]))
            start = close_at + 2
        if start < len(text):
            parts.append(text[start:])
        self._parts: tuple[str | Expression, ...] = tuple(parts)
        #: True when the text has no tags: ``render`` returns it as is
        self.is_static: bool = not any(isinstance(p, Expression) for p in parts)
        names: set[str] = set()
        for part in parts:
            if isinstance(part, Expression):
                names |= part.names
        #: the free identifiers used by all tags
        self.names: frozenset[str] = frozenset(names)

    def __repr__(self) -> str:
        return f"Template({self.text!r})"

    def render(self, ctx: EvalContext) -> str:
        """Substitute every tag with its formatted result. Raises ``ExpressionError``."""
        if self.is_static:
            return self.text
        parts = self._parts
        if len(parts) == 1:
            return parts[0].render(ctx)  # type: ignore[union-attr]
        return "".join([part if type(part) is str else part.render(ctx) for part in parts])  # type: ignore[union-attr]


_LOCK = threading.Lock()
_TEMPLATES: dict[str, Template | ExpressionError] = {}
_EXPRESSIONS: dict[str, Expression | ExpressionError] = {}


def _cached(cache: dict[str, Any], text: str, build: type[Template] | type[Expression]) -> Any:
    entry = cache.get(text)
    if entry is None:
        try:
            entry = build(text)
        except ExpressionError as exc:
            entry = exc
        with _LOCK:
            if len(cache) >= _CACHE_LIMIT:
                # drop the oldest entry (dicts keep insertion order)
                cache.pop(next(iter(cache)), None)
            cache[text] = entry
    if isinstance(entry, ExpressionError):
        # a fresh error each time: callers fill in its location with ``locate()``
        raise ExpressionError(entry.message, expression=entry.expression, column=entry.column)
    return entry


def compile_template(text: str) -> Template:
    """The compiled template of ``text`` (cached: the same text gives the same object).

    Raises ``ExpressionError`` for a ``{{`` without ``}}`` or a tag that does not parse.
    """
    return _cached(_TEMPLATES, text, Template)  # type: ignore[no-any-return]


def compile_expression(text: str) -> Expression:
    """The compiled expression of ``text`` (cached). Raises ``ExpressionError`` on bad syntax."""
    return _cached(_EXPRESSIONS, text, Expression)  # type: ignore[no-any-return]
