"""What ``nomadctl env show`` and ``env list`` print: the truth about an environment now.

Built from the record, the event log, Nomad (groups, allocations, task states) and Consul
(services tagged ``env-<id>``). Every field is plain data with ``to_dict()`` for ``--json``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from nomadctl.clients.consul import ConsulClient
from nomadctl.controller.observe import GroupStatus
from nomadctl.controller.planning import Planned
from nomadctl.controller.record import LastTransition
from nomadctl.jobspec import JobKind


@dataclass(frozen=True, slots=True)
class GroupLine:
    name: str
    job: str
    kind: str
    healthy: int
    count: int
    nmin: int
    state: str
    reason: str = ""


@dataclass(frozen=True, slots=True)
class TaskLine:
    path: str
    job: str
    group: str
    task: str
    kind: str
    control: str
    critical: bool
    node: str
    state: str


@dataclass(frozen=True, slots=True)
class ServiceLine:
    name: str
    instances: int
    passing: int


@dataclass(frozen=True, slots=True)
class EnvSummary:
    env_id: str
    workflow: str
    state: str
    run_number: int | None
    created_ns: int
    in_progress: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class EnvStatus:
    env_id: str
    workflow: str
    repo: str
    state: str
    run_number: int | None
    last_run_number: int | None
    created_ns: int
    created_by: str
    manifest_sha: str
    in_progress: str = ""
    last: LastTransition | None = None
    process_control: str = ""
    groups: tuple[GroupLine, ...] = ()
    tasks: tuple[TaskLine, ...] = ()
    services: tuple[ServiceLine, ...] = ()
    jobs: tuple[str, ...] = ()
    hooks: int = 0
    calls: int = 0
    pending_calls: tuple[str, ...] = ()
    events: tuple[dict[str, Any], ...] = ()
    warnings: tuple[str, ...] = field(default_factory=tuple)
    health: dict[str, Any] | None = None  # the daemon's health record (``health_record``)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["last"] = self.last.to_dict() if self.last else None
        return out


def task_lines(planned: Planned, statuses: Sequence[GroupStatus]) -> list[TaskLine]:
    """The long-running and run-scoped tasks with the state Nomad reports for them."""
    allocs = {(s.ref.job_id, s.ref.name): s.allocs for s in statuses}
    by_path = {t.path: t for t in planned.plan.tasks}
    out: list[TaskLine] = []
    for path, ref in planned.jobset.tasks.items():
        if ref.kind is JobKind.HOOK:
            continue
        live = [a for a in allocs.get((ref.job_id, ref.group), ()) if not a.next_allocation]
        alloc = max(live, key=lambda a: a.create_index) if live else None
        state = "-"
        if alloc is not None:
            ts = alloc.task_states.get(ref.task)
            state = ts.state if ts else alloc.client_status
        task = by_path.get(path)
        out.append(
            TaskLine(
                path=path,
                job=ref.job_id,
                group=ref.group,
                task=ref.task,
                kind=str(ref.kind),
                control=str(task.control_mode) if task else "",
                critical=ref.critical,
                node=alloc.node_name if alloc else "",
                state=state,
            )
        )
    return out


def group_lines(statuses: Sequence[GroupStatus]) -> list[GroupLine]:
    return [
        GroupLine(
            s.ref.name,
            s.job_id,
            str(s.ref.kind),
            s.health.healthy,
            s.health.count,
            s.health.nmin,
            str(s.health.state),
            "" if s.health.healthy >= s.health.count else s.health.reason,
        )
        for s in statuses
    ]


def service_lines(consul: ConsulClient, env_id: str) -> list[ServiceLine]:
    """The Consul services of the environment (tag ``env-<id>``) and how many instances pass."""
    tag = f"env-{env_id}"
    out: list[ServiceLine] = []
    for name, tags in sorted(consul.catalog_services().data.items()):
        if tag in tags:
            instances = consul.health_service(name).data
            out.append(ServiceLine(name, len(instances), sum(1 for i in instances if i.passing)))
    return out
