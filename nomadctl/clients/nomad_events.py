"""Nomad's event stream (``GET /v1/event/stream``) as a reconnecting iterator of frames.

The stream is NDJSON: one ``{"Index": N, "Events": [...]}`` per raft index, and ``{}`` every 30 s
as a heartbeat. What this module adds to a plain ``iter_lines``:

* **heartbeat detection**: the read timeout is ``heartbeat_timeout`` (45 s by default, above
  Nomad's 30 s heartbeat), so a connection that went silent (a dead server, a NAT dropping the
  flow) fails and is reopened instead of hanging forever;
* **resume**: a new connection asks for ``last_index + 1`` (Nomad starts at the first buffered
  index ≥ the one asked for, so ``+1`` avoids replaying the last frame);
* **re-list**: the server buffers only ``event_buffer_size`` (100) events and silently skips
  what fell out of it, so after *every* reconnect — and when indexes go backwards (a restored or
  new cluster) — ``on_reconnect(last_index)`` is called before any new frame is yielded, and
  the consumer must re-read the state it mirrors (a blocking list), then keep applying events;
* **bounded failure**: consecutive failures back off per the retry policy and, after its
  ``attempts``, the last error is raised (``Forbidden``/``BadRequest`` are raised at once).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING

from pydantic import ValidationError

from nomadctl.clients.errors import BackendError, NomadUnreachable
from nomadctl.clients.nomad_models import EventFrame
from nomadctl.clients.retry import RetryPolicy

if TYPE_CHECKING:
    from nomadctl.clients._http import HttpApi

__all__ = ["STREAM_RETRY", "EventStream", "topic_params"]

log = logging.getLogger("nomadctl.clients")

STREAM_PATH = "/v1/event/stream"

# A long-lived watcher must ride out a leader election or an agent restart, so it tries longer
# than a one-off request before giving up.
STREAM_RETRY = RetryPolicy(attempts=10, backoff_initial=0.5, backoff_max=10.0, max_total_wait=120.0)


def topic_params(topics: Mapping[str, Iterable[str]] | Sequence[str]) -> list[str]:
    """``topic=`` values: ``{"Allocation": ["job"]}`` → ``["Allocation:job"]``; a bare topic
    name means every key (``"Node"`` → ``"Node:*"``)."""
    out: list[str] = []
    if isinstance(topics, Mapping):
        for topic, keys in topics.items():
            key_list = list(keys) or ["*"]
            out.extend(f"{topic}:{key}" for key in key_list)
    else:
        out.extend(t if ":" in t else f"{t}:*" for t in topics)
    if not out:
        raise ValueError(
            "event stream needs at least one topic (no topic means all, which needs a management token)"
        )
    return out


class EventStream:
    """Iterate for ``EventFrame`` objects, forever (or until ``close()``), reconnecting as needed.

    ``last_index`` is the index of the last frame yielded; ``reconnects`` counts reopened
    connections. Heartbeats are consumed here and never yielded.
    """

    def __init__(
        self,
        api: HttpApi,
        topics: Mapping[str, Iterable[str]] | Sequence[str],
        *,
        index: int = 0,
        namespace: str | None = None,
        heartbeat_timeout: float = 45.0,
        on_reconnect: Callable[[int], None] | None = None,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._api = api
        self._topics = topic_params(topics)
        self._namespace = namespace
        self._start_index = index
        self._heartbeat_timeout = heartbeat_timeout
        self._on_reconnect = on_reconnect
        self._retry = retry or STREAM_RETRY
        self._sleep = sleep
        self._closed = threading.Event()
        self.last_index = 0
        self.reconnects = 0
        self.heartbeats = 0

    def close(self) -> None:
        """Stop the iteration (thread-safe; takes effect at the next line, heartbeat or reconnect)."""
        self._closed.set()

    def _resume_index(self) -> int:
        return self.last_index + 1 if self.last_index else self._start_index

    def _relist(self, reason: str) -> None:
        log.info("Nomad event stream %s; consumer must re-list (last index %d)", reason, self.last_index)
        if self._on_reconnect is not None:
            self._on_reconnect(self.last_index)

    def __iter__(self) -> Iterator[EventFrame]:
        failures = 0
        connected_before = False
        while not self._closed.is_set():
            params: dict[str, str | int | bool | list[str] | None] = {
                "topic": self._topics,
                "index": self._resume_index() or None,
            }
            if self._namespace is not None:
                params["namespace"] = self._namespace
            try:
                with self._api.stream(
                    "GET", STREAM_PATH, params=params, read_timeout=self._heartbeat_timeout
                ) as response:
                    if connected_before:
                        self.reconnects += 1
                        self._relist("reconnected")
                    connected_before = True
                    for line in response.iter_lines():
                        if self._closed.is_set():
                            return
                        frame = self._decode(line)
                        if line.strip():
                            failures = 0  # a heartbeat or a frame: this connection works
                        if frame is None:
                            continue
                        if frame.index <= self.last_index:
                            # Asked for last+1 and got older: the server's state was reset.
                            self.last_index = 0
                            self._relist(f"went back to index {frame.index}")
                        self.last_index = frame.index
                        yield frame
                    # A clean end of stream (server shutdown, proxy idle cut): reopen.
                    raise NomadUnreachable(
                        "event stream closed by the server", method="GET", path=STREAM_PATH
                    )
            except BackendError as error:
                if self._closed.is_set():
                    return
                failures += 1
                if not error.retryable or failures >= self._retry.attempts:
                    error.attempts = failures
                    raise
                delay = self._retry.delay(error, failures)
                log.warning(
                    "Nomad event stream: %s; reconnecting in %.2f s (failure %d/%d)",
                    error,
                    delay,
                    failures,
                    self._retry.attempts,
                )
                self._sleep(delay)

    def _decode(self, line: str) -> EventFrame | None:
        if not line.strip():
            return None
        try:
            raw = json.loads(line)
        except json.JSONDecodeError as exc:
            raise NomadUnreachable(
                "event stream sent a line that is not JSON", method="GET", path=STREAM_PATH
            ) from exc
        if raw == {}:
            self.heartbeats += 1
            return None
        if not isinstance(raw, dict) or "Index" not in raw:
            raise NomadUnreachable("event stream sent an unexpected frame", method="GET", path=STREAM_PATH)
        try:
            return EventFrame.model_validate(raw)
        except ValidationError as exc:
            raise NomadUnreachable(
                "event stream sent a malformed frame", method="GET", path=STREAM_PATH
            ) from exc
