"""Static types ("natures", as expr-lang calls them) and typed Go functions.

expr-lang type-checks an expression against the environment before running it, so a type error is
a compile error even in a branch that never runs. The engine reproduces that with the few Go types
an AliECS environment holds. ``GoFunc`` wraps a Python function with a Go signature: statically
typed when it is a top-level name (``Atoi``, ``Up``), checked at call time like ``reflect.Call``
when reached through a map (``strings.Atoi``), whose members expr types as ``interface {}``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from nomadctl.manifest.expr.gofmt import go_type_name
from nomadctl.manifest.expr.runtime import GoPanic
from nomadctl.manifest.expr.values import IntList, RoleRef

if TYPE_CHECKING:
    from nomadctl.manifest.expr.context import EvalContext

__all__ = [
    "ANY",
    "ARRAY",
    "ARRAY_INT",
    "ARRAY_STRING",
    "BOOL",
    "FLOAT",
    "INT",
    "MAP",
    "NIL",
    "STRING",
    "UNKNOWN",
    "WFNODE",
    "WFNODE_PTR",
    "GoFunc",
    "Nature",
    "func_nature",
    "nature_of",
]


@dataclass(frozen=True, slots=True)
class Nature:
    """A Go static type as far as expr-lang's checker distinguishes it.

    ``kind`` is one of: unknown (no static type, or ``interface {}``), nil, bool, int, float,
    string, array, map, struct, ptr, func.
    """

    kind: str
    name: str
    elem: Nature | None = None
    fields: tuple[tuple[str, Nature], ...] = ()
    params: tuple[Nature, ...] = ()
    result: Nature | None = None
    variadic: bool = False

    # -- expr-lang's Nature predicates
    @property
    def unknown(self) -> bool:
        return self.kind == "unknown"

    @property
    def is_nil(self) -> bool:
        return self.kind == "nil"

    @property
    def number(self) -> bool:
        return self.kind in ("int", "float")

    def deref(self) -> Nature:
        return self.elem if self.kind == "ptr" and self.elem is not None else self

    def element(self) -> Nature:
        if self.kind in ("array", "map", "ptr") and self.elem is not None:
            return self.elem
        return UNKNOWN

    def field(self, name: str) -> Nature | None:
        for field_name, nature in self.fields:
            if field_name == name:
                return nature
        return None

    @property
    def typed(self) -> bool:
        """Whether a Go type is known (``interface {}`` is a type; an unknown value is not)."""
        return self.name != "unknown"

    def assignable_to(self, other: Nature) -> bool:
        """expr's ``Nature.AssignableTo``."""
        if self.is_nil:
            return other.kind in ("ptr", "func", "map", "array") or (other.kind == "unknown" and other.typed)
        if not self.typed or not other.typed:
            return False
        if other.kind == "unknown":
            return True
        return self.kind == other.kind and self.name == other.name

    def comparable_to(self, other: Nature) -> bool:
        return (
            self.unknown
            or other.unknown
            or self.is_nil
            or other.is_nil
            or (self.number and other.number)
            or (self.kind == "array" and other.kind == "array")
            or self.assignable_to(other)
        )

    def maybe(self, other: Nature, *kinds: str) -> bool:
        """expr's ``MaybeCompatible``: one side unknown and the other of one of ``kinds``."""
        if self.unknown and other.unknown:
            return True
        if self.unknown:
            return other.kind in kinds
        if other.unknown:
            return self.kind in kinds
        return False

    def __str__(self) -> str:
        return self.name


UNKNOWN = Nature("unknown", "unknown")
ANY = Nature("unknown", "interface {}")
NIL = Nature("nil", "unknown")
BOOL = Nature("bool", "bool")
INT = Nature("int", "int")
FLOAT = Nature("float", "float64")
STRING = Nature("string", "string")
ARRAY = Nature("array", "[]interface {}", elem=ANY)
ARRAY_INT = Nature("array", "[]int", elem=INT)
ARRAY_STRING = Nature("array", "[]string", elem=STRING)
MAP = Nature("map", "map[string]interface {}", elem=ANY)
STRING_PTR = Nature("ptr", "*string", elem=STRING)
WFNODE = Nature("struct", "workflow.wfNode", fields=(("Name", STRING), ("Path", STRING)))
WFNODE_PTR = Nature("ptr", "*workflow.wfNode", elem=WFNODE)


def func_nature(params: tuple[Nature, ...], result: Nature, *, returns_error: bool = False) -> Nature:
    """A ``func(params...) result`` nature, named as Go prints the type."""
    text = "func(" + ", ".join(p.name for p in params) + ")"
    if returns_error:
        text += f" ({result.name}, error)"
    else:
        text += f" {result.name}"
    return Nature("func", text, params=params, result=result)


_ZERO: dict[str, object] = {"string": "", "int": 0, "float": 0.0, "bool": False}
_EXACT: dict[str, type] = {"string": str, "int": int, "float64": float, "bool": bool}


class GoFunc:
    """A Python function presented to expressions as a Go function with a fixed signature.

    ``fn`` receives the evaluation context first when ``needs_ctx`` is set (functions that read
    the caller's variables, as AliECS's closures over ``varStack`` do). ``invoke`` reproduces
    ``reflect.Call``: nil arguments become the parameter's zero value, anything else must have the
    parameter's type exactly. A Go ``(T, error)`` function raises ``GoPanic`` for its error.
    """

    __slots__ = ("_exact", "fn", "go_type", "name", "nature", "needs_ctx")

    def __init__(
        self,
        name: str,
        fn: Callable[..., Any],
        params: tuple[Nature, ...],
        result: Nature,
        *,
        needs_ctx: bool = False,
        returns_error: bool = False,
    ) -> None:
        self.name = name
        self.fn = fn
        self.needs_ctx = needs_ctx
        self.nature = func_nature(params, result, returns_error=returns_error)
        self.go_type = self.nature.name
        # the Python type each parameter needs (None: check by nature, or anything for interface{})
        self._exact: tuple[type | None, ...] = tuple(_EXACT.get(p.name) for p in params)

    def __repr__(self) -> str:
        return f"<GoFunc {self.name} {self.go_type}>"

    def invoke(self, ctx: EvalContext, args: list[object]) -> object:
        exact = self._exact
        if len(args) != len(exact):
            few = "few" if len(args) < len(exact) else "many"
            raise GoPanic(f"reflect: Call with too {few} input arguments")
        for i, arg in enumerate(args):
            want = exact[i]
            if type(arg) is not want:
                args = self._convert(args)
                break
        if self.needs_ctx:
            return self.fn(ctx, *args)
        return self.fn(*args)

    def _convert(self, args: list[object]) -> list[object]:
        converted = list(args)
        for i, (arg, param) in enumerate(zip(args, self.nature.params, strict=True)):
            if arg is None:
                converted[i] = _ZERO.get(param.kind)
            elif param.kind != "unknown" and nature_of(arg).name != param.name:
                raise GoPanic(f"reflect: Call using {go_type_name(arg)} as type {param.name}")
        return converted

    def __call__(self, *args: object) -> object:
        """Call from Python (Jinja2 payload templates): no context, arguments as given."""
        if self.needs_ctx:
            raise TypeError(f"{self.name} needs an evaluation context")
        return self.invoke(None, list(args))  # type: ignore[arg-type]


def nature_of(value: object) -> Nature:
    """The static type expr-lang derives for an environment value (``nature.Of``)."""
    t = type(value)
    if t is str:
        return STRING
    if t is bool:
        return BOOL
    if t is int:
        return INT
    if t is float:
        return FLOAT
    if value is None:
        return NIL
    if isinstance(value, GoFunc):
        return value.nature
    if t is IntList:
        return ARRAY_INT
    if isinstance(value, list):
        return ARRAY
    if isinstance(value, Mapping):
        return MAP
    if t is RoleRef:
        return WFNODE_PTR
    # Python callables without a declared signature are typed interface{}: unchecked calls
    return UNKNOWN
