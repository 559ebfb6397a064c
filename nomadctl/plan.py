"""The environment plan: what an AliECS workflow means, with every template evaluated.

``nomadctl.manifest`` produces an ``EnvironmentPlan``; ``nomadctl.jobspec`` turns it into Nomad
jobs and ``nomadctl.lifecycle`` schedules its hooks and calls. Everything here is frozen, typed
and free of I/O. Mappings held by these objects are never mutated after construction.

Conventions that the producers guarantee:

* role paths are dot-joined evaluated role names, as AliECS ``GetPath()`` gives them; iterators
  add no segment; include roles add their own name (reference §1.4);
* ``TaskInstance.command`` is the string AliECS hands to ``/bin/sh -c`` for ``shell: true``
  (value and arguments joined by single spaces, no re-quoting), and ``argv`` the exact argv;
* ``vars`` are the consolidated variable stack each task or call saw (strings only);
* ``host`` is the value of the host-pinning constraint (``machine_id`` by default), ``None`` when
  the task is not pinned (e.g. a replicated EPN group placed by Nomad).
"""

from __future__ import annotations

import enum
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from nomadctl import durations


class RoleKind(enum.StrEnum):
    AGGREGATOR = "aggregator"
    TASK = "task"
    CALL = "call"
    INCLUDE = "include"


class ControlMode(enum.StrEnum):
    """AliECS ``control.mode``; ``hook`` is what a ``basic`` task with a role trigger becomes."""

    DIRECT = "direct"
    FAIRMQ = "fairmq"
    BASIC = "basic"
    HOOK = "hook"
    KUBECTL_DIRECT = "kubectl_direct"
    KUBECTL_FAIRMQ = "kubectl_fairmq"
    KUBERNETES_DIRECT = "kubernetes_direct"
    KUBERNETES_FAIRMQ = "kubernetes_fairmq"


class ChannelType(enum.StrEnum):
    PUSH = "push"
    PULL = "pull"
    PUB = "pub"
    SUB = "sub"


class Transport(enum.StrEnum):
    DEFAULT = "default"
    ZEROMQ = "zeromq"
    NANOMSG = "nanomsg"
    SHMEM = "shmem"


class Addressing(enum.StrEnum):
    TCP = "tcp"
    IPC = "ipc"


class TargetKind(enum.StrEnum):
    """How an outbound channel names its peer: ``path:chan``, ``::alias`` or a literal address."""

    PATH = "path"
    GLOBAL = "global"
    LITERAL = "literal"


@dataclass(frozen=True, slots=True)
class SourceRef:
    """Where something was declared: a repo-relative file and 1-based line."""

    file: str
    line: int | None = None

    def __str__(self) -> str:
        return f"{self.file}:{self.line}" if self.line is not None else self.file


@dataclass(frozen=True, slots=True)
class Constraint:
    """An AliECS constraint: implicit Equals on a machine attribute (comma-separated = any of)."""

    attribute: str
    value: str


@dataclass(frozen=True, slots=True)
class Resources:
    """``wants``: cpu in cores (fractions allowed), memory in MB, optional fixed ports."""

    cpu: float = 0.0
    memory: float = 0.0
    ports: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class Limits:
    """``limits``: hard caps; ``None`` means unlimited."""

    cpu: float | None = None
    memory: float | None = None


@dataclass(frozen=True, slots=True)
class InboundChannel:
    """A ``bind`` channel of one task.

    ``address`` is known at plan time for IPC binds (a deterministic abstract socket
    ``ipc://@o2ipc-...``) and for literal ``target`` binds; it is ``None`` for TCP binds, which get
    a dynamic port when Nomad places the task.
    """

    name: str
    type: ChannelType
    transport: Transport = Transport.DEFAULT
    addressing: Addressing = Addressing.TCP
    snd_buf_size: int = 1000
    rcv_buf_size: int = 1000
    rate_logging: str = "0"
    target: str = ""
    global_alias: str = ""
    address: str | None = None


@dataclass(frozen=True, slots=True)
class OutboundChannel:
    """A ``connect`` channel of one task, with its target resolved against the environment's binds.

    For ``PATH``/``GLOBAL`` targets ``peer_task``/``peer_channel`` name the binding task and its
    channel. ``address`` is set when known at plan time (the peer's IPC address, or a literal
    target); ``None`` means the peer binds a dynamic TCP port resolved after placement.
    """

    name: str
    type: ChannelType
    target: str
    target_kind: TargetKind
    transport: Transport = Transport.DEFAULT
    snd_buf_size: int = 1000
    rcv_buf_size: int = 1000
    rate_logging: str = "0"
    peer_task: str | None = None
    peer_channel: str | None = None
    address: str | None = None


@dataclass(frozen=True, slots=True)
class TaskInstance:
    """One task role with its task template applied: one process AliECS would run."""

    path: str
    name: str
    parent_path: str
    task_class: str
    task_id: str
    control_mode: ControlMode
    shell: bool
    value: str
    arguments: tuple[str, ...]
    env: tuple[str, ...]
    user: str
    host: str | None
    constraints: tuple[Constraint, ...] = ()
    wants: Resources = field(default_factory=Resources)
    limits: Limits = field(default_factory=Limits)
    bind: tuple[InboundChannel, ...] = ()
    connect: tuple[OutboundChannel, ...] = ()
    properties: Mapping[str, str] = field(default_factory=dict)
    critical: bool = True
    trigger: str = ""
    await_: str = ""
    timeout: str = "0s"
    stdout: str = "none"
    stderr: str = "none"
    vars: Mapping[str, str] = field(default_factory=dict)
    source: SourceRef | None = None
    task_source: SourceRef | None = None

    @property
    def is_hook(self) -> bool:
        return bool(self.trigger)

    @property
    def command(self) -> str:
        """The command line: for ``shell: true`` exactly the ``/bin/sh -c`` snippet."""
        return " ".join((self.value, *self.arguments))

    @property
    def argv(self) -> tuple[str, ...]:
        """The exact argv of the process."""
        if self.shell:
            return ("/bin/sh", "-c", self.command)
        return (self.value, *self.arguments)

    @property
    def env_map(self) -> dict[str, str]:
        """``env`` items split at their first ``=`` (later items win, as in an exec env)."""
        out: dict[str, str] = {}
        for item in self.env:
            key, _, value = item.partition("=")
            out[key] = value
        return out

    @property
    def timeout_seconds(self) -> float:
        return durations.parse_seconds(self.timeout)


@dataclass(frozen=True, slots=True)
class CallInstance:
    """One ``call`` role: an integration-plugin function run at a lifecycle moment."""

    path: str
    name: str
    parent_path: str
    func: str
    return_var: str = ""
    trigger: str = ""
    await_: str = ""
    timeout: str = "0s"
    critical: bool = True
    vars: Mapping[str, str] = field(default_factory=dict)
    source: SourceRef | None = None

    @property
    def timeout_seconds(self) -> float:
        return durations.parse_seconds(self.timeout)


@dataclass(frozen=True, slots=True)
class RoleNode:
    """A role of the evaluated, pruned tree. ``defaults``/``vars`` are the role's own (evaluated)."""

    path: str
    name: str
    kind: RoleKind
    critical: bool = True
    defaults: Mapping[str, str] = field(default_factory=dict)
    vars: Mapping[str, str] = field(default_factory=dict)
    constraints: tuple[Constraint, ...] = ()
    children: tuple[RoleNode, ...] = ()
    include: str | None = None
    task_class: str | None = None
    source: SourceRef | None = None

    def walk(self) -> Iterator[RoleNode]:
        """This role and all descendants, depth first, in manifest order."""
        yield self
        for child in self.children:
            yield from child.walk()


@dataclass(frozen=True, slots=True)
class EnvironmentPlan:
    """Everything nomadctl needs to run one environment, derived from manifests and vars only."""

    env_id: str
    workflow: str
    repo: str
    root: RoleNode
    tasks: tuple[TaskInstance, ...]
    calls: tuple[CallInstance, ...]
    vars: Mapping[str, str]
    user_vars: Mapping[str, str]
    manifest_sha: str
    public: bool = False
    description: str = ""
    warnings: tuple[str, ...] = ()

    def role(self, path: str) -> RoleNode:
        """The role at ``path``; ``KeyError`` if there is none."""
        for node in self.root.walk():
            if node.path == path:
                return node
        raise KeyError(path)

    def ancestors(self, path: str) -> list[RoleNode]:
        """The roles from the root down to (and including) ``path``."""
        chain: list[RoleNode] = []

        def visit(node: RoleNode) -> bool:
            chain.append(node)
            if node.path == path:
                return True
            for child in node.children:
                if visit(child):
                    return True
            chain.pop()
            return False

        if not visit(self.root):
            raise KeyError(path)
        return chain

    @property
    def hooks(self) -> tuple[TaskInstance, ...]:
        return tuple(t for t in self.tasks if t.is_hook)

    def to_dict(self) -> dict[str, Any]:
        """The plan as JSON-ready data (``nomadctl manifest show --json``)."""
        return {
            "env_id": self.env_id,
            "workflow": self.workflow,
            "repo": self.repo,
            "manifest_sha": self.manifest_sha,
            "public": self.public,
            "description": self.description,
            "user_vars": dict(self.user_vars),
            "vars": dict(self.vars),
            "warnings": list(self.warnings),
            "roles": _role_dict(self.root),
            "tasks": [_task_dict(t) for t in self.tasks],
            "calls": [_call_dict(c) for c in self.calls],
        }


def _role_dict(node: RoleNode) -> dict[str, Any]:
    out: dict[str, Any] = {
        "path": node.path,
        "name": node.name,
        "kind": str(node.kind),
        "critical": node.critical,
        "defaults": dict(node.defaults),
        "vars": dict(node.vars),
        "constraints": [{"attribute": c.attribute, "value": c.value} for c in node.constraints],
    }
    if node.include is not None:
        out["include"] = node.include
    if node.task_class is not None:
        out["task_class"] = node.task_class
    if node.source is not None:
        out["source"] = str(node.source)
    out["children"] = [_role_dict(c) for c in node.children]
    return out


def _channel_dict(ch: InboundChannel | OutboundChannel) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in ch.__slots__:
        value = getattr(ch, name)
        out[name] = str(value) if isinstance(value, enum.Enum) else value
    return out


def _task_dict(t: TaskInstance) -> dict[str, Any]:
    return {
        "path": t.path,
        "name": t.name,
        "parent_path": t.parent_path,
        "task_class": t.task_class,
        "task_id": t.task_id,
        "host": t.host,
        "control_mode": str(t.control_mode),
        "shell": t.shell,
        "command": t.command,
        "argv": list(t.argv),
        "env": t.env_map,
        "user": t.user,
        "constraints": [{"attribute": c.attribute, "value": c.value} for c in t.constraints],
        "wants": {"cpu": t.wants.cpu, "memory": t.wants.memory, "ports": list(t.wants.ports)},
        "limits": {"cpu": t.limits.cpu, "memory": t.limits.memory},
        "bind": [_channel_dict(c) for c in t.bind],
        "connect": [_channel_dict(c) for c in t.connect],
        "properties": dict(t.properties),
        "critical": t.critical,
        "trigger": t.trigger,
        "await": t.await_,
        "timeout": t.timeout,
        "stdout": t.stdout,
        "stderr": t.stderr,
        "source": str(t.source) if t.source else None,
        "task_source": str(t.task_source) if t.task_source else None,
        "vars": dict(t.vars),
    }


def _call_dict(c: CallInstance) -> dict[str, Any]:
    return {
        "path": c.path,
        "name": c.name,
        "parent_path": c.parent_path,
        "func": c.func,
        "return": c.return_var,
        "trigger": c.trigger,
        "await": c.await_,
        "timeout": c.timeout,
        "critical": c.critical,
        "source": str(c.source) if c.source else None,
        "vars": dict(c.vars),
    }
