"""The AliECS environment state machine: states, transitions and the moments a transition has.

The table is AliECS's (``core/environment/environment.go``, looplab/fsm), including ``EXIT`` and
``RECOVER``. Those two exist in the FSM but AliECS's API (``MakeTransition`` behind gRPC
``ControlEnvironment``) has no way to issue them, so they are unreachable in practice: their
hooks never fire and ``enter_STANDBY``/``enter_DONE`` never happen. nomadctl keeps them in the table
(so ``destination()`` answers like the FSM does) and refuses them in ``check()`` exactly as AliECS
refuses an unknown request, instead of inventing semantics AliECS never had.

Teardown (``DESTROY``) is not an FSM event: it is driven from outside the FSM and ends in ``DONE``.

Everything here is pure; ``nomadctl.lifecycle.schedule`` builds on it.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from types import MappingProxyType

from nomadctl.errors import LifecycleError


class State(enum.StrEnum):
    STANDBY = "STANDBY"
    DEPLOYED = "DEPLOYED"
    CONFIGURED = "CONFIGURED"
    RUNNING = "RUNNING"
    ERROR = "ERROR"
    DONE = "DONE"


class Transition(enum.StrEnum):
    DEPLOY = "DEPLOY"
    CONFIGURE = "CONFIGURE"
    RESET = "RESET"
    START_ACTIVITY = "START_ACTIVITY"
    STOP_ACTIVITY = "STOP_ACTIVITY"
    EXIT = "EXIT"
    GO_ERROR = "GO_ERROR"
    RECOVER = "RECOVER"


S = State
T = Transition

#: event → (sources, destination), as declared in AliECS's ``fsm.NewFSM`` call.
TABLE: Mapping[Transition, tuple[frozenset[State], State]] = MappingProxyType(
    {
        T.DEPLOY: (frozenset({S.STANDBY}), S.DEPLOYED),
        T.CONFIGURE: (frozenset({S.DEPLOYED}), S.CONFIGURED),
        T.RESET: (frozenset({S.CONFIGURED}), S.DEPLOYED),
        T.START_ACTIVITY: (frozenset({S.CONFIGURED}), S.RUNNING),
        T.STOP_ACTIVITY: (frozenset({S.RUNNING}), S.CONFIGURED),
        T.EXIT: (frozenset({S.CONFIGURED, S.DEPLOYED, S.STANDBY}), S.DONE),
        T.GO_ERROR: (frozenset({S.STANDBY, S.CONFIGURED, S.DEPLOYED, S.RUNNING}), S.ERROR),
        T.RECOVER: (frozenset({S.ERROR}), S.DEPLOYED),
    }
)

#: What AliECS's gRPC ``ControlEnvironment`` can request (``NOOP`` does nothing and is left out).
API_TRANSITIONS: frozenset[Transition] = frozenset(
    {T.DEPLOY, T.CONFIGURE, T.START_ACTIVITY, T.STOP_ACTIVITY, T.RESET, T.GO_ERROR}
)

#: States a teardown may start from without ``force`` (``Manager.TeardownEnvironment``).
TEARDOWN_STATES: frozenset[State] = frozenset({S.STANDBY, S.DEPLOYED})

DESTROY = "DESTROY"
AFTER_DESTROY = "after_DESTROY"
BEFORE_DESTROY = "before_DESTROY"


def destination(state: State, transition: Transition) -> State | None:
    """Where ``transition`` leads from ``state`` in the FSM table, or ``None`` if it may not fire."""
    sources, dst = TABLE[transition]
    return dst if state in sources else None


def check(state: State, transition: Transition | str) -> State:
    """The destination of an API-requested transition; ``LifecycleError`` if it is refused.

    Messages follow AliECS: an unknown or unexposed event is "cannot prepare invalid transition X"
    (gRPC ``MakeTransition``), an event that may not fire here is looplab/fsm's
    "event X inappropriate in current state Y".
    """
    try:
        t = Transition(transition)
    except ValueError:
        raise LifecycleError(f"cannot prepare invalid transition {transition}") from None
    if t not in API_TRANSITIONS:
        raise LifecycleError(f"cannot prepare invalid transition {t}")
    dst = destination(state, t)
    if dst is None:
        raise LifecycleError(f"event {t} inappropriate in current state {state}")
    return dst


def available(state: State) -> tuple[Transition, ...]:
    """API transitions that may fire from ``state``, in table order."""
    return tuple(t for t in TABLE if t in API_TRANSITIONS and destination(state, t) is not None)


def check_teardown(state: State, *, force: bool) -> None:
    """Refuse a teardown the way ``Manager.TeardownEnvironment`` does; return if it may proceed."""
    if state is S.DONE:
        raise LifecycleError("attempting to teardown an environment which is already in DONE, doing nothing")
    if state not in TEARDOWN_STATES and not force:
        raise LifecycleError(f"cannot teardown environment in state {state}")


def moments(transition: Transition, source: State) -> tuple[str, str, str, str]:
    """The four hook moments of ``transition`` from ``source``, in execution order.

    ``before_<EV>``, ``leave_<SRC>``, ``enter_<DST>``, ``after_<EV>``; the task step sits between
    ``leave`` and ``enter``.
    """
    dst = destination(source, transition)
    if dst is None:
        raise LifecycleError(f"event {transition} inappropriate in current state {source}")
    return (f"before_{transition}", f"leave_{source}", f"enter_{dst}", f"after_{transition}")


def _firing_moments() -> frozenset[str]:
    out: set[str] = {DESTROY, AFTER_DESTROY}
    for t in API_TRANSITIONS:
        sources, dst = TABLE[t]
        out.update({f"before_{t}", f"after_{t}", f"enter_{dst}"})
        out.update(f"leave_{s}" for s in sources)
    # teardown runs leave_<state> from any state it may start in (forced: every state but DONE)
    out.update(f"leave_{s}" for s in State if s is not S.DONE)
    return frozenset(out)


#: Every moment at which a hook can ever fire. Anything else (``CONFIGURE``, ``after_EXIT``,
#: ``enter_STANDBY``, ``before_DESTROY``...) is accepted by AliECS and silently never fires.
FIRING_MOMENTS: frozenset[str] = _firing_moments()


def transitions_with_moment(moment: str) -> tuple[tuple[Transition, State], ...]:
    """Every (API transition, source state) whose four moments include ``moment``."""
    out: list[tuple[Transition, State]] = []
    for t in TABLE:
        if t not in API_TRANSITIONS:
            continue
        for src in sorted(TABLE[t][0]):
            if moment in moments(t, src):
                out.append((t, src))
    return tuple(out)
