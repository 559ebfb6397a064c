"""The farm's Nomad objects: task states, allocations and job records, and their JSON.

Memory is the constraint at ALICE size (one group of 350 allocations x 430 tasks = 150k task
states). Three choices keep it small and fast:

* ``TaskState`` is an immutable value shared between tasks: the 430 tasks of an allocation that
  started together point at one object, and its JSON is rendered once and cached on it. A task
  that diverges (killed, restarted) gets its own object.
* ``Alloc`` and ``JobRecord`` are immutable snapshots; a change makes a new one. The store swaps
  references under the farm's lock and HTTP threads serialise what they read without the lock.
* The job is stored once per version (``JobVersion``); allocations refer to it by version and
  never copy it (real Nomad copies the whole job into every allocation).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from nomadctl.sim import wire
from nomadctl.sim.jobs import GroupSpec, JobSpec

MAX_TASK_EVENTS = 10  # the client keeps the last 10 events per task


@dataclass(frozen=True, slots=True)
class TaskEvent:
    """One ``TaskEvent``; only the fields the farm sets are stored, the rest render as zero."""

    type: str
    time_ns: int
    message: str = ""
    display: str = ""
    fails_task: bool = False
    restart_reason: str = ""
    driver_error: str = ""
    exit_code: int = 0
    signal: int = 0
    kill_reason: str = ""
    kill_timeout_ns: int = 0
    start_delay_ns: int = 0
    failed_sibling: str = ""
    details: tuple[tuple[str, str], ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "Type": self.type,
            "Time": self.time_ns,
            "DisplayMessage": self.display,
            "Details": dict(self.details) if self.details else {},
            "Message": self.message,
            "FailsTask": self.fails_task,
            "RestartReason": self.restart_reason,
            "SetupError": "",
            "DriverError": self.driver_error,
            "DriverMessage": "",
            "ExitCode": self.exit_code,
            "Signal": self.signal,
            "KillReason": self.kill_reason,
            "KillTimeout": self.kill_timeout_ns,
            "KillError": "",
            "StartDelay": self.start_delay_ns,
            "DownloadError": "",
            "ValidationError": "",
            "DiskLimit": 0,
            "DiskSize": 0,
            "FailedSibling": self.failed_sibling,
            "VaultError": "",
            "TaskSignalReason": "",
            "TaskSignal": "",
            "GenericSource": "",
        }


class TaskState:
    """An immutable ``TaskState`` value with its JSON cached; shared between identical tasks."""

    __slots__ = (
        "_json",
        "events",
        "failed",
        "finished_at",
        "last_restart",
        "restarts",
        "started_at",
        "state",
    )

    def __init__(
        self,
        state: str,
        *,
        failed: bool = False,
        restarts: int = 0,
        last_restart: int = 0,
        started_at: int = 0,
        finished_at: int = 0,
        events: tuple[TaskEvent, ...] = (),
    ) -> None:
        self.state = state
        self.failed = failed
        self.restarts = restarts
        self.last_restart = last_restart
        self.started_at = started_at
        self.finished_at = finished_at
        self.events = events[-MAX_TASK_EVENTS:]
        self._json: str | None = None

    def evolve(self, *new_events: TaskEvent, **changes: Any) -> TaskState:
        """A copy with ``changes`` applied and ``new_events`` appended."""
        kw: dict[str, Any] = {
            "failed": self.failed,
            "restarts": self.restarts,
            "last_restart": self.last_restart,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "events": self.events + new_events,
        }
        state = changes.pop("state", self.state)
        kw.update(changes)
        return TaskState(state, **kw)

    def json(self) -> str:
        if self._json is None:
            self._json = wire.dumps(
                {
                    "State": self.state,
                    "Failed": self.failed,
                    "Restarts": self.restarts,
                    "LastRestart": wire.go_time(self.last_restart),
                    "StartedAt": wire.go_time(self.started_at),
                    "FinishedAt": wire.go_time(self.finished_at),
                    "Events": [e.to_json() for e in self.events],
                }
            )
        return self._json

    def __repr__(self) -> str:
        return f"TaskState({self.state!r}, failed={self.failed}, restarts={self.restarts})"


@dataclass(frozen=True, slots=True)
class Alloc:
    """One allocation at one raft index (see the module docstring for why it is immutable)."""

    id: str
    namespace: str
    eval_id: str
    name: str
    index: int
    node_id: str
    node_name: str
    address: str
    job_id: str
    job_version: int
    job_create_index: int
    job_type: str
    task_group: str
    create_index: int
    modify_index: int
    create_time: int
    modify_time: int
    alloc_modify_index: int = 0
    desired_status: str = "run"
    desired_description: str = ""
    desired_transition: Mapping[str, bool] = field(default_factory=dict)
    client_status: str = "pending"
    client_description: str = ""
    task_states: tuple[TaskState, ...] | None = None
    deployment_id: str = ""
    deployment_status: Mapping[str, Any] | None = None
    followup_eval_id: str = ""
    previous_allocation: str = ""
    next_allocation: str = ""
    reschedule_events: tuple[Mapping[str, Any], ...] = ()
    ports: tuple[tuple[str, int], ...] = ()
    device_ids: tuple[tuple[int, str, tuple[str, ...]], ...] = ()
    metrics: Mapping[str, Any] = field(default_factory=dict)

    def evolve(self, **changes: Any) -> Alloc:
        return dataclasses.replace(self, **changes)

    @property
    def server_terminal(self) -> bool:
        return self.desired_status in ("stop", "evict")

    @property
    def client_terminal(self) -> bool:
        return self.client_status in ("complete", "failed", "lost")

    @property
    def terminal(self) -> bool:
        """Nomad's ``Allocation.TerminalStatus()``."""
        return self.server_terminal or self.client_terminal

    @property
    def uses_resources(self) -> bool:
        """Whether the allocation still holds its node's resources (Nomad: not client-terminal)."""
        return not self.client_terminal


@dataclass(frozen=True, slots=True)
class JobVersion:
    """One version of one job: the canonical body (status fields excluded) and its parsed spec."""

    body: Mapping[str, Any]
    spec: JobSpec
    version: int
    submit_time: int
    job_modify_index: int
    stop: bool
    cache: dict[str, str] = field(default_factory=dict, compare=False)


@dataclass(frozen=True, slots=True)
class JobRecord:
    """A registered job: its versions (newest last) and the status fields the server maintains."""

    namespace: str
    id: str
    versions: tuple[JobVersion, ...]
    create_index: int
    modify_index: int
    status: str = "pending"
    status_description: str = ""
    stable_versions: frozenset[int] = frozenset()
    scaling_events: Mapping[str, tuple[Mapping[str, Any], ...]] = field(default_factory=dict)
    purged: bool = False
    cache: dict[str, str] = field(default_factory=dict, compare=False)

    @property
    def current(self) -> JobVersion:
        return self.versions[-1]

    @property
    def spec(self) -> JobSpec:
        return self.versions[-1].spec

    @property
    def stopped(self) -> bool:
        return self.versions[-1].stop

    def version(self, number: int) -> JobVersion | None:
        for v in self.versions:
            if v.version == number:
                return v
        return None

    def group(self, version: int, name: str) -> GroupSpec | None:
        v = self.version(version) or self.current
        return v.spec.group(name)

    def evolve(self, **changes: Any) -> JobRecord:
        return dataclasses.replace(self, cache={}, **changes)

    def body_json(self, v: JobVersion | None = None) -> dict[str, Any]:
        """The job as ``GET /v1/job/:id`` returns it (for version ``v``, default current)."""
        v = v or self.current
        out = dict(v.body)
        out.update(
            {
                "Stop": v.stop,
                "Status": self.status,
                "StatusDescription": self.status_description,
                "Stable": v.version in self.stable_versions,
                "Version": v.version,
                "SubmitTime": v.submit_time,
                "CreateIndex": self.create_index,
                "ModifyIndex": self.modify_index,
                "JobModifyIndex": v.job_modify_index,
            }
        )
        return out

    def json(self) -> str:
        cached = self.cache.get("current")
        if cached is None:
            cached = self.cache["current"] = wire.dumps(self.body_json())
        return cached

    def version_json(self, number: int) -> str:
        key = f"v{number}"
        cached = self.cache.get(key)
        if cached is None:
            v = self.version(number) or self.current
            cached = self.cache[key] = wire.dumps(self.body_json(v))
        return cached


# ---------------------------------------------------------------------------------------------
# Allocation JSON


def _reschedule_tracker(a: Alloc) -> dict[str, Any] | None:
    if not a.reschedule_events:
        return None
    return {"Events": [dict(e) for e in a.reschedule_events], "LastReschedule": "ok"}


def _deployment_status(a: Alloc) -> dict[str, Any] | None:
    if a.deployment_status is None:
        return None
    ds = dict(a.deployment_status)
    ds["Timestamp"] = wire.go_time(ds.get("Timestamp", 0))
    return ds


def task_states_json(a: Alloc, group: GroupSpec | None) -> str:
    """``TaskStates`` as JSON text, built from the cached per-state strings."""
    states = a.task_states
    if states is None or group is None:
        return "null"
    keys = group.task_keys_json
    return "{" + ",".join(k + s.json() for k, s in zip(keys, states, strict=False)) + "}"


def allocated_resources(a: Alloc, group: GroupSpec | None) -> dict[str, Any] | None:
    if group is None:
        return None
    devices: dict[int, list[dict[str, Any]]] = {}
    for ti, dev_name, ids in a.device_ids:
        vendor, dtype, name = ([*dev_name.split("/"), "", "", ""])[:3]
        devices.setdefault(ti, []).append(
            {"Vendor": vendor, "Type": dtype, "Name": name, "DeviceIDs": list(ids)}
        )
    tasks = {}
    lifecycles = {}
    for ti, t in enumerate(group.tasks):
        tasks[t.name] = {
            "Cpu": {"CpuShares": t.cpu, "ReservedCores": None},
            "Memory": {"MemoryMB": t.memory_mb, "MemoryMaxMB": t.memory_max_mb},
            "Networks": None,
            "Devices": devices.get(ti),
        }
        lifecycles[t.name] = {"Hook": t.hook, "Sidecar": t.sidecar} if t.hook else None
    ports = [{"Label": label, "Value": value, "To": 0, "HostIP": a.address} for label, value in a.ports]
    dyn = [
        {"Label": lbl, "Value": v, "To": 0, "HostNetwork": "default"}
        for lbl, v in a.ports
        if lbl in group.dynamic_ports
    ]
    res = [
        {"Label": lbl, "Value": v, "To": 0, "HostNetwork": "default"}
        for lbl, v in a.ports
        if lbl not in group.dynamic_ports
    ]
    networks = (
        [
            {
                "Mode": "host",
                "Device": "",
                "CIDR": "",
                "IP": a.address,
                "DNS": None,
                "ReservedPorts": res or None,
                "DynamicPorts": dyn or None,
                "MBits": 0,
            }
        ]
        if a.ports
        else None
    )
    return {
        "Tasks": tasks,
        "TaskLifecycles": lifecycles,
        "Shared": {"Networks": networks, "DiskMB": group.disk_mb, "Ports": ports or None},
    }


def _head(a: Alloc) -> dict[str, Any]:
    return {
        "ID": a.id,
        "EvalID": a.eval_id,
        "Name": a.name,
        "Namespace": a.namespace,
        "NodeID": a.node_id,
        "NodeName": a.node_name,
        "JobID": a.job_id,
    }


def _tail(a: Alloc) -> dict[str, Any]:
    return {
        "DesiredStatus": a.desired_status,
        "DesiredDescription": a.desired_description,
        "ClientStatus": a.client_status,
        "ClientDescription": a.client_description,
        "DeploymentStatus": _deployment_status(a),
        "FollowupEvalID": a.followup_eval_id,
        "NextAllocation": a.next_allocation,
        "RescheduleTracker": _reschedule_tracker(a),
        "PreemptedAllocations": None,
        "PreemptedByAllocation": "",
        "CreateIndex": a.create_index,
        "ModifyIndex": a.modify_index,
        "CreateTime": a.create_time,
        "ModifyTime": a.modify_time,
    }


def alloc_stub_json(
    a: Alloc, group: GroupSpec | None, *, task_states: bool = True, resources: bool = False
) -> str:
    """``AllocationListStub`` as JSON text."""
    obj = _head(a)
    obj["JobType"] = a.job_type
    obj["JobVersion"] = a.job_version
    obj["TaskGroup"] = a.task_group
    if resources:
        obj["AllocatedResources"] = allocated_resources(a, group)
    obj["DesiredTransition"] = dict(a.desired_transition) or {
        "Migrate": None,
        "Reschedule": None,
        "ForceReschedule": None,
        "NoShutdownDelay": None,
    }
    obj.update(_tail(a))
    text = wire.dumps(obj)
    ts = task_states_json(a, group) if task_states else "null"
    return text[:-1] + ',"TaskStates":' + ts + "}"


def metrics_json(m: Mapping[str, Any]) -> dict[str, Any]:
    """``AllocationMetric`` with Nomad's zero values for what was not recorded."""
    return {
        "NodesEvaluated": m.get("NodesEvaluated", 0),
        "NodesFiltered": m.get("NodesFiltered", 0),
        "NodesInPool": m.get("NodesInPool", 0),
        "NodePool": m.get("NodePool", ""),
        "NodesAvailable": m.get("NodesAvailable"),
        "ClassFiltered": m.get("ClassFiltered"),
        "ConstraintFiltered": m.get("ConstraintFiltered"),
        "NodesExhausted": m.get("NodesExhausted", 0),
        "ClassExhausted": m.get("ClassExhausted"),
        "DimensionExhausted": m.get("DimensionExhausted"),
        "QuotaExhausted": m.get("QuotaExhausted"),
        "ResourcesExhausted": m.get("ResourcesExhausted"),
        "Scores": m.get("Scores"),
        "ScoreMetaData": m.get("ScoreMetaData"),
        "AllocationTime": m.get("AllocationTime", 0),
        "CoalescedFailures": m.get("CoalescedFailures", 0),
    }


def alloc_json(a: Alloc, group: GroupSpec | None, job_json: str | None) -> str:
    """The full ``Allocation`` (``GET /v1/allocation/:id``); ``job_json`` None gives ``"Job":null``."""
    obj = _head(a)
    obj["TaskGroup"] = a.task_group
    if group is not None:
        obj["Resources"] = {"CPU": group.cpu, "MemoryMB": group.memory_mb, "DiskMB": group.disk_mb}
    else:
        obj["Resources"] = None
    obj["TaskResources"] = None
    obj["AllocatedResources"] = allocated_resources(a, group)
    obj["Services"] = None
    obj["Metrics"] = metrics_json(a.metrics)
    obj["DesiredTransition"] = dict(a.desired_transition)
    obj["DeploymentID"] = a.deployment_id
    obj["PreviousAllocation"] = a.previous_allocation
    obj["NetworkStatus"] = None
    obj["AllocModifyIndex"] = a.alloc_modify_index
    obj["SignedIdentities"] = None
    obj.update(_tail(a))
    text = wire.dumps(obj)
    return text[:-1] + ',"TaskStates":' + task_states_json(a, group) + ',"Job":' + (job_json or "null") + "}"
