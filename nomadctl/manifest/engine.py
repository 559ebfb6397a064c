"""Staged evaluation of the role tree, as AliECS ``ProcessTemplates`` does it (reference §1.3-§1.5).

For every role, in manifest order, depth first:

====== =====================================================  =======================================
stage  fields                                                 variables visible
====== =====================================================  =======================================
0      ``enabled``                                            parent stack + Locals
1      each ``defaults`` entry                                parent stack + Locals
2      each ``vars`` entry                                    + own defaults
4      ``name``; task/call/include fields                     + own vars; ``Parent()/Up()/This()``
5      constraint values, connect targets, bind globals       full stack
====== =====================================================  =======================================

A role whose ``enabled`` is not ``true``/``1`` after stage 0 is pruned before anything else in it
is evaluated (a failing ``enabled`` expression disables silently, as in AliECS). Entries of one
map never see each other. Precedence is by category first (user vars > vars > defaults at any
depth), depth second. Iterators evaluate their range against the parent stack only, generate one
role per value with ``Locals[var]`` and add no path segment. An include role keeps its name and
parent, its own defaults/vars become a layer under the included root's, and everything else comes
from the included root. An aggregator without enabled children is disabled.

The result is a tree of ``ERole`` (mutable, internal); ``nomadctl.manifest.build`` turns it into
the frozen ``EnvironmentPlan``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from nomadctl import durations
from nomadctl.errors import ManifestError
from nomadctl.manifest.expr import EvalContext, FunctionLibrary, RoleRef, compile_template
from nomadctl.manifest.repo import ConfigRepo
from nomadctl.manifest.schema import Kind, RawChannel, RawRole, Text, parse_workflow
from nomadctl.manifest.stack import Layer, StackView
from nomadctl.plan import Constraint, SourceRef

_ATOI = re.compile(r"^[+-]?[0-9]+$")
_MAX_ITERATIONS = 100_000
REPLICAS_VAR = "nomad_replicas"


@dataclass(slots=True)
class Stats:
    """Counters for the benchmark: template renders that evaluated at least one expression."""

    evaluations: int = 0
    roles: int = 0


@dataclass(frozen=True, slots=True)
class EvChannel:
    """A channel with its role-level templated fields evaluated (stage 5)."""

    raw: RawChannel
    target: str
    global_alias: str
    file: str
    role_path: str

    @property
    def name(self) -> str:
        return self.raw.name


@dataclass(frozen=True, slots=True)
class Frame:
    """What a role hands down to its children: its path, object stack, variable layers and the
    constraints and channels collected from the root down to it."""

    path: str
    chain: tuple[RoleRef, ...]
    defaults: tuple[Layer, ...]
    vars: tuple[Layer, ...]
    constraints: tuple[Constraint, ...] = ()
    connect: tuple[EvChannel, ...] = ()
    bind: tuple[EvChannel, ...] = ()
    includes: tuple[str, ...] = ()
    group: str | None = None


@dataclass(slots=True)
class ERole:
    """An evaluated, enabled role."""

    kind: Kind
    name: str
    path: str
    parent_path: str
    source: SourceRef
    frame: Frame
    defaults: dict[str, str]
    vars: dict[str, str]
    constraints: tuple[Constraint, ...]
    critical: bool = True
    children: list[ERole] = field(default_factory=list)
    load: str = ""
    func: str = ""
    func_line: int | None = None
    return_var: str = ""
    trigger: str = ""
    await_: str = ""
    timeout: str = "0s"
    include: str | None = None
    task_class: str | None = None


def merge_constraints(own: tuple[Constraint, ...], parent: tuple[Constraint, ...]) -> tuple[Constraint, ...]:
    """``Constraints.MergeParent``: the parent's list with same-attribute entries replaced."""
    merged = list(parent)
    for ct in own:
        for j, existing in enumerate(merged):
            if existing.attribute == ct.attribute:
                merged[j] = ct
                break
        else:
            merged.append(ct)
    return tuple(merged)


def merge_channels(high: tuple[EvChannel, ...], low: tuple[EvChannel, ...]) -> tuple[EvChannel, ...]:
    """``MergeInbound``/``MergeOutbound``: ``high`` first, then ``low`` entries with new names.

    AliECS merges duplicates with mergo on a loop copy, so the lower-priority duplicate is dropped.
    """
    if not low:
        return high
    if not high:
        return low
    out = list(high)
    names = {ch.name for ch in high}
    for ch in low:
        if ch.name not in names:
            names.add(ch.name)
            out.append(ch)
    return tuple(out)


def _join(parent: str, name: str) -> str:
    return f"{parent}.{name}" if parent else name


class Stage:
    """Renders the fields of one evaluation stage against one snapshot of the variables."""

    __slots__ = ("_ctx", "chain", "file", "layers", "library", "role_path", "stats", "this")

    def __init__(
        self,
        layers: tuple[Layer, ...],
        library: FunctionLibrary,
        chain: tuple[RoleRef, ...] | None,
        *,
        file: str,
        role_path: str,
        stats: Stats,
        this: RoleRef | None = None,
    ) -> None:
        self.layers = layers
        self.library = library
        self.chain = chain
        self.this = this
        self.file = file
        self.role_path = role_path
        self.stats = stats
        self._ctx: EvalContext | None = None

    def ctx(self) -> EvalContext:
        if self._ctx is None:
            self._ctx = EvalContext(
                StackView(self.layers), self.library, parent_chain=self.chain, this=self.this
            )
        return self._ctx

    def render(self, value: Text, what: str) -> str:
        try:
            template = compile_template(value.text)
            if template.is_static:
                return template.text
            self.stats.evaluations += 1
            return template.render(self.ctx())
        except ManifestError as err:
            raise err.locate(file=self.file, line=value.line, role_path=self.role_path, field=what) from None


class Evaluator:
    """Evaluates a workflow's role tree against global layers and user vars."""

    def __init__(
        self,
        repo: ConfigRepo,
        wft_library: FunctionLibrary,
        tt_library: FunctionLibrary,
        *,
        user_vars: Mapping[str, str],
        stats: Stats,
        warnings: list[str],
    ) -> None:
        self.repo = repo
        self.wft_library = wft_library
        self.tt_library = tt_library
        self.user = user_vars
        self.stats = stats
        self.warnings = warnings
        self._workflows: dict[str, RawRole] = {}

    def warn(self, message: str) -> None:
        if message not in self.warnings:
            self.warnings.append(message)

    # -- loading ----------------------------------------------------------------------------

    def workflow(self, name: str) -> RawRole:
        """The raw root of ``workflows/<name>.yaml`` (parsed once per plan)."""
        raw = self._workflows.get(name)
        if raw is None:
            path = self.repo.workflow_path(name)
            if not self.repo.exists(path):
                raise ManifestError(f"workflow template '{name}' not found", file=path)
            raw = parse_workflow(self.repo.parse(path), path)
            for message in raw.warnings:
                self.warn(message)
            self._workflows[name] = raw
        return raw

    def evaluate(self, workflow: str, global_defaults: Layer, global_vars: Layer) -> ERole:
        """Load and evaluate ``workflow``; the root name must equal the file name."""
        raw = self.workflow(workflow)
        if raw.name.text != workflow:
            raise ManifestError(
                f"the name of the workflow template file and the name of the workflow don't match "
                f"(name: '{raw.name.text}' in {workflow}.yaml)",
                file=raw.file,
                line=raw.name.line or raw.line,
                field="name",
            )
        env = Frame(path="", chain=(), defaults=(global_defaults,), vars=(global_vars,), includes=(workflow,))
        root = self.role(raw, env, {})
        if root is None:
            raise ManifestError(
                "the workflow is empty: its root role is disabled or has no enabled roles",
                file=raw.file,
                line=raw.line,
                role_path=raw.name.text,
            )
        return root

    # -- roles ------------------------------------------------------------------------------

    def children(self, raws: tuple[RawRole, ...], frame: Frame) -> tuple[list[ERole], bool]:
        """The enabled children, and whether AliECS counts at least one child as enabled.

        An iterator stays in its aggregator's child list when its raw ``enabled`` is true, even
        if it generated no role, so such an aggregator is not disabled (AliECS counts
        ``len(r.Roles)`` before flattening iterators).
        """
        out: list[ERole] = []
        kept_iterator = False
        for raw in raws:
            if raw.kind is Kind.ITERATOR:
                out.extend(self.iterator(raw, frame))
                kept_iterator |= raw.enabled.text.strip().lower() in ("true", "1")
            else:
                role = self.role(raw, frame, {})
                if role is not None:
                    out.append(role)
        seen: dict[str, ERole] = {}
        for role in out:
            other = seen.get(role.name)
            if other is not None:
                raise ManifestError(
                    f"two enabled sibling roles are both named '{role.name}' ({other.source} and "
                    f"{role.source}); make their enabled conditions exclusive",
                    file=role.source.file,
                    line=role.source.line,
                    role_path=role.path,
                    field="name",
                )
            seen[role.name] = role
        return out, bool(out) or kept_iterator

    def iterator(self, raw: RawRole, parent: Frame) -> list[ERole]:
        assert raw.for_ is not None
        assert raw.template is not None
        spec = raw.for_
        path = _join(parent.path, raw.name.text)
        # The range sees the parent's flattened defaults/vars/user vars only: no Locals, no
        # Parent()/Up(), no dpl.* (iteratorrange.go runs Fields.Execute without object stack/repo).
        stage = Stage(
            (self.user, *parent.vars, *parent.defaults),
            self.tt_library,
            None,
            file=raw.file,
            role_path=path,
            stats=self.stats,
        )
        values: list[str]
        if spec.range is not None:
            text = stage.render(spec.range, "for.range")
            values = self._json_strings(text, raw, path, spec.range.line)
        else:
            assert spec.begin is not None
            assert spec.end is not None
            begin = stage.render(spec.begin, "for.begin")
            end = stage.render(spec.end, "for.end")
            for what, value, line in (("for.begin", begin, spec.begin.line), ("for.end", end, spec.end.line)):
                if not _ATOI.match(value):
                    raise ManifestError(
                        f'strconv.Atoi: parsing "{value}": invalid syntax',
                        file=raw.file,
                        line=line,
                        role_path=path,
                        field=what,
                    )
            lo, hi = int(begin), int(end)
            if hi - lo + 1 > _MAX_ITERATIONS:
                raise ManifestError(
                    f"iterator range {lo}..{hi} is larger than {_MAX_ITERATIONS}",
                    file=raw.file,
                    line=spec.begin.line,
                    role_path=path,
                    field="for",
                )
            values = [str(j) for j in range(lo, hi + 1)]
        out = [r for value in values if (r := self.role(raw.template, parent, {spec.var: value})) is not None]
        # AliECS filters the iterator itself by its template's *unevaluated* enabled text.
        if raw.enabled.text.strip().lower() not in ("true", "1"):
            self.warn(
                f"{raw.file}:{raw.enabled.line}: {path}: enabled: an iterator's enabled is not evaluated by "
                "AliECS (its raw text is tested), so the whole iterator is dropped; put the condition on "
                "the generated roles"
            )
            return []
        return out

    def _json_strings(self, text: str, raw: RawRole, path: str, line: int | None) -> list[str]:
        """``json.Unmarshal`` into ``[]string``: ``null`` is no iteration, numbers are errors."""

        def fail(message: str) -> ManifestError:
            return ManifestError(message, file=raw.file, line=line, role_path=path, field="for.range")

        try:
            value = json.loads(text)
        except json.JSONDecodeError:
            if not text.strip():
                raise fail("unexpected end of JSON input (the range evaluated to an empty string)") from None
            raise fail(f"range is not a JSON array of strings: {text[:80]!r}") from None
        if value is None:
            return []
        if not isinstance(value, list):
            raise fail(
                f"json: cannot unmarshal {type(value).__name__} into Go value of type []string: {text[:80]!r}"
            )
        for item in value:
            if not isinstance(item, str):
                kind = (
                    "number"
                    if isinstance(item, int | float) and not isinstance(item, bool)
                    else type(item).__name__
                )
                raise fail(f"json: cannot unmarshal {kind} into Go value of type string ({text[:80]!r})")
        if len(value) > _MAX_ITERATIONS:
            raise fail(f"range has more than {_MAX_ITERATIONS} values")
        return value

    def role(
        self,
        raw: RawRole,
        parent: Frame,
        local_vars: dict[str, str],
        *,
        included_as: tuple[str, str, Frame] | None = None,
    ) -> ERole | None:
        """Evaluate one (non-iterator) role; ``None`` when it is disabled and pruned.

        ``included_as`` = (name, path, include frame) when ``raw`` is an included root: it then
        keeps the include role's name and path, sees the include role's layers as its parent
        layers and the include role's parent as its object-stack parent.
        """
        self.stats.roles += 1
        wft = self.wft_library
        if included_as is None:
            raw_path = _join(parent.path, raw.name.text)
            layer_parent = parent
        else:
            raw_path = included_as[1]
            layer_parent = included_as[2]
        if local_vars:
            raw_path += "[" + ",".join(f"{k}={v}" for k, v in local_vars.items()) + "]"
        defaults_chain = layer_parent.defaults
        vars_chain = layer_parent.vars

        # Stage 0 (enabled) and stage 1 (defaults) see the parent stack and the Locals only.
        parent_layers = (local_vars, self.user, *vars_chain, *defaults_chain)
        stage0 = Stage(parent_layers, wft, parent.chain, file=raw.file, role_path=raw_path, stats=self.stats)
        try:
            enabled = stage0.render(raw.enabled, "enabled")
        except ManifestError as err:
            # AliECS: a failing `enabled` leaves the raw text, which is not "true": disabled.
            self.warn(f"{err.one_line()} (role disabled, as AliECS does when enabled fails)")
            return None
        if enabled.strip().lower() not in ("true", "1"):
            return None

        own_defaults = {key: stage0.render(value, f"defaults.{key}") for key, value in raw.defaults}
        stage2 = Stage(
            (local_vars, self.user, *vars_chain, own_defaults, *defaults_chain),
            wft,
            parent.chain,
            file=raw.file,
            role_path=raw_path,
            stats=self.stats,
        )
        own_vars = {key: stage2.render(value, f"vars.{key}") for key, value in raw.vars}
        full_layers = (local_vars, self.user, own_vars, *vars_chain, own_defaults, *defaults_chain)

        # Stage 4: name first (This() then still has the raw name, as in AliECS), then the rest.
        if included_as is None:
            name_stage = Stage(
                full_layers,
                wft,
                parent.chain,
                this=RoleRef(raw.name.text, raw_path),
                file=raw.file,
                role_path=raw_path,
                stats=self.stats,
            )
            name = name_stage.render(raw.name, "name")
            path = _join(parent.path, name)
        else:
            name, path = included_as[0], included_as[1]
        this = RoleRef(name, path)
        stage4 = Stage(
            full_layers, wft, parent.chain, file=raw.file, role_path=path, stats=self.stats, this=this
        )

        role = ERole(
            kind=raw.kind,
            name=name,
            path=path,
            parent_path=parent.path,
            source=SourceRef(raw.file, raw.line),
            frame=parent,  # replaced below
            defaults=own_defaults,
            vars=own_vars,
            constraints=(),
            critical=raw.critical,
        )
        if raw.kind is Kind.TASK:
            assert raw.load is not None
            role.load = stage4.render(raw.load, "task.load")
            self._traits(role, raw, stage4, "task")
        elif raw.kind is Kind.CALL:
            assert raw.func is not None
            assert raw.return_var is not None
            role.func = stage4.render(raw.func, "call.func")
            role.func_line = raw.func.line
            role.return_var = stage4.render(raw.return_var, "call.return")
            self._traits(role, raw, stage4, "call")
        include_ref = ""
        if raw.kind is Kind.INCLUDE:
            assert raw.include is not None
            include_ref = stage4.render(raw.include, "include")

        # Stage 5: constraints, connect targets, bind global aliases.
        constraints = tuple(
            Constraint(ct.attribute, stage4.render(ct.value, f"constraints[{i}].value"))
            for i, ct in enumerate(raw.constraints)
        )
        connect = tuple(
            EvChannel(ch, stage4.render(ch.target, f"connect[{i}].target"), "", raw.file, path)
            for i, ch in enumerate(raw.connect)
        )
        bind = tuple(
            EvChannel(
                ch,
                ch.target.text,
                stage4.render(ch.global_alias, f"bind[{i}].global") if ch.global_alias.text else "",
                raw.file,
                path,
            )
            for i, ch in enumerate(raw.bind)
        )
        role.constraints = constraints

        # Locals become vars of the role after processing, so descendants (and tasks) see them.
        if local_vars:
            own_vars = {**own_vars, **local_vars}
            role.vars = own_vars
        group = path if (REPLICAS_VAR in own_defaults or REPLICAS_VAR in own_vars) else layer_parent.group
        frame = Frame(
            path=path,
            chain=(this, *parent.chain),
            defaults=(own_defaults, *defaults_chain),
            vars=(own_vars, *vars_chain),
            constraints=merge_constraints(constraints, parent.constraints),
            connect=merge_channels(connect, parent.connect),
            bind=merge_channels(bind, parent.bind),
            includes=layer_parent.includes,
            group=group,
        )
        role.frame = frame

        if raw.kind is Kind.AGGREGATOR:
            role.children, alive = self.children(raw.roles, frame)
            if not alive:
                return None
            role.critical = any(child.critical for child in role.children)
        elif raw.kind is Kind.INCLUDE:
            return self._include(role, raw, include_ref, parent, frame)
        return role

    def _traits(self, role: ERole, raw: RawRole, stage: Stage, section: str) -> None:
        role.trigger = stage.render(raw.trigger, f"{section}.trigger")
        role.await_ = stage.render(raw.await_, f"{section}.await")
        role.timeout = stage.render(raw.timeout, f"{section}.timeout")
        try:
            durations.parse_ns(role.timeout)
        except ValueError as err:
            raise ManifestError(
                str(err),
                file=raw.file,
                line=raw.timeout.line,
                role_path=role.path,
                field=f"{section}.timeout",
            ) from None

    def _include(self, role: ERole, raw: RawRole, ref: str, parent: Frame, frame: Frame) -> ERole | None:
        def fail(message: str) -> ManifestError:
            return ManifestError(
                message,
                file=raw.file,
                line=raw.include.line if raw.include else raw.line,
                role_path=role.path,
                field="include",
            )

        if not ref.strip():
            raise fail("include evaluated to an empty workflow name")
        try:
            name = self.repo.resolve(ref, "workflows")
        except ManifestError as err:
            raise err.locate(
                file=raw.file,
                line=raw.include.line if raw.include else raw.line,
                role_path=role.path,
                field="include",
            ) from None
        if name in frame.includes:
            cycle = " -> ".join((*frame.includes, name))
            raise fail(f"include cycle: {cycle}")
        if not self.repo.exists(self.repo.workflow_path(name)):
            raise fail(f"included workflow template '{name}' not found ({self.repo.workflow_path(name)})")
        sub = self.workflow(name)
        include_frame = Frame(
            path=frame.path,
            chain=frame.chain,
            defaults=frame.defaults,
            vars=frame.vars,
            includes=(*frame.includes, name),
            group=frame.group,
        )
        # The included root replaces the role: its constraints and channels merge over the include
        # role's parent, its variables sit on top of the include role's own defaults/vars.
        result = self.role(sub, parent, {}, included_as=(role.name, role.path, include_frame))
        if result is None:
            return None
        result.kind = Kind.INCLUDE
        result.include = name
        result.source = role.source
        result.parent_path = role.parent_path
        result.defaults = {**role.defaults, **result.defaults}
        result.vars = {**role.vars, **result.vars}
        return result
