"""Hand-built EnvironmentPlans for jobspec tests (no manifest engine needed).

    b = PlanBuilder()
    b.role("host-flp001", vars={"x": "1"})
    b.task("host-flp001.readout", host="flp001", bind=[ipc_bind("readout")])
    plan = b.build()

Role paths are given relative to the root; intermediate roles are created as aggregators.
Tasks see consolidated vars the AliECS way: defaults by depth, then vars by depth, then user vars.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from nomadctl.plan import (
    Addressing,
    ChannelType,
    Constraint,
    ControlMode,
    EnvironmentPlan,
    InboundChannel,
    Limits,
    OutboundChannel,
    Resources,
    RoleKind,
    RoleNode,
    TargetKind,
    TaskInstance,
    Transport,
)


def tcp_bind(name: str, **kw: Any) -> InboundChannel:
    return InboundChannel(name=name, type=kw.pop("type", ChannelType.PUSH), addressing=Addressing.TCP, **kw)


def ipc_bind(name: str, *, shmem: bool = True, **kw: Any) -> InboundChannel:
    return InboundChannel(
        name=name,
        type=kw.pop("type", ChannelType.PUSH),
        addressing=Addressing.IPC,
        transport=Transport.SHMEM if shmem else Transport.ZEROMQ,
        **kw,
    )


def connect(name: str, peer: str, channel: str, **kw: Any) -> tuple[str, str, str, dict[str, Any]]:
    """A connect to ``peer`` (task path relative to root) channel ``channel``; resolved at build()."""
    return (name, peer, channel, kw)


def literal_connect(name: str, address: str) -> OutboundChannel:
    return OutboundChannel(
        name=name, type=ChannelType.PULL, target=address, target_kind=TargetKind.LITERAL, address=address
    )


@dataclass
class _Role:
    name: str
    defaults: dict[str, str] = field(default_factory=dict)
    vars: dict[str, str] = field(default_factory=dict)
    critical: bool = True
    kind: RoleKind = RoleKind.AGGREGATOR
    children: list[str] = field(default_factory=list)
    task: dict[str, Any] | None = None


class PlanBuilder:
    def __init__(
        self,
        env_id: str = "2oDvzkBmdBA",
        root: str = "readout-dataflow",
        *,
        defaults: Mapping[str, str] | None = None,
        vars: Mapping[str, str] | None = None,
        user_vars: Mapping[str, str] | None = None,
    ) -> None:
        self.env_id = env_id
        self.root = root
        self.user_vars = dict(user_vars or {})
        self.roles: dict[str, _Role] = {root: _Role(root, dict(defaults or {}), dict(vars or {}))}
        self.order: list[str] = [root]

    def _abs(self, rel: str) -> str:
        return f"{self.root}.{rel}" if rel else self.root

    def _ensure(self, path: str) -> _Role:
        if path in self.roles:
            return self.roles[path]
        parent = path.rsplit(".", 1)[0]
        self._ensure(parent)
        role = _Role(path.rsplit(".", 1)[1])
        self.roles[path] = role
        self.roles[parent].children.append(path)
        self.order.append(path)
        return role

    def role(
        self,
        rel: str,
        *,
        defaults: Mapping[str, str] | None = None,
        vars: Mapping[str, str] | None = None,
        critical: bool = True,
    ) -> PlanBuilder:
        r = self._ensure(self._abs(rel))
        r.defaults.update(defaults or {})
        r.vars.update(vars or {})
        r.critical = critical
        return self

    def task(
        self,
        rel: str,
        *,
        host: str | None = None,
        mode: ControlMode = ControlMode.DIRECT,
        value: str = "/opt/o2/bin/o2-proc",
        args: Sequence[str] = (),
        shell: bool = False,
        env: Sequence[str] = (),
        bind: Sequence[InboundChannel] = (),
        connect: Sequence[Any] = (),
        wants: Resources | None = None,
        limits: Limits | None = None,
        critical: bool = True,
        trigger: str = "",
        timeout: str = "0s",
        defaults: Mapping[str, str] | None = None,
        vars: Mapping[str, str] | None = None,
        user: str = "",
        constraints: Sequence[Constraint] = (),
        task_class: str | None = None,
    ) -> PlanBuilder:
        path = self._abs(rel)
        r = self._ensure(path)
        r.kind = RoleKind.TASK
        r.critical = critical
        r.defaults.update(defaults or {})
        r.vars.update(vars or {})
        r.task = dict(
            host=host,
            mode=mode,
            value=value,
            args=tuple(args),
            shell=shell,
            env=tuple(env),
            bind=tuple(bind),
            connect=tuple(connect),
            wants=wants or Resources(cpu=0.5, memory=512),
            limits=limits or Limits(),
            trigger=trigger,
            timeout=timeout,
            user=user,
            constraints=tuple(constraints),
            task_class=task_class or r.name,
        )
        return self

    def _vars_for(self, path: str) -> dict[str, str]:
        chain = []
        p = path
        while True:
            chain.append(self.roles[p])
            if "." not in p or p == self.root:
                break
            p = p.rsplit(".", 1)[0]
        chain.reverse()
        out: dict[str, str] = {}
        for r in chain:
            out.update(r.defaults)
        for r in chain:
            out.update(r.vars)
        out.update(self.user_vars)
        return out

    def _node(self, path: str) -> RoleNode:
        r = self.roles[path]
        cons: tuple[Constraint, ...] = ()
        if r.task and r.task["host"]:
            cons = (Constraint("machine_id", r.task["host"]),)
        return RoleNode(
            path=path,
            name=r.name,
            kind=r.kind,
            critical=r.critical,
            defaults=dict(r.defaults),
            vars=dict(r.vars),
            constraints=cons,
            children=tuple(self._node(c) for c in r.children),
            task_class=r.task["task_class"] if r.task else None,
        )

    def build(self) -> EnvironmentPlan:
        tasks: list[TaskInstance] = []
        for path in self.order:
            r = self.roles[path]
            if r.task is None:
                continue
            t = r.task
            cons = list(t["constraints"])
            if t["host"]:
                cons.insert(0, Constraint("machine_id", t["host"]))
            mode = t["mode"]
            if t["trigger"] and mode is ControlMode.BASIC:
                mode = ControlMode.HOOK
            tasks.append(
                TaskInstance(
                    path=path,
                    name=r.name,
                    parent_path=path.rsplit(".", 1)[0],
                    task_class=t["task_class"],
                    task_id=hashlib.sha1(path.encode()).hexdigest()[:11],
                    control_mode=mode,
                    shell=t["shell"],
                    value=t["value"],
                    arguments=t["args"],
                    env=t["env"],
                    user=t["user"],
                    host=t["host"],
                    constraints=tuple(cons),
                    wants=t["wants"],
                    limits=t["limits"],
                    bind=tuple(
                        replace(
                            b,
                            address=f"ipc://@o2ipc-{hashlib.sha1((path + b.name).encode()).hexdigest()[:12]}",
                        )
                        if b.addressing is Addressing.IPC and b.address is None
                        else b
                        for b in t["bind"]
                    ),
                    critical=r.critical,
                    trigger=t["trigger"],
                    timeout=t["timeout"],
                    vars=self._vars_for(path),
                )
            )
        by_path = {t.path: t for t in tasks}
        resolved: list[TaskInstance] = []
        for t in tasks:
            conns: list[OutboundChannel] = []
            for c in self.roles[t.path].task["connect"]:  # type: ignore[index]
                if isinstance(c, OutboundChannel):
                    conns.append(c)
                    continue
                name, peer_rel, channel, kw = c
                peer = by_path[self._abs(peer_rel)]
                bind = next(b for b in peer.bind if b.name == channel)
                conns.append(
                    OutboundChannel(
                        name=name,
                        type=kw.get("type", ChannelType.PULL),
                        target=f"{peer.path}:{channel}",
                        target_kind=TargetKind.PATH,
                        transport=kw.get("transport", bind.transport),
                        peer_task=peer.path,
                        peer_channel=channel,
                        address=bind.address,
                    )
                )
            resolved.append(replace(t, connect=tuple(conns)))
        vars_root = dict(self.roles[self.root].defaults)
        vars_root.update(self.roles[self.root].vars)
        return EnvironmentPlan(
            env_id=self.env_id,
            workflow=self.root,
            repo="/repo",
            root=self._node(self.root),
            tasks=tuple(resolved),
            calls=(),
            vars=vars_root,
            user_vars=self.user_vars,
            manifest_sha="0" * 64,
        )


def flp_epn_plan(n_hosts: int = 2, *, env_id: str = "2oDvzkBmdBA", **root_defaults: str) -> EnvironmentPlan:
    """A small FLP+EPN environment: per host readout -> stfb (shmem) -> stfs, an EPN group of
    ``odc_n_epns`` replicas with a TCP output, a QC task connecting to it, and hooks."""
    defaults = {"odc_n_epns": "4", "odc_n_epns_max_fail": "1", **root_defaults}
    b = PlanBuilder(env_id, defaults=defaults)
    for i in range(1, n_hosts + 1):
        host = f"alio2-cr1-flp{i:03d}"
        h = f"host-{host}"
        b.role(h)
        b.task(
            f"{h}.readout",
            host=host,
            value="/opt/o2/bin/o2-readout-exe",
            args=("file:/etc/readout.cfg",),
            env=("O2_INFOLOGGER_MODE=infoLoggerD", "OCC_CONTROL_PORT=${NOMAD_PORT_occ}"),
            bind=[ipc_bind("readout")],
        )
        b.task(
            f"{h}.data-distribution.stfb",
            host=host,
            mode=ControlMode.FAIRMQ,
            value="StfBuilder",
            args=("--id", "stfb", "--control-port", "${NOMAD_PORT_occ}"),
            connect=[connect("readout", f"{h}.readout", "readout")],
            bind=[ipc_bind("buildertosender")],
        )
        b.task(
            f"{h}.data-distribution.stfs",
            host=host,
            mode=ControlMode.FAIRMQ,
            value="StfSender",
            connect=[connect("buildertosender", f"{h}.data-distribution.stfb", "buildertosender")],
        )
        b.task(
            f"{h}.drop-caches",
            host=host,
            mode=ControlMode.BASIC,
            value="sync; echo 1 > /proc/sys/vm/drop_caches",
            shell=True,
            trigger="before_CONFIGURE",
            timeout="10s",
            critical=False,
            user="root",
        )
    b.role(
        "epn",
        defaults={
            "nomad_replicas": "{{ odc_n_epns }}",
            "nomad_max_fail": "{{ odc_n_epns_max_fail }}",
            "nomad_node_pool": "epn",
            "nomad_gpus": "2",
        },
    )
    # the plan carries evaluated values; emulate the engine for the two templated ones
    b.roles[b._abs("epn")].defaults.update(
        {"nomad_replicas": defaults["odc_n_epns"], "nomad_max_fail": defaults["odc_n_epns_max_fail"]}
    )
    b.task(
        "epn.reco",
        mode=ControlMode.FAIRMQ,
        value="o2-dpl-reco",
        args=("--severity", "info"),
        bind=[tcp_bind("reco-out")],
        wants=Resources(cpu=8, memory=16000),
    )
    b.task(
        "qc.merger",
        mode=ControlMode.FAIRMQ,
        value="o2-qc-merger",
        connect=[connect("reco-in", "epn.reco", "reco-out")],
    )
    return b.build()


def kitchen_sink_plan(env_id: str = "k1tchenSink") -> EnvironmentPlan:
    """Every mapping feature at least once: run tasks, hooks with weights, secrets, GPUs of both
    vendors, fixed ports, same-group and cross-group TCP, non-critical tasks, node class,
    priority, other AliECS constraints, memory limits."""
    b = PlanBuilder(env_id, defaults={"nomad_priority": "70"})
    b.task(
        "host-flp001.readout",
        host="flp001",
        env=("BK_TOKEN=vault:secret/aliecs/bookkeeping#token", "OCC_CONTROL_PORT=${NOMAD_PORT_occ}"),
        bind=[ipc_bind("readout"), tcp_bind("monitor")],
        wants=Resources(cpu=0.15, memory=128, ports=(47700,)),
        limits=Limits(memory=1024),
    )
    b.task(
        "host-flp001.stfb",
        host="flp001",
        mode=ControlMode.FAIRMQ,
        value="StfBuilder",
        connect=[
            connect("readout", "host-flp001.readout", "readout"),
            connect("mon", "host-flp001.readout", "monitor"),
        ],
    )
    b.task("host-flp001.shmmonitor", host="flp001", mode=ControlMode.FAIRMQ, value="shmmon", critical=False)
    b.task(
        "host-flp001.roc-config",
        host="flp001",
        mode=ControlMode.BASIC,
        value="o2-roc-config",
        args=("--id", "'#0'"),
        shell=True,
        connect=[connect("epn-out", "epn.proc", "out")],
    )
    b.task(
        "host-flp001.cleanup",
        host="flp001",
        mode=ControlMode.BASIC,
        value="o2-roc-cleanup",
        trigger="DESTROY",
        timeout="30s",
        user="root",
    )
    b.task(
        "host-flp001.pfr",
        host="flp001",
        mode=ControlMode.BASIC,
        value="pfr",
        trigger="before_START_ACTIVITY-10",
    )
    b.task(
        "host-flp001.eor", host="flp001", mode=ControlMode.BASIC, value="eor", trigger="after_STOP_ACTIVITY+5"
    )
    b.role(
        "epn",
        defaults={
            "nomad_replicas": "3",
            "nomad_max_fail": "1",
            "nomad_node_class": "gpu-mi50",
            "nomad_gpus": "1",
        },
    )
    b.task(
        "epn.proc",
        mode=ControlMode.FAIRMQ,
        value="o2-proc",
        bind=[tcp_bind("out")],
        vars={"nomad_gpu_vendor": "amd"},
    )
    b.task("epn.calib", mode=ControlMode.FAIRMQ, value="o2-calib", shell=True, args=("--x", "1"))
    b.task("epn.prep", mode=ControlMode.BASIC, value="epn-prep", trigger="before_CONFIGURE")
    b.task(
        "qc.server",
        mode=ControlMode.FAIRMQ,
        value="qc",
        constraints=(Constraint("machine_type", "qcserver"),),
        connect=[connect("in", "epn.proc", "out")],
    )
    return b.build()
