"""AliECS workflow and task templates: raw-text YAML, the {{ }} expression language, staged role-tree
evaluation -> EnvironmentPlan. Pure: no I/O beyond reading the config repo.

Public API::

    build_plan(repo, workflow, *, user_vars={}, kv=None, env_id=None, seed=None,
               host_attribute="machine_id", plugins=None) -> EnvironmentPlan
    load_var_files(paths) -> dict[str, str]
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping

from nomadctl.manifest.build import MemoryKV, PlanBuilder
from nomadctl.manifest.expr import KVStore as KVProvider
from nomadctl.manifest.repo import ConfigRepo
from nomadctl.manifest.varfiles import load_var_files
from nomadctl.plan import EnvironmentPlan

__all__ = ["build_plan", "load_var_files", "plan_with_stats"]


def plan_with_stats(
    repo: str | os.PathLike[str],
    workflow: str,
    *,
    user_vars: Mapping[str, str] | None = None,
    kv: KVProvider | None = None,
    env_id: str | None = None,
    seed: int | None = None,
    host_attribute: str = "machine_id",
    plugins: Mapping[str, Mapping[str, Callable[..., object]]] | None = None,
) -> tuple[EnvironmentPlan, int]:
    """``build_plan`` plus the number of template evaluations it made (for benchmarks)."""
    name = workflow[: -len(".yaml")] if workflow.endswith(".yaml") else workflow
    builder = PlanBuilder(
        ConfigRepo(repo),
        user_vars=dict(user_vars or {}),
        kv=kv if kv is not None else MemoryKV(),
        env_id=env_id,
        seed=seed,
        host_attribute=host_attribute,
        plugins=plugins,
    )
    plan = builder.build(name)
    return plan, builder.stats.evaluations


def build_plan(
    repo: str | os.PathLike[str],
    workflow: str,
    *,
    user_vars: Mapping[str, str] | None = None,
    kv: KVProvider | None = None,
    env_id: str | None = None,
    seed: int | None = None,
    host_attribute: str = "machine_id",
    plugins: Mapping[str, Mapping[str, Callable[..., object]]] | None = None,
) -> EnvironmentPlan:
    """Load ``workflows/<workflow>.yaml`` from the config repo ``repo`` and evaluate it as AliECS
    would when creating an environment, into a frozen ``EnvironmentPlan``.

    ``user_vars`` are the environment's user variables (var files merged first, then ``--var``;
    values are literal text, never templated). ``kv`` backs the global defaults/vars
    (``o2/runtime/aliecs/{defaults,vars}/*``) and the ``config``/``inventory``/``runtime`` template
    functions; ``None`` is an empty store. ``seed`` makes ``uid.New()``, task ids and the
    environment id (when ``env_id`` is ``None``) reproducible. ``host_attribute`` is the constraint
    attribute that pins a task to a host.

    Raises ``ManifestError`` (one line: ``file:line: role path: field: message``) for bad input
    and ``UsageError`` when ``repo`` is not a directory.
    """
    plan, _ = plan_with_stats(
        repo,
        workflow,
        user_vars=user_vars,
        kv=kv,
        env_id=env_id,
        seed=seed,
        host_attribute=host_attribute,
        plugins=plugins,
    )
    return plan
