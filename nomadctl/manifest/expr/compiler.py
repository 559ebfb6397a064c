"""Compile an expression tree into nested Python closures (no AST walk per render, no ``eval``).

A compiled expression is a function of ``env``: a fresh dict per render holding the values of the
expression's free names, the evaluation context under ``CTX_KEY``, and the predicate pointers
(``#``, ``#index``, ``#acc``) and ``let`` variables while they are in scope. Every closure that can
fail stamps the failure with its node's position, so runtime errors carry a caret like AliECS's.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from functools import lru_cache
from typing import Any

from nomadctl.errors import NomadctlError
from nomadctl.manifest.expr import nodes as n
from nomadctl.manifest.expr.builtins import BUILTIN_FUNCTIONS, MEMORY_BUDGET, go_sort, sum_values
from nomadctl.manifest.expr.context import full_environment
from nomadctl.manifest.expr.gofmt import go_type_name
from nomadctl.manifest.expr.natures import GoFunc
from nomadctl.manifest.expr.runtime import (
    GoPanic,
    go_add,
    go_div,
    go_equal,
    go_fetch,
    go_in,
    go_len_runtime,
    go_less,
    go_mod,
    go_mul,
    go_negate,
    go_pow,
    go_regexp,
    go_slice,
    go_sub,
    to_bool,
    to_int,
)
from nomadctl.manifest.expr.values import IntList

__all__ = ["CTX_KEY", "Fn", "compile_tree"]

Fn = Callable[[dict[str, Any]], Any]

# Not an identifier, so it can never collide with a name of the expression.
CTX_KEY = "\x00ctx"


class _ChainNil(Exception):
    """A ``?.`` met nil: the enclosing optional chain evaluates to nil."""


def _locate(exc: GoPanic, pos: int) -> GoPanic:
    if exc.pos is None:
        exc.pos = pos
    return exc


def _const(value: object) -> Fn:
    return lambda env: value


def _bool_panic(value: object) -> GoPanic:
    try:
        to_bool(value)
    except GoPanic as exc:
        return exc
    raise AssertionError("unreachable")  # pragma: no cover


@lru_cache(maxsize=256)
def _regexp(pattern: str) -> Any:
    return go_regexp(pattern)


def invoke(fn: object, args: list[object], env: dict[str, Any]) -> object:
    """Call a function value the way expr's ``OpCall`` does."""
    if type(fn) is GoFunc:
        return fn.invoke(env[CTX_KEY], args)
    if fn is None:
        raise GoPanic("invalid operation: cannot call nil")
    if not callable(fn) or isinstance(fn, type):
        raise GoPanic(f"invalid operation: cannot call non-function of type {go_type_name(fn)}")
    try:
        return fn(*args)
    except GoPanic:
        raise
    except NomadctlError as exc:
        raise GoPanic(exc.one_line()) from exc
    except Exception as exc:  # a plugin's own failure becomes the expression's error, as in Go
        raise GoPanic(f"{type(exc).__name__}: {exc}") from exc


class _Compiler:
    def compile(self, node: n.Node) -> Fn:
        method: Callable[[Any], Fn] = getattr(self, "c_" + type(node).__name__)
        return method(node)

    # -- leaves
    def c_Nil(self, node: n.Nil) -> Fn:
        return _const(None)

    def c_Bool(self, node: n.Bool) -> Fn:
        return _const(node.value)

    def c_Int(self, node: n.Int) -> Fn:
        return _const(node.value)

    def c_Float(self, node: n.Float) -> Fn:
        return _const(node.value)

    def c_Str(self, node: n.Str) -> Fn:
        return _const(node.value)

    def c_Ident(self, node: n.Ident) -> Fn:
        if node.name == "$env":

            def env_map(env: dict[str, Any]) -> object:
                value = env.get("$env")
                return value if value is not None else full_environment(env[CTX_KEY])

            return env_map
        return operator.itemgetter(node.name)

    def c_Pointer(self, node: n.Pointer) -> Fn:
        return operator.itemgetter("#" + node.name if node.name else "#")

    # -- operators
    def c_Unary(self, node: n.Unary) -> Fn:
        operand = self.compile(node.operand)
        pos = node.pos
        if node.op in ("!", "not"):

            def not_(env: dict[str, Any]) -> object:
                value = operand(env)
                if value is True:
                    return False
                if value is False:
                    return True
                raise _locate(_bool_panic(value), pos)

            return not_
        if node.op == "-":

            def neg(env: dict[str, Any]) -> object:
                try:
                    return go_negate(operand(env))
                except GoPanic as exc:
                    raise _locate(exc, pos) from None

            return neg
        return operand

    def c_Binary(self, node: n.Binary) -> Fn:
        op = node.op
        pos = node.pos
        left = self.compile(node.left)
        right = self.compile(node.right)
        if op in ("&&", "and"):

            def and_(env: dict[str, Any]) -> object:
                value = left(env)
                if value is True:
                    return right(env)
                if value is False:
                    return False
                raise _locate(_bool_panic(value), pos)

            return and_
        if op in ("||", "or"):

            def or_(env: dict[str, Any]) -> object:
                value = left(env)
                if value is False:
                    return right(env)
                if value is True:
                    return True
                raise _locate(_bool_panic(value), pos)

            return or_
        if op == "??":

            def coalesce(env: dict[str, Any]) -> object:
                value = left(env)
                return right(env) if value is None else value

            return coalesce
        if op in ("==", "!="):
            return self._equality(node, left, right)
        if op == "+":

            def add(env: dict[str, Any]) -> object:
                a = left(env)
                b = right(env)
                if type(a) is str and type(b) is str:
                    return a + b
                try:
                    return go_add(a, b)
                except GoPanic as exc:
                    raise _locate(exc, pos) from None

            return add
        if op in ("contains", "startsWith", "endsWith"):
            tests: dict[str, Callable[[str, str], bool]] = {
                "contains": operator.contains,
                "startsWith": str.startswith,
                "endsWith": str.endswith,
            }
            test = tests[op]

            def string_test(env: dict[str, Any]) -> object:
                a = left(env)
                b = right(env)
                if a is None or b is None:
                    return False
                if type(a) is str and type(b) is str:
                    return test(a, b)
                bad = a if type(a) is not str else b
                raise GoPanic(f"interface conversion: interface {{}} is {go_type_name(bad)}, not string", pos)

            return string_test
        if op == "matches":
            return self._matches(node, left, right)
        if op == "..":

            def make_range(env: dict[str, Any]) -> object:
                try:
                    low = to_int(left(env))
                    high = to_int(right(env))
                except GoPanic as exc:
                    raise _locate(exc, pos) from None
                if high - low + 1 > MEMORY_BUDGET:
                    raise GoPanic("memory budget exceeded", pos)
                return IntList(range(low, high + 1))

            return make_range
        binary: Callable[[object, object], object]
        if op in ("<", ">", "<=", ">="):

            def binary(a: object, b: object) -> object:
                return go_less(a, b, op)

        else:
            binary = {
                "-": go_sub,
                "*": go_mul,
                "/": go_div,
                "%": go_mod,
                "**": go_pow,
                "^": go_pow,
                "in": go_in,
            }[op]

        def apply(env: dict[str, Any]) -> object:
            a = left(env)
            b = right(env)
            try:
                return binary(a, b)
            except GoPanic as exc:
                raise _locate(exc, pos) from None

        return apply

    def _equality(self, node: n.Binary, left: Fn, right: Fn) -> Fn:
        negate = node.op == "!="
        # the dominant production shape: ``name == 'literal'``
        if isinstance(node.right, n.Str) and isinstance(node.left, n.Ident) and node.left.name != "$env":
            name = node.left.name
            literal = node.right.value

            def eq_literal(env: dict[str, Any]) -> object:
                value = env[name]
                same = value == literal if type(value) is str else go_equal(value, literal)
                return not same if negate else same

            return eq_literal

        def eq(env: dict[str, Any]) -> object:
            a = left(env)
            b = right(env)
            same = a == b if type(a) is str and type(b) is str else go_equal(a, b)
            return not same if negate else same

        return eq

    def _matches(self, node: n.Binary, left: Fn, right: Fn) -> Fn:
        pos = node.pos
        constant = node.right.value if isinstance(node.right, n.Str) else None

        def matches(env: dict[str, Any]) -> object:
            a = left(env)
            pattern = constant if constant is not None else right(env)
            if a is None or pattern is None:
                return False
            try:
                if type(pattern) is not str or type(a) is not str:
                    bad = pattern if type(pattern) is not str else a
                    raise GoPanic(f"interface conversion: interface {{}} is {go_type_name(bad)}, not string")
                return _regexp(pattern).search(a) is not None
            except GoPanic as exc:
                raise _locate(exc, pos) from None

        return matches

    def c_Conditional(self, node: n.Conditional) -> Fn:
        cond = self.compile(node.cond)
        then = self.compile(node.then)
        otherwise = self.compile(node.otherwise)
        pos = node.pos

        def conditional(env: dict[str, Any]) -> object:
            value = cond(env)
            if value is True:
                return then(env)
            if value is False:
                return otherwise(env)
            raise _locate(_bool_panic(value), pos)

        return conditional

    # -- access
    def c_Chain(self, node: n.Chain) -> Fn:
        inner = self.compile(node.node)

        def chain(env: dict[str, Any]) -> object:
            try:
                return inner(env)
            except _ChainNil:
                return None

        return chain

    def c_Member(self, node: n.Member) -> Fn:
        base = self.compile(node.base)
        pos = node.pos
        optional = node.optional
        if isinstance(node.prop, n.Str):
            key = node.prop.value

            def member(env: dict[str, Any]) -> object:
                obj = base(env)
                if type(obj) is dict:
                    return obj.get(key)
                if obj is None and optional:
                    raise _ChainNil
                try:
                    return go_fetch(obj, key)
                except GoPanic as exc:
                    raise _locate(exc, pos) from None

            return member
        prop = self.compile(node.prop)

        def index(env: dict[str, Any]) -> object:
            obj = base(env)
            if obj is None and optional:
                raise _ChainNil
            try:
                return go_fetch(obj, prop(env))
            except GoPanic as exc:
                raise _locate(exc, pos) from None

        return index

    def c_SliceExpr(self, node: n.SliceExpr) -> Fn:
        base = self.compile(node.base)
        start = self.compile(node.start) if node.start is not None else _const(0)
        stop = self.compile(node.stop) if node.stop is not None else None
        pos = node.pos

        def slice_(env: dict[str, Any]) -> object:
            obj = base(env)
            try:
                end = stop(env) if stop is not None else go_len_runtime(obj)
                return go_slice(obj, start(env), end)
            except GoPanic as exc:
                raise _locate(exc, pos) from None

        return slice_

    def c_Call(self, node: n.Call) -> Fn:
        callee = self.compile(node.callee)
        args = [self.compile(arg) for arg in node.args]
        pos = node.pos

        def call(env: dict[str, Any]) -> object:
            fn = callee(env)
            values = [arg(env) for arg in args]
            try:
                return invoke(fn, values, env)
            except GoPanic as exc:
                raise _locate(exc, pos) from None

        return call

    # -- builtins
    def c_Builtin(self, node: n.Builtin) -> Fn:
        name = node.name
        pos = node.pos
        if name in _PREDICATE_RUNNERS:
            return self._predicate_builtin(node)
        fn = BUILTIN_FUNCTIONS.get(name)
        if fn is None:
            # date/time builtins: the checker reports them before anything runs

            def unsupported(env: dict[str, Any]) -> object:
                raise GoPanic(f"builtin {name} is not supported by nomadctl", pos)

            return unsupported
        args = [self.compile(arg) for arg in node.args]
        if len(args) == 1:
            only = args[0]

            def builtin1(env: dict[str, Any]) -> object:
                value = only(env)
                try:
                    return fn(value)
                except GoPanic as exc:
                    raise _locate(exc, pos) from None
                except TypeError as exc:
                    raise GoPanic(f"invalid arguments for {name}: {exc}", pos) from None

            return builtin1

        def builtin(env: dict[str, Any]) -> object:
            values = [arg(env) for arg in args]
            try:
                return fn(*values)
            except GoPanic as exc:
                raise _locate(exc, pos) from None
            except TypeError as exc:
                raise GoPanic(f"invalid arguments for {name}: {exc}", pos) from None

        return builtin

    def _predicate_builtin(self, node: n.Builtin) -> Fn:
        name = node.name
        pos = node.pos
        collection = self.compile(node.args[0])
        body = self.compile(node.args[1]) if len(node.args) > 1 else None
        extra = self.compile(node.args[2]) if len(node.args) > 2 else None
        runner = _PREDICATE_RUNNERS[name]

        def predicate_builtin(env: dict[str, Any]) -> object:
            items = collection(env)
            if not isinstance(items, list):
                raise GoPanic(f"builtin {name} takes only array (got {go_type_name(items)})", pos)
            saved = (env.get("#"), env.get("#index"), env.get("#acc"))
            try:
                return runner(items, body, extra, env, pos)
            except GoPanic as exc:
                raise _locate(exc, pos) from None
            finally:
                env["#"], env["#index"], env["#acc"] = saved

        return predicate_builtin

    def c_Predicate(self, node: n.Predicate) -> Fn:
        return self.compile(node.body)

    # -- the rest
    def c_VarDecl(self, node: n.VarDecl) -> Fn:
        value = self.compile(node.value)
        body = self.compile(node.body)
        name = node.name

        def let(env: dict[str, Any]) -> object:
            env[name] = value(env)
            return body(env)

        return let

    def c_Sequence(self, node: n.Sequence) -> Fn:
        parts = [self.compile(item) for item in node.nodes]

        def sequence(env: dict[str, Any]) -> object:
            result: object = None
            for part in parts:
                result = part(env)
            return result

        return sequence

    def c_Array(self, node: n.Array) -> Fn:
        items = [self.compile(item) for item in node.items]
        return lambda env: [item(env) for item in items]

    def c_MapLit(self, node: n.MapLit) -> Fn:
        pairs = [(self.compile(k), self.compile(v), k.pos) for k, v in node.pairs]

        def map_literal(env: dict[str, Any]) -> object:
            out: dict[str, object] = {}
            for key, value, key_pos in pairs:
                k = key(env)
                if type(k) is not str:
                    raise GoPanic(
                        f"interface conversion: interface {{}} is {go_type_name(k)}, not string", key_pos
                    )
                out[k] = value(env)
            return out

        return map_literal


# ---------------------------------------------------------------- predicate builtins

_Runner = Callable[[list[Any], Fn | None, Fn | None, dict[str, Any], int], object]


def _each(items: list[Any], body: Fn, env: dict[str, Any]) -> Any:
    for i, item in enumerate(items):
        env["#"] = item
        env["#index"] = i
        yield item, body(env)


def _truth(value: object) -> bool:
    if value is True or value is False:
        return value
    raise _bool_panic(value)


def _all(items: list[Any], body: Fn | None, extra: Fn | None, env: dict[str, Any], pos: int) -> object:
    assert body is not None
    return all(_truth(result) for _item, result in _each(items, body, env))


def _any(items: list[Any], body: Fn | None, extra: Fn | None, env: dict[str, Any], pos: int) -> object:
    assert body is not None
    return any(_truth(result) for _item, result in _each(items, body, env))


def _none(items: list[Any], body: Fn | None, extra: Fn | None, env: dict[str, Any], pos: int) -> object:
    assert body is not None
    return not any(_truth(result) for _item, result in _each(items, body, env))


def _one(items: list[Any], body: Fn | None, extra: Fn | None, env: dict[str, Any], pos: int) -> object:
    assert body is not None
    return sum(1 for _item, result in _each(items, body, env) if _truth(result)) == 1


def _filter(items: list[Any], body: Fn | None, extra: Fn | None, env: dict[str, Any], pos: int) -> object:
    assert body is not None
    return [item for item, result in _each(items, body, env) if _truth(result)]


def _map(items: list[Any], body: Fn | None, extra: Fn | None, env: dict[str, Any], pos: int) -> object:
    assert body is not None
    return [result for _item, result in _each(items, body, env)]


def _count(items: list[Any], body: Fn | None, extra: Fn | None, env: dict[str, Any], pos: int) -> object:
    if body is None:
        return sum(1 for item in items if _truth(item))
    return sum(1 for _item, result in _each(items, body, env) if _truth(result))


def _sum(items: list[Any], body: Fn | None, extra: Fn | None, env: dict[str, Any], pos: int) -> object:
    if body is None:
        return sum_values(items)
    return sum_values([result for _item, result in _each(items, body, env)])


def _find(items: list[Any], body: Fn | None, extra: Fn | None, env: dict[str, Any], pos: int) -> object:
    assert body is not None
    for item, result in _each(items, body, env):
        if _truth(result):
            return item
    return None


def _find_index(items: list[Any], body: Fn | None, extra: Fn | None, env: dict[str, Any], pos: int) -> object:
    assert body is not None
    for i, (_item, result) in enumerate(_each(items, body, env)):
        if _truth(result):
            return i
    return None


def _find_last(items: list[Any], body: Fn | None, extra: Fn | None, env: dict[str, Any], pos: int) -> object:
    assert body is not None
    for i in range(len(items) - 1, -1, -1):
        env["#"] = items[i]
        env["#index"] = i
        if _truth(body(env)):
            return items[i]
    return None


def _find_last_index(
    items: list[Any], body: Fn | None, extra: Fn | None, env: dict[str, Any], pos: int
) -> object:
    assert body is not None
    for i in range(len(items) - 1, -1, -1):
        env["#"] = items[i]
        env["#index"] = i
        if _truth(body(env)):
            return i
    return None


def _group_by(items: list[Any], body: Fn | None, extra: Fn | None, env: dict[str, Any], pos: int) -> object:
    assert body is not None
    groups: dict[Any, list[Any]] = {}
    for item, key in _each(items, body, env):
        try:
            groups.setdefault(key, []).append(item)
        except TypeError:
            raise GoPanic(f"runtime error: hash of unhashable type {go_type_name(key)}") from None
    return groups


def _sort_by(items: list[Any], body: Fn | None, extra: Fn | None, env: dict[str, Any], pos: int) -> object:
    assert body is not None
    order = extra(env) if extra is not None else "asc"
    keyed = list(_each(items, body, env))
    ordered = go_sort([key for _item, key in keyed], order)
    out: list[Any] = []
    used = [False] * len(keyed)
    for key in ordered:
        for i, (item, item_key) in enumerate(keyed):
            if not used[i] and item_key is key:
                used[i] = True
                out.append(item)
                break
    return out


def _reduce(items: list[Any], body: Fn | None, extra: Fn | None, env: dict[str, Any], pos: int) -> object:
    assert body is not None
    start = 0
    if extra is not None:
        acc = extra(env)
    else:
        if not items:
            raise GoPanic("reduce of empty array with no initial value")
        acc = items[0]
        start = 1
    for i in range(start, len(items)):
        env["#"] = items[i]
        env["#index"] = i
        env["#acc"] = acc
        acc = body(env)
    return acc


_PREDICATE_RUNNERS: dict[str, _Runner] = {
    "all": _all,
    "any": _any,
    "none": _none,
    "one": _one,
    "filter": _filter,
    "map": _map,
    "count": _count,
    "sum": _sum,
    "find": _find,
    "findIndex": _find_index,
    "findLast": _find_last,
    "findLastIndex": _find_last_index,
    "groupBy": _group_by,
    "sortBy": _sort_by,
    "reduce": _reduce,
}


def compile_tree(tree: n.Node) -> Fn:
    """Turn a checked-or-not syntax tree into its closure."""
    return _Compiler().compile(tree)
