"""The expression syntax tree (mirrors expr-lang's ``ast`` package; ``pos`` is a rune offset)."""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = [
    "Array",
    "Binary",
    "Bool",
    "Builtin",
    "Call",
    "Chain",
    "Conditional",
    "Float",
    "Ident",
    "Int",
    "MapLit",
    "Member",
    "Nil",
    "Node",
    "Pointer",
    "Predicate",
    "Sequence",
    "SliceExpr",
    "Str",
    "Unary",
    "VarDecl",
]


@dataclass(eq=False, slots=True)
class Node:
    pos: int


@dataclass(eq=False, slots=True)
class Nil(Node):
    pass


@dataclass(eq=False, slots=True)
class Bool(Node):
    value: bool


@dataclass(eq=False, slots=True)
class Int(Node):
    value: int


@dataclass(eq=False, slots=True)
class Float(Node):
    value: float


@dataclass(eq=False, slots=True)
class Str(Node):
    value: str


@dataclass(eq=False, slots=True)
class Ident(Node):
    name: str


@dataclass(eq=False, slots=True)
class Unary(Node):
    op: str
    operand: Node


@dataclass(eq=False, slots=True)
class Binary(Node):
    op: str
    left: Node
    right: Node


@dataclass(eq=False, slots=True)
class Chain(Node):
    """Delimits an optional chain: a nil met by ``?.`` inside makes the whole chain nil."""

    node: Node


@dataclass(eq=False, slots=True)
class Member(Node):
    base: Node
    prop: Node
    optional: bool = False
    method: bool = False


@dataclass(eq=False, slots=True)
class SliceExpr(Node):
    base: Node
    start: Node | None
    stop: Node | None


@dataclass(eq=False, slots=True)
class Call(Node):
    callee: Node
    args: list[Node]


@dataclass(eq=False, slots=True)
class Builtin(Node):
    name: str
    args: list[Node]


@dataclass(eq=False, slots=True)
class Predicate(Node):
    body: Node


@dataclass(eq=False, slots=True)
class Pointer(Node):
    """``#`` (the current element), ``#index``, ``#acc`` inside a predicate."""

    name: str


@dataclass(eq=False, slots=True)
class VarDecl(Node):
    name: str
    value: Node
    body: Node


@dataclass(eq=False, slots=True)
class Sequence(Node):
    nodes: list[Node]


@dataclass(eq=False, slots=True)
class Conditional(Node):
    cond: Node
    then: Node
    otherwise: Node


@dataclass(eq=False, slots=True)
class Array(Node):
    items: list[Node]


@dataclass(eq=False, slots=True)
class MapLit(Node):
    pairs: list[tuple[Node, Node]] = field(default_factory=list)
