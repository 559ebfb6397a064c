"""What the health daemon knows and decided about an environment, in Consul KV.

``<prefix>/envs/<id>/health`` holds one JSON document, written with check-and-set by the leading
controller daemon only (``nomadctl.controller.enforce``):

* ``groups``: each long-running group's last judged state (OK, DEGRADED, FAILED), its numbers
  and reason, and since when; ``state`` is the worst of them. ``env show`` prints them, and a new
  leader starts from them, so it reports only what changed after it took over;
* ``go_error``: the GO_ERROR decision, written **before** it is acted on (``pending``), then
  ``done`` (with the transition's outcome) or ``skipped`` (the environment was no longer in a
  state where it applies). A leader that dies in between leaves it ``pending``; the next one
  finishes it and never issues it twice;
* ``announce``: event messages decided but not yet written to the environment's event log
  (written, then cleared), so a change is announced even if the leader dies in between.

It is kept apart from the environment record on purpose: transitions write the record with
check-and-set under the environment's lock, and a health write between two of their steps would
make their next write lose its check-and-set (``RecordConflict``) — the daemon must be able to
record DEGRADED while a STOP_ACTIVITY runs, without taking the lock.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any

from nomadctl.clients.consul import ConsulClient
from nomadctl.clients.errors import ConsulConflict
from nomadctl.controller.record import Keys
from nomadctl.errors import LifecycleError
from nomadctl.health import predicate
from nomadctl.health.predicate import GroupHealth, GroupKind, GroupState

FORMAT = 1

PENDING = "pending"
DONE = "done"
SKIPPED = "skipped"


class HealthConflict(LifecycleError):
    """The health record changed under this writer (another leader wrote it)."""


@dataclass(frozen=True, slots=True)
class GroupMark:
    """A group's state as last judged and recorded."""

    name: str
    kind: str
    state: str
    healthy: int
    count: int
    nmin: int
    reason: str = ""
    since_ns: int = 0

    @classmethod
    def of(cls, g: GroupHealth, since_ns: int) -> GroupMark:
        return cls(g.name, str(g.kind), str(g.state), g.healthy, g.count, g.nmin, g.reason, since_ns)

    def health(self) -> GroupHealth:
        """The predicate's ``GroupHealth`` for ``decide(previous=...)`` (without findings)."""
        return GroupHealth(
            name=self.name,
            kind=GroupKind(self.kind),
            state=GroupState(self.state),
            healthy=self.healthy,
            count=self.count,
            nmin=self.nmin,
        )

    def same(self, g: GroupHealth) -> bool:
        return (self.state, self.healthy, self.count, self.nmin) == (str(g.state), g.healthy, g.count, g.nmin)

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "state": self.state,
            "healthy": self.healthy,
            "count": self.count,
            "nmin": self.nmin,
            "reason": self.reason,
            "since_ns": self.since_ns,
        }

    @classmethod
    def from_dict(cls, name: str, d: Mapping[str, Any]) -> GroupMark:
        return cls(
            name=name,
            kind=str(d["kind"]),
            state=str(d["state"]),
            healthy=int(d["healthy"]),
            count=int(d["count"]),
            nmin=int(d["nmin"]),
            reason=str(d.get("reason", "")),
            since_ns=int(d.get("since_ns", 0)),
        )


@dataclass(frozen=True, slots=True)
class GoErrorDecision:
    """A GO_ERROR decided by the daemon: why, about which groups, when, by whom, and what came of
    it (``status`` pending/done/skipped, ``outcome`` one line)."""

    id: str
    reason: str
    groups: tuple[str, ...]
    decided_ns: int
    decided_by: str
    env_state: str
    status: str = PENDING
    outcome: str = ""
    finished_ns: int = 0
    attempts: int = 0

    @property
    def pending(self) -> bool:
        return self.status == PENDING

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "reason": self.reason,
            "groups": list(self.groups),
            "decided_ns": self.decided_ns,
            "decided_by": self.decided_by,
            "env_state": self.env_state,
            "status": self.status,
            "outcome": self.outcome,
            "finished_ns": self.finished_ns,
            "attempts": self.attempts,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> GoErrorDecision:
        return cls(
            id=str(d["id"]),
            reason=str(d["reason"]),
            groups=tuple(str(g) for g in d.get("groups") or ()),
            decided_ns=int(d["decided_ns"]),
            decided_by=str(d.get("decided_by", "")),
            env_state=str(d.get("env_state", "")),
            status=str(d.get("status", PENDING)),
            outcome=str(d.get("outcome", "")),
            finished_ns=int(d.get("finished_ns", 0)),
            attempts=int(d.get("attempts", 0)),
        )


@dataclass(frozen=True, slots=True)
class HealthRecord:
    """The health document of one environment; ``modify_index`` 0 means not stored yet."""

    env_id: str
    groups: Mapping[str, GroupMark] = field(default_factory=dict)
    go_error: GoErrorDecision | None = None
    announce: tuple[str, ...] = ()
    controller: str = ""
    updated_ns: int = 0
    modify_index: int = 0

    @property
    def state(self) -> str:
        """The worst group state (``""`` before anything was judged)."""
        states = {g.state for g in self.groups.values()}
        for s in (GroupState.FAILED, GroupState.DEGRADED, GroupState.OK):
            if str(s) in states:
                return str(s)
        return ""

    def previous(self) -> predicate.Decision | None:
        """The recorded group states as the ``previous`` argument of ``predicate.decide``."""
        if not self.groups:
            return None
        return predicate.Decision(tuple(g.health() for g in self.groups.values()))

    def with_(self, **changes: Any) -> HealthRecord:
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "env_id": self.env_id,
            "state": self.state,
            "groups": {name: g.to_dict() for name, g in sorted(self.groups.items())},
            "go_error": self.go_error.to_dict() if self.go_error else None,
            "announce": list(self.announce),
            "controller": self.controller,
            "updated_ns": self.updated_ns,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], *, modify_index: int = 0) -> HealthRecord:
        try:
            if int(d.get("format", 0)) != FORMAT:
                raise ValueError(f"health record format {d.get('format')!r}, this controller reads {FORMAT}")
            return cls(
                env_id=str(d["env_id"]),
                groups=MappingProxyType(
                    {str(n): GroupMark.from_dict(str(n), g) for n, g in (d.get("groups") or {}).items()}
                ),
                go_error=GoErrorDecision.from_dict(d["go_error"]) if d.get("go_error") else None,
                announce=tuple(str(a) for a in d.get("announce") or ()),
                controller=str(d.get("controller", "")),
                updated_ns=int(d.get("updated_ns", 0)),
                modify_index=modify_index,
            )
        except (KeyError, ValueError, TypeError) as err:
            raise LifecycleError(f"malformed health record: {type(err).__name__}: {err}") from err


class HealthStore:
    """Reads and writes health records; every write is a check-and-set."""

    def __init__(self, consul: ConsulClient, keys: Keys) -> None:
        self.consul = consul
        self.keys = keys

    def get(self, env_id: str) -> HealthRecord:
        """The health record of ``env_id`` (an empty one, index 0, if none was written)."""
        key = self.keys.health(env_id)
        entry = self.consul.kv_get(key).data
        if entry is None:
            return HealthRecord(env_id)
        try:
            data = json.loads(entry.text or "")
        except ValueError as err:
            raise LifecycleError(f"{key}: health record is not JSON: {err}") from err
        return HealthRecord.from_dict(data, modify_index=entry.modify_index)

    def put(self, record: HealthRecord) -> HealthRecord:
        """Write ``record`` if the stored one is still at ``record.modify_index`` (0: only if none
        exists); ``HealthConflict`` otherwise. Returns it with its new index."""
        key = self.keys.health(record.env_id)
        text = json.dumps(record.to_dict(), sort_keys=True, separators=(",", ":"))
        try:
            self.consul.kv_put(key, text, cas=record.modify_index)
        except ConsulConflict as err:
            raise HealthConflict(
                f"environment {record.env_id}: the health record changed under this controller "
                f"(check-and-set at index {record.modify_index} lost)"
            ) from err
        return self.get(record.env_id)
