"""Hook tasks (``task.trigger``) as Nomad batch jobs: dispatch, wait, judge by exit code.

The jobspec renders one parameterized batch job per trigger (moment and weight) with one group
per hook task (``docs/jobspec.md``). At a ``RunHooks`` step the controller makes sure that job is
registered (hooks at ``before_DEPLOY`` run before anything else is), dispatches it once — every
hook of that (moment, weight) runs at once, each on its host, as AliECS runs them together — and
waits with blocking queries on the dispatched job's allocations until each hook has finished or
its own timeout (``task.timeout``, also group meta ``nomadctl.timeout``) has passed:

* allocation ``complete`` and every task exited 0 → ``OK``;
* a task exited non-zero (or failed to start) → ``FAILED`` with the exit code;
* still running at its timeout → ``TIMED_OUT``; an allocation Nomad ended because it exceeded
  the group's ``max_run_duration`` (Nomad >= 2.0.3 reports it ``complete``) → ``TIMED_OUT`` too;
* never placed by its timeout → ``FAILED`` with the scheduler's reasons (e.g. its node is gone).

When every hook is decided, a dispatched job that still runs (timed-out hooks) is stopped, so a
hook never outlives its step. Criticality is the schedule's business, not this module's.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from nomadctl.clients.blocking import next_index
from nomadctl.clients.errors import NomadError
from nomadctl.clients.nomad import NomadClient
from nomadctl.clients.nomad_models import AllocationListStub
from nomadctl.controller.settings import Clock, Settings
from nomadctl.controller.tasks import TERMINAL, Admit, admit_nothing, metric_reasons
from nomadctl.errors import PlanError
from nomadctl.jobspec import JobSet
from nomadctl.jobspec.mapping import RUN_NUMBER_META
from nomadctl.lifecycle.hooks import TaskHook
from nomadctl.lifecycle.schedule import HookResult, HookStatus

log = logging.getLogger(__name__)

MAX_RUN_DURATION_TEXT = "exceeded max_run_duration"


@dataclass(frozen=True, slots=True)
class _Slot:
    hook: TaskHook
    job_id: str
    group: str
    task: str
    timeout: float


def _exit_code(alloc: AllocationListStub, task: str) -> int | None:
    state = alloc.task_states.get(task)
    if state is None:
        return None
    for event in reversed(state.events):
        if event.type == "Terminated":
            return event.exit_code
    return None


def judge_alloc(alloc: AllocationListStub, task: str) -> tuple[HookStatus, str, int | None] | None:
    """The outcome of a finished hook allocation, ``None`` while it still runs."""
    if alloc.client_status not in TERMINAL:
        return None
    code = _exit_code(alloc, task)
    if MAX_RUN_DURATION_TEXT in alloc.client_description:
        return HookStatus.TIMED_OUT, "", code
    state = alloc.task_states.get(task)
    failed = state.failed if state else True
    if alloc.client_status == "complete" and not failed and (code is None or code == 0):
        return HookStatus.OK, "", code
    if code is None:
        reason = ""
        if state is not None:
            for event in reversed(state.events):
                detail = event.driver_error or event.setup_error or event.display_message
                if detail:
                    reason = f"{event.type}: {detail}"
                    break
        reason = reason or f"allocation {alloc.client_status}"
        return (
            HookStatus.FAILED,
            f"hook task did not run to completion on {alloc.node_name or '?'}: {reason}",
            None,
        )
    return HookStatus.FAILED, "", code


class HookRunner:
    """Runs the hook tasks of one environment."""

    def __init__(
        self,
        nomad: NomadClient,
        jobset: JobSet,
        settings: Settings,
        clock: Clock,
        *,
        on_registered: Callable[[str], None] | None = None,
        admit: Admit = admit_nothing,
    ) -> None:
        self.nomad = nomad
        self.jobset = jobset
        self.settings = settings
        self.clock = clock
        self.on_registered = on_registered or (lambda job_id: None)
        self.admit = admit
        self._registered: set[str] = set()

    def ensure_registered(self, job_id: str) -> None:
        """Register the hook job once per runner (re-registering an unchanged job is a no-op in
        Nomad, so an already registered one is fine)."""
        if job_id in self._registered:
            return
        self.nomad.register_job(self.admit(self.jobset.job(job_id).payload()))
        self._registered.add(job_id)
        self.on_registered(job_id)

    def run(self, hooks: Sequence[TaskHook], vars_: Mapping[str, str], token: str) -> tuple[HookResult, ...]:
        """Run ``hooks`` (one ``RunHooks`` step) and return one result per hook.

        ``token`` makes the dispatch idempotent across retries (one per step and attempt).
        """
        slots: list[_Slot] = []
        results: dict[str, HookResult] = {}
        for h in hooks:
            ref = self.jobset.tasks.get(h.task.path)
            if ref is None:
                results[h.key] = HookResult(
                    h.key, HookStatus.FAILED, f"hook {h.task.path} is not in the jobs"
                )
                continue
            slots.append(_Slot(h, ref.job_id, ref.group, ref.task, h.task.timeout_seconds or 30.0))

        dispatched: dict[str, str] = {}  # hook job -> dispatched child
        evals: dict[str, str] = {}  # dispatched child -> its evaluation
        meta = {RUN_NUMBER_META: vars_["run_number"]} if vars_.get("run_number") else {}
        for job_id in dict.fromkeys(s.job_id for s in slots):
            try:
                self.ensure_registered(job_id)
                answer = self.nomad.dispatch_job(
                    job_id, meta=meta, idempotency_token=f"{token}-{job_id}"[:128]
                )
            except (NomadError, PlanError) as err:
                for s in slots:
                    if s.job_id == job_id:
                        results[s.hook.key] = HookResult(
                            s.hook.key,
                            HookStatus.FAILED,
                            f"could not dispatch hook job {job_id}: {err.one_line()}",
                        )
                continue
            dispatched[job_id] = answer.dispatched_job_id
            evals[answer.dispatched_job_id] = answer.eval_id
        live = [s for s in slots if s.job_id in dispatched]
        results.update(self._unplaceable(live, dispatched, evals))
        results.update(self._wait([s for s in live if s.hook.key not in results], dispatched))
        self._stop_leftovers(dispatched, live, results)
        return tuple(results[h.key] for h in hooks)

    def _wait(self, slots: Sequence[_Slot], dispatched: Mapping[str, str]) -> dict[str, HookResult]:
        start = self.clock.monotonic()
        out: dict[str, HookResult] = {}
        indexes: dict[str, int] = {}
        allocs: dict[str, list[AllocationListStub]] = {}
        # one blocking read per dispatched job and round; the rounds end when every hook is decided
        while len(out) < len(slots):
            now = self.clock.monotonic()
            open_slots = [s for s in slots if s.hook.key not in out]
            for s in open_slots:
                found = [a for a in allocs.get(dispatched[s.job_id], []) if a.task_group == s.group]
                alloc = max(found, key=lambda a: a.create_index) if found else None
                verdict = judge_alloc(alloc, s.task) if alloc else None
                if verdict is not None and alloc is not None:
                    status, message, code = verdict
                    out[s.hook.key] = HookResult(s.hook.key, status, message, code, hostname=alloc.node_name)
                elif now - start >= s.timeout:
                    if alloc is None:
                        out[s.hook.key] = HookResult(
                            s.hook.key, HookStatus.FAILED, self._unplaced(dispatched[s.job_id], s)
                        )
                    else:
                        out[s.hook.key] = HookResult(
                            s.hook.key, HookStatus.TIMED_OUT, hostname=alloc.node_name
                        )
            open_slots = [s for s in slots if s.hook.key not in out]
            if not open_slots:
                break
            deadline = min(start + s.timeout for s in open_slots)
            wait = min(max(deadline - self.clock.monotonic(), 0.001), self.settings.max_wait)
            # block on the job of the next hook to decide; other jobs are re-read without waiting
            first = dispatched[min(open_slots, key=lambda s: s.timeout).job_id]
            for child in dict.fromkeys(dispatched[s.job_id] for s in open_slots):
                block = child == first
                try:
                    data, returned = self.nomad.job_allocations(
                        child, index=indexes.get(child, 0) if block else 0, wait=wait if block else None
                    )
                except NomadError as err:
                    for s in open_slots:
                        if dispatched[s.job_id] == child:
                            out[s.hook.key] = HookResult(
                                s.hook.key, HookStatus.FAILED, f"hook job {child}: {err.one_line()}"
                            )
                    continue
                allocs[child] = data
                indexes[child] = next_index(indexes.get(child, 0), returned)
        return out

    def _unplaceable(
        self, slots: Sequence[_Slot], dispatched: Mapping[str, str], evals: Mapping[str, str]
    ) -> dict[str, HookResult]:
        """Hooks the scheduler could not place (their node is gone, say): failed at once, with its
        reasons, rather than at their timeout. Waits (blocking) for each dispatch's evaluation."""
        out: dict[str, HookResult] = {}
        start = self.clock.monotonic()
        limit = min((s.timeout for s in slots), default=0.0)
        for child, eval_id in evals.items():
            if not eval_id:
                continue
            index = 0
            while True:
                try:
                    found, returned = self.nomad.job_evaluations(
                        child,
                        index=index,
                        wait=min(
                            max(limit - (self.clock.monotonic() - start), 0.001), self.settings.max_wait
                        ),
                    )
                except NomadError:
                    break
                ev = next((e for e in found if e.id == eval_id), None)
                if ev is not None and ev.status not in ("pending", "blocked"):
                    for s in slots:
                        metric = ev.failed_tg_allocs.get(s.group)
                        if dispatched[s.job_id] == child and metric is not None:
                            out[s.hook.key] = HookResult(
                                s.hook.key,
                                HookStatus.FAILED,
                                f"hook task could not be placed: {metric_reasons(metric)}",
                            )
                    break
                if self.clock.monotonic() - start >= limit:
                    break
                index = next_index(index, returned)
        return out

    def _unplaced(self, child: str, slot: _Slot) -> str:
        try:
            for ev in self.nomad.job_evaluations(child).data:
                metric = ev.failed_tg_allocs.get(slot.group)
                if metric is not None:
                    return (
                        f"hook task could not be placed within {slot.timeout:g} s: {metric_reasons(metric)}"
                    )
        except NomadError:
            pass
        return f"hook task was not placed within {slot.timeout:g} s"

    def _stop_leftovers(
        self, dispatched: Mapping[str, str], slots: Sequence[_Slot], results: Mapping[str, HookResult]
    ) -> None:
        for job_id, child in dispatched.items():
            if any(s.job_id == job_id and results[s.hook.key].status is not HookStatus.OK for s in slots):
                try:
                    self.nomad.deregister_job(child)
                except NomadError as err:
                    log.warning("could not stop hook job %s: %s", child, err.one_line())
