"""The hooks and calls of a plan, indexed by trigger moment and weight, with static warnings.

A *task hook* is a ``TaskInstance`` with a ``trigger`` (AliECS runs it synchronously at its
trigger, with its own timeout; its ``await`` is ignored). A *call* is a ``CallInstance``: started
asynchronously at its trigger and awaited at its ``await`` point (``await`` defaults to the
trigger, as in AliECS's role loader). Within one (moment, weight) both keep plan (manifest) order,
which is the order AliECS's role tree walk gives them.

``HookIndex.warnings`` lists what AliECS would silently accept but that cannot do what the author
meant: triggers that never fire, unparsable weights, awaits that fall before their trigger or
outside the transition, task hooks with an ``await``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from nomadctl import triggers
from nomadctl.lifecycle import fsm
from nomadctl.lifecycle.events import Traits
from nomadctl.plan import CallInstance, EnvironmentPlan, TaskInstance
from nomadctl.triggers import Point


@dataclass(frozen=True, slots=True)
class CallHook:
    """A call with its parsed trigger and await points. ``key`` is unique in the index."""

    key: str
    call: CallInstance
    trigger: Point
    await_: Point

    @property
    def critical(self) -> bool:
        return self.call.critical

    @property
    def path(self) -> str:
        return self.call.path

    @property
    def traits(self) -> Traits:
        c = self.call
        return Traits(trigger=c.trigger, await_=c.await_ or c.trigger, timeout=c.timeout, critical=c.critical)


@dataclass(frozen=True, slots=True)
class TaskHook:
    """A hook task with its parsed trigger. ``key`` is unique in the index."""

    key: str
    task: TaskInstance
    trigger: Point

    @property
    def critical(self) -> bool:
        return self.task.critical

    @property
    def path(self) -> str:
        return self.task.path

    @property
    def name(self) -> str:
        """AliECS's task name, ``<class>#<taskid>``, used in its hook error messages."""
        return f"{self.task.task_class}#{self.task.task_id}"

    @property
    def traits(self) -> Traits:
        t = self.task
        return Traits(trigger=t.trigger, await_=t.await_ or t.trigger, timeout=t.timeout, critical=t.critical)


Hook = CallHook | TaskHook

_NO_CALLS: tuple[CallHook, ...] = ()
_NO_TASKS: tuple[TaskHook, ...] = ()


@dataclass(frozen=True, slots=True)
class HookIndex:
    """Every hook of one environment, looked up by moment and weight. Build with ``from_plan``."""

    env_id: str
    tasks: tuple[TaskInstance, ...]
    calls: tuple[CallHook, ...]
    task_hooks: tuple[TaskHook, ...]
    warnings: tuple[str, ...] = ()
    _calls_at: Mapping[Point, tuple[CallHook, ...]] = field(default_factory=dict, repr=False)
    _tasks_at: Mapping[Point, tuple[TaskHook, ...]] = field(default_factory=dict, repr=False)
    _weights: Mapping[str, frozenset[int]] = field(default_factory=dict, repr=False)
    _by_key: Mapping[str, Hook] = field(default_factory=dict, repr=False)

    @classmethod
    def from_plan(cls, plan: EnvironmentPlan) -> HookIndex:
        return cls.build(plan.env_id, plan.tasks, plan.calls)

    @classmethod
    def build(cls, env_id: str, tasks: Iterable[TaskInstance], calls: Iterable[CallInstance]) -> HookIndex:
        """Index ``tasks`` (hooks are those with a trigger) and ``calls``, keeping their order."""
        all_tasks = tuple(tasks)
        warnings: list[str] = []
        keys: set[str] = set()

        def unique(base: str) -> str:
            key, n = base, 1
            while key in keys:
                n += 1
                key = f"{base}#{n}"
            keys.add(key)
            return key

        call_hooks: list[CallHook] = []
        for c in calls:
            if not c.trigger:
                continue
            trig = _parse(c.path, "trigger", c.trigger, warnings)
            aw = _parse(c.path, "await", c.await_, warnings) if c.await_ else trig
            call_hooks.append(CallHook(unique(c.path), c, trig, aw))
            _check_call(c.path, c.trigger, c.await_ or c.trigger, trig=trig, aw=aw, warnings=warnings)
        task_hooks: list[TaskHook] = []
        for t in all_tasks:
            if not t.is_hook:
                continue
            trig = _parse(t.path, "trigger", t.trigger, warnings)
            task_hooks.append(TaskHook(unique(t.task_id or t.path), t, trig))
            _check_moment(t.path, "trigger", t.trigger, trig.moment, warnings)
            if t.await_ and t.await_ != t.trigger:
                warnings.append(
                    f"{t.path}: await {t.await_!r} is ignored: task hooks run synchronously at their "
                    f"trigger {t.trigger!r}"
                )

        calls_at: dict[Point, list[CallHook]] = {}
        tasks_at: dict[Point, list[TaskHook]] = {}
        weights: dict[str, set[int]] = {}
        for ch in call_hooks:
            calls_at.setdefault(ch.trigger, []).append(ch)
            weights.setdefault(ch.trigger.moment, set()).add(ch.trigger.weight)
        for th in task_hooks:
            tasks_at.setdefault(th.trigger, []).append(th)
            weights.setdefault(th.trigger.moment, set()).add(th.trigger.weight)
        by_key: dict[str, Hook] = {h.key: h for h in call_hooks}
        by_key.update((h.key, h) for h in task_hooks)
        return cls(
            env_id=env_id,
            tasks=all_tasks,
            calls=tuple(call_hooks),
            task_hooks=tuple(task_hooks),
            warnings=tuple(warnings),
            _calls_at=MappingProxyType({k: tuple(v) for k, v in calls_at.items()}),
            _tasks_at=MappingProxyType({k: tuple(v) for k, v in tasks_at.items()}),
            _weights=MappingProxyType({k: frozenset(v) for k, v in weights.items()}),
            _by_key=MappingProxyType(by_key),
        )

    def weights(self, moment: str) -> frozenset[int]:
        """Weights at which some hook or call is triggered at ``moment``."""
        return self._weights.get(moment, frozenset())

    def calls_at(self, moment: str, weight: int) -> tuple[CallHook, ...]:
        return self._calls_at.get(Point(moment, weight), _NO_CALLS)

    def tasks_at(self, moment: str, weight: int) -> tuple[TaskHook, ...]:
        return self._tasks_at.get(Point(moment, weight), _NO_TASKS)

    def call(self, key: str) -> CallHook:
        """The call with ``key``; ``KeyError`` if there is none (e.g. state from another plan)."""
        hook = self._by_key[key]
        if not isinstance(hook, CallHook):
            raise KeyError(key)
        return hook

    def hook(self, key: str) -> Hook:
        return self._by_key[key]

    def is_destroy_hook(self, task: TaskInstance) -> bool:
        """Whether ``task`` is a ``DESTROY``/``after_DESTROY`` hook (kept alive until it has run)."""
        return bool(task.trigger) and triggers.point(task.trigger).moment in (fsm.DESTROY, fsm.AFTER_DESTROY)


def _parse(path: str, what: str, expr: str, warnings: list[str]) -> Point:
    parsed = triggers.parse(expr)
    if not parsed.weight_valid:
        warnings.append(
            f"{path}: {what} {expr!r}: weight is not an integer, AliECS uses {parsed.point.moment}+0"
        )
    return parsed.point


def _check_moment(path: str, what: str, expr: str, moment: str, warnings: list[str]) -> bool:
    if moment in fsm.FIRING_MOMENTS:
        return True
    hint = ""
    if moment == fsm.BEFORE_DESTROY:
        hint = " (teardown runs no before_DESTROY hooks; use DESTROY or leave_<state>)"
    elif moment.removeprefix("before_").removeprefix("after_") in (fsm.T.EXIT, fsm.T.RECOVER):
        hint = " (EXIT and RECOVER cannot be requested)"
    warnings.append(f"{path}: {what} {expr!r}: moment {moment!r} never fires{hint}")
    return False


def _check_call(
    path: str, trigger_expr: str, await_expr: str, *, trig: Point, aw: Point, warnings: list[str]
) -> None:
    if not _check_moment(path, "trigger", trigger_expr, trig.moment, warnings):
        return
    if trig.moment in (fsm.DESTROY, fsm.AFTER_DESTROY):
        if aw != trig:
            warnings.append(f"{path}: await {await_expr!r} is ignored: teardown calls run synchronously")
        return
    if not _check_moment(path, "await", await_expr, aw.moment, warnings):
        return
    carried: list[str] = []
    for transition, source in fsm.transitions_with_moment(trig.moment):
        order = fsm.moments(transition, source)
        t_rank = (order.index(trig.moment), trig.weight)
        if aw.moment not in order or (order.index(aw.moment), aw.weight) < t_rank:
            carried.append(f"{transition} from {source}")
    if carried:
        warnings.append(
            f"{path}: await {await_expr!r} does not follow trigger {trigger_expr!r} in "
            f"{', '.join(carried)}: the call is awaited at the next {aw} of a later transition"
        )
