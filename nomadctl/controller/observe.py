"""Reading an environment's state in Nomad and judging its groups with ``nomadctl.health``.

Nomad's allocation and node models become the predicate's frozen views here, so the predicate
stays pure. This is also the entry point for the health watcher (issue #6): ``EnvObserver``
lists an environment's jobs (by job meta ``nomadctl.env``) and judges every placement group.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from nomadctl.clients.nomad import NomadClient
from nomadctl.clients.nomad_models import AllocationBrief, JobListStub, NodeListStub
from nomadctl.controller.recover import Observation
from nomadctl.health import predicate
from nomadctl.health.predicate import AllocView, GroupHealth, GroupSpec, NodeView, TaskView
from nomadctl.jobspec import GroupKind, GroupRef, JobKind, JobSet

ENV_META = "nomadctl.env"


def job_prefix(env_id: str) -> str:
    return f"aliecs-{env_id}"


def alloc_view(stub: AllocationBrief) -> AllocView:
    """The predicate's view of one allocation (Consul checks are not part of it: see docs)."""
    return AllocView(
        id=stub.id,
        node_id=stub.node_id,
        group=stub.task_group,
        desired_status=stub.desired_status,
        client_status=stub.client_status,
        node_name=stub.node_name,
        tasks={
            name: TaskView(
                state=ts.state,
                failed=ts.failed,
                restarts=ts.restarts,
                finished_at=str(ts.finished_at) if ts.finished_at else None,
            )
            for name, ts in stub.task_states.items()
        },
        replaced=bool(stub.next_allocation),
    )


def node_views(nodes: Iterable[NodeListStub]) -> dict[str, NodeView]:
    return {
        n.id: NodeView(
            id=n.id, name=n.name, status=n.status, eligibility=n.scheduling_eligibility, drain=n.drain
        )
        for n in nodes
    }


def critical_tasks(jobset: JobSet) -> dict[tuple[str, str], frozenset[str]]:
    """(job id, group) -> the Nomad names of the group's critical tasks."""
    out: dict[tuple[str, str], set[str]] = {}
    for ref in jobset.tasks.values():
        if ref.critical:
            out.setdefault((ref.job_id, ref.group), set()).add(ref.task)
    return {k: frozenset(v) for k, v in out.items()}


def group_spec(ref: GroupRef, critical: Mapping[tuple[str, str], frozenset[str]]) -> GroupSpec:
    """The predicate's spec of a group; floating groups follow the host rule (count 1, NMIN =
    count when they hold a critical task)."""
    kind = predicate.GroupKind.REPLICATED if ref.kind is GroupKind.REPLICATED else predicate.GroupKind.HOST
    return GroupSpec(
        name=ref.name,
        kind=kind,
        count=ref.count,
        nmin=ref.nmin if kind is predicate.GroupKind.REPLICATED else None,
        critical_tasks=critical.get((ref.job_id, ref.name), frozenset()),
    )


def needed(ref: GroupRef, critical: bool) -> int:
    """How many allocations a group must have healthy: NMIN for a replicated group, all for a
    host/floating group with a critical task, none otherwise."""
    if ref.kind is GroupKind.REPLICATED:
        return ref.nmin
    return ref.count if critical else 0


@dataclass(frozen=True, slots=True)
class GroupStatus:
    """One placement group now: its plan reference, the job holding it (a dispatched child for
    run groups), its allocations and the predicate's judgement."""

    ref: GroupRef
    job_id: str
    health: GroupHealth
    allocs: tuple[AllocationBrief, ...]

    @property
    def satisfied(self) -> bool:
        """At least NMIN healthy (host groups with a critical task: all of them)."""
        return self.health.healthy >= self.health.nmin

    def summary(self) -> str:
        h = self.health
        return f"{self.ref.name} {h.healthy}/{h.count} healthy (nmin {h.nmin})"


def judge(
    targets: Sequence[tuple[GroupRef, str]],
    allocs_by_job: Mapping[str, Sequence[AllocationBrief]],
    nodes: Mapping[str, NodeView],
    jobset: JobSet,
) -> list[GroupStatus]:
    """Judge each (group, job id holding it) from the listed allocations."""
    critical = critical_tasks(jobset)
    out: list[GroupStatus] = []
    for ref, job_id in targets:
        allocs = tuple(a for a in allocs_by_job.get(job_id, ()) if a.task_group == ref.name)
        health = predicate.group_health(group_spec(ref, critical), [alloc_view(a) for a in allocs], nodes)
        out.append(GroupStatus(ref, job_id, health, allocs))
    return out


class EnvObserver:
    """Reads an environment's jobs, allocations and nodes from Nomad."""

    def __init__(self, nomad: NomadClient) -> None:
        self.nomad = nomad

    def env_jobs(self, env_id: str) -> list[JobListStub]:
        """Every job of the environment (service, run, hook, and dispatched children), found by
        ID prefix and confirmed by the ``nomadctl.env`` job meta."""
        jobs = self.nomad.jobs(prefix=job_prefix(env_id)).data
        return [j for j in jobs if j.meta.get(ENV_META) == env_id]

    def nodes(self) -> dict[str, NodeView]:
        return node_views(self.nomad.nodes().data)

    def service_groups(self, jobset: JobSet) -> list[GroupStatus]:
        """Every long-running group of ``jobset``, judged now (one allocation list per job)."""
        targets = [(g, g.job_id) for g in jobset.groups if g.job_kind is JobKind.SERVICE]
        return self.groups(targets, jobset)

    def groups(self, targets: Sequence[tuple[GroupRef, str]], jobset: JobSet) -> list[GroupStatus]:
        allocs = {
            job: self.nomad.job_allocation_briefs(job).data for job in dict.fromkeys(j for _, j in targets)
        }
        return judge(targets, allocs, self.nodes(), jobset)


def recovery_observation(
    observer: EnvObserver, env_id: str, jobset: JobSet | None, run_job: str | None
) -> Observation:
    """What ``recover.diagnose`` needs to know from Nomad about an interrupted transition."""
    jobs = {j.id: j for j in observer.env_jobs(env_id)}
    if jobset is None:
        return Observation(0, 0, 0, 0)
    expected = [j.id for j in jobset.of_kind(JobKind.SERVICE)]
    registered = sum(1 for j in expected if j in jobs and not jobs[j].stop)
    statuses = observer.service_groups(jobset) if registered else []
    critical = {(t.job_id, t.group) for t in jobset.tasks.values() if t.critical}
    total = sum(1 for g in jobset.groups if g.job_kind is JobKind.SERVICE)
    ready = sum(
        1 for s in statuses if s.health.healthy >= needed(s.ref, (s.ref.job_id, s.ref.name) in critical)
    )
    alive = bool(run_job and run_job in jobs and not jobs[run_job].stop and jobs[run_job].status != "dead")
    return Observation(
        jobs_expected=len(expected),
        jobs_registered=registered,
        groups_total=total,
        groups_ready=ready,
        run_jobs_expected=len(jobset.of_kind(JobKind.RUN)),
        run_job_alive=alive,
    )
