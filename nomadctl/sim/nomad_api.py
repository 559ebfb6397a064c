"""The Nomad HTTP API of the farm (``command/agent/*_endpoint.go`` shapes and errors).

Reads take a snapshot under the farm's lock (blocking first when ``?index=`` asks for it) and
serialise outside it; writes go through the engine. Errors are Nomad's: plain text with its
status codes (``job not found`` 404 on reads, validation errors as go-multierror text with 500, decode
errors 400). ``X-Nomad-Index``, ``X-Nomad-KnownLeader`` and ``X-Nomad-LastContact`` accompany
every read. The ``/sim/v1`` admin API (fault injection) lives on the same port.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from nomadctl.sim import bexpr, model, wire
from nomadctl.sim import jobs as jobmod
from nomadctl.sim.errors import SimError
from nomadctl.sim.http import Request, Response, Router, StreamWriter
from nomadctl.sim.model import Alloc, JobRecord
from nomadctl.sim.nodes import NOMAD_VERSION, Node, NodeSpec, node_json, node_stub, parse_node_spec
from nomadctl.sim.state import BufferItem, Event, wait_seconds

if TYPE_CHECKING:
    from nomadctl.sim.engine import Engine

HTTPError = wire.HTTPError
NO_LEADER = "No cluster leader"


def _qmeta(index: int) -> dict[str, str]:
    return {"X-Nomad-Index": str(max(index, 1)), "X-Nomad-KnownLeader": "true", "X-Nomad-LastContact": "0"}


def _wmeta(index: int) -> dict[str, str]:
    return {"X-Nomad-Index": str(max(index, 1))}


class NomadAPI:
    """Route handlers; ``heartbeat_interval`` is the event-stream ``{}`` period."""

    def __init__(self, engine: Engine, heartbeat_interval: float) -> None:
        self.engine = engine
        self.store = engine.store
        self.heartbeat_interval = heartbeat_interval

    def router(self) -> Router:
        r = Router()
        r.add("GET", r"/v1/agent/self", self.agent_self)
        r.add("GET", r"/v1/status/leader", lambda req, m: Response.json("127.0.0.1:4647"))
        r.add("GET", r"/v1/status/peers", lambda req, m: Response.json(["127.0.0.1:4647"]))
        r.add("GET", r"/v1/regions", lambda req, m: Response.json(["global"]))
        r.add("GET", r"/v1/nodes", self.nodes)
        r.add("GET", r"/v1/node/(?P<id>[^/]+)", self.node)
        r.add("GET", r"/v1/node/(?P<id>[^/]+)/allocations", self.node_allocs)
        r.add("POST PUT", r"/v1/node/(?P<id>[^/]+)/drain", self.node_drain)
        r.add("POST PUT", r"/v1/node/(?P<id>[^/]+)/eligibility", self.node_eligibility)
        r.add("GET", r"/v1/jobs", self.jobs)
        r.add("POST PUT", r"/v1/jobs", lambda req, m: self.register(req, None))
        r.add(
            "POST PUT",
            r"/v1/jobs/parse",
            lambda req, m: Response.error(
                501, "sim: HCL parsing (/v1/jobs/parse) is not simulated; submit API-JSON"
            ),
        )
        r.add("POST PUT", r"/v1/validate/job", self.validate)
        r.add("GET POST PUT DELETE", r"/v1/job/(?P<rest>.+)", self.job_specific)
        r.add("GET", r"/v1/allocations", self.allocations)
        r.add("GET", r"/v1/allocation/(?P<id>[^/]+)", self.allocation)
        r.add("POST PUT", r"/v1/allocation/(?P<id>[^/]+)/stop", self.alloc_stop)
        r.add("GET", r"/v1/allocation/(?P<id>[^/]+)/checks", self.alloc_checks)
        r.add("POST PUT", r"/v1/client/allocation/(?P<id>[^/]+)/restart", self.alloc_restart)
        r.add("POST PUT", r"/v1/client/allocation/(?P<id>[^/]+)/signal", self.alloc_signal)
        r.add("GET", r"/v1/evaluations", self.evaluations)
        r.add("GET", r"/v1/evaluation/(?P<id>[^/]+)", self.evaluation)
        r.add("GET", r"/v1/evaluation/(?P<id>[^/]+)/allocations", self.eval_allocs)
        r.add("GET", r"/v1/deployments", self.deployments)
        r.add("GET", r"/v1/deployment/(?P<id>[^/]+)", self.deployment)
        r.add("GET", r"/v1/deployment/allocations/(?P<id>[^/]+)", self.deployment_allocs)
        r.add("GET", r"/v1/event/stream", self.event_stream)
        r.add("GET", r"/v1/scaling/policies", lambda req, m: Response.json([], _qmeta(self.store.index)))
        r.add("GET", r"/v1/services", lambda req, m: Response.json([], _qmeta(self.store.index)))
        r.add("GET", r"/v1/namespaces", self.namespaces)
        AdminAPI(self.engine).register(r)
        return r

    # -- helpers -----------------------------------------------------------------------------------

    def _block(self, req: Request, table: Callable[[], int], watched: Callable[[], int]) -> None:
        """Hold a blocking query (caller holds the lock); 400 on bad ``index``/``wait``."""
        idx = req.q("index")
        if idx is None:
            return
        try:
            min_index = int(idx)
        except ValueError:
            raise HTTPError(400, "Invalid index") from None
        try:
            wait = wait_seconds(req.q("wait"), self.store.rng)
        except ValueError:
            raise HTTPError(400, "Invalid wait time") from None
        self.store.block(min_index, table, watched, wait)

    @staticmethod
    def _ns(req: Request) -> str:
        return req.q("namespace") or "default"

    @staticmethod
    def _filter(req: Request) -> bexpr.Predicate | None:
        text = req.q("filter")
        if not text:
            return None
        try:
            return bexpr.compile_filter(text)
        except bexpr.FilterError as e:
            raise HTTPError(400, str(e)) from None

    @staticmethod
    def _paginate(req: Request, items: list[Any], key: Callable[[Any], str]) -> tuple[list[Any], str]:
        per_page = req.q("per_page")
        token = req.q("next_token") or ""
        if token:
            items = [i for i in items if key(i) >= token]
        if not per_page:
            return items, ""
        try:
            n = int(per_page)
        except ValueError:
            raise HTTPError(400, "failed to parse value of per_page") from None
        if n <= 0 or len(items) <= n:
            return items, ""
        return items[:n], key(items[n])

    def _body(self, req: Request) -> dict[str, Any]:
        obj = req.json()
        if obj is None:
            return {}
        if not isinstance(obj, dict):
            raise HTTPError(400, "json: cannot unmarshal array into Go value of type api.JobRegisterRequest")
        return obj

    def _decode_job(self, raw: Any, req: Request) -> dict[str, Any]:
        if raw is None:
            raise HTTPError(400, "Job must be specified")
        try:
            job = jobmod.decode(raw, "Job")
        except jobmod.DecodeError as e:
            raise HTTPError(400, str(e)) from None
        assert isinstance(job, dict)
        if not job.get("Namespace"):
            job["Namespace"] = self._ns(req)
        return job

    # -- agent -----------------------------------------------------------------------------------

    def agent_self(self, req: Request, m: re.Match[str]) -> Response:
        return Response.json(
            {
                "config": {
                    "Region": "global",
                    "Datacenter": "dc1",
                    "NodeName": "sim-server",
                    "Version": {
                        "Revision": "sim",
                        "Version": NOMAD_VERSION,
                        "VersionPrerelease": "",
                        "VersionMetadata": "",
                        "BuildDate": "2026-08-12T00:00:00Z",
                    },
                    "Server": {"Enabled": True, "EventBufferSize": self.store.events.size},
                    "Client": {"Enabled": False},
                    "ACL": {"Enabled": False},
                },
                "member": {
                    "Name": "sim-server.global",
                    "Addr": "127.0.0.1",
                    "Port": 4648,
                    "Tags": {"region": "global", "dc": "dc1", "role": "nomad", "build": NOMAD_VERSION},
                    "Status": "alive",
                },
                "stats": {"nomad": {"leader": "true", "server": "true", "known_regions": "1"}},
            }
        )

    def namespaces(self, req: Request, m: re.Match[str]) -> Response:
        with self.store.lock:
            names = {"default"} | {ns for ns, _ in self.store.jobs}
        return Response.json(
            [
                {"Name": n, "Description": "", "Quota": "", "Meta": None, "CreateIndex": 1, "ModifyIndex": 1}
                for n in sorted(names)
            ],
            _qmeta(self.store.index),
        )

    # -- nodes -----------------------------------------------------------------------------------

    def nodes(self, req: Request, m: re.Match[str]) -> Response:
        flt = self._filter(req)
        prefix = req.q("prefix") or ""
        with self.store.lock:
            self._block(req, lambda: self.store.table_index("nodes"), lambda: self.store.table_index("nodes"))
            nodes = sorted(self.store.nodes.values(), key=lambda n: n.id)
            index = self.store.table_index("nodes")
        now = self.engine.now_ns()
        stubs = [
            node_stub(n, resources=req.flag("resources"), os_attrs=req.flag("os"), now_ns=now)
            for n in nodes
            if n.id.startswith(prefix)
        ]
        if flt is not None:
            stubs = [s for s in stubs if flt(s)]
        stubs, token = self._paginate(req, stubs, lambda s: s["ID"])
        headers = _qmeta(index)
        if token:
            headers["X-Nomad-NextToken"] = token
        return Response.json(stubs, headers)

    def _node(self, node_id: str) -> Node:
        node = self.store.nodes.get(node_id)
        if node is None:
            raise HTTPError(404, "node not found")
        return node

    def node(self, req: Request, m: re.Match[str]) -> Response:
        node_id = m["id"]
        with self.store.lock:
            self._block(
                req,
                lambda: self.store.table_index("nodes"),
                lambda: self.store.watch_index(("node", node_id)),
            )
            node = self._node(node_id)
            index = self.store.table_index("nodes")
        return Response.json(node_json(node, self.engine.now_ns()), _qmeta(index))

    def node_allocs(self, req: Request, m: re.Match[str]) -> Response:
        node_id = m["id"]
        with self.store.lock:
            self._block(
                req,
                lambda: self.store.table_index("allocs"),
                lambda: self.store.watch_index(("node_allocs", node_id)),
            )
            triples = []
            for a in self.store.node_allocs(node_id):
                v = self.engine.version_of(a)
                triples.append((a, v.spec.group(a.task_group) if v else None, self._version_json(a, v)))
            index = self.store.table_index("allocs")
        parts = _join(model.alloc_json(a, g, job_json) for a, g, job_json in triples)
        return Response.pieces(parts, _qmeta(index))

    def _version_json(self, a: Alloc, v: Any) -> str | None:
        rec = self.store.jobs.get((a.namespace, a.job_id))
        if rec is not None and v is not None:
            return rec.version_json(v.version)
        if v is not None:
            return wire.dumps(dict(v.body))
        return None

    def node_drain(self, req: Request, m: re.Match[str]) -> Response:
        body = self._body(req)
        spec = wire.get_ci(body, "DrainSpec")
        resp = self.engine.drain_node(
            m["id"],
            spec if isinstance(spec, dict) else None,
            bool(wire.get_ci(body, "MarkEligible", False)),
            wire.get_ci(body, "Meta"),
        )
        return Response.json(resp, _wmeta(resp["Index"]))

    def node_eligibility(self, req: Request, m: re.Match[str]) -> Response:
        body = self._body(req)
        resp = self.engine.set_eligibility(m["id"], str(wire.get_ci(body, "Eligibility", "")))
        return Response.json(resp, _wmeta(resp["Index"]))

    # -- jobs ------------------------------------------------------------------------------------

    def _job_stub(self, rec: JobRecord, meta: bool) -> dict[str, Any]:
        v = rec.current
        body = v.body
        out = {
            "ID": rec.id,
            "ParentID": body.get("ParentID") or "",
            "Name": body.get("Name") or rec.id,
            "Namespace": rec.namespace,
            "Datacenters": body.get("Datacenters"),
            "NodePool": body.get("NodePool"),
            "Multiregion": None,
            "Type": body.get("Type"),
            "Priority": body.get("Priority"),
            "Periodic": bool(body.get("Periodic")),
            "ParameterizedJob": body.get("ParameterizedJob") is not None,
            "Stop": v.stop,
            "Status": rec.status,
            "StatusDescription": rec.status_description,
            "JobSummary": self.engine.job_summary(rec),
            "CreateIndex": rec.create_index,
            "ModifyIndex": rec.modify_index,
            "JobModifyIndex": v.job_modify_index,
            "SubmitTime": v.submit_time,
        }
        if meta:
            out["Meta"] = body.get("Meta")
        return out

    def jobs(self, req: Request, m: re.Match[str]) -> Response:
        ns = self._ns(req)
        prefix = req.q("prefix") or ""
        flt = self._filter(req)
        with self.store.lock:
            self._block(req, lambda: self.store.table_index("jobs"), lambda: self.store.table_index("jobs"))
            recs = [
                r
                for (rns, jid), r in self.store.jobs.items()
                if (ns in ("*", rns)) and jid.startswith(prefix)
            ]
            recs.sort(key=lambda r: (r.namespace, r.id))
            stubs = [self._job_stub(r, req.flag("meta")) for r in recs]
            index = self.store.table_index("jobs")
        if flt is not None:
            stubs = [s for s in stubs if flt(s)]
        stubs, token = self._paginate(req, stubs, lambda s: s["ID"])
        headers = _qmeta(index)
        if token:
            headers["X-Nomad-NextToken"] = token
        return Response.json(stubs, headers)

    def register(self, req: Request, path_id: str | None) -> Response:
        body = self._body(req)
        folded = wire.fold(
            body,
            (
                "Job",
                "Submission",
                "EnforceIndex",
                "JobModifyIndex",
                "PolicyOverride",
                "PreserveCounts",
                "PreserveResources",
                "EvalPriority",
            ),
        )
        job = self._decode_job(folded.get("Job"), req)
        if path_id is not None and job.get("ID") != path_id:
            raise HTTPError(400, "Job ID does not match name")
        resp = self.engine.register(
            job,
            enforce_index=bool(folded.get("EnforceIndex")),
            job_modify_index=wire.as_int(folded.get("JobModifyIndex")),
            preserve_counts=bool(folded.get("PreserveCounts")),
            eval_priority=wire.as_int(folded.get("EvalPriority")),
        )
        return Response.json(resp, _wmeta(resp["Index"]))

    def validate(self, req: Request, m: re.Match[str]) -> Response:
        body = self._body(req)
        raw = wire.get_ci(body, "Job")
        job = self._decode_job(raw, req)
        canon = jobmod.canonicalize(job)
        errs = jobmod.validate(canon)
        return Response.json(
            {
                "DriverConfigValidated": True,
                "ValidationErrors": errs or None,
                "Error": wire.multierror(errs) if errs else "",
                "Warnings": jobmod.warnings(canon),
            }
        )

    _SUFFIXES = (
        "/allocations",
        "/evaluations",
        "/plan",
        "/summary",
        "/dispatch",
        "/versions",
        "/deployments",
        "/deployment",
        "/scale",
        "/evaluate",
        "/stable",
        "/revert",
        "/services",
        "/submission",
        "/periodic/force",
    )

    def job_specific(self, req: Request, m: re.Match[str]) -> Response:
        rest = m["rest"]
        for suffix in self._SUFFIXES:
            if rest.endswith(suffix) and len(rest) > len(suffix):
                return self._job_sub(req, rest[: -len(suffix)], suffix[1:])
        if req.method == "GET":
            return self.job_get(req, rest)
        if req.method in ("POST", "PUT"):
            return self.register(req, rest)
        purge = req.flag("purge")
        resp = self.engine.deregister(
            self._ns(req), rest, purge=purge, eval_priority=wire.as_int(req.q("eval_priority"))
        )
        return Response.json(resp, _wmeta(resp["Index"]))

    def _rec(self, req: Request, job_id: str) -> JobRecord:
        rec = self.store.jobs.get((self._ns(req), job_id))
        if rec is None or rec.purged:
            raise HTTPError(404, "job not found")
        return rec

    def job_get(self, req: Request, job_id: str) -> Response:
        ns = self._ns(req)
        with self.store.lock:
            self._block(
                req,
                lambda: self.store.table_index("jobs"),
                lambda: self.store.watch_index(("job", ns, job_id)),
            )
            rec = self._rec(req, job_id)
            index = self.store.table_index("jobs")
        return Response.text_json(rec.json(), _qmeta(index))

    def _job_sub(self, req: Request, job_id: str, what: str) -> Response:
        ns = self._ns(req)
        method = req.method
        if what == "plan":
            if method not in ("POST", "PUT"):
                raise HTTPError(405, "Invalid method")
            body = self._body(req)
            job = self._decode_job(wire.get_ci(body, "Job"), req)
            if not job.get("ID"):
                raise HTTPError(400, "Job must have a valid ID")
            if job["ID"] != job_id:
                raise HTTPError(400, "Job ID does not match")
            resp = self.engine.plan(job, want_diff=bool(wire.get_ci(body, "Diff", False)))
            return Response.json(resp, _wmeta(resp["Index"]))
        if what == "dispatch":
            if method not in ("POST", "PUT"):
                raise HTTPError(405, "Invalid method")
            resp = self.engine.dispatch(ns, job_id, self._body(req))
            return Response.json(resp, _wmeta(resp["Index"]))
        if what == "scale":
            if method in ("POST", "PUT"):
                resp = self.engine.scale(ns, job_id, self._body(req))
                return Response.json(resp, _wmeta(resp["Index"]))
            return self._scale_status(req, ns, job_id)
        if what == "evaluate":
            resp = self.engine.force_evaluate(ns, job_id)
            return Response.json(resp, _wmeta(resp["Index"]))
        if method != "GET":
            raise HTTPError(405, "Invalid method")
        if what == "allocations":
            return self._job_allocs(req, ns, job_id)
        if what == "summary":
            with self.store.lock:
                self._block(
                    req,
                    lambda: self.store.table_index("job_summary", "allocs", "evals"),
                    lambda: self.store.watch_index(("job_summary", ns, job_id)),
                )
                rec = self._rec(req, job_id)
                index = self.store.table_index("job_summary", "allocs", "evals")
                return Response.json(self.engine.job_summary(rec), _qmeta(index))
        if what == "evaluations":
            with self.store.lock:
                self._block(
                    req,
                    lambda: self.store.table_index("evals"),
                    lambda: self.store.watch_index(("job_evals", ns, job_id)),
                )
                evs = [self.store.evals[i] for i in self.store.evals_by_job.get((ns, job_id), ())]
                index = self.store.table_index("evals")
            evs.sort(key=lambda e: -e["CreateIndex"])
            return Response.json(evs, _qmeta(index))
        if what in ("deployments", "deployment"):
            with self.store.lock:
                self._block(
                    req,
                    lambda: self.store.table_index("deployment"),
                    lambda: self.store.watch_index(("job_deployments", ns, job_id)),
                )
                current = self.store.jobs.get((ns, job_id))
                deps = [
                    self.store.deployments[i] for i in self.store.deployments_by_job.get((ns, job_id), ())
                ]
                if current is not None and not req.flag("all"):
                    deps = [d for d in deps if d["JobCreateIndex"] == current.create_index]
                index = self.store.table_index("deployment")
            deps.sort(key=lambda d: -d["CreateIndex"])
            if what == "deployment":
                return Response.json(deps[0] if deps else None, _qmeta(index))
            return Response.json(deps, _qmeta(index))
        if what == "versions":
            with self.store.lock:
                self._block(
                    req,
                    lambda: self.store.table_index("jobs"),
                    lambda: self.store.watch_index(("job", ns, job_id)),
                )
                rec = self._rec(req, job_id)
                index = self.store.table_index("jobs")
            versions = [json.loads(rec.version_json(v.version)) for v in reversed(rec.versions)]
            diffs = None
            if req.flag("diffs"):
                diffs = [jobmod.diff(versions[i + 1], versions[i], {}) for i in range(len(versions) - 1)]
            return Response.json(
                {
                    "Versions": versions,
                    "Diffs": diffs,
                    "Index": index,
                    "LastContact": 0,
                    "KnownLeader": True,
                    "NextToken": "",
                },
                _qmeta(index),
            )
        if what == "stable":
            raise HTTPError(405, "Invalid method")
        if what == "services":
            return Response.json([], _qmeta(self.store.index))
        raise HTTPError(404, f"Invalid URL path: {what} is not supported by the simulated farm")

    def _scale_status(self, req: Request, ns: str, job_id: str) -> Response:
        with self.store.lock:
            self._block(
                req,
                lambda: self.store.table_index("jobs", "allocs"),
                lambda: self.store.watch_index(("job", ns, job_id), ("job_allocs", ns, job_id)),
            )
            rec = self._rec(req, job_id)
            allocs = [a for a in self.store.job_allocs(ns, job_id) if a.job_create_index == rec.create_index]
            index = self.store.table_index("jobs", "allocs")
        groups = {}
        for g in rec.spec.groups:
            mine = [a for a in allocs if a.task_group == g.name and not a.terminal]
            groups[g.name] = {
                "Desired": g.count,
                "Placed": len(mine),
                "Running": sum(1 for a in mine if a.client_status == "running"),
                "Healthy": sum(
                    1 for a in mine if a.deployment_status and a.deployment_status.get("Healthy") is True
                ),
                "Unhealthy": sum(
                    1 for a in mine if a.deployment_status and a.deployment_status.get("Healthy") is False
                ),
                "Events": list(rec.scaling_events.get(g.name, ())) or None,
            }
        return Response.json(
            {
                "JobID": rec.id,
                "Namespace": rec.namespace,
                "JobCreateIndex": rec.create_index,
                "JobModifyIndex": rec.current.job_modify_index,
                "JobStopped": rec.stopped,
                "TaskGroups": groups,
            },
            _qmeta(index),
        )

    def _job_allocs(self, req: Request, ns: str, job_id: str) -> Response:
        with self.store.lock:
            self._block(
                req,
                lambda: self.store.table_index("allocs"),
                lambda: self.store.watch_index(("job_allocs", ns, job_id)),
            )
            rec = self.store.jobs.get((ns, job_id))
            allocs = self.store.job_allocs(ns, job_id)
            if rec is not None and not req.flag("all"):
                allocs = [a for a in allocs if a.job_create_index == rec.create_index]
            pairs = [(a, self.engine.group_of(a)) for a in allocs]
            index = self.store.table_index("allocs")
        task_states = req.q("task_states") not in ("false", "0")
        parts = _join(model.alloc_stub_json(a, g, task_states=task_states) for a, g in pairs)
        return Response.pieces(parts, _qmeta(index))

    # -- allocations -----------------------------------------------------------------------------

    def allocations(self, req: Request, m: re.Match[str]) -> Response:
        ns = self._ns(req)
        prefix = req.q("prefix") or ""
        flt = self._filter(req)
        task_states = req.q("task_states") not in ("false", "0")
        resources = req.flag("resources")
        with self.store.lock:
            self._block(
                req, lambda: self.store.table_index("allocs"), lambda: self.store.table_index("allocs")
            )
            allocs = [
                a
                for a in self.store.allocs.values()
                if (ns in ("*", a.namespace)) and a.id.startswith(prefix)
            ]
            pairs = [(a, self.engine.group_of(a)) for a in allocs]
            index = self.store.table_index("allocs")
        if req.flag("reverse"):
            pairs.sort(key=lambda p: p[0].id, reverse=True)
        else:
            pairs.sort(key=lambda p: p[0].id)
        if flt is not None:
            # Nomad judges the filter on the allocation in memory, whatever ``task_states`` trims
            # from the answer; render the task states for the judgement only when the filter
            # reads them (~0.7 MB per allocation at 430 tasks, against ~1 KB without)
            judged_with_states = "TaskStates" in bexpr.filter_roots(req.q("filter") or "")
            pairs = [
                (a, g)
                for a, g in pairs
                if flt(
                    json.loads(
                        model.alloc_stub_json(a, g, task_states=judged_with_states, resources=resources)
                    )
                )
            ]
        texts: Iterator[str] = (
            model.alloc_stub_json(a, g, task_states=task_states, resources=resources) for a, g in pairs
        )
        headers = _qmeta(index)
        if req.q("per_page") or req.q("next_token"):
            items = list(texts)
            page, token = self._paginate(req, items, lambda t: json.loads(t)["ID"])
            if token:
                headers["X-Nomad-NextToken"] = token
            texts = iter(page)
        return Response.pieces(_join(texts), headers)

    def allocation(self, req: Request, m: re.Match[str]) -> Response:
        alloc_id = m["id"]
        with self.store.lock:
            self._block(
                req,
                lambda: self.store.table_index("allocs"),
                lambda: self.store.watch_index(("alloc", alloc_id)),
            )
            a = self.store.allocs.get(alloc_id)
            if a is None:
                raise HTTPError(404, "alloc not found")
            v = self.engine.version_of(a)
            job_json = self._version_json(a, v)
            index = self.store.table_index("allocs")
        group = v.spec.group(a.task_group) if v else None
        return Response.text_json(model.alloc_json(a, group, job_json), _qmeta(index))

    def alloc_stop(self, req: Request, m: re.Match[str]) -> Response:
        resp = self.engine.stop_alloc_api(m["id"])
        return Response.json(resp, _wmeta(resp["Index"]))

    def alloc_restart(self, req: Request, m: re.Match[str]) -> Response:
        body = self._body(req)
        self.engine.restart_alloc(
            m["id"], str(wire.get_ci(body, "TaskName", "") or ""), bool(wire.get_ci(body, "AllTasks", False))
        )
        return Response.json({})

    def alloc_signal(self, req: Request, m: re.Match[str]) -> Response:
        body = self._body(req)
        self.engine.signal_alloc(
            m["id"], str(wire.get_ci(body, "Task", "") or ""), str(wire.get_ci(body, "Signal", "") or "")
        )
        return Response.json({})

    def alloc_checks(self, req: Request, m: re.Match[str]) -> Response:
        with self.store.lock:
            if m["id"] not in self.store.allocs:
                raise HTTPError(404, "alloc not found")
        return Response.json({})  # checks of provider "consul" services are reported by Consul

    # -- evaluations and deployments ---------------------------------------------------------------

    def evaluations(self, req: Request, m: re.Match[str]) -> Response:
        ns = self._ns(req)
        prefix = req.q("prefix") or ""
        job = req.q("job") or ""
        status = req.q("status") or ""
        flt = self._filter(req)
        with self.store.lock:
            self._block(req, lambda: self.store.table_index("evals"), lambda: self.store.table_index("evals"))
            evs = [
                e
                for e in self.store.evals.values()
                if (ns == "*" or e["Namespace"] == ns)
                and e["ID"].startswith(prefix)
                and (not job or e["JobID"] == job)
                and (not status or e["Status"] == status)
            ]
            index = self.store.table_index("evals")
        if flt is not None:
            evs = [e for e in evs if flt(e)]
        evs.sort(key=lambda e: e["ID"])
        evs, token = self._paginate(req, evs, lambda e: e["ID"])
        headers = _qmeta(index)
        if token:
            headers["X-Nomad-NextToken"] = token
        return Response.json(evs, headers)

    def evaluation(self, req: Request, m: re.Match[str]) -> Response:
        eval_id = m["id"]
        with self.store.lock:
            self._block(
                req,
                lambda: self.store.table_index("evals"),
                lambda: self.store.watch_index(("eval", eval_id)),
            )
            ev = self.store.evals.get(eval_id)
            if ev is None:
                raise HTTPError(404, "eval not found")
            index = self.store.table_index("evals")
            related = None
            if req.flag("related"):
                related = [
                    {
                        k: e[k]
                        for k in (
                            "ID",
                            "Namespace",
                            "JobID",
                            "DeploymentID",
                            "NodeID",
                            "Status",
                            "StatusDescription",
                            "TriggeredBy",
                            "CreateIndex",
                            "ModifyIndex",
                        )
                    }
                    for i in self.store.evals_by_job.get((ev["Namespace"], ev["JobID"]), ())
                    if (e := self.store.evals[i])["ID"] != eval_id
                ]
        out = dict(ev)
        if related is not None:
            out["RelatedEvals"] = related
        return Response.json(out, _qmeta(index))

    def eval_allocs(self, req: Request, m: re.Match[str]) -> Response:
        eval_id = m["id"]
        with self.store.lock:
            pairs = [(a, self.engine.group_of(a)) for a in self.store.allocs.values() if a.eval_id == eval_id]
            index = self.store.table_index("allocs")
        return Response.pieces(_join(model.alloc_stub_json(a, g) for a, g in pairs), _qmeta(index))

    def deployments(self, req: Request, m: re.Match[str]) -> Response:
        ns = self._ns(req)
        with self.store.lock:
            self._block(
                req,
                lambda: self.store.table_index("deployment"),
                lambda: self.store.table_index("deployment"),
            )
            deps = [d for d in self.store.deployments.values() if ns == "*" or d["Namespace"] == ns]
            index = self.store.table_index("deployment")
        deps.sort(key=lambda d: d["ID"])
        return Response.json(deps, _qmeta(index))

    def deployment(self, req: Request, m: re.Match[str]) -> Response:
        dep_id = m["id"]
        with self.store.lock:
            self._block(
                req,
                lambda: self.store.table_index("deployment"),
                lambda: self.store.watch_index(("deployment", dep_id)),
            )
            d = self.store.deployments.get(dep_id)
            if d is None:
                raise HTTPError(404, "deployment not found")
            index = self.store.table_index("deployment")
        return Response.json(d, _qmeta(index))

    def deployment_allocs(self, req: Request, m: re.Match[str]) -> Response:
        dep_id = m["id"]
        with self.store.lock:
            pairs = [
                (a, self.engine.group_of(a)) for a in self.store.allocs.values() if a.deployment_id == dep_id
            ]
            index = self.store.table_index("allocs")
        return Response.pieces(_join(model.alloc_stub_json(a, g) for a, g in pairs), _qmeta(index))

    # -- event stream ------------------------------------------------------------------------------

    def event_stream(self, req: Request, m: re.Match[str]) -> Response:
        try:
            start_index = int(req.q("index") or "0")
        except ValueError:
            raise HTTPError(
                400, f"Unable to parse index: strconv.Atoi: parsing {req.q('index')!r}: invalid syntax"
            ) from None
        topics: dict[str, list[str]] = {}
        for t in req.query.get("topic", []):
            parts = t.split(":")
            if len(parts) == 1:
                topics.setdefault(t, []).append("*")
            elif len(parts) == 2:
                topics.setdefault(parts[0], []).append(parts[1])
            else:
                raise HTTPError(
                    400,
                    "Invalid topic query: error parsing topics:"
                    f" Invalid key value pair for topic, topic: {t}",
                )
        if not topics:
            topics = {"*": ["*"]}
        ns = self._ns(req)
        match = _topic_matcher(topics, ns)
        store = self.store
        interval = self.heartbeat_interval

        def stream(w: StreamWriter) -> None:
            with store.lock:
                nxt: BufferItem | None = (
                    store.events.start_at_closest(start_index) if start_index else store.events.head
                )
                last: BufferItem | None = None
                if nxt is None:
                    last = store.events.tail
            beat = time.monotonic() + interval
            while not w.closed:
                with store.lock:
                    item = None
                    while item is None and not store.stopping:
                        if nxt is not None:
                            item, nxt = nxt, None
                            break
                        cand = last.next if last is not None else store.events.head
                        if cand is not None:
                            item = cand
                            break
                        remaining = beat - time.monotonic()
                        if remaining <= 0:
                            break
                        store.cond.wait(remaining)
                    if store.stopping:
                        return
                if item is None:
                    w.write("{}\n")
                    beat = time.monotonic() + interval
                    continue
                last = item
                events = [e for e in item.events if match(e)]
                if events:
                    w.write(f'{{"Index":{item.index},"Events":[')
                    for i, e in enumerate(events):
                        w.write(("," if i else "") + e.json())
                    w.write("]}\n")
                if time.monotonic() >= beat:
                    w.write("{}\n")
                    beat = time.monotonic() + interval

        return Response(200, {"Content-Type": "application/json", "Cache-Control": "no-cache"}, stream=stream)


def _topic_matcher(topics: Mapping[str, list[str]], ns: str) -> Callable[[Event], bool]:
    all_keys = topics.get("*", [])

    def match(e: Event) -> bool:
        if e.namespace and ns not in ("*", e.namespace):
            return False
        if all_keys == ["*"]:
            return True
        keys = list(all_keys) + list(topics.get(e.topic, []))
        if keys == ["*"] or "*" in topics.get(e.topic, []):
            return True
        return any(k == e.key or k in e.filter_keys for k in keys)

    return match


def _join(parts: Iterator[str] | Any) -> Iterator[str]:
    yield "["
    first = True
    for p in parts:
        if first:
            first = False
            yield p
        else:
            yield "," + p
    yield "]"


class AdminAPI:
    """``/sim/v1``: the fault-injection API on the Nomad port (mirrors ``farm.faults``)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def register(self, r: Router) -> None:
        r.add("GET", r"/sim/v1/status", self.status)
        r.add("GET", r"/sim/v1/faults", lambda req, m: Response.json(self.engine.faults.describe()))
        r.add("DELETE", r"/sim/v1/faults", self.clear)
        r.add(
            "POST PUT",
            r"/sim/v1/faults/(?P<kind>slow_start|failing_start|task_behaviour|api_errors)",
            self.rule,
        )
        r.add("POST PUT", r"/sim/v1/node/(?P<name>[^/]+)/(?P<action>down|up)", self.node)
        r.add("POST PUT", r"/sim/v1/nodes", self.add_nodes)
        r.add("POST PUT", r"/sim/v1/allocation/(?P<id>[^/]+)/kill", self.kill)
        r.add("POST PUT", r"/sim/v1/job/(?P<job>.+)/kill", self.kill_group)
        r.add("POST PUT", r"/sim/v1/advance", self.advance)

    def _wrap(self, fn: Callable[[], Any]) -> Response:
        try:
            out = fn()
        except SimError as e:
            raise HTTPError(404, str(e)) from None
        except (ValueError, TypeError) as e:
            raise HTTPError(400, str(e)) from None
        return Response.json(out if out is not None else {"Ok": True})

    @staticmethod
    def _body(req: Request) -> dict[str, Any]:
        obj = req.json() or {}
        if not isinstance(obj, dict):
            raise HTTPError(400, "expected a JSON object")
        return obj

    def status(self, req: Request, m: re.Match[str]) -> Response:
        return Response.json(self.engine.stats())

    def clear(self, req: Request, m: re.Match[str]) -> Response:
        self.engine.faults.clear()
        return Response.json({"Ok": True})

    def rule(self, req: Request, m: re.Match[str]) -> Response:
        b = self._body(req)
        f = self.engine.faults
        kind = m["kind"]

        def g(key: str, default: Any = None) -> Any:
            return wire.get_ci(b, key, default)

        if kind == "slow_start":
            return self._wrap(lambda: f.slow_start(str(g("Node", "*")), float(g("Seconds", 0))))
        if kind == "failing_start":
            return self._wrap(lambda: f.failing_start(str(g("Job", "*")), str(g("Task", "*"))))
        if kind == "task_behaviour":
            dur = g("Duration", 0.1)
            duration = float("inf") if str(dur).lower() in ("inf", "forever") else float(dur)
            return self._wrap(
                lambda: f.task_behaviour(
                    str(g("Job", "*")), str(g("Task", "*")), int(g("ExitCode", 0)), duration
                )
            )
        return self._wrap(
            lambda: f.api_errors(
                float(g("Rate", 0.2)),
                str(g("Kind", "5xx")),
                int(g("Seed", 1)),
                str(g("Paths", "/v1/*")),
                server=str(g("Server", "both")),
                hold=float(g("Hold", 30.0)),
            )
        )

    def node(self, req: Request, m: re.Match[str]) -> Response:
        fn = self.engine.faults.node_down if m["action"] == "down" else self.engine.faults.node_up
        return self._wrap(lambda: fn(m["name"]))

    def add_nodes(self, req: Request, m: re.Match[str]) -> Response:
        b = self._body(req)
        spec_text = wire.get_ci(b, "Spec")

        def add() -> Any:
            specs = (
                parse_node_spec(str(spec_text)) if spec_text else [NodeSpec(**{k: v for k, v in b.items()})]
            )
            return [self.engine.add_node(s).id for s in specs]

        try:
            return self._wrap(add)
        except Exception as e:
            if isinstance(e, HTTPError):
                raise
            raise HTTPError(400, str(e)) from None

    def kill(self, req: Request, m: re.Match[str]) -> Response:
        b = self._body(req)
        return self._wrap(
            lambda: self.engine.faults.kill_task(
                m["id"], str(wire.get_ci(b, "Task", "")), int(wire.get_ci(b, "ExitCode", 137))
            )
        )

    def kill_group(self, req: Request, m: re.Match[str]) -> Response:
        b = self._body(req)

        def run() -> Any:
            alloc_id = self.engine.faults.kill_group_task(
                m["job"],
                str(wire.get_ci(b, "Group", "")),
                int(wire.get_ci(b, "Index", 0)),
                str(wire.get_ci(b, "Task", "")),
                int(wire.get_ci(b, "ExitCode", 137)),
                namespace=str(wire.get_ci(b, "Namespace", "default")),
            )
            return {"AllocID": alloc_id}

        return self._wrap(run)

    def advance(self, req: Request, m: re.Match[str]) -> Response:
        b = self._body(req)
        return self._wrap(lambda: self.engine.advance(float(wire.get_ci(b, "Seconds", 0))))
