"""Fault injection: the rules the farm consults, and the handle tests and the admin API use.

Task outcome, in order of precedence: a ``failing_start`` rule (the driver fails to start the
task), then the newest matching ``task_behaviour`` rule, then the task's own ``Env``
(``NOMADCTL_SIM_EXIT_CODE``, ``NOMADCTL_SIM_DURATION``; sim-only, so manifests for end-to-end
tests can choose a hook's outcome), then the default: a ``batch``/``sysbatch`` task exits 0 after
0.1 s, a ``service``/``system`` task runs until stopped. ``NOMADCTL_SIM_DURATION`` takes seconds or
a Go duration; ``inf`` (or ``forever``) means until stopped.

API errors are decided per request with a seeded generator, on paths matching a glob.
"""

from __future__ import annotations

import fnmatch
import math
import random
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from nomadctl import durations

if TYPE_CHECKING:
    from nomadctl.sim.engine import Engine

ENV_EXIT_CODE = "NOMADCTL_SIM_EXIT_CODE"
ENV_DURATION = "NOMADCTL_SIM_DURATION"
BATCH_DEFAULT_DURATION = 0.1
API_ERROR_KINDS = ("5xx", "timeout", "drop")


@dataclass(frozen=True, slots=True)
class Behaviour:
    """How a started task ends: ``exit_code`` after ``duration`` seconds (``inf``: never)."""

    exit_code: int
    duration: float


@dataclass(frozen=True, slots=True)
class BehaviourRule:
    job: str
    task: str
    exit_code: int
    duration: float


@dataclass(frozen=True, slots=True)
class ApiErrorRule:
    rate: float
    kind: str
    paths: str
    server: str
    hold: float


def parse_duration_text(text: str) -> float:
    """``NOMADCTL_SIM_DURATION``: seconds (``"2.5"``), a Go duration (``"1m"``) or ``inf``."""
    t = text.strip().lower()
    if t in ("inf", "infinity", "forever", "-1"):
        return math.inf
    try:
        return max(0.0, float(t))
    except ValueError:
        return max(0.0, durations.parse_ns(t) / 1e9)


class Faults:
    """Fault rules and actions on a running farm (``farm.faults``); thread-safe."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._lock = threading.Lock()
        self._slow: list[tuple[str, float]] = []
        self._failing: list[tuple[str, str]] = []
        self._behaviours: list[BehaviourRule] = []
        self._api: ApiErrorRule | None = None
        self._api_rng = random.Random(0)  # noqa: S311 (simulation, not security)

    # -- node and task actions (delegated to the engine) ----------------------------------------

    def node_down(self, name: str) -> None:
        """Stop the node's heartbeats: after the heartbeat grace it is ``down`` (or ``disconnected``)."""
        self._engine.node_down(name)

    def node_up(self, name: str) -> None:
        """Resume the node's heartbeats (it becomes ``ready`` again)."""
        self._engine.node_up(name)

    def kill_task(self, alloc_id: str, task: str, exit_code: int = 137) -> None:
        """Make a running task exit with ``exit_code`` (then the restart policy applies)."""
        self._engine.kill_task(alloc_id, task, exit_code)

    def kill_group_task(
        self, job: str, group: str, index: int, task: str, exit_code: int = 137, *, namespace: str = "default"
    ) -> str:
        """``kill_task`` on the live allocation ``<job>.<group>[<index>]``; returns its ID."""
        alloc_id = self._engine.find_alloc(job, group, index, namespace=namespace)
        self._engine.kill_task(alloc_id, task, exit_code)
        return alloc_id

    # -- rules ------------------------------------------------------------------------------------

    def slow_start(self, node_or_glob: str, seconds: float) -> None:
        """Tasks placed on matching nodes (name or glob) take ``seconds`` to start."""
        with self._lock:
            self._slow.append((node_or_glob, float(seconds)))

    def failing_start(self, job_glob: str, task_glob: str = "*") -> None:
        """Matching tasks fail to start (``Driver Failure``); the restart policy then applies."""
        with self._lock:
            self._failing.append((job_glob, task_glob))

    def task_behaviour(
        self, job_glob: str, task_glob: str = "*", exit_code: int = 0, duration: float = 0.1
    ) -> None:
        """Matching tasks exit with ``exit_code`` after ``duration`` s (``math.inf``: run until stopped)."""
        with self._lock:
            self._behaviours.append(BehaviourRule(job_glob, task_glob, int(exit_code), float(duration)))

    def api_errors(
        self,
        rate: float = 0.2,
        kind: str = "5xx",
        seed: int = 1,
        paths: str = "/v1/*",
        *,
        server: str = "both",
        hold: float = 30.0,
    ) -> None:
        """Fail a ``rate`` share of matching requests: ``5xx``, ``timeout`` (held ``hold`` s, then
        closed unanswered) or ``drop`` (connection closed at once). ``server``: nomad, consul, both.
        """
        if kind not in API_ERROR_KINDS:
            raise ValueError(f"api_errors kind must be one of {', '.join(API_ERROR_KINDS)}, not {kind!r}")
        if server not in ("nomad", "consul", "both"):
            raise ValueError(f"api_errors server must be nomad, consul or both, not {server!r}")
        if not 0.0 <= rate <= 1.0:
            raise ValueError("api_errors rate must be within [0, 1]")
        with self._lock:
            self._api = ApiErrorRule(float(rate), kind, paths, server, max(0.0, float(hold)))
            self._api_rng = random.Random(seed)  # noqa: S311 (simulation, not security)

    def clear(self) -> None:
        """Remove every rule (nodes that are down stay down: use ``node_up``)."""
        with self._lock:
            self._slow.clear()
            self._failing.clear()
            self._behaviours.clear()
            self._api = None

    def describe(self) -> dict[str, Any]:
        """The active rules, as the admin API lists them."""
        with self._lock:
            return {
                "SlowStart": [{"Node": n, "Seconds": s} for n, s in self._slow],
                "FailingStart": [{"Job": j, "Task": t} for j, t in self._failing],
                "TaskBehaviour": [
                    {"Job": r.job, "Task": r.task, "ExitCode": r.exit_code, "Duration": _finite(r.duration)}
                    for r in self._behaviours
                ],
                "ApiErrors": None
                if self._api is None
                else {
                    "Rate": self._api.rate,
                    "Kind": self._api.kind,
                    "Paths": self._api.paths,
                    "Server": self._api.server,
                    "Hold": self._api.hold,
                },
                "DownNodes": self._engine.down_nodes(),
            }

    # -- queries used by the engine and the servers ---------------------------------------------

    def start_delay(self, node_name: str, default: float) -> float:
        with self._lock:
            for glob, secs in reversed(self._slow):
                if fnmatch.fnmatchcase(node_name, glob):
                    return secs
        return default

    def fails_to_start(self, job_id: str, task: str) -> bool:
        with self._lock:
            return any(
                fnmatch.fnmatchcase(job_id, j) and fnmatch.fnmatchcase(task, t) for j, t in self._failing
            )

    def behaviour(self, job_id: str, task: str, env: dict[str, str] | Any, batch: bool) -> Behaviour:
        with self._lock:
            for r in reversed(self._behaviours):
                if fnmatch.fnmatchcase(job_id, r.job) and fnmatch.fnmatchcase(task, r.task):
                    return Behaviour(r.exit_code, r.duration)
        code_text = env.get(ENV_EXIT_CODE) if env else None
        dur_text = env.get(ENV_DURATION) if env else None
        try:
            code = int(code_text) if code_text not in (None, "") else 0
        except ValueError:
            code = 0
        try:
            dur = parse_duration_text(dur_text) if dur_text not in (None, "") else None
        except ValueError:
            dur = None
        if dur is None:
            # A task given only an exit code ends after the batch default; otherwise use the default.
            dur = BATCH_DEFAULT_DURATION if (batch or code_text not in (None, "")) else math.inf
        return Behaviour(code, dur)

    def api_fault(self, server: str, path: str) -> ApiErrorRule | None:
        """The rule to apply to this request, or None (the draw is seeded and sequential)."""
        with self._lock:
            rule = self._api
            if rule is None or rule.server not in (server, "both"):
                return None
            if not fnmatch.fnmatchcase(path, rule.paths):
                return None
            return rule if self._api_rng.random() < rule.rate else None


def _finite(x: float) -> float | str:
    return "inf" if math.isinf(x) else x


Callback = Callable[[], None]
