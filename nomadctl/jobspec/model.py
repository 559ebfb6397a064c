"""A typed model of the part of Nomad's job API that nomadctl emits.

Each class mirrors one Go struct of ``hashicorp/nomad`` ``api/*.go`` (named by ``GO_STRUCT``):
Python attributes are snake_case, the pydantic alias is the Go field name (the API-JSON key) and
an ``Hcl`` marker carries the jobspec2 HCL name. Durations are integer nanoseconds, as Go's
``time.Duration`` decodes them from JSON. Nomad's JSON decoder silently drops unknown keys, so
``tests/jobspec/test_whitelist.py`` pins every alias and HCL name here to the Go source.

Only fields we emit are modelled; ``None`` means "not sent" (Nomad then applies its default).
Trap kept visible on purpose: the job-level reschedule block is ``Reschedule`` while the
group-level one is ``ReschedulePolicy`` (both ``reschedule`` in HCL).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

HclKind = Literal["attr", "block", "label", "map", "ports"]


@dataclass(frozen=True, slots=True)
class Hcl:
    """How a field is written in HCL2.

    ``attr``: ``name = value``; ``block``: nested model(s) as ``name { ... }``; ``label``: the
    field is the block label of its parent (``group "x"``); ``map``: a string map written as
    ``name { k = "v" }``; ``ports``: network ports written as ``port "label" { static = N }``.
    ``duration`` marks integer nanoseconds written as Go duration text (``"30s"``).
    """

    name: str
    kind: HclKind = "attr"
    duration: bool = False


class NomadObject(BaseModel):
    """Base of the job model: frozen, no unknown fields, built by Python name."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    GO_STRUCT: ClassVar[str] = ""


def _dur(name: str) -> Hcl:
    return Hcl(name, duration=True)


class Constraint(NomadObject):
    GO_STRUCT: ClassVar[str] = "Constraint"

    ltarget: Annotated[str | None, Hcl("attribute")] = Field(None, alias="LTarget")
    operand: Annotated[str, Hcl("operator")] = Field(alias="Operand")
    rtarget: Annotated[str | None, Hcl("value")] = Field(None, alias="RTarget")


class RestartPolicy(NomadObject):
    GO_STRUCT: ClassVar[str] = "RestartPolicy"

    attempts: Annotated[int, Hcl("attempts")] = Field(alias="Attempts")
    interval: Annotated[int, _dur("interval")] = Field(alias="Interval")
    delay: Annotated[int, _dur("delay")] = Field(alias="Delay")
    mode: Annotated[Literal["fail", "delay"], Hcl("mode")] = Field(alias="Mode")


class ReschedulePolicy(NomadObject):
    GO_STRUCT: ClassVar[str] = "ReschedulePolicy"

    attempts: Annotated[int, Hcl("attempts")] = Field(alias="Attempts")
    interval: Annotated[int | None, _dur("interval")] = Field(None, alias="Interval")
    delay: Annotated[int | None, _dur("delay")] = Field(None, alias="Delay")
    delay_function: Annotated[str | None, Hcl("delay_function")] = Field(None, alias="DelayFunction")
    max_delay: Annotated[int | None, _dur("max_delay")] = Field(None, alias="MaxDelay")
    unlimited: Annotated[bool, Hcl("unlimited")] = Field(alias="Unlimited")

    @property
    def enabled(self) -> bool:
        """Nomad's ``ReschedulePolicy.Enabled()``: attempts > 0 or unlimited."""
        return self.attempts > 0 or self.unlimited


class DisconnectStrategy(NomadObject):
    GO_STRUCT: ClassVar[str] = "DisconnectStrategy"

    lost_after: Annotated[int | None, _dur("lost_after")] = Field(None, alias="LostAfter")
    replace: Annotated[bool | None, Hcl("replace")] = Field(None, alias="Replace")
    reconcile: Annotated[str | None, Hcl("reconcile")] = Field(None, alias="Reconcile")


class EphemeralDisk(NomadObject):
    GO_STRUCT: ClassVar[str] = "EphemeralDisk"

    size_mb: Annotated[int, Hcl("size")] = Field(alias="SizeMB")


class UpdateStrategy(NomadObject):
    GO_STRUCT: ClassVar[str] = "UpdateStrategy"

    max_parallel: Annotated[int, Hcl("max_parallel")] = Field(alias="MaxParallel")
    health_check: Annotated[str, Hcl("health_check")] = Field(alias="HealthCheck")
    min_healthy_time: Annotated[int, _dur("min_healthy_time")] = Field(alias="MinHealthyTime")
    healthy_deadline: Annotated[int, _dur("healthy_deadline")] = Field(alias="HealthyDeadline")
    progress_deadline: Annotated[int, _dur("progress_deadline")] = Field(alias="ProgressDeadline")
    auto_revert: Annotated[bool, Hcl("auto_revert")] = Field(alias="AutoRevert")


class Port(NomadObject):
    GO_STRUCT: ClassVar[str] = "Port"

    label: Annotated[str, Hcl("label", kind="label")] = Field(alias="Label")
    value: Annotated[int | None, Hcl("static")] = Field(None, alias="Value")


class NetworkResource(NomadObject):
    GO_STRUCT: ClassVar[str] = "NetworkResource"

    mode: Annotated[str | None, Hcl("mode")] = Field(None, alias="Mode")
    # jobspec2 writes both kinds as `port "x" {}` and sorts them by `static`
    # (normalizeNetworkPorts); the Go hcl tag of ReservedPorts is `reserved_ports`.
    reserved_ports: Annotated[list[Port] | None, Hcl("port", kind="ports")] = Field(
        None, alias="ReservedPorts"
    )
    dynamic_ports: Annotated[list[Port] | None, Hcl("port", kind="ports")] = Field(None, alias="DynamicPorts")


class RequestedDevice(NomadObject):
    GO_STRUCT: ClassVar[str] = "RequestedDevice"

    name: Annotated[str, Hcl("name", kind="label")] = Field(alias="Name")
    count: Annotated[int, Hcl("count")] = Field(alias="Count")


class Resources(NomadObject):
    GO_STRUCT: ClassVar[str] = "Resources"

    cpu: Annotated[int, Hcl("cpu")] = Field(alias="CPU")
    memory_mb: Annotated[int, Hcl("memory")] = Field(alias="MemoryMB")
    memory_max_mb: Annotated[int | None, Hcl("memory_max")] = Field(None, alias="MemoryMaxMB")
    devices: Annotated[list[RequestedDevice] | None, Hcl("device", kind="block")] = Field(
        None, alias="Devices"
    )


class ServiceCheck(NomadObject):
    GO_STRUCT: ClassVar[str] = "ServiceCheck"

    name: Annotated[str, Hcl("name")] = Field(alias="Name")
    type: Annotated[str, Hcl("type")] = Field(alias="Type")
    port_label: Annotated[str | None, Hcl("port")] = Field(None, alias="PortLabel")
    interval: Annotated[int, _dur("interval")] = Field(alias="Interval")
    timeout: Annotated[int, _dur("timeout")] = Field(alias="Timeout")


class Service(NomadObject):
    """A Consul service (``provider`` is never sent: ``consul`` is Nomad's default)."""

    GO_STRUCT: ClassVar[str] = "Service"

    name: Annotated[str, Hcl("name")] = Field(alias="Name")
    port_label: Annotated[str | None, Hcl("port")] = Field(None, alias="PortLabel")
    tags: Annotated[list[str] | None, Hcl("tags")] = Field(None, alias="Tags")
    meta: Annotated[dict[str, str] | None, Hcl("meta", kind="map")] = Field(None, alias="Meta")
    checks: Annotated[list[ServiceCheck] | None, Hcl("check", kind="block")] = Field(None, alias="Checks")


class Template(NomadObject):
    GO_STRUCT: ClassVar[str] = "Template"

    embedded_tmpl: Annotated[str, Hcl("data")] = Field(alias="EmbeddedTmpl")
    dest_path: Annotated[str, Hcl("destination")] = Field(alias="DestPath")
    change_mode: Annotated[str | None, Hcl("change_mode")] = Field(None, alias="ChangeMode")
    perms: Annotated[str | None, Hcl("perms")] = Field(None, alias="Perms")
    envvars: Annotated[bool | None, Hcl("env")] = Field(None, alias="Envvars")
    err_missing_key: Annotated[bool | None, Hcl("error_on_missing_key")] = Field(None, alias="ErrMissingKey")


class Vault(NomadObject):
    GO_STRUCT: ClassVar[str] = "Vault"

    role: Annotated[str | None, Hcl("role")] = Field(None, alias="Role")
    policies: Annotated[list[str] | None, Hcl("policies")] = Field(None, alias="Policies")
    change_mode: Annotated[str | None, Hcl("change_mode")] = Field(None, alias="ChangeMode")


class Consul(NomadObject):
    """An empty task-level ``consul {}``: it gives the task's templates a Consul identity."""

    GO_STRUCT: ClassVar[str] = "Consul"


class LogConfig(NomadObject):
    GO_STRUCT: ClassVar[str] = "LogConfig"

    max_files: Annotated[int, Hcl("max_files")] = Field(alias="MaxFiles")
    max_file_size_mb: Annotated[int, Hcl("max_file_size")] = Field(alias="MaxFileSizeMB")


class RawExecConfig(NomadObject):
    """The ``raw_exec`` driver's task config (keys of ``drivers/rawexec/driver.go:taskConfigSpec``)."""

    GO_STRUCT: ClassVar[str] = "rawexec.TaskConfig"

    command: Annotated[str, Hcl("command")] = Field(alias="command")
    args: Annotated[list[str] | None, Hcl("args")] = Field(None, alias="args")


class Task(NomadObject):
    GO_STRUCT: ClassVar[str] = "Task"

    name: Annotated[str, Hcl("name", kind="label")] = Field(alias="Name")
    driver: Annotated[str, Hcl("driver")] = Field(alias="Driver")
    user: Annotated[str | None, Hcl("user")] = Field(None, alias="User")
    kill_timeout: Annotated[int | None, _dur("kill_timeout")] = Field(None, alias="KillTimeout")
    kill_signal: Annotated[str | None, Hcl("kill_signal")] = Field(None, alias="KillSignal")
    config: Annotated[RawExecConfig, Hcl("config", kind="block")] = Field(alias="Config")
    env: Annotated[dict[str, str] | None, Hcl("env", kind="map")] = Field(None, alias="Env")
    meta: Annotated[dict[str, str] | None, Hcl("meta", kind="map")] = Field(None, alias="Meta")
    constraints: Annotated[list[Constraint] | None, Hcl("constraint", kind="block")] = Field(
        None, alias="Constraints"
    )
    resources: Annotated[Resources, Hcl("resources", kind="block")] = Field(alias="Resources")
    log_config: Annotated[LogConfig | None, Hcl("logs", kind="block")] = Field(None, alias="LogConfig")
    services: Annotated[list[Service] | None, Hcl("service", kind="block")] = Field(None, alias="Services")
    consul: Annotated[Consul | None, Hcl("consul", kind="block")] = Field(None, alias="Consul")
    vault: Annotated[Vault | None, Hcl("vault", kind="block")] = Field(None, alias="Vault")
    templates: Annotated[list[Template] | None, Hcl("template", kind="block")] = Field(
        None, alias="Templates"
    )


class TaskGroup(NomadObject):
    GO_STRUCT: ClassVar[str] = "TaskGroup"

    name: Annotated[str, Hcl("name", kind="label")] = Field(alias="Name")
    count: Annotated[int, Hcl("count")] = Field(alias="Count")
    max_run_duration: Annotated[int | None, _dur("max_run_duration")] = Field(None, alias="MaxRunDuration")
    meta: Annotated[dict[str, str] | None, Hcl("meta", kind="map")] = Field(None, alias="Meta")
    constraints: Annotated[list[Constraint] | None, Hcl("constraint", kind="block")] = Field(
        None, alias="Constraints"
    )
    networks: Annotated[list[NetworkResource] | None, Hcl("network", kind="block")] = Field(
        None, alias="Networks"
    )
    restart_policy: Annotated[RestartPolicy, Hcl("restart", kind="block")] = Field(alias="RestartPolicy")
    # Group level: `ReschedulePolicy` (the job-level key is `Reschedule`).
    reschedule_policy: Annotated[ReschedulePolicy, Hcl("reschedule", kind="block")] = Field(
        alias="ReschedulePolicy"
    )
    disconnect: Annotated[DisconnectStrategy | None, Hcl("disconnect", kind="block")] = Field(
        None, alias="Disconnect"
    )
    ephemeral_disk: Annotated[EphemeralDisk, Hcl("ephemeral_disk", kind="block")] = Field(
        alias="EphemeralDisk"
    )
    update: Annotated[UpdateStrategy | None, Hcl("update", kind="block")] = Field(None, alias="Update")
    tasks: Annotated[list[Task], Hcl("task", kind="block")] = Field(alias="Tasks")


class ParameterizedJobConfig(NomadObject):
    GO_STRUCT: ClassVar[str] = "ParameterizedJobConfig"

    payload: Annotated[str, Hcl("payload")] = Field(alias="Payload")
    meta_optional: Annotated[list[str] | None, Hcl("meta_optional")] = Field(None, alias="MetaOptional")


JobType = Literal["service", "batch", "system", "sysbatch"]


class Job(NomadObject):
    GO_STRUCT: ClassVar[str] = "Job"

    id: Annotated[str, Hcl("id", kind="label")] = Field(alias="ID")
    # jobspec2 sets ID and Name from the block label; the renderer writes `name` only if it differs.
    name: Annotated[str, Hcl("name")] = Field(alias="Name")
    namespace: Annotated[str | None, Hcl("namespace")] = Field(None, alias="Namespace")
    region: Annotated[str | None, Hcl("region")] = Field(None, alias="Region")
    type: Annotated[JobType, Hcl("type")] = Field(alias="Type")
    priority: Annotated[int | None, Hcl("priority")] = Field(None, alias="Priority")
    datacenters: Annotated[list[str], Hcl("datacenters")] = Field(alias="Datacenters")
    node_pool: Annotated[str | None, Hcl("node_pool")] = Field(None, alias="NodePool")
    meta: Annotated[dict[str, str] | None, Hcl("meta", kind="map")] = Field(None, alias="Meta")
    constraints: Annotated[list[Constraint] | None, Hcl("constraint", kind="block")] = Field(
        None, alias="Constraints"
    )
    parameterized_job: Annotated[ParameterizedJobConfig | None, Hcl("parameterized", kind="block")] = Field(
        None, alias="ParameterizedJob"
    )
    # Job level: `Reschedule` (the group-level key is `ReschedulePolicy`).
    reschedule: Annotated[ReschedulePolicy | None, Hcl("reschedule", kind="block")] = Field(
        None, alias="Reschedule"
    )
    task_groups: Annotated[list[TaskGroup], Hcl("group", kind="block")] = Field(alias="TaskGroups")

    def payload(self) -> dict[str, Any]:
        """The register/validate request body ``{"Job": {...}}`` (API-JSON, Go field names)."""
        return {"Job": self.model_dump(mode="json", by_alias=True, exclude_none=True)}


# Every model class, for the key whitelist test and the HCL printer.
MODELS: tuple[type[NomadObject], ...] = (
    Constraint,
    RestartPolicy,
    ReschedulePolicy,
    DisconnectStrategy,
    EphemeralDisk,
    UpdateStrategy,
    Port,
    NetworkResource,
    RequestedDevice,
    Resources,
    ServiceCheck,
    Service,
    Template,
    Vault,
    Consul,
    LogConfig,
    RawExecConfig,
    Task,
    TaskGroup,
    ParameterizedJobConfig,
    Job,
)


def hcl_of(model: type[NomadObject], field_name: str) -> Hcl:
    """The ``Hcl`` marker of a model field."""
    for item in model.model_fields[field_name].metadata:
        if isinstance(item, Hcl):
            return item
    raise LookupError(f"{model.__name__}.{field_name} has no Hcl marker")
