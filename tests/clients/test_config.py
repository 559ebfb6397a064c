"""Environment variables, named as the Nomad, Consul and Vault CLIs name them."""

from __future__ import annotations

import logging
import ssl

import pytest

from nomadctl.clients.config import ConsulConfig, NomadConfig, TlsConfig, VaultConfig, parse_bool
from nomadctl.errors import UsageError


def test_nomad_defaults():
    config = NomadConfig.from_env({})
    assert config.address == "http://127.0.0.1:4646"
    assert config.token is None
    assert not config.tls.skip_verify


def test_nomad_env():
    config = NomadConfig.from_env(
        {
            "NOMAD_ADDR": "https://nomad.cern.ch:4646/",
            "NOMAD_TOKEN": "tok-1",
            "NOMAD_NAMESPACE": "online",
            "NOMAD_REGION": "p2",
            "NOMAD_CACERT": "/etc/ca.pem",
            "NOMAD_CLIENT_CERT": "/etc/c.pem",
            "NOMAD_CLIENT_KEY": "/etc/k.pem",
            "NOMAD_SKIP_VERIFY": "false",
        }
    )
    assert config.address == "https://nomad.cern.ch:4646"
    assert (config.token, config.namespace, config.region) == ("tok-1", "online", "p2")
    assert config.tls == TlsConfig(ca_cert="/etc/ca.pem", client_cert="/etc/c.pem", client_key="/etc/k.pem")
    assert "tok-1" not in repr(config)


def test_address_without_scheme_gets_http():
    assert NomadConfig.from_env({"NOMAD_ADDR": "10.0.0.1:4646"}).address == "http://10.0.0.1:4646"


@pytest.mark.parametrize("addr", ["ftp://x:1", "http://", "http://host:notaport"])
def test_bad_addresses_are_usage_errors(addr):
    with pytest.raises(UsageError, match="NOMAD_ADDR"):
        NomadConfig.from_env({"NOMAD_ADDR": addr})


def test_bool_parsing_follows_go():
    assert parse_bool("X", "1")
    assert parse_bool("X", "TRUE")
    assert parse_bool("X", "t")
    assert not parse_bool("X", "0")
    assert not parse_bool("X", "False")
    with pytest.raises(UsageError, match="NOMAD_SKIP_VERIFY"):
        NomadConfig.from_env({"NOMAD_SKIP_VERIFY": "yes"})


def test_consul_address_forms_and_ssl():
    assert ConsulConfig.from_env({}).address == "http://127.0.0.1:8500"
    assert ConsulConfig.from_env({"CONSUL_HTTP_ADDR": "c1:8501"}).address == "http://c1:8501"
    assert (
        ConsulConfig.from_env({"CONSUL_HTTP_ADDR": "c1:8501", "CONSUL_HTTP_SSL": "true"}).address
        == "https://c1:8501"
    )
    # as the consul CLI: never revert to http once TLS was asked for
    assert (
        ConsulConfig.from_env({"CONSUL_HTTP_ADDR": "http://c1:8501", "CONSUL_HTTP_SSL": "true"}).address
        == "https://c1:8501"
    )


def test_consul_tls_and_token():
    config = ConsulConfig.from_env(
        {
            "CONSUL_HTTP_TOKEN": "ct",
            "CONSUL_CACERT": "/ca",
            "CONSUL_CLIENT_CERT": "/c",
            "CONSUL_CLIENT_KEY": "/k",
            "CONSUL_HTTP_SSL_VERIFY": "false",
        }
    )
    assert config.token == "ct"
    assert config.tls.skip_verify
    assert config.tls.requests_cert() == ("/c", "/k")
    assert not ConsulConfig.from_env({"CONSUL_HTTP_SSL_VERIFY": "true"}).tls.skip_verify


def test_consul_token_file(tmp_path):
    token_file = tmp_path / "token"
    token_file.write_text("from-file\n")
    assert ConsulConfig.from_env({"CONSUL_HTTP_TOKEN_FILE": str(token_file)}).token == "from-file"
    # the variable wins over the file, as in the CLI
    env = {"CONSUL_HTTP_TOKEN_FILE": str(token_file), "CONSUL_HTTP_TOKEN": "from-env"}
    assert ConsulConfig.from_env(env).token == "from-env"
    with pytest.raises(UsageError, match="CONSUL_HTTP_TOKEN_FILE"):
        ConsulConfig.from_env({"CONSUL_HTTP_TOKEN_FILE": str(tmp_path / "missing")})


def test_vault_env():
    config = VaultConfig.from_env(
        {"VAULT_ADDR": "http://127.0.0.1:8200", "VAULT_TOKEN": "root", "VAULT_NAMESPACE": "alice"}
    )
    assert (config.address, config.token, config.namespace) == ("http://127.0.0.1:8200", "root", "alice")
    assert VaultConfig.from_env({}).address == "https://127.0.0.1:8200"
    assert VaultConfig.from_env({"VAULT_SKIP_VERIFY": "1"}).tls.requests_verify("Vault") is False
    assert VaultConfig.from_env({"VAULT_CACERT": "/ca"}).tls.requests_verify("Vault") == "/ca"
    assert VaultConfig.from_env({}).tls.requests_verify("Vault") is True


def test_client_cert_needs_key():
    with pytest.raises(UsageError, match="together"):
        TlsConfig(client_cert="/c")


def test_ssl_context_verifies_by_default_and_warns_when_told_not_to(caplog):
    assert TlsConfig().ssl_context("Nomad").verify_mode == ssl.CERT_REQUIRED
    caplog.set_level(logging.WARNING, logger="nomadctl.clients")
    context = TlsConfig(skip_verify=True).ssl_context("Nomad")
    assert context.verify_mode == ssl.CERT_NONE
    assert "verification is disabled" in caplog.text


def test_unreadable_ca_is_a_usage_error(tmp_path):
    with pytest.raises(UsageError, match="TLS files"):
        TlsConfig(ca_cert=str(tmp_path / "missing.pem")).ssl_context("Nomad")
