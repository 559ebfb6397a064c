"""The controller's request and report types (frozen data, JSON-ready)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from nomadctl.controller.record import EnvRecord
from nomadctl.jobspec import RenderOptions, Split
from nomadctl.lifecycle.schedule import Verdict


@dataclass(frozen=True, slots=True)
class RenderSettings:
    """How an environment's jobs are rendered (stored in its record). ``nomad_version`` None:
    the version the Nomad agent reports (or ``Settings.nomad_version``)."""

    split: str = Split.HOST.value
    datacenters: tuple[str, ...] = ("*",)
    namespace: str | None = None
    region: str | None = None
    host_target: str = RenderOptions().host_target
    mhz_per_core: int = RenderOptions().mhz_per_core
    nomad_version: str | None = None


@dataclass(frozen=True, slots=True)
class CreateRequest:
    """An environment to create: the AliECS workflow in a config repo and its inputs.

    ``providers`` is a YAML file with the ``o2/...`` KV layout (None: the controller's Consul);
    ``kv_overlay`` adds keys on top of it (the demo adds its nodes to the inventory); ``plugins``
    maps AliECS plugin names to ``noop``/``http:<url>`` for this environment; ``seed`` makes task
    ids reproducible (default: a random seed, stored so the environment can be planned again).
    """

    workflow: str
    repo: str
    user_vars: Mapping[str, str] = field(default_factory=dict)
    providers: str | None = None
    kv_overlay: Mapping[str, str] = field(default_factory=dict)
    seed: int | None = None
    plugins: Mapping[str, str] = field(default_factory=dict)
    render: RenderSettings = field(default_factory=RenderSettings)
    env_id: str | None = None


@dataclass(frozen=True, slots=True)
class TransitionReport:
    """How one transition (or teardown) ended, and what followed it.

    ``verdict`` is the schedule's (``ok``, ``cancelled``, ``failed``) or ``refused``; ``go_error``
    the GO_ERROR that followed a failure; ``teardown`` the forced teardown after a failed
    creation; ``leftovers`` anything of the environment still in Nomad/Consul after a teardown.
    """

    env_id: str
    transition: str
    verdict: str
    source: str
    state: str
    run_number: int | None
    started_ns: int
    finished_ns: int
    error: str = ""
    warnings: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    leftovers: tuple[str, ...] = ()
    go_error: TransitionReport | None = None
    teardown: TransitionReport | None = None

    @property
    def ok(self) -> bool:
        return self.verdict == Verdict.OK and not self.leftovers

    @property
    def duration_s(self) -> float:
        return (self.finished_ns - self.started_ns) / 1e9

    @property
    def final_state(self) -> str:
        """The state after everything that followed (GO_ERROR, teardown)."""
        for follow in (self.teardown, self.go_error):
            if follow is not None:
                return follow.final_state
        return self.state

    def to_dict(self) -> dict[str, Any]:
        return {
            "env_id": self.env_id,
            "transition": self.transition,
            "verdict": self.verdict,
            "source": self.source,
            "state": self.state,
            "final_state": self.final_state,
            "run_number": self.run_number,
            "duration_s": round(self.duration_s, 3),
            "error": self.error,
            "warnings": list(self.warnings),
            "notes": list(self.notes),
            "leftovers": list(self.leftovers),
            "go_error": self.go_error.to_dict() if self.go_error else None,
            "teardown": self.teardown.to_dict() if self.teardown else None,
        }


@dataclass(frozen=True, slots=True)
class Created:
    """A new environment (STANDBY) and what its planning warned about."""

    record: EnvRecord
    warnings: tuple[str, ...] = ()
    reports: tuple[TransitionReport, ...] = ()

    @property
    def env_id(self) -> str:
        return self.record.env_id
