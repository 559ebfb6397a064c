"""The task step against Nomad: DEPLOY (plan, register, wait for health), START/STOP of the
run-scoped tasks, and releasing every job of an environment.

* **DEPLOY** first dry-runs every long-running job (``POST /v1/job/:id/plan``). A group whose
  failed placements leave it below its NMIN (a host group with a critical task: any failure) is
  refused with the scheduler's reasons (nodes evaluated/filtered/exhausted, dimensions), as
  ``nomad job plan`` exits 2; a replicated group that can reach NMIN but not its count is
  deployed with a warning. Then every job is registered (service jobs with the plan's
  ``JobModifyIndex`` as check index, like ``nomad job run -check-index``; the parameterized run
  and hook jobs as they are) and the controller waits — blocking queries on the environment's
  allocations, never a polling loop — until every critical host group is healthy and every
  replicated group has at least NMIN healthy allocations, within ``deploy_timeout``. A pinned
  group whose allocation ended cannot come back (no rescheduling for pinned groups) and fails
  the step at once. Groups still below their count are reported as stragglers, not waited for.
* **START_ACTIVITY** dispatches the parameterized run job(s) with the run number in meta
  ``nomadctl.run_number`` and waits until their critical tasks have started; **STOP_ACTIVITY**
  stops the dispatched children and waits until their allocations have stopped.
* **Release** (teardown) stops jobs, waits until their allocations are terminal, then purges
  them, so no job, allocation or Consul service of the environment is left.

Health here is task-state health (``nomadctl.health.predicate``): Consul checks are not part of
the DEPLOY gate, because FairMQ devices bind their ports only at CONFIGURE.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from nomadctl.clients.blocking import next_index
from nomadctl.clients.consul import ConsulClient
from nomadctl.clients.errors import NomadConflict, NomadError, NomadNotFound
from nomadctl.clients.nomad import NomadClient, id_filter
from nomadctl.clients.nomad_models import AllocationBrief, AllocationListStub, AllocationMetric
from nomadctl.controller.errors import PlacementRefused
from nomadctl.controller.observe import EnvObserver, GroupStatus, job_prefix, judge, needed
from nomadctl.controller.settings import Clock, Settings
from nomadctl.errors import PlanError
from nomadctl.jobspec import GroupKind, GroupRef, JobKind, JobSet
from nomadctl.jobspec.mapping import RUN_NUMBER_META

log = logging.getLogger(__name__)

# allocations whose task states one request reads while waiting (see AllocWatcher.batch)
_DETAIL_BATCH = 10

TERMINAL = frozenset({"complete", "failed", "lost"})
Progress = Callable[[str], None]
#: job payload -> the payload to submit (placement rules filled in and checked; ``PlanError``)
Admit = Callable[[dict[str, Any]], dict[str, Any]]


def admit_nothing(payload: dict[str, Any]) -> dict[str, Any]:
    return payload


def metric_reasons(m: AllocationMetric) -> str:
    """The scheduler's reasons in one line, as ``nomad job plan`` prints them."""
    parts = [f"{m.nodes_evaluated} nodes evaluated"]
    if m.nodes_in_pool:
        parts.append(f"{m.nodes_in_pool} in pool {m.node_pool or 'default'}")
    if m.nodes_filtered:
        parts.append(f"{m.nodes_filtered} filtered")
    for what, counts in (("class", m.class_filtered), ("constraint", m.constraint_filtered)):
        parts.extend(f'{what} "{k}" filtered {v} nodes' for k, v in sorted(counts.items()))
    if m.nodes_exhausted:
        parts.append(f"{m.nodes_exhausted} exhausted")
    parts.extend(f'dimension "{k}" exhausted on {v} nodes' for k, v in sorted(m.dimension_exhausted.items()))
    parts.extend(f'quota "{q}" exhausted' for q in m.quota_exhausted)
    return ", ".join(parts)


@dataclass(frozen=True, slots=True)
class PlacementCheck:
    """``nomad job plan`` of every long-running job: check indexes for the registration and
    warnings for groups that will start below their count."""

    modify_index: dict[str, int] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class WaitResult:
    ok: bool
    groups: tuple[GroupStatus, ...]
    error: str = ""

    def stragglers(self) -> list[str]:
        return [g.summary() for g in self.groups if g.health.healthy < g.health.count]


class TaskDriver:
    """Performs task steps of one environment against Nomad (and checks Consul at release)."""

    def __init__(
        self,
        nomad: NomadClient,
        consul: ConsulClient,
        settings: Settings,
        clock: Clock,
        *,
        progress: Progress | None = None,
        checkpoint: Callable[[str], None] | None = None,
        admit: Admit = admit_nothing,
    ) -> None:
        self.nomad = nomad
        self.consul = consul
        self.settings = settings
        self.clock = clock
        self.observer = EnvObserver(nomad)
        self.progress: Progress = progress or (lambda text: None)
        self.checkpoint = checkpoint or (lambda name: None)
        self.admit = admit

    # --- DEPLOY ------------------------------------------------------------------------------

    def check_placement(self, jobset: JobSet) -> PlacementCheck:
        """Check every job against the placement rules (``PlanError``), then dry-run every
        service job; ``PlacementRefused`` if a group cannot reach its NMIN."""
        critical = _critical_groups(jobset)
        refs = {(g.job_id, g.name): g for g in jobset.groups}
        problems: list[str] = []
        warnings: list[str] = []
        indexes: dict[str, int] = {}
        payloads = {job.id: self.admit(job.payload()) for job in jobset.jobs}
        for job in jobset.of_kind(JobKind.SERVICE):
            answer = self.nomad.plan_job(payloads[job.id], diff=False)
            indexes[job.id] = answer.job_modify_index
            if answer.warnings:
                warnings.append(f"{job.id}: {answer.warnings.strip()}")
            for group, metric in sorted(answer.failed_tg_allocs.items()):
                ref = refs.get((job.id, group))
                if ref is None:
                    continue
                failed = 1 + metric.coalesced_failures
                placeable = max(ref.count - failed, 0)
                need = needed(ref, (job.id, group) in critical)
                line = (
                    f"group {group} (job {job.id}): {placeable}/{ref.count} placeable, needs {need}: "
                    f"{metric_reasons(metric)}"
                )
                (problems if placeable < need else warnings).append(line)
        if problems:
            raise PlacementRefused("; ".join(problems))
        return PlacementCheck(indexes, tuple(warnings))

    def register(
        self,
        jobset: JobSet,
        placement: PlacementCheck,
        on_registered: Callable[[str], None],
    ) -> str | None:
        """Register every job of the environment; an error text if one could not be."""
        for job in jobset.jobs:
            kind = jobset.kinds[job.id]
            index = placement.modify_index.get(job.id) if kind is JobKind.SERVICE else None
            try:
                self.nomad.register_job(self.admit(job.payload()), check_index=index)
            except NomadConflict:
                return f"job {job.id} changed since it was planned (check index {index}); deploy again"
            except (NomadError, PlanError) as err:
                return f"job {job.id}: {err.one_line()}"
            on_registered(job.id)
        return None

    def deploy(
        self, jobset: JobSet, placement: PlacementCheck, on_registered: Callable[[str], None]
    ) -> str | None:
        """Register, then wait for health within ``deploy_timeout``; an error text on failure."""
        error = self.register(jobset, placement, on_registered)
        if error:
            return error
        self.checkpoint("tasks_DEPLOY:registered")
        targets = [(g, g.job_id) for g in jobset.groups if g.job_kind is JobKind.SERVICE]
        result = self.wait_groups(
            targets, jobset, timeout=self.settings.deploy_timeout, what="DEPLOY", fail_fast=True
        )
        if not result.ok:
            return result.error
        stragglers = result.stragglers()
        if stragglers:
            self.progress("deployed with groups below their count (not waited for): " + "; ".join(stragglers))
        return None

    def wait_groups(
        self,
        targets: Sequence[tuple[GroupRef, str]],
        jobset: JobSet,
        *,
        timeout: float,
        what: str,
        fail_fast: bool,
        started_ok: bool = False,
    ) -> WaitResult:
        """Wait until every target group has its needed healthy allocations.

        ``started_ok`` (run-scoped tasks): an allocation that completed without a failed task
        counts as started. ``fail_fast``: a pinned group whose allocation ended fails at once.
        """
        if not targets:
            return WaitResult(True, ())
        critical = _critical_groups(jobset)
        jobs = {job for _, job in targets}
        env_id = jobset.env_id
        deadline = self.clock.monotonic() + timeout
        index = 0
        detail: dict[str, AllocationBrief] = {}  # allocation ID -> its task states
        seen: dict[str, int] = {}  # allocation ID -> the ModifyIndex its detail was read at
        last_report = ""
        statuses: list[GroupStatus] = []
        nodes = self.observer.nodes()
        while True:
            remaining = deadline - self.clock.monotonic()
            stubs, returned = self._env_allocs(
                env_id, index, min(max(remaining, 0.001), self.settings.max_wait)
            )
            mine = {s.id: s for s in stubs if s.job_id in jobs}
            for gone in set(detail) - set(mine):
                del detail[gone]
                del seen[gone]
            # task states only of the allocations that changed, a batch at a time: re-reading a
            # whole job at every change costs minutes at ALICE size (150k task states)
            changed = [a for a, s in mine.items() if seen.get(a, -1) < s.modify_index]
            for start in range(0, len(changed), _DETAIL_BATCH):
                chunk = changed[start : start + _DETAIL_BATCH]
                for brief in self.nomad.allocation_briefs(filter=id_filter(chunk)).data:
                    if brief.id in mine:
                        detail[brief.id] = brief
                        seen[brief.id] = brief.modify_index
            if changed:
                nodes = self.observer.nodes()
            by_job: dict[str, list[AllocationBrief]] = {}
            for brief in detail.values():
                by_job.setdefault(brief.job_id, []).append(brief)
            statuses = judge(targets, by_job, nodes, jobset)
            pending = [
                s
                for s in statuses
                if not _done(s, needed(s.ref, (s.ref.job_id, s.ref.name) in critical), started_ok)
            ]
            report = f"{what}: {len(statuses) - len(pending)}/{len(statuses)} groups ready" + (
                f" (waiting for {', '.join(s.summary() for s in pending[:3])}"
                + (f" and {len(pending) - 3} more" if len(pending) > 3 else "")
                + ")"
                if pending
                else ""
            )
            if report != last_report:
                self.progress(report)
                last_report = report
            if not pending:
                return WaitResult(True, tuple(statuses))
            if fail_fast:
                dead = [s for s in pending if _cannot_recover(s)]
                if dead:
                    return WaitResult(
                        False, tuple(statuses), f"{what} failed: " + "; ".join(s.health.reason for s in dead)
                    )
            if self.clock.monotonic() >= deadline:
                reasons = [self._why(s) for s in pending]
                return WaitResult(
                    False,
                    tuple(statuses),
                    f"{what} timed out after {timeout:g} s: " + "; ".join(reasons),
                )
            index = next_index(index, returned)

    def _why(self, status: GroupStatus) -> str:
        if status.allocs:
            return status.health.reason
        # nothing placed: the latest evaluation says why
        try:
            evals = self.nomad.job_evaluations(status.job_id).data
        except NomadError:
            evals = []
        for ev in evals:
            metric = ev.failed_tg_allocs.get(status.ref.name)
            if metric is not None:
                return f"group {status.ref.name}: not placed: {metric_reasons(metric)}"
        return f"group {status.ref.name}: no allocation placed yet"

    def _env_allocs(self, env_id: str, index: int, wait: float) -> tuple[list[AllocationListStub], int]:
        # one small list (no task states) for the whole environment, blocking; the details are
        # read per job only for the jobs whose allocations changed
        return self.nomad.allocations(
            filter=f'JobID matches "^{job_prefix(env_id)}"', task_states=False, index=index, wait=wait
        )

    def verify(self, jobset: JobSet) -> str | None:
        """One look at the long-running groups: an error naming those below their NMIN."""
        critical = _critical_groups(jobset)
        failing = [
            s
            for s in self.observer.service_groups(jobset)
            if s.health.healthy < needed(s.ref, (s.ref.job_id, s.ref.name) in critical)
        ]
        return "; ".join(s.health.reason for s in failing) or None

    # --- run-scoped tasks ------------------------------------------------------------------------

    def start_run(self, jobset: JobSet, run_number: int, on_dispatched: Callable[[str], None]) -> str | None:
        """Dispatch every run job with ``run_number``; wait until their critical tasks started."""
        targets: list[tuple[GroupRef, str]] = []
        for job in jobset.of_kind(JobKind.RUN):
            try:
                answer = self.nomad.dispatch_job(
                    job.id,
                    meta={RUN_NUMBER_META: str(run_number)},
                    idempotency_token=f"{job.id}-run-{run_number}",
                )
            except NomadError as err:
                return f"run job {job.id}: {err.one_line()}"
            on_dispatched(answer.dispatched_job_id)
            targets.extend((g, answer.dispatched_job_id) for g in jobset.groups if g.job_id == job.id)
        result = self.wait_groups(
            targets,
            jobset,
            timeout=self.settings.start_timeout,
            what="START",
            fail_fast=True,
            started_ok=True,
        )
        return None if result.ok else result.error

    def stop_run(self, job_ids: Iterable[str], env_id: str) -> str | None:
        """Stop the dispatched run jobs and wait until their allocations stopped."""
        failed = self.release(list(job_ids), env_id, purge=False)
        return "; ".join(f"{job}: {err}" for job, err in failed.items()) or None

    # --- release -------------------------------------------------------------------------------

    def release(self, job_ids: Sequence[str], env_id: str, *, purge: bool = True) -> dict[str, str]:
        """Stop ``job_ids``, wait until their allocations are terminal, then purge them.
        Returns job id -> error for the jobs that could not be released."""
        failed: dict[str, str] = {}
        jobs = list(dict.fromkeys(job_ids))
        for job in jobs:
            try:
                self.nomad.deregister_job(job)
            except NomadNotFound:
                pass
            except NomadError as err:
                failed[job] = err.one_line()
        running = self._wait_terminal([j for j in jobs if j not in failed], env_id)
        for job in running:
            failed[job] = f"allocations still running after {self.settings.release_timeout:g} s"
        if purge:
            for job in jobs:
                if job in failed:
                    continue
                try:
                    self.nomad.deregister_job(job, purge=True)
                except NomadNotFound:
                    pass
                except NomadError as err:
                    failed[job] = err.one_line()
        return failed

    def _wait_terminal(self, jobs: Sequence[str], env_id: str) -> list[str]:
        """Jobs among ``jobs`` that still have non-terminal allocations at the deadline."""
        if not jobs:
            return []
        wanted = set(jobs)
        deadline = self.clock.monotonic() + self.settings.release_timeout
        index = 0
        while True:
            remaining = deadline - self.clock.monotonic()
            stubs, returned = self._env_allocs(
                env_id, index, min(max(remaining, 0.001), self.settings.max_wait)
            )
            alive = sorted(
                {s.job_id for s in stubs if s.job_id in wanted and s.client_status not in TERMINAL}
            )
            if not alive or self.clock.monotonic() >= deadline:
                return alive
            index = next_index(index, returned)

    def sweep(self, env_id: str) -> list[str]:
        """Release every job Nomad still has for ``env_id`` and check that Consul lists no service
        of it; returns what is left (``job <id>``, ``service <name>``)."""
        leftovers = [j.id for j in self.observer.env_jobs(env_id)]
        failed = self.release(leftovers, env_id) if leftovers else {}
        out = [f"job {job}: {err}" for job, err in sorted(failed.items())]
        out.extend(f"service {name}" for name in self._wait_services_gone(env_id))
        return out

    def _wait_services_gone(self, env_id: str) -> list[str]:
        tag = f"env-{env_id}"
        deadline = self.clock.monotonic() + self.settings.release_timeout
        index = 0
        while True:
            remaining = deadline - self.clock.monotonic()
            services, returned = self.consul.catalog_services(
                index=index, wait=min(max(remaining, 0.001), self.settings.max_wait)
            )
            left = sorted(name for name, tags in services.items() if tag in tags)
            if not left or self.clock.monotonic() >= deadline:
                return left
            index = next_index(index, returned)


def _critical_groups(jobset: JobSet) -> set[tuple[str, str]]:
    return {(t.job_id, t.group) for t in jobset.tasks.values() if t.critical}


def _done(status: GroupStatus, need: int, started_ok: bool) -> bool:
    if started_ok:
        started = {
            a.node_id
            for a in status.allocs
            if a.client_status == "running"
            or (a.client_status == "complete" and not any(ts.failed for ts in a.task_states.values()))
        }
        return len(started) >= need
    return status.health.healthy >= need


def _cannot_recover(status: GroupStatus) -> bool:
    """A pinned/floating group (never rescheduled) whose allocation ended and was not replaced."""
    if status.ref.kind is GroupKind.REPLICATED:
        return False
    return any(a.client_status in TERMINAL and not a.next_allocation for a in status.allocs) and not any(
        a.client_status not in TERMINAL for a in status.allocs
    )
