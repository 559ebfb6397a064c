"""Placement rules Nomad CE cannot enforce, checked before a job is planned or registered.

Nomad CE enforces a namespace's task-driver list at registration, but it cannot bind a namespace
to node pools (``node_pool_config`` is Enterprise), has no per-namespace priority ceiling in any
edition, and does not tie raw_exec to node pools (only the client agents' plugin configuration
does). ``PlacementTable`` holds those rules (from ``policies/namespaces.hcl``, or from the
``nomadctl.*`` meta that ``nomadctl policies apply`` writes on each namespace) and ``admit()``
refuses a job that breaks them.

How the controller uses it, before every ``plan_job``/``register_job`` of a job it rendered::

    table = admission.PlacementTable.from_namespaces(nomad_acl.namespaces())   # or spec.load(...)
    job = admission.fill_defaults(job, table)    # the namespace's default priority, if unset
    admission.admit(job, table)                  # PlanError naming the job and every violation

Pure: no I/O, no clients; the job is Nomad API JSON (``{"Job": {...}}`` or the bare job).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from nomadctl.errors import PlanError

__all__ = [
    "META_DEFAULT_PRIORITY",
    "META_NODE_POOLS",
    "META_PRIORITY",
    "META_RAW_EXEC_POOLS",
    "NamespaceRules",
    "PlacementTable",
    "Violation",
    "admit",
    "fill_defaults",
    "violations",
]

NOMAD_DEFAULT_NAMESPACE = "default"
NOMAD_DEFAULT_POOL = "default"
NOMAD_ALL_POOLS = "all"
NOMAD_DEFAULT_PRIORITY = 50  # the server's job_default_priority unless an operator changed it
RAW_EXEC = "raw_exec"
NODE_POOL_TARGET = "${node.pool}"

META_NODE_POOLS = "nomadctl.node_pools"
META_PRIORITY = "nomadctl.priority"
META_DEFAULT_PRIORITY = "nomadctl.priority_default"
META_RAW_EXEC_POOLS = "nomadctl.raw_exec_node_pools"


@dataclass(frozen=True, slots=True)
class NamespaceRules:
    """What jobs of one namespace may do: node pools, priority range, task drivers.

    ``enabled_task_drivers`` empty means any driver not in ``disabled_task_drivers`` (Nomad's own
    rule for namespace capabilities).
    """

    name: str
    node_pools: tuple[str, ...]
    priority_min: int = 1
    priority_max: int = 100
    priority_default: int | None = None
    enabled_task_drivers: tuple[str, ...] = ()
    disabled_task_drivers: tuple[str, ...] = ()

    def allows_driver(self, driver: str) -> bool:
        """Whether Nomad lets a task of this namespace use ``driver``."""
        if driver in self.disabled_task_drivers:
            return False
        return not self.enabled_task_drivers or driver in self.enabled_task_drivers

    def to_meta(self, raw_exec_pools: Sequence[str]) -> dict[str, str]:
        """The ``nomadctl.*`` namespace meta that carries these rules in Nomad."""
        meta = {
            META_NODE_POOLS: ",".join(self.node_pools),
            META_PRIORITY: f"{self.priority_min}-{self.priority_max}",
            META_RAW_EXEC_POOLS: ",".join(raw_exec_pools),
        }
        if self.priority_default is not None:
            meta[META_DEFAULT_PRIORITY] = str(self.priority_default)
        return meta


class NamespaceLike(Protocol):
    """What ``PlacementTable.from_namespaces`` reads of a Nomad namespace."""

    @property
    def name(self) -> str: ...
    @property
    def meta(self) -> Mapping[str, str]: ...
    @property
    def enabled_task_drivers(self) -> Sequence[str]: ...
    @property
    def disabled_task_drivers(self) -> Sequence[str]: ...


def _csv(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split(",") if part.strip())


@dataclass(frozen=True, slots=True)
class PlacementTable:
    """The rules of every namespace nomadctl may place jobs in, and the raw_exec node pools."""

    namespaces: Mapping[str, NamespaceRules]
    raw_exec_pools: tuple[str, ...]

    def rules(self, namespace: str) -> NamespaceRules | None:
        """The rules of ``namespace``, or ``None`` if it is not in the table."""
        return self.namespaces.get(namespace)

    @classmethod
    def from_namespaces(cls, namespaces: Iterable[NamespaceLike]) -> PlacementTable:
        """The table carried by Nomad namespaces' ``nomadctl.*`` meta.

        Namespaces without that meta are left out (jobs there are refused); a malformed value
        raises ``PlanError`` naming the namespace and key.
        """
        table: dict[str, NamespaceRules] = {}
        raw_exec: set[str] = set()
        for ns in namespaces:
            meta = ns.meta
            if META_NODE_POOLS not in meta:
                continue
            try:
                low, _, high = meta.get(META_PRIORITY, "1-100").partition("-")
                default = meta.get(META_DEFAULT_PRIORITY)
                table[ns.name] = NamespaceRules(
                    name=ns.name,
                    node_pools=_csv(meta[META_NODE_POOLS]),
                    priority_min=int(low),
                    priority_max=int(high),
                    priority_default=int(default) if default else None,
                    enabled_task_drivers=tuple(ns.enabled_task_drivers),
                    disabled_task_drivers=tuple(ns.disabled_task_drivers),
                )
            except ValueError as exc:
                raise PlanError(
                    f"namespace {ns.name!r}: malformed nomadctl meta: {exc}", field=META_PRIORITY
                ) from exc
            raw_exec.update(_csv(meta.get(META_RAW_EXEC_POOLS, "")))
        return cls(namespaces=table, raw_exec_pools=tuple(sorted(raw_exec)))


@dataclass(frozen=True, slots=True)
class Violation:
    """One broken rule: the job field concerned and what is wrong."""

    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


def _job_object(job: Mapping[str, Any]) -> Mapping[str, Any]:
    inner = job.get("Job")
    return inner if isinstance(inner, Mapping) and "ID" not in job else job


def _pool_constraints(constraints: Any) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for c in constraints or ():
        if isinstance(c, Mapping) and c.get("LTarget") == NODE_POOL_TARGET:
            out.append((str(c.get("Operand") or "="), str(c.get("RTarget") or "")))
    return out


def _group_pools(job: Mapping[str, Any], group: Mapping[str, Any], tasks: Sequence[Any]) -> set[str] | None:
    """The pools a group can land in; ``None`` when unknown (any pool)."""
    pool = str(job.get("NodePool") or NOMAD_DEFAULT_POOL)
    constraints = _pool_constraints(job.get("Constraints"))
    constraints += _pool_constraints(group.get("Constraints"))
    for task in tasks:
        if isinstance(task, Mapping):
            constraints += _pool_constraints(task.get("Constraints"))
    pinned: set[str] | None = None if pool == NOMAD_ALL_POOLS else {pool}
    for operand, target in constraints:
        if operand in ("=", "==", "is"):
            wanted = {target}
        elif operand == "set_contains_any":
            wanted = set(_csv(target))
        else:
            continue  # other operands narrow nothing we can reason about
        pinned = wanted if pinned is None else pinned & wanted
    return pinned


def violations(job: Mapping[str, Any], table: PlacementTable) -> list[Violation]:
    """Every rule of ``table`` that ``job`` breaks (empty: the job may be submitted)."""
    job = _job_object(job)
    namespace = str(job.get("Namespace") or NOMAD_DEFAULT_NAMESPACE)
    rules = table.rules(namespace)
    if rules is None:
        known = ", ".join(sorted(table.namespaces)) or "none"
        return [
            Violation("Namespace", f"namespace {namespace!r} is not one nomadctl places jobs in ({known})")
        ]
    found: list[Violation] = []
    priority = job.get("Priority") or NOMAD_DEFAULT_PRIORITY
    if not isinstance(priority, int) or not rules.priority_min <= priority <= rules.priority_max:
        found.append(
            Violation(
                "Priority",
                f"priority {priority} is outside {rules.priority_min}..{rules.priority_max} "
                f"of namespace {namespace!r}",
            )
        )
    allowed = set(rules.node_pools)
    raw_exec_pools = set(table.raw_exec_pools)
    for group in job.get("TaskGroups") or ():
        if not isinstance(group, Mapping):
            continue
        gname = str(group.get("Name") or "?")
        tasks = [t for t in group.get("Tasks") or () if isinstance(t, Mapping)]
        pools = _group_pools(job, group, tasks)
        if pools is None:
            found.append(
                Violation(
                    f"TaskGroups[{gname}]",
                    f"node pool 'all' without a ${{node.pool}} constraint: may land outside "
                    f"{sorted(allowed)} of namespace {namespace!r}",
                )
            )
        elif not pools <= allowed:
            found.append(
                Violation(
                    f"TaskGroups[{gname}]",
                    f"node pool {', '.join(sorted(pools - allowed))} is not allowed in namespace "
                    f"{namespace!r} (allowed: {', '.join(sorted(allowed))})",
                )
            )
        for task in tasks:
            driver = str(task.get("Driver") or "")
            where = f"TaskGroups[{gname}].Tasks[{task.get('Name') or '?'}].Driver"
            if not rules.allows_driver(driver):
                found.append(Violation(where, f"driver {driver!r} is not allowed in namespace {namespace!r}"))
            elif driver == RAW_EXEC and (pools is None or not pools <= raw_exec_pools):
                outside = "any pool" if pools is None else ", ".join(sorted(pools - raw_exec_pools))
                found.append(
                    Violation(
                        where,
                        f"raw_exec may only run in node pools {', '.join(sorted(raw_exec_pools))}, "
                        f"not {outside}",
                    )
                )
    return found


def admit(job: Mapping[str, Any], table: PlacementTable) -> None:
    """Raise ``PlanError`` naming the job and every violation, unless ``job`` breaks no rule."""
    found = violations(job, table)
    if found:
        job_id = str(_job_object(job).get("ID") or "?")
        raise PlanError(
            f"job {job_id!r} refused by the placement rules: " + "; ".join(str(v) for v in found),
            field=found[0].field,
        )


def fill_defaults(job: Mapping[str, Any], table: PlacementTable) -> dict[str, Any]:
    """A copy of ``job`` (same form) whose unset ``Priority`` is its namespace's default."""
    wrapped = "Job" in job and "ID" not in job
    inner = dict(_job_object(job))
    rules = table.rules(str(inner.get("Namespace") or NOMAD_DEFAULT_NAMESPACE))
    if rules is not None and rules.priority_default is not None and not inner.get("Priority"):
        inner["Priority"] = rules.priority_default
    if wrapped:
        return {**job, "Job": inner}
    return inner
