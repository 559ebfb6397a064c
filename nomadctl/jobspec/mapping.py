"""EnvironmentPlan -> Nomad jobs (ARCHITECTURE §4; choices and reasons in docs/jobspec.md).

``build_jobs(plan, options)`` is pure: it reads the plan and returns a ``JobSet`` (typed jobs plus
the index the controller and the health watcher need: which Nomad job, group and task runs
each plan task, with which port labels, counts and NMIN). Nothing here performs I/O; the CLI
writes files and the controller registers, dispatches and stops the jobs.

Jobs of one environment ``<env>``:

* ``service``: ``direct``/``fairmq`` tasks, long running, registered at DEPLOY;
  ``aliecs-<env>`` (split ``none``) or one job per stage/placement group.
* ``run``: run-scoped ``basic`` tasks; a parameterized batch job dispatched at START_ACTIVITY
  and stopped at STOP_ACTIVITY (``aliecs-<env>-run[-<stage>]``).
* ``hook``: one parameterized batch job per trigger (moment and weight), one group per hook
  task, dispatched at that moment (``aliecs-<env>-hook-<trigger>``).
"""

from __future__ import annotations

import enum
import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from nomadctl import triggers
from nomadctl.errors import PlanError
from nomadctl.jobspec import names, placement, secrets
from nomadctl.jobspec.model import (
    Constraint,
    Consul,
    DisconnectStrategy,
    EphemeralDisk,
    Job,
    LogConfig,
    NetworkResource,
    ParameterizedJobConfig,
    Port,
    RawExecConfig,
    RequestedDevice,
    ReschedulePolicy,
    Resources,
    RestartPolicy,
    Service,
    ServiceCheck,
    Task,
    TaskGroup,
    Template,
    UpdateStrategy,
    Vault,
)
from nomadctl.jobspec.placement import Replication, TaskPlacement
from nomadctl.jobspec.versions import CURRENT, SUPPORTED, NomadVersion
from nomadctl.plan import (
    Addressing,
    ControlMode,
    EnvironmentPlan,
    OutboundChannel,
    RoleNode,
    TargetKind,
    TaskInstance,
    Transport,
)

S = 1_000_000_000  # one second in nanoseconds
MINUTE = 60 * S
HOUR = 60 * MINUTE

META_PREFIX = "nomadctl."
RUN_NUMBER_META = "nomadctl.run_number"


class Split(enum.StrEnum):
    """How the environment's long-running tasks are cut into Nomad jobs (Appendix C)."""

    NONE = "none"  # one job: every placement group in aliecs-<env>
    STAGE = "stage"  # one job for all host-pinned groups, one per replicated group, one for the rest
    HOST = "host"  # one job per placement group (host or replicated group)


class JobKind(enum.StrEnum):
    SERVICE = "service"
    RUN = "run"
    HOOK = "hook"


class GroupKind(enum.StrEnum):
    HOST = "host"  # tasks pinned to one host (machine_id)
    REPLICATED = "replicated"  # a role with nomad_replicas: count = n, distinct hosts
    FLOATING = "floating"  # unpinned tasks placed anywhere their constraints allow


@dataclass(frozen=True, slots=True)
class RenderOptions:
    """Everything about the target cluster that the manifests do not say."""

    nomad_version: NomadVersion = CURRENT
    split: Split = Split.HOST
    datacenters: tuple[str, ...] = ("*",)
    region: str | None = None
    namespace: str | None = None
    # the AliECS constraint attribute that pins a task to a host, and the Nomad target it maps to
    host_attribute: str = "machine_id"
    host_target: str = "${node.unique.name}"
    # other AliECS attributes: Nomad targets by attribute name (default ${meta.<attribute>})
    attribute_targets: Mapping[str, str] = field(default_factory=dict)
    mhz_per_core: int = 2000
    # `memory` for tasks whose template has no wants.memory
    default_memory_mb: int = 256
    # Vault access for `vault:` env references. None derives them from the job's namespace,
    # matching policies/vault: role `aliecs-<namespace>` (workload identity, Nomad >= 1.7) or
    # policy `aliecs-<namespace>-read` (legacy `vault { policies }`).
    vault_role: str | None = None
    vault_policies: tuple[str, ...] | None = None
    deploy_timeout_s: int = 90
    max_priority: int = 100


@dataclass(frozen=True, slots=True)
class TaskRef:
    """Where one plan task runs in Nomad."""

    path: str
    job_id: str
    group: str
    task: str
    kind: JobKind
    critical: bool
    occ_port: str | None = None  # port label of the OCC/FairMQ control port
    bind_ports: Mapping[str, str] = field(default_factory=dict)  # TCP bind channel -> port label


@dataclass(frozen=True, slots=True)
class GroupRef:
    """One Nomad task group and the health rule that applies to it."""

    job_id: str
    name: str
    kind: GroupKind
    job_kind: JobKind
    role_path: str
    host: str | None
    count: int
    nmin: int
    critical: bool
    task_paths: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class HookJob:
    """The parameterized job that runs every hook task of one trigger."""

    trigger: str
    moment: str
    weight: int
    job_id: str
    task_paths: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class JobSet:
    """All Nomad jobs of one environment, with the index from plan tasks to Nomad objects."""

    env_id: str
    jobs: tuple[Job, ...]
    kinds: Mapping[str, JobKind]
    tasks: Mapping[str, TaskRef]
    groups: tuple[GroupRef, ...]
    hooks: tuple[HookJob, ...]
    warnings: tuple[str, ...] = ()

    def of_kind(self, kind: JobKind) -> tuple[Job, ...]:
        return tuple(j for j in self.jobs if self.kinds[j.id] is kind)

    def job(self, job_id: str) -> Job:
        for j in self.jobs:
            if j.id == job_id:
                return j
        raise KeyError(job_id)


# --- policies chosen for data taking (docs/jobspec.md "Restart and reschedule") ---------------

# A crashed data-taking process is never restarted in place: it would come back unconfigured
# while the environment is RUNNING. The allocation fails and the controller decides.
SERVICE_RESTART = RestartPolicy(attempts=0, interval=30 * MINUTE, delay=15 * S, mode="fail")
BATCH_RESTART = RestartPolicy(attempts=0, interval=24 * HOUR, delay=15 * S, mode="fail")
# Pinned groups can only run on their host, hooks and run tasks must not run twice.
NO_RESCHEDULE = ReschedulePolicy(attempts=0, unlimited=False)
# A replicated group replaces lost replicas on other nodes; NMIN tolerates the gap.
REPLICA_RESCHEDULE = ReschedulePolicy(
    attempts=0, delay=10 * S, delay_function="exponential", max_delay=2 * MINUTE, unlimited=True
)
PINNED_DISCONNECT = DisconnectStrategy(lost_after=MINUTE, replace=False, reconcile="keep_original")
REPLICA_DISCONNECT = DisconnectStrategy(lost_after=30 * S, replace=True, reconcile="keep_replacement")
LOGS = LogConfig(max_files=2, max_file_size_mb=10)
SERVICE_KILL_TIMEOUT = 15 * S
BATCH_KILL_TIMEOUT = 5 * S
KILL_SIGNAL = "SIGTERM"
CHECK_INTERVAL = 10 * S
CHECK_TIMEOUT = 2 * S
MIN_HEALTHY_TIME = 5 * S

CONTROLLED = (ControlMode.DIRECT, ControlMode.FAIRMQ)
UNSUPPORTED = (
    ControlMode.KUBECTL_DIRECT,
    ControlMode.KUBECTL_FAIRMQ,
    ControlMode.KUBERNETES_DIRECT,
    ControlMode.KUBERNETES_FAIRMQ,
)
_OCC_TOKEN = re.compile(r"\$\{NOMAD_(PORT|HOST_PORT|IP|ADDR|ALLOC_PORT)_occ\}")
_ENV_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")
_CUDA_EXPORT = 'export CUDA_VISIBLE_DEVICES="$NVIDIA_VISIBLE_DEVICES"; '
PEERS_DESTINATION = "local/nomadctl-peers.env"


_Getter = Callable[[TaskPlacement], str | None]

# --- placement groups ------------------------------------------------------------------------


@dataclass(slots=True)
class _Group:
    """A placement group under construction (one Nomad task group)."""

    kind: GroupKind
    job_kind: JobKind
    base: str  # name before de-duplication
    role_path: str
    host: str | None
    tasks: list[TaskInstance]
    replication: Replication | None = None
    critical: bool = True
    name: str = ""
    stage: str = ""
    task_names: dict[str, str] = field(default_factory=dict)  # task path -> Nomad task name
    ports: dict[tuple[str, str], str] = field(default_factory=dict)  # (path, occ|bind:x|static:n) -> label

    @property
    def count(self) -> int:
        return self.replication.count if self.replication else 1

    @property
    def nmin(self) -> int:
        if self.replication:
            return self.replication.nmin
        return 1 if self.critical else 0


class _UnionFind:
    def __init__(self) -> None:
        self.parent: dict[str, str] = {}

    def find(self, x: str) -> str:
        self.parent.setdefault(x, x)
        while self.parent[x] != x:
            self.parent[x] = self.parent[self.parent[x]]
            x = self.parent[x]
        return x

    def union(self, a: str, b: str) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            # the smaller key wins, so the result does not depend on visiting order
            lo, hi = sorted((ra, rb))
            self.parent[hi] = lo


def _relative(path: str, root: str) -> str:
    return path[len(root) + 1 :] if path.startswith(root + ".") else path


def _common_path(paths: Iterable[str]) -> str:
    split = [p.split(".") for p in paths]
    if not split:
        return ""
    prefix: list[str] = []
    for parts in zip(*split, strict=False):
        if all(p == parts[0] for p in parts):
            prefix.append(parts[0])
        else:
            break
    return ".".join(prefix)


def _job_kind(task: TaskInstance) -> JobKind:
    if task.control_mode in UNSUPPORTED:
        raise PlanError(
            f"control mode {task.control_mode} runs on Kubernetes and has no Nomad equivalent",
            role_path=task.path,
            field="control.mode",
        )
    if task.is_hook:
        return JobKind.HOOK
    if task.control_mode in CONTROLLED:
        return JobKind.SERVICE
    return JobKind.RUN


def _is_ipc(channel: OutboundChannel, peer: TaskInstance | None) -> bool:
    """Whether a connect needs its peer on the same node (IPC address or shared memory)."""
    if channel.transport is Transport.SHMEM:
        return True
    if channel.address is not None and channel.address.startswith("ipc://"):
        return True
    if peer is not None and channel.peer_channel is not None:
        for bind in peer.bind:
            if bind.name == channel.peer_channel:
                return bind.addressing is Addressing.IPC or bind.transport is Transport.SHMEM
    return False


class _Mapper:
    def __init__(self, plan: EnvironmentPlan, options: RenderOptions) -> None:
        self.plan = plan
        self.opt = options
        self.version = options.nomad_version
        self.warnings: list[str] = []
        self.by_path = {t.path: t for t in plan.tasks}
        self.by_parent: dict[str, list[TaskInstance]] = {}
        for t in plan.tasks:
            self.by_parent.setdefault(t.parent_path, []).append(t)
        self.placements: dict[str, TaskPlacement] = {}
        self.kind_of: dict[str, JobKind] = {}
        self.rep_root: dict[str, RoleNode] = {}
        self.replications: dict[str, Replication] = {}

    # -- checks on inputs --

    def check_inputs(self) -> None:
        if not _ENV_ID.match(self.plan.env_id):
            raise PlanError(
                f"environment id {self.plan.env_id!r} must match {_ENV_ID.pattern} to name Nomad jobs",
                field="env_id",
            )
        if not self.opt.datacenters or any(not dc for dc in self.opt.datacenters):
            raise PlanError("datacenters must be non-empty names", field="datacenters")
        if any("*" in dc or "?" in dc for dc in self.opt.datacenters) and not self.version.supports(
            "datacenter_glob"
        ):
            raise PlanError(
                f"Nomad {self.version} has no datacenter globs: name the datacenters", field="datacenters"
            )
        if self.opt.mhz_per_core < 1:
            raise PlanError("must be >= 1", field="mhz_per_core")
        if self.version < SUPPORTED:
            self.warnings.append(f"rendering for Nomad {self.version}: upstream supports only >= {SUPPORTED}")

    def peer(self, task: TaskInstance, channel: OutboundChannel) -> TaskInstance | None:
        if channel.target_kind is TargetKind.LITERAL or channel.peer_task is None:
            return None
        peer = self.by_path.get(channel.peer_task)
        if peer is None:
            # the plan names the binder by its task role path; accept its parent role path too
            matches = self.by_parent.get(channel.peer_task, [])
            peer = matches[0] if len(matches) == 1 else None
        if peer is None:
            raise PlanError(
                f"connect target {channel.target!r} names {channel.peer_task!r}, "
                "which is not a task of the plan",
                role_path=task.path,
                field=f"connect.{channel.name}",
            )
        return peer

    # -- grouping --

    def classify(self) -> None:
        roots = placement.replicated_roots(self.plan)
        for task in self.plan.tasks:
            self.kind_of[task.path] = _job_kind(task)
            self.placements[task.path] = placement.task_placement(task)
            for root in roots:
                if placement.under(task.path, root.path):
                    if task.host is not None:
                        raise PlanError(
                            f"task is pinned to host {task.host!r} ({self.opt.host_attribute}) but lies in "
                            f"the replicated group {root.path} ({placement.REPLICAS}), which Nomad places",
                            role_path=task.path,
                            field=placement.REPLICAS,
                        )
                    self.rep_root[task.path] = root
                    break
        for root in roots:
            members = [t for t in self.plan.tasks if self.rep_root.get(t.path) is root]
            if members:
                self.replications[root.path] = placement.replication(root, members)

    def placement_key(self, task: TaskInstance, floating: _UnionFind) -> tuple[str, ...]:
        kind = self.kind_of[task.path]
        root = self.rep_root.get(task.path)
        if root is not None:
            return (kind, GroupKind.REPLICATED, root.path)
        if task.host is not None:
            return (kind, GroupKind.HOST, task.host)
        return (kind, GroupKind.FLOATING, floating.find(f"{kind}:{task.parent_path}"))

    def groups(self) -> list[_Group]:
        floating = _UnionFind()
        # unpinned tasks joined by IPC/shmem must share a group: merge their floating groups
        for task in self.plan.tasks:
            for ch in task.connect:
                peer = self.peer(task, ch)
                if peer is None or not _is_ipc(ch, peer):
                    continue
                if (
                    self.kind_of[task.path] == self.kind_of[peer.path]
                    and task.host is None
                    and peer.host is None
                    and task.path not in self.rep_root
                    and peer.path not in self.rep_root
                ):
                    jk = self.kind_of[task.path]
                    floating.union(f"{jk}:{task.parent_path}", f"{jk}:{peer.parent_path}")

        # groups and their tasks keep the manifest order of the plan
        keyed: dict[tuple[str, ...], list[TaskInstance]] = {}
        for task in self.plan.tasks:
            if self.kind_of[task.path] is JobKind.HOOK:
                continue
            keyed.setdefault(self.placement_key(task, floating), []).append(task)

        self.check_colocation(floating)

        out: list[_Group] = []
        root_path = self.plan.root.path
        for key, tasks in keyed.items():
            job_kind, kind = JobKind(key[0]), GroupKind(key[1])
            if kind is GroupKind.REPLICATED:
                role_path = key[2]
                base = names.dns_slug(_relative(role_path, root_path)) or "replicated"
                out.append(
                    _Group(
                        kind,
                        job_kind,
                        base,
                        role_path,
                        None,
                        tasks,
                        replication=self.replications[role_path],
                        critical=all(t.critical for t in tasks),
                    )
                )
            elif kind is GroupKind.HOST:
                host = key[2]
                role_path = _common_path(t.parent_path for t in tasks)
                base = names.dns_slug(host) or "host"
                critical = [t for t in tasks if t.critical]
                optional = [t for t in tasks if not t.critical]
                # A failed task kills its siblings in a Nomad allocation ("Sibling Task Failed"),
                # while AliECS only warns about non-critical ones: give those their own group.
                if critical:
                    out.append(_Group(kind, job_kind, base, role_path, host, critical))
                if optional:
                    out.append(
                        _Group(
                            kind, job_kind, base + "-noncritical", role_path, host, optional, critical=False
                        )
                    )
            else:
                role_path = _common_path(t.parent_path for t in tasks)
                base = names.dns_slug(_relative(role_path, root_path)) or "main"
                out.append(
                    _Group(
                        kind, job_kind, base, role_path, None, tasks, critical=all(t.critical for t in tasks)
                    )
                )
        for job_kind in JobKind:
            members = [g for g in out if g.job_kind is job_kind]
            for g, name in zip(members, names.unique([g.base for g in members]), strict=True):
                g.name = name
        return out

    def check_colocation(self, floating: _UnionFind) -> None:
        for task in sorted(self.plan.tasks, key=lambda t: t.path):
            for ch in task.connect:
                peer = self.peer(task, ch)
                if peer is None or not _is_ipc(ch, peer):
                    continue
                if task.host is not None and task.host == peer.host:
                    continue
                if (
                    self.kind_of[task.path] is not JobKind.HOOK
                    and self.kind_of[peer.path] is not JobKind.HOOK
                    and self.placement_key(task, floating) == self.placement_key(peer, floating)
                ):
                    continue
                where = peer.host or (
                    f"replicated group {self.rep_root[peer.path].path}"
                    if peer.path in self.rep_root
                    else f"a {self.kind_of[peer.path]} job"
                )
                here = task.host or (
                    f"replicated group {self.rep_root[task.path].path}"
                    if task.path in self.rep_root
                    else f"a {self.kind_of[task.path]} job"
                )
                raise PlanError(
                    f"IPC/shmem peer {peer.path}:{ch.peer_channel} is placed on {where}, "
                    f"this task on {here}: IPC and shared-memory peers must run on the same node",
                    role_path=task.path,
                    field=f"connect.{ch.name}",
                )

    def name_tasks(self, group: _Group) -> None:
        prefix = _common_path(t.parent_path for t in group.tasks)
        raw = [names.task_name(_relative(t.path, prefix) if prefix else t.path) for t in group.tasks]
        for task, name in zip(group.tasks, names.unique(raw), strict=True):
            group.task_names[task.path] = name

    def assign_stages(self, groups: list[_Group]) -> None:
        for g in groups:
            if self.opt.split is Split.NONE:
                g.stage = ""
            elif self.opt.split is Split.STAGE:
                g.stage = {
                    GroupKind.HOST: "hosts",
                    GroupKind.FLOATING: "floating",
                    GroupKind.REPLICATED: g.name,
                }[g.kind]
            else:
                g.stage = g.name.removesuffix("-noncritical") if g.kind is GroupKind.HOST else g.name

    # -- building --

    def job_id(self, kind: JobKind, stage: str) -> str:
        parts = ["aliecs", self.plan.env_id]
        if kind is JobKind.RUN:
            parts.append("run")
        if stage:
            parts.append(stage)
        return "-".join(parts)

    def build(self) -> JobSet:
        self.check_inputs()
        self.classify()
        groups = self.groups()
        self.assign_stages(groups)
        for g in groups:
            self.name_tasks(g)
            self.assign_ports(g)

        refs: dict[str, TaskRef] = {}
        group_refs: list[GroupRef] = []
        jobs: list[Job] = []
        kinds: dict[str, JobKind] = {}

        # Services (TCP binds) are named env-wide before building any task, so that connects in
        # other groups can render their peers' names.
        self.services = self.service_names(groups)
        self.locations: dict[str, tuple[str, str, _Group]] = {}  # path -> (job id, task name, group)
        for g in groups:
            jid = self.job_id(g.job_kind, g.stage)
            for t in g.tasks:
                self.locations[t.path] = (jid, g.task_names[t.path], g)

        for job_kind in (JobKind.SERVICE, JobKind.RUN):
            stages: dict[str, list[_Group]] = {}
            for g in groups:
                if g.job_kind is job_kind:
                    stages.setdefault(g.stage, []).append(g)
            for stage, members in sorted(stages.items()):
                jid = self.job_id(job_kind, stage)
                tgs = [self.task_group(g, jid, refs) for g in members]
                jobs.append(self.job(jid, job_kind, stage, members, tgs))
                kinds[jid] = job_kind
                group_refs.extend(self.group_ref(jid, g) for g in members)

        hook_jobs: list[HookJob] = []
        for hook_job, hook_groups in self.hook_jobs():
            tgs = [self.task_group(g, hook_job.job_id, refs) for g in hook_groups]
            jobs.append(self.job(hook_job.job_id, JobKind.HOOK, "", hook_groups, tgs, hook=hook_job))
            kinds[hook_job.job_id] = JobKind.HOOK
            group_refs.extend(self.group_ref(hook_job.job_id, g) for g in hook_groups)
            hook_jobs.append(hook_job)

        return JobSet(
            env_id=self.plan.env_id,
            jobs=tuple(jobs),
            kinds=kinds,
            tasks=dict(sorted(refs.items())),
            groups=tuple(group_refs),
            hooks=tuple(hook_jobs),
            warnings=tuple(self.warnings),
        )

    def group_ref(self, job_id: str, g: _Group) -> GroupRef:
        return GroupRef(
            job_id=job_id,
            name=g.name,
            kind=g.kind,
            job_kind=g.job_kind,
            role_path=g.role_path,
            host=g.host,
            count=g.count,
            nmin=g.nmin,
            critical=g.critical,
            task_paths=tuple(t.path for t in g.tasks),
        )

    def service_names(self, groups: list[_Group]) -> dict[tuple[str, str], str]:
        """Consul service names of every TCP bind: (task path, channel) -> name, env-unique."""
        wanted: dict[tuple[str, str], str] = {}
        for g in groups:
            for t in g.tasks:
                for b in t.bind:
                    if b.addressing is Addressing.TCP and b.address is None:
                        wanted[(t.path, b.name)] = names.service_name(
                            self.plan.env_id, g.name, g.task_names[t.path], b.name
                        )
        counts: dict[str, int] = {}
        for name in wanted.values():
            counts[name] = counts.get(name, 0) + 1
        out: dict[tuple[str, str], str] = {}
        for key, name in wanted.items():
            # two binds that slug to the same name are told apart by a hash of their identity
            out[key] = (
                names.fit(f"{name[:54]}-{names.short_hash(':'.join(key), 8)}", names.SERVICE_NAME_MAX)
                if counts[name] > 1
                else name
            )
        return out

    def hook_jobs(self) -> list[tuple[HookJob, list[_Group]]]:
        by_trigger: dict[tuple[str, int], list[TaskInstance]] = {}
        for task in self.plan.tasks:
            if self.kind_of[task.path] is JobKind.HOOK:
                by_trigger.setdefault(parse_trigger(task.trigger), []).append(task)
        out: list[tuple[HookJob, list[_Group]]] = []
        root_path = self.plan.root.path
        for (moment, weight), tasks in sorted(by_trigger.items()):
            trigger = format_trigger(moment, weight)
            weight_slug = "" if weight == 0 else (f"p{weight}" if weight > 0 else f"m{-weight}")
            job_id = "-".join(
                p for p in ("aliecs", self.plan.env_id, "hook", names.dns_slug(moment), weight_slug) if p
            )
            groups: list[_Group] = []
            for task in tasks:
                root = self.rep_root.get(task.path)
                base = names.dns_slug(_relative(task.path, root_path)) or "hook"
                if root is not None:
                    g = _Group(
                        GroupKind.REPLICATED,
                        JobKind.HOOK,
                        base,
                        root.path,
                        None,
                        [task],
                        replication=self.replications[root.path],
                        critical=task.critical,
                    )
                elif task.host is not None:
                    g = _Group(
                        GroupKind.HOST,
                        JobKind.HOOK,
                        base,
                        task.parent_path,
                        task.host,
                        [task],
                        critical=task.critical,
                    )
                else:
                    g = _Group(
                        GroupKind.FLOATING,
                        JobKind.HOOK,
                        base,
                        task.parent_path,
                        None,
                        [task],
                        critical=task.critical,
                    )
                groups.append(g)
            for g, name in zip(groups, names.unique([g.base for g in groups]), strict=True):
                g.name = name
                g.task_names[g.tasks[0].path] = names.task_name(g.tasks[0].name)
                self.assign_ports(g)
            for g in groups:
                for t in g.tasks:
                    self.locations[t.path] = (job_id, g.task_names[t.path], g)
            hook = HookJob(
                trigger=trigger,
                moment=moment,
                weight=weight,
                job_id=job_id,
                task_paths=tuple(t.path for t in tasks),
            )
            out.append((hook, groups))
        return out

    # -- jobs --

    def job(
        self,
        job_id: str,
        kind: JobKind,
        stage: str,
        groups: list[_Group],
        task_groups: list[TaskGroup],
        *,
        hook: HookJob | None = None,
    ) -> Job:
        tasks = [t for g in groups for t in g.tasks]
        namespace = self.one_value(tasks, lambda p: p.namespace, placement.NAMESPACE) or self.opt.namespace
        priority = self.priority(job_id, tasks)
        pools = {g.name: self.group_value(g, lambda p: p.node_pool, placement.NODE_POOL) for g in groups}
        node_pool: str | None = None
        distinct_pools = set(pools.values())
        if distinct_pools != {None}:
            if not self.version.supports("node_pool"):
                raise PlanError(
                    f"Nomad {self.version} has no node pools (needs >= 1.6)",
                    role_path=groups[0].role_path,
                    field=placement.NODE_POOL,
                )
            if len(distinct_pools) == 1:
                node_pool = next(iter(distinct_pools))
            else:
                # Node pool is a job field; one job spanning pools runs in the `all` pool with a
                # ${node.pool} constraint per group (None = the `default` pool).
                node_pool = "all"
                task_groups = [
                    tg.model_copy(
                        update={
                            "constraints": [
                                *(tg.constraints or []),
                                Constraint(
                                    ltarget="${node.pool}", operand="=", rtarget=pools[tg.name] or "default"
                                ),
                            ]
                        }
                    )
                    for tg in task_groups
                ]
        meta = {
            "nomadctl.env": self.plan.env_id,
            "nomadctl.kind": str(kind),
            "nomadctl.manifest_sha": self.plan.manifest_sha,
            "nomadctl.workflow": self.plan.workflow,
        }
        if stage:
            meta["nomadctl.stage"] = stage
        parameterized = None
        if hook is not None:
            meta["nomadctl.trigger"] = hook.trigger
        if kind is not JobKind.SERVICE:
            # Registered once at DEPLOY; every START (run) or hook moment dispatches a fresh child
            # job, so a re-run never collides with the completed allocations of the last one.
            parameterized = ParameterizedJobConfig(payload="forbidden", meta_optional=[RUN_NUMBER_META])
        return Job(
            id=job_id,
            name=job_id,
            namespace=namespace,
            region=self.opt.region,
            type="service" if kind is JobKind.SERVICE else "batch",
            priority=priority,
            datacenters=list(self.opt.datacenters),
            node_pool=node_pool,
            meta=dict(sorted(meta.items())),
            parameterized_job=parameterized,
            task_groups=task_groups,
        )

    def one_value(
        self, tasks: list[TaskInstance], get: _Getter, var: str, *, what: str = "job"
    ) -> str | None:
        seen: dict[str | None, str] = {}
        for t in tasks:
            seen.setdefault(get(self.placements[t.path]), t.path)
        if len(seen) > 1:
            (a, pa), (b, pb) = list(seen.items())[:2]
            raise PlanError(
                f"tasks of one Nomad {what} disagree: {pa} has {a!r}, {pb} has {b!r}",
                role_path=pb,
                field=var,
            )
        return next(iter(seen)) if seen else None

    def group_value(self, g: _Group, get: _Getter, var: str) -> str | None:
        return self.one_value(g.tasks, get, var, what=f"group {g.name}")

    def priority(self, job_id: str, tasks: list[TaskInstance]) -> int | None:
        values = {p for t in tasks if (p := self.placements[t.path].priority) is not None}
        if not values:
            return None
        top = max(values)
        if len(values) > 1:
            self.warnings.append(f"{job_id}: tasks ask for priorities {sorted(values)}; the job gets {top}")
        if top > self.opt.max_priority:
            path = next(t.path for t in tasks if self.placements[t.path].priority == top)
            raise PlanError(
                f"priority {top} is above the cluster's job_max_priority ({self.opt.max_priority})",
                role_path=path,
                field=placement.PRIORITY,
            )
        return top

    # -- groups --

    def constraint(self, attribute: str, value: str) -> Constraint:
        if attribute == self.opt.host_attribute:
            target = self.opt.host_target
            if "," in value:
                return Constraint(ltarget=target, operand="set_contains_any", rtarget=value)
            return Constraint(ltarget=target, operand="=", rtarget=value)
        target = self.opt.attribute_targets.get(attribute, f"${{meta.{attribute}}}")
        # AliECS matches when any element of the agent's comma-separated attribute equals the value.
        return Constraint(ltarget=target, operand="set_contains", rtarget=value)

    def group_constraints(self, g: _Group) -> list[Constraint]:
        out: list[Constraint] = []
        if g.host is not None:
            out.append(self.constraint(self.opt.host_attribute, g.host))
        for t in g.tasks:
            for c in t.constraints:
                if c.attribute == self.opt.host_attribute:
                    continue  # t.host says it (and equals g.host)
                con = self.constraint(c.attribute, c.value)
                if con not in out:
                    out.append(con)
        node_class = self.group_value(g, lambda p: p.node_class, placement.NODE_CLASS)
        if node_class is not None:
            out.append(Constraint(ltarget="${node.class}", operand="=", rtarget=node_class))
        amd = sum(
            self.placements[t.path].gpus for t in g.tasks if self.placements[t.path].gpu_vendor == "amd"
        )
        if amd:
            # No AMD device plugin exists (reference §2.2): place by client meta instead.
            out.append(Constraint(ltarget="${meta.gpu_vendor}", operand="=", rtarget="amd"))
            out.append(Constraint(ltarget="${meta.gpu_count}", operand=">=", rtarget=str(amd)))
        if g.kind is GroupKind.REPLICATED:
            out.append(Constraint(operand="distinct_hosts", rtarget="true"))
        return out

    @staticmethod
    def assign_ports(g: _Group) -> None:
        """Port labels of the whole group (labels are group-wide in Nomad), in task order."""
        used: set[str] = set()

        def label(*parts: str) -> str:
            base = names.port_label(*parts) or "port"
            candidate, n = base, 1
            while candidate in used:
                n += 1
                candidate = f"{base}_{n}"
            used.add(candidate)
            return candidate

        for t in g.tasks:
            tname = g.task_names[t.path]
            if t.control_mode in CONTROLLED:
                g.ports[(t.path, "occ")] = label("occ", tname)
            for b in t.bind:
                if b.addressing is Addressing.TCP and b.address is None:
                    g.ports[(t.path, "bind:" + b.name)] = label("ch", tname, b.name)
            for number in t.wants.ports:
                g.ports[(t.path, f"static:{number}")] = label("p", tname, str(number))

    def task_group(self, g: _Group, job_id: str, refs: dict[str, TaskRef]) -> TaskGroup:
        dynamic: list[Port] = []
        reserved: list[Port] = []
        tasks: list[Task] = []
        stage_service_done = False
        for t in g.tasks:
            tname = g.task_names[t.path]
            occ = g.ports.get((t.path, "occ"))
            if occ is not None:
                dynamic.append(Port(label=occ))
            bind_ports: dict[str, str] = {}
            for b in t.bind:
                bind_label = g.ports.get((t.path, "bind:" + b.name))
                if bind_label is not None:
                    bind_ports[b.name] = bind_label
                    dynamic.append(Port(label=bind_label))
            for number in t.wants.ports:
                reserved.append(Port(label=g.ports[(t.path, f"static:{number}")], value=number))
            stage_service = None
            if g.job_kind is JobKind.SERVICE and occ is not None and not stage_service_done:
                # One service per group (not per task) shows the stage in the Consul UI; its TCP
                # check on the control port says the process is up.
                stage_service_done = True
                stage_service = Service(
                    name=names.service_name(self.plan.env_id, g.name),
                    port_label=occ,
                    tags=self.tags("stage"),
                    meta=self.service_meta(role=g.role_path, kind=str(g.kind)),
                    checks=[self.tcp_check("occ-tcp", occ)],
                )
            tasks.append(
                self.task(t, g=g, tname=tname, occ=occ, bind_ports=bind_ports, stage_service=stage_service)
            )
            refs[t.path] = TaskRef(
                path=t.path,
                job_id=job_id,
                group=g.name,
                task=tname,
                kind=g.job_kind,
                critical=t.critical,
                occ_port=occ,
                bind_ports=bind_ports,
            )

        networks = None
        if dynamic or reserved:
            networks = [NetworkResource(reserved_ports=reserved or None, dynamic_ports=dynamic or None)]
        meta = {
            "nomadctl.critical": str(g.critical).lower(),
            "nomadctl.group_kind": str(g.kind),
            "nomadctl.nmin": str(g.nmin),
            "nomadctl.role": g.role_path,
        }
        if g.host is not None:
            meta["nomadctl.host"] = g.host
        if g.replication is not None:
            meta["nomadctl.replicas"] = str(g.replication.count)
            meta["nomadctl.max_fail"] = str(g.replication.max_fail)
        batch = g.job_kind is not JobKind.SERVICE
        max_run = None
        if g.job_kind is JobKind.HOOK:
            timeout_ns = _timeout_ns(g.tasks[0])
            meta["nomadctl.timeout"] = g.tasks[0].timeout
            if timeout_ns > 0 and self.version.supports("max_run_duration"):
                max_run = timeout_ns
        disconnect = None
        if self.version.supports("disconnect_block") and not batch:
            disconnect = REPLICA_DISCONNECT if g.kind is GroupKind.REPLICATED else PINNED_DISCONNECT
        update = None
        if not batch:
            deadline = self.opt.deploy_timeout_s * S
            update = UpdateStrategy(
                max_parallel=max(1, g.count),
                # task_states, not checks: FairMQ devices bind their TCP ports only at CONFIGURE,
                # so checks cannot pass at DEPLOY.
                health_check="task_states",
                min_healthy_time=min(MIN_HEALTHY_TIME, deadline // 2),
                healthy_deadline=deadline,
                progress_deadline=deadline + MINUTE,
                auto_revert=False,
            )
        return TaskGroup(
            name=g.name,
            count=g.count,
            max_run_duration=max_run,
            meta=dict(sorted(meta.items())),
            constraints=self.group_constraints(g) or None,
            networks=networks,
            restart_policy=BATCH_RESTART if batch else SERVICE_RESTART,
            reschedule_policy=REPLICA_RESCHEDULE
            if (g.kind is GroupKind.REPLICATED and not batch)
            else NO_RESCHEDULE,
            disconnect=disconnect,
            # Nomad's 300 MB default per group exhausts dev-agent disks (Appendix C); logs are
            # capped at 2 x 10 MB per task.
            ephemeral_disk=EphemeralDisk(size_mb=50 + 20 * len(g.tasks)),
            update=update,
            tasks=tasks,
        )

    # -- tasks --

    def tags(self, what: str) -> list[str]:
        return ["aliecs", f"env-{self.plan.env_id}", what]

    def service_meta(self, **items: str) -> dict[str, str]:
        return {"env": self.plan.env_id, **items}

    @staticmethod
    def tcp_check(name: str, port: str) -> ServiceCheck:
        return ServiceCheck(
            name=name, type="tcp", port_label=port, interval=CHECK_INTERVAL, timeout=CHECK_TIMEOUT
        )

    def task(
        self,
        t: TaskInstance,
        *,
        g: _Group,
        tname: str,
        occ: str | None,
        bind_ports: dict[str, str],
        stage_service: Service | None,
    ) -> Task:
        p = self.placements[t.path]

        def subst(text: str) -> str:
            if occ is None:
                return text
            return _OCC_TOKEN.sub(lambda m: f"${{NOMAD_{m.group(1)}_{occ}}}", text)

        argv = [subst(a) for a in t.argv]
        if p.gpus and p.gpu_vendor == "nvidia":
            # raw_exec has no device isolation and the NVIDIA plugin only sets
            # NVIDIA_VISIBLE_DEVICES, which CUDA ignores: export what CUDA reads.
            if t.shell:
                argv = [argv[0], argv[1], _CUDA_EXPORT + argv[2]]
            else:
                argv = ["/bin/sh", "-c", _CUDA_EXPORT + 'exec "$0" "$@"', *argv]

        env: dict[str, str] = {}
        refs: list[secrets.SecretRef] = []
        for key, value in t.env_map.items():
            if secrets.is_reference(value):
                refs.append(secrets.parse(key, value, role_path=t.path))
            else:
                env[key] = subst(value)
        # The AliECS executor adds these unless the task sets them (reference §2).
        env.setdefault("O2_ROLE", t.host if t.host is not None else "${node.unique.name}")
        env.setdefault("O2_SYSTEM", "FLP")
        if occ is not None:
            # the plan's agreed name for the control port, pointing at this task's own port
            env.setdefault("NOMAD_PORT_occ", f"${{NOMAD_PORT_{occ}}}")

        meta = {
            "nomadctl.class": t.task_class,
            "nomadctl.control": str(t.control_mode),
            "nomadctl.critical": str(t.critical).lower(),
            "nomadctl.path": t.path,
            "nomadctl.task_id": t.task_id,
        }
        if occ is not None:
            meta["nomadctl.occ_port"] = occ
        for chan, port in bind_ports.items():
            meta[f"nomadctl.bind.{chan}"] = port

        services: list[Service] = [stage_service] if stage_service is not None else []
        for b in t.bind:
            if b.name not in bind_ports:
                continue
            svc_meta = self.service_meta(role=t.path, channel=b.name, transport=str(b.transport))
            if b.global_alias:
                svc_meta["alias"] = b.global_alias
            services.append(
                Service(
                    # hook binds are named here (cross-job duplicates are caught by validation)
                    name=self.services.setdefault(
                        (t.path, b.name), names.service_name(self.plan.env_id, g.name, tname, b.name)
                    ),
                    port_label=bind_ports[b.name],
                    tags=self.tags("channel"),
                    meta=svc_meta,
                    checks=[self.tcp_check(f"{b.name}-tcp", bind_ports[b.name])],
                )
            )

        plain = t.control_mode not in CONTROLLED
        peer_lines: list[str] = []
        for ch in t.connect:
            peer = self.peer(t, ch)
            if peer is None or ch.address is not None or _is_ipc(ch, peer):
                continue  # literal or IPC: the plan already knows the address
            peer_group = self.locations[peer.path][2]
            var = f"NOMADCTL_CONNECT_{names.env_key(ch.name)}"
            peer_key = (peer.path, ch.peer_channel or "")
            local = g.ports.get((peer.path, "bind:" + (ch.peer_channel or ""))) if peer_group is g else None
            if local is not None:
                meta[f"nomadctl.connect.{ch.name}"] = f"port:{local}"
                env[var] = f"tcp://${{NOMAD_IP_{local}}}:${{NOMAD_PORT_{local}}}"
            elif peer_key in self.services:
                svc = self.services[peer_key]
                meta[f"nomadctl.connect.{ch.name}"] = f"service:{svc}"
                peer_lines.append(
                    f'{var}={{{{ range $i, $s := service "{svc}" }}}}{{{{ if $i }}}},{{{{ end }}}}'
                    f"tcp://{{{{ $s.Address }}}}:{{{{ $s.Port }}}}{{{{ end }}}}\n"
                )
            else:
                raise PlanError(
                    f"TCP peer {peer.path}:{ch.peer_channel} binds no dynamic port",
                    role_path=t.path,
                    field=f"connect.{ch.name}",
                )

        templates: list[Template] = []
        missing_key = True if self.version.supports("template_error_on_missing_key") else None
        if refs:
            templates.append(
                Template(
                    embedded_tmpl=secrets.template_data(refs),
                    dest_path=secrets.DESTINATION,
                    change_mode="noop",
                    perms="0400",
                    envvars=True,
                    err_missing_key=missing_key,
                )
            )
        if peer_lines:
            # Plain tasks (run-scoped, hooks) start after DEPLOY and read their peers from env;
            # controlled tasks get their channels from the controller at CONFIGURE, the file is
            # informational. `noop`: a peer moving never restarts a data-taking process.
            templates.append(
                Template(
                    embedded_tmpl="".join(peer_lines),
                    dest_path=PEERS_DESTINATION,
                    change_mode="noop",
                    envvars=plain,
                )
            )
        vault = None
        if refs:
            env_class = p.namespace or self.opt.namespace or "default"
            if self.version.supports("vault_workload_identity"):
                role = p.vault_role or self.opt.vault_role or f"aliecs-{env_class}"
                vault = Vault(role=role, change_mode="noop")
            else:
                policies = p.vault_policies or self.opt.vault_policies or (f"aliecs-{env_class}-read",)
                vault = Vault(policies=list(policies), change_mode="noop")
        consul = Consul() if peer_lines and self.version.supports("task_consul_block") else None

        batch = g.job_kind is not JobKind.SERVICE
        return Task(
            name=tname,
            driver="raw_exec",
            user=t.user or None,
            kill_timeout=BATCH_KILL_TIMEOUT if batch else SERVICE_KILL_TIMEOUT,
            kill_signal=KILL_SIGNAL,
            config=RawExecConfig(command=argv[0], args=argv[1:] or None),
            env=env,
            meta=dict(sorted(meta.items())),
            resources=self.resources(t, p),
            log_config=LOGS,
            services=services or None,
            consul=consul,
            vault=vault,
            templates=templates or None,
        )

    def resources(self, t: TaskInstance, p: TaskPlacement) -> Resources:
        cpu = max(1, round(t.wants.cpu * self.opt.mhz_per_core))
        memory = max(10, math.ceil(t.wants.memory)) if t.wants.memory > 0 else self.opt.default_memory_mb
        memory_max: int | None = None
        if t.limits.memory is not None:
            memory_max = math.ceil(t.limits.memory)
            if memory_max < memory:
                raise PlanError(
                    f"limits.memory ({t.limits.memory:g} MB) is below wants.memory ({memory} MB)",
                    role_path=t.path,
                    field="limits.memory",
                )
        elif self.version.supports("memory_max_unlimited"):
            # AliECS: no limits = unlimited. raw_exec enforces `memory` as a hard cgroup limit
            # since 1.7 unless memory_max says otherwise; -1 = no hard limit.
            memory_max = -1
        devices = None
        if p.gpus and p.gpu_vendor == "nvidia":
            devices = [RequestedDevice(name="nvidia/gpu", count=p.gpus)]
        return Resources(cpu=cpu, memory_mb=memory, memory_max_mb=memory_max, devices=devices)


def _timeout_ns(task: TaskInstance) -> int:
    try:
        return max(0, round(task.timeout_seconds * S))
    except ValueError:
        raise PlanError(f"bad duration {task.timeout!r}", role_path=task.path, field="timeout") from None


def parse_trigger(trigger: str) -> tuple[str, int]:
    """AliECS ``<moment>[±N]``, parsed exactly as the lifecycle schedule parses it (so a hook job
    is dispatched at the very point its trigger names)."""
    point = triggers.point(trigger)
    return point.moment, point.weight


def format_trigger(moment: str, weight: int) -> str:
    return moment if weight == 0 else f"{moment}{weight:+d}"


def build_jobs(plan: EnvironmentPlan, options: RenderOptions | None = None) -> JobSet:
    """Map ``plan`` to Nomad jobs; ``PlanError`` (naming the role path) when it cannot be done."""
    return _Mapper(plan, options or RenderOptions()).build()
