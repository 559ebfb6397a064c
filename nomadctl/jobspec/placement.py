"""Placement variables: manifest variables that AliECS ignores and nomadctl reads.

Any role may set them in its own ``defaults``/``vars``; tasks see the consolidated values in
``TaskInstance.vars`` (so ``--var`` overrides them as usual). See ``docs/jobspec.md``.

==================== ============================================ ===========================
variable             meaning                                      Nomad
==================== ============================================ ===========================
nomad_replicas       n: the role that sets it becomes one         group ``count = n`` +
                     replicated group with every task below it    ``distinct_hosts``
nomad_max_fail       m: replicas allowed to fail (nmin = n - m)   group meta ``nomadctl.nmin``
nomad_node_pool      node pool of the tasks                       job ``node_pool`` (or a
                                                                  ``${node.pool}`` constraint)
nomad_node_class     node class of the tasks                      ``${node.class}`` constraint
nomad_gpus           GPUs per task                                ``device "<vendor>/gpu"``
nomad_gpu_vendor     ``nvidia`` (default) or ``amd``              device name / node meta
nomad_priority       job priority (1..job_max_priority)           job ``priority``
nomad_namespace      Nomad namespace of the job                   job ``namespace``
nomad_vault_role     Vault role for ``vault:`` env references     ``vault { role }``
nomad_vault_policies legacy (< 1.7) Vault policies, comma list    ``vault { policies }``
==================== ============================================ ===========================
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from nomadctl.errors import PlanError
from nomadctl.plan import EnvironmentPlan, RoleNode, TaskInstance

REPLICAS = "nomad_replicas"
MAX_FAIL = "nomad_max_fail"
NODE_POOL = "nomad_node_pool"
NODE_CLASS = "nomad_node_class"
GPUS = "nomad_gpus"
GPU_VENDOR = "nomad_gpu_vendor"
PRIORITY = "nomad_priority"
NAMESPACE = "nomad_namespace"
VAULT_ROLE = "nomad_vault_role"
VAULT_POLICIES = "nomad_vault_policies"

PLACEMENT_VARS = (
    REPLICAS,
    MAX_FAIL,
    NODE_POOL,
    NODE_CLASS,
    GPUS,
    GPU_VENDOR,
    PRIORITY,
    NAMESPACE,
    VAULT_ROLE,
    VAULT_POLICIES,
)
GPU_VENDORS = ("nvidia", "amd")
# Nomad's hard ceiling for job_max_priority (server config); the usual limit is 100.
PRIORITY_CEILING = 32766


@dataclass(frozen=True, slots=True)
class TaskPlacement:
    """The placement variables one task sees, parsed and checked."""

    gpus: int = 0
    gpu_vendor: str = "nvidia"
    node_pool: str | None = None
    node_class: str | None = None
    priority: int | None = None
    namespace: str | None = None
    vault_role: str | None = None
    vault_policies: tuple[str, ...] | None = None


def _text(vars_: Mapping[str, str], key: str) -> str | None:
    value = vars_.get(key)
    if value is None:
        return None
    value = value.strip()
    return value or None


def parse_int(value: str, *, key: str, role_path: str, low: int, high: int | None = None) -> int:
    """``value`` as a whole number in ``[low, high]``; a ``PlanError`` naming role and variable."""
    try:
        number = int(value.strip())
    except ValueError:
        raise PlanError(f"must be a whole number, got {value!r}", role_path=role_path, field=key) from None
    if number < low or (high is not None and number > high):
        bound = f"between {low} and {high}" if high is not None else f">= {low}"
        raise PlanError(f"must be {bound}, got {number}", role_path=role_path, field=key)
    return number


def task_placement(task: TaskInstance) -> TaskPlacement:
    """Parse the placement variables visible to ``task``."""
    v = task.vars
    gpus_text = _text(v, GPUS)
    gpus = parse_int(gpus_text, key=GPUS, role_path=task.path, low=0) if gpus_text else 0
    vendor = (_text(v, GPU_VENDOR) or "nvidia").lower()
    if vendor not in GPU_VENDORS:
        raise PlanError(
            f"must be one of {', '.join(GPU_VENDORS)}, got {vendor!r}", role_path=task.path, field=GPU_VENDOR
        )
    prio_text = _text(v, PRIORITY)
    priority = (
        parse_int(prio_text, key=PRIORITY, role_path=task.path, low=1, high=PRIORITY_CEILING)
        if prio_text
        else None
    )
    policies_text = _text(v, VAULT_POLICIES)
    policies = tuple(p.strip() for p in policies_text.split(",") if p.strip()) if policies_text else None
    return TaskPlacement(
        gpus=gpus,
        gpu_vendor=vendor,
        node_pool=_text(v, NODE_POOL),
        node_class=_text(v, NODE_CLASS),
        priority=priority,
        namespace=_text(v, NAMESPACE),
        vault_role=_text(v, VAULT_ROLE),
        vault_policies=policies,
    )


def replicated_roots(plan: EnvironmentPlan) -> list[RoleNode]:
    """The outermost roles that set ``nomad_replicas`` in their own defaults or vars."""
    roots: list[RoleNode] = []

    def visit(node: RoleNode) -> None:
        if REPLICAS in node.defaults or REPLICAS in node.vars:
            roots.append(node)
            return
        for child in node.children:
            visit(child)

    visit(plan.root)
    return roots


def under(path: str, root: str) -> bool:
    """Whether role ``path`` is ``root`` or lies below it."""
    return path == root or path.startswith(root + ".")


@dataclass(frozen=True, slots=True)
class Replication:
    """A replicated group's size: ``count`` replicas of which ``max_fail`` may fail."""

    count: int
    max_fail: int

    @property
    def nmin(self) -> int:
        return max(self.count - self.max_fail, 0)


def replication(root: RoleNode, tasks: list[TaskInstance]) -> Replication:
    """n and m of the replicated group rooted at ``root``, from its tasks' consolidated vars.

    Every task below the root must see the same values (a child overriding them would split the
    group, which is not expressible as one Nomad group).
    """
    seen: dict[tuple[str, str], str] = {}
    for task in tasks:
        key = (_text(task.vars, REPLICAS) or "", _text(task.vars, MAX_FAIL) or "0")
        seen.setdefault(key, task.path)
    if len(seen) > 1:
        (a, pa), (b, pb) = list(seen.items())[:2]
        raise PlanError(
            f"tasks of one replicated group disagree: {pa} has {a}, {pb} has {b}",
            role_path=root.path,
            field=REPLICAS,
        )
    (replicas_text, fail_text), _ = next(iter(seen.items()))
    if not replicas_text:
        raise PlanError("is empty", role_path=root.path, field=REPLICAS)
    count = parse_int(replicas_text, key=REPLICAS, role_path=root.path, low=0)
    # As ODC/gen_topo: nmin = n > m ? n - m : 0, so m > n is allowed and means nmin = 0.
    max_fail = parse_int(fail_text, key=MAX_FAIL, role_path=root.path, low=0)
    return Replication(count=count, max_fail=max_fail)
