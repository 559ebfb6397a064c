"""From an evaluated role tree to the frozen ``EnvironmentPlan``.

This is what AliECS does after loading a workflow: set the global ``detectors`` default, build
every task's command from its task template (``BuildTaskCommand``, reference §2) with the flipped
precedence *role tree & special vars > TT defaults > TT vars*, add what the core and the scheduler
append for controlled tasks, template the property map (``BuildPropertyMap``), and resolve every
outbound channel against the environment's bind map (``task/manager.go`` ``configureTasks``).

Placement-time values are Nomad interpolations, resolved when Nomad places the task:

* ``task_hostname`` and ``O2_ROLE`` of a task that no constraint pins to a host:
  ``${node.unique.name}`` (Nomad interpolates it in raw_exec ``args`` and ``env``);
* the OCC control port of ``direct``/``fairmq`` tasks: ``${NOMAD_PORT_occ}`` (the jobspec allocates
  a dynamic port labelled ``occ`` for them).
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from nomadctl.errors import ManifestError
from nomadctl.manifest.engine import (
    ERole,
    Evaluator,
    EvChannel,
    Stage,
    Stats,
    merge_channels,
    merge_constraints,
)
from nomadctl.manifest.expr import (
    EvalContext,
    FunctionLibrary,
    UidGenerator,
    compile_expression,
    compile_template,
)
from nomadctl.manifest.expr import KVStore as KVProvider
from nomadctl.manifest.jit import PregeneratedDpl
from nomadctl.manifest.repo import ConfigRepo
from nomadctl.manifest.schema import Kind, Text
from nomadctl.manifest.stack import Layer, StackView
from nomadctl.manifest.taskclass import TaskClass, parse_task_class
from nomadctl.plan import (
    Addressing,
    CallInstance,
    Constraint,
    ControlMode,
    EnvironmentPlan,
    InboundChannel,
    Limits,
    OutboundChannel,
    Resources,
    RoleKind,
    RoleNode,
    SourceRef,
    TargetKind,
    TaskInstance,
    Transport,
)

UNPINNED_HOST = "${node.unique.name}"
CONTROL_PORT = "${NOMAD_PORT_occ}"
FMQ_PLUGIN_SEARCH_PATH = "$CONTROL_OCCPLUGIN_ROOT/lib/"
FMQ_PLUGIN = "OCClite"
DEFAULTS_PREFIX = "o2/runtime/aliecs/defaults/"
VARS_PREFIX = "o2/runtime/aliecs/vars/"
FRAMEWORK_ID_KEY = "o2/runtime/aliecs/mesos_fid"

_FAIRMQ_MODES = frozenset({ControlMode.FAIRMQ, ControlMode.KUBECTL_FAIRMQ, ControlMode.KUBERNETES_FAIRMQ})
_CONTROL_PORT_ARG_MODES = frozenset({ControlMode.FAIRMQ, ControlMode.KUBECTL_FAIRMQ})
_UNCONTROLLED = frozenset({ControlMode.BASIC, ControlMode.HOOK})
_KUBE_MODES = frozenset(
    {
        ControlMode.KUBECTL_DIRECT,
        ControlMode.KUBECTL_FAIRMQ,
        ControlMode.KUBERNETES_DIRECT,
        ControlMode.KUBERNETES_FAIRMQ,
    }
)
_LOG_VALUES = ("stdout", "all", "none")
_EVENTS = (
    "DEPLOY",
    "CONFIGURE",
    "RESET",
    "START_ACTIVITY",
    "STOP_ACTIVITY",
    "EXIT",
    "GO_ERROR",
    "RECOVER",
    "CREATE",
    "DESTROY",
)
_STATES = ("STANDBY", "DEPLOYED", "CONFIGURED", "RUNNING", "ERROR", "DONE")
MOMENTS = frozenset(
    [f"before_{e}" for e in _EVENTS]
    + [f"after_{e}" for e in _EVENTS]
    + [f"leave_{s}" for s in _STATES]
    + [f"enter_{s}" for s in _STATES]
    + ["DESTROY"]
)


class MemoryKV:
    """An empty (or given) in-memory key-value store: the default when no provider is passed."""

    def __init__(self, data: Mapping[str, str] | None = None) -> None:
        self._data = dict(data or {})

    def get(self, key: str) -> str | None:
        return self._data.get(key)

    def keys(self, prefix: str) -> list[str]:
        return sorted(k for k in self._data if k.startswith(prefix))

    def put(self, key: str, value: str) -> None:
        self._data[key] = value


def trigger_moment(trigger: str) -> str:
    """The moment of ``<moment>[±N]`` (``ParseTriggerExpression`` splits at the last sign)."""
    for i in range(len(trigger) - 1, -1, -1):
        if trigger[i] in "+-":
            return trigger[:i]
    return trigger


def ipc_address(env_id: str, task_path: str, channel: str) -> str:
    """Deterministic abstract-socket address for an IPC bind (AliECS uses a random xid)."""
    digest = hashlib.sha1(f"{env_id}\0{task_path}\0{channel}".encode(), usedforsecurity=False).digest()
    return "ipc://@o2ipc-" + base64.b32hexencode(digest[:12]).decode().lower()[:20]


@dataclass(slots=True)
class _Bound:
    task: TaskInstanceDraft
    channel: InboundChannel


@dataclass(slots=True)
class TaskInstanceDraft:
    """A task whose channels are not resolved yet."""

    role: ERole
    task: TaskInstance  # complete except for ``connect``
    connect: list[tuple[EvChannel, int]]
    placement: tuple[str, str | None]
    tt_file: str
    prop_stage: Stage  # renders the connects' rateLogging once all binds are known


class PlanBuilder:
    """Builds one ``EnvironmentPlan``; see ``build_plan``."""

    def __init__(
        self,
        repo: ConfigRepo,
        *,
        user_vars: Mapping[str, str],
        kv: KVProvider,
        env_id: str | None,
        seed: int | None,
        host_attribute: str,
        plugins: Mapping[str, Mapping[str, Callable[..., object]]] | None,
    ) -> None:
        self.repo = repo
        self.kv = kv
        self.uid = UidGenerator(seed)
        self.env_id = env_id if env_id is not None else self.uid.new()
        self.host_attribute = host_attribute
        self.warnings: list[str] = []
        self.stats = Stats()
        self.wft_library = FunctionLibrary(kv, self.uid, dpl=PregeneratedDpl(repo), plugins=plugins)
        self.tt_library = FunctionLibrary(kv, self.uid, plugins=plugins)
        self.user = self._user_layer(user_vars)
        self.global_defaults, self.global_vars = self._global_layers()
        self._classes: dict[str, TaskClass] = {}

    # -- global layers ----------------------------------------------------------------------

    def _user_layer(self, user_vars: Mapping[str, str]) -> dict[str, str]:
        out: dict[str, str] = {}
        for key, value in user_vars.items():
            if ":" in key:
                # AliECS splits these off for workflow.Load, which never uses them.
                self.warnings.append(f"user var '{key}' targets a role and is dropped, as AliECS does")
                continue
            out[key] = value
        out["environment_id"] = self.env_id
        return out

    def _kv_map(self, prefix: str) -> dict[str, str]:
        out: dict[str, str] = {}
        for key in self.kv.keys(prefix):
            name = key[len(prefix) :]
            value = self.kv.get(key)
            if name and value is not None:
                out[name] = value
        return out

    def _global_layers(self) -> tuple[dict[str, str], dict[str, str]]:
        """Consul ``o2/runtime/aliecs/{defaults,vars}`` (fetched once), plus what Apricot injects."""
        defaults = self._kv_map(DEFAULTS_PREFIX)
        base_uri = self.user.get("consul_base_uri", defaults.get("consul_base_uri"))
        if base_uri:
            defaults["consul_base_uri"] = base_uri
            parts = urlsplit(base_uri)
            if parts.hostname:
                defaults["consul_hostname"] = parts.hostname
                defaults["consul_port"] = str(parts.port) if parts.port else ""
                defaults["consul_endpoint"] = parts.netloc
        framework_id = self.kv.get(FRAMEWORK_ID_KEY)
        if framework_id is not None:
            defaults["framework_id"] = framework_id
        variables = self._kv_map(VARS_PREFIX)
        variables["__fmq_cleanup_count"] = "0"
        return defaults, variables

    # -- the whole plan ---------------------------------------------------------------------

    def build(self, workflow: str) -> EnvironmentPlan:
        evaluator = Evaluator(
            self.repo,
            self.wft_library,
            self.tt_library,
            user_vars=self.user,
            stats=self.stats,
            warnings=self.warnings,
        )
        root = evaluator.evaluate(workflow, self.global_defaults, self.global_vars)
        root_raw = evaluator.workflow(workflow)
        self._set_detectors(root)

        drafts: list[TaskInstanceDraft] = []
        calls: list[CallInstance] = []
        self._collect(root, drafts, calls)
        tasks = self._resolve_channels(drafts)
        root_stack = StackView((self.user, *root.frame.vars, *root.frame.defaults))
        for message in self.repo.warnings:
            if message not in self.warnings:
                self.warnings.append(message)
        return EnvironmentPlan(
            env_id=self.env_id,
            workflow=workflow,
            repo=os.fspath(self.repo.root),
            root=_role_node(root),
            tasks=tuple(tasks),
            calls=tuple(calls),
            vars=root_stack.flatten(),
            user_vars=dict(self.user),
            manifest_sha=self.repo.manifest_sha(),
            public=root_raw.public,
            description=root_raw.description,
            warnings=tuple(self.warnings),
        )

    def _set_detectors(self, root: ERole) -> None:
        """AliECS sets ``detectors`` (from the ``hosts`` var) in the global defaults after loading."""
        stack = StackView((self.user, *root.frame.vars, *root.frame.defaults))
        hosts: list[str] = []
        try:
            parsed = json.loads(stack.get("hosts") or "null")
            if isinstance(parsed, list) and all(isinstance(h, str) for h in parsed):
                hosts = parsed
        except json.JSONDecodeError:
            pass
        ctx = EvalContext({"hosts": json.dumps(hosts)}, self.tt_library)
        try:
            detectors = compile_template("{{ inventory.DetectorsForHosts(hosts) }}").render(ctx)
        except ManifestError as err:
            raise ManifestError(
                f"cannot acquire detectors for the environment's hosts: {err.one_line()}"
            ) from None
        if detectors.startswith('{"error"'):
            # the template function returns AliECS's failure string; the core's own call fails
            # environment creation (manager.go: "cannot acquire detectors in loaded workflow template")
            try:
                reason = json.loads(detectors)["error"]
            except (json.JSONDecodeError, KeyError, TypeError):
                reason = detectors
            raise ManifestError(f"cannot acquire detectors for the hosts in `hosts`: {reason}")
        self.global_defaults["detectors"] = detectors

    def _collect(self, role: ERole, drafts: list[TaskInstanceDraft], calls: list[CallInstance]) -> None:
        if role.kind is Kind.TASK:
            drafts.append(self._task(role))
        elif role.kind is Kind.CALL:
            calls.append(self._call(role))
        for child in role.children:
            self._collect(child, drafts, calls)

    def _check_trigger(self, role: ERole) -> None:
        for label, value in (("trigger", role.trigger), ("await", role.await_)):
            if value and trigger_moment(value) not in MOMENTS:
                self.warnings.append(
                    f"{role.source}: {role.path}: {label} '{value}' names no lifecycle moment; it never fires"
                )

    # -- calls ------------------------------------------------------------------------------

    def _call(self, role: ERole) -> CallInstance:
        file, line = role.source.file, role.func_line or role.source.line
        if not role.func.strip():
            raise ManifestError(
                "call.func is empty", file=file, line=line, role_path=role.path, field="call.func"
            )
        try:
            compile_expression(role.func)  # AliECS evaluates it only at call time; fail early
        except ManifestError as err:
            raise err.locate(file=file, line=line, role_path=role.path, field="call.func") from None
        self._check_trigger(role)
        return CallInstance(
            path=role.path,
            name=role.name,
            parent_path=role.parent_path,
            func=role.func,
            return_var=role.return_var,
            trigger=role.trigger,
            await_=role.await_,
            timeout=role.timeout,
            critical=role.critical,
            vars=StackView((self.user, *role.frame.vars, *role.frame.defaults)),
            source=role.source,
        )

    # -- tasks ------------------------------------------------------------------------------

    def task_class(self, name: str) -> TaskClass:
        cached = self._classes.get(name)
        if cached is None:
            path = self.repo.task_path(name)
            if not self.repo.exists(path):
                raise ManifestError(f"task template '{name}' not found ({path})")
            cached = parse_task_class(self.repo.parse(path), path, name)
            for message in cached.warnings:
                if message not in self.warnings:
                    self.warnings.append(message)
            self._classes[name] = cached
        return cached

    def _task(self, role: ERole) -> TaskInstanceDraft:
        def located(err: ManifestError) -> ManifestError:
            if err.file is not None:  # an error inside the task template file itself
                return err.locate(role_path=role.path)
            return err.locate(
                file=role.source.file, line=role.source.line, role_path=role.path, field="task.load"
            )

        if not role.load.strip():
            raise located(ManifestError("task.load is empty"))
        try:
            tt = self.task_class(self.repo.resolve(role.load, "tasks"))
        except ManifestError as err:
            raise located(err) from None
        self._check_trigger(role)

        constraints = merge_constraints(
            role.frame.constraints, tuple(Constraint(c.attribute, c.value.text) for c in tt.constraints)
        )
        host = next((c.value for c in constraints if c.attribute == self.host_attribute), None)
        if host is not None and ("," in host or not host.strip()):
            host = None  # "any of" or empty: not a pin to one host
        mode = tt.control_mode
        if mode is ControlMode.BASIC and role.trigger:
            mode = ControlMode.HOOK
        if mode in _KUBE_MODES:
            self.warnings.append(
                f"{role.source}: {role.path}: control mode {mode} runs as "
                f"{'fairmq' if mode in _FAIRMQ_MODES else 'direct'} "
                "on Nomad"
            )
        task_id = self.uid.new()
        class_name = f"{self.repo.identifier}/tasks/{tt.name}@{self.repo.revision}"
        hostname = host if host is not None else UNPINNED_HOST
        special = {
            "task_name": f"{class_name}#{task_id}",
            "task_id": task_id,
            "task_class_name": class_name,
            "task_hostname": hostname,
            "environment_id": self.env_id,
            "task_parent_role": role.path,
        }
        role_layers: tuple[Layer, ...] = (self.user, *role.frame.vars, *role.frame.defaults)

        def stage(layers: tuple[Layer, ...]) -> Stage:
            return Stage(layers, self.tt_library, None, file=tt.file, role_path=role.path, stats=self.stats)

        # BuildTaskCommand: TT defaults, then TT vars, each under the role stack (which wins).
        base = (special, *role_layers)
        defaults_stage = stage(base)
        tt_defaults = {k: defaults_stage.render(v, f"defaults.{k}") for k, v in tt.defaults}
        vars_stage = stage((*base, tt_defaults))
        tt_vars = {k: vars_stage.render(v, f"vars.{k}") for k, v in tt.vars}
        command_layers = (*base, tt_defaults, tt_vars)
        cmd_stage = stage(command_layers)
        cmd = tt.command
        value = cmd_stage.render(cmd.value, "command.value")
        user = cmd_stage.render(cmd.user, "command.user")
        env = [cmd_stage.render(item, f"command.env[{i}]") for i, item in enumerate(cmd.env)]
        args = [cmd_stage.render(item, f"command.arguments[{i}]") for i, item in enumerate(cmd.arguments)]
        # AliECS writes the first task's templated stdout/stderr back into the shared task class
        # (common/cmdinfo.go Copy shares the pointers); nomadctl templates them per task.
        stdout = self._log_setting(cmd.stdout, cmd_stage, "command.stdout")
        stderr = self._log_setting(cmd.stderr, cmd_stage, "command.stderr")

        if mode in _FAIRMQ_MODES:
            if "--id" not in args:
                args += ["--id", task_id]
            args += ["-S", FMQ_PLUGIN_SEARCH_PATH, "-P", FMQ_PLUGIN, "--color", "false"]
        if mode not in _UNCONTROLLED:
            env.append(f"OCC_CONTROL_PORT={CONTROL_PORT}")
        if mode in _CONTROL_PORT_ARG_MODES:
            args += ["--control-port", CONTROL_PORT]
        for name, default in (("O2_ROLE", hostname), ("O2_SYSTEM", "FLP")):
            # the scheduler's fillEnvDefault tests a prefix, not the exact name
            if not any(item.startswith(name) for item in env):
                env.append(f"{name}={default}")

        properties: dict[str, str] = {}
        # BuildPropertyMap: raw TT vars over raw TT defaults, under the role stack and special vars.
        prop_layers = (
            special,
            *role_layers,
            {k: v.text for k, v in tt.vars},
            {k: v.text for k, v in tt.defaults},
        )
        if tt.control_mode is not ControlMode.BASIC:
            properties = self._properties(tt, prop_layers, role)

        bind: list[InboundChannel] = []
        prop_stage = stage(prop_layers)
        tt_bind = tuple(
            EvChannel(ch, ch.target.text, ch.global_alias.text, tt.file, role.path) for ch in tt.bind
        )
        for i, ch in enumerate(merge_channels(role.frame.bind, tt_bind)):
            bind.append(self._inbound(ch, i, role, prop_stage))
        tt_connect = tuple(EvChannel(ch, "", "", tt.file, role.path) for ch in tt.connect)
        connect = [(ch, i) for i, ch in enumerate(merge_channels(role.frame.connect, tt_connect))]
        placement: tuple[str, str | None] = (
            ("host", host)
            if host is not None
            else ("group", role.frame.group)
            if role.frame.group
            else ("free", None)
        )
        task = TaskInstance(
            path=role.path,
            name=role.name,
            parent_path=role.parent_path,
            task_class=tt.name,
            task_id=task_id,
            control_mode=mode,
            shell=cmd.shell,
            value=value,
            arguments=tuple(args),
            env=tuple(env),
            user=user,
            host=host,
            constraints=constraints,
            wants=Resources(tt.wants_cpu or 0.0, tt.wants_memory or 0.0, tt.wants_ports),
            limits=Limits(tt.limits_cpu, tt.limits_memory),
            properties=properties,
            critical=role.critical,
            trigger=role.trigger,
            await_=role.await_,
            timeout=role.timeout,
            stdout=stdout,
            stderr=stderr,
            vars=StackView(command_layers),
            source=role.source,
            task_source=SourceRef(tt.file, 1),
            bind=tuple(bind),
        )
        role.task_class = tt.name
        return TaskInstanceDraft(role, task, connect, placement, tt.file, prop_stage)

    def _log_setting(self, value: Text | None, stage: Stage, what: str) -> str:
        if value is None:
            return "none"
        rendered = stage.render(value, what).strip().lower()
        if rendered not in _LOG_VALUES:
            raise ManifestError(
                f"bad {what.rsplit('.', maxsplit=1)[-1]} forwarding expression {rendered}, "
                "allowed values: none, stdout, all",
                file=stage.file,
                line=value.line,
                role_path=stage.role_path,
                field=what,
            )
        return rendered

    def _properties(self, tt: TaskClass, layers: tuple[Layer, ...], role: ERole) -> dict[str, str]:
        """``BuildPropertyMap``'s TT ``properties``, templated; ``ToPtree`` rewrites the key."""
        props: dict[str, str] = {}
        pending: dict[str, str] = {}  # ToPtree stores payloads under temporary __ptree__ keys
        ctx = EvalContext(
            StackView(layers), self.tt_library, extra={"ToPtree": self.tt_library.to_ptree(pending)}
        )
        for key, value in tt.properties:
            try:
                template = compile_template(value.text)
                if template.is_static:
                    props[key] = template.text
                else:
                    self.stats.evaluations += 1
                    props[key] = template.render(ctx)
            except ManifestError as err:
                raise err.locate(
                    file=tt.file, line=value.line, role_path=role.path, field=f"properties.{key}"
                ) from None
        out: dict[str, str] = {}
        for key, rendered in props.items():
            if rendered.startswith("__ptree__:") and rendered in pending:
                out[f"__ptree__:{rendered.split(':')[1]}:{key}"] = pending.pop(rendered)
            else:
                out[key] = rendered
        out.update(pending)
        return out

    def _inbound(self, ch: EvChannel, index: int, role: ERole, stage: Stage) -> InboundChannel:
        raw = ch.raw
        what = (
            f"bind[{index}]"
            if ch.role_path == role.path and ch.file == role.source.file
            else f"bind '{raw.name}'"
        )

        def fail(message: str, line: int | None, sub: str = "") -> ManifestError:
            return ManifestError(
                message, file=ch.file, line=line or raw.line, role_path=ch.role_path, field=what + sub
            )

        if raw.type is None:
            raise fail(f"channel '{raw.name}' has no type (push, pull, pub or sub)", raw.line)
        if not raw.name:
            raise fail("channel has no name", raw.line)
        rate = _render_at(stage, raw.rate_logging, ch.file, f"{what}.rateLogging")
        target = _render_at(stage, raw.target, ch.file, f"{what}.target") if raw.target.text else ""
        address: str | None = None
        if target.startswith(("tcp://", "ipc://")):
            address = target
        elif target:
            raise fail(f"inbound channel target {target} provided but invalid", raw.target.line, ".target")
        elif raw.addressing is Addressing.IPC:
            address = ipc_address(self.env_id, role.path, raw.name)
        if "{{" in ch.global_alias:
            self.warnings.append(
                f"{ch.file}: {role.path}: {what}.global: task-template global aliases are not templated by "
                f"AliECS; the alias is literally '{ch.global_alias}'"
            )
        return InboundChannel(
            name=raw.name,
            type=raw.type,
            transport=raw.transport,
            addressing=raw.addressing,
            snd_buf_size=raw.snd_buf_size,
            rcv_buf_size=raw.rcv_buf_size,
            rate_logging=rate,
            target=target,
            global_alias=ch.global_alias,
            address=address,
        )

    # -- channels ---------------------------------------------------------------------------

    def _resolve_channels(self, drafts: list[TaskInstanceDraft]) -> list[TaskInstance]:
        bind_map: dict[str, _Bound] = {}
        for draft in drafts:
            for ch in draft.task.bind:
                bound = _Bound(draft, ch)
                bind_map[f"{draft.role.path}:{ch.name}"] = bound
                if ch.global_alias:
                    key = "::" + ch.global_alias
                    other = bind_map.get(key)
                    if other is not None and other.task is not draft:
                        raise ManifestError(
                            f"illegal redefinition of global channel alias {key}: bound by "
                            f"{other.task.role.path}:{other.channel.name} and {draft.role.path}:{ch.name}",
                            file=draft.role.source.file,
                            line=draft.role.source.line,
                            role_path=draft.role.path,
                            field=f"bind '{ch.name}'.global",
                        )
                    bind_map[key] = bound
        tasks: list[TaskInstance] = []
        for draft in drafts:
            connect = tuple(self._outbound(draft, ch, i, bind_map) for ch, i in draft.connect)
            tasks.append(dataclasses.replace(draft.task, connect=connect))
        return tasks

    def _outbound(
        self, draft: TaskInstanceDraft, ch: EvChannel, index: int, bind_map: dict[str, _Bound]
    ) -> OutboundChannel:
        raw = ch.raw
        role = draft.role
        what = f"connect[{index}]" if ch.role_path == role.path else f"connect '{raw.name}'"

        def fail(message: str) -> ManifestError:
            return ManifestError(
                message,
                file=ch.file,
                line=raw.target.line or raw.line,
                role_path=role.path,
                field=f"{what}.target",
            )

        if raw.type is None:
            raise fail(f"channel '{raw.name}' has no type (push, pull, pub or sub)")
        stage = draft.prop_stage
        rate = _render_at(stage, raw.rate_logging, ch.file, f"{what}.rateLogging")
        target = ch.target
        literal = OutboundChannel(
            name=raw.name,
            type=raw.type,
            target=target,
            target_kind=TargetKind.LITERAL,
            transport=raw.transport,
            snd_buf_size=raw.snd_buf_size,
            rcv_buf_size=raw.rcv_buf_size,
            rate_logging=rate,
            address=target,
        )
        if target.startswith(("tcp://", "ipc://")):
            return literal
        if not target:
            origin = (
                " (task-template connect targets are ignored; set it in the workflow)"
                if ch.file == draft.tt_file
                else ""
            )
            raise fail(f"outbound channel '{raw.name}' has no target{origin}")
        bound = bind_map.get(target)
        if bound is None:
            hint = (
                ""
                if target.startswith("::") or ":" in target
                else " (expected <role path>:<channel>, ::<alias> or tcp://, ipc://)"
            )
            raise fail(f"could not match target for outbound channel {target}{hint}")
        peer = bound.channel
        if raw.transport is not Transport.DEFAULT and raw.transport is not peer.transport:
            self.warnings.append(
                f"{ch.file}: {role.path}: {what}: channel transport mismatch ({raw.transport} here, "
                f"{peer.transport} at {bound.task.role.path}:{peer.name})"
            )
        if peer.addressing is Addressing.IPC or Transport.SHMEM in (peer.transport, raw.transport):
            mine, theirs = draft.placement, bound.task.placement
            if mine != theirs:
                raise fail(
                    f"{'ipc' if peer.addressing is Addressing.IPC else 'shmem'} channel to "
                    f"{bound.task.role.path}:{peer.name} needs both tasks on one host, but this task is "
                    f"{_describe(mine)} and the peer is {_describe(theirs)}"
                )
        address = peer.address
        peer_host = bound.task.task.host
        if address is not None and address.startswith("tcp://") and peer_host:
            address = address.replace("*", peer_host, 1)
        return dataclasses.replace(
            literal,
            target_kind=TargetKind.GLOBAL if target.startswith("::") else TargetKind.PATH,
            peer_task=bound.task.role.path,
            peer_channel=peer.name,
            address=address,
        )


def _describe(placement: tuple[str, str | None]) -> str:
    kind, value = placement
    if kind == "host":
        return f"pinned to {value}"
    if kind == "group":
        return f"in the replicated group {value}"
    return "not pinned to any host"


def _render_at(stage: Stage, value: Text, file: str, what: str) -> str:
    saved = stage.file
    stage.file = file
    try:
        return stage.render(value, what)
    finally:
        stage.file = saved


def _role_node(role: ERole) -> RoleNode:
    kind = {
        Kind.AGGREGATOR: RoleKind.AGGREGATOR,
        Kind.TASK: RoleKind.TASK,
        Kind.CALL: RoleKind.CALL,
        Kind.INCLUDE: RoleKind.INCLUDE,
    }[role.kind]
    return RoleNode(
        path=role.path,
        name=role.name,
        kind=kind,
        critical=role.critical,
        defaults=dict(role.defaults),
        vars=dict(role.vars),
        constraints=role.constraints,
        children=tuple(_role_node(c) for c in role.children),
        include=role.include,
        task_class=role.task_class,
        source=role.source,
    )
