"""What an expression sees: the evaluation context and AliECS's name resolution order.

``Fields.Execute`` (fields.go) builds one environment per field from, lowest first: the variables
of the consolidated stack, the role's object stack (``Parent``/``Up``/``This``), the util map
(``strings``, ``json``, ``uid``, ``util`` + legacy aliases), the ``dpl`` functions (WFT processing
only), the deprecated flat config functions, the integration plugins' objects, and the config
access objects (``config``, ``inventory``, ``runtime``). Later sources override earlier ones;
plugin and config objects merge into an existing map of the same name (Go ``copyMap``). nomadctl
adds ``extra`` on top (property-map ``ToPtree``, call-time plugin objects).

Instead of materialising that map for every field, names are resolved one by one in reverse
order; the library's part is merged once per ``FunctionLibrary``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Final, Protocol, runtime_checkable

from nomadctl.manifest.expr.natures import INT, WFNODE_PTR, GoFunc
from nomadctl.manifest.expr.values import RoleRef

if TYPE_CHECKING:
    from nomadctl.manifest.expr.functions import FunctionLibrary

__all__ = [
    "MISSING",
    "DplResolver",
    "EvalContext",
    "RoleRef",
    "copy_map",
    "full_environment",
    "lookup",
]


@runtime_checkable
class DplResolver(Protocol):
    """JIT DPL sub-workflow generation, implemented by the role-tree engine (``dpl.*``).

    Each method returns the name of the workflow the calling include role loads. The engine
    checks the ``"none"`` argument before calling.
    """

    def generate(self, command: str, ctx: EvalContext) -> str:
        """``dpl.Generate(cmd)``: a workflow from a raw DPL command."""
        ...

    def generate_from_uri(self, name: str, ctx: EvalContext) -> str:
        """``dpl.GenerateFromUri(name)``: a workflow from the command in ``jit/<name>``."""
        ...

    def generate_from_uri_or_fallback(self, name: str, ctx: EvalContext) -> str:
        """``dpl.GenerateFromUriOrFallbackToTemplate(name)``: as above, or ``name`` itself when
        there is no ``jit/<name>`` (the static ``workflows/<name>.yaml`` is included instead)."""
        ...


_EMPTY: Mapping[str, object] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class EvalContext:
    """Everything one evaluation of a template or expression can see.

    ``variables`` is the consolidated variable stack, already merged by precedence.
    ``parent_chain`` lists the role's ancestors, parent first and root last; ``None`` means there
    is no object stack at all (task-template templating), and then ``Parent``, ``Up`` and
    ``This`` are unknown names. ``this`` enables ``This()`` (AliECS stages 4-5). ``extra`` adds
    names that override everything else.
    """

    variables: Mapping[str, str]
    library: FunctionLibrary
    parent_chain: tuple[RoleRef, ...] | None = None
    this: RoleRef | None = None
    extra: Mapping[str, object] = field(default_factory=lambda: _EMPTY)


class _Missing:
    __slots__ = ()

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Final = _Missing()


# ---------------------------------------------------------------- the object stack


def _parent(ctx: EvalContext) -> RoleRef | None:
    chain = ctx.parent_chain
    return chain[0] if chain else None


def _up(ctx: EvalContext, levels: int) -> RoleRef | None:
    chain = ctx.parent_chain or ()
    if levels <= 0 or levels > len(chain):
        # beyond the root, AliECS reaches the ParentAdapter, which is not a role: nil
        return None
    return chain[levels - 1]


def _this(ctx: EvalContext) -> RoleRef | None:
    return ctx.this


PARENT = GoFunc("Parent", _parent, (), WFNODE_PTR, needs_ctx=True)
UP = GoFunc("Up", _up, (INT,), WFNODE_PTR, needs_ctx=True)
THIS = GoFunc("This", _this, (), WFNODE_PTR, needs_ctx=True)


def copy_map(src: Mapping[str, object], dest: dict[str, object]) -> None:
    """Go ``copyMap``: copy ``src`` into ``dest``, merging nested maps instead of replacing them."""
    for key, value in src.items():
        if isinstance(value, Mapping):
            existing = dest.get(key)
            merged: dict[str, object] = dict(existing) if isinstance(existing, Mapping) else {}
            copy_map(value, merged)
            dest[key] = merged
        else:
            dest[key] = value


def lookup(ctx: EvalContext, name: str) -> object:
    """The value ``name`` has for an expression evaluated in ``ctx``, or ``MISSING``."""
    extra = ctx.extra
    if extra and name in extra:
        value = extra[name]
        if isinstance(value, Mapping):
            below = _lookup_below_extra(ctx, name)
            if isinstance(below, Mapping):
                merged: dict[str, object] = dict(below)
                copy_map(value, merged)
                return merged
        return value
    return _lookup_below_extra(ctx, name)


def _lookup_below_extra(ctx: EvalContext, name: str) -> object:
    value = ctx.library.namespace.get(name, MISSING)
    if value is not MISSING:
        return value
    if ctx.parent_chain is not None:
        if name == "Parent":
            return PARENT
        if name == "Up":
            return UP
    if name == "This" and ctx.this is not None:
        return THIS
    return ctx.variables.get(name, MISSING)


def full_environment(ctx: EvalContext) -> dict[str, object]:
    """The whole environment as one map (what ``$env`` denotes)."""
    env: dict[str, object] = dict(ctx.variables)
    if ctx.parent_chain is not None:
        env["Parent"] = PARENT
        env["Up"] = UP
    if ctx.this is not None:
        env["This"] = THIS
    env.update(ctx.library.namespace)
    copy_map(ctx.extra, env)
    return env
