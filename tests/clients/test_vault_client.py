"""VaultClient (hvac with our adapter) against a scripted requests transport: mapping and retries."""

from __future__ import annotations

import json

import hvac.exceptions
import pytest
import requests
import requests.adapters

from nomadctl.clients import errors
from nomadctl.clients.config import VaultConfig
from nomadctl.clients.vault import VaultClient


class Scripted(requests.adapters.BaseAdapter):
    """A requests transport answering from a script of (status, body, headers) or exceptions."""

    def __init__(self, *script):
        super().__init__()
        self.script = list(script)
        self.sent = []

    def send(self, request, **kwargs):
        self.sent.append(request)
        item = self.script.pop(0) if len(self.script) > 1 else self.script[0]
        if isinstance(item, BaseException):
            raise item
        status, body, headers = (*item, {})[:3] if len(item) == 2 else item
        response = requests.Response()
        response.status_code = status
        response._content = json.dumps(body).encode() if not isinstance(body, str) else body.encode()
        response.headers.update({"Content-Type": "application/json", **headers})
        response.url = request.url
        response.request = request
        return response

    def close(self):
        pass


def vault(adapter, sleeps, token="hvs.ROOTTOKEN"):
    session = requests.Session()
    session.mount("http://", adapter)
    return VaultClient(
        VaultConfig(address="http://vault.test:8200", token=token), session=session, sleep=sleeps
    )


SECRET = {
    "data": {
        "data": {"password": "hunter2"},
        "metadata": {"version": 3, "created_time": "2026-01-01T00:00:00Z", "custom_metadata": None},
    }
}


def test_kv_read_parses_and_hides_data(sleeps):
    adapter = Scripted((200, SECRET))
    secret = vault(adapter, sleeps).kv_read("aliecs/bookkeeping")
    assert secret.data == {"password": "hunter2"}
    assert secret.version == 3
    assert "hunter2" not in repr(secret)
    request = adapter.sent[0]
    assert request.url == "http://vault.test:8200/v1/secret/data/aliecs/bookkeeping"
    assert request.headers["X-Vault-Token"] == "hvs.ROOTTOKEN"


def test_kv_write_with_cas_and_conflict_is_not_retried(sleeps):
    adapter = Scripted(
        (400, {"errors": ["check-and-set parameter did not match the current version"]}),
    )
    with pytest.raises(errors.VaultConflict) as info:
        vault(adapter, sleeps).kv_write("x", {"a": 1}, cas=2)
    assert json.loads(adapter.sent[0].body) == {"data": {"a": 1}, "options": {"cas": 2}}
    assert isinstance(info.value, errors.Conflict)
    assert len(adapter.sent) == 1
    assert sleeps == []


def test_cas_write_is_not_repeated_after_a_500(sleeps):
    adapter = Scripted((500, {"errors": ["internal error"]}), (200, {"data": {"version": 1}}))
    with pytest.raises(errors.VaultServerError):
        vault(adapter, sleeps).kv_write("x", {"a": 1}, cas=0)
    assert len(adapter.sent) == 1


def test_plain_write_is_retried_after_503(sleeps):
    adapter = Scripted((503, {"errors": ["Vault is sealed"]}), (200, {"data": {"version": 4}}))
    assert vault(adapter, sleeps).kv_write("x", {"a": 1}) == 4
    assert len(adapter.sent) == 2
    assert sleeps == [0.25]


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, errors.VaultBadRequest),
        (403, errors.VaultForbidden),
        (404, errors.VaultNotFound),
        (429, errors.VaultTooManyRequests),
        (500, errors.VaultServerError),
    ],
)
def test_statuses_map_and_never_leak_hvac(sleeps, status, cls):
    adapter = Scripted((status, {"errors": ["permission denied"]}))
    with pytest.raises(cls) as info:
        vault(adapter, sleeps).kv_read("x")
    assert not isinstance(info.value, hvac.exceptions.VaultError)
    assert type(info.value).__module__ == "nomadctl.clients.errors"
    assert info.value.path == "/v1/secret/data/x"
    assert "permission denied" in str(info.value)


def test_connection_refused_is_unreachable_with_cause(sleeps):
    adapter = Scripted(requests.exceptions.ConnectionError("NewConnectionError: Connection refused"))
    with pytest.raises(errors.VaultUnreachable) as info:
        vault(adapter, sleeps).policies()
    assert isinstance(info.value.__cause__, requests.exceptions.ConnectionError)
    assert info.value.attempts == 4
    assert len(sleeps) == 3


def test_token_lookup_never_keeps_the_token(sleeps):
    adapter = Scripted(
        (
            200,
            {
                "data": {
                    "id": "hvs.ROOTTOKEN",
                    "accessor": "acc1",
                    "policies": ["root"],
                    "ttl": 0,
                    "display_name": "root",
                    "expire_time": None,
                }
            },
        )
    )
    info = vault(adapter, sleeps).token_lookup_self()
    assert info.accessor == "acc1"
    assert info.policies == ["root"]
    assert "hvs.ROOTTOKEN" not in repr(info)
    assert not hasattr(info, "id")


def test_env_is_not_consulted(monkeypatch, sleeps):
    monkeypatch.setenv("VAULT_TOKEN", "env-token")
    monkeypatch.setenv("VAULT_ADDR", "http://elsewhere:1")
    adapter = Scripted((200, {"data": {"keys": ["a", "b/"]}}))
    client = vault(adapter, sleeps, token=None)
    assert client.kv_list("") == ["a", "b/"]
    request = adapter.sent[0]
    assert "X-Vault-Token" not in request.headers
    assert request.url.startswith("http://vault.test:8200/")


def test_kv_list_of_missing_folder_is_empty(sleeps):
    assert vault(Scripted((404, {"errors": []})), sleeps).kv_list("nothing") == []
