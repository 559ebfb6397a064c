"""The Consul side of the farm: KV with check-and-set and locks, sessions, catalog and health.

Semantics follow Consul's state store: every write takes the next Consul index; a KV read
answers with the KV table's index (deletes included) and a blocking read returns when *its* key or
prefix changes; ``?acquire`` takes a lock for a live session (``LockIndex`` counts acquisitions),
``?release`` gives it back, a session invalidated by destroy, TTL expiry (Consul expires at up to
2 x TTL, so the farm does exactly that) or a failing node check releases or deletes its keys and
blocks re-acquisition for ``LockDelay``. Services registered by allocations carry the node's
``serfHealth`` check plus their own checks; ``?passing`` keeps entries whose checks all pass.
"""

from __future__ import annotations

import base64
import bisect
import contextlib
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from nomadctl.sim import wire
from nomadctl.sim.state import Store

CONSUL_VERSION = "1.22.0"
AGENT_NODE = "sim-consul"
SERF_CHECK = "serfHealth"


ConsulError = wire.HTTPError


@dataclass(frozen=True, slots=True)
class KVEntry:
    key: str
    value: bytes | None
    flags: int
    session: str
    lock_index: int
    create_index: int
    modify_index: int

    def to_json(self) -> dict[str, Any]:
        return {
            "LockIndex": self.lock_index,
            "Key": self.key,
            "Flags": self.flags,
            "Value": base64.b64encode(self.value).decode() if self.value is not None else None,
            "Session": self.session or None,
            "CreateIndex": self.create_index,
            "ModifyIndex": self.modify_index,
        }


@dataclass(frozen=True, slots=True)
class Session:
    id: str
    name: str
    node: str
    lock_delay_ns: int
    behavior: str
    ttl: str
    node_checks: tuple[str, ...]
    service_checks: tuple[str, ...]
    create_index: int
    modify_index: int

    def to_json(self) -> dict[str, Any]:
        return {
            "ID": self.id,
            "Name": self.name,
            "Node": self.node,
            "LockDelay": self.lock_delay_ns,
            "Behavior": self.behavior,
            "TTL": self.ttl,
            "NodeChecks": list(self.node_checks) or None,
            "ServiceChecks": [{"ID": c, "Namespace": ""} for c in self.service_checks] or None,
            "CreateIndex": self.create_index,
            "ModifyIndex": self.modify_index,
        }


@dataclass(frozen=True, slots=True)
class CNode:
    id: str
    name: str
    address: str
    datacenter: str
    create_index: int
    modify_index: int

    def to_json(self) -> dict[str, Any]:
        return {
            "ID": self.id,
            "Node": self.name,
            "Address": self.address,
            "Datacenter": self.datacenter,
            "TaggedAddresses": _tagged(self.address),
            "Meta": {"consul-network-segment": "", "consul-version": CONSUL_VERSION},
            "CreateIndex": self.create_index,
            "ModifyIndex": self.modify_index,
        }


@dataclass(frozen=True, slots=True)
class Service:
    node: str
    id: str
    name: str
    tags: tuple[str, ...]
    meta: Mapping[str, str]
    address: str
    port: int
    create_index: int
    modify_index: int

    def to_json(self) -> dict[str, Any]:
        return {
            "ID": self.id,
            "Service": self.name,
            "Tags": list(self.tags),
            "Address": self.address,
            "TaggedAddresses": {
                "lan_ipv4": {"Address": self.address, "Port": self.port},
                "wan_ipv4": {"Address": self.address, "Port": self.port},
            },
            "Meta": dict(self.meta),
            "Port": self.port,
            "Weights": {"Passing": 1, "Warning": 1},
            "EnableTagOverride": False,
            "Proxy": {"Mode": "", "MeshGateway": {}, "Expose": {}},
            "Connect": {},
            "PeerName": "",
            "CreateIndex": self.create_index,
            "ModifyIndex": self.modify_index,
        }


@dataclass(frozen=True, slots=True)
class Check:
    node: str
    check_id: str
    name: str
    status: str
    output: str
    service_id: str
    service_name: str
    service_tags: tuple[str, ...]
    type: str
    interval: str
    timeout: str
    create_index: int
    modify_index: int
    notes: str = ""
    definition: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "Node": self.node,
            "CheckID": self.check_id,
            "Name": self.name,
            "Status": self.status,
            "Notes": self.notes,
            "Output": self.output,
            "ServiceID": self.service_id,
            "ServiceName": self.service_name,
            "ServiceTags": list(self.service_tags),
            "Type": self.type,
            "Interval": self.interval,
            "Timeout": self.timeout,
            "ExposedPort": 0,
            "Definition": dict(self.definition),
            "CreateIndex": self.create_index,
            "ModifyIndex": self.modify_index,
        }


def _tagged(address: str) -> dict[str, str]:
    return {"lan": address, "lan_ipv4": address, "wan": address, "wan_ipv4": address}


@dataclass(frozen=True, slots=True)
class CheckDef:
    """A check an allocation registers with its service."""

    check_id: str
    name: str
    type: str
    interval: str
    timeout: str
    status: str
    output: str


class ConsulState:
    """Consul's tables. Shares the farm store's lock and condition; has its own index."""

    def __init__(
        self,
        store: Store,
        *,
        datacenter: str,
        monotonic: Callable[[], float],
        schedule: Callable[[float, Callable[[], None]], None],
        new_id: Callable[[], str],
    ) -> None:
        self.store = store
        self.lock = store.lock
        self.cond = store.cond
        self.datacenter = datacenter
        self.monotonic = monotonic
        self.schedule = schedule
        self.new_id = new_id
        self.index = 0
        self.tables: dict[str, int] = {}
        self.kv: dict[str, KVEntry] = {}
        self.kv_changes: dict[str, int] = {}
        self._change_keys: list[str] = []
        self.lock_delay: dict[str, float] = {}
        self.sessions: dict[str, Session] = {}
        self.session_deadline: dict[str, float] = {}
        self.nodes: dict[str, CNode] = {}
        self.services: dict[str, Service] = {}
        self.checks: dict[str, Check] = {}
        self.service_index: dict[str, int] = {}
        self._pending: int | None = None
        self._depth = 0
        self._dirty: set[str] = set()
        self.register_node(AGENT_NODE, "127.0.0.1")
        with self.write() as idx:
            self.services["consul"] = Service(
                AGENT_NODE, "consul", "consul", (), {}, "127.0.0.1", 8300, idx, idx
            )
            self.service_index["consul"] = idx
            self._dirty.add("services")

    # -- index bookkeeping ---------------------------------------------------------------------

    @contextlib.contextmanager
    def write(self) -> Iterator[int]:
        """One Consul raft apply (nested writes share it); yields its index."""
        with self.lock:
            if self._pending is None:
                self._pending = self.index + 1
            self._depth += 1
            try:
                yield self._pending
            finally:
                self._depth -= 1
                if self._depth == 0:
                    idx, self._pending = self._pending, None
                    if self._dirty:
                        self.index = idx
                        for t in self._dirty:
                            self.tables[t] = idx
                        self._dirty.clear()
                        self.cond.notify_all()

    def table_index(self, *tables: str) -> int:
        return max([self.tables.get(t, 0) for t in tables] + [1])

    def _kv_changed(self, key: str, idx: int) -> None:
        if key not in self.kv_changes:
            bisect.insort(self._change_keys, key)
        self.kv_changes[key] = idx
        self._dirty.add("kvs")

    def kv_watch(self, key: str, prefix: bool) -> int:
        if not prefix:
            return self.kv_changes.get(key, 0)
        best = 0
        i = bisect.bisect_left(self._change_keys, key)
        while i < len(self._change_keys) and self._change_keys[i].startswith(key):
            best = max(best, self.kv_changes[self._change_keys[i]])
            i += 1
        return best

    # -- KV ------------------------------------------------------------------------------------

    def kv_get(self, key: str, *, recurse: bool) -> list[KVEntry]:
        if not recurse:
            e = self.kv.get(key)
            return [e] if e is not None else []
        i = bisect.bisect_left(self._change_keys, key)
        out = []
        while i < len(self._change_keys) and self._change_keys[i].startswith(key):
            e = self.kv.get(self._change_keys[i])
            if e is not None:
                out.append(e)
            i += 1
        return out

    def kv_keys(self, prefix: str, separator: str) -> list[str]:
        keys: list[str] = []
        seen: set[str] = set()
        for e in self.kv_get(prefix, recurse=True):
            k = e.key
            if separator:
                cut = k.find(separator, len(prefix))
                if cut >= 0:
                    k = k[: cut + len(separator)]
            if k not in seen:
                seen.add(k)
                keys.append(k)
        return keys

    def kv_put(
        self,
        key: str,
        value: bytes,
        *,
        flags: int = 0,
        cas: int | None = None,
        acquire: str | None = None,
        release: str | None = None,
    ) -> bool:
        with self.write() as idx:
            cur = self.kv.get(key)
            if cas is not None:
                if cas == 0 and cur is not None:
                    return False
                if cas != 0 and (cur is None or cur.modify_index != cas):
                    return False
            if acquire is not None:
                if acquire not in self.sessions:
                    raise ConsulError(500, f'invalid session "{acquire}"')
                if cur is not None and cur.session and cur.session != acquire:
                    return False
                if cur is None or cur.session != acquire:
                    until = self.lock_delay.get(key)
                    if until is not None and self.monotonic() < until:
                        return False
                    lock_index = (cur.lock_index if cur else 0) + 1
                else:
                    lock_index = cur.lock_index
                self.kv[key] = KVEntry(
                    key, value, flags, acquire, lock_index, cur.create_index if cur else idx, idx
                )
            elif release is not None:
                if cur is None or cur.session != release:
                    return False
                self.kv[key] = KVEntry(key, value, flags, "", cur.lock_index, cur.create_index, idx)
            else:
                self.kv[key] = KVEntry(
                    key,
                    value,
                    flags,
                    cur.session if cur else "",
                    cur.lock_index if cur else 0,
                    cur.create_index if cur else idx,
                    idx,
                )
            self._kv_changed(key, idx)
            return True

    def kv_delete(self, key: str, *, recurse: bool, cas: int | None) -> bool:
        with self.write() as idx:
            if recurse:
                for e in self.kv_get(key, recurse=True):
                    del self.kv[e.key]
                    self._kv_changed(e.key, idx)
                self._dirty.add("kvs")
                return True
            cur = self.kv.get(key)
            if cas is not None and (cur is None or cur.modify_index != cas):
                return cas == 0 and cur is None
            if cur is not None:
                del self.kv[key]
                self._kv_changed(key, idx)
            self._dirty.add("kvs")
            return True

    # -- sessions ------------------------------------------------------------------------------

    def session_create(
        self,
        *,
        name: str,
        node: str,
        lock_delay_ns: int,
        behavior: str,
        ttl: str,
        ttl_s: float,
        node_checks: Sequence[str] | None,
        service_checks: Sequence[str],
    ) -> str:
        node = node or AGENT_NODE
        if node not in self.nodes:
            raise ConsulError(
                500, f'Missing node registration: node "{node}" does not exist'.replace('"', '"')
            )
        checks = tuple(node_checks) if node_checks is not None else (SERF_CHECK,)
        for c in checks:
            chk = self.checks.get(_node_check_id(node, c))
            if chk is None:
                raise ConsulError(500, f'Missing check "{c}" registration')
            if chk.status == "critical":
                raise ConsulError(500, f'Check "{c}" is in critical state')
        sid = self.new_id()
        with self.write() as idx:
            self.sessions[sid] = Session(
                sid, name, node, lock_delay_ns, behavior, ttl, checks, tuple(service_checks), idx, idx
            )
            self._dirty.add("sessions")
        if ttl_s > 0:
            self._arm_ttl(sid, ttl_s)
        return sid

    def _arm_ttl(self, sid: str, ttl_s: float) -> None:
        deadline = self.monotonic() + 2 * ttl_s
        self.session_deadline[sid] = deadline

        def expire() -> None:
            if self.session_deadline.get(sid) == deadline:
                self.session_destroy(sid)

        self.schedule(2 * ttl_s, expire)

    def session_renew(self, sid: str, ttl_s: float) -> Session | None:
        s = self.sessions.get(sid)
        if s is None:
            return None
        if ttl_s > 0:
            self._arm_ttl(sid, ttl_s)
        return s

    def session_destroy(self, sid: str) -> None:
        """Invalidate a session: release (or delete) its locks, start their lock-delay."""
        s = self.sessions.get(sid)
        if s is None:
            return
        with self.write() as idx:
            del self.sessions[sid]
            self.session_deadline.pop(sid, None)
            self._dirty.add("sessions")
            for e in list(self.kv.values()):
                if e.session != sid:
                    continue
                if s.lock_delay_ns > 0:
                    self.lock_delay[e.key] = self.monotonic() + s.lock_delay_ns / 1e9
                if s.behavior == "delete":
                    del self.kv[e.key]
                else:
                    self.kv[e.key] = replace(e, session="", modify_index=idx)
                self._kv_changed(e.key, idx)

    # -- catalog and health --------------------------------------------------------------------

    def register_node(self, name: str, address: str) -> None:
        with self.write() as idx:
            node_id = str(uuid.UUID(int=self.store.rng.getrandbits(128), version=4))
            self.nodes[name] = CNode(node_id, name, address, self.datacenter, idx, idx)
            self.checks[_node_check_id(name, SERF_CHECK)] = Check(
                name,
                SERF_CHECK,
                "Serf Health Status",
                "passing",
                "Agent alive and reachable",
                "",
                "",
                (),
                "",
                "",
                "",
                idx,
                idx,
            )
            self._dirty.update(("nodes", "checks"))

    def set_node_health(self, name: str, alive: bool) -> None:
        """The node's ``serfHealth`` (Consul's failure detector); invalidates its sessions."""
        key = _node_check_id(name, SERF_CHECK)
        chk = self.checks.get(key)
        status = "passing" if alive else "critical"
        if chk is None or chk.status == status:
            return
        with self.write() as idx:
            output = "Agent alive and reachable" if alive else "Agent not live or unreachable"
            self.checks[key] = replace(chk, status=status, output=output, modify_index=idx)
            self._dirty.add("checks")
            for svc in self.services.values():
                if svc.node == name:
                    self.service_index[svc.name] = idx
            if not alive:
                for s in list(self.sessions.values()):
                    if s.node == name and SERF_CHECK in s.node_checks:
                        self.session_destroy(s.id)

    def register_service(
        self,
        node: str,
        service_id: str,
        *,
        name: str,
        tags: Sequence[str],
        meta: Mapping[str, str],
        address: str,
        port: int,
        checks: Sequence[CheckDef],
    ) -> None:
        with self.write() as idx:
            self.services[service_id] = Service(
                node, service_id, name, tuple(tags), dict(meta), address, port, idx, idx
            )
            for c in checks:
                self.checks[c.check_id] = Check(
                    node,
                    c.check_id,
                    c.name,
                    c.status,
                    c.output,
                    service_id,
                    name,
                    tuple(tags),
                    c.type,
                    c.interval,
                    c.timeout,
                    idx,
                    idx,
                )
            self.service_index[name] = idx
            self._dirty.update(("services", "checks"))

    def set_check(self, check_id: str, status: str, output: str) -> None:
        chk = self.checks.get(check_id)
        if chk is None or (chk.status == status and chk.output == output):
            return
        with self.write() as idx:
            self.checks[check_id] = replace(chk, status=status, output=output, modify_index=idx)
            self.service_index[chk.service_name] = idx
            self._dirty.add("checks")

    def deregister_service(self, service_id: str) -> None:
        svc = self.services.get(service_id)
        if svc is None:
            return
        with self.write() as idx:
            del self.services[service_id]
            for cid in [cid for cid, c in self.checks.items() if c.service_id == service_id]:
                del self.checks[cid]
            self.service_index[svc.name] = idx
            self._dirty.update(("services", "checks"))

    def service_watch(self, name: str) -> int:
        return self.service_index.get(name, 0)

    def service_entries(self, name: str, tags: Sequence[str]) -> list[Service]:
        out = [s for s in self.services.values() if s.name == name and all(t in s.tags for t in tags)]
        out.sort(key=lambda s: (s.node, s.id))
        return out

    def checks_for(self, svc: Service) -> list[Check]:
        out = []
        node_chk = self.checks.get(_node_check_id(svc.node, SERF_CHECK))
        if node_chk is not None:
            out.append(node_chk)
        out.extend(c for c in self.checks.values() if c.service_id == svc.id)
        return out

    def catalog_entry(self, svc: Service) -> dict[str, Any]:
        node = self.nodes[svc.node]
        s = svc.to_json()
        return {
            "ID": node.id,
            "Node": node.name,
            "Address": node.address,
            "Datacenter": node.datacenter,
            "TaggedAddresses": _tagged(node.address),
            "NodeMeta": {"consul-network-segment": "", "consul-version": CONSUL_VERSION},
            "ServiceKind": "",
            "ServiceID": svc.id,
            "ServiceName": svc.name,
            "ServiceTags": s["Tags"],
            "ServiceAddress": svc.address,
            "ServiceTaggedAddresses": s["TaggedAddresses"],
            "ServiceWeights": s["Weights"],
            "ServiceMeta": s["Meta"],
            "ServicePort": svc.port,
            "ServiceSocketPath": "",
            "ServiceEnableTagOverride": False,
            "ServiceProxy": s["Proxy"],
            "ServiceConnect": {},
            "CreateIndex": svc.create_index,
            "ModifyIndex": svc.modify_index,
        }

    def health_entry(self, svc: Service) -> tuple[dict[str, Any], bool]:
        checks = self.checks_for(svc)
        passing = all(c.status == "passing" for c in checks)
        return (
            {
                "Node": self.nodes[svc.node].to_json(),
                "Service": svc.to_json(),
                "Checks": [c.to_json() for c in checks],
            },
            passing,
        )

    def agent_self(self) -> dict[str, Any]:
        node = self.nodes[AGENT_NODE]
        return {
            "Config": {
                "Datacenter": self.datacenter,
                "PrimaryDatacenter": self.datacenter,
                "NodeName": AGENT_NODE,
                "NodeID": node.id,
                "Revision": "sim",
                "Server": True,
                "Version": CONSUL_VERSION,
                "BuildDate": "2026-01-01T00:00:00Z",
            },
            "DebugConfig": {},
            "Coord": None,
            "Member": {
                "Name": AGENT_NODE,
                "Addr": "127.0.0.1",
                "Port": 8301,
                "Tags": {"dc": self.datacenter, "role": "consul", "build": CONSUL_VERSION, "vsn": "2"},
                "Status": 1,
            },
            "Stats": {},
            "Meta": {"consul-network-segment": "", "consul-version": CONSUL_VERSION},
            "xDS": None,
        }


def _node_check_id(node: str, check: str) -> str:
    return f"{node}\x00{check}"


def b64(value: bytes) -> str:
    return base64.b64encode(value).decode()


def kv_json(entries: Sequence[KVEntry]) -> str:
    return wire.dumps([e.to_json() for e in entries])
