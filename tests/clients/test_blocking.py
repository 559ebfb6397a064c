"""Blocking-query index handling and the watch loop."""

from __future__ import annotations

import threading

import pytest

from nomadctl.clients.blocking import Indexed, next_index, watch


@pytest.mark.parametrize(
    ("previous", "returned", "expected"),
    [
        (0, 5, 5),
        (5, 5, 5),  # no change: block again on the same index
        (5, 9, 9),
        (9, 3, 0),  # went backwards: reset to a fresh, non-blocking read
        (0, 0, 1),  # never block on 0 again (hot loop guard)
    ],
)
def test_next_index(previous, returned, expected):
    assert next_index(previous, returned) == expected


class FakeReads:
    """Answers reads from a script of (data, index); records the index/wait of each call."""

    def __init__(self, *answers):
        self.answers = list(answers)
        self.calls = []

    def __call__(self, key, *, index, wait):
        self.calls.append((key, index, wait))
        data, idx = self.answers.pop(0)
        return Indexed(data, idx)


def take(iterator, n):
    return [next(iterator) for _ in range(n)]


def test_indexed_unpacks_as_data_and_index():
    data, index = Indexed(["a"], 7)
    assert (data, index) == (["a"], 7)


def test_watch_yields_first_read_then_only_changes():
    reads = FakeReads((["a"], 10), (["a"], 10), (["a", "b"], 12), (["b"], 15))
    got = take(watch(reads, "job", wait=30), 3)
    assert got == [(["a"], 10), (["a", "b"], 12), (["b"], 15)]
    assert [c[1] for c in reads.calls] == [0, 10, 10, 12]
    assert all(c[0] == "job" and c[2] == 30 for c in reads.calls)


def test_watch_resets_when_index_goes_backwards():
    reads = FakeReads((["a"], 100), (["stale"], 40), (["fresh"], 41), (["fresher"], 42))
    got = take(watch(reads, "job"), 3)
    # the backwards answer is not yielded; a fresh read at index 0 is, then watching resumes
    assert got == [(["a"], 100), (["fresh"], 41), (["fresher"], 42)]
    assert [c[1] for c in reads.calls] == [0, 100, 0, 41]


def test_watch_resuming_from_an_index_does_not_yield_an_unchanged_answer():
    reads = FakeReads((["a"], 7), (["b"], 8))
    got = take(watch(reads, "job", index=7), 1)
    assert got == [(["b"], 8)]
    assert [c[1] for c in reads.calls] == [7, 7]


def test_watch_stops_when_the_event_is_set():
    stop = threading.Event()
    reads = FakeReads((["a"], 1), (["b"], 2))
    iterator = watch(reads, "job", stop=stop)
    assert next(iterator) == (["a"], 1)
    stop.set()
    assert list(iterator) == []
    assert len(reads.calls) == 1


def test_watch_propagates_read_errors():
    def failing(key, *, index, wait):
        raise RuntimeError("down")

    with pytest.raises(RuntimeError):
        next(watch(failing, "job"))
