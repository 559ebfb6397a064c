"""``nomadctl env scale ID GROUP N``: change a replicated group's count live, never below NMIN.

Runs under the environment's lock (``Controller.scale``), like a transition:

1. only a DEPLOYED, CONFIGURED or RUNNING environment, only a *replicated* group (a host group is
   pinned to its host: it has nothing to scale), and never below the group's NMIN (n - m);
2. the job is read for its ``JobModifyIndex``; Nomad refuses to scale a job while its deployment
   is active (``job scaling blocked due to active deployment``), so an active deployment is
   waited for (blocking queries, up to ``wait`` seconds) or refused with its ID and status;
3. the new count is recorded (``EnvRecord.counts``: health is judged against it from now on;
   recorded first, so a watcher never judges a scale-down's stopping replicas against the old
   count, and restored if Nomad refuses);
4. ``POST /v1/job/:id/scale`` with that modify index (``nomad job scale`` with a check index: a
   job changed in between is refused, not overwritten) and meta naming the environment; an event
   announces it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from nomadctl.clients.blocking import next_index
from nomadctl.clients.errors import NomadBadRequest, NomadConflict, NomadError, NomadNotFound
from nomadctl.clients.nomad import NomadClient
from nomadctl.controller.errors import TransitionRefused
from nomadctl.controller.events import EventLog
from nomadctl.controller.perform import RecordKeeper
from nomadctl.controller.planning import Planned
from nomadctl.controller.settings import Clock
from nomadctl.jobspec import GroupKind, GroupRef, JobKind
from nomadctl.lifecycle.events import EnvironmentEvent, Event
from nomadctl.lifecycle.fsm import State

#: ``structs.Deployment.Active()``: Nomad refuses to scale while the latest deployment is one of these.
ACTIVE_DEPLOYMENT = frozenset({"running", "paused", "pending", "initializing", "blocked", "unblocking"})
SCALABLE = frozenset({State.DEPLOYED, State.CONFIGURED, State.RUNNING})


@dataclass(frozen=True, slots=True)
class ScaleReport:
    """What ``env scale`` did: ``previous`` is the count Nomad had, ``changed`` false when it
    already had ``count``; ``eval_id`` the evaluation Nomad created."""

    env_id: str
    group: str
    job_id: str
    previous: int
    count: int
    nmin: int
    changed: bool
    eval_id: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def text(self) -> str:
        if not self.changed:
            return f"group {self.group} of {self.env_id} already has count {self.count} (nmin {self.nmin})"
        return (
            f"group {self.group} of {self.env_id} scaled {self.previous} -> {self.count} (nmin {self.nmin}), "
            f"job {self.job_id}" + (f", evaluation {self.eval_id[:8]}" if self.eval_id else "")
        )


def find_group(planned: Planned, env_id: str, group: str) -> GroupRef:
    """The long-running replicated group ``group`` (by Nomad group name or role path)."""
    service = [g for g in planned.jobset.groups if g.job_kind is JobKind.SERVICE]
    matches = [g for g in service if group in (g.name, g.role_path)]
    if not matches:
        replicated = sorted(g.name for g in service if g.kind is GroupKind.REPLICATED)
        hint = f"replicated groups: {', '.join(replicated)}" if replicated else "it has no replicated group"
        raise TransitionRefused(f"environment {env_id} has no long-running group {group!r} ({hint})")
    ref = matches[0]
    if ref.kind is not GroupKind.REPLICATED:
        where = f" (pinned to {ref.host})" if ref.host else ""
        raise TransitionRefused(
            f"group {ref.name} of {env_id} is a {ref.kind} group{where}: only replicated groups scale"
        )
    return ref


def scale_group(
    nomad: NomadClient,
    keeper: RecordKeeper,
    planned: Planned,
    events: EventLog,
    *,
    group: str,
    count: int,
    user: str,
    clock: Clock,
    wait: float = 0.0,
    max_wait: float = 30.0,
) -> ScaleReport:
    """Scale ``group`` of the locked environment to ``count`` (see the module docstring).
    Refusals raise ``TransitionRefused`` (exit 2) and change nothing."""
    rec = keeper.record
    env_id = rec.env_id
    if rec.lifecycle.state not in SCALABLE:
        raise TransitionRefused(
            f"environment {env_id} is {rec.state}: "
            "only a DEPLOYED, CONFIGURED or RUNNING environment's groups scale"
        )
    ref = find_group(planned, env_id, group)
    if count < ref.nmin:
        raise TransitionRefused(
            f"group {ref.name} of {env_id}: count {count} is below its NMIN {ref.nmin}; "
            "the environment would go to ERROR"
        )
    try:
        job = nomad.job(ref.job_id).data
    except NomadNotFound:
        raise TransitionRefused(f"group {ref.name} of {env_id}: job {ref.job_id} is not registered") from None
    if job.stop:
        raise TransitionRefused(f"group {ref.name} of {env_id}: job {ref.job_id} is stopped")
    live = {tg.name: tg.count for tg in job.task_groups}
    if ref.name not in live:
        raise TransitionRefused(f"job {ref.job_id} has no group {ref.name}")
    previous = live[ref.name]
    if previous == count:
        if ref.count != count:  # scaled outside nomadctl: judge health against what Nomad runs
            keeper.set(counts={**rec.counts, ref.name: count})
        return ScaleReport(env_id, ref.name, ref.job_id, previous, count, ref.nmin, changed=False)
    _wait_deployment(nomad, ref.job_id, job.create_index, clock=clock, wait=wait, max_wait=max_wait)
    # the count is recorded first: a health watcher re-plans from the record, and must not judge
    # the replicas Nomad stops for a scale-down against the old count (a false DEGRADED)
    before = dict(rec.counts)
    keeper.set(counts={**before, ref.name: count})
    try:
        answer = nomad.scale_job(
            ref.job_id,
            ref.name,
            count,
            message=f"nomadctl env scale {env_id} {ref.name} {count} by {user}",
            check_index=job.job_modify_index,
            meta={"nomadctl.env": env_id, "nomadctl.user": user},
        )
    except NomadConflict:
        keeper.set(counts=before)
        raise TransitionRefused(
            f"job {ref.job_id} changed while it was being scaled "
            f"(check index {job.job_modify_index}); try again"
        ) from None
    except NomadBadRequest as err:
        keeper.set(counts=before)
        raise TransitionRefused(
            f"Nomad refused to scale group {ref.name} of {env_id}: {err.one_line()}"
        ) from None
    except NomadError:
        keeper.set(counts=before)
        raise
    report = ScaleReport(env_id, ref.name, ref.job_id, previous, count, ref.nmin, True, answer.eval_id)
    events.append(
        [
            Event(
                EnvironmentEvent(
                    environment_id=env_id,
                    state=rec.state,
                    run_number=rec.lifecycle.run_number or 0,
                    message=f"scale: {report.text()} by {user}",
                )
            )
        ]
    )
    return report


def _wait_deployment(
    nomad: NomadClient, job_id: str, job_create_index: int, *, clock: Clock, wait: float, max_wait: float
) -> None:
    """Return once the job has no active deployment; refuse if it still has one after ``wait`` s."""
    deadline = clock.monotonic() + wait
    index = 0
    while True:
        deployment, returned = nomad.job_latest_deployment(
            job_id,
            index=index,
            wait=min(max(deadline - clock.monotonic(), 0.001), max_wait) if index else None,
        )
        active = (
            deployment is not None
            and deployment.status in ACTIVE_DEPLOYMENT
            and deployment.job_create_index in (0, job_create_index)
        )
        if not active:
            return
        assert deployment is not None
        if clock.monotonic() >= deadline:
            raise TransitionRefused(
                f"job {job_id} has an active deployment {deployment.id[:8]} ({deployment.status}"
                + (f": {deployment.status_description}" if deployment.status_description else "")
                + "); Nomad does not scale a job during a deployment: try again when it finishes, "
                "or pass --wait SECONDS"
            )
        index = next_index(index, returned)
