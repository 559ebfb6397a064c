"""The lifecycle state of one environment: frozen, changed only through ``with_*`` methods.

This is what the controller persists (``to_dict``/``from_dict``, JSON-ready) between transitions
and what the schedule reads and returns. It holds:

* ``state``: the FSM state;
* ``run_number``/``last_run_number``: the current run (``None`` outside a run) and the previous;
* ``vars``: the variables AliECS's core sets at run time (``run_number``, ``runNumber``,
  ``last_run_number``, ``run_start_time_ms``, ``run_start_completion_time_ms``,
  ``run_end_time_ms``, ``run_end_completion_time_ms``, ``enter_state_time_ms``,
  ``__fmq_cleanup_count``). The controller overlays them on the plan's variables when it runs a
  call, a hook or a task transition (each step carries a snapshot);
* ``pending``: calls started and not yet awaited, with the point they wait for. AliECS keeps these
  across transitions (``callsPendingAwait``), so a call may be awaited in a later transition.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any

from nomadctl.errors import LifecycleError
from nomadctl.lifecycle.fsm import State
from nomadctl.triggers import Point


@dataclass(frozen=True, slots=True)
class PendingCall:
    """A started call waiting for its await point. ``transition`` is where it was started."""

    key: str
    await_: Point
    trigger: Point
    transition: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "await": {"moment": self.await_.moment, "weight": self.await_.weight},
            "trigger": {"moment": self.trigger.moment, "weight": self.trigger.weight},
            "transition": self.transition,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> PendingCall:
        return cls(
            key=str(d["key"]),
            await_=Point(str(d["await"]["moment"]), int(d["await"]["weight"])),
            trigger=Point(str(d["trigger"]["moment"]), int(d["trigger"]["weight"])),
            transition=str(d["transition"]),
        )


@dataclass(frozen=True, slots=True)
class Environment:
    """One environment's lifecycle state. ``Environment(env_id)`` is a new one in STANDBY."""

    env_id: str
    state: State = State.STANDBY
    run_number: int | None = None
    last_run_number: int | None = None
    vars: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({"__fmq_cleanup_count": "0"}))
    pending: tuple[PendingCall, ...] = ()

    def with_state(self, state: State) -> Environment:
        return replace(self, state=state)

    def with_vars(self, **values: str) -> Environment:
        return replace(self, vars=MappingProxyType({**self.vars, **values}))

    def without_vars(self, *names: str) -> Environment:
        return replace(self, vars=MappingProxyType({k: v for k, v in self.vars.items() if k not in names}))

    def with_run_number(self, run_number: int) -> Environment:
        """Set the current run (and its ``run_number``/``runNumber`` variables)."""
        if run_number <= 0:
            raise LifecycleError(f"invalid run number {run_number}: run numbers are positive")
        text = str(run_number)
        return replace(self, run_number=run_number).with_vars(run_number=text, runNumber=text)

    def without_run_number(self) -> Environment:
        """End the current run: remember it as ``last_run_number`` and drop its variables."""
        env = self
        if self.run_number is not None:
            env = replace(env, last_run_number=self.run_number).with_vars(
                last_run_number=str(self.run_number)
            )
        return replace(env, run_number=None).without_vars("run_number", "runNumber")

    def with_pending(self, calls: Iterable[PendingCall]) -> Environment:
        return replace(self, pending=(*self.pending, *calls))

    def without_pending(self, calls: Iterable[PendingCall]) -> Environment:
        gone = set(calls)
        return replace(self, pending=tuple(p for p in self.pending if p not in gone))

    def to_dict(self) -> dict[str, Any]:
        return {
            "env_id": self.env_id,
            "state": str(self.state),
            "run_number": self.run_number,
            "last_run_number": self.last_run_number,
            "vars": dict(self.vars),
            "pending": [p.to_dict() for p in self.pending],
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Environment:
        """Read what ``to_dict`` wrote; ``LifecycleError`` naming the field if it is malformed."""
        try:
            return cls(
                env_id=str(d["env_id"]),
                state=State(d["state"]),
                run_number=None if d.get("run_number") is None else int(d["run_number"]),
                last_run_number=None if d.get("last_run_number") is None else int(d["last_run_number"]),
                vars=MappingProxyType({str(k): str(v) for k, v in (d.get("vars") or {}).items()}),
                pending=tuple(PendingCall.from_dict(p) for p in d.get("pending") or ()),
            )
        except (KeyError, ValueError, TypeError) as err:
            raise LifecycleError(f"malformed environment state: {type(err).__name__}: {err}") from err
