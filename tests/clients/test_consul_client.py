"""ConsulClient (py-consul over our httpx transport) against a small in-test Consul KV/session fake."""

from __future__ import annotations

import base64
import json
import threading

import httpx
import pytest

from nomadctl.clients import errors
from nomadctl.clients.config import ConsulConfig
from nomadctl.clients.consul import ConsulClient


class FakeConsul:
    """Just enough of Consul's KV and session API, with real answer shapes and X-Consul-Index."""

    def __init__(self):
        self.index = 1
        self.kv = {}  # key -> dict(Value bytes, ModifyIndex, CreateIndex, Session, Flags, LockIndex)
        self.sessions = {}
        self.requests = []
        self.fail_next = []  # responses returned before handling

    def _entry(self, key, e):
        value = None if e["Value"] is None else base64.b64encode(e["Value"]).decode()
        out = {"Key": key, "Value": value, "Flags": e["Flags"], "LockIndex": e["LockIndex"]}
        out.update(CreateIndex=e["CreateIndex"], ModifyIndex=e["ModifyIndex"])
        if e["Session"]:
            out["Session"] = e["Session"]
        return out

    def _ok(self, body, status=200):
        return httpx.Response(status, json=body, headers={"X-Consul-Index": str(self.index)})

    def __call__(self, request: httpx.Request):
        self.requests.append(request)
        if self.fail_next:
            return self.fail_next.pop(0)
        path = request.url.path
        params = request.url.params
        if path.startswith("/v1/kv/"):
            return self._kv(request.method, path[len("/v1/kv/") :], params, request.content)
        if path == "/v1/session/create":
            body = json.loads(request.content or b"{}")
            sid = f"sess-{len(self.sessions) + 1}"
            self.sessions[sid] = body
            return self._ok({"ID": sid})
        if path.startswith("/v1/session/renew/"):
            sid = path.rsplit("/", 1)[1]
            if sid not in self.sessions:
                return httpx.Response(404, text=f"Session id '{sid}' not found")
            return self._ok([{"ID": sid, "TTL": self.sessions[sid].get("ttl", "")}])
        if path.startswith("/v1/session/destroy/"):
            sid = path.rsplit("/", 1)[1]
            self.sessions.pop(sid, None)
            for e in self.kv.values():
                if e["Session"] == sid:
                    e["Session"] = None
            return self._ok(True)
        return httpx.Response(404, text="unknown path")

    def _kv(self, method, key, params, content):
        if method == "GET":
            if "keys" in params:
                keys = sorted(k for k in self.kv if k.startswith(key))
                return (
                    self._ok(keys)
                    if keys
                    else httpx.Response(404, headers={"X-Consul-Index": str(self.index)})
                )
            if "recurse" in params:
                found = [self._entry(k, e) for k, e in sorted(self.kv.items()) if k.startswith(key)]
                return (
                    self._ok(found)
                    if found
                    else httpx.Response(404, headers={"X-Consul-Index": str(self.index)})
                )
            if key not in self.kv:
                return httpx.Response(404, headers={"X-Consul-Index": str(self.index)})
            return self._ok([self._entry(key, self.kv[key])])
        if method == "PUT":
            current = self.kv.get(key)
            if "cas" in params:
                cas = int(params["cas"])
                if (cas == 0 and current is not None) or (
                    cas != 0 and (current is None or current["ModifyIndex"] != cas)
                ):
                    return self._ok(False)
            held_by_other = current is not None and current["Session"] not in (None, params.get("acquire"))
            if "acquire" in params and held_by_other:
                return self._ok(False)
            not_holder = current is None or current["Session"] != params.get("release")
            if "release" in params and not_holder:
                return self._ok(False)
            self.index += 1
            entry = current or {"CreateIndex": self.index, "Flags": 0, "LockIndex": 0, "Session": None}
            entry["Value"] = content or None  # as Consul: the body replaces the value, even on release
            entry["ModifyIndex"] = self.index
            if "acquire" in params:
                entry["Session"] = params["acquire"]
                entry["LockIndex"] += 1
            if "release" in params:
                entry["Session"] = None
            self.kv[key] = entry
            return self._ok(True)
        if method == "DELETE":
            if "cas" in params and (key not in self.kv or self.kv[key]["ModifyIndex"] != int(params["cas"])):
                return self._ok(False)
            for k in [k for k in self.kv if (k.startswith(key) if "recurse" in params else k == key)]:
                del self.kv[k]
            self.index += 1
            return self._ok(True)
        return httpx.Response(405)


@pytest.fixture
def fake():
    return FakeConsul()


@pytest.fixture
def consul(fake, sleeps):
    return ConsulClient(
        ConsulConfig(token="consul-secret"), transport=httpx.MockTransport(fake), sleep=sleeps
    )


def test_kv_round_trip_with_indexes(consul, fake):
    assert consul.kv_get("o2/runtime/aliecs/vars/x") == (None, 1)
    consul.kv_put("o2/runtime/aliecs/vars/x", "hello")
    entry, index = consul.kv_get("o2/runtime/aliecs/vars/x")
    assert entry is not None
    assert entry.text == "hello"
    assert entry.modify_index == index == 2
    assert fake.requests[-1].headers["X-Consul-Token"] == "consul-secret"


def test_env_token_does_not_override_the_configured_one(fake, monkeypatch, sleeps):
    monkeypatch.setenv("CONSUL_HTTP_TOKEN", "env-token")
    monkeypatch.setenv("CONSUL_HTTP_ADDR", "10.9.9.9:1")
    consul = ConsulClient(ConsulConfig(token="explicit"), transport=httpx.MockTransport(fake), sleep=sleeps)
    consul.kv_get("a")
    request = fake.requests[-1]
    assert request.headers.get_list("X-Consul-Token") == ["explicit"]
    assert request.url.host == "127.0.0.1"


def test_no_token_header_without_a_token(fake, monkeypatch, sleeps):
    monkeypatch.setenv("CONSUL_HTTP_TOKEN", "env-token")
    ConsulClient(ConsulConfig(), transport=httpx.MockTransport(fake), sleep=sleeps).kv_get("a")
    assert "X-Consul-Token" not in fake.requests[-1].headers


def test_cas_create_only_and_lost_race(consul):
    consul.kv_put("state/env1", "v1", cas=0)
    with pytest.raises(errors.ConsulConflict) as info:
        consul.kv_put("state/env1", "v2", cas=0)
    assert isinstance(info.value, errors.Conflict)
    entry = consul.kv_get("state/env1").data
    consul.kv_put("state/env1", "v2", cas=entry.modify_index)
    with pytest.raises(errors.ConsulConflict):
        consul.kv_put("state/env1", "v3", cas=entry.modify_index)  # stale index
    assert consul.kv_get("state/env1").data.text == "v2"


def test_kv_list_keys_and_delete(consul):
    for key in ("o2/hardware/flps/flp001/cards", "o2/hardware/flps/flp002/cards", "o2/other"):
        consul.kv_put(key, "[]")
    assert consul.kv_keys("o2/hardware/") == [
        "o2/hardware/flps/flp001/cards",
        "o2/hardware/flps/flp002/cards",
    ]
    entries, _ = consul.kv_list("o2/hardware/")
    assert [e.key for e in entries] == ["o2/hardware/flps/flp001/cards", "o2/hardware/flps/flp002/cards"]
    assert consul.kv_keys("nothing/") == []
    consul.kv_delete("o2/hardware/", recurse=True)
    assert consul.kv_keys("o2/") == ["o2/other"]
    stale = consul.kv_get("o2/other").data.modify_index - 1
    with pytest.raises(errors.ConsulConflict):
        consul.kv_delete("o2/other", cas=stale)


def test_blocking_kv_read_sends_index_wait_and_timeout(consul, fake):
    consul.kv_put("k", "v")
    consul.kv_get("k", index=2, wait=10)
    request = fake.requests[-1]
    assert request.url.params["index"] == "2"
    assert request.url.params["wait"] == "10s"
    assert request.extensions["timeout"]["read"] > 10 * 17 / 16


def test_key_with_spaces_is_quoted(consul, fake):
    consul.kv_put("o2/components/qc/ANY/any/my entry", "x")
    assert fake.requests[-1].url.raw_path.startswith(b"/v1/kv/o2/components/qc/ANY/any/my%20entry")


def test_sessions_and_locks(consul, fake):
    lock = consul.lock("service/nomadctl/leader", name="nomadctl", ttl=15, lock_delay=5)
    assert lock.acquire(b"controller-1")
    sid = lock.session_id
    body = fake.sessions[sid]
    # TTL-only session: not tied to the agent node's serfHealth check
    assert body == {"name": "nomadctl", "checks": [], "lockdelay": "5s", "ttl": "15s"}
    assert lock.held()
    other = consul.lock("service/nomadctl/leader", name="other")
    assert not other.acquire()
    lock.renew()
    lock.release()
    assert sid not in fake.sessions
    assert consul.lock_holder("service/nomadctl/leader") is None
    assert other.acquire()
    other.release()


def test_renewing_a_lost_session_is_not_found(consul):
    sid = consul.session_create("x", ttl=10)
    consul.session_destroy(sid)
    with pytest.raises(errors.ConsulNotFound) as info:
        consul.session_renew(sid)
    assert isinstance(info.value, errors.NotFound)


def test_session_arguments_are_validated(consul):
    with pytest.raises(ValueError, match="TTL"):
        consul.session_create("x", ttl=5)
    with pytest.raises(ValueError, match="lock delay"):
        consul.session_create("x", lock_delay=61)


def test_keepalive_renews_until_left_and_reports_loss(consul, fake):
    lock = consul.lock("l", name="n", ttl=12)
    assert lock.acquire()
    entered = threading.Semaphore(0)  # the renewer reached its pause
    ticks = threading.Semaphore(0)  # let one pause end
    lost = []
    lost_event = threading.Event()

    def wait(stop, seconds):
        assert seconds == 4  # a third of the TTL
        entered.release()
        assert ticks.acquire(timeout=10)
        return stop.is_set()

    def on_lost(error):
        lost.append(error)
        lost_event.set()

    with lock.keepalive(on_lost, wait=wait):
        assert entered.acquire(timeout=10)
        before = len(fake.requests)
        ticks.release()
        assert entered.acquire(timeout=10)  # back in its pause: the renewal is done
        assert [r.url.path for r in fake.requests[before:]] == [f"/v1/session/renew/{lock.session_id}"]
        fake.sessions.clear()  # an operator destroyed the session
        ticks.release()
        assert lost_event.wait(timeout=10)
    assert len(lost) == 1
    assert isinstance(lost[0], errors.ConsulNotFound)


def test_5xx_is_retried_and_429_honours_retry_after(consul, fake, sleeps):
    fake.fail_next = [
        httpx.Response(500, text="No cluster leader"),
        httpx.Response(429, text="rate limited", headers={"Retry-After": "3"}),
    ]
    assert consul.kv_get("a").data is None
    assert sleeps == [0.25, 3.0]


def test_403_is_forbidden_and_chains_the_py_consul_exception(consul, fake):
    fake.fail_next = [httpx.Response(403, text="Permission denied: token with AccessorID 'x' lacks key:read")]
    with pytest.raises(errors.ConsulForbidden) as info:
        consul.kv_get("secret/thing")
    error = info.value
    assert error.status == 403
    assert error.path == "/v1/kv/secret/thing"
    assert type(error.__cause__).__module__.startswith("consul")
    assert "consul-secret" not in str(error)


def test_connection_failure_is_unreachable(sleeps):
    def refuse(request):
        raise httpx.ConnectError("Connection refused", request=request)

    consul = ConsulClient(ConsulConfig(), transport=httpx.MockTransport(refuse), sleep=sleeps)
    with pytest.raises(errors.ConsulUnreachable) as info:
        consul.kv_put("a", "b")
    assert isinstance(info.value.__cause__, httpx.ConnectError)
    assert info.value.attempts == 4  # a refused connect is safe to repeat even for a write


def test_health_and_catalog_parse(sleeps):
    health = [
        {
            "Node": {"Node": "flp001", "Address": "10.0.0.1"},
            "Service": {
                "ID": "_nomad-task-a1-g-readout-data",
                "Service": "readout",
                "Tags": ["aliecs"],
                "Address": "",
                "Port": 2500,
                "Meta": None,
            },
            "Checks": [
                {
                    "Node": "flp001",
                    "CheckID": "serfHealth",
                    "Name": "Serf",
                    "Status": "passing",
                    "ServiceID": "",
                    "ServiceName": "",
                },
                {
                    "Node": "flp001",
                    "CheckID": "c1",
                    "Name": "tcp",
                    "Status": "critical",
                    "ServiceID": "_nomad-task-a1-g-readout-data",
                    "ServiceName": "readout",
                    "Output": "dial tcp: refused",
                },
            ],
        }
    ]
    catalog = [
        {
            "Node": "flp001",
            "Address": "10.0.0.1",
            "ServiceID": "s1",
            "ServiceName": "readout",
            "ServiceTags": None,
            "ServiceAddress": "",
            "ServicePort": 2500,
            "ServiceMeta": {"env": "e1"},
        }
    ]
    seen = []

    def handler(request):
        seen.append(request)
        body = {
            "/v1/health/service/readout": health,
            "/v1/catalog/service/readout": catalog,
            "/v1/catalog/services": {"readout": ["aliecs"], "consul": None},
        }[request.url.path]
        return httpx.Response(200, json=body, headers={"X-Consul-Index": "42"})

    consul = ConsulClient(ConsulConfig(datacenter="p2"), transport=httpx.MockTransport(handler), sleep=sleeps)
    (instance,), index = consul.health_service("readout", passing=True, index=41, wait=5)
    assert index == 42
    assert seen[-1].url.params["passing"] == "1"
    assert seen[-1].url.params["dc"] == "p2"
    assert instance.address == "10.0.0.1"
    assert instance.service.port == 2500
    assert not instance.passing
    assert instance.node_name == "flp001"
    (entry,), _ = consul.catalog_service("readout")
    assert entry.service_meta == {"env": "e1"}
    assert entry.service_tags == []
    services, _ = consul.catalog_services()
    assert services == {"readout": ["aliecs"], "consul": []}


def test_agent_registration_refused_is_not_silent(sleeps):
    # py-consul's boolean callbacks return False on 404; the client must not swallow that
    seen = []

    def handler(request):
        seen.append(request)
        return httpx.Response(404, text="Unknown check ID")

    consul = ConsulClient(ConsulConfig(), transport=httpx.MockTransport(handler), sleep=sleeps)
    with pytest.raises(errors.ConsulNotFound):
        consul.register_service("svc", port=1, ttl=10)
    body = json.loads(seen[-1].content)
    assert body["checks"] == [
        {"CheckID": "service:svc", "Name": "svc TTL", "TTL": "10s", "DeregisterCriticalServiceAfter": "1m"}
    ]
    with pytest.raises(errors.ConsulNotFound, match="service:svc"):
        consul.pass_ttl_check("service:svc")
    consul.deregister_service("svc")  # idempotent
