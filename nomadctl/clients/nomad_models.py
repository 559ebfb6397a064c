"""Typed views of the Nomad API responses the controller reads.

Field names are snake_case with an explicit alias to Nomad's Go field name (``NodeID``,
``CpuShares``, ``MemoryMB``: Nomad is not consistent, so no alias generator). Unknown fields are
ignored, so newer agents do not break parsing; every field the controller does not strictly need
has a default, so older agents and the simulated farm parse too. Go ``time.Duration`` values stay
integer nanoseconds; ``time.Time`` values become ``datetime``, Go's zero time ``None``.

Requests are plain JSON dicts built by the caller (the job payload comes from
``nomadctl.jobspec``); only responses are modelled.
"""

from __future__ import annotations

import builtins
from collections.abc import Mapping
from datetime import datetime
from typing import Annotated, Any, TypeVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator

__all__ = [
    "AgentSelf",
    "AllocDeploymentStatus",
    "Allocation",
    "AllocationBrief",
    "AllocationListStub",
    "AllocationMetric",
    "Deployment",
    "DeploymentState",
    "DesiredUpdates",
    "DrainStrategy",
    "DriverInfo",
    "Evaluation",
    "Event",
    "EventFrame",
    "FieldDiff",
    "Job",
    "JobDeregisterResponse",
    "JobDiff",
    "JobDispatchResponse",
    "JobListStub",
    "JobPlanResponse",
    "JobRegisterResponse",
    "JobScaleStatus",
    "Node",
    "NodeDevice",
    "NodeDeviceResource",
    "NodeListStub",
    "NodeResources",
    "ObjectDiff",
    "PlanAnnotations",
    "RescheduleTracker",
    "ScalingEvent",
    "TaskDiff",
    "TaskEvent",
    "TaskGroupDiff",
    "TaskGroupScaleStatus",
    "TaskGroupStub",
    "TaskState",
    "TaskStateBrief",
]


class NomadModel(BaseModel):
    """Base of every Nomad response model: aliases in, extra fields ignored, immutable."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True, frozen=True)


def _none_to_empty(value: Any, empty: Any) -> Any:
    return empty if value is None else value


def _go_time(value: Any) -> Any:
    # Go encodes an unset time.Time as its zero value, year 1; that means "never", not a date.
    if value is None or (isinstance(value, str) and value.startswith("0001-01-01")):
        return None
    return value


_A = TypeVar("_A", bound="AllocationBrief")
GoTime = Annotated[datetime | None, BeforeValidator(_go_time)]


# --- allocations ------------------------------------------------------------------------------


class TaskEvent(NomadModel):
    """One entry of a task's event history (``Started``, ``Terminated``, ``Driver Failure``, …)."""

    type: str = Field(alias="Type")
    time: int = Field(0, alias="Time")
    display_message: str = Field("", alias="DisplayMessage")
    message: str = Field("", alias="Message")
    # Optional rather than "None means {}": this model is the hot path of large allocation
    # lists (up to 10 events per task), and a Python-level validator costs ~40% of its parsing.
    details: dict[str, str] | None = Field(None, alias="Details")
    fails_task: bool = Field(False, alias="FailsTask")
    exit_code: int = Field(0, alias="ExitCode")
    signal: int = Field(0, alias="Signal")
    driver_error: str = Field("", alias="DriverError")
    validation_error: str = Field("", alias="ValidationError")
    setup_error: str = Field("", alias="SetupError")
    kill_reason: str = Field("", alias="KillReason")


class TaskStateBrief(NomadModel):
    """A task's state without its event history: what health judgement reads."""

    state: str = Field(alias="State")
    failed: bool = Field(False, alias="Failed")
    restarts: int = Field(0, alias="Restarts")
    last_restart: GoTime = Field(None, alias="LastRestart")
    started_at: GoTime = Field(None, alias="StartedAt")
    finished_at: GoTime = Field(None, alias="FinishedAt")


class TaskState(TaskStateBrief):
    """A task's state inside an allocation: ``pending``, ``running`` or ``dead``, with its events."""

    events: list[TaskEvent] = Field(default_factory=list, alias="Events")

    @field_validator("events", mode="before")
    @classmethod
    def _events(cls, value: Any) -> Any:
        return _none_to_empty(value, [])


class AllocDeploymentStatus(NomadModel):
    """Deployment health of an allocation; set once per deployment, not a liveness signal."""

    healthy: bool | None = Field(None, alias="Healthy")
    canary: bool = Field(False, alias="Canary")
    modify_index: int = Field(0, alias="ModifyIndex")


class RescheduleTracker(NomadModel):
    """Past reschedule attempts of an allocation (``Events`` kept raw)."""

    events: list[dict[str, Any]] = Field(default_factory=list, alias="Events")

    @field_validator("events", mode="before")
    @classmethod
    def _events(cls, value: Any) -> Any:
        return _none_to_empty(value, [])


class AllocationBrief(NomadModel):
    """An allocation list stub whose task states leave out their event histories.

    The events are ~90% of a stub's bytes (Nomad keeps up to 10 per task, ~30 fields each); a
    health watcher reading an ALICE-sized environment (150k task states) parses a brief stub
    about four times faster and keeps none of the events.
    """

    id: str = Field(alias="ID")
    eval_id: str = Field("", alias="EvalID")
    name: str = Field("", alias="Name")
    namespace: str = Field("default", alias="Namespace")
    node_id: str = Field("", alias="NodeID")
    node_name: str = Field("", alias="NodeName")
    job_id: str = Field(alias="JobID")
    job_type: str = Field("", alias="JobType")
    job_version: int = Field(0, alias="JobVersion")
    task_group: str = Field(alias="TaskGroup")
    desired_status: str = Field(alias="DesiredStatus")
    desired_description: str = Field("", alias="DesiredDescription")
    client_status: str = Field(alias="ClientStatus")
    client_description: str = Field("", alias="ClientDescription")
    task_states: Mapping[str, TaskStateBrief] = Field(default_factory=dict, alias="TaskStates")
    deployment_status: AllocDeploymentStatus | None = Field(None, alias="DeploymentStatus")
    followup_eval_id: str = Field("", alias="FollowupEvalID")
    next_allocation: str = Field("", alias="NextAllocation")
    reschedule_tracker: RescheduleTracker | None = Field(None, alias="RescheduleTracker")
    create_index: int = Field(0, alias="CreateIndex")
    modify_index: int = Field(0, alias="ModifyIndex")
    create_time: int = Field(0, alias="CreateTime")
    modify_time: int = Field(0, alias="ModifyTime")

    @field_validator("task_states", mode="before")
    @classmethod
    def _states(cls, value: Any) -> Any:
        return _none_to_empty(value, {})


class AllocationListStub(AllocationBrief):
    """An allocation as lists and blocking queries return it, task states and their events included."""

    task_states: Mapping[str, TaskState] = Field(default_factory=dict, alias="TaskStates")


class AllocationMetric(NomadModel):
    """Why the scheduler could (not) place a group: filtered and exhausted nodes, by reason."""

    nodes_evaluated: int = Field(0, alias="NodesEvaluated")
    nodes_filtered: int = Field(0, alias="NodesFiltered")
    nodes_in_pool: int = Field(0, alias="NodesInPool")
    node_pool: str = Field("", alias="NodePool")
    nodes_available: dict[str, int] = Field(default_factory=dict, alias="NodesAvailable")
    class_filtered: dict[str, int] = Field(default_factory=dict, alias="ClassFiltered")
    constraint_filtered: dict[str, int] = Field(default_factory=dict, alias="ConstraintFiltered")
    nodes_exhausted: int = Field(0, alias="NodesExhausted")
    class_exhausted: dict[str, int] = Field(default_factory=dict, alias="ClassExhausted")
    dimension_exhausted: dict[str, int] = Field(default_factory=dict, alias="DimensionExhausted")
    quota_exhausted: list[str] = Field(default_factory=list, alias="QuotaExhausted")
    coalesced_failures: int = Field(0, alias="CoalescedFailures")

    @field_validator(
        "nodes_available",
        "class_filtered",
        "constraint_filtered",
        "class_exhausted",
        "dimension_exhausted",
        mode="before",
    )
    @classmethod
    def _maps(cls, value: Any) -> Any:
        return _none_to_empty(value, {})

    @field_validator("quota_exhausted", mode="before")
    @classmethod
    def _lists(cls, value: Any) -> Any:
        return _none_to_empty(value, [])

    def reasons(self) -> list[str]:
        """Human-readable placement failure reasons, most specific first (as ``nomad job plan``)."""
        out = [f"constraint {k!r} filtered {n} node(s)" for k, n in sorted(self.constraint_filtered.items())]
        out += [f"class {k!r} filtered {n} node(s)" for k, n in sorted(self.class_filtered.items())]
        out += [
            f"resources exhausted ({k}) on {n} node(s)" for k, n in sorted(self.dimension_exhausted.items())
        ]
        out += [f"quota {q!r} exhausted" for q in self.quota_exhausted]
        if not out and self.nodes_evaluated == 0:
            out.append("no nodes were eligible for evaluation")
        return out


class Allocation(NomadModel):
    """One allocation in full (the embedded ``Job`` is left out: it is large and not needed)."""

    id: str = Field(alias="ID")
    namespace: str = Field("default", alias="Namespace")
    eval_id: str = Field("", alias="EvalID")
    name: str = Field("", alias="Name")
    node_id: str = Field("", alias="NodeID")
    node_name: str = Field("", alias="NodeName")
    job_id: str = Field(alias="JobID")
    task_group: str = Field(alias="TaskGroup")
    desired_status: str = Field(alias="DesiredStatus")
    desired_description: str = Field("", alias="DesiredDescription")
    client_status: str = Field(alias="ClientStatus")
    client_description: str = Field("", alias="ClientDescription")
    task_states: dict[str, TaskState] = Field(default_factory=dict, alias="TaskStates")
    deployment_id: str = Field("", alias="DeploymentID")
    deployment_status: AllocDeploymentStatus | None = Field(None, alias="DeploymentStatus")
    metrics: AllocationMetric | None = Field(None, alias="Metrics")
    followup_eval_id: str = Field("", alias="FollowupEvalID")
    previous_allocation: str = Field("", alias="PreviousAllocation")
    next_allocation: str = Field("", alias="NextAllocation")
    create_index: int = Field(0, alias="CreateIndex")
    modify_index: int = Field(0, alias="ModifyIndex")
    alloc_modify_index: int = Field(0, alias="AllocModifyIndex")

    @field_validator("task_states", mode="before")
    @classmethod
    def _states(cls, value: Any) -> Any:
        return _none_to_empty(value, {})


# --- nodes ------------------------------------------------------------------------------------


class DriverInfo(NomadModel):
    """A task driver's fingerprint on a node."""

    detected: bool = Field(False, alias="Detected")
    healthy: bool = Field(False, alias="Healthy")
    health_description: str = Field("", alias="HealthDescription")


class NodeDevice(NomadModel):
    """One device instance (a GPU) and its health as the device plugin reports it."""

    id: str = Field(alias="ID")
    healthy: bool = Field(False, alias="Healthy")
    health_description: str = Field("", alias="HealthDescription")


class NodeDeviceResource(NomadModel):
    """A group of identical devices on a node (``nvidia/gpu/<model>``)."""

    vendor: str = Field("", alias="Vendor")
    type: str = Field("", alias="Type")
    name: str = Field("", alias="Name")
    instances: list[NodeDevice] = Field(default_factory=list, alias="Instances")

    @field_validator("instances", mode="before")
    @classmethod
    def _instances(cls, value: Any) -> Any:
        return _none_to_empty(value, [])

    @property
    def id(self) -> str:
        """``vendor/type/name``, the form device constraints and ``device`` blocks use."""
        return "/".join(p for p in (self.vendor, self.type, self.name) if p)


class NodeCpuResources(NomadModel):
    """CPU capacity of a node in MHz shares and cores."""

    cpu_shares: int = Field(0, alias="CpuShares")
    total_cpu_cores: int = Field(0, alias="TotalCpuCores")


class NodeMemoryResources(NomadModel):
    """Memory capacity of a node."""

    memory_mb: int = Field(0, alias="MemoryMB")


class NodeResources(NomadModel):
    """A node's capacity, devices included."""

    cpu: NodeCpuResources = Field(default_factory=NodeCpuResources, alias="Cpu")
    memory: NodeMemoryResources = Field(default_factory=NodeMemoryResources, alias="Memory")
    devices: list[NodeDeviceResource] = Field(default_factory=list, alias="Devices")

    @field_validator("devices", mode="before")
    @classmethod
    def _devices(cls, value: Any) -> Any:
        return _none_to_empty(value, [])


class DrainStrategy(NomadModel):
    """An active drain: its deadline (ns) and when it started."""

    deadline: int = Field(0, alias="Deadline")
    ignore_system_jobs: bool = Field(False, alias="IgnoreSystemJobs")
    force_deadline: GoTime = Field(None, alias="ForceDeadline")
    started_at: GoTime = Field(None, alias="StartedAt")


class _NodeCommon(NomadModel):
    id: str = Field(alias="ID")
    name: str = Field(alias="Name")
    datacenter: str = Field("", alias="Datacenter")
    node_class: str = Field("", alias="NodeClass")
    node_pool: str = Field("default", alias="NodePool")
    drain: bool = Field(False, alias="Drain")
    scheduling_eligibility: str = Field("eligible", alias="SchedulingEligibility")
    status: str = Field(alias="Status")
    status_description: str = Field("", alias="StatusDescription")
    drivers: dict[str, DriverInfo] = Field(default_factory=dict, alias="Drivers")
    node_resources: NodeResources | None = Field(None, alias="NodeResources")
    attributes: dict[str, str] = Field(default_factory=dict, alias="Attributes")
    create_index: int = Field(0, alias="CreateIndex")
    modify_index: int = Field(0, alias="ModifyIndex")

    @field_validator("drivers", "attributes", mode="before")
    @classmethod
    def _maps(cls, value: Any) -> Any:
        return _none_to_empty(value, {})

    @property
    def devices(self) -> list[NodeDeviceResource]:
        """The node's device groups (empty unless listed with ``resources=true`` or read singly)."""
        return list(self.node_resources.devices) if self.node_resources else []

    @property
    def schedulable(self) -> bool:
        """Ready, eligible and not draining: new allocations can land here."""
        return self.status == "ready" and self.scheduling_eligibility == "eligible" and not self.drain


class NodeListStub(_NodeCommon):
    """A node as ``GET /v1/nodes`` lists it (``resources=true`` adds ``NodeResources``)."""

    address: str = Field("", alias="Address")
    version: str = Field("", alias="Version")


class Node(_NodeCommon):
    """One node in full."""

    http_addr: str = Field("", alias="HTTPAddr")
    meta: dict[str, str] = Field(default_factory=dict, alias="Meta")
    drain_strategy: DrainStrategy | None = Field(None, alias="DrainStrategy")
    status_updated_at: int = Field(0, alias="StatusUpdatedAt")

    @field_validator("meta", mode="before")
    @classmethod
    def _meta(cls, value: Any) -> Any:
        return _none_to_empty(value, {})


# --- evaluations and deployments --------------------------------------------------------------


class Evaluation(NomadModel):
    """A scheduler evaluation; ``failed_tg_allocs`` says why groups could not be placed."""

    id: str = Field(alias="ID")
    namespace: str = Field("default", alias="Namespace")
    priority: int = Field(0, alias="Priority")
    type: str = Field("", alias="Type")
    triggered_by: str = Field("", alias="TriggeredBy")
    job_id: str = Field("", alias="JobID")
    job_modify_index: int = Field(0, alias="JobModifyIndex")
    node_id: str = Field("", alias="NodeID")
    deployment_id: str = Field("", alias="DeploymentID")
    status: str = Field(alias="Status")
    status_description: str = Field("", alias="StatusDescription")
    next_eval: str = Field("", alias="NextEval")
    previous_eval: str = Field("", alias="PreviousEval")
    blocked_eval: str = Field("", alias="BlockedEval")
    failed_tg_allocs: dict[str, AllocationMetric] = Field(default_factory=dict, alias="FailedTGAllocs")
    queued_allocations: dict[str, int] = Field(default_factory=dict, alias="QueuedAllocations")
    create_index: int = Field(0, alias="CreateIndex")
    modify_index: int = Field(0, alias="ModifyIndex")

    @field_validator("failed_tg_allocs", "queued_allocations", mode="before")
    @classmethod
    def _maps(cls, value: Any) -> Any:
        return _none_to_empty(value, {})


class DeploymentState(NomadModel):
    """Progress of one task group inside a deployment."""

    auto_revert: bool = Field(False, alias="AutoRevert")
    promoted: bool = Field(False, alias="Promoted")
    progress_deadline: int = Field(0, alias="ProgressDeadline")
    require_progress_by: GoTime = Field(None, alias="RequireProgressBy")
    desired_canaries: int = Field(0, alias="DesiredCanaries")
    desired_total: int = Field(0, alias="DesiredTotal")
    placed_allocs: int = Field(0, alias="PlacedAllocs")
    healthy_allocs: int = Field(0, alias="HealthyAllocs")
    unhealthy_allocs: int = Field(0, alias="UnhealthyAllocs")


class Deployment(NomadModel):
    """A deployment of a service job version (``running``, ``successful``, ``failed``, …)."""

    id: str = Field(alias="ID")
    namespace: str = Field("default", alias="Namespace")
    job_id: str = Field(alias="JobID")
    job_version: int = Field(0, alias="JobVersion")
    job_modify_index: int = Field(0, alias="JobModifyIndex")
    job_create_index: int = Field(0, alias="JobCreateIndex")
    task_groups: dict[str, DeploymentState] = Field(default_factory=dict, alias="TaskGroups")
    status: str = Field(alias="Status")
    status_description: str = Field("", alias="StatusDescription")
    create_index: int = Field(0, alias="CreateIndex")
    modify_index: int = Field(0, alias="ModifyIndex")

    @field_validator("task_groups", mode="before")
    @classmethod
    def _groups(cls, value: Any) -> Any:
        return _none_to_empty(value, {})


# --- jobs -------------------------------------------------------------------------------------


class TaskGroupStub(NomadModel):
    """The part of a job's task group the controller reads back."""

    name: str = Field(alias="Name")
    count: int = Field(1, alias="Count")
    meta: dict[str, str] = Field(default_factory=dict, alias="Meta")

    @field_validator("meta", mode="before")
    @classmethod
    def _meta(cls, value: Any) -> Any:
        return _none_to_empty(value, {})


class Job(NomadModel):
    """A job as read back (``GET /v1/job/:id``, versions): identity, status, version, meta, groups."""

    id: str = Field(alias="ID")
    name: str = Field("", alias="Name")
    namespace: str = Field("default", alias="Namespace")
    type: str = Field("service", alias="Type")
    priority: int = Field(50, alias="Priority")
    status: str = Field("", alias="Status")
    stop: bool = Field(False, alias="Stop")
    stable: bool = Field(False, alias="Stable")
    version: int = Field(0, alias="Version")
    parent_id: str = Field("", alias="ParentID")
    meta: dict[str, str] = Field(default_factory=dict, alias="Meta")
    task_groups: list[TaskGroupStub] = Field(default_factory=list, alias="TaskGroups")
    create_index: int = Field(0, alias="CreateIndex")
    modify_index: int = Field(0, alias="ModifyIndex")
    job_modify_index: int = Field(0, alias="JobModifyIndex")
    submit_time: int = Field(0, alias="SubmitTime")

    @field_validator("meta", mode="before")
    @classmethod
    def _meta(cls, value: Any) -> Any:
        return _none_to_empty(value, {})

    @field_validator("task_groups", mode="before")
    @classmethod
    def _groups(cls, value: Any) -> Any:
        return _none_to_empty(value, [])


class JobListStub(NomadModel):
    """A job as ``GET /v1/jobs`` lists it (``meta=true`` adds ``Meta``)."""

    id: str = Field(alias="ID")
    name: str = Field("", alias="Name")
    namespace: str = Field("default", alias="Namespace")
    type: str = Field("service", alias="Type")
    status: str = Field("", alias="Status")
    stop: bool = Field(False, alias="Stop")
    parent_id: str = Field("", alias="ParentID")
    parameterized_job: bool = Field(False, alias="ParameterizedJob")
    meta: dict[str, str] = Field(default_factory=dict, alias="Meta")
    create_index: int = Field(0, alias="CreateIndex")
    modify_index: int = Field(0, alias="ModifyIndex")
    job_modify_index: int = Field(0, alias="JobModifyIndex")

    @field_validator("meta", mode="before")
    @classmethod
    def _meta(cls, value: Any) -> Any:
        return _none_to_empty(value, {})


class JobRegisterResponse(NomadModel):
    """What a register or scale returns: the evaluation created and the new job modify index."""

    eval_id: str = Field("", alias="EvalID")
    eval_create_index: int = Field(0, alias="EvalCreateIndex")
    job_modify_index: int = Field(0, alias="JobModifyIndex")
    warnings: str = Field("", alias="Warnings")


class JobDeregisterResponse(NomadModel):
    """What a deregister returns (an empty ``eval_id`` when the job did not exist)."""

    eval_id: str = Field("", alias="EvalID")
    eval_create_index: int = Field(0, alias="EvalCreateIndex")
    job_modify_index: int = Field(0, alias="JobModifyIndex")


class JobDispatchResponse(NomadModel):
    """The child job a dispatch created and its evaluation."""

    dispatched_job_id: str = Field(alias="DispatchedJobID")
    eval_id: str = Field("", alias="EvalID")
    eval_create_index: int = Field(0, alias="EvalCreateIndex")
    job_create_index: int = Field(0, alias="JobCreateIndex")


class FieldDiff(NomadModel):
    """One changed field: ``Type`` is ``Added``, ``Deleted``, ``Edited`` or ``None``."""

    type: str = Field(alias="Type")
    name: str = Field(alias="Name")
    old: str = Field("", alias="Old")
    new: str = Field("", alias="New")
    annotations: list[str] = Field(default_factory=list, alias="Annotations")

    @field_validator("annotations", mode="before")
    @classmethod
    def _ann(cls, value: Any) -> Any:
        return _none_to_empty(value, [])


class ObjectDiff(NomadModel):
    """A changed nested object (a constraint, a service, a resources block)."""

    type: str = Field(alias="Type")
    name: str = Field(alias="Name")
    fields: list[FieldDiff] = Field(default_factory=list, alias="Fields")
    objects: list[ObjectDiff] = Field(default_factory=list, alias="Objects")

    @field_validator("fields", "objects", mode="before")
    @classmethod
    def _lists(cls, value: Any) -> Any:
        return _none_to_empty(value, [])


class TaskDiff(NomadModel):
    """A changed task; ``annotations`` says e.g. ``forces create/destroy update``."""

    type: str = Field(alias="Type")
    name: str = Field(alias="Name")
    fields: list[FieldDiff] = Field(default_factory=list, alias="Fields")
    objects: list[ObjectDiff] = Field(default_factory=list, alias="Objects")
    annotations: list[str] = Field(default_factory=list, alias="Annotations")

    @field_validator("fields", "objects", "annotations", mode="before")
    @classmethod
    def _lists(cls, value: Any) -> Any:
        return _none_to_empty(value, [])


class TaskGroupDiff(NomadModel):
    """A changed task group; ``updates`` counts what the scheduler will do (``create``, ``destroy``…)."""

    type: str = Field(alias="Type")
    name: str = Field(alias="Name")
    fields: list[FieldDiff] = Field(default_factory=list, alias="Fields")
    objects: list[ObjectDiff] = Field(default_factory=list, alias="Objects")
    tasks: list[TaskDiff] = Field(default_factory=list, alias="Tasks")
    updates: dict[str, int] = Field(default_factory=dict, alias="Updates")

    @field_validator("fields", "objects", "tasks", mode="before")
    @classmethod
    def _lists(cls, value: Any) -> Any:
        return _none_to_empty(value, [])

    @field_validator("updates", mode="before")
    @classmethod
    def _updates(cls, value: Any) -> Any:
        return _none_to_empty(value, {})


class JobDiff(NomadModel):
    """The difference between the submitted job and the registered one (``Type`` ``Added`` if new)."""

    type: str = Field(alias="Type")
    id: str = Field("", alias="ID")
    fields: list[FieldDiff] = Field(default_factory=list, alias="Fields")
    objects: list[ObjectDiff] = Field(default_factory=list, alias="Objects")
    task_groups: list[TaskGroupDiff] = Field(default_factory=list, alias="TaskGroups")

    @field_validator("fields", "objects", "task_groups", mode="before")
    @classmethod
    def _lists(cls, value: Any) -> Any:
        return _none_to_empty(value, [])


class DesiredUpdates(NomadModel):
    """The scheduler's intended changes for one group."""

    ignore: int = Field(0, alias="Ignore")
    place: int = Field(0, alias="Place")
    migrate: int = Field(0, alias="Migrate")
    stop: int = Field(0, alias="Stop")
    in_place_update: int = Field(0, alias="InPlaceUpdate")
    destructive_update: int = Field(0, alias="DestructiveUpdate")
    canary: int = Field(0, alias="Canary")
    preemptions: int = Field(0, alias="Preemptions")


class PlanAnnotations(NomadModel):
    """Per-group desired updates of a plan."""

    desired_tg_updates: dict[str, DesiredUpdates] = Field(default_factory=dict, alias="DesiredTGUpdates")

    @field_validator("desired_tg_updates", mode="before")
    @classmethod
    def _updates(cls, value: Any) -> Any:
        return _none_to_empty(value, {})


class JobPlanResponse(NomadModel):
    """A dry run: the diff, the intended updates, and the groups that could not be placed."""

    job_modify_index: int = Field(0, alias="JobModifyIndex")
    diff: JobDiff | None = Field(None, alias="Diff")
    annotations: PlanAnnotations | None = Field(None, alias="Annotations")
    failed_tg_allocs: dict[str, AllocationMetric] = Field(default_factory=dict, alias="FailedTGAllocs")
    warnings: str = Field("", alias="Warnings")

    @field_validator("failed_tg_allocs", mode="before")
    @classmethod
    def _failed(cls, value: Any) -> Any:
        return _none_to_empty(value, {})

    @property
    def placeable(self) -> bool:
        """True when every group can be placed as submitted."""
        return not self.failed_tg_allocs


class ScalingEvent(NomadModel):
    """One scaling action recorded on a group."""

    count: int | None = Field(None, alias="Count")
    previous_count: int = Field(0, alias="PreviousCount")
    error: bool = Field(False, alias="Error")
    message: str = Field("", alias="Message")
    eval_id: str | None = Field(None, alias="EvalID")
    time: int = Field(0, alias="Time")


class TaskGroupScaleStatus(NomadModel):
    """Desired versus actual allocations of one group."""

    desired: int = Field(0, alias="Desired")
    placed: int = Field(0, alias="Placed")
    running: int = Field(0, alias="Running")
    healthy: int = Field(0, alias="Healthy")
    unhealthy: int = Field(0, alias="Unhealthy")
    events: list[ScalingEvent] = Field(default_factory=list, alias="Events")

    @field_validator("events", mode="before")
    @classmethod
    def _events(cls, value: Any) -> Any:
        return _none_to_empty(value, [])


class JobScaleStatus(NomadModel):
    """``GET /v1/job/:id/scale``: per-group counts."""

    job_id: str = Field(alias="JobID")
    namespace: str = Field("default", alias="Namespace")
    job_create_index: int = Field(0, alias="JobCreateIndex")
    job_modify_index: int = Field(0, alias="JobModifyIndex")
    job_stopped: bool = Field(False, alias="JobStopped")
    task_groups: dict[str, TaskGroupScaleStatus] = Field(default_factory=dict, alias="TaskGroups")

    @field_validator("task_groups", mode="before")
    @classmethod
    def _groups(cls, value: Any) -> Any:
        return _none_to_empty(value, {})


# --- agent and events -------------------------------------------------------------------------


class AgentSelf(NomadModel):
    """``GET /v1/agent/self``, reduced to identity and version."""

    config: dict[str, Any] = Field(default_factory=dict, alias="config")
    member: dict[str, Any] = Field(default_factory=dict, alias="member")

    @field_validator("config", "member", mode="before")
    @classmethod
    def _maps(cls, value: Any) -> Any:
        return _none_to_empty(value, {})

    @property
    def version(self) -> str:
        """The agent's version (``1.10.3``, ``2.0.5-beta.1``); empty if the agent does not say.

        Read from ``config.Version`` (servers and clients), falling back to the serf member's
        ``build`` tag (servers only).
        """
        info = self.config.get("Version")
        if isinstance(info, dict) and info.get("Version"):
            pre = info.get("VersionPrerelease") or ""
            return f"{info['Version']}-{pre}" if pre else str(info["Version"])
        tags = self.member.get("Tags")
        if isinstance(tags, dict) and tags.get("build"):
            return str(tags["build"]).split(":")[0]
        return ""

    @property
    def name(self) -> str:
        """The agent's node name (serf member name, or ``NodeName`` from its config)."""
        return str(self.member.get("Name") or self.config.get("NodeName") or "")


class Event(NomadModel):
    """One event: ``topic`` (``Allocation``…), ``type`` (``AllocationUpdated``…), ``payload`` raw."""

    topic: str = Field(alias="Topic")
    type: str = Field(alias="Type")
    key: str = Field("", alias="Key")
    namespace: str = Field("", alias="Namespace")
    filter_keys: list[str] = Field(default_factory=list, alias="FilterKeys")
    index: int = Field(0, alias="Index")
    payload: dict[str, Any] = Field(default_factory=dict, alias="Payload")

    @field_validator("filter_keys", mode="before")
    @classmethod
    def _keys(cls, value: Any) -> Any:
        return _none_to_empty(value, [])

    @field_validator("payload", mode="before")
    @classmethod
    def _payload(cls, value: Any) -> Any:
        return _none_to_empty(value, {})

    def allocation(self, model: builtins.type[_A] = AllocationListStub) -> _A | None:  # type: ignore[assignment]
        """The payload as an allocation (topic ``Allocation``), else ``None``; ``model``
        ``AllocationBrief`` leaves out the tasks' event histories."""
        raw = self.payload.get("Allocation")
        return model.model_validate(raw) if isinstance(raw, dict) else None


class EventFrame(NomadModel):
    """One NDJSON line of the event stream: a raft index and the events committed at it."""

    index: int = Field(alias="Index")
    events: list[Event] = Field(default_factory=list, alias="Events")

    @field_validator("events", mode="before")
    @classmethod
    def _events(cls, value: Any) -> Any:
        return _none_to_empty(value, [])
