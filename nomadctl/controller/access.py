"""What integration plugins may see and do to the environment they are called for.

``GroupAccess`` implements ``plugins.EnvironmentAccess`` over Nomad: the environment's
long-running groups judged now, which of their jobs still run, and stopping them (the ``odc``
plugin's PartitionTerminate/EnsureCleanup act on the EPN groups through it).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from nomadctl.clients.nomad import NomadClient
from nomadctl.controller.observe import EnvObserver, job_prefix
from nomadctl.controller.plugins import GroupSnapshot
from nomadctl.controller.tasks import TERMINAL, TaskDriver
from nomadctl.jobspec import GroupRef, JobKind, JobSet


class GroupAccess:
    """``EnvironmentAccess`` for one environment; ``jobset`` is set at each transition."""

    def __init__(
        self, nomad: NomadClient, observer: EnvObserver, driver: Callable[[], TaskDriver], env_id: str
    ) -> None:
        self.nomad = nomad
        self.observer = observer
        self.driver = driver
        self.env_id = env_id
        self.jobset: JobSet | None = None

    def _service_groups(self) -> list[GroupRef]:
        return [g for g in (self.jobset.groups if self.jobset else ()) if g.job_kind is JobKind.SERVICE]

    def groups(self) -> Sequence[GroupSnapshot]:
        if self.jobset is None:
            return []
        return [
            GroupSnapshot(
                name=s.ref.name,
                job_id=s.job_id,
                kind=str(s.ref.kind),
                count=s.health.count,
                nmin=s.health.nmin,
                healthy=s.health.healthy,
                state=str(s.health.state),
            )
            for s in self.observer.service_groups(self.jobset)
        ]

    def _jobs(self, names: Sequence[str]) -> list[str]:
        wanted = set(names)
        return list(dict.fromkeys(g.job_id for g in self._service_groups() if g.name in wanted))

    def running_jobs(self, names: Sequence[str]) -> list[str]:
        jobs = set(self._jobs(names))
        stubs = self.nomad.allocations(
            filter=f'JobID matches "^{job_prefix(self.env_id)}"', task_states=False
        ).data
        return sorted({a.job_id for a in stubs if a.job_id in jobs and a.client_status not in TERMINAL})

    def stop_groups(self, names: Sequence[str]) -> list[str]:
        jobs = self._jobs(names)
        failed = self.driver().release(jobs, self.env_id)
        return [j for j in jobs if j not in failed]
