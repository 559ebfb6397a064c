"""Planning an environment again from its record, as every transition does.

The record keeps the inputs (repo, workflow, user variables, seed, provider file and overlay,
render options); ``Planner.plan`` rebuilds the ``EnvironmentPlan``, refuses with
``ManifestChanged`` when the files no longer give the recorded ``manifest_sha``, and renders the
jobs (``JobSet``, with the group counts ``env scale`` recorded) and the hook index the schedule
needs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from nomadctl.clients.consul import ConsulClient
from nomadctl.controller.errors import ManifestChanged
from nomadctl.controller.record import EnvRecord
from nomadctl.controller.settings import Settings
from nomadctl.jobspec import JobKind, JobSet, NomadVersion, RenderOptions, Split, render
from nomadctl.lifecycle.events import WorkflowTemplateInfo
from nomadctl.lifecycle.hooks import HookIndex
from nomadctl.manifest import build_plan
from nomadctl.plan import EnvironmentPlan
from nomadctl.providers.base import KVProvider
from nomadctl.providers.consul import ConsulKVProvider
from nomadctl.providers.file import FileKVProvider


class OverlayKV:
    """A KV provider with extra keys on top (reads); writes (``runtime.Set``) go to the base."""

    def __init__(self, base: KVProvider, overlay: Mapping[str, str]) -> None:
        self.base = base
        self.overlay = dict(overlay)

    def get(self, key: str) -> str | None:
        return self.overlay[key] if key in self.overlay else self.base.get(key)

    def keys(self, prefix: str) -> list[str]:
        return sorted(set(self.base.keys(prefix)) | {k for k in self.overlay if k.startswith(prefix)})

    def put(self, key: str, value: str) -> None:
        self.base.put(key, value)


@dataclass(frozen=True, slots=True)
class Planned:
    """An environment's plan, its Nomad jobs and its hook index."""

    plan: EnvironmentPlan
    jobset: JobSet
    hooks: HookIndex

    @property
    def workflow(self) -> WorkflowTemplateInfo:
        """AliECS's ``WorkflowTemplateInfo`` of the plan, for events."""
        p = self.plan
        return WorkflowTemplateInfo(
            name=p.workflow,
            description=p.description,
            path=str(Path(p.repo) / "workflows" / f"{p.workflow}.yaml"),
            public=p.public,
        )


def render_options(render_: Mapping[str, Any], settings: Settings) -> RenderOptions:
    """The ``RenderOptions`` of a record's ``render`` map."""
    defaults = RenderOptions()
    return RenderOptions(
        nomad_version=NomadVersion.parse(str(render_["nomad_version"])),
        split=Split(str(render_.get("split", Split.HOST.value))),
        datacenters=tuple(render_.get("datacenters") or ("*",)),
        region=render_.get("region"),
        namespace=render_.get("namespace"),
        host_target=str(render_.get("host_target", defaults.host_target)),
        mhz_per_core=int(render_.get("mhz_per_core", defaults.mhz_per_core)),
        deploy_timeout_s=max(1, round(settings.deploy_timeout)),
    )


class Planner:
    """Plans environments from their records (files and, by default, Consul KV lookups)."""

    def __init__(self, consul: ConsulClient, settings: Settings) -> None:
        self.consul = consul
        self.settings = settings

    def kv(self, providers: str | None, overlay: Mapping[str, str]) -> KVProvider:
        """The template lookups: a provider file, else Consul KV; with ``overlay`` on top."""
        base: KVProvider = FileKVProvider.from_file(providers) if providers else ConsulKVProvider(self.consul)
        return OverlayKV(base, overlay) if overlay else base

    def build(self, plan: EnvironmentPlan, render_: Mapping[str, Any]) -> Planned:
        jobset = render(plan, render_options(render_, self.settings))
        return Planned(plan, jobset, HookIndex.from_plan(plan))

    def plan(self, rec: EnvRecord) -> Planned:
        """Plan ``rec``'s environment again; ``ManifestChanged`` if the manifests differ now."""
        plan = build_plan(
            rec.repo,
            rec.workflow,
            user_vars=rec.user_vars,
            kv=self.kv(rec.providers, rec.kv_overlay),
            env_id=rec.env_id,
            seed=rec.seed,
        )
        if plan.manifest_sha != rec.manifest_sha:
            raise ManifestChanged(
                f"environment {rec.env_id}: the manifests of {rec.workflow} in {rec.repo} changed since it "
                f"was created (manifest_sha {rec.manifest_sha[:12]} -> {plan.manifest_sha[:12]}); destroy it "
                f"(`nomadctl env destroy {rec.env_id} --force` runs no hooks) and create a new one"
            )
        return with_counts(self.build(plan, rec.render), rec.counts)


def with_counts(planned: Planned, counts: Mapping[str, int]) -> Planned:
    """``planned`` with the live group counts ``env scale`` recorded (group name -> count), so
    health is judged against what Nomad runs, not what the manifests first asked for."""
    if not counts:
        return planned
    groups = tuple(
        replace(g, count=counts[g.name]) if g.name in counts and g.job_kind is JobKind.SERVICE else g
        for g in planned.jobset.groups
    )
    return replace(planned, jobset=replace(planned.jobset, groups=groups))
