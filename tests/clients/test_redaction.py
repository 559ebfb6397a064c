"""Tokens never reach logs or error messages, whatever the backend or failure."""

from __future__ import annotations

import logging

import httpx
import pytest
import requests

from nomadctl.clients import errors, redact
from nomadctl.clients.config import ConsulConfig, NomadConfig, VaultConfig
from nomadctl.clients.consul import ConsulClient
from nomadctl.clients.nomad import NomadClient
from nomadctl.clients.vault import VaultClient

NOMAD_TOKEN = "nomad-0b7e1f7c-planted-token"
CONSUL_TOKEN = "consul-5d1e2a9f-planted-token"
VAULT_TOKEN = "hvs.vault-planted-token-77"


def echo_token_handler(request):
    # A hostile or buggy proxy that echoes the token back in its error text.
    token = request.headers.get("X-Nomad-Token") or request.headers.get("X-Consul-Token") or ""
    return httpx.Response(503, text=f"upstream rejected token {token}")


def test_planted_tokens_never_appear_in_logs_or_errors(caplog):
    caplog.set_level(logging.DEBUG)
    transport = httpx.MockTransport(echo_token_handler)
    nomad = NomadClient(NomadConfig(token=NOMAD_TOKEN), transport=transport, sleep=lambda s: None)
    consul = ConsulClient(ConsulConfig(token=CONSUL_TOKEN), transport=transport, sleep=lambda s: None)

    class Echo(requests.adapters.BaseAdapter):
        def send(self, request, **kwargs):
            response = requests.Response()
            response.status_code = 500
            response._content = f'{{"errors": ["bad token {request.headers.get("X-Vault-Token")}"]}}'.encode()
            response.headers["Content-Type"] = "application/json"
            response.request = request
            response.url = request.url
            return response

        def close(self):
            pass

    session = requests.Session()
    session.mount("http://", Echo())
    vault = VaultClient(
        VaultConfig(address="http://v:8200", token=VAULT_TOKEN), session=session, sleep=lambda s: None
    )

    messages = []
    for call in (lambda: nomad.job("x"), lambda: consul.kv_get("x"), lambda: vault.kv_read("x")):
        with pytest.raises(errors.BackendError) as info:
            call()
        messages.append(str(info.value))
        messages.append(info.value.one_line())
    # a stray log line from any code path that formats a token by mistake
    logging.getLogger("httpx").warning("debug dump: headers X-Nomad-Token=%s", NOMAD_TOKEN)
    logging.getLogger("nomadctl.clients").error("oops %s %s", CONSUL_TOKEN, VAULT_TOKEN)

    text = caplog.text + "\n".join(messages) + "\n".join(r.getMessage() for r in caplog.records)
    assert caplog.records, "the scenario must produce log records"
    assert sum("retrying in" in r.getMessage() for r in caplog.records) >= 3
    for token in (NOMAD_TOKEN, CONSUL_TOKEN, VAULT_TOKEN):
        assert token not in text
    assert redact.MASK in text


def test_filter_masks_arguments_and_leaves_other_records_alone():
    f = redact.RedactingFilter()
    f.add("s3cr3t")
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "token=%s ok", ("s3cr3t",), None)
    assert f.filter(record)
    assert record.getMessage() == "token=<redacted> ok"
    plain = logging.LogRecord("x", logging.INFO, __file__, 1, "nothing %d", (5,), None)
    f.filter(plain)
    assert plain.args == (5,)
    f.add("")
    assert f.redact("") == ""


def test_child_loggers_and_any_logger_are_redacted(caplog):
    # A logger-level filter on "httpcore" never sees records of "httpcore.http11" (propagation
    # skips parent filters); redaction runs when the record is made, for every logger.
    secret = "c0ffee-child-logger-token-5f3a"
    redact.register_secret(secret)
    with caplog.at_level(logging.DEBUG):
        logging.getLogger("httpcore.http11").debug("send headers %s", secret)
        logging.getLogger("some.app.module").warning("token is %s", secret)
    assert len(caplog.records) == 2
    assert all(secret not in r.getMessage() for r in caplog.records)
    assert secret not in caplog.text


def test_implausibly_short_secrets_are_not_masked():
    f = redact.RedactingFilter()
    f.add("t")
    f.add("abc")
    assert f.redact("the test is tidy, abc") == "the test is tidy, abc"
    f.add("root")
    assert f.redact("token root") == f"token {redact.MASK}"
