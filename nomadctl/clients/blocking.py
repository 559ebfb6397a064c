"""Blocking queries (Nomad and Consul): the ``(data, index)`` result and the watch loop.

Both APIs answer a read with an index header (``X-Nomad-Index``, ``X-Consul-Index``); passing it
back as ``?index=`` with ``?wait=`` holds the request until something newer exists or the wait
runs out (plus up to wait/16 of jitter). The rules, from both products' documentation:

* an answer is **no guarantee of a change**: equal index means "nothing new";
* the index can **go backwards** (leader change, snapshot restore, a new cluster at the same
  address): then the last index is meaningless and the watcher resets to 0, i.e. one
  non-blocking read that returns the full current state.

``next_index`` is those rules as a pure function; ``watch`` runs the loop.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any, Generic, NamedTuple, TypeVar

T = TypeVar("T")

__all__ = ["Indexed", "next_index", "watch"]

DEFAULT_WAIT = 60.0


class Indexed(NamedTuple, Generic[T]):
    """A read result and the index it is valid at: unpack as ``data, index = ...``."""

    data: T
    index: int  # type: ignore[assignment]  # shadows tuple.index(), by design: (data, index)


def next_index(previous: int, returned: int) -> int:
    """The index to block on next, given the one we sent and the one the server answered.

    Backwards resets to 0: the next read will not block and returns a consistent snapshot to
    start from again. An index below 1 is clamped to 1 (Consul's documented guard: blocking on
    0 returns at once, and a server bug reporting 0 would otherwise make a hot loop).
    """
    if returned < previous:
        return 0
    return max(returned, 1)


def watch(
    read: Callable[..., Indexed[T]],
    *args: Any,
    index: int = 0,
    wait: float = DEFAULT_WAIT,
    stop: threading.Event | None = None,
    **kwargs: Any,
) -> Iterator[Indexed[T]]:
    """Yield ``(data, index)`` each time ``read`` reports a newer index.

    ``read(*args, index=..., wait=..., **kwargs)`` is one blocking read, such as
    ``NomadClient.job_allocations`` or ``ConsulClient.kv_get``. The first read (``index=0``)
    returns at once and is always yielded; after that only answers whose index moved forward
    are. When the index goes backwards nothing is yielded and the next read is a fresh,
    non-blocking one whose answer is yielded. Errors from ``read`` (already retried by the
    client) propagate. The loop ends when the consumer stops iterating or ``stop`` is set
    (checked between reads; a read in flight finishes first, within ``wait`` and its jitter).
    """
    current = index
    fresh = current == 0
    while stop is None or not stop.is_set():
        result = read(*args, index=current, wait=wait, **kwargs)
        following = next_index(current, result.index)
        if following == 0:
            current, fresh = 0, True
            continue
        if fresh or following > current:
            yield result
        current, fresh = following, False
