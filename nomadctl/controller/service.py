"""The controller's public API: create environments and drive their lifecycle.

```python
controller = Controller(NomadClient.from_env(), ConsulClient.from_env(), Settings())
created = controller.create(CreateRequest("flp-dataflow", "examples", user_vars={...}))
controller.transition(created.record.env_id, "DEPLOY")      # TransitionReport
controller.destroy(env_id)                                   # teardown, state DONE
controller.go_error(env_id, "group reco below NMIN")         # the health watcher's entry point
controller.scale(env_id, "reco", 12)                         # a replicated group's count, live
controller.show(env_id); controller.groups(env_id)           # read-only
```

Every transition takes the environment's Consul lock, re-plans the environment from its record
(refusing if the manifests changed), writes the transition in progress to the record before any
effect, drives the lifecycle schedule with a ``Performer`` and records the outcome with
check-and-set. A failed transition is followed by GO_ERROR (AliECS's ``ControlEnvironment``);
a failed DEPLOY/CONFIGURE of ``create(auto=True)`` also by a forced teardown. A record left by a
controller that died is reconciled first (``recover``).

Refusals raise ``TransitionRefused`` (exit 2) and change nothing; a transition that ran and failed
returns a report with ``ok`` false (the CLI exits 1).
"""

from __future__ import annotations

import getpass
import logging
import secrets
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from nomadctl.clients.consul import ConsulClient
from nomadctl.clients.errors import ConsulConflict, NomadError
from nomadctl.clients.nomad import NomadClient
from nomadctl.clients.nomad_acl import NomadAclClient
from nomadctl.clients.vault import VaultClient
from nomadctl.controller import recover, scale
from nomadctl.controller.access import GroupAccess
from nomadctl.controller.calls import CallRunner, RuntimeVars
from nomadctl.controller.errors import InterruptedTeardown, PlacementRefused, TransitionRefused
from nomadctl.controller.events import EventLog
from nomadctl.controller.health_record import HealthStore
from nomadctl.controller.hooks import HookRunner
from nomadctl.controller.locks import EnvLock, describe_holder
from nomadctl.controller.model import Created, CreateRequest, RenderSettings, TransitionReport
from nomadctl.controller.observe import EnvObserver, GroupStatus, recovery_observation
from nomadctl.controller.perform import (
    Performer,
    RecordKeeper,
    StepContext,
    controlled_tasks,
    no_process_control,
)
from nomadctl.controller.planning import Planned, Planner
from nomadctl.controller.plugins import PluginRegistry
from nomadctl.controller.record import EnvRecord, InProgress, Keys, LastTransition, RecordStore
from nomadctl.controller.runs import RunNumbers
from nomadctl.controller.scale import ScaleReport
from nomadctl.controller.secrets import check_secrets
from nomadctl.controller.settings import SYSTEM_CLOCK, Clock, Settings
from nomadctl.controller.status import (
    EnvStatus,
    EnvSummary,
    GroupLine,
    TaskLine,
    group_lines,
    service_lines,
    task_lines,
)
from nomadctl.controller.tasks import TaskDriver
from nomadctl.errors import NomadctlError, PlanError
from nomadctl.jobspec import JobKind, NomadVersion
from nomadctl.lifecycle import fsm, schedule
from nomadctl.lifecycle.events import EnvironmentEvent, Event, OpStatus, User, WorkflowTemplateInfo
from nomadctl.lifecycle.fsm import State, Transition
from nomadctl.lifecycle.hooks import HookIndex
from nomadctl.lifecycle.schedule import Outcome, Verdict
from nomadctl.lifecycle.state import Environment
from nomadctl.manifest import build_plan
from nomadctl.manifest.expr.uid import UidGenerator
from nomadctl.plan import EnvironmentPlan
from nomadctl.policies import admission

__all__ = ["Controller", "CreateRequest", "Created", "RenderSettings", "TransitionReport"]

log = logging.getLogger(__name__)

Listener = Callable[[Event], None]


# ------------------------------------------------------------------------------------- helpers


def _user() -> User:
    try:
        return User(name=getpass.getuser())
    except (KeyError, OSError):  # no passwd entry, no USER: still a valid request
        return User(name="unknown")


@dataclass
class _EnvRuntime:
    """What a controller process keeps per environment between transitions: calls in flight."""

    registry: PluginRegistry
    runtime_vars: RuntimeVars
    calls: CallRunner
    access: GroupAccess
    synced_index: int = 0


# ---------------------------------------------------------------------------------- controller


class Controller:
    """Creates environments and drives their lifecycle against Nomad and Consul.

    ``listeners`` receive every event as it is written (the CLI prints them live);
    ``checkpoint(name)`` is called at each step (``before_DEPLOY``, ``tasks_DEPLOY``,
    ``tasks_DEPLOY:registered``...) — a test hook, as kopf's, to stop a controller mid-way.
    ``placement`` gives the placement rules of ``nomadctl policies`` directly (else they are read
    from the namespaces' meta, per ``Settings.admission``).
    The controller is thread-safe for different environments; one environment is serialised by
    its Consul lock, across threads, processes and machines.
    """

    def __init__(
        self,
        nomad: NomadClient,
        consul: ConsulClient,
        settings: Settings | None = None,
        *,
        vault: VaultClient | None = None,
        clock: Clock = SYSTEM_CLOCK,
        listeners: Sequence[Listener] = (),
        checkpoint: Callable[[str], None] | None = None,
        user: User | None = None,
        placement: admission.PlacementTable | None = None,
    ) -> None:
        self.nomad = nomad
        self.consul = consul
        self.vault = vault
        self.settings = settings or Settings()
        self.clock = clock
        self.listeners = list(listeners)
        self.checkpoint = checkpoint
        self.user = user or _user()
        self.keys = Keys(self.settings.kv_prefix)
        self.store = RecordStore(consul, self.keys)
        self.runs = RunNumbers(consul, self.keys.run_number)
        self.observer = EnvObserver(nomad)
        self.planner = Planner(consul, self.settings)
        self._uids = UidGenerator()
        self._pool: ThreadPoolExecutor | None = None
        self._envs: dict[str, _EnvRuntime] = {}
        self._logs: dict[str, EventLog] = {}
        self._lock = threading.Lock()
        self._version: NomadVersion | None = None
        # placement rules given by the deployment (``policies.spec.load(root).placement()``), else
        # read from the namespaces when first needed
        self._table: admission.PlacementTable | None = placement

    # --- plumbing ------------------------------------------------------------------------------

    def close(self) -> None:
        """Abandon calls in flight and stop the call pool (the clients are the caller's)."""
        with self._lock:
            envs, self._envs = list(self._envs.values()), {}
            pool, self._pool = self._pool, None
        for rt in envs:
            rt.calls.abandon_all()
            rt.registry.close()
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)

    def __enter__(self) -> Controller:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _call_pool(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(
                    self.settings.call_workers, thread_name_prefix="nomadctl-call"
                )
            return self._pool

    def events(self, env_id: str) -> EventLog:
        """The event log of ``env_id`` (shared by every transition of this controller)."""
        with self._lock:
            log_ = self._logs.get(env_id)
            if log_ is None:
                log_ = EventLog(
                    self.consul,
                    self.keys,
                    env_id,
                    clock=self.clock,
                    max_batches=self.settings.max_event_batches,
                    listeners=self.listeners,
                )
                self._logs[env_id] = log_
            return log_

    def _driver(self) -> TaskDriver:
        return TaskDriver(self.nomad, self.consul, self.settings, self.clock, admit=self._admit)

    def placement_table(self) -> admission.PlacementTable | None:
        """The placement rules ``nomadctl policies apply`` wrote on the cluster's namespaces
        (``None``: none to check). ``Settings.admission``: ``auto`` checks them when present,
        ``required`` refuses to place jobs without them, ``off`` never reads them."""
        mode = self.settings.admission
        if mode == "off":
            return None
        if self._table is None:
            try:
                with NomadAclClient(self.nomad.config) as acl:
                    table = admission.PlacementTable.from_namespaces(acl.namespaces())
            except NomadError as err:
                if mode == "required":
                    raise PlanError(
                        f"cannot read the placement rules of the namespaces: {err.one_line()}"
                    ) from err
                log.warning("placement rules not checked: cannot read namespaces: %s", err.one_line())
                table = admission.PlacementTable({}, ())
            if not table.namespaces and mode == "required":
                raise PlanError(
                    "no namespace carries nomadctl placement rules: run `nomadctl policies apply`"
                )
            self._table = table
        return self._table if self._table.namespaces else None

    def _admit(self, payload: dict[str, Any]) -> dict[str, Any]:
        table = self.placement_table()
        if table is None:
            return payload
        payload = admission.fill_defaults(payload, table)
        admission.admit(payload, table)
        return payload

    def nomad_version(self, override: str | None = None) -> NomadVersion:
        """The version to render for: ``override``, ``Settings.nomad_version``, else the agent's."""
        text = override or self.settings.nomad_version
        if text:
            return NomadVersion.parse(text)
        if self._version is None:
            self._version = NomadVersion.parse(self.nomad.agent_self().version or "2.0")
        return self._version

    def _planned(self, rec: EnvRecord) -> Planned:
        return self.planner.plan(rec)

    def _runtime(self, rec: EnvRecord, planned: Planned | None) -> _EnvRuntime:
        with self._lock:
            rt = self._envs.get(rec.env_id)
        if rt is None:
            registry = PluginRegistry(self.settings.plugin_specs(rec.plugins), http_ca=self.settings.http_ca)
            runtime_vars = RuntimeVars(rec.runtime_vars)
            access = GroupAccess(self.nomad, self.observer, self._driver, rec.env_id)
            calls = CallRunner(
                rec.env_id,
                registry,
                self._call_pool(),
                clock=self.clock,
                runtime=runtime_vars,
                environment=access,
            )
            rt = _EnvRuntime(registry, runtime_vars, calls, access, rec.modify_index)
            with self._lock:
                self._envs[rec.env_id] = rt
        elif rt.synced_index != rec.modify_index:
            rt.runtime_vars = RuntimeVars(rec.runtime_vars)  # another process moved the record on
            rt.calls.runtime = rt.runtime_vars
        rt.access.jobset = planned.jobset if planned else None
        return rt

    def _forget(self, env_id: str) -> None:
        with self._lock:
            rt = self._envs.pop(env_id, None)
        if rt is not None:
            rt.calls.abandon_all()
            rt.registry.close()

    def _note(
        self,
        rec: EnvRecord,
        transition: str,
        message: str,
        *,
        status: OpStatus = OpStatus.ONGOING,
        error: str = "",
        step: str = "",
        vars_: Mapping[str, str] | None = None,
        workflow: WorkflowTemplateInfo | None = None,
    ) -> None:
        self.events(rec.env_id).append(
            [
                Event(
                    EnvironmentEvent(
                        environment_id=rec.env_id,
                        state=rec.state,
                        run_number=rec.lifecycle.run_number or 0,
                        error=error,
                        message=message,
                        transition=transition,
                        transition_step=step,
                        transition_status=status,
                        vars=dict(vars_ or {}),
                        last_request_user=self.user,
                        workflow_template_info=workflow,
                    )
                )
            ]
        )

    @contextmanager
    def _locked(self, env_id: str, what: str) -> Iterator[tuple[EnvLock, RecordKeeper]]:
        self.store.get(env_id)  # EnvironmentNotFound before any lock is taken
        holder = {
            "controller": self.settings.controller_id,
            "transition": what,
            "since_ns": self.clock.now_ns(),
            "user": self.user.name,
        }
        lock = EnvLock(
            self.consul,
            self.keys.lock(env_id),
            env_id=env_id,
            holder=holder,
            clock=self.clock,
            ttl=self.settings.lock_ttl,
            lock_delay=self.settings.lock_delay,
            wait=self.settings.lock_wait,
            max_wait=self.settings.max_wait,
        )
        with lock:
            yield lock, RecordKeeper(self.store, self.store.get(env_id), lock)

    # --- create -----------------------------------------------------------------------------------

    def create(self, request: CreateRequest, *, auto: bool = False) -> Created:
        """Plan ``request`` and store the new environment (STANDBY) with check-and-set.

        Refused (nothing stored) for bad manifests, plans Nomad would refuse, calls of plugins
        this controller cannot run, and (with a Vault client) missing secrets. ``auto`` then
        DEPLOYs and CONFIGUREs, as AliECS's ``--auto``: a failure issues GO_ERROR and tears the
        environment down; the reports are in ``Created.reports``.
        """
        specs = self.settings.plugin_specs(request.plugins)
        registry = PluginRegistry(specs, http_ca=self.settings.http_ca)
        try:
            seed = request.seed if request.seed is not None else secrets.randbelow(2**31)
            kv = self.planner.kv(request.providers, request.kv_overlay)
            env_id = request.env_id or self._uids.new()
            plan = build_plan(
                request.repo, request.workflow, user_vars=request.user_vars, kv=kv, env_id=env_id, seed=seed
            )
            registry.check(plan.calls)
            version = self.nomad_version(request.render.nomad_version)
            render_ = {
                "nomad_version": str(version),
                "split": request.render.split,
                "datacenters": list(request.render.datacenters),
                "namespace": request.render.namespace,
                "region": request.render.region,
                "host_target": request.render.host_target,
                "mhz_per_core": request.render.mhz_per_core,
            }
            planned = self.planner.build(plan, render_)
            self._check_secrets(plan)
        finally:
            registry.close()
        noop_used = sorted({c.func for c in plan.calls if c.func.split(".", 1)[0] in registry.noop_names()})
        warnings = (
            *plan.warnings,
            *planned.jobset.warnings,
            *planned.hooks.warnings,
            *(f"call {f} is mapped to noop: it will not be executed" for f in noop_used),
        )
        now = self.clock.now_ns()
        record = EnvRecord(
            env_id=env_id,
            workflow=request.workflow,
            repo=plan.repo,
            seed=seed,
            manifest_sha=plan.manifest_sha,
            created_ns=now,
            created_by=self.user.name,
            lifecycle=Environment(env_id),
            user_vars=dict(request.user_vars),
            providers=str(Path(request.providers).resolve()) if request.providers else None,
            kv_overlay=dict(request.kv_overlay),
            plugins={name: text for name, text in request.plugins.items()},
            render=render_,
        )
        try:
            stored = self.store.create(record)
        except ConsulConflict:
            raise TransitionRefused(f"environment {env_id} already exists") from None
        info = planned.workflow
        self._note(
            stored,
            "CREATE",
            "environment creation started",
            status=OpStatus.STARTED,
            step="before_CREATE",
            workflow=info,
        )
        self._note(
            stored,
            "CREATE",
            f"environment created: {len(plan.tasks)} tasks, {len(plan.calls)} calls, "
            f"{len(planned.jobset.jobs)} Nomad jobs"
            + (f"; {no_process_control(plan, 'DEPLOY')}" if controlled_tasks(plan) else ""),
            status=OpStatus.DONE_OK,
            step="after_CREATE",
            vars_=request.user_vars,
            workflow=info,
        )
        created = Created(stored, tuple(warnings))
        if not auto:
            return created
        reports: list[TransitionReport] = []
        with self._locked(env_id, "CREATE --auto") as (lock, keeper):
            for t in (Transition.DEPLOY, Transition.CONFIGURE):
                try:
                    report = self._transition(lock, keeper, t, creating=True)
                except PlacementRefused:
                    self._teardown(lock, keeper, force=True)
                    raise
                reports.append(report)
                if not report.ok:
                    break
        return replace(created, record=self.store.get(env_id), reports=tuple(reports))

    def _check_secrets(self, plan: EnvironmentPlan) -> None:
        """With a Vault client: every ``vault:`` reference must name an existing secret."""
        if self.vault is not None:
            check_secrets(plan, self.vault)

    # --- transitions -------------------------------------------------------------------------------

    @staticmethod
    def parse_event(event: Transition | str) -> Transition:
        text = str(event).strip().upper().replace("-", "_")
        aliases = {"START": "START_ACTIVITY", "STOP": "STOP_ACTIVITY"}
        text = aliases.get(text, text)
        try:
            t = Transition(text)
        except ValueError:
            allowed = ", ".join(sorted(fsm.API_TRANSITIONS))
            raise TransitionRefused(f"unknown event {event!r} (one of {allowed})") from None
        return t

    def transition(self, env_id: str, event: Transition | str) -> TransitionReport:
        """Run one API transition (DEPLOY, CONFIGURE, START_ACTIVITY, STOP_ACTIVITY, RESET, GO_ERROR)."""
        t = self.parse_event(event)
        with self._locked(env_id, str(t)) as (lock, keeper):
            notes, _ = self._recover(lock, keeper, str(t))
            if t is Transition.GO_ERROR:
                return self._announced_go_error(lock, keeper, "GO_ERROR requested", notes)
            return self._transition(lock, keeper, t, notes=notes)

    def deploy(self, env_id: str) -> TransitionReport:
        return self.transition(env_id, Transition.DEPLOY)

    def configure(self, env_id: str) -> TransitionReport:
        return self.transition(env_id, Transition.CONFIGURE)

    def start(self, env_id: str) -> TransitionReport:
        return self.transition(env_id, Transition.START_ACTIVITY)

    def stop(self, env_id: str) -> TransitionReport:
        return self.transition(env_id, Transition.STOP_ACTIVITY)

    def reset(self, env_id: str) -> TransitionReport:
        return self.transition(env_id, Transition.RESET)

    def go_error(self, env_id: str, reason: str) -> TransitionReport:
        """Issue GO_ERROR on ``env_id`` because of ``reason`` (the health watcher's entry point).

        Refused (``TransitionRefused``) in ERROR and DONE, where AliECS ignores the event.
        """
        with self._locked(env_id, "GO_ERROR") as (lock, keeper):
            notes, _ = self._recover(lock, keeper, "GO_ERROR")
            return self._announced_go_error(lock, keeper, reason, notes)

    def _announced_go_error(
        self, lock: EnvLock, keeper: RecordKeeper, reason: str, notes: Sequence[str]
    ) -> TransitionReport:
        rec = keeper.record
        if notes and rec.lifecycle.state is State.ERROR:
            # the recovery of an interrupted transition already issued GO_ERROR
            now = self.clock.now_ns()
            return TransitionReport(
                rec.env_id, "GO_ERROR", "ok", rec.state, rec.state, None, now, now, notes=tuple(notes)
            )
        if fsm.destination(rec.lifecycle.state, Transition.GO_ERROR) is None:
            raise TransitionRefused(f"environment {rec.env_id} is {rec.state}: GO_ERROR does not apply")
        self._note(rec, "", "a critical error occurred, GO_ERROR transition imminent", error=reason)
        report = self._go_error(lock, keeper, reason)
        return replace(report, notes=(*notes, *report.notes))

    def _context(
        self,
        lock: EnvLock | None,
        keeper: RecordKeeper,
        name: str,
        planned: Planned,
        rt: _EnvRuntime,
        *,
        placement: Any = None,
    ) -> StepContext:
        env_id = keeper.record.env_id

        def registered(job_id: str) -> None:
            rec = keeper.record
            if job_id not in rec.jobs:
                keeper.set(jobs=(*rec.jobs, job_id))

        return StepContext(
            env_id=env_id,
            transition=name,
            plan=planned.plan,
            jobset=planned.jobset,
            keeper=keeper,
            events=self.events(env_id),
            calls=rt.calls,
            hooks=HookRunner(
                self.nomad,
                planned.jobset,
                self.settings,
                self.clock,
                on_registered=registered,
                admit=self._admit,
            ),
            tasks=self._driver(),
            observer=self.observer,
            runs=self.runs,
            clock=self.clock,
            lock=lock,
            user=self.user,
            workflow=planned.workflow,
            placement=placement,
            checkpoint=self.checkpoint,
        )

    def _finish(
        self,
        keeper: RecordKeeper,
        rt: _EnvRuntime | None,
        outcome: Outcome,
        started: int,
        **changes: Any,
    ) -> TransitionReport:
        rec = keeper.record
        now = self.clock.now_ns()
        # failures that did not decide the verdict (a teardown's never do)
        warnings = tuple(
            f.message for f in outcome.failures if not f.critical or outcome.transition == fsm.DESTROY
        )
        last = LastTransition(
            transition=outcome.transition,
            verdict=str(outcome.verdict),
            source=str(outcome.source),
            state=str(outcome.env.state),
            started_ns=started,
            finished_ns=now,
            error=outcome.error,
            warnings=warnings,
        )
        rec = keeper.set(
            lifecycle=outcome.env,
            in_progress=None,
            last=last,
            runtime_vars=rt.runtime_vars.snapshot() if rt else rec.runtime_vars,
            **changes,
        )
        if rt is not None:
            rt.synced_index = rec.modify_index
        return TransitionReport(
            env_id=rec.env_id,
            transition=outcome.transition,
            verdict=str(outcome.verdict),
            source=str(outcome.source),
            state=str(outcome.env.state),
            run_number=outcome.env.run_number,
            started_ns=started,
            finished_ns=now,
            error=outcome.error,
            warnings=warnings,
        )

    def _refuse(self, keeper: RecordKeeper, t: Transition, planned: Planned | None) -> TransitionRefused:
        """Emit AliECS's two events for a request not allowed in this state; the error to raise."""
        rec = keeper.record
        hooks = planned.hooks if planned else HookIndex.build(rec.env_id, (), ())
        events = self.events(rec.env_id)

        def perform(step: schedule.Step) -> schedule.Reply:
            if isinstance(step, schedule.Emit):
                events.append(step.events)
            return None

        outcome = schedule.drive(schedule.transition(rec.lifecycle, t, hooks, user=self.user), perform)
        return TransitionRefused(
            f"environment {rec.env_id}: {outcome.error or f'{t} is not allowed in {rec.state}'}"
        )

    def _transition(
        self,
        lock: EnvLock,
        keeper: RecordKeeper,
        t: Transition,
        *,
        notes: Sequence[str] = (),
        creating: bool = False,
    ) -> TransitionReport:
        rec = keeper.record
        if t not in fsm.API_TRANSITIONS or fsm.destination(rec.lifecycle.state, t) is None:
            raise self._refuse(keeper, t, None)
        planned = self._planned(rec)
        rt = self._runtime(rec, planned)
        started = self.clock.now_ns()
        placement = None
        driver = self._driver()
        if t is Transition.DEPLOY:
            try:
                placement = driver.check_placement(planned.jobset)
            except PlacementRefused as err:
                self._note(
                    rec,
                    str(t),
                    "transition refused: placement impossible",
                    status=OpStatus.DONE_ERROR,
                    error=err.one_line(),
                )
                keeper.set(
                    last=LastTransition(
                        str(t), "refused", rec.state, rec.state, started, self.clock.now_ns(), err.one_line()
                    )
                )
                raise
        keeper.set(in_progress=InProgress(str(t), rec.state, started, self.settings.controller_id))
        ctx = self._context(lock, keeper, str(t), planned, rt, placement=placement)
        ctx.tasks = driver
        if placement is not None and placement.warnings:
            self._note(
                keeper.record, str(t), "placement: " + "; ".join(placement.warnings), step=f"before_{t}"
            )
        flow = schedule.transition(
            keeper.record.lifecycle, t, planned.hooks, user=self.user, workflow=ctx.workflow
        )
        outcome = schedule.drive(flow, Performer(ctx))
        report = self._finish(keeper, rt, outcome, started)
        report = replace(
            report,
            notes=tuple(notes),
            warnings=(*report.warnings, *(placement.warnings if placement else ())),
        )
        rcv = schedule.recovery(outcome, creating=creating, user=self.user, workflow=ctx.workflow)
        if rcv.go_error:
            self.events(rec.env_id).append(rcv.events)
            report = replace(report, go_error=self._go_error(lock, keeper, rcv.reason))
        elif rcv.force_error:
            keeper.set(lifecycle=keeper.record.lifecycle.with_state(State.ERROR))
        if rcv.teardown:
            report = replace(report, teardown=self._teardown(lock, keeper, force=True))
        return report

    def _go_error(self, lock: EnvLock, keeper: RecordKeeper, reason: str) -> TransitionReport:
        rec = keeper.record
        started = self.clock.now_ns()
        lock.update(transition="GO_ERROR")
        try:
            planned = self._planned(rec)
        except NomadctlError as err:
            # without a plan there are no hooks to run: record ERROR and say why
            env = rec.lifecycle.without_run_number().with_state(State.ERROR)
            self._note(
                rec,
                "GO_ERROR",
                f"GO_ERROR without hooks: {err.one_line()}",
                status=OpStatus.DONE_ERROR,
                error=reason,
            )
            keeper.set(
                lifecycle=env,
                in_progress=None,
                last=LastTransition(
                    "GO_ERROR",
                    "failed",
                    rec.state,
                    str(State.ERROR),
                    started,
                    self.clock.now_ns(),
                    err.one_line(),
                ),
            )
            return TransitionReport(
                rec.env_id,
                "GO_ERROR",
                "failed",
                rec.state,
                str(State.ERROR),
                None,
                started,
                self.clock.now_ns(),
                err.one_line(),
            )
        rt = self._runtime(rec, planned)
        keeper.set(in_progress=InProgress("GO_ERROR", rec.state, started, self.settings.controller_id))
        ctx = self._context(lock, keeper, "GO_ERROR", planned, rt)
        flow = schedule.transition(
            keeper.record.lifecycle, Transition.GO_ERROR, planned.hooks, user=self.user, workflow=ctx.workflow
        )
        outcome = schedule.drive(flow, Performer(ctx))
        report = self._finish(keeper, rt, outcome, started)
        report = replace(report, notes=(f"reason: {reason}",))
        rcv = schedule.recovery(outcome, user=self.user, workflow=ctx.workflow)
        if rcv.force_error:
            self._note(keeper.record, "GO_ERROR", rcv.reason, status=OpStatus.DONE_ERROR, error=outcome.error)
            keeper.set(lifecycle=keeper.record.lifecycle.with_state(State.ERROR))
            report = replace(report, state=str(State.ERROR))
        return report

    # --- scaling ----------------------------------------------------------------------------------

    def scale(self, env_id: str, group: str, count: int, *, wait: float = 0.0) -> ScaleReport:
        """Change the count of the replicated ``group`` live (``nomadctl env scale``), never below
        its NMIN; waits up to ``wait`` s for an active deployment to end. Refusals raise
        ``TransitionRefused`` (exit 2) and change nothing."""
        with self._locked(env_id, "SCALE") as (lock, keeper):
            self._recover(lock, keeper, "SCALE")
            planned = self._planned(keeper.record)
            return scale.scale_group(
                self.nomad,
                keeper,
                planned,
                self.events(env_id),
                group=group,
                count=count,
                user=self.user.name,
                clock=self.clock,
                wait=wait,
                max_wait=self.settings.max_wait,
            )

    # --- teardown ---------------------------------------------------------------------------------

    def destroy(self, env_id: str, *, force: bool = False) -> TransitionReport:
        """Tear ``env_id`` down: every job deregistered, DESTROY hooks run, state DONE.

        As AliECS's ``DestroyEnvironment``: from RUNNING the run is stopped (STOP_ACTIVITY) and
        the environment RESET first, from CONFIGURED it is RESET; if one of those fails, or with
        ``force``, or from ERROR, the teardown is forced. After the teardown anything of the
        environment still in Nomad or Consul is released and reported (``leftovers``).
        """
        with self._locked(env_id, "DESTROY") as (lock, keeper):
            notes, interrupted = self._recover(lock, keeper, fsm.DESTROY)
            rec = keeper.record
            if rec.lifecycle.state is State.DONE:
                raise TransitionRefused(f"environment {env_id} is already DONE")
            plan_ = schedule.destroy_plan(
                rec.lifecycle.state, force=force or interrupted, allow_in_running=True
            )
            before: list[TransitionReport] = []
            forced = plan_.force
            for t in plan_.before:
                report = self._transition(lock, keeper, t)
                before.append(report)
                if not report.ok:
                    forced = True
                    break
            report = self._teardown(lock, keeper, force=forced)
            return replace(report, notes=(*notes, *(f"{r.transition}: {r.verdict}" for r in before)))

    def _teardown(self, lock: EnvLock, keeper: RecordKeeper, *, force: bool) -> TransitionReport:
        rec = keeper.record
        started = self.clock.now_ns()
        lock.update(transition="DESTROY")
        planned: Planned | None
        try:
            planned = self._planned(rec)
        except NomadctlError as err:
            if not force:
                raise
            planned = None
            self._note(rec, fsm.DESTROY, f"teardown without hooks: {err.one_line()}")
        rt = self._runtime(rec, planned) if planned else None
        keeper.set(in_progress=InProgress(fsm.DESTROY, rec.state, started, self.settings.controller_id))
        driver = self._driver()
        if planned is not None and rt is not None:
            ctx = self._context(lock, keeper, fsm.DESTROY, planned, rt)
            ctx.tasks = driver
            flow = schedule.teardown(
                keeper.record.lifecycle, planned.hooks, force=force, user=self.user, workflow=ctx.workflow
            )
            outcome = schedule.drive(flow, Performer(ctx))
        else:
            outcome = Outcome(
                fsm.DESTROY,
                rec.lifecycle.state,
                Verdict.OK,
                rec.lifecycle.without_run_number().with_state(State.DONE),
            )
        if outcome.verdict is Verdict.REFUSED:
            keeper.set(in_progress=None)
            raise TransitionRefused(f"environment {rec.env_id}: {outcome.error}")
        leftovers: tuple[str, ...] = ()
        if outcome.verdict is Verdict.OK:
            # whatever the hooks' jobs, dispatched children or an earlier crash left behind
            leftovers = tuple(driver.sweep(rec.env_id))
            if leftovers:
                self._note(
                    keeper.record,
                    fsm.DESTROY,
                    "teardown left resources behind",
                    status=OpStatus.DONE_ERROR,
                    error="; ".join(leftovers),
                )
        report = self._finish(
            keeper, rt, outcome, started, **({"run_job": None, "jobs": ()} if outcome.ok else {})
        )
        if outcome.ok:
            self._forget(rec.env_id)
        return replace(report, leftovers=leftovers)

    # --- crash recovery ----------------------------------------------------------------------------

    def diagnose(self, rec: EnvRecord) -> recover.Diagnosis | None:
        """What the next command will do about ``rec``'s interrupted transition (``None``: none)."""
        if rec.in_progress is None:
            return None
        try:
            planned: Planned | None = self._planned(rec)
        except NomadctlError:
            planned = None
        run_job = (rec.in_progress.run_job if rec.in_progress else None) or rec.run_job
        obs = recovery_observation(self.observer, rec.env_id, planned.jobset if planned else None, run_job)
        return recover.diagnose(rec, obs, planned.hooks if planned else None)

    def _finish_deploy_wait(self, rec: EnvRecord) -> None:
        """A DEPLOY that died in its task step after registering every job was waiting for its
        groups to become healthy: finish that wait (within what is left of ``deploy_timeout``,
        counted from the transition's start) before judging, so allocations that were merely still
        starting do not turn into a GO_ERROR. Failed groups end the wait at once."""
        ip = rec.in_progress
        if ip is None or ip.transition != Transition.DEPLOY or ip.step != "tasks_DEPLOY":
            return
        try:
            jobset = self._planned(rec).jobset
        except NomadctlError:
            return
        obs = recovery_observation(self.observer, rec.env_id, jobset, None)
        if obs.jobs_registered < obs.jobs_expected or obs.groups_ready == obs.groups_total:
            return
        elapsed = (self.clock.now_ns() - ip.started_ns) / 1e9
        remaining = self.settings.deploy_timeout - elapsed
        if remaining <= 0:
            return
        targets = [(g, g.job_id) for g in jobset.groups if g.job_kind is JobKind.SERVICE]
        self._driver().wait_groups(
            targets, jobset, timeout=remaining, what="DEPLOY (resumed)", fail_fast=True
        )

    def _recover(self, lock: EnvLock, keeper: RecordKeeper, requested: str) -> tuple[list[str], bool]:
        """Reconcile an interrupted transition (we hold the lock, so its controller is gone).
        Returns notes and whether a teardown was interrupted (destroy must force)."""
        rec = keeper.record
        ip = rec.in_progress
        if ip is None:
            return [], False
        self._finish_deploy_wait(rec)
        diag = self.diagnose(rec)
        assert diag is not None
        now = self.clock.now_ns()
        text = f"recovered: {diag.description}"
        last = LastTransition(
            ip.transition,
            "interrupted",
            ip.source,
            str(diag.env.state),
            ip.started_ns,
            now,
            diag.reason or diag.description,
        )
        run_job = ip.run_job or rec.run_job
        if diag.action is recover.Action.TEARDOWN:
            if requested != fsm.DESTROY:
                raise InterruptedTeardown(
                    f"environment {rec.env_id}: {diag.description}; "
                    f"only `nomadctl env destroy {rec.env_id}` may continue"
                )
            self._note(rec, ip.transition, text + "; tearing down again (forced)", error=diag.reason)
            keeper.set(in_progress=None, last=last, run_job=run_job)
            return [text], True
        self._note(
            rec,
            ip.transition,
            f"{text}; {diag.next_step().removeprefix('the next command ')}",
            error=diag.reason,
        )
        if diag.action is recover.Action.GO_ERROR:
            keeper.set(lifecycle=diag.env, in_progress=None, last=last, run_job=run_job)
            event = EnvironmentEvent(
                environment_id=rec.env_id,
                state=str(diag.env.state),
                run_number=diag.env.run_number or 0,
                error=diag.reason,
                message="a critical error occurred, GO_ERROR transition imminent",
                last_request_user=self.user,
            )
            self.events(rec.env_id).append([Event(event)])
            go = self._go_error(lock, keeper, f"transition {ip.transition} interrupted: {diag.reason}")
            return [text, f"GO_ERROR: {go.verdict}, state {go.state}"], False
        finished_run_job = None if ip.transition == Transition.STOP_ACTIVITY else run_job
        keeper.set(lifecycle=diag.env, in_progress=None, last=last, run_job=finished_run_job)
        return [text], False

    # --- reading ------------------------------------------------------------------------------------

    def record(self, env_id: str) -> EnvRecord:
        return self.store.get(env_id)

    def list_envs(self, *, include_done: bool = False) -> list[EnvSummary]:
        """Environments (without DONE ones unless ``include_done``), oldest first."""
        out = []
        for rec in self.store.list():
            if rec.lifecycle.state is State.DONE and not include_done:
                continue
            ip = rec.in_progress
            out.append(
                EnvSummary(
                    rec.env_id,
                    rec.workflow,
                    rec.state,
                    rec.lifecycle.run_number,
                    rec.created_ns,
                    f"{ip.transition} at {ip.step or 'start'}" if ip else "",
                )
            )
        return out

    def groups(self, env_id: str) -> list[GroupStatus]:
        """The environment's long-running groups (and the current run's), judged now."""
        rec = self.store.get(env_id)
        planned = self._planned(rec)
        statuses = self.observer.service_groups(planned.jobset)
        if rec.run_job:
            run_groups = [(g, rec.run_job) for g in planned.jobset.groups if g.job_kind is JobKind.RUN]
            statuses += self.observer.groups(run_groups, planned.jobset)
        return statuses

    def show(self, env_id: str, *, events: int = 10) -> EnvStatus:
        """Everything ``env show`` prints; reads only (an interrupted transition is diagnosed,
        not acted on)."""
        rec = self.store.get(env_id)
        warnings: list[str] = []
        in_progress = ""
        if rec.in_progress is not None:
            ip = rec.in_progress
            holder = describe_holder(self.consul, self.keys.lock(env_id))
            if holder is not None:
                age = (self.clock.now_ns() - ip.started_ns) / 1e9
                in_progress = (
                    f"{ip.transition} in progress at {ip.step or 'its start'} "
                    f"(controller {holder.get('controller', ip.controller)}, {age:.1f} s)"
                )
            else:
                diag = self.diagnose(rec)
                in_progress = f"{diag.description}; {diag.next_step()}" if diag else ""
        planned: Planned | None = None
        try:
            planned = self._planned(rec)
        except NomadctlError as err:
            warnings.append(err.one_line())
        groups: list[GroupLine] = []
        tasks: list[TaskLine] = []
        jobs = [j.id for j in self.observer.env_jobs(env_id)]
        process = ""
        hooks = calls = 0
        if planned is not None:
            process = no_process_control(planned.plan, "DEPLOY")
            hooks, calls = len(planned.hooks.task_hooks), len(planned.hooks.calls)
            statuses: list[GroupStatus] = []
            if jobs:
                try:
                    statuses = self.groups(env_id)
                except NomadError as err:
                    warnings.append(err.one_line())
            groups = group_lines(statuses)
            tasks = task_lines(planned, statuses)
        health = self._health(env_id, warnings)
        status = EnvStatus(
            env_id=rec.env_id,
            workflow=rec.workflow,
            repo=rec.repo,
            state=rec.state,
            run_number=rec.lifecycle.run_number,
            last_run_number=rec.lifecycle.last_run_number,
            created_ns=rec.created_ns,
            created_by=rec.created_by,
            manifest_sha=rec.manifest_sha,
            in_progress=in_progress,
            last=rec.last,
            process_control=process,
            groups=tuple(groups),
            tasks=tuple(tasks),
            services=tuple(service_lines(self.consul, env_id)),
            jobs=tuple(jobs),
            hooks=hooks,
            calls=calls,
            pending_calls=tuple(p.key for p in rec.lifecycle.pending),
            events=tuple(e.to_dict() for e in self.events(env_id).tail(events)),
            warnings=tuple(warnings),
            health=health,
        )
        return status

    def _health(self, env_id: str, warnings: list[str]) -> dict[str, Any] | None:
        """What the controller daemon recorded about the environment's health, if anything."""
        try:
            health = HealthStore(self.consul, self.keys).get(env_id)
        except NomadctlError as err:
            warnings.append(err.one_line())
            return None
        return health.to_dict() if health.modify_index else None

    def watch(
        self,
        env_id: str,
        *,
        from_start: bool = True,
        stop: threading.Event | None = None,
        timeout: float | None = None,
        until_done: bool = True,
    ) -> Iterator[Event]:
        """Follow ``env_id``'s events live (blocking queries). With ``until_done`` the iteration
        ends after the teardown-complete event."""
        self.store.get(env_id)
        log_ = self.events(env_id)
        after = 0
        if not from_start:
            events, _ = log_.read()
            after = max((seq for seq, _ in events), default=0)
        deadline = None if timeout is None else self.clock.monotonic() + timeout
        for _, event in log_.follow(after=after, stop=stop, wait=self.settings.max_wait, deadline=deadline):
            yield event
            p = event.payload
            if (
                until_done
                and isinstance(p, EnvironmentEvent)
                and p.transition == fsm.DESTROY
                and p.transition_step == fsm.AFTER_DESTROY
                and p.transition_status is OpStatus.DONE_OK
            ):
                return
