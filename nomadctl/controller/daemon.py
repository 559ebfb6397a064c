"""``nomadctl controller run``: the controller daemon that watches every environment's health.

Any number of replicas run; one leads (``leader.LeaderElection``, a Consul session lock on
``<prefix>/controller/leader``) and only the leader acts. While it leads:

* **discovery**: a blocking query on Nomad's job list (``prefix=aliecs-``, meta included) finds
  the environments that have jobs (meta ``nomadctl.env``); each gets a supervisor;
* **per environment**, a supervisor follows the environment record with blocking queries. While
  the environment is DEPLOYED, CONFIGURED, RUNNING or ERROR (and not being torn down) it runs a health
  watcher (``nomadctl.health.watcher.AllocWatcher``: list, then the event stream for the
  environment's service jobs, re-listing after every reconnect) feeding an ``EnvEnforcer``
  (``enforce``), which records and acts. A re-plan happens only when what the plan depends on
  changes (``env scale`` counts), not at every record write;
* **resume**: on election each supervisor first finishes what the health record says was left
  undone (a pending GO_ERROR decision, unannounced events), so a restarted or new leader picks up
  from KV state and neither loses nor repeats a decision.

On losing the leadership everything stops at once (the watchers' streams are closed, every
write is fenced); the replica campaigns again. SIGTERM (``stop``) resigns: the key is released
so a follower takes over immediately instead of after the session TTL.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from nomadctl.clients.blocking import next_index
from nomadctl.controller.enforce import EnvEnforcer, Listener, not_watched, targets
from nomadctl.controller.leader import LeaderElection
from nomadctl.controller.observe import ENV_META
from nomadctl.controller.record import EnvRecord
from nomadctl.controller.service import Controller
from nomadctl.controller.settings import SYSTEM_CLOCK, Clock
from nomadctl.errors import ApiError, NomadctlError, UsageError
from nomadctl.health.watcher import AllocWatcher

log = logging.getLogger(__name__)

JOB_PREFIX = "aliecs-"


@dataclass(frozen=True, slots=True)
class DaemonSettings:
    """The daemon's own knobs (the controller's are ``Settings``).

    * ``leader_ttl``: TTL of the leader session (10-86400 s, Consul's bounds); a dead leader is
      replaced within 2 x TTL + ``leader_lock_delay``;
    * ``leader_lock_delay``: Consul's lock-delay after an invalidated leader session (0-60 s):
      small, so a takeover is quick, non-zero, so a leader that was only slow has stopped writing
      (its fenced writes re-check the key) before another starts;
    * ``workers``: threads carrying out GO_ERROR (each may wait for an environment's lock);
    * ``heartbeat_timeout``: silence on the event stream after which it is reopened (Nomad sends
      a heartbeat every 30 s);
    * ``batch``: allocations whose task states one list request reads (memory bound).
    """

    leader_ttl: float = 15.0
    leader_lock_delay: float = 1.0
    workers: int = 4
    heartbeat_timeout: float = 45.0
    batch: int = 10

    def __post_init__(self) -> None:
        if not 10 <= self.leader_ttl <= 86400:
            raise ValueError("leader_ttl must be between 10 s and 86400 s (Consul session TTL bounds)")
        if not 0 <= self.leader_lock_delay <= 60:
            raise ValueError("leader_lock_delay must be between 0 s and 60 s")
        if self.workers < 1 or self.batch < 1:
            raise ValueError("workers and batch must be at least 1")


# ------------------------------------------------------------------------------- per environment


class EnvSupervisor:
    """Follows one environment record and runs its watcher + enforcer while it is enforced."""

    def __init__(self, term: Term, env_id: str) -> None:
        self.term = term
        self.daemon = term.daemon
        self.env_id = env_id
        self.stop = threading.Event()
        d = self.daemon
        # one enforcer for the whole term: its health-record cache and mutex serialise the
        # watcher's writes and a GO_ERROR worker's
        self.enforcer = EnvEnforcer(
            d.controller,
            env_id,
            (),
            fence=d.election,
            clock=d.clock,
            submit=d.submit,
            stop=self.stop,
            listeners=d.listeners,
            checkpoint=d.checkpoint,
        )
        self.watcher: AllocWatcher | None = None
        self._plan_key: tuple[Any, ...] | None = None
        self.state = ""

    def start(self) -> None:
        self.daemon.spawn(self._run, f"nomadctl-env-{self.env_id}")

    def close(self) -> None:
        self.stop.set()
        self._stop_watch()

    def _run(self) -> None:
        controller = self.daemon.controller
        key = controller.keys.record(self.env_id)
        index = 0
        first = True
        try:
            while not self.stop.is_set():
                try:
                    entry, returned = controller.consul.kv_get(
                        key, index=index, wait=controller.settings.max_wait
                    )
                except ApiError as err:
                    if self.stop.is_set():
                        return
                    log.warning("environment %s: %s; reading the record again", self.env_id, err.one_line())
                    index = 0
                    self.stop.wait(1.0)
                    continue
                if self.stop.is_set():
                    return
                index = next_index(index, returned)
                if entry is None:
                    log.info("environment %s: record gone; no longer watched", self.env_id)
                    return
                try:
                    rec = EnvRecord.from_dict(json.loads(entry.text or "{}"), modify_index=entry.modify_index)
                    if first:
                        # a pending decision is finished whatever the state (``execute`` checks
                        # it) and needs no plan, so a broken manifest cannot hold it up
                        first = False
                        self.enforcer.resume()
                    self._update(rec)
                except (NomadctlError, ValueError) as err:
                    if self.stop.is_set():
                        return
                    text = err.one_line() if isinstance(err, NomadctlError) else str(err)
                    log.error("environment %s: not watched: %s", self.env_id, text)
                    self._stop_watch()
        finally:
            self._stop_watch()

    def _update(self, rec: EnvRecord) -> None:
        self.state = rec.state
        why = not_watched(rec)
        if why:
            if self.watcher is not None:
                log.info("environment %s: %s; health watch stopped", self.env_id, why)
            self._stop_watch()
            return
        plan_key = (
            rec.manifest_sha,
            rec.seed,
            tuple(sorted(rec.counts.items())),
            json.dumps(dict(rec.render)),
        )
        if self.watcher is not None and plan_key == self._plan_key:
            return
        self._stop_watch()
        planned = self.daemon.controller.planner.plan(rec)
        groups = targets(planned.jobset)
        jobs = sorted({t.job_id for t in groups})
        if not jobs:
            return
        self._plan_key = plan_key
        self.enforcer.retarget(groups)
        stop = threading.Event()
        watcher = AllocWatcher(
            self.daemon.controller.nomad,
            jobs,
            self.enforcer.on_change,
            clock=self.daemon.clock,
            batch=self.daemon.settings.batch,
            heartbeat_timeout=self.daemon.settings.heartbeat_timeout,
            name=self.env_id,
        )
        self.watcher = watcher
        self.daemon.spawn(lambda: self._watch(watcher, stop), f"nomadctl-watch-{self.env_id}")
        log.info("environment %s (%s): watching %d groups of %s", self.env_id, rec.state, len(groups), jobs)

    def _watch(self, watcher: AllocWatcher, stop: threading.Event) -> None:
        try:
            watcher.run(stop)
        except NomadctlError as err:
            log.error("environment %s: health watch ended: %s", self.env_id, err.one_line())

    def _stop_watch(self) -> None:
        watcher, self.watcher = self.watcher, None
        self._plan_key = None
        if watcher is not None:
            watcher.close()


# ------------------------------------------------------------------------------------------ term


class Term:
    """What one leadership term runs: discovery and the supervisors; stopped as a whole."""

    def __init__(self, daemon: Daemon) -> None:
        self.daemon = daemon
        self.stop = threading.Event()
        self.supervisors: dict[str, EnvSupervisor] = {}
        self._lock = threading.Lock()

    def start(self) -> None:
        self.daemon.spawn(self._discover, "nomadctl-discovery")

    def close(self) -> None:
        self.stop.set()
        with self._lock:
            sups, self.supervisors = list(self.supervisors.values()), {}
        for s in sups:
            s.close()

    def _discover(self) -> None:
        nomad = self.daemon.controller.nomad
        index = 0
        while not self.stop.is_set():
            try:
                jobs, returned = nomad.jobs(
                    prefix=JOB_PREFIX, index=index, wait=self.daemon.controller.settings.max_wait
                )
            except ApiError as err:
                if self.stop.is_set():
                    return
                log.warning("discovery: %s; listing again", err.one_line())
                index = 0
                self.stop.wait(1.0)
                continue
            if self.stop.is_set():
                return
            envs = {j.meta[ENV_META] for j in jobs if j.meta.get(ENV_META) and not j.stop}
            self._reconcile(envs)
            index = next_index(index, returned)

    def _reconcile(self, envs: set[str]) -> None:
        with self._lock:
            if self.stop.is_set():
                return
            for env_id in sorted(envs - set(self.supervisors)):
                sup = EnvSupervisor(self, env_id)
                self.supervisors[env_id] = sup
                sup.start()
            for env_id in sorted(set(self.supervisors) - envs):
                self.supervisors.pop(env_id).close()


# ---------------------------------------------------------------------------------------- daemon


@dataclass
class DaemonStatus:
    controller_id: str
    leading: bool
    terms: int
    environments: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "controller": self.controller_id,
            "leading": self.leading,
            "terms": self.terms,
            "environments": dict(self.environments),
        }


class Daemon:
    """The controller daemon: leader election plus, while leading, health enforcement of every
    environment. ``run(stop)`` blocks; ``start()`` runs it on a thread.

    ``listeners`` receive every recorded decision (``enforce.Decided``); ``checkpoint(name)`` is
    the enforcers' test hook; ``abandon()`` makes this replica behave as a killed process (tests).
    """

    def __init__(
        self,
        controller: Controller,
        settings: DaemonSettings | None = None,
        *,
        clock: Clock = SYSTEM_CLOCK,
        listeners: Sequence[Listener] = (),
        checkpoint: Callable[[str], None] | None = None,
    ) -> None:
        self.controller = controller
        self.settings = settings or DaemonSettings()
        self.clock = clock
        self.listeners = list(listeners)
        self.checkpoint = checkpoint
        self._pool = ThreadPoolExecutor(self.settings.workers, thread_name_prefix="nomadctl-enforce")
        self._term: Term | None = None
        self._term_lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._threads_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.election = LeaderElection(
            controller.consul,
            controller.keys.leader,
            controller_id=controller.settings.controller_id,
            clock=clock,
            ttl=self.settings.leader_ttl,
            lock_delay=self.settings.leader_lock_delay,
            max_wait=controller.settings.max_wait,
            on_elected=self._elected,
            on_lost=self._lost,
        )

    @property
    def leading(self) -> bool:
        return self.election.leading

    def submit(self, fn: Callable[[], None]) -> object:
        return self._pool.submit(fn)

    def spawn(self, target: Callable[[], None], name: str) -> threading.Thread:
        """Start a daemon thread that ``stop()`` will wait for (bounded)."""
        thread = threading.Thread(target=self._guarded, args=(target, name), name=name, daemon=True)
        with self._threads_lock:
            self._threads = [t for t in self._threads if t.is_alive()]
            self._threads.append(thread)
        thread.start()
        return thread

    def _guarded(self, target: Callable[[], None], name: str) -> None:
        try:
            target()
        except Exception:  # not BaseException: a test's simulated "kill" must end the thread
            if self._stop.is_set() or self.election.abandoned:
                log.debug("%s ended while stopping", name, exc_info=True)
            else:  # a bug: say so loudly, the supervisor of that environment is gone
                log.exception("%s died", name)

    def _elected(self) -> None:
        with self._term_lock:
            if self._term is not None:
                self._term.close()
            self._term = Term(self)
            self._term.start()

    def _lost(self, reason: str) -> None:
        with self._term_lock:
            term, self._term = self._term, None
        if term is not None:
            term.close()

    def watchers(self) -> dict[str, AllocWatcher]:
        """The running health watchers by environment (status, benchmarks)."""
        term = self._term
        sups = dict(term.supervisors) if term else {}
        return {e: s.watcher for e, s in sups.items() if s.watcher is not None}

    def status(self) -> DaemonStatus:
        term = self._term
        envs = {e: s.state for e, s in (term.supervisors.items() if term else ())}
        return DaemonStatus(self.controller.settings.controller_id, self.leading, self.election.terms, envs)

    def run(self, stop: threading.Event | None = None) -> None:
        """Campaign and, while leading, enforce; until ``stop`` is set. Resigns on the way out."""
        if stop is not None:
            self._stop = stop
        try:
            self.election.run(self._stop)
        finally:
            self._lost("stopping")
            self._pool.shutdown(wait=False, cancel_futures=True)

    def start(self) -> Daemon:
        """Run on a background thread (tests, embedding)."""
        self._thread = threading.Thread(target=self.run, name="nomadctl-daemon", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Stop and resign (the leader key is released at once)."""
        deadline = self.clock.monotonic() + timeout
        self._stop.set()
        self.election.resign()  # wakes the leader's blocking read of its key
        self._lost("stopping")
        if self._thread is not None:
            self._thread.join(timeout)
        with self._threads_lock:
            threads = list(self._threads)
        for t in threads:  # blocking reads end within max_wait, streams at their next heartbeat
            t.join(max(0.0, deadline - self.clock.monotonic()))

    def abandon(self) -> None:
        """Test hook: behave as a killed replica — act no more, release nothing."""
        self.election.abandon()
        self._lost("abandoned")
        self._stop.set()


# -------------------------------------------------------------------------------- status server


class _StatusHandler(BaseHTTPRequestHandler):
    daemon_: Daemon  # set on the subclass made by ``serve_status``

    def do_GET(self) -> None:
        if self.path.split("?", 1)[0] not in ("/v1/status", "/"):
            self.send_error(404, "not found")
            return
        body = json.dumps(self.daemon_.status().to_dict(), sort_keys=True).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("status %s", format % args)


def serve_status(daemon: Daemon, address: str) -> ThreadingHTTPServer:
    """Serve ``GET /v1/status`` (leading, terms, watched environments; no secrets) on
    ``HOST:PORT`` from a daemon thread, for the job's Consul check and operators."""
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit():
        raise UsageError(f"--status-addr {address!r}: expected HOST:PORT")
    handler = type("StatusHandler", (_StatusHandler,), {"daemon_": daemon})
    try:
        server = ThreadingHTTPServer((host.strip("[]") or "127.0.0.1", int(port)), handler)
    except OSError as err:
        raise UsageError(f"--status-addr {address}: {err.strerror or err}") from None
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="nomadctl-status", daemon=True).start()
    return server
