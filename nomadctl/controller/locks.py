"""The per-environment lock: a Consul session holding ``<prefix>/envs/<id>/lock``.

Every transition (and teardown, and crash recovery) runs under it, so the CLI and any number of
controller replicas can act on one environment and never two at once. The key's value says who
holds it (controller id, transition, since), which ``env show`` prints.

The session has a TTL and no node checks (``ConsulClient.session_create``); it is renewed every
ttl/3 on a thread. If renewal fails the holder is told (``check()`` raises ``LockLost`` at the next
step) and stops acting; what it did so far is in the record. A controller that dies simply stops
renewing: Consul invalidates the session (after at most 2 x TTL) and, after ``lock_delay``, the
next controller acquires the lock and reconciles the record with Nomad.

Acquisition waits up to ``wait`` seconds with blocking queries on the lock key (never a polling
loop), then refuses with ``EnvironmentBusy`` naming the holder.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
from types import TracebackType
from typing import Any

from nomadctl.clients.blocking import next_index
from nomadctl.clients.consul import ConsulClient, ConsulLock
from nomadctl.clients.errors import ConsulError
from nomadctl.controller.errors import EnvironmentBusy, LockLost
from nomadctl.controller.settings import Clock

log = logging.getLogger(__name__)


def describe_holder(consul: ConsulClient, key: str) -> dict[str, Any] | None:
    """Who holds the lock at ``key`` (its stored description plus ``session``), or ``None``."""
    entry = consul.kv_get(key).data
    if entry is None or not entry.session:
        return None
    try:
        info = json.loads(entry.text or "{}")
    except ValueError:
        info = {}
    if not isinstance(info, dict):
        info = {}
    info["session"] = entry.session
    return info


class EnvLock:
    """Context manager: hold the environment's lock for the duration of the block."""

    def __init__(
        self,
        consul: ConsulClient,
        key: str,
        *,
        env_id: str,
        holder: dict[str, Any],
        clock: Clock,
        ttl: float = 15.0,
        lock_delay: float = 5.0,
        wait: float = 30.0,
        max_wait: float = 30.0,
    ) -> None:
        self.consul = consul
        self.key = key
        self.env_id = env_id
        self.holder = holder
        self.clock = clock
        self.wait = wait
        self.max_wait = max_wait
        self._lock = ConsulLock(consul, key, name=f"nomadctl env {env_id}", ttl=ttl, lock_delay=lock_delay)
        self._lost = threading.Event()
        self._lost_reason = ""
        self._stack = contextlib.ExitStack()

    def acquire(self) -> None:
        """Take the lock, waiting up to ``wait`` s for the holder to finish; ``EnvironmentBusy``."""
        value = json.dumps(self.holder, sort_keys=True)
        deadline = self.clock.monotonic() + self.wait
        index = 0
        try:
            while not self._lock.acquire(value):
                remaining = deadline - self.clock.monotonic()
                if remaining <= 0:
                    raise self._busy()
                # wakes when the key changes (released, session invalidated) or at the deadline;
                # a lock-delay refusal also lands here and waits for the next change or deadline
                _, returned = self.consul.kv_get(self.key, index=index, wait=min(remaining, self.max_wait))
                index = next_index(index, returned)
        except BaseException:
            self._discard()
            raise
        self._stack.enter_context(self._lock.keepalive(on_lost=self._on_lost))

    def _busy(self) -> EnvironmentBusy:
        info = describe_holder(self.consul, self.key) or {}
        who = info.get("controller", "another controller")
        what = info.get("transition", "a transition")
        return EnvironmentBusy(
            f"environment {self.env_id} is busy: {who} is running {what}; waited {self.wait:g} s "
            f"for its lock ({self.key})"
        )

    def _on_lost(self, error: BaseException) -> None:
        self._lost_reason = str(error)
        self._lost.set()

    def check(self) -> None:
        """Raise ``LockLost`` if the session could not be renewed (stop acting at once)."""
        if self._lost.is_set():
            raise LockLost(
                f"environment {self.env_id}: lost the lock {self.key} ({self._lost_reason}); stopped. "
                "The record shows where the transition stopped; the next command reconciles it."
            )

    def update(self, **info: Any) -> None:
        """Rewrite the holder description (e.g. when a recovery turns into GO_ERROR)."""
        self.holder.update(info)
        if self._lock.session_id is not None:
            with contextlib.suppress(ConsulError):
                self.consul.lock_acquire(
                    self.key, self._lock.session_id, json.dumps(self.holder, sort_keys=True)
                )

    def _discard(self) -> None:
        try:
            self._lock.release()
        except ConsulError as err:  # the session will expire by itself
            log.warning("could not release %s: %s", self.key, err)

    def release(self) -> None:
        self._stack.close()
        self._discard()

    def __enter__(self) -> EnvLock:
        self.acquire()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()
