"""A scripted controller for schedule tests: performs steps, records a readable trace."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from nomadctl.lifecycle import schedule as sch
from nomadctl.lifecycle.events import Event
from nomadctl.lifecycle.hooks import HookIndex
from nomadctl.plan import CallInstance, ControlMode, TaskInstance

T0 = 1_700_000_000_000_000_000  # ns


def call(
    path: str,
    trigger: str,
    await_: str = "",
    *,
    critical: bool = True,
    func: str | None = None,
    timeout: str = "10s",
) -> CallInstance:
    return CallInstance(
        path=path,
        name=path.rsplit(".", 1)[-1],
        parent_path=path.rsplit(".", 1)[0],
        func=func or f"test.{path.rsplit('.', 1)[-1]}()",
        return_var="",
        trigger=trigger,
        await_=await_,
        timeout=timeout,
        critical=critical,
    )


def task(
    path: str, trigger: str = "", *, critical: bool = True, timeout: str = "5s", host: str = "h1"
) -> TaskInstance:
    name = path.rsplit(".", 1)[-1]
    return TaskInstance(
        path=path,
        name=name,
        parent_path=path.rsplit(".", 1)[0],
        task_class="shell-command" if trigger else name,
        task_id=f"id-{path}",
        control_mode=ControlMode.HOOK if trigger else ControlMode.FAIRMQ,
        shell=True,
        value="true",
        arguments=(),
        env=(),
        user="flp",
        host=host,
        critical=critical,
        trigger=trigger,
        timeout=timeout,
    )


def index(*items: CallInstance | TaskInstance, env_id: str = "env1") -> HookIndex:
    return HookIndex.build(
        env_id,
        [i for i in items if isinstance(i, TaskInstance)],
        [i for i in items if isinstance(i, CallInstance)],
    )


def key_of(hooks: HookIndex, path: str) -> str:
    return next(h.key for h in (*hooks.calls, *hooks.task_hooks) if h.path == path)


@dataclass
class Farm:
    """Performs steps. ``results`` maps a hook path to its result status (default OK) or a
    full ``HookResult`` template (its key is replaced). Trace lines look like
    ``start a@before_START_ACTIVITY-200``, ``await a``, ``run h``, ``core allocate_run_number``,
    ``tasks START_ACTIVITY``, ``release t1,t2``, ``cancel a``, ``call a``."""

    hooks: HookIndex
    results: Mapping[str, sch.HookStatus | sch.HookResult] = field(default_factory=dict)
    run_number: int | None = 42
    run_number_error: str = ""
    task_error: str = ""
    release_failed: Mapping[str, str] = field(default_factory=dict)
    finished_on_cancel: Iterable[str] = ()
    trace: list[str] = field(default_factory=list)
    steps: list[sch.Step] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    vars_seen: dict[str, Mapping[str, str]] = field(default_factory=dict)
    now: int = T0

    def _result(self, key: str, path: str) -> sch.HookResult:
        r = self.results.get(path, sch.HookStatus.OK)
        if isinstance(r, sch.HookResult):
            return sch.HookResult(key, r.status, r.message, r.exit_code, r.output, r.hostname)
        return sch.HookResult(key, r)

    def __call__(self, step: sch.Step) -> Any:
        self.steps.append(step)
        self.now += 1_000_000  # 1 ms per step: every stamp differs
        match step:
            case sch.Emit(events=events):
                self.events.extend(e.stamped(self.now) for e in events)
                return None
            case sch.StartCalls(moment=m, weight=w, calls=calls, vars=v):
                for c in calls:
                    self.trace.append(f"start {c.path}@{m}{w:+d}")
                    self.vars_seen[c.path] = dict(v)
                return None
            case sch.AwaitCalls(calls=calls):
                self.trace.extend(f"await {c.path}" for c in calls)
                return tuple(self._result(c.key, c.path) for c in calls)
            case sch.RunCalls(calls=calls, vars=v):
                self.trace.extend(f"call {c.path}" for c in calls)
                return tuple(self._result(c.key, c.path) for c in calls)
            case sch.RunHooks(hooks=hooks, vars=v):
                for h in hooks:
                    self.trace.append(f"run {h.path}")
                    self.vars_seen[h.path] = dict(v)
                return tuple(self._result(h.key, h.path) for h in hooks)
            case sch.CancelCalls(calls=calls):
                self.trace.extend(f"cancel {c.path}" for c in calls)
                done = set(self.finished_on_cancel)
                return tuple(self._result(c.key, c.path) for c in calls if c.path in done)
            case sch.CoreAction(action=sch.Core.ALLOCATE_RUN_NUMBER):
                self.trace.append("core allocate_run_number")
                return sch.CoreResult(self.now, self.run_number, self.run_number_error)
            case sch.CoreAction(action=sch.Core.TIMESTAMP, var=var):
                self.trace.append(f"stamp {var}")
                return sch.CoreResult(self.now)
            case sch.TaskStep(transition=t, vars=v):
                self.trace.append(f"tasks {t}")
                self.vars_seen[f"tasks {t}"] = dict(v)
                return sch.TaskStepResult(self.task_error)
            case sch.ReleaseTasks(tasks=tasks):
                self.trace.append("release " + ",".join(t.path for t in tasks))
                return sch.ReleaseResult({k: v for k, v in self.release_failed.items()})
        raise AssertionError(f"unexpected step {step!r}")

    # views ------------------------------------------------------------------------------------
    def actions(self) -> list[str]:
        """The trace without timestamps (hook/call/task actions only)."""
        return [t for t in self.trace if not t.startswith("stamp ")]

    def env_steps(self) -> list[tuple[str, str]]:
        """(transitionStep, transitionStatus) of every environment event, in order."""
        out = []
        for e in self.events:
            p = e.payload
            if p.KEY == "environmentEvent":
                out.append((p.transition_step, p.transition_status.name))  # type: ignore[union-attr]
        return out

    def payloads(self, key: str) -> list[Any]:
        return [e.payload for e in self.events if key == e.payload.KEY]
