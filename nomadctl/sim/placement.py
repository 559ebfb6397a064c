"""Placement: which node an allocation goes to, or why it cannot go anywhere.

Follows the order of Nomad's generic scheduler stack (``scheduler/feasible``): candidate nodes are
the *ready* nodes (status ready, eligible, not draining) of the job's node pool and datacenters,
shuffled once per evaluation and walked round-robin across placements; each candidate passes job
constraints, drivers, group and task constraints, devices, ``distinct_hosts``,
``distinct_property``, then resource fit (CPU, memory, disk, device instances, ports). Among the
first two candidates that fit, the fuller one wins (bin packing). A failed placement is explained
by an ``AllocationMetric`` built with Nomad's own reason strings (``missing drivers``,
``missing devices``, ``distinct_hosts``, ``${attr.unique.hostname} = epn001`` for a constraint,
dimensions ``cpu``, ``memory``, ``disk``, ``devices: no devices match request``, ...).

``Usage`` is the farm's ledger of what allocations hold on each node; an ``Overlay`` records what
one evaluation (or a dry-run plan) adds and removes without touching the ledger.
"""

from __future__ import annotations

import fnmatch
import random
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from nomadctl.sim.jobs import Constraint, DeviceRequest, GroupSpec, JobSpec
from nomadctl.sim.nodes import MAX_DYNAMIC_PORT, MIN_DYNAMIC_PORT, Node

LIMIT = 2  # Nomad's default candidate limit for bin packing without spread/affinity


@dataclass(slots=True)
class NodeUsage:
    """What the live allocations on one node hold."""

    cpu: int = 0
    memory_mb: int = 0
    disk_mb: int = 0
    gpus: set[str] = field(default_factory=set)
    ports: set[int] = field(default_factory=set)
    groups: Counter[tuple[str, str, str]] = field(default_factory=Counter)  # (ns, job, group)
    props: Counter[tuple[str, str, str, str]] = field(default_factory=Counter)  # (ns, job, group, value)


@dataclass(frozen=True, slots=True)
class Claim:
    """The resources one allocation holds on its node."""

    node_id: str
    namespace: str
    job_id: str
    group: str
    cpu: int
    memory_mb: int
    disk_mb: int
    gpus: tuple[str, ...]
    ports: tuple[int, ...]


class Usage:
    """The ledger: per node, the sum of the claims of allocations that are not client-terminal."""

    def __init__(self) -> None:
        self.nodes: dict[str, NodeUsage] = {}
        self.claims: dict[str, Claim] = {}

    def node(self, node_id: str) -> NodeUsage:
        u = self.nodes.get(node_id)
        if u is None:
            u = self.nodes[node_id] = NodeUsage()
        return u

    def add(self, alloc_id: str, claim: Claim) -> None:
        if alloc_id in self.claims:
            return
        self.claims[alloc_id] = claim
        _apply(self.node(claim.node_id), claim, +1)

    def release(self, alloc_id: str) -> Claim | None:
        claim = self.claims.pop(alloc_id, None)
        if claim is not None:
            _apply(self.node(claim.node_id), claim, -1)
        return claim


def _apply(u: NodeUsage, c: Claim, sign: int) -> None:
    u.cpu += sign * c.cpu
    u.memory_mb += sign * c.memory_mb
    u.disk_mb += sign * c.disk_mb
    if sign > 0:
        u.gpus.update(c.gpus)
        u.ports.update(c.ports)
    else:
        u.gpus.difference_update(c.gpus)
        u.ports.difference_update(c.ports)
    u.groups[(c.namespace, c.job_id, c.group)] += sign
    if u.groups[(c.namespace, c.job_id, c.group)] <= 0:
        del u.groups[(c.namespace, c.job_id, c.group)]


class Overlay:
    """Proposed changes of one evaluation on top of the ledger (never written to it)."""

    def __init__(self, usage: Usage) -> None:
        self.usage = usage
        self.delta: dict[str, NodeUsage] = {}
        self.freed: dict[str, NodeUsage] = {}

    def _d(self, table: dict[str, NodeUsage], node_id: str) -> NodeUsage:
        u = table.get(node_id)
        if u is None:
            u = table[node_id] = NodeUsage()
        return u

    def add(self, claim: Claim) -> None:
        _apply(self._d(self.delta, claim.node_id), claim, +1)

    def free(self, alloc_id: str) -> None:
        """Count an allocation the plan stops as no longer holding its resources."""
        claim = self.usage.claims.get(alloc_id)
        if claim is not None:
            _apply(self._d(self.freed, claim.node_id), claim, +1)

    def totals(self, node_id: str) -> tuple[int, int, int]:
        base = self.usage.nodes.get(node_id)
        d = self.delta.get(node_id)
        f = self.freed.get(node_id)
        cpu = (base.cpu if base else 0) + (d.cpu if d else 0) - (f.cpu if f else 0)
        mem = (base.memory_mb if base else 0) + (d.memory_mb if d else 0) - (f.memory_mb if f else 0)
        disk = (base.disk_mb if base else 0) + (d.disk_mb if d else 0) - (f.disk_mb if f else 0)
        return cpu, mem, disk

    def used_gpus(self, node_id: str) -> set[str]:
        base = self.usage.nodes.get(node_id)
        d = self.delta.get(node_id)
        f = self.freed.get(node_id)
        out = set(base.gpus) if base else set()
        if f:
            out -= f.gpus
        if d:
            out |= d.gpus
        return out

    def used_ports(self, node_id: str) -> set[int]:
        base = self.usage.nodes.get(node_id)
        d = self.delta.get(node_id)
        f = self.freed.get(node_id)
        out = set(base.ports) if base else set()
        if f:
            out -= f.ports
        if d:
            out |= d.ports
        return out

    def group_count(self, node_id: str, key: tuple[str, str, str]) -> int:
        base = self.usage.nodes.get(node_id)
        d = self.delta.get(node_id)
        f = self.freed.get(node_id)
        return (base.groups[key] if base else 0) + (d.groups[key] if d else 0) - (f.groups[key] if f else 0)

    def job_count(self, node_id: str, ns: str, job: str) -> int:
        total = 0
        for table, sign in ((self.usage.nodes, 1), (self.delta, 1), (self.freed, -1)):
            u = table.get(node_id)
            if u:
                total += sign * sum(n for (kns, kjob, _), n in u.groups.items() if kns == ns and kjob == job)
        return total


# ---------------------------------------------------------------------------------------------
# Constraints


def resolve(target: str, node: Node) -> tuple[str | None, bool]:
    """The value of a constraint target on ``node`` and whether it is set (Nomad's resolveTarget)."""
    if not target.startswith("${"):
        return target, True
    key = target[2:-1] if target.endswith("}") else target[2:]
    spec = node.spec
    if key == "node.unique.id":
        return node.id, True
    if key == "node.unique.name":
        return spec.name, True
    if key == "node.datacenter":
        return spec.datacenter, True
    if key == "node.region":
        return "global", True
    if key == "node.class":
        return spec.node_class, True
    if key == "node.pool":
        return spec.pool, True
    if key.startswith("attr."):
        v = node.secret_attrs.get(key[5:])
        return v, v is not None
    if key.startswith("meta."):
        v = node.meta.get(key[5:])
        return v, v is not None
    return None, False


@lru_cache(maxsize=1024)
def _regex(pattern: str) -> re.Pattern[str] | None:
    try:
        return re.compile(pattern)
    except re.error:
        return None


def _num(s: str) -> float | None:
    try:
        return float(s)
    except ValueError:
        return None


def _order(op: str, left: str, right: str) -> bool:
    ln, rn = _num(left), _num(right)
    lv: Any
    rv: Any
    if ln is not None and rn is not None:
        lv, rv = ln, rn
    else:
        lv, rv = left, right
    if op == "<":
        return bool(lv < rv)
    if op == "<=":
        return bool(lv <= rv)
    if op == ">":
        return bool(lv > rv)
    return bool(lv >= rv)


def _version_tuple(s: str) -> tuple[int, ...] | None:
    m = re.match(r"v?(\d+(?:\.\d+)*)", s.strip())
    if not m:
        return None
    return tuple(int(p) for p in m.group(1).split("."))


def _version_ok(version: str, spec: str) -> bool:
    have = _version_tuple(version)
    if have is None:
        return False
    for clause in spec.split(","):
        m = re.match(r"\s*(>=|<=|!=|>|<|=|~>)?\s*(\S+)\s*$", clause)
        if not m:
            return False
        op, want_text = m.group(1) or "=", m.group(2)
        want = _version_tuple(want_text)
        if want is None:
            return False
        n = max(len(have), len(want))
        h, w = have + (0,) * (n - len(have)), want + (0,) * (n - len(want))
        if op == "~>":
            upper = (*want[:-2], want[-2] + 1) if len(want) > 1 else (want[0] + 1,)
            u = upper + (0,) * (n - len(upper))
            if not (h >= w and h < u):
                return False
        elif not {"=": h == w, "!=": h != w, ">": h > w, ">=": h >= w, "<": h < w, "<=": h <= w}[op]:
            return False
    return True


def check(op: str, lval: str | None, lfound: bool, rval: str | None, rfound: bool) -> bool:
    """Nomad's ``checkConstraint`` for one operand."""
    if op in ("=", "==", "is"):
        return lfound and rfound and lval == rval
    if op in ("!=", "not"):
        return lval != rval
    if op == "is_set":
        return lfound
    if op == "is_not_set":
        return not lfound
    if not (lfound and rfound) or lval is None or rval is None:
        return False
    if op in ("<", "<=", ">", ">="):
        return _order(op, lval, rval)
    if op == "regexp":
        rx = _regex(rval)
        return rx is not None and rx.search(lval) is not None
    if op in ("set_contains", "set_contains_all", "set_contains_any"):
        have = {p.strip() for p in lval.split(",")}
        want = {p.strip() for p in rval.split(",")}
        return bool(have & want) if op == "set_contains_any" else want <= have
    if op in ("version", "semver"):
        return _version_ok(lval, rval)
    return False


def constraint_ok(c: Constraint, node: Node) -> bool:
    lval, lfound = resolve(c.ltarget, node)
    rval, rfound = resolve(c.rtarget, node)
    return check(c.operand, lval, lfound, rval, rfound)


# ---------------------------------------------------------------------------------------------
# Devices


def _device_matches(req: DeviceRequest, node: Node) -> bool:
    spec = node.spec
    if not spec.gpus:
        return False
    parts = req.name.split("/")
    vendor, dtype, name = spec.gpu_vendor, "gpu", spec.gpu_name
    if len(parts) == 1:
        ok = parts[0] == dtype
    elif len(parts) == 2:
        ok = parts[0] == vendor and parts[1] == dtype
    else:
        ok = parts[0] == vendor and parts[1] == dtype and "/".join(parts[2:]) == name
    if not ok:
        return False
    for c in req.constraints:
        lval, lfound = _device_target(c.ltarget, node)
        rval, rfound = _device_target(c.rtarget, node)
        if c.ltarget.startswith("${device.attr.memory}") or c.rtarget.startswith("${device.attr.memory}"):
            lval, rval = _mib(lval), _mib(rval)
        if not check(c.operand, lval, lfound, rval, rfound):
            return False
    return True


def _device_target(target: str, node: Node) -> tuple[str | None, bool]:
    spec = node.spec
    table = {
        "${device.vendor}": spec.gpu_vendor,
        "${device.type}": "gpu",
        "${device.model}": spec.gpu_name,
        "${device.attr.memory}": "40960 MiB" if spec.gpu_vendor == "nvidia" else "32768 MiB",
    }
    if target in table:
        return table[target], True
    if target.startswith("${"):
        return resolve(target, node)
    return target, True


def _mib(value: str | None) -> str | None:
    if value is None:
        return None
    m = re.match(r"\s*([\d.]+)\s*([KMGT]i?B)?\s*$", value)
    if not m:
        return value
    scale = {
        None: 1,
        "MiB": 1,
        "MB": 1,
        "GiB": 1024,
        "GB": 1024,
        "TiB": 1024**2,
        "TB": 1024**2,
        "KiB": 1 / 1024,
        "KB": 1 / 1024,
    }
    return str(float(m.group(1)) * scale.get(m.group(2), 1))


# ---------------------------------------------------------------------------------------------
# The placer


@dataclass(slots=True)
class Metric:
    """An ``AllocationMetric`` being accumulated."""

    evaluated: int = 0
    filtered: int = 0
    exhausted: int = 0
    class_filtered: Counter[str] = field(default_factory=Counter)
    constraint_filtered: Counter[str] = field(default_factory=Counter)
    class_exhausted: Counter[str] = field(default_factory=Counter)
    dimension_exhausted: Counter[str] = field(default_factory=Counter)

    def filter(self, node: Node, reason: str) -> None:
        self.filtered += 1
        if node.spec.node_class:
            self.class_filtered[node.spec.node_class] += 1
        if reason:
            self.constraint_filtered[reason] += 1

    def exhaust(self, node: Node, dimension: str) -> None:
        self.exhausted += 1
        if node.spec.node_class:
            self.class_exhausted[node.spec.node_class] += 1
        if dimension:
            self.dimension_exhausted[dimension] += 1

    def to_json(
        self, pool: str, in_pool: int, by_dc: Mapping[str, int], coalesced: int = 0
    ) -> dict[str, Any]:
        return {
            "NodesEvaluated": self.evaluated,
            "NodesFiltered": self.filtered,
            "NodesInPool": in_pool,
            "NodePool": pool,
            "NodesAvailable": dict(by_dc),
            "ClassFiltered": dict(self.class_filtered) or None,
            "ConstraintFiltered": dict(self.constraint_filtered) or None,
            "NodesExhausted": self.exhausted,
            "ClassExhausted": dict(self.class_exhausted) or None,
            "DimensionExhausted": dict(self.dimension_exhausted) or None,
            "QuotaExhausted": None,
            "ResourcesExhausted": None,
            "Scores": None,
            "ScoreMetaData": None,
            "AllocationTime": 0,
            "CoalescedFailures": coalesced,
        }


@dataclass(frozen=True, slots=True)
class Placement:
    node: Node
    ports: tuple[tuple[str, int], ...]
    devices: tuple[tuple[int, str, tuple[str, ...]], ...]
    claim: Claim
    metric: dict[str, Any]


def dc_matches(dc: str, patterns: Sequence[str]) -> bool:
    return any(fnmatch.fnmatchcase(dc, p) for p in patterns)


class Placer:
    """Places the allocations of one evaluation of one job."""

    def __init__(self, job: JobSpec, nodes: Iterable[Node], overlay: Overlay, rng: random.Random) -> None:
        self.job = job
        self.overlay = overlay
        self.rng = rng
        ready: list[Node] = []
        self.by_dc: Counter[str] = Counter()
        for n in nodes:
            if job.pool not in ("all", "") and n.spec.pool != job.pool:
                continue
            if not n.ready:
                continue
            if dc_matches(n.spec.datacenter, job.datacenters):
                ready.append(n)
                self.by_dc[n.spec.datacenter] += 1
        rng.shuffle(ready)
        self.nodes = ready
        self._offset = 0
        self._static: dict[str, list[str | None]] = {}

    def _static_reason(self, group: GroupSpec, node: Node) -> str | None:
        """Why ``node`` can never take ``group`` (None when it can); cached per group."""
        for i, c in enumerate(group.constraints):
            if i == group.n_job_constraints:
                reason = self._drivers(group, node)
                if reason:
                    return reason
            if not constraint_ok(c, node):
                return c.text
        if len(group.constraints) <= group.n_job_constraints:
            reason = self._drivers(group, node)
            if reason:
                return reason
        for _, req in group.devices:
            if not _device_matches(req, node):
                return "missing devices"
        return None

    @staticmethod
    def _drivers(group: GroupSpec, node: Node) -> str | None:
        for d in group.drivers:
            if d not in node.spec.drivers:
                return "missing drivers"
        return None

    def _reasons(self, group: GroupSpec) -> list[str | None]:
        cached = self._static.get(group.name)
        if cached is None:
            cached = self._static[group.name] = [self._static_reason(group, n) for n in self.nodes]
        return cached

    def _dynamic_reason(self, group: GroupSpec, node: Node) -> str | None:
        ns, jid = self.job.namespace, self.job.id
        if group.distinct_hosts_job and self.overlay.job_count(node.id, ns, jid) > 0:
            return "distinct_hosts"
        if group.distinct_hosts_group and self.overlay.group_count(node.id, (ns, jid, group.name)) > 0:
            return "distinct_hosts"
        for prop, limit, _job_level in group.distinct_properties:
            value, found = resolve(prop, node)
            if not found:
                return f"missing property {prop!r}".replace("'", '"')
            if self._prop_count(prop, value or "", group) >= limit:
                return f"distinct_property: {prop}={value} used by {limit} allocs"
        return None

    def _prop_count(self, prop: str, value: str, group: GroupSpec) -> int:
        count = 0
        ns, jid = self.job.namespace, self.job.id
        for n in self.nodes:
            v, found = resolve(prop, n)
            if found and v == value:
                count += self.overlay.group_count(n.id, (ns, jid, group.name))
        return count

    def _fit(self, group: GroupSpec, node: Node) -> tuple[str | None, float]:
        """Exhausted dimension (None when it fits) and the bin-packing score after placement."""
        cpu, mem, disk = self.overlay.totals(node.id)
        spec = node.spec
        if cpu + group.cpu > spec.cpu_mhz:
            return "cpu", 0.0
        if mem + group.memory_mb > spec.memory_mb:
            return "memory", 0.0
        if disk + group.disk_mb > spec.disk_mb:
            return "disk", 0.0
        if group.devices:
            need = sum(req.count for _, req in group.devices)
            free = len(node.gpu_ids) - len(self.overlay.used_gpus(node.id))
            if need > free:
                return "devices: no devices match request", 0.0
        if group.reserved_ports:
            used = self.overlay.used_ports(node.id)
            if any(v in used for _, v in group.reserved_ports):
                return "network: reserved port collision", 0.0
        score = ((cpu + group.cpu) / spec.cpu_mhz + (mem + group.memory_mb) / spec.memory_mb) / 2
        return None, score

    def place(self, group: GroupSpec, avoid: frozenset[str] = frozenset()) -> Placement | None:
        """Choose a node for one allocation of ``group`` (avoiding ``avoid`` when possible)."""
        reasons = self._reasons(group)
        n = len(self.nodes)
        best: tuple[float, Node] | None = None
        found = 0
        fallback: Node | None = None
        evaluated = 0
        for step in range(n):
            i = (self._offset + step) % n
            if reasons[i] is not None:
                continue
            node = self.nodes[i]
            evaluated += 1
            if self._dynamic_reason(group, node) is not None:
                continue
            dim, score = self._fit(group, node)
            if dim is not None:
                continue
            if node.id in avoid:
                fallback = fallback or node
                continue
            found += 1
            if best is None or score > best[0]:
                best = (score, node)
            if found >= LIMIT:
                self._offset = (i + 1) % n
                break
        else:
            self._offset = (self._offset + 1) % n if n else 0
        chosen = best[1] if best else fallback
        if chosen is None:
            return None
        return self._claim(group, chosen, evaluated, best[0] if best else 0.0)

    def _claim(self, group: GroupSpec, node: Node, evaluated: int, score: float) -> Placement:
        used_gpus = self.overlay.used_gpus(node.id)
        free_gpus = [g for g in node.gpu_ids if g not in used_gpus]
        devices = []
        taken: list[str] = []
        for ti, req in group.devices:
            ids = tuple(free_gpus[: req.count])
            free_gpus = free_gpus[req.count :]
            taken.extend(ids)
            devices.append((ti, f"{node.spec.gpu_vendor}/gpu/{node.spec.gpu_name}", ids))
        ports: list[tuple[str, int]] = list(group.reserved_ports)
        if group.dynamic_ports:
            used = self.overlay.used_ports(node.id) | {v for _, v in ports}
            for label in group.dynamic_ports:
                port = self.rng.randint(MIN_DYNAMIC_PORT, MAX_DYNAMIC_PORT)
                while port in used:
                    port = self.rng.randint(MIN_DYNAMIC_PORT, MAX_DYNAMIC_PORT)
                used.add(port)
                ports.append((label, port))
        claim = Claim(
            node_id=node.id,
            namespace=self.job.namespace,
            job_id=self.job.id,
            group=group.name,
            cpu=group.cpu,
            memory_mb=group.memory_mb,
            disk_mb=group.disk_mb,
            gpus=tuple(taken),
            ports=tuple(v for _, v in ports),
        )
        self.overlay.add(claim)
        metric = Metric(evaluated=evaluated).to_json(self.job.pool, len(self.nodes), self.by_dc)
        metric["Scores"] = {f"{node.id}.binpack": round(score, 6)}
        return Placement(node=node, ports=tuple(ports), devices=tuple(devices), claim=claim, metric=metric)

    def explain(self, group: GroupSpec, coalesced: int) -> dict[str, Any]:
        """The ``AllocationMetric`` of a placement that found no node (every candidate visited)."""
        m = Metric()
        reasons = self._reasons(group)
        for i, node in enumerate(self.nodes):
            m.evaluated += 1
            reason = reasons[i] or self._dynamic_reason(group, node)
            if reason is not None:
                m.filter(node, reason)
                continue
            dim, _ = self._fit(group, node)
            if dim is not None:
                m.exhaust(node, dim)
        return m.to_json(self.job.pool, len(self.nodes), self.by_dc, coalesced)
