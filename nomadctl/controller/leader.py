"""Leader election among controller daemon replicas: one Consul session lock.

Every replica of ``nomadctl controller run`` campaigns for ``<prefix>/controller/leader``
(``Keys.leader``) with a Consul session (TTL, ``Behavior: release``, a small configurable
lock-delay, no node checks: a replica loses leadership when it stops renewing, not when the agent
it talks to flaps), as Consul's "application leader election" recipe says:

* a **follower** blocks on the key (blocking GET, never a polling loop); when the key has no
  session it tries to acquire it. A refusal while the key is free is the lock-delay that follows
  an invalidated session: it waits that long (as Consul's own ``api/lock.go`` waits its retry
  time) and tries again;
* the **leader** renews its session every ttl/3 (``ConsulLock.keepalive``) and keeps a blocking
  GET on the key, so an operator who deletes the key or destroys the session is noticed at once;
* on **loss** (renewal failed, key taken or gone) the leader stops acting immediately:
  ``leading`` is cleared before ``on_lost`` runs, and ``fence()`` — called by the daemon before
  every write — re-reads the key and raises ``LeadershipLost`` unless this session holds it;
* a replica that dies simply stops renewing: Consul invalidates its session after at most
  2 x TTL (Consul's documented grace), the lock-delay passes, and a follower takes over from the
  state in KV. A replica that stops cleanly releases the key first, so the takeover is immediate.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
from collections.abc import Callable
from typing import Any

from nomadctl.clients.blocking import next_index
from nomadctl.clients.consul import ConsulClient, ConsulLock
from nomadctl.clients.errors import ConsulError
from nomadctl.controller.settings import Clock
from nomadctl.errors import ApiError, LifecycleError

log = logging.getLogger(__name__)


class LeadershipLost(LifecycleError):
    """This replica is not (or no longer) the leader: it must not act."""


class LeaderElection:
    """Campaign for, hold and watch the leader key; ``run(stop)`` until stopped.

    ``on_elected()`` and ``on_lost()`` are called on the election's thread (``on_lost`` also
    from the renewal thread when a renewal fails). ``holder`` is stored as the key's value (who
    leads, since when) for ``nomadctl controller status``.
    """

    def __init__(
        self,
        consul: ConsulClient,
        key: str,
        *,
        controller_id: str,
        clock: Clock,
        ttl: float = 15.0,
        lock_delay: float = 1.0,
        max_wait: float = 30.0,
        on_elected: Callable[[], None] | None = None,
        on_lost: Callable[[str], None] | None = None,
        renew_wait: Callable[[threading.Event, float], bool] | None = None,
    ) -> None:
        self.consul = consul
        self.key = key
        self.controller_id = controller_id
        self.clock = clock
        self.ttl = ttl
        self.lock_delay = lock_delay
        self.max_wait = max_wait
        self.on_elected = on_elected or (lambda: None)
        self.on_lost = on_lost or (lambda reason: None)
        self._renew_wait = renew_wait
        self._leading = threading.Event()
        self._lost = threading.Event()
        self._lost_reason = ""
        self._lock: ConsulLock | None = None
        self._stop = threading.Event()
        self._abandoned = False
        self._mutex = threading.Lock()
        self.terms = 0

    # --- state ----------------------------------------------------------------------------------

    @property
    def leading(self) -> bool:
        """True while this replica holds the lock and has not noticed losing it."""
        return self._leading.is_set() and not self._abandoned

    @property
    def abandoned(self) -> bool:
        return self._abandoned

    @property
    def session_id(self) -> str | None:
        lock = self._lock
        return lock.session_id if lock is not None else None

    def wait_leading(self, timeout: float) -> bool:
        """Block until this replica leads (tests, ``controller run --wait``)."""
        return self._leading.wait(timeout)

    def fence(self) -> None:
        """Raise ``LeadershipLost`` unless this replica leads *and* its session holds the key now
        (one read): call it before every write, so a replica that lost the lock without noticing
        yet never acts."""
        session = self.session_id
        if not self.leading or session is None:
            raise LeadershipLost(f"{self.controller_id} is not the leader")
        try:
            holder = self.consul.lock_holder(self.key)
        except ApiError as err:
            raise LeadershipLost(
                f"{self.controller_id}: cannot confirm leadership: {err.one_line()}"
            ) from err
        if holder != session:
            self._lose("the leader key is held by another session")
            raise LeadershipLost(
                f"{self.controller_id} lost the leadership ({self.key} held by another session)"
            )

    def _lose(self, reason: str) -> None:
        if self._lost.is_set():
            return
        self._lost_reason = reason
        self._lost.set()
        was_leading = self._leading.is_set()
        self._leading.clear()
        if was_leading and not self._abandoned:
            level = logging.INFO if reason == "stopping" else logging.ERROR
            log.log(level, "controller %s lost the leadership: %s", self.controller_id, reason)
            self.on_lost(reason)

    # --- the loop -------------------------------------------------------------------------------

    def run(self, stop: threading.Event) -> None:
        """Campaign, lead, and campaign again after a loss, until ``stop`` is set; then resign
        (release the key at once, so a follower takes over without waiting for the TTL)."""
        self._stop = stop
        try:
            while not stop.is_set() and not self._abandoned:
                try:
                    if self._campaign(stop):
                        self._lead(stop)
                except ApiError as err:
                    if stop.is_set() or self._abandoned:
                        break
                    log.warning("leader election: %s; trying again in %.1f s", err.one_line(), self.ttl / 3)
                    self._discard_lock()
                    stop.wait(self.ttl / 3)
        finally:
            if not self._abandoned:
                self.resign()

    def _holder_value(self) -> str:
        info: dict[str, Any] = {"controller": self.controller_id, "since_ns": self.clock.now_ns()}
        return json.dumps(info, sort_keys=True)

    def _campaign(self, stop: threading.Event) -> bool:
        """Block until this replica holds the key (true) or ``stop`` is set (false)."""
        index = 0
        while not stop.is_set() and not self._abandoned:
            entry, returned = self.consul.kv_get(self.key, index=index, wait=self.max_wait)
            if stop.is_set() or self._abandoned:
                return False
            if entry is None or not entry.session:
                lock = ConsulLock(
                    self.consul,
                    self.key,
                    name=f"nomadctl controller leader {self.controller_id}",
                    ttl=self.ttl,
                    lock_delay=self.lock_delay,
                )
                if lock.acquire(self._holder_value()):
                    self._lock = lock
                    return True
                with contextlib.suppress(ConsulError):
                    lock.release()
                entry_now = self.consul.kv_get(self.key).data
                if entry_now is None or not entry_now.session:
                    # free but refused: the lock-delay after an invalidated session
                    stop.wait(max(self.lock_delay, 0.05))
                    index = 0
                    continue
            index = next_index(index, returned)
        return False

    def _lead(self, stop: threading.Event) -> None:
        lock = self._lock
        assert lock is not None
        self._lost.clear()
        self._lost_reason = ""
        self.terms += 1
        with lock.keepalive(
            on_lost=lambda err: self._lose(f"session renewal failed: {err}"), wait=self._pause
        ):
            self._leading.set()
            log.info("controller %s is the leader (session %s)", self.controller_id, lock.session_id)
            try:
                self.on_elected()
                index = 0
                while not stop.is_set() and not self._lost.is_set() and not self._abandoned:
                    entry, returned = self.consul.kv_get(
                        self.key, index=index, wait=min(self.max_wait, self.ttl)
                    )
                    if entry is None or entry.session != lock.session_id:
                        self._lose("the leader key was released or deleted")
                        break
                    index = next_index(index, returned)
            except ApiError as err:
                # cannot watch the key: the session may still be valid, but do not act blind
                self._lose(f"cannot watch the leader key: {err.one_line()}")
            finally:
                if stop.is_set() and not self._lost.is_set():
                    self._lose("stopping")
        if not self._abandoned:
            self._discard_lock()

    def _pause(self, stop: threading.Event, seconds: float) -> bool:
        # between renewals; an abandoned replica (a "killed" one) renews no more
        stopped = self._renew_wait(stop, seconds) if self._renew_wait else stop.wait(seconds)
        return stopped or self._abandoned

    def _discard_lock(self) -> None:
        with self._mutex:
            lock, self._lock = self._lock, None
        if lock is None:
            return
        try:
            lock.release()
        except ConsulError as err:  # the session expires by itself
            log.warning("could not release %s: %s", self.key, err.one_line())

    def resign(self) -> None:
        """Give up the leadership (if held) and release the key at once. Safe from any thread:
        the leader's blocking read of the key returns when the key is released."""
        if self._abandoned:
            return
        self._lose("stopping")
        self._discard_lock()

    def abandon(self) -> None:
        """Test hook: behave as if the process died — stop renewing and acting, release nothing.

        The session then expires in Consul (after at most 2 x TTL) as a killed replica's would.
        """
        self._abandoned = True
        self._leading.clear()
        self._lost.set()
        self._stop.set()
