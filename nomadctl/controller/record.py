"""The environment record in Consul KV, written with check-and-set.

Layout under the controller's prefix (``Settings.kv_prefix``, default ``nomadctl``)::

    <prefix>/envs/<id>              the record (JSON, this module), CAS on its ModifyIndex
    <prefix>/envs/<id>/lock         the per-environment lock (a Consul session; ``locks``)
    <prefix>/envs/<id>/events/<seq> event batches as JSON lines (``events``)
    <prefix>/envs/<id>/health       what the health daemon decided (``health_record``)
    <prefix>/run_number             the run-number counter (``runs``)
    <prefix>/controller/leader      the controller daemons' leader lock (``leader``)

The record holds what is needed to plan the environment again (repo, workflow, user variables,
seed, provider file, manifest_sha, render options, plugin mapping) and what happened (lifecycle
state with run number and pending calls, jobs, the transition in progress and the step it reached,
the last transition and its error, the group counts ``env scale`` changed live). It never holds
a token or a secret value: user variables are manifest variables, secrets are ``vault:``
references resolved by Nomad's clients.

A transition in progress is written *before* any effect and its step is updated as it goes, so
a controller that dies leaves a record from which the next one (and ``env show``) can tell the
truth (``recover``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any

from nomadctl.clients.consul import ConsulClient
from nomadctl.clients.errors import ConsulConflict
from nomadctl.controller.errors import EnvironmentNotFound, RecordConflict
from nomadctl.errors import LifecycleError
from nomadctl.lifecycle.state import Environment

FORMAT = 1


@dataclass(frozen=True, slots=True)
class Keys:
    """Consul KV keys of the controller under ``prefix``."""

    prefix: str = "nomadctl"

    @property
    def envs(self) -> str:
        return f"{self.prefix}/envs/"

    def record(self, env_id: str) -> str:
        return f"{self.prefix}/envs/{env_id}"

    def lock(self, env_id: str) -> str:
        return f"{self.prefix}/envs/{env_id}/lock"

    def events(self, env_id: str) -> str:
        return f"{self.prefix}/envs/{env_id}/events/"

    def health(self, env_id: str) -> str:
        return f"{self.prefix}/envs/{env_id}/health"

    @property
    def leader(self) -> str:
        return f"{self.prefix}/controller/leader"

    @property
    def run_number(self) -> str:
        return f"{self.prefix}/run_number"


@dataclass(frozen=True, slots=True)
class InProgress:
    """A transition that has started and not yet been recorded as finished.

    ``step`` is the last transition step reached (``before_DEPLOY``, ``tasks_DEPLOY``...);
    ``run_number`` a run number this transition allocated; ``run_job`` the run-scoped job it
    dispatched; ``jobs`` the jobs it registered so far.
    """

    transition: str
    source: str
    started_ns: int
    controller: str
    step: str = ""
    run_number: int | None = None
    run_job: str | None = None
    jobs: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "transition": self.transition,
            "source": self.source,
            "started_ns": self.started_ns,
            "controller": self.controller,
            "step": self.step,
            "run_number": self.run_number,
            "run_job": self.run_job,
            "jobs": list(self.jobs),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> InProgress:
        return cls(
            transition=str(d["transition"]),
            source=str(d["source"]),
            started_ns=int(d["started_ns"]),
            controller=str(d.get("controller", "")),
            step=str(d.get("step", "")),
            run_number=None if d.get("run_number") is None else int(d["run_number"]),
            run_job=d.get("run_job") or None,
            jobs=tuple(str(j) for j in d.get("jobs") or ()),
        )


@dataclass(frozen=True, slots=True)
class LastTransition:
    """How the last transition ended: verdict ``ok``, ``cancelled``, ``failed``, ``refused`` or
    ``interrupted`` (the controller died; see ``recover``), with non-critical failures listed."""

    transition: str
    verdict: str
    source: str
    state: str
    started_ns: int
    finished_ns: int
    error: str = ""
    warnings: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "transition": self.transition,
            "verdict": self.verdict,
            "source": self.source,
            "state": self.state,
            "started_ns": self.started_ns,
            "finished_ns": self.finished_ns,
            "error": self.error,
            "warnings": list(self.warnings),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> LastTransition:
        return cls(
            transition=str(d["transition"]),
            verdict=str(d["verdict"]),
            source=str(d.get("source", "")),
            state=str(d.get("state", "")),
            started_ns=int(d.get("started_ns", 0)),
            finished_ns=int(d.get("finished_ns", 0)),
            error=str(d.get("error", "")),
            warnings=tuple(str(w) for w in d.get("warnings") or ()),
        )


def _frozen(m: Mapping[str, Any] | None) -> Mapping[str, str]:
    return MappingProxyType({str(k): str(v) for k, v in (m or {}).items()})


@dataclass(frozen=True, slots=True)
class EnvRecord:
    """One environment as persisted. ``modify_index`` is the KV ModifyIndex it was read at (the
    check-and-set token of the next write); it is not stored in the value."""

    env_id: str
    workflow: str
    repo: str
    seed: int
    manifest_sha: str
    created_ns: int
    created_by: str
    lifecycle: Environment
    user_vars: Mapping[str, str] = field(default_factory=dict)
    providers: str | None = None
    kv_overlay: Mapping[str, str] = field(default_factory=dict)
    plugins: Mapping[str, str] = field(default_factory=dict)
    render: Mapping[str, Any] = field(default_factory=dict)
    jobs: tuple[str, ...] = ()
    run_job: str | None = None
    runtime_vars: Mapping[str, str] = field(default_factory=dict)
    in_progress: InProgress | None = None
    last: LastTransition | None = None
    counts: Mapping[str, int] = field(default_factory=dict)
    modify_index: int = 0

    @property
    def state(self) -> str:
        return str(self.lifecycle.state)

    def with_(self, **changes: Any) -> EnvRecord:
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "env_id": self.env_id,
            "workflow": self.workflow,
            "repo": self.repo,
            "seed": self.seed,
            "manifest_sha": self.manifest_sha,
            "created_ns": self.created_ns,
            "created_by": self.created_by,
            "user_vars": dict(self.user_vars),
            "providers": self.providers,
            "kv_overlay": dict(self.kv_overlay),
            "plugins": dict(self.plugins),
            "render": dict(self.render),
            "lifecycle": self.lifecycle.to_dict(),
            "jobs": list(self.jobs),
            "run_job": self.run_job,
            "runtime_vars": dict(self.runtime_vars),
            "in_progress": self.in_progress.to_dict() if self.in_progress else None,
            "last": self.last.to_dict() if self.last else None,
            "counts": dict(self.counts),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], *, modify_index: int = 0) -> EnvRecord:
        """Read what ``to_dict`` wrote; ``LifecycleError`` naming the problem if malformed."""
        try:
            if int(d.get("format", 0)) != FORMAT:
                raise ValueError(f"record format {d.get('format')!r}, this controller reads {FORMAT}")
            return cls(
                env_id=str(d["env_id"]),
                workflow=str(d["workflow"]),
                repo=str(d["repo"]),
                seed=int(d["seed"]),
                manifest_sha=str(d["manifest_sha"]),
                created_ns=int(d["created_ns"]),
                created_by=str(d.get("created_by", "")),
                user_vars=_frozen(d.get("user_vars")),
                providers=d.get("providers") or None,
                kv_overlay=_frozen(d.get("kv_overlay")),
                plugins=_frozen(d.get("plugins")),
                render=MappingProxyType(dict(d.get("render") or {})),
                lifecycle=Environment.from_dict(d["lifecycle"]),
                jobs=tuple(str(j) for j in d.get("jobs") or ()),
                run_job=d.get("run_job") or None,
                runtime_vars=_frozen(d.get("runtime_vars")),
                in_progress=InProgress.from_dict(d["in_progress"]) if d.get("in_progress") else None,
                last=LastTransition.from_dict(d["last"]) if d.get("last") else None,
                counts=MappingProxyType({str(k): int(v) for k, v in (d.get("counts") or {}).items()}),
                modify_index=modify_index,
            )
        except (KeyError, ValueError, TypeError) as err:
            raise LifecycleError(f"malformed environment record: {type(err).__name__}: {err}") from err


class RecordStore:
    """Reads and writes environment records; every write is a check-and-set."""

    def __init__(self, consul: ConsulClient, keys: Keys) -> None:
        self.consul = consul
        self.keys = keys

    def _decode(self, key: str, text: str | None, index: int) -> EnvRecord:
        try:
            data = json.loads(text or "")
        except ValueError as err:
            raise LifecycleError(f"{key}: environment record is not JSON: {err}") from err
        return EnvRecord.from_dict(data, modify_index=index)

    def get(self, env_id: str) -> EnvRecord:
        """The record of ``env_id``; ``EnvironmentNotFound`` if there is none."""
        key = self.keys.record(env_id)
        entry = self.consul.kv_get(key).data
        if entry is None:
            raise EnvironmentNotFound(f"environment {env_id} not found (no record at {key})")
        return self._decode(key, entry.text, entry.modify_index)

    def exists(self, env_id: str) -> bool:
        return self.consul.kv_get(self.keys.record(env_id)).data is not None

    def create(self, record: EnvRecord) -> EnvRecord:
        """Store a new record; ``ConsulConflict`` if the id is taken (CAS 0 = create only)."""
        self.consul.kv_put(self.keys.record(record.env_id), self._encode(record), cas=0)
        return self.get(record.env_id)

    def put(self, record: EnvRecord) -> EnvRecord:
        """Replace the record if it is unchanged since ``record.modify_index``; return it with its
        new index. A lost check-and-set is a ``RecordConflict``: another writer did not hold the
        lock, and continuing would overwrite what it did."""
        key = self.keys.record(record.env_id)
        try:
            self.consul.kv_put(key, self._encode(record), cas=record.modify_index)
        except ConsulConflict as err:
            raise RecordConflict(
                f"environment {record.env_id}: the record changed under this controller "
                f"(check-and-set at index {record.modify_index} lost); nothing more is written"
            ) from err
        return self.get(record.env_id)

    def list(self) -> list[EnvRecord]:
        """Every record, sorted by id (ids sort by creation time). One level of keys is listed
        (never the event logs below the records), then each record is read."""
        out: list[EnvRecord] = []
        for key in self.consul.kv_keys(self.keys.envs, separator="/"):
            rest = key[len(self.keys.envs) :]
            if not rest or "/" in rest:
                continue  # the folders holding locks and events
            entry = self.consul.kv_get(key).data
            if entry is not None:  # deleted between the listing and the read
                out.append(self._decode(key, entry.text, entry.modify_index))
        return sorted(out, key=lambda r: r.env_id)

    @staticmethod
    def _encode(record: EnvRecord) -> str:
        return json.dumps(record.to_dict(), sort_keys=True, separators=(",", ":"))
