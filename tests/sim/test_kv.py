"""Consul KV: values, check-and-set, recurse/keys, delete, blocking reads, locks and sessions."""

from __future__ import annotations

import base64
from typing import Any

import httpx

from nomadctl.sim import SimFarm
from tests.sim.helpers import parked


def _value(entry: dict[str, Any]) -> bytes:
    return base64.b64decode(entry["Value"])


def test_put_get_and_404_with_index(consul: httpx.Client) -> None:
    assert consul.get("/v1/kv/missing").status_code == 404
    assert "X-Consul-Index" in consul.get("/v1/kv/missing").headers
    assert consul.put("/v1/kv/o2/env/1", content=b'{"state":"STANDBY"}').json() is True
    r = consul.get("/v1/kv/o2/env/1")
    (entry,) = r.json()
    assert entry["Key"] == "o2/env/1"
    assert _value(entry) == b'{"state":"STANDBY"}'
    assert entry["CreateIndex"] == entry["ModifyIndex"] == int(r.headers["X-Consul-Index"])
    assert consul.get("/v1/kv/o2/env/1", params={"raw": ""}).content == b'{"state":"STANDBY"}'


def test_check_and_set(consul: httpx.Client) -> None:
    assert consul.put("/v1/kv/k", params={"cas": 0}, content=b"a").json() is True
    assert consul.put("/v1/kv/k", params={"cas": 0}, content=b"b").json() is False
    (entry,) = consul.get("/v1/kv/k").json()
    assert consul.put("/v1/kv/k", params={"cas": entry["ModifyIndex"] + 5}, content=b"c").json() is False
    assert consul.put("/v1/kv/k", params={"cas": entry["ModifyIndex"]}, content=b"c").json() is True
    assert _value(consul.get("/v1/kv/k").json()[0]) == b"c"
    (entry,) = consul.get("/v1/kv/k").json()
    assert consul.delete("/v1/kv/k", params={"cas": 1}).json() is False
    assert consul.delete("/v1/kv/k", params={"cas": entry["ModifyIndex"]}).json() is True
    assert consul.get("/v1/kv/k").status_code == 404


def test_recurse_keys_and_recursive_delete(consul: httpx.Client) -> None:
    for k in ("a/1", "a/2/x", "a/2/y", "b/1"):
        consul.put(f"/v1/kv/{k}", content=k.encode())
    assert [e["Key"] for e in consul.get("/v1/kv/a/", params={"recurse": ""}).json()] == [
        "a/1",
        "a/2/x",
        "a/2/y",
    ]
    assert consul.get("/v1/kv/a/", params={"keys": ""}).json() == ["a/1", "a/2/x", "a/2/y"]
    assert consul.get("/v1/kv/a/", params={"keys": "", "separator": "/"}).json() == ["a/1", "a/2/"]
    assert consul.delete("/v1/kv/a/", params={"recurse": ""}).json() is True
    assert consul.get("/v1/kv/a/", params={"recurse": ""}).status_code == 404
    assert consul.get("/v1/kv/b/1").status_code == 200


def test_blocking_read_wakes_on_its_key_only(farm: SimFarm, consul: httpx.Client) -> None:
    consul.put("/v1/kv/watched", content=b"1")
    index = int(consul.get("/v1/kv/watched").headers["X-Consul-Index"])
    with httpx.Client(base_url=farm.consul_addr, timeout=10) as other:
        t, out = parked(farm, lambda: other.get("/v1/kv/watched", params={"index": index, "wait": "5s"}))
        consul.put("/v1/kv/unrelated", content=b"x")
        t.join(0.2)
        assert t.is_alive()  # another key changed: still parked
        consul.put("/v1/kv/watched", content=b"2")
        t.join(5)
    assert _value(out[0].json()[0]) == b"2"
    assert int(out[0].headers["X-Consul-Index"]) > index


def _session(consul: httpx.Client, **body: Any) -> str:
    r = consul.put("/v1/session/create", json=body)
    assert r.status_code == 200, r.text
    return str(r.json()["ID"])


def test_lock_acquire_release_and_lock_index(consul: httpx.Client) -> None:
    s1 = _session(consul, Name="ctl-1", TTL="15s")
    s2 = _session(consul, Name="ctl-2", TTL="15s", LockDelay="0s")
    assert consul.put("/v1/kv/lock", params={"acquire": s1}, content=b"me").json() is True
    assert consul.put("/v1/kv/lock", params={"acquire": s2}, content=b"you").json() is False
    (entry,) = consul.get("/v1/kv/lock").json()
    assert entry["Session"] == s1
    assert entry["LockIndex"] == 1
    assert consul.put("/v1/kv/lock", params={"release": s2}).json() is False
    assert consul.put("/v1/kv/lock", params={"release": s1}).json() is True
    assert (
        "Session" not in consul.get("/v1/kv/lock").json()[0]
        or consul.get("/v1/kv/lock").json()[0]["Session"] is None
    )
    assert consul.put("/v1/kv/lock", params={"acquire": s2}).json() is True
    assert consul.get("/v1/kv/lock").json()[0]["LockIndex"] == 2


def test_destroyed_session_releases_its_lock_and_starts_lock_delay(consul: httpx.Client) -> None:
    s1 = _session(consul, TTL="15s", LockDelay="15s")
    s2 = _session(consul, TTL="15s")
    consul.put("/v1/kv/lock", params={"acquire": s1})
    assert consul.put(f"/v1/session/destroy/{s1}").json() is True
    assert consul.get("/v1/kv/lock").json()[0]["Session"] is None
    # lock-delay: re-acquisition is refused for 15 s after the invalidation
    assert consul.put("/v1/kv/lock", params={"acquire": s2}).json() is False
    assert consul.get(f"/v1/session/info/{s1}").json() is None


def test_delete_behaviour_removes_the_key(consul: httpx.Client) -> None:
    s = _session(consul, TTL="15s", Behavior="delete")
    consul.put("/v1/kv/eph", params={"acquire": s}, content=b"x")
    consul.put(f"/v1/session/destroy/{s}")
    assert consul.get("/v1/kv/eph").status_code == 404


def test_session_ttl_expires_at_twice_the_ttl(farm: SimFarm, consul: httpx.Client) -> None:
    s = _session(consul, ttl="10s", lockdelay="0s")  # py-consul sends lower-case keys
    consul.put("/v1/kv/lock", params={"acquire": s})
    farm.advance(15)
    assert consul.put(f"/v1/session/renew/{s}").status_code == 200
    farm.advance(19)
    assert consul.get(f"/v1/session/info/{s}").json()[0]["ID"] == s
    farm.advance(2)
    assert consul.get(f"/v1/session/info/{s}").json() is None
    assert consul.get("/v1/kv/lock").json()[0]["Session"] is None
    r = consul.put(f"/v1/session/renew/{s}")
    assert r.status_code == 404


def test_acquire_with_unknown_session_is_an_error(consul: httpx.Client) -> None:
    r = consul.put("/v1/kv/lock", params={"acquire": "nope"})
    assert r.status_code == 500
    assert r.text == 'invalid session "nope"'


def test_session_on_a_node_is_invalidated_when_the_node_dies(farm: SimFarm, consul: httpx.Client) -> None:
    s = _session(consul, Node="n001", TTL="30s")
    consul.put("/v1/kv/lock", params={"acquire": s})
    farm.faults.node_down("n001")
    assert consul.get(f"/v1/session/info/{s}").json() is None
    assert consul.get("/v1/kv/lock").json()[0]["Session"] is None
