"""ConsulKVProvider: AliECS key layout over ConsulClient; backend failures become ProviderError."""

from __future__ import annotations

import httpx
import pytest

from nomadctl.clients.config import ConsulConfig
from nomadctl.clients.consul import ConsulClient
from nomadctl.providers.base import KVProvider, ProviderError
from nomadctl.providers.consul import ConsulKVProvider
from tests.clients.test_consul_client import FakeConsul


@pytest.fixture
def fake():
    return FakeConsul()


def provider(fake, **kwargs):
    client = ConsulClient(ConsulConfig(), transport=httpx.MockTransport(fake), sleep=lambda s: None)
    return ConsulKVProvider(client, **kwargs)


def test_is_a_kv_provider(fake):
    assert isinstance(provider(fake), KVProvider)


def test_get_keys_put_in_the_aliecs_layout(fake):
    p = provider(fake)
    assert p.get("o2/runtime/aliecs/defaults/roc_ctp_emulator_enabled") is None
    p.put("o2/runtime/aliecs/defaults/roc_ctp_emulator_enabled", "false")
    p.put("o2/runtime/aliecs/defaults/dcs_enabled", "true")
    p.put("o2/runtime/aliecs/vars/x", "1")
    assert p.get("o2/runtime/aliecs/defaults/roc_ctp_emulator_enabled") == "false"
    assert p.keys("o2/runtime/aliecs/defaults/") == [
        "o2/runtime/aliecs/defaults/dcs_enabled",
        "o2/runtime/aliecs/defaults/roc_ctp_emulator_enabled",
    ]
    assert p.keys("nothing/") == []


def test_root_prefixes_and_strips(fake):
    p = provider(fake, root="staging")
    p.put("o2/runtime/trg/ltu/cfg", "x")
    assert "staging/o2/runtime/trg/ltu/cfg" in fake.kv
    assert p.get("/o2/runtime/trg/ltu/cfg") == "x"
    assert p.keys("o2/runtime/") == ["o2/runtime/trg/ltu/cfg"]


def test_folder_placeholders_and_empty_values(fake):
    p = provider(fake)
    fake.kv["o2/hardware/"] = {
        "Value": None,
        "ModifyIndex": 1,
        "CreateIndex": 1,
        "Session": None,
        "Flags": 0,
        "LockIndex": 0,
    }
    p.put("o2/hardware/flps/flp001/cards", "[]")
    assert p.keys("o2/hardware/") == ["o2/hardware/flps/flp001/cards"]
    assert p.get("o2/hardware/") == ""


def test_backend_failure_is_a_provider_error(fake):
    fake.fail_next = [httpx.Response(403, text="Permission denied")] * 5
    with pytest.raises(ProviderError, match=r"Consul KV o2/x: .*403 Permission denied"):
        provider(fake).get("o2/x")


def test_unreachable_consul_is_a_provider_error():
    def refuse(request):
        raise httpx.ConnectError("refused", request=request)

    client = ConsulClient(ConsulConfig(), transport=httpx.MockTransport(refuse), sleep=lambda s: None)
    with pytest.raises(ProviderError, match="cannot connect"):
        ConsulKVProvider(client).keys("o2/")


def test_non_utf8_values_are_reported(fake):
    fake.kv["o2/bin"] = {
        "Value": b"\xff\xfe",
        "ModifyIndex": 1,
        "CreateIndex": 1,
        "Session": None,
        "Flags": 0,
        "LockIndex": 0,
    }
    with pytest.raises(ProviderError, match="not UTF-8"):
        provider(fake).get("o2/bin")


def test_empty_key_is_refused(fake):
    with pytest.raises(ProviderError):
        provider(fake).get("/")
