"""The Consul HTTP API of the farm: KV, sessions, catalog, health, status, agent/self.

Reads carry ``X-Consul-Index``, ``X-Consul-KnownLeader`` and ``X-Consul-LastContact`` (404 KV
reads too, as Consul does) and block on ``?index=&wait=``. Request bodies are decoded
case-insensitively (py-consul sends ``{"ttl": "15s", "behavior": ...}``).
"""

from __future__ import annotations

import re
from typing import Any

from nomadctl import durations
from nomadctl.sim import wire
from nomadctl.sim.consul import ConsulState, kv_json
from nomadctl.sim.http import Request, Response, Router
from nomadctl.sim.state import wait_seconds

HTTPError = wire.HTTPError
MAX_KV_VALUE = 512 * 1024


def _meta(index: int) -> dict[str, str]:
    return {
        "X-Consul-Index": str(max(index, 1)),
        "X-Consul-KnownLeader": "true",
        "X-Consul-LastContact": "0",
        "X-Consul-Effective-Consistency": "leader",
    }


class ConsulAPI:
    def __init__(self, consul: ConsulState) -> None:
        self.c = consul

    def router(self) -> Router:
        r = Router()
        r.add("GET", r"/v1/agent/self", lambda req, m: Response.json(self.c.agent_self()))
        r.add("GET", r"/v1/status/leader", lambda req, m: Response.json("127.0.0.1:8300"))
        r.add("GET", r"/v1/status/peers", lambda req, m: Response.json(["127.0.0.1:8300"]))
        r.add("GET", r"/v1/catalog/datacenters", lambda req, m: Response.json([self.c.datacenter]))
        r.add("GET PUT DELETE", r"/v1/kv/?(?P<key>.*)", self.kv)
        r.add("PUT", r"/v1/session/create", self.session_create)
        r.add("PUT", r"/v1/session/renew/(?P<id>[^/]+)", self.session_renew)
        r.add("PUT", r"/v1/session/destroy/(?P<id>[^/]+)", self.session_destroy)
        r.add("GET", r"/v1/session/info/(?P<id>[^/]+)", self.session_info)
        r.add("GET", r"/v1/session/list", self.session_list)
        r.add("GET", r"/v1/session/node/(?P<node>[^/]+)", self.session_list)
        r.add("GET", r"/v1/catalog/services", self.catalog_services)
        r.add("GET", r"/v1/catalog/service/(?P<name>[^/]+)", self.catalog_service)
        r.add("GET", r"/v1/catalog/nodes", self.catalog_nodes)
        r.add("GET", r"/v1/health/service/(?P<name>[^/]+)", self.health_service)
        r.add("GET", r"/v1/health/checks/(?P<name>[^/]+)", self.health_checks)
        r.add("GET", r"/v1/health/node/(?P<node>[^/]+)", self.health_node)
        return r

    def _block(self, req: Request, table: Any, watched: Any) -> None:
        idx = req.q("index")
        if idx is None:
            return
        try:
            min_index = int(idx)
        except ValueError:
            raise HTTPError(400, "Invalid index") from None
        try:
            wait = wait_seconds(req.q("wait"), self.c.store.rng)
        except ValueError:
            raise HTTPError(400, "Invalid wait time") from None
        self.c.store.block(min_index, table, watched, wait)

    @staticmethod
    def _int_param(req: Request, name: str) -> int | None:
        v = req.q(name)
        if v is None:
            return None
        try:
            return int(v)
        except ValueError:
            raise HTTPError(400, f"Invalid {name} value: {v!r}") from None

    # -- KV --------------------------------------------------------------------------------------

    def kv(self, req: Request, m: re.Match[str]) -> Response:
        key = m["key"]
        if req.method == "GET":
            return self._kv_get(req, key)
        if req.method == "DELETE":
            recurse = req.has("recurse")
            if not key and not recurse:
                raise HTTPError(400, "Missing key name")
            ok = self.c.kv_delete(key, recurse=recurse, cas=self._int_param(req, "cas"))
            return Response.json(ok, {"X-Consul-Index": str(self.c.index)})
        if not key:
            raise HTTPError(400, "Missing key name")
        if len(req.body) > MAX_KV_VALUE:
            raise HTTPError(
                413, f"Request body({len(req.body)} bytes) too large, max size: {MAX_KV_VALUE} bytes"
            )
        flags = self._int_param(req, "flags") or 0
        cas = self._int_param(req, "cas")
        acquire = req.q("acquire")
        release = req.q("release")
        if acquire is not None and release is not None:
            raise HTTPError(400, "Conflicting flags: acquire=true&release=true")
        ok = self.c.kv_put(key, req.body, flags=flags, cas=cas, acquire=acquire, release=release)
        return Response.json(ok, {"X-Consul-Index": str(self.c.index)})

    def _kv_get(self, req: Request, key: str) -> Response:
        recurse = req.has("recurse")
        keys = req.has("keys")
        raw = req.has("raw")
        with self.c.lock:
            self._block(req, lambda: self.c.table_index("kvs"), lambda: self.c.kv_watch(key, recurse or keys))
            index = self.c.table_index("kvs")
            if keys:
                listed = self.c.kv_keys(key, req.q("separator") or "")
                if not listed:
                    return Response(404, _meta(index), b"")
                return Response.json(listed, _meta(index))
            entries = self.c.kv_get(key, recurse=recurse)
        if not entries:
            return Response(404, _meta(index), b"")
        if raw and not recurse:
            return Response(
                200, {**_meta(index), "Content-Type": "application/octet-stream"}, entries[0].value or b""
            )
        return Response.text_json(kv_json(entries), _meta(index))

    # -- sessions --------------------------------------------------------------------------------

    def session_create(self, req: Request, m: re.Match[str]) -> Response:
        body = req.json() or {}
        if not isinstance(body, dict):
            raise HTTPError(400, "Request decode failed: expected an object")
        fields = wire.fold(
            body, ("Name", "Node", "LockDelay", "Behavior", "TTL", "Checks", "NodeChecks", "ServiceChecks")
        )
        ttl = fields.get("TTL") or ""
        ttl_s = 0.0
        if ttl:
            try:
                ttl_s = durations.parse_ns(str(ttl)) / 1e9
            except ValueError:
                raise HTTPError(
                    400, f"Request decode failed: time: invalid duration {ttl!r}".replace("'", '"')
                ) from None
            if not 10 <= ttl_s <= 86400:
                raise HTTPError(
                    400, f"Invalid Session TTL '{int(ttl_s * 1e9)}', must be between [10s=24h0m0s]"
                )
        lock_delay = fields.get("LockDelay")
        if lock_delay is None:
            delay_ns = 15 * 1_000_000_000
        elif isinstance(lock_delay, (int, float)):
            delay_ns = int(lock_delay) if lock_delay > 1_000_000 else int(lock_delay * 1e9)
        else:
            try:
                delay_ns = durations.parse_ns(str(lock_delay))
            except ValueError:
                raise HTTPError(
                    400, f"Request decode failed: time: invalid duration {lock_delay!r}"
                ) from None
        behavior = fields.get("Behavior") or "release"
        if behavior not in ("release", "delete"):
            raise HTTPError(400, f"Invalid Behavior setting '{behavior}'")
        checks = fields.get("NodeChecks")
        if checks is None:
            checks = fields.get("Checks")
        service_checks = [
            c.get("ID") if isinstance(c, dict) else str(c) for c in fields.get("ServiceChecks") or []
        ]
        with self.c.lock:
            sid = self.c.session_create(
                name=str(fields.get("Name") or ""),
                node=str(fields.get("Node") or ""),
                lock_delay_ns=delay_ns,
                behavior=behavior,
                ttl=str(ttl),
                ttl_s=ttl_s,
                node_checks=list(checks) if checks is not None else None,
                service_checks=[c for c in service_checks if c],
            )
        return Response.json({"ID": sid}, {"X-Consul-Index": str(self.c.index)})

    def session_renew(self, req: Request, m: re.Match[str]) -> Response:
        with self.c.lock:
            s = self.c.sessions.get(m["id"])
            if s is None:
                raise HTTPError(404, f"Session id '{m['id']}' not found")
            ttl_s = durations.parse_ns(s.ttl) / 1e9 if s.ttl else 0.0
            s2 = self.c.session_renew(m["id"], ttl_s)
            assert s2 is not None
            return Response.json([s2.to_json()], _meta(self.c.table_index("sessions")))

    def session_destroy(self, req: Request, m: re.Match[str]) -> Response:
        with self.c.lock:
            self.c.session_destroy(m["id"])
        return Response.json(True, {"X-Consul-Index": str(self.c.index)})

    def session_info(self, req: Request, m: re.Match[str]) -> Response:
        with self.c.lock:
            self._block(req, lambda: self.c.table_index("sessions"), lambda: self.c.table_index("sessions"))
            s = self.c.sessions.get(m["id"])
            index = self.c.table_index("sessions")
            out = [s.to_json()] if s is not None else None
        return Response.json(out, _meta(index))

    def session_list(self, req: Request, m: re.Match[str]) -> Response:
        node = m.groupdict().get("node")
        with self.c.lock:
            self._block(req, lambda: self.c.table_index("sessions"), lambda: self.c.table_index("sessions"))
            out = [s.to_json() for s in self.c.sessions.values() if node is None or s.node == node]
            index = self.c.table_index("sessions")
        return Response.json(out, _meta(index))

    # -- catalog and health ----------------------------------------------------------------------

    def catalog_services(self, req: Request, m: re.Match[str]) -> Response:
        with self.c.lock:
            self._block(req, lambda: self.c.table_index("services"), lambda: self.c.table_index("services"))
            out: dict[str, list[str]] = {}
            for s in self.c.services.values():
                tags = out.setdefault(s.name, [])
                for t in s.tags:
                    if t not in tags:
                        tags.append(t)
            index = self.c.table_index("services")
        return Response.json({k: sorted(v) for k, v in sorted(out.items())}, _meta(index))

    def _service_index(self, name: str) -> int:
        return self.c.service_index.get(name) or self.c.table_index("services", "checks")

    def catalog_service(self, req: Request, m: re.Match[str]) -> Response:
        name = m["name"]
        tags = req.query.get("tag", [])
        with self.c.lock:
            self._block(req, lambda: self._service_index(name), lambda: self.c.service_watch(name))
            out = [self.c.catalog_entry(s) for s in self.c.service_entries(name, tags)]
            index = self._service_index(name)
        return Response.json(out, _meta(index))

    def catalog_nodes(self, req: Request, m: re.Match[str]) -> Response:
        with self.c.lock:
            self._block(req, lambda: self.c.table_index("nodes"), lambda: self.c.table_index("nodes"))
            out = []
            for n in sorted(self.c.nodes.values(), key=lambda n: n.name):
                j = n.to_json()
                out.append({**j, "TaggedAddresses": j["TaggedAddresses"]})
            index = self.c.table_index("nodes")
        return Response.json(out, _meta(index))

    def health_service(self, req: Request, m: re.Match[str]) -> Response:
        name = m["name"]
        tags = req.query.get("tag", [])
        passing_only = req.flag("passing") if req.has("passing") else False
        with self.c.lock:
            self._block(req, lambda: self._service_index(name), lambda: self.c.service_watch(name))
            out = []
            for s in self.c.service_entries(name, tags):
                entry, passing = self.c.health_entry(s)
                if passing_only and not passing:
                    continue
                out.append(entry)
            index = self._service_index(name)
        return Response.json(out, _meta(index))

    def health_checks(self, req: Request, m: re.Match[str]) -> Response:
        name = m["name"]
        with self.c.lock:
            self._block(req, lambda: self._service_index(name), lambda: self.c.service_watch(name))
            out = [c.to_json() for c in self.c.checks.values() if c.service_name == name]
            index = self._service_index(name)
        return Response.json(out, _meta(index))

    def health_node(self, req: Request, m: re.Match[str]) -> Response:
        node = m["node"]
        with self.c.lock:
            self._block(req, lambda: self.c.table_index("checks"), lambda: self.c.table_index("checks"))
            out = [c.to_json() for c in self.c.checks.values() if c.node == node]
            index = self.c.table_index("checks")
        return Response.json(out, _meta(index))
