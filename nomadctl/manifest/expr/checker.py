"""Compile-time checks of expr-lang v1.17.7 (``checker/checker.go``) against the names' natures.

AliECS compiles each tag with ``expr.Env(environment)``, whose checker rejects an undefined name or
a type mismatch anywhere in the expression, taken branch or not. This module walks the tree as that
checker does, in the same order and with the same messages, given the static type of every free
name (``None`` for a name the context does not define).

Like expr, it does not look inside the arguments of a call whose callee has no static type (every
member function of a map object: ``strings.IsFalsy(x)``, ``inventory.DetectorForHost(h)``), nor
inside the bounds of a slice of an untyped value: an undefined name there is not an error and
evaluates to nil at run time, as in AliECS.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from nomadctl.manifest.expr import nodes as n
from nomadctl.manifest.expr.natures import (
    ANY,
    ARRAY,
    ARRAY_INT,
    ARRAY_STRING,
    BOOL,
    FLOAT,
    INT,
    MAP,
    NIL,
    STRING,
    UNKNOWN,
    Nature,
)
from nomadctl.manifest.expr.runtime import GoPanic, go_regexp

__all__ = ["UNSUPPORTED_BUILTINS", "CheckError", "check"]

UNSUPPORTED_BUILTINS = frozenset({"now", "duration", "date", "timezone"})


class CheckError(Exception):
    def __init__(self, message: str, pos: int) -> None:
        super().__init__(message)
        self.message = message
        self.pos = pos


def _validate_name(nt: Nature) -> str:
    """How a ``reflect.Type`` prints in the builtins' Validate messages (a nil type is ``<nil>``)."""
    if nt.is_nil or not nt.typed:
        return "<nil>" if nt.is_nil else "interface {}"
    return nt.name


def _array_of(elem: Nature) -> Nature:
    if elem.name in ("int", "string"):
        return ARRAY_INT if elem.name == "int" else ARRAY_STRING
    return ARRAY


# Builtins checked by a list of Go signatures (expr's ``Types``): (params, result).
_S, _I, _A = STRING, INT, ANY
_OVERLOADS: dict[str, list[tuple[tuple[Nature, ...], Nature]]] = {
    "type": [((_A,), STRING)],
    "string": [((_A,), STRING)],
    "trim": [((_S,), STRING), ((_S, _S), STRING)],
    "trimPrefix": [((_S, _S), STRING), ((_S,), STRING)],
    "trimSuffix": [((_S, _S), STRING), ((_S,), STRING)],
    "upper": [((_S,), STRING)],
    "lower": [((_S,), STRING)],
    "split": [((_S, _S), ARRAY_STRING), ((_S, _S, _I), ARRAY_STRING)],
    "splitAfter": [((_S, _S), ARRAY_STRING), ((_S, _S, _I), ARRAY_STRING)],
    "replace": [((_S, _S, _S, _I), STRING), ((_S, _S, _S), STRING)],
    "repeat": [((_S, _I), STRING)],
    "join": [
        ((ARRAY_STRING, _S), STRING),
        ((ARRAY, _S), STRING),
        ((ARRAY,), STRING),
        ((ARRAY_STRING, _S), STRING),
        ((ARRAY_STRING,), STRING),
    ],
    "indexOf": [((_S, _S), INT)],
    "lastIndexOf": [((_S, _S), INT)],
    "hasPrefix": [((_S, _S), BOOL)],
    "hasSuffix": [((_S, _S), BOOL)],
    "toJSON": [((_A,), STRING)],
    "fromJSON": [((_S,), ANY)],
    "toBase64": [((_S,), STRING)],
    "fromBase64": [((_S,), STRING)],
    "bitnot": [((_I,), INT)],
    **{
        name: [((_I, _I), INT)]
        for name in ("bitand", "bitor", "bitxor", "bitnand", "bitshl", "bitshr", "bitushr")
    },
}

_NUMERIC = ("int", "float")


class _Checker:
    __slots__ = ("names", "scopes", "vars")

    def __init__(self, names: Mapping[str, Nature | None]) -> None:
        self.names = names
        self.vars: list[tuple[str, Nature]] = []
        # predicate scopes: (collection nature, {pointer name: nature})
        self.scopes: list[tuple[Nature, dict[str, Nature]]] = []

    def fail(self, node: n.Node, message: str) -> CheckError:
        return CheckError(message, node.pos)

    def visit(self, node: n.Node) -> Nature:
        method: Callable[[n.Node], Nature] = getattr(self, "v_" + type(node).__name__)
        return method(node)

    # -- leaves
    def v_Nil(self, node: n.Node) -> Nature:
        return NIL

    def v_Bool(self, node: n.Node) -> Nature:
        return BOOL

    def v_Int(self, node: n.Node) -> Nature:
        return INT

    def v_Float(self, node: n.Node) -> Nature:
        return FLOAT

    def v_Str(self, node: n.Node) -> Nature:
        return STRING

    def v_Ident(self, node: n.Node) -> Nature:
        assert isinstance(node, n.Ident)
        for name, nature in reversed(self.vars):
            if name == node.name:
                return nature
        if node.name == "$env":
            return UNKNOWN
        known = self.names.get(node.name)
        if known is None:
            raise self.fail(node, f"unknown name {node.name}")
        return known

    # -- operators
    def v_Unary(self, node: n.Node) -> Nature:
        assert isinstance(node, n.Unary)
        nt = self.visit(node.operand).deref()
        if node.op in ("!", "not"):
            if nt.kind == "bool" or nt.unknown:
                return BOOL
        elif nt.number:
            return nt
        elif nt.unknown:
            return UNKNOWN
        raise self.fail(node, f"invalid operation: {node.op} (mismatched type {nt})")

    def v_Binary(self, node: n.Node) -> Nature:
        assert isinstance(node, n.Binary)
        left = self.visit(node.left).deref()
        right = self.visit(node.right).deref()
        op = node.op
        if op in ("==", "!="):
            if left.comparable_to(right):
                return BOOL
        elif op in ("or", "||", "and", "&&"):
            if (left.kind == "bool" and right.kind == "bool") or left.maybe(right, "bool"):
                return BOOL
        elif op in ("<", ">", ">=", "<="):
            if (left.number and right.number) or (left.kind == right.kind == "string"):
                return BOOL
            if left.maybe(right, "int", "float", "string"):
                return BOOL
        elif op in ("-", "*"):
            if left.number and right.number:
                return FLOAT if "float" in (left.kind, right.kind) else INT
            if left.maybe(right, "int", "float"):
                return UNKNOWN
        elif op in ("/", "**", "^"):
            if (left.number and right.number) or left.maybe(right, "int", "float"):
                return FLOAT
        elif op == "%":
            if (left.kind == right.kind == "int") or left.maybe(right, "int"):
                return INT
        elif op == "+":
            if left.number and right.number:
                return FLOAT if "float" in (left.kind, right.kind) else INT
            if left.kind == right.kind == "string":
                return STRING
            if left.maybe(right, "int", "float", "string"):
                return UNKNOWN
        elif op == "in":
            if (left.kind == "string" or left.unknown) and right.kind == "struct":
                return BOOL
            if right.kind == "map":
                if not left.unknown and not left.assignable_to(STRING):
                    raise self.fail(node, f"cannot use {left} as type string in map key")
                return BOOL
            if right.kind == "array":
                elem = right.element()
                if not left.comparable_to(elem):
                    raise self.fail(node, f"cannot use {left} as type {elem} in array")
                return BOOL
            if left.unknown and right.kind in ("string", "array", "map"):
                return BOOL
            if right.unknown:
                return BOOL
        elif op == "matches":
            if isinstance(node.right, n.Str):
                try:
                    go_regexp(node.right.value)
                except GoPanic as exc:
                    raise self.fail(node, exc.message) from None
            if (left.kind == right.kind == "string") or left.maybe(right, "string"):
                return BOOL
        elif op in ("contains", "startsWith", "endsWith"):
            if (left.kind == right.kind == "string") or left.maybe(right, "string"):
                return BOOL
        elif op == "..":
            if (left.kind == right.kind == "int") or left.maybe(right, "int"):
                return ARRAY_INT
        elif op == "??":
            if left.is_nil and not right.is_nil:
                return right
            if right.is_nil and not left.is_nil:
                return left
            if left.is_nil and right.is_nil:
                return NIL
            return left if right.assignable_to(left) else UNKNOWN
        else:  # pragma: no cover - the parser only builds known operators
            raise self.fail(node, f"unknown operator ({op})")
        raise self.fail(node, f"invalid operation: {op} (mismatched types {left} and {right})")

    def v_Conditional(self, node: n.Node) -> Nature:
        assert isinstance(node, n.Conditional)
        cond = self.visit(node.cond).deref()
        if cond.kind != "bool" and not cond.unknown:
            raise CheckError(f"non-bool expression (type {cond}) used as condition", node.cond.pos)
        then = self.visit(node.then)
        otherwise = self.visit(node.otherwise)
        if then.is_nil and not otherwise.is_nil:
            return otherwise
        if otherwise.is_nil and not then.is_nil:
            return then
        if then.is_nil and otherwise.is_nil:
            return NIL
        if then.assignable_to(otherwise):
            return then
        return UNKNOWN

    # -- access
    def v_Chain(self, node: n.Node) -> Nature:
        assert isinstance(node, n.Chain)
        return self.visit(node.node)

    def v_Member(self, node: n.Node) -> Nature:
        assert isinstance(node, n.Member)
        if isinstance(node.base, n.Ident) and node.base.name == "$env" and not self._is_var("$env"):
            return UNKNOWN
        base = self.visit(node.base)
        prop = self.visit(node.prop)
        if base.unknown:
            return UNKNOWN
        name = node.prop.value if isinstance(node.prop, n.Str) else None
        if name is not None and base.is_nil:
            raise self.fail(node, f"type nil has no field {name}")
        base = base.deref()
        if base.kind == "map":
            if not prop.assignable_to(STRING) and not prop.unknown:
                raise CheckError(f"cannot use {prop} to get an element from {base}", node.prop.pos)
            return base.element()
        if base.kind == "array":
            prop = prop.deref()
            if prop.kind != "int" and not prop.unknown:
                raise CheckError(
                    f"array elements can only be selected using an integer (got {prop})", node.prop.pos
                )
            return base.element()
        if base.kind == "struct" and name is not None:
            field = base.field(name)
            if field is not None:
                return field
        if name is not None:
            what = "method" if node.method else "field"
            raise self.fail(node, f"type {base} has no {what} {name}")
        raise self.fail(node, f"type {base}[{prop}] is undefined")

    def _is_var(self, name: str) -> bool:
        return any(var == name for var, _ in self.vars)

    def v_SliceExpr(self, node: n.Node) -> Nature:
        assert isinstance(node, n.SliceExpr)
        nt = self.visit(node.base)
        if nt.unknown:
            return UNKNOWN
        if nt.kind not in ("string", "array"):
            raise self.fail(node, f"cannot slice {nt}")
        for bound in (node.start, node.stop):
            if bound is not None:
                b = self.visit(bound).deref()
                if b.kind != "int" and not b.unknown:
                    raise CheckError(f"non-integer slice index {b}", bound.pos)
        return nt

    def v_Call(self, node: n.Node) -> Nature:
        assert isinstance(node, n.Call)
        fn = self.visit(node.callee)
        if fn.unknown:
            return UNKNOWN
        name = "function"
        if isinstance(node.callee, n.Ident):
            name = node.callee.name
        elif isinstance(node.callee, n.Member) and isinstance(node.callee.prop, n.Str):
            name = node.callee.prop.value
        if fn.is_nil:
            raise self.fail(node, f"{name} is nil; cannot call nil as function")
        if fn.kind == "func":
            return self.check_arguments(name, fn.params, fn.result or UNKNOWN, node.args, node)
        raise self.fail(node, f"{fn} is not callable")

    def check_arguments(
        self, name: str, params: tuple[Nature, ...], result: Nature, args: list[n.Node], node: n.Node
    ) -> Nature:
        if len(args) != len(params):
            for arg in args:
                self.visit(arg)
            few = "not enough" if len(args) < len(params) else "too many"
            raise self.fail(node, f"{few} arguments to call {name}")
        for arg, param in zip(args, params, strict=True):
            nature = self.visit(arg)
            if param.kind == "float" and nature.kind == "int":
                continue
            if nature.is_nil:
                if param.kind in ("ptr", "unknown"):
                    continue
                raise CheckError(f"cannot use nil as argument (type {param}) to call {name}", arg.pos)
            if not nature.assignable_to(param) and not nature.unknown:
                raise CheckError(f"cannot use {nature} as argument (type {param}) to call {name}", arg.pos)
        return result

    # -- builtins
    def v_Builtin(self, node: n.Node) -> Nature:
        assert isinstance(node, n.Builtin)
        name = node.name
        args = node.args
        if name in UNSUPPORTED_BUILTINS:
            raise self.fail(node, f"builtin {name} is not supported by nomadctl (no date/time in manifests)")
        if name in (
            "all",
            "none",
            "any",
            "one",
            "filter",
            "count",
            "find",
            "findLast",
            "findIndex",
            "findLastIndex",
        ):
            collection = self.collection(node)
            if name == "count" and len(args) == 1:
                return INT
            out = self.predicate(args[1], collection, {})
            if out.kind != "bool" and not out.unknown:
                raise CheckError(f"predicate should return boolean (got {out})", args[1].pos)
            if name in ("count", "findIndex", "findLastIndex"):
                return INT
            if name == "filter":
                return ARRAY if collection.unknown else _array_of(collection.element())
            if name in ("find", "findLast"):
                return UNKNOWN if collection.unknown else collection.element()
            return BOOL
        if name in ("map", "sum", "groupBy", "sortBy", "reduce"):
            collection = self.collection(node)
            if name == "sum" and len(args) == 1:
                return UNKNOWN if collection.unknown else collection.element()
            scope: dict[str, Nature] = {}
            if name in ("map", "reduce"):
                scope["index"] = INT
            if name == "reduce":
                scope["acc"] = UNKNOWN
            out = self.predicate(args[1], collection, scope)
            for extra in args[2:]:
                self.visit(extra)
            if name == "map":
                return ARRAY
            if name == "groupBy":
                return MAP
            if name == "sortBy":
                return collection
            return out
        natures = [self.visit(arg) for arg in args]
        overloads = _OVERLOADS.get(name)
        if overloads is not None:
            return self.check_overloads(name, overloads, natures, node)
        return self.validate(name, natures, node)

    def collection(self, node: n.Builtin) -> Nature:
        collection = self.visit(node.args[0]).deref()
        if collection.kind != "array" and not collection.unknown:
            raise CheckError(f"builtin {node.name} takes only array (got {collection})", node.args[0].pos)
        return collection

    def predicate(self, node: n.Node, collection: Nature, pointers: dict[str, Nature]) -> Nature:
        self.scopes.append((collection, pointers))
        try:
            body = node.body if isinstance(node, n.Predicate) else node
            return self.visit(body)
        finally:
            self.scopes.pop()

    def v_Predicate(self, node: n.Node) -> Nature:
        assert isinstance(node, n.Predicate)
        return self.visit(node.body)

    def v_Pointer(self, node: n.Node) -> Nature:
        assert isinstance(node, n.Pointer)
        if not self.scopes:
            raise self.fail(node, "cannot use pointer accessor outside predicate")
        collection, pointers = self.scopes[-1]
        if node.name == "":
            if collection.unknown:
                return UNKNOWN
            if collection.kind == "array":
                return collection.element()
            raise self.fail(node, f"cannot use {collection} as array")
        nature = pointers.get(node.name)
        if nature is None:
            raise self.fail(node, f"unknown pointer #{node.name}")
        return nature

    def check_overloads(
        self,
        name: str,
        overloads: list[tuple[tuple[Nature, ...], Nature]],
        natures: list[Nature],
        node: n.Builtin,
    ) -> Nature:
        last: CheckError | None = None
        for params, result in overloads:
            try:
                return self._match(name, params, result, natures, node)
            except CheckError as exc:
                last = exc
        assert last is not None
        raise last

    def _match(
        self, name: str, params: tuple[Nature, ...], result: Nature, natures: list[Nature], node: n.Builtin
    ) -> Nature:
        if len(natures) != len(params):
            few = "not enough" if len(natures) < len(params) else "too many"
            raise self.fail(node, f"{few} arguments to call {name}")
        for arg, nature, param in zip(node.args, natures, params, strict=True):
            if nature.is_nil:
                if param.kind in ("ptr", "unknown", "array", "map"):
                    continue
                raise CheckError(f"cannot use nil as argument (type {param}) to call {name}", arg.pos)
            if not nature.assignable_to(param) and not nature.unknown:
                raise CheckError(f"cannot use {nature} as argument (type {param}) to call {name}", arg.pos)
        return result

    def validate(self, name: str, natures: list[Nature], node: n.Builtin) -> Nature:
        """The builtins that expr checks with a ``Validate`` function (kinds, not exact types)."""

        def kind(nt: Nature) -> str:
            nt = nt.deref()
            if nt.is_nil:
                return "invalid"
            return "interface" if nt.unknown else nt.kind

        def arity(expected: int) -> None:
            if len(natures) != expected:
                raise self.fail(
                    node, f"invalid number of arguments (expected {expected}, got {len(natures)})"
                )

        if name == "len":
            arity(1)
            if kind(natures[0]) in ("array", "map", "string", "interface"):
                return INT
            raise self.fail(node, f"invalid argument for len (type {_validate_name(natures[0])})")
        if name == "abs":
            arity(1)
            k = kind(natures[0])
            if k in _NUMERIC or k == "interface":
                return natures[0] if k in _NUMERIC else UNKNOWN
            raise self.fail(node, f"invalid argument for abs (type {_validate_name(natures[0])})")
        if name in ("int", "float"):
            arity(1)
            if kind(natures[0]) in ("interface", "int", "float", "string"):
                return INT if name == "int" else FLOAT
            raise self.fail(node, f"invalid argument for {name} (type {_validate_name(natures[0])})")
        if name in ("ceil", "floor", "round"):
            arity(1)
            if kind(natures[0]) in ("interface", "int", "float"):
                return FLOAT
            raise self.fail(node, f"invalid argument for {name} (type {_validate_name(natures[0])})")
        if name in ("first", "last"):
            arity(1)
            k = kind(natures[0])
            if k == "interface":
                return UNKNOWN
            if k == "array":
                return natures[0].deref().element()
            raise self.fail(node, f"cannot get {name} element from {_validate_name(natures[0])}")
        if name == "take":
            arity(2)
            if kind(natures[0]) not in ("interface", "array"):
                raise self.fail(node, f"cannot take from {_validate_name(natures[0])}")
            if kind(natures[1]) not in ("interface", "int"):
                raise self.fail(node, f"cannot take {_validate_name(natures[1])} elements")
            return natures[0]
        if name in ("keys", "values", "toPairs"):
            arity(1)
            if kind(natures[0]) in ("interface", "map"):
                return ARRAY
            raise self.fail(node, f"cannot get {name} from {_validate_name(natures[0])}")
        if name in ("max", "min", "mean", "median"):
            if not natures:
                raise self.fail(node, f"not enough arguments to call {name}")
            result: Nature = natures[0] if name in ("max", "min") else FLOAT
            for nt in natures:
                k = kind(nt)
                if k in ("interface", "array"):
                    return UNKNOWN if name in ("max", "min") else FLOAT
                if k not in _NUMERIC:
                    raise self.fail(node, f"invalid argument for {name} (type {_validate_name(nt)})")
            return result
        if name in ("reverse", "uniq", "flatten", "sort"):
            if name != "sort":
                arity(1)
            elif not 1 <= len(natures) <= 2:
                raise self.fail(node, f"invalid number of arguments (expected 1 or 2, got {len(natures)})")
            if kind(natures[0]) not in ("interface", "array"):
                raise self.fail(node, f"cannot {name} {_validate_name(natures[0])}")
            return ARRAY
        if name == "concat":
            if not natures:
                raise self.fail(node, "invalid number of arguments (expected at least 1, got 0)")
            for nt in natures:
                if kind(nt) not in ("interface", "array"):
                    raise self.fail(node, f"cannot concat {_validate_name(nt)}")
            return ARRAY
        if name == "fromPairs":
            arity(1)
            if kind(natures[0]) not in ("interface", "array"):
                raise self.fail(node, f"cannot transform {_validate_name(natures[0])} from pairs")
            return MAP
        if name == "get":
            if len(natures) != 2:
                raise self.fail(node, f"invalid number of arguments (expected 2, got {len(natures)})")
            return UNKNOWN
        raise self.fail(node, f"unknown builtin {name}")  # pragma: no cover - parser knows the list

    # -- the rest
    def v_VarDecl(self, node: n.Node) -> Nature:
        assert isinstance(node, n.VarDecl)
        if self.names.get(node.name) is not None:
            raise self.fail(node, f"cannot redeclare {node.name}")
        if self._is_var(node.name):
            raise self.fail(node, f"cannot redeclare variable {node.name}")
        value = self.visit(node.value)
        self.vars.append((node.name, value))
        try:
            return self.visit(node.body)
        finally:
            self.vars.pop()

    def v_Sequence(self, node: n.Node) -> Nature:
        assert isinstance(node, n.Sequence)
        last = UNKNOWN
        for item in node.nodes:
            last = self.visit(item)
        return last

    def v_Array(self, node: n.Node) -> Nature:
        assert isinstance(node, n.Array)
        natures = [self.visit(item) for item in node.items]
        if not natures:
            return Nature("array", ARRAY.name, elem=UNKNOWN)
        if all(nt.kind == natures[-1].kind for nt in natures):
            # expr types the elements when they share a kind (the Go type stays []interface {})
            return Nature("array", ARRAY.name, elem=natures[-1])
        return ARRAY

    def v_MapLit(self, node: n.Node) -> Nature:
        assert isinstance(node, n.MapLit)
        for key, value in node.pairs:
            self.visit(key)
            self.visit(value)
        return MAP


def check(tree: n.Node, names: Mapping[str, Nature | None]) -> Nature:
    """Type-check ``tree``; ``names`` maps every free name to its nature, ``None`` when undefined.

    Raises ``CheckError`` with expr-lang's message and the position of the offending node.
    """
    return _Checker(names).visit(tree)
