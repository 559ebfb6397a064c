"""The Nomad event stream: frames, heartbeats, reconnect with resume, re-list, giving up."""

from __future__ import annotations

import json

import httpx
import pytest

from nomadctl.clients import errors
from nomadctl.clients.config import NomadConfig
from nomadctl.clients.nomad import NomadClient
from nomadctl.clients.nomad_events import topic_params
from nomadctl.clients.retry import RetryPolicy


class Lines(httpx.SyncByteStream):
    """A streamed body: byte lines, or an exception raised when reached (silence, a cut)."""

    def __init__(self, *items):
        self.items = items

    def __iter__(self):
        for item in self.items:
            if isinstance(item, BaseException):
                raise item
            yield item


def frame(index, *types, topic="Allocation", job="aliecs-env1"):
    events = [
        {
            "Topic": topic,
            "Type": t,
            "Key": f"alloc-{index}",
            "Namespace": "default",
            "FilterKeys": [job],
            "Index": index,
            "Payload": {
                "Allocation": {
                    "ID": f"alloc-{index}",
                    "JobID": job,
                    "TaskGroup": "g",
                    "DesiredStatus": "run",
                    "ClientStatus": "running",
                }
            },
        }
        for t in types
    ]
    return (json.dumps({"Index": index, "Events": events}) + "\n").encode()


HEARTBEAT = b"{}\n"


class Server:
    """Scripted event-stream connections; records the query of each connection."""

    def __init__(self, *connections):
        self.connections = list(connections)
        self.queries = []

    def __call__(self, request):
        assert request.url.path == "/v1/event/stream"
        self.queries.append(request.url.params)
        if not self.connections:
            raise AssertionError("unexpected reconnect")
        conn = self.connections.pop(0)
        if isinstance(conn, BaseException):
            raise conn
        if isinstance(conn, httpx.Response):
            return conn
        return httpx.Response(200, stream=Lines(*conn))


def stream(server, sleeps, **kwargs):
    nomad = NomadClient(
        NomadConfig(token="stream-token"), transport=httpx.MockTransport(server), sleep=sleeps
    )
    return nomad.events({"Allocation": ["aliecs-env1"], "Node": []}, **kwargs)


def test_topic_params():
    assert topic_params({"Allocation": ["a", "b"], "Node": []}) == ["Allocation:a", "Allocation:b", "Node:*"]
    assert topic_params(["Job:x", "Deployment"]) == ["Job:x", "Deployment:*"]
    with pytest.raises(ValueError):
        topic_params([])


def test_frames_are_yielded_and_heartbeats_consumed(sleeps):
    server = Server(
        [frame(5, "AllocationUpdated"), HEARTBEAT, b"\n", frame(6, "AllocationCreated", "PlanResult")]
    )
    events = stream(server, sleeps, index=5)
    iterator = iter(events)
    first = next(iterator)
    second = next(iterator)
    events.close()
    assert (first.index, second.index) == (5, 6)
    assert [e.type for e in second.events] == ["AllocationCreated", "PlanResult"]
    alloc = first.events[0].allocation()
    assert alloc is not None
    assert alloc.job_id == "aliecs-env1"
    assert first.events[0].filter_keys == ["aliecs-env1"]
    assert events.heartbeats == 1
    query = server.queries[0]
    assert query.get_list("topic") == ["Allocation:aliecs-env1", "Node:*"]
    assert query["index"] == "5"


def test_silence_reconnects_resuming_after_last_index_and_asks_for_relist(sleeps):
    relists = []
    server = Server(
        [frame(7, "AllocationUpdated"), httpx.ReadTimeout("no heartbeat")],
        [HEARTBEAT, frame(9, "AllocationUpdated")],
    )
    events = stream(server, sleeps, on_reconnect=relists.append, heartbeat_timeout=2.0)
    got = []
    for f in events:
        got.append(f.index)
        if f.index == 9:
            events.close()
    assert got == [7, 9]
    assert "index" not in server.queries[0]  # started from "now"
    assert server.queries[1]["index"] == "8"  # last index + 1
    assert relists == [7]  # told to re-list once, before frame 9
    assert events.reconnects == 1
    assert sleeps == [0.5]


def test_heartbeat_timeout_is_the_read_timeout():
    seen = []

    def handler(request):
        seen.append(request.extensions["timeout"])
        return httpx.Response(200, stream=Lines(frame(1, "JobRegistered")))

    nomad = NomadClient(NomadConfig(), transport=httpx.MockTransport(handler), sleep=lambda s: None)
    events = nomad.events(["Job:x"], heartbeat_timeout=3.0)
    next(iter(events))
    assert seen[0]["read"] == 3.0


def test_server_closing_the_stream_reconnects(sleeps):
    relists = []
    server = Server([frame(3, "JobRegistered")], [frame(4, "JobRegistered")])
    events = stream(server, sleeps, on_reconnect=relists.append)
    iterator = iter(events)
    assert next(iterator).index == 3
    assert next(iterator).index == 4
    assert server.queries[1]["index"] == "4"
    assert relists == [3]


def test_index_going_backwards_asks_for_relist_and_follows(sleeps):
    relists = []
    server = Server([frame(50, "JobRegistered"), frame(2, "JobRegistered"), frame(3, "JobRegistered")])
    events = stream(server, sleeps, on_reconnect=relists.append)
    iterator = iter(events)
    assert [next(iterator).index for _ in range(3)] == [50, 2, 3]
    assert relists == [0]
    assert events.last_index == 3


def test_gives_up_after_consecutive_failures(sleeps):
    cut = httpx.RemoteProtocolError("peer closed connection")
    server = Server(cut, cut, cut)
    events = stream(server, sleeps, retry=RetryPolicy(attempts=3, backoff_initial=1))
    with pytest.raises(errors.NomadUnreachable) as info:
        next(iter(events))
    assert info.value.attempts == 3
    assert sleeps == [1, 2]


def test_a_working_connection_resets_the_failure_count(sleeps):
    cut = httpx.ReadTimeout("silence")
    server = Server(cut, [frame(1, "JobRegistered"), cut], cut, [frame(2, "JobRegistered")])
    # without the reset, the third consecutive failure would end the stream
    events = stream(server, sleeps, retry=RetryPolicy(attempts=3, backoff_initial=1))
    iterator = iter(events)
    assert next(iterator).index == 1
    assert next(iterator).index == 2
    assert sleeps == [1, 1, 2]


def test_forbidden_is_raised_at_once(sleeps):
    server = Server(httpx.Response(403, text="Permission denied"))
    with pytest.raises(errors.NomadForbidden):
        next(iter(stream(server, sleeps)))
    assert sleeps == []


def test_garbage_line_counts_as_a_failure_and_reconnects(sleeps):
    server = Server([b"not json\n"], [frame(8, "JobRegistered")])
    events = stream(server, sleeps)
    assert next(iter(events)).index == 8
    assert len(server.queries) == 2
