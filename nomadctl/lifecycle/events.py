"""AliECS event records (``common/protos/events.proto``, ``common.proto``) as frozen dataclasses.

Field names, field meanings and the ``OpStatus`` enum are AliECS's; ``to_dict()`` gives the
protobuf-JSON form (lowerCamelCase names as in the ``.proto``, enums by name), so a JSON line
written by nomadctl parses with the AliECS protos (``protojson`` accepts 64-bit integers as JSON
numbers). Unlike ``protojson``'s default, scalar fields are always written, even when empty, so
``jq`` filters never meet a missing key; unset message fields (``lastRequestUser``...) are left out.

``Event`` is the envelope (``events.Event``): a payload plus the time. The lifecycle schedule
builds payloads and leaves the time unset unless AliECS fixes it (run events carry the time the
run-start/stop variable was taken); the writer stamps the rest with ``stamped()``.

Tokens and secret values never go into events: ``EnvironmentEvent.vars`` is only filled from a
plan's public variables by the caller.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar, TypeAlias


class OpStatus(enum.IntEnum):
    NULL = 0
    STARTED = 1
    ONGOING = 2
    DONE_OK = 3
    DONE_ERROR = 4
    DONE_TIMEOUT = 5


@dataclass(frozen=True, slots=True)
class User:
    """``common.User``: who asked for the transition."""

    name: str = ""
    external_id: int | None = None
    id: int | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.external_id is not None:
            out["externalId"] = self.external_id
        if self.id is not None:
            out["id"] = self.id
        out["name"] = self.name
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> User:
        return cls(name=str(data.get("name", "")), external_id=data.get("externalId"), id=data.get("id"))


@dataclass(frozen=True, slots=True)
class WorkflowTemplateInfo:
    """``common.WorkflowTemplateInfo``."""

    name: str = ""
    description: str = ""
    path: str = ""
    public: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "description": self.description, "path": self.path, "public": self.public}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> WorkflowTemplateInfo:
        return cls(
            name=str(data.get("name", "")),
            description=str(data.get("description", "")),
            path=str(data.get("path", "")),
            public=bool(data.get("public", False)),
        )


@dataclass(frozen=True, slots=True)
class Traits:
    """``events.Traits`` of a hook task or call (the raw text of its manifest fields)."""

    trigger: str = ""
    await_: str = ""
    timeout: str = ""
    critical: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "trigger": self.trigger,
            "await": self.await_,
            "timeout": self.timeout,
            "critical": self.critical,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Traits:
        return cls(
            trigger=str(data.get("trigger", "")),
            await_=str(data.get("await", "")),
            timeout=str(data.get("timeout", "")),
            critical=bool(data.get("critical", False)),
        )


def _status(value: Any) -> OpStatus:
    if isinstance(value, str):
        return OpStatus[value]
    return OpStatus(int(value or 0))


@dataclass(frozen=True, slots=True)
class EnvironmentEvent:
    """``Ev_EnvironmentEvent``: environment state and transition progress."""

    KEY: ClassVar[str] = "environmentEvent"

    environment_id: str
    state: str = ""
    run_number: int = 0
    error: str = ""
    message: str = ""
    transition: str = ""
    transition_step: str = ""
    transition_status: OpStatus = OpStatus.NULL
    vars: Mapping[str, str] = field(default_factory=dict)
    last_request_user: User | None = None
    workflow_template_info: WorkflowTemplateInfo | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "environmentId": self.environment_id,
            "state": self.state,
            "runNumber": self.run_number,
            "error": self.error,
            "message": self.message,
            "transition": self.transition,
            "transitionStep": self.transition_step,
            "transitionStatus": self.transition_status.name,
            "vars": dict(self.vars),
        }
        if self.last_request_user is not None:
            out["lastRequestUser"] = self.last_request_user.to_dict()
        if self.workflow_template_info is not None:
            out["workflowTemplateInfo"] = self.workflow_template_info.to_dict()
        return out

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> EnvironmentEvent:
        user = d.get("lastRequestUser")
        wft = d.get("workflowTemplateInfo")
        return cls(
            environment_id=str(d.get("environmentId", "")),
            state=str(d.get("state", "")),
            run_number=int(d.get("runNumber", 0)),
            error=str(d.get("error", "")),
            message=str(d.get("message", "")),
            transition=str(d.get("transition", "")),
            transition_step=str(d.get("transitionStep", "")),
            transition_status=_status(d.get("transitionStatus", 0)),
            vars={str(k): str(v) for k, v in (d.get("vars") or {}).items()},
            last_request_user=User.from_dict(user) if user is not None else None,
            workflow_template_info=WorkflowTemplateInfo.from_dict(wft) if wft is not None else None,
        )


@dataclass(frozen=True, slots=True)
class TaskEvent:
    """``Ev_TaskEvent``: a task's state/status. ``name`` is AliECS's ``<class>#<taskid>``, ``path``
    the task role's path."""

    KEY: ClassVar[str] = "taskEvent"

    name: str
    taskid: str
    state: str = ""
    status: str = ""
    hostname: str = ""
    class_name: str = ""
    traits: Traits | None = None
    environment_id: str = ""
    path: str = ""

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "name": self.name,
            "taskid": self.taskid,
            "state": self.state,
            "status": self.status,
            "hostname": self.hostname,
            "className": self.class_name,
        }
        if self.traits is not None:
            out["traits"] = self.traits.to_dict()
        out["environmentId"] = self.environment_id
        out["path"] = self.path
        return out

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> TaskEvent:
        traits = d.get("traits")
        return cls(
            name=str(d.get("name", "")),
            taskid=str(d.get("taskid", "")),
            state=str(d.get("state", "")),
            status=str(d.get("status", "")),
            hostname=str(d.get("hostname", "")),
            class_name=str(d.get("className", "")),
            traits=Traits.from_dict(traits) if traits is not None else None,
            environment_id=str(d.get("environmentId", "")),
            path=str(d.get("path", "")),
        )


@dataclass(frozen=True, slots=True)
class CallEvent:
    """``Ev_CallEvent``: an integration call's progress. ``return_`` is the name of the variable
    the call's result is stored in (AliECS sends the name, not the value); ``output`` the value."""

    KEY: ClassVar[str] = "callEvent"

    func: str
    call_status: OpStatus = OpStatus.NULL
    return_: str = ""
    traits: Traits | None = None
    output: str = ""
    error: str = ""
    environment_id: str = ""
    path: str = ""

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"func": self.func, "callStatus": self.call_status.name, "return": self.return_}
        if self.traits is not None:
            out["traits"] = self.traits.to_dict()
        out.update(
            {
                "output": self.output,
                "error": self.error,
                "environmentId": self.environment_id,
                "path": self.path,
            }
        )
        return out

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> CallEvent:
        traits = d.get("traits")
        return cls(
            func=str(d.get("func", "")),
            call_status=_status(d.get("callStatus", 0)),
            return_=str(d.get("return", "")),
            traits=Traits.from_dict(traits) if traits is not None else None,
            output=str(d.get("output", "")),
            error=str(d.get("error", "")),
            environment_id=str(d.get("environmentId", "")),
            path=str(d.get("path", "")),
        )


@dataclass(frozen=True, slots=True)
class RoleEvent:
    """``Ev_RoleEvent``: an aggregated role's state/status."""

    KEY: ClassVar[str] = "roleEvent"

    name: str
    status: str = ""
    state: str = ""
    role_path: str = ""
    environment_id: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "status": self.status,
            "state": self.state,
            "rolePath": self.role_path,
            "environmentId": self.environment_id,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> RoleEvent:
        return cls(
            name=str(d.get("name", "")),
            status=str(d.get("status", "")),
            state=str(d.get("state", "")),
            role_path=str(d.get("rolePath", "")),
            environment_id=str(d.get("environmentId", "")),
        )


@dataclass(frozen=True, slots=True)
class RunEvent:
    """``Ev_RunEvent``: start/stop of a run (``transition`` may be ``TEARDOWN``)."""

    KEY: ClassVar[str] = "runEvent"

    environment_id: str
    run_number: int = 0
    state: str = ""
    error: str = ""
    transition: str = ""
    transition_status: OpStatus = OpStatus.NULL
    last_request_user: User | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "environmentId": self.environment_id,
            "runNumber": self.run_number,
            "state": self.state,
            "error": self.error,
            "transition": self.transition,
            "transitionStatus": self.transition_status.name,
        }
        if self.last_request_user is not None:
            out["lastRequestUser"] = self.last_request_user.to_dict()
        return out

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> RunEvent:
        user = d.get("lastRequestUser")
        return cls(
            environment_id=str(d.get("environmentId", "")),
            run_number=int(d.get("runNumber", 0)),
            state=str(d.get("state", "")),
            error=str(d.get("error", "")),
            transition=str(d.get("transition", "")),
            transition_status=_status(d.get("transitionStatus", 0)),
            last_request_user=User.from_dict(user) if user is not None else None,
        )


Payload: TypeAlias = EnvironmentEvent | TaskEvent | CallEvent | RoleEvent | RunEvent

_PAYLOADS: dict[str, type[Payload]] = {
    cls.KEY: cls for cls in (EnvironmentEvent, TaskEvent, CallEvent, RoleEvent, RunEvent)
}

#: Kafka topic AliECS writes each payload kind to (``common/event/topic/topic.go``).
TOPICS: Mapping[str, str] = {
    EnvironmentEvent.KEY: "aliecs.environment",
    TaskEvent.KEY: "aliecs.task",
    CallEvent.KEY: "aliecs.call",
    RoleEvent.KEY: "aliecs.role",
    RunEvent.KEY: "aliecs.run",
}


@dataclass(frozen=True, slots=True)
class Event:
    """``events.Event``: one payload and its time in nanoseconds since the epoch (unset = not yet
    stamped by the writer)."""

    payload: Payload
    timestamp_ns: int | None = None

    def stamped(self, now_ns: int) -> Event:
        """This event with its time set to ``now_ns`` unless it already has one."""
        return self if self.timestamp_ns is not None else replace(self, timestamp_ns=now_ns)

    @property
    def topic(self) -> str:
        return TOPICS[self.payload.KEY]

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.timestamp_ns is not None:
            out["timestamp"] = self.timestamp_ns // 1_000_000
            out["timestampNano"] = self.timestamp_ns
        out[self.payload.KEY] = self.payload.to_dict()
        return out

    def to_json_line(self) -> str:
        """One compact JSON line (no trailing newline), keys in declaration order."""
        return json.dumps(self.to_dict(), separators=(",", ":"), ensure_ascii=False)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Event:
        """Read back what ``to_dict`` wrote; ``ValueError`` if no known payload is present."""
        for key, kind in _PAYLOADS.items():
            if key in data:
                ns = data.get("timestampNano")
                if ns is None and data.get("timestamp") is not None:
                    ns = int(data["timestamp"]) * 1_000_000
                return cls(kind.from_dict(data[key]), int(ns) if ns is not None else None)
        raise ValueError(f"event has no known payload: keys {sorted(data)}")
