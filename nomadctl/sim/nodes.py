"""Simulated Nomad client nodes: their description (``NodeSpec``), state and API shapes.

A node is what ``nomad agent -client`` fingerprints: name, class, pool, datacenter, meta, CPU,
memory, disk, drivers and devices (GPUs as a ``<vendor>/gpu`` device group, the way the NVIDIA
device plugin reports them). ``Node`` objects are immutable snapshots: every change makes a new
one, so an HTTP thread can serialise what it read without holding the farm's lock.
"""

from __future__ import annotations

import dataclasses
import re
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from nomadctl.errors import UsageError
from nomadctl.sim import wire

NOMAD_VERSION = "2.0.5"
MIN_DYNAMIC_PORT = 20000
MAX_DYNAMIC_PORT = 32000
_DEFAULT_GPU_MODEL = {"nvidia": "A100-SXM4-40GB", "amd": "MI50"}
_GPU_MEMORY_MIB = {"nvidia": 40960, "amd": 32768}


@dataclass(frozen=True)
class NodeSpec:
    """One simulated client node, as its agent would fingerprint it.

    ``gpus`` GPUs appear as the device group ``<gpu_vendor>/gpu/<gpu_model>``; ``address`` defaults
    to a distinct 10.x.y.z address per node; ``disk_mb`` is the allocatable ephemeral disk.
    """

    name: str
    node_class: str = ""
    pool: str = "default"
    datacenter: str = "dc1"
    cpu_mhz: int = 16000
    memory_mb: int = 65536
    gpus: int = 0
    gpu_vendor: str = "nvidia"
    meta: Mapping[str, str] = field(default_factory=dict)
    drivers: tuple[str, ...] = ("raw_exec",)
    disk_mb: int = 500_000
    gpu_model: str = ""
    address: str | None = None
    cores: int = 0

    def __post_init__(self) -> None:
        if not self.name or any(c.isspace() for c in self.name):
            raise UsageError(f"node name {self.name!r} must be non-empty and without spaces")
        if self.cpu_mhz < 1 or self.memory_mb < 1 or self.gpus < 0 or self.disk_mb < 0:
            raise UsageError(f"node {self.name}: cpu, memory and disk must be positive, gpus >= 0")
        object.__setattr__(self, "meta", MappingProxyType(dict(self.meta)))
        object.__setattr__(self, "drivers", tuple(self.drivers))

    @property
    def gpu_name(self) -> str:
        return self.gpu_model or _DEFAULT_GPU_MODEL.get(self.gpu_vendor, "gpu")

    @property
    def total_cores(self) -> int:
        # Nomad fingerprints cores and MHz separately; assume 2 GHz cores when not given.
        return self.cores or max(1, self.cpu_mhz // 2000)


_SPEC_KEYS = {
    "gpus": "gpus",
    "gpu": "gpus",
    "cpu": "cpu_mhz",
    "cpu_mhz": "cpu_mhz",
    "memory": "memory_mb",
    "mem": "memory_mb",
    "memory_mb": "memory_mb",
    "disk": "disk_mb",
    "disk_mb": "disk_mb",
    "pool": "pool",
    "dc": "datacenter",
    "datacenter": "datacenter",
    "class": "node_class",
    "vendor": "gpu_vendor",
    "gpu_vendor": "gpu_vendor",
    "model": "gpu_model",
    "gpu_model": "gpu_model",
    "drivers": "drivers",
    "cores": "cores",
}
_INT_FIELDS = {"gpus", "cpu_mhz", "memory_mb", "disk_mb", "cores"}


def parse_node_spec(text: str) -> list[NodeSpec]:
    """Parse ``prefix:count[:key=value...]`` into ``count`` nodes ``<prefix>001...``.

    The class defaults to the prefix. Keys: ``gpus``, ``cpu`` (MHz), ``memory`` (MB), ``disk``
    (MB), ``cores``, ``pool``, ``dc``, ``class``, ``vendor``, ``model``, ``drivers`` (``|``-separated)
    and ``meta.<key>``. Example: ``epn:350:gpus=8:pool=epn``.
    """
    parts = text.strip().split(":")
    if len(parts) < 2 or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", parts[0]):
        raise UsageError(f"node spec {text!r}: expected prefix:count[:key=value...]")
    prefix, count_text = parts[0], parts[1]
    if not count_text.isdigit() or int(count_text) < 1:
        raise UsageError(f"node spec {text!r}: count must be a positive integer")
    count = int(count_text)
    opts: dict[str, Any] = {"node_class": prefix}
    meta: dict[str, str] = {}
    for item in parts[2:]:
        key, sep, value = item.partition("=")
        if not sep:
            raise UsageError(f"node spec {text!r}: option {item!r} is not key=value")
        if key.startswith("meta."):
            meta[key[5:]] = value
            continue
        name = _SPEC_KEYS.get(key)
        if name is None:
            raise UsageError(f"node spec {text!r}: unknown option {key!r}")
        if name in _INT_FIELDS:
            if not value.isdigit():
                raise UsageError(f"node spec {text!r}: {key} must be a non-negative integer")
            opts[name] = int(value)
        elif name == "drivers":
            opts[name] = tuple(d for d in value.split("|") if d)
        else:
            opts[name] = value
    width = max(3, len(str(count)))
    return [NodeSpec(name=f"{prefix}{i:0{width}d}", meta=meta, **opts) for i in range(1, count + 1)]


@dataclass(frozen=True, slots=True)
class Node:
    """The server's view of one client node at one raft index."""

    id: str
    spec: NodeSpec
    address: str
    secret_attrs: Mapping[str, str]
    gpu_ids: tuple[str, ...]
    create_index: int
    modify_index: int
    status: str = "ready"
    status_description: str = ""
    status_updated_at: int = 0
    eligibility: str = "eligible"
    drain: bool = False
    drain_strategy: Mapping[str, Any] | None = None
    last_drain: Mapping[str, Any] | None = None
    events: tuple[Mapping[str, Any], ...] = ()
    meta: Mapping[str, str] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def ready(self) -> bool:
        """Nomad's ``Node.Ready()``: schedulable right now."""
        return self.status == "ready" and not self.drain and self.eligibility == "eligible"

    def evolve(self, **changes: Any) -> Node:
        return dataclasses.replace(self, **changes)


def make_attributes(spec: NodeSpec, address: str) -> dict[str, str]:
    """The fingerprinted ``Attributes`` map (what ``${attr.*}`` constraints read)."""
    attrs = {
        "arch": "x86_64",
        "cpu.arch": "amd64",
        "cpu.frequency": str(spec.cpu_mhz // spec.total_cores),
        "cpu.modelname": "Simulated CPU",
        "cpu.numcores": str(spec.total_cores),
        "cpu.reservablecores": str(spec.total_cores),
        "cpu.totalcompute": str(spec.cpu_mhz),
        "cpu.usablecompute": str(spec.cpu_mhz),
        "kernel.arch": "x86_64",
        "kernel.name": "linux",
        "kernel.version": "5.14.0",
        "memory.totalbytes": str(spec.memory_mb * 1024 * 1024),
        "nomad.advertise.address": f"{address}:4646",
        "nomad.version": NOMAD_VERSION,
        "os.name": "almalinux",
        "os.version": "9.4",
        "os.signals": "SIGINT,SIGTERM,SIGKILL,SIGHUP,SIGUSR1,SIGUSR2,SIGQUIT",
        "unique.hostname": spec.name,
        "unique.network.ip-address": address,
        "unique.storage.bytesfree": str(spec.disk_mb * 1024 * 1024),
        "unique.storage.volume": "/dev/sda1",
        "consul.version": "1.22.0",
        "consul.datacenter": spec.datacenter,
    }
    for driver in spec.drivers:
        attrs[f"driver.{driver}"] = "1"
    return attrs


def _driver_info(driver: str, now_ns: int, healthy: bool) -> dict[str, Any]:
    return {
        "Attributes": {f"driver.{driver}": "true"},
        "Detected": True,
        "Healthy": healthy,
        "HealthDescription": "Healthy" if healthy else "Unhealthy",
        "UpdateTime": wire.go_time(now_ns),
    }


def _node_resources(node: Node) -> dict[str, Any]:
    spec = node.spec
    devices: list[dict[str, Any]] | None = None
    if spec.gpus:
        devices = [
            {
                "Vendor": spec.gpu_vendor,
                "Type": "gpu",
                "Name": spec.gpu_name,
                "Instances": [
                    {"ID": gid, "Healthy": True, "HealthDescription": "", "Locality": None}
                    for gid in node.gpu_ids
                ],
                "Attributes": {
                    "memory": {"Int": _GPU_MEMORY_MIB.get(spec.gpu_vendor, 16384), "Unit": "MiB"},
                    "driver_version": {"String": "sim"},
                },
            }
        ]
    return {
        "Cpu": {
            "CpuShares": spec.cpu_mhz,
            "TotalCpuCores": spec.total_cores,
            "ReservableCpuCores": list(range(spec.total_cores)),
        },
        "Memory": {"MemoryMB": spec.memory_mb},
        "Disk": {"DiskMB": spec.disk_mb},
        "Networks": [
            {
                "Mode": "host",
                "Device": "eth0",
                "CIDR": f"{node.address}/32",
                "IP": node.address,
                "MBits": 10000,
            }
        ],
        "Devices": devices,
        "MinDynamicPort": MIN_DYNAMIC_PORT,
        "MaxDynamicPort": MAX_DYNAMIC_PORT,
    }


_RESERVED = {
    "Cpu": {"CpuShares": 0},
    "Memory": {"MemoryMB": 0},
    "Disk": {"DiskMB": 0},
    "Networks": {"ReservedHostPorts": ""},
}


def node_stub(node: Node, *, resources: bool, os_attrs: bool, now_ns: int) -> dict[str, Any]:
    """``api.NodeListStub`` as ``GET /v1/nodes`` returns it."""
    out: dict[str, Any] = {
        "Address": node.address,
        "ID": node.id,
        "Datacenter": node.spec.datacenter,
        "Name": node.name,
        "NodeClass": node.spec.node_class,
        "NodePool": node.spec.pool,
        "Version": NOMAD_VERSION,
        "Drain": node.drain,
        "SchedulingEligibility": node.eligibility,
        "Status": node.status,
        "StatusDescription": node.status_description,
        "Drivers": {d: _driver_info(d, now_ns, True) for d in node.spec.drivers},
        "LastDrain": dict(node.last_drain) if node.last_drain else None,
        "CreateIndex": node.create_index,
        "ModifyIndex": node.modify_index,
    }
    if os_attrs:
        out["Attributes"] = {k: node.secret_attrs[k] for k in ("os.name", "os.version")}
    if resources:
        out["NodeResources"] = _node_resources(node)
        out["ReservedResources"] = _RESERVED
    return out


def node_json(node: Node, now_ns: int) -> dict[str, Any]:
    """The full ``Node`` object (``GET /v1/node/:id``, event payloads)."""
    spec = node.spec
    return {
        "ID": node.id,
        "SecretID": "",
        "Datacenter": spec.datacenter,
        "Name": node.name,
        "HTTPAddr": f"{node.address}:4646",
        "TLSEnabled": False,
        "Attributes": dict(node.secret_attrs),
        "Resources": {"CPU": spec.cpu_mhz, "MemoryMB": spec.memory_mb, "DiskMB": spec.disk_mb},
        "Reserved": {"CPU": 0, "MemoryMB": 0, "DiskMB": 0},
        "NodeResources": _node_resources(node),
        "ReservedResources": _RESERVED,
        "Links": {"consul": f"{spec.datacenter}.{node.name}"},
        "Meta": dict(node.meta),
        "NodeClass": spec.node_class,
        "NodePool": spec.pool,
        "ComputedClass": f"v1:{zlib.crc32(f'{spec.node_class}/{spec.pool}/{spec.datacenter}'.encode())}",
        "CgroupParent": "",
        "Drain": node.drain,
        "DrainStrategy": dict(node.drain_strategy) if node.drain_strategy else None,
        "SchedulingEligibility": node.eligibility,
        "Status": node.status,
        "StatusDescription": node.status_description,
        "StatusUpdatedAt": node.status_updated_at,
        "Events": [dict(e) for e in node.events],
        "Drivers": {d: _driver_info(d, now_ns, True) for d in spec.drivers},
        "HostVolumes": None,
        "GCVolumesOnNodeGC": False,
        "HostNetworks": None,
        "CSIControllerPlugins": None,
        "CSINodePlugins": None,
        "LastDrain": dict(node.last_drain) if node.last_drain else None,
        "CreateIndex": node.create_index,
        "ModifyIndex": node.modify_index,
        "NodeMaxAllocs": 0,
    }


def node_event(message: str, subsystem: str, now_ns: int, index: int) -> dict[str, Any]:
    """One entry of ``Node.Events`` (the server keeps the last 10)."""
    return {
        "Message": message,
        "Subsystem": subsystem,
        "Details": None,
        "Timestamp": wire.go_time(now_ns),
        "CreateIndex": index,
    }
