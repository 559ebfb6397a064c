"""Nomad's own job rules, checked locally so a bad job fails before any API call.

The rules follow ``nomad/structs/structs.go`` (``Job.Validate``, ``TaskGroup.Validate``,
``Task.Validate`` and what they call; reference §1.4), restricted to the fields our model can
hold, plus checks Nomad leaves to the client at run time (the raw_exec ``command``; §0.3) and the
version floor of each field. Messages keep Nomad's wording. Every violation names the job,
the API-JSON location and the AliECS role path behind it (from ``nomadctl.*`` meta).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from nomadctl.errors import PlanError
from nomadctl.jobspec import names
from nomadctl.jobspec.model import (
    Constraint,
    Job,
    ReschedulePolicy,
    RestartPolicy,
    Service,
    Task,
    TaskGroup,
    UpdateStrategy,
)
from nomadctl.jobspec.versions import CURRENT, FEATURES, NomadVersion

S = 1_000_000_000
MIN_CPU_MHZ = 1  # structs.MinResources
MIN_MEMORY_MB = 10
MIN_DISK_MB = 10
RESTART_MIN_INTERVAL = 5 * S
RESCHEDULE_MIN_DELAY = 5 * S
RESCHEDULE_MIN_INTERVAL = 15 * S
CHECK_MIN_INTERVAL = 1 * S
CHECK_MIN_TIMEOUT = 1 * S
JOB_MAX_COUNT = 50_000  # server job_max_count default (1.11+)
MAX_PORT = 65535
MEMORY_NO_LIMIT = -1
CONSUL_META_KEY = re.compile(r"^[A-Za-z0-9_-]{1,64}$")  # Consul agent/structs validateMetaPair
CONSUL_META_VALUE_MAX = 512
_ORDER_OPERANDS = ("=", "==", "is", "!=", "not", "<", "<=", ">", ">=")
_EXACT_TARGETS = (
    "${node.unique.id}",
    "${node.datacenter}",
    "${node.unique.name}",
    "${node.class}",
    "${node.pool}",
)
_PREFIX_TARGETS = ("${attr.", "${device.", "${meta.")
_DELAY_FUNCTIONS = ("constant", "exponential", "fibonacci")
_RECONCILE = ("best_score", "longest_running", "keep_original", "keep_replacement")
_HEALTH_CHECKS = ("checks", "task_states", "manual")
_CHECK_TYPES = ("http", "tcp", "grpc", "script")
_CHANGE_MODES = ("noop", "restart", "signal", "script")


@dataclass(frozen=True, slots=True)
class Violation:
    """One broken rule: where (job, API-JSON location, role path) and what."""

    job_id: str
    location: str
    message: str
    role_path: str | None = None

    def __str__(self) -> str:
        role = f"{self.role_path}: " if self.role_path else ""
        return f"{role}job {self.job_id}: {self.location}: {self.message}"


class JobValidationError(PlanError):
    """A rendered job breaks a Nomad rule; the first violation is the message, the rest details."""

    def __init__(self, violations: list[Violation]) -> None:
        first = violations[0]
        super().__init__(
            f"job {first.job_id}: {first.message}", role_path=first.role_path, field=first.location
        )
        self.violations = violations

    def details(self) -> list[str]:
        more = [f"  {v}" for v in self.violations[1:]]
        return [f"  ({len(self.violations)} problems)", *more] if more else []


class _Checker:
    def __init__(self, job: Job, version: NomadVersion, max_priority: int) -> None:
        self.job = job
        self.version = version
        self.max_priority = max_priority
        self.out: list[Violation] = []
        self.role: str | None = None

    def bad(self, location: str, message: str) -> None:
        self.out.append(Violation(self.job.id, location, message, self.role))

    def needs(self, feature: str, location: str, what: str) -> None:
        if not self.version.supports(feature):
            self.bad(location, f"{what} needs Nomad >= {FEATURES[feature]} (rendering for {self.version})")

    # -- job --

    def run(self) -> list[Violation]:
        j = self.job
        if not j.id:
            self.bad("ID", "Missing job ID")
        elif " " in j.id:
            self.bad("ID", "Job ID contains a space")
        elif "\0" in j.id:
            self.bad("ID", "Job ID contains a null character")
        if not j.name:
            self.bad("Name", "Missing job name")
        elif "\0" in j.name:
            self.bad("Name", "Job Name contains a null character")
        if j.namespace is not None and not j.namespace:
            self.bad("Namespace", "Job must be in a namespace")
        if not j.datacenters:
            self.bad("Datacenters", "Missing job datacenters")
        elif any(not dc for dc in j.datacenters):
            self.bad("Datacenters", "Job datacenter must be non-empty string")
        elif any("*" in dc for dc in j.datacenters):
            self.needs("datacenter_glob", "Datacenters", "a datacenter glob")
        if j.priority is not None and not 1 <= j.priority <= self.max_priority:
            self.bad("Priority", f"job priority must be between [1, {self.max_priority}]")
        if j.node_pool is not None:
            self.needs("node_pool", "NodePool", "node_pool")
            if not j.node_pool:
                self.bad("NodePool", "node pool name must not be empty")
        if j.parameterized_job is not None:
            if j.type not in ("batch", "sysbatch"):
                self.bad(
                    "ParameterizedJob",
                    'Parameterized job can only be used with "batch" or "sysbatch" scheduler',
                )
            if j.parameterized_job.payload not in ("optional", "required", "forbidden"):
                self.bad(
                    "ParameterizedJob.Payload",
                    f"Unknown payload requirement: {j.parameterized_job.payload!r}",
                )
        if j.reschedule is not None:
            self.reschedule("Reschedule", j.reschedule)
        for i, c in enumerate(j.constraints or []):
            self.constraint(f"Constraints[{i}]", c)
        if not j.task_groups:
            self.bad("TaskGroups", "Missing job task groups")
        seen: dict[str, int] = {}
        for i, tg in enumerate(j.task_groups):
            if not tg.name:
                self.bad(f"TaskGroups[{i}]", f"Job task group {i + 1} missing name")
            elif tg.name in seen:
                self.bad(
                    f"TaskGroups[{tg.name}]",
                    f"Job task group {i + 1} redefines '{tg.name}' from group {seen[tg.name] + 1}",
                )
            else:
                seen[tg.name] = i
        if self.version.supports("job_max_count"):
            total = sum(tg.count for tg in j.task_groups)
            if total > JOB_MAX_COUNT:
                self.bad("TaskGroups", f"total count {total} exceeds job_max_count {JOB_MAX_COUNT}")
        for tg in j.task_groups:
            self.role = (tg.meta or {}).get("nomadctl.role")
            self.group(f"TaskGroups[{tg.name}]", tg)
            self.role = None
        return self.out

    # -- policies --

    def restart(self, loc: str, r: RestartPolicy) -> None:
        if r.attempts == 0 and r.mode != "fail":
            self.bad(loc, f"Restart policy {r.mode!r} with 0 attempts is ambiguous")
        if r.interval < RESTART_MIN_INTERVAL:
            self.bad(loc + ".Interval", "Interval can not be less than 5s")
        if r.attempts * r.delay > r.interval:
            self.bad(
                loc, f"Nomad can't restart the TaskGroup {r.attempts} times in the interval with this delay"
            )

    def reschedule(self, loc: str, r: ReschedulePolicy) -> None:
        if not r.enabled:
            return
        delay = r.delay or 0
        if r.attempts > 0 and r.unlimited:
            self.bad(loc, "If Attempts >0, Unlimited cannot also be set to true")
        if r.attempts > 0 and (r.interval or 0) <= 0:
            self.bad(loc + ".Interval", "Interval must be a non zero value if Attempts > 0")
        if delay < RESCHEDULE_MIN_DELAY:
            self.bad(loc + ".Delay", "Delay cannot be less than 5s")
        if r.delay_function not in _DELAY_FUNCTIONS:
            self.bad(loc + ".DelayFunction", f"Invalid delay function {r.delay_function!r}")
        elif r.delay_function != "constant" and (r.max_delay or 0) < max(RESCHEDULE_MIN_DELAY, delay):
            self.bad(loc + ".MaxDelay", "Max Delay cannot be less than 5s or than Delay")
        if not r.unlimited and (r.interval or 0) < RESCHEDULE_MIN_INTERVAL:
            self.bad(loc + ".Interval", "Interval cannot be less than 15s")

    def update(self, loc: str, u: UpdateStrategy) -> None:
        if u.health_check not in _HEALTH_CHECKS:
            self.bad(loc + ".HealthCheck", f"Invalid health check given: {u.health_check!r}")
        if u.max_parallel < 0:
            self.bad(loc + ".MaxParallel", "Max parallel can not be less than zero")
        if u.min_healthy_time < 0:
            self.bad(loc + ".MinHealthyTime", "Minimum healthy time may not be less than zero")
        if u.healthy_deadline <= 0:
            self.bad(loc + ".HealthyDeadline", "Healthy deadline must be greater than zero")
        if u.min_healthy_time >= u.healthy_deadline:
            self.bad(loc, "Minimum healthy time must be less than healthy deadline")
        if u.progress_deadline < 0:
            self.bad(loc + ".ProgressDeadline", "Progress deadline must be zero or greater")
        elif u.progress_deadline != 0 and u.healthy_deadline >= u.progress_deadline:
            self.bad(loc, "Healthy deadline must be less than progress deadline")

    def constraint(self, loc: str, c: Constraint, *, task_level: bool = False) -> None:
        op = c.operand
        needs_attr = True
        if op == "distinct_hosts":
            needs_attr = False
        elif op in ("set_contains", "set_contains_all", "set_contains_any"):
            if not c.rtarget:
                self.bad(loc, "Set contains constraint requires an RTarget")
        elif op == "regexp":
            try:
                re.compile(c.rtarget or "")
            except re.error as err:
                self.bad(loc, f"Regular expression failed to compile: {err}")
        elif op == "distinct_property":
            if c.rtarget and (not c.rtarget.isdigit() or int(c.rtarget) < 1):
                self.bad(loc, "Distinct Property must have an allowed count of 1 or greater")
        elif op in ("is_set", "is_not_set"):
            if c.rtarget:
                self.bad(loc, f"Operator {op!r} does not support an RTarget")
        elif op in _ORDER_OPERANDS:
            if not c.rtarget:
                self.bad(loc, f"Operator {op!r} requires an RTarget")
        elif op in ("version", "semver"):
            if not c.rtarget:
                self.bad(loc, f"{op} constraint is invalid: empty")
        else:
            self.bad(loc, f"Unknown constraint type {op!r}")
        if needs_attr:
            target = c.ltarget or ""
            if not target:
                self.bad(loc, "no attribute provided but is required by operator")
            elif target.startswith("$") and not (
                target.startswith("${")
                and target.endswith("}")
                and (target in _EXACT_TARGETS or target.startswith(_PREFIX_TARGETS))
            ):
                self.bad(loc, f"unsupported attribute target {target!r}")
        if task_level and op in ("distinct_hosts", "distinct_property"):
            self.bad(loc, f"Constraint has disallowed Operand at task level: {op}")

    # -- group --

    def group(self, loc: str, tg: TaskGroup) -> None:
        j = self.job
        if "\0" in tg.name:
            self.bad(loc, "Task group name contains null character")
        if tg.count < 0:
            self.bad(loc + ".Count", "Task group count can't be negative")
        if j.type == "system" and tg.count > 1:
            self.bad(loc + ".Count", "Count cannot exceed 1 with system scheduler")
        if not tg.tasks:
            self.bad(loc + ".Tasks", "Missing tasks for task group")
        if tg.max_run_duration is not None:
            self.needs("max_run_duration", loc + ".MaxRunDuration", "max_run_duration")
            if tg.max_run_duration <= 0:
                self.bad(loc + ".MaxRunDuration", "MaxRunDuration must be greater than zero")
            if j.type not in ("batch", "sysbatch"):
                self.bad(loc + ".MaxRunDuration", f"Job type {j.type!r} does not allow max_run_duration")
        for i, c in enumerate(tg.constraints or []):
            self.constraint(f"{loc}.Constraints[{i}]", c)
        self.restart(loc + ".RestartPolicy", tg.restart_policy)
        if j.type in ("system", "sysbatch"):
            self.bad(loc + ".ReschedulePolicy", "System or sysbatch jobs should not have a reschedule policy")
        else:
            self.reschedule(loc + ".ReschedulePolicy", tg.reschedule_policy)
        if tg.disconnect is not None:
            self.needs("disconnect_block", loc + ".Disconnect", "the disconnect block")
            if (tg.disconnect.lost_after or 0) < 0:
                self.bad(loc + ".Disconnect.LostAfter", "lost_after cannot be a negative duration")
            if tg.disconnect.reconcile not in (None, "", *_RECONCILE):
                self.bad(
                    loc + ".Disconnect.Reconcile", f"invalid reconcile option: {tg.disconnect.reconcile}"
                )
        if tg.ephemeral_disk.size_mb < MIN_DISK_MB:
            self.bad(loc + ".EphemeralDisk", f"minimum DiskMB value is 10; got {tg.ephemeral_disk.size_mb}")
        if tg.update is not None:
            if j.type not in ("service", "system"):
                self.bad(loc + ".Update", f"Job type {j.type!r} does not allow update block")
            self.update(loc + ".Update", tg.update)

        labels: set[str] = set()
        static: set[int] = set()
        for net in tg.networks or []:
            for port in [*(net.reserved_ports or []), *(net.dynamic_ports or [])]:
                if port.label in labels:
                    self.bad(
                        f"{loc}.Networks", f"Port label {port.label} already in use by taskgroup network"
                    )
                labels.add(port.label)
                if port.value:
                    if port.value in static:
                        self.bad(f"{loc}.Networks", f"Static port {port.value} already reserved")
                    elif port.value > MAX_PORT:
                        self.bad(
                            f"{loc}.Networks",
                            f"Port {port.label} ({port.value}) cannot be greater than 65535",
                        )
                    static.add(port.value)

        names_seen: dict[str, int] = {}
        service_ids: set[tuple[str, str, str]] = set()
        for i, task in enumerate(tg.tasks):
            tloc = f"{loc}.Tasks[{task.name or i}]"
            group_role = self.role
            self.role = (task.meta or {}).get("nomadctl.path", group_role)
            if task.name in names_seen:
                self.bad(tloc, f"Task {i + 1} redefines '{task.name}' from task {names_seen[task.name] + 1}")
            names_seen.setdefault(task.name, i)
            self.task(tloc, task, tg, labels)
            for s in task.services or []:
                sid = (s.name, task.name, s.port_label or "")
                if sid in service_ids:
                    self.bad(tloc + ".Services", f"Services are not unique: {task.name}->{s.name}")
                service_ids.add(sid)
            self.role = group_role

    # -- task --

    def task(self, loc: str, t: Task, tg: TaskGroup, labels: set[str]) -> None:
        j = self.job
        if not t.name:
            self.bad(loc, "Missing task name")
        if t.name == "alloc":
            self.bad(loc, 'Task cannot be named "alloc"')
        if "/" in t.name or "\\" in t.name:
            self.bad(loc, "Task name cannot include slashes")
        elif "\0" in t.name:
            self.bad(loc, "Task name cannot include null characters")
        if not t.driver:
            self.bad(loc + ".Driver", "Missing task driver")
        if t.driver == "raw_exec" and not t.config.command:
            # Nomad does not validate driver config before the client runs it (reference §0.3)
            self.bad(loc + ".Config.command", "raw_exec needs a command")
        kill = t.kill_timeout or 0
        if kill < 0:
            self.bad(loc + ".KillTimeout", "KillTimeout must be a positive value")
        elif j.type == "service" and tg.update is not None and 0 < tg.update.progress_deadline < kill:
            self.bad(loc + ".KillTimeout", "KillTimout longer than the group's ProgressDeadline")
        r = t.resources
        if r.cpu < MIN_CPU_MHZ:
            self.bad(loc + ".Resources.CPU", f"minimum CPU value is 1; got {r.cpu}")
        if r.memory_mb < MIN_MEMORY_MB:
            self.bad(loc + ".Resources.MemoryMB", f"minimum MemoryMB value is 10; got {r.memory_mb}")
        if r.memory_max_mb is not None:
            if r.memory_max_mb == MEMORY_NO_LIMIT:
                self.needs("memory_max_unlimited", loc + ".Resources.MemoryMaxMB", "memory_max = -1")
            elif r.memory_max_mb != 0 and r.memory_max_mb < r.memory_mb:
                self.bad(
                    loc + ".Resources.MemoryMaxMB",
                    f"MemoryMaxMB value ({r.memory_max_mb}) should be larger than "
                    f"MemoryMB value ({r.memory_mb})",
                )
        for d in r.devices or []:
            if not d.name:
                self.bad(
                    loc + ".Resources.Devices",
                    "device name must be given as one of the following: "
                    "type, vendor/type, or vendor/type/name",
                )
            if d.count < 1:
                self.bad(loc + f".Resources.Devices[{d.name}]", "device count must be at least 1")
        if t.log_config is not None:
            lc = t.log_config
            if lc.max_files < 1:
                self.bad(loc + ".LogConfig", f"minimum number of files is 1; got {lc.max_files}")
            if lc.max_file_size_mb < 1:
                self.bad(loc + ".LogConfig", f"minimum file size is 1MB; got {lc.max_file_size_mb}")
            usage = lc.max_files * lc.max_file_size_mb
            if tg.ephemeral_disk.size_mb <= usage:
                self.bad(
                    loc + ".LogConfig",
                    f"log storage ({usage} MB) must be less than requested disk capacity "
                    f"({tg.ephemeral_disk.size_mb} MB)",
                )
        for i, c in enumerate(t.constraints or []):
            self.constraint(f"{loc}.Constraints[{i}]", c, task_level=True)
        for key in t.env or {}:
            if not key or "=" in key or "\0" in key:
                self.bad(loc + ".Env", f"environment variable name {key!r} is not valid")
        for s in t.services or []:
            self.service(f"{loc}.Services[{s.name}]", s, labels)
        destinations: dict[str, int] = {}
        for i, tmpl in enumerate(t.templates or []):
            tl = f"{loc}.Templates[{i}]"
            if not tmpl.embedded_tmpl:
                self.bad(tl, "Must specify a source path or have an embedded template")
            dest = tmpl.dest_path
            if not dest:
                self.bad(tl, "Must specify a destination for the template")
            elif dest.startswith("/") or ".." in dest.split("/"):
                self.bad(tl, "destination escapes allocation directory")
            if dest in destinations:
                self.bad(tl, f"Template {i + 1} has same destination as {destinations[dest]}")
            destinations.setdefault(dest, i + 1)
            if tmpl.change_mode is not None and tmpl.change_mode not in _CHANGE_MODES:
                self.bad(tl, "change_mode must be one of noop, restart, signal or script")
            if tmpl.change_mode == "signal" and tmpl.envvars:
                self.bad(tl, "cannot use signals with env var templates")
            if tmpl.perms is not None and not re.fullmatch(r"[0-7]{1,4}", tmpl.perms):
                self.bad(tl, f"Failed to parse {tmpl.perms!r} as octal")
            if tmpl.err_missing_key is not None:
                self.needs("template_error_on_missing_key", tl + ".ErrMissingKey", "error_on_missing_key")
        if t.vault is not None:
            v = t.vault
            if v.change_mode not in (None, "noop", "restart", "signal"):
                self.bad(loc + ".Vault", f"Unknown change mode {v.change_mode!r}")
            if v.role is not None:
                self.needs("vault_workload_identity", loc + ".Vault.Role", "vault role (workload identity)")
            if v.policies is not None and self.version >= NomadVersion(1, 10, 0):
                self.bad(loc + ".Vault.Policies", "vault policies were removed in Nomad 1.10: use a role")
            if v.role is None and not v.policies:
                self.bad(loc + ".Vault", "vault block needs a role (>= 1.7) or policies (< 1.7)")
        if t.consul is not None:
            self.needs("task_consul_block", loc + ".Consul", "a task-level consul block")

    def service(self, loc: str, s: Service, labels: set[str]) -> None:
        stripped = re.sub(r"\$\{[a-zA-Z0-9_\-.]+\}", "ENV-VAR", s.name)
        if not names.SERVICE_NAME.match(stripped):
            self.bad(
                loc,
                "Service name must be valid per RFC 1123 and can contain only alphanumeric characters "
                f"or dashes and must be no longer than 63 characters: {s.name!r}",
            )
        if s.port_label and s.port_label not in labels:
            self.bad(loc, f"port label {s.port_label!r} referenced by services {s.name} does not exist")
        for key, value in (s.meta or {}).items():
            if not CONSUL_META_KEY.match(key):
                self.bad(loc + ".Meta", f"Consul meta key {key!r} must be 1-64 of [A-Za-z0-9_-]")
            if len(value) > CONSUL_META_VALUE_MAX:
                self.bad(loc + ".Meta", f"Consul meta value of {key!r} is longer than 512 characters")
        checks: set[str] = set()
        for c in s.checks or []:
            cl = f"{loc}.Checks[{c.name}]"
            if c.name in checks:
                self.bad(cl, f"check {c.name!r} is duplicate")
            checks.add(c.name)
            if c.type.lower() not in _CHECK_TYPES:
                self.bad(cl, f"invalid check type ({c.type!r}), must be one of {', '.join(_CHECK_TYPES)}")
            if c.interval < CHECK_MIN_INTERVAL:
                self.bad(cl, "interval cannot be lower than 1s")
            if c.timeout < CHECK_MIN_TIMEOUT:
                self.bad(cl, "timeout is lower than required minimum timeout 1s")
            port = c.port_label or s.port_label
            if c.type in ("tcp", "http", "grpc"):
                if not port:
                    self.bad(cl, f"check {c.name!r} is missing a port")
                elif port not in labels:
                    self.bad(cl, f"check {c.name!r} uses undefined port label {port!r}")


def check_job(job: Job, version: NomadVersion = CURRENT, *, max_priority: int = 100) -> list[Violation]:
    """Every rule ``job`` breaks (empty when Nomad would accept it)."""
    return _Checker(job, version, max_priority).run()


def check_jobs(
    jobs: Iterable[Job], version: NomadVersion = CURRENT, *, max_priority: int = 100
) -> list[Violation]:
    """``check_job`` over ``jobs`` plus rules across them (unique job IDs, unique service names)."""
    out: list[Violation] = []
    ids: set[str] = set()
    services: dict[str, str] = {}
    for job in jobs:
        out.extend(check_job(job, version, max_priority=max_priority))
        if job.id in ids:
            out.append(Violation(job.id, "ID", "two jobs of the environment have this ID"))
        ids.add(job.id)
        for tg in job.task_groups:
            for t in tg.tasks:
                for s in t.services or []:
                    where = f"{job.id}/{tg.name}/{t.name}"
                    other = services.setdefault(s.name, where)
                    if other != where:
                        out.append(
                            Violation(
                                job.id,
                                f"TaskGroups[{tg.name}].Tasks[{t.name}].Services[{s.name}]",
                                f"service name also used by {other}",
                                (t.meta or {}).get("nomadctl.path"),
                            )
                        )
    return out


def validate(jobs: Iterable[Job], version: NomadVersion = CURRENT, *, max_priority: int = 100) -> None:
    """Raise ``JobValidationError`` listing every violation of ``jobs``."""
    violations = check_jobs(jobs, version, max_priority=max_priority)
    if violations:
        raise JobValidationError(violations)
