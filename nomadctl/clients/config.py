"""Client settings from the environment, named exactly as the Nomad, Consul and Vault CLIs name them.

TLS verification is on unless ``*_SKIP_VERIFY`` (Nomad, Vault) or ``CONSUL_HTTP_SSL_VERIFY=false``
asks otherwise, and switching it off logs a warning. Tokens are kept out of ``repr()``.

Deliberately not read: token helpers and ``~/.vault-token`` (a controller must not pick up
whatever token a person left in their home directory; ``CONSUL_HTTP_TOKEN_FILE`` is read, being
the documented way to keep a token out of the environment), unix-socket addresses, and
``*_TLS_SERVER_NAME`` (neither httpx nor requests override SNI per client without a custom
transport).
"""

from __future__ import annotations

import logging
import os
import ssl
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from nomadctl.errors import UsageError

__all__ = ["ConsulConfig", "NomadConfig", "TlsConfig", "VaultConfig", "parse_bool"]

log = logging.getLogger("nomadctl.clients")

DEFAULT_NOMAD_ADDR = "http://127.0.0.1:4646"
DEFAULT_CONSUL_ADDR = "http://127.0.0.1:8500"
DEFAULT_VAULT_ADDR = "https://127.0.0.1:8200"

_TRUE = {"1", "t", "T", "TRUE", "true", "True"}
_FALSE = {"0", "f", "F", "FALSE", "false", "False"}


def parse_bool(name: str, value: str) -> bool:
    """A boolean environment variable, accepted as Go's ``strconv.ParseBool`` accepts it."""
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise UsageError(f"{name}: not a boolean: {value!r} (use true or false)")


def _env_bool(env: Mapping[str, str], name: str) -> bool | None:
    value = env.get(name, "").strip()
    return parse_bool(name, value) if value else None


def _env_str(env: Mapping[str, str], name: str) -> str | None:
    value = env.get(name, "").strip()
    return value or None


@dataclass(frozen=True, slots=True)
class TlsConfig:
    """How to verify the server and authenticate this client over HTTPS."""

    ca_cert: str | None = None
    ca_path: str | None = None
    client_cert: str | None = None
    client_key: str | None = None
    skip_verify: bool = False

    def __post_init__(self) -> None:
        if (self.client_cert is None) != (self.client_key is None):
            raise UsageError("TLS client certificate and key must be given together")

    def ssl_context(self, backend: str) -> ssl.SSLContext:
        """An SSL context for httpx: system roots (or the CA given), client cert, verification."""
        try:
            context = ssl.create_default_context(cafile=self.ca_cert, capath=self.ca_path)
            if self.client_cert is not None:
                context.load_cert_chain(self.client_cert, self.client_key)
        except (OSError, ssl.SSLError) as exc:
            raise UsageError(f"{backend} TLS files cannot be loaded: {exc}") from exc
        if self.skip_verify:
            self.warn_skip(backend)
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        return context

    def requests_verify(self, backend: str) -> bool | str:
        """The ``verify`` argument for requests-based libraries (hvac, py-consul)."""
        if self.skip_verify:
            self.warn_skip(backend)
            return False
        return self.ca_cert or self.ca_path or True

    def requests_cert(self) -> tuple[str, str] | None:
        """The ``cert`` argument for requests-based libraries."""
        if self.client_cert is None or self.client_key is None:
            return None
        return (self.client_cert, self.client_key)

    @staticmethod
    def warn_skip(backend: str) -> None:
        log.warning("%s: TLS certificate verification is disabled (explicitly requested)", backend)


def _check_addr(name: str, addr: str, default_scheme: str) -> str:
    if "//" not in addr:
        addr = f"{default_scheme}://{addr}"
    parsed = urllib.parse.urlsplit(addr)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise UsageError(f"{name}: not an http(s) address: {addr!r}")
    try:
        parsed.port  # noqa: B018 - raises on a bad port
    except ValueError as exc:
        raise UsageError(f"{name}: bad port in {addr!r}") from exc
    return addr.rstrip("/")


@dataclass(frozen=True, slots=True)
class NomadConfig:
    """Where and how to reach the Nomad HTTP API (``NOMAD_*``, as the ``nomad`` CLI reads them)."""

    address: str = DEFAULT_NOMAD_ADDR
    token: str | None = field(default=None, repr=False)
    namespace: str | None = None
    region: str | None = None
    tls: TlsConfig = field(default_factory=TlsConfig)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> NomadConfig:
        """Read ``NOMAD_ADDR``, ``NOMAD_TOKEN``, ``NOMAD_NAMESPACE``, ``NOMAD_REGION``,
        ``NOMAD_CACERT``, ``NOMAD_CAPATH``, ``NOMAD_CLIENT_CERT``, ``NOMAD_CLIENT_KEY`` and
        ``NOMAD_SKIP_VERIFY``."""
        env = os.environ if env is None else env
        return cls(
            address=_check_addr("NOMAD_ADDR", _env_str(env, "NOMAD_ADDR") or DEFAULT_NOMAD_ADDR, "http"),
            token=_env_str(env, "NOMAD_TOKEN"),
            namespace=_env_str(env, "NOMAD_NAMESPACE"),
            region=_env_str(env, "NOMAD_REGION"),
            tls=TlsConfig(
                ca_cert=_env_str(env, "NOMAD_CACERT"),
                ca_path=_env_str(env, "NOMAD_CAPATH"),
                client_cert=_env_str(env, "NOMAD_CLIENT_CERT"),
                client_key=_env_str(env, "NOMAD_CLIENT_KEY"),
                skip_verify=bool(_env_bool(env, "NOMAD_SKIP_VERIFY")),
            ),
        )


@dataclass(frozen=True, slots=True)
class ConsulConfig:
    """Where and how to reach the Consul HTTP API (``CONSUL_*``, as the ``consul`` CLI reads them)."""

    address: str = DEFAULT_CONSUL_ADDR
    token: str | None = field(default=None, repr=False)
    datacenter: str | None = None
    namespace: str | None = None
    tls: TlsConfig = field(default_factory=TlsConfig)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> ConsulConfig:
        """Read ``CONSUL_HTTP_ADDR``, ``CONSUL_HTTP_TOKEN`` (or ``CONSUL_HTTP_TOKEN_FILE``),
        ``CONSUL_HTTP_SSL``, ``CONSUL_HTTP_SSL_VERIFY``, ``CONSUL_CACERT``, ``CONSUL_CAPATH``,
        ``CONSUL_CLIENT_CERT``, ``CONSUL_CLIENT_KEY`` and ``CONSUL_NAMESPACE``.

        As in the CLI, ``CONSUL_HTTP_SSL=true`` selects https for an address given without a
        scheme, and ``CONSUL_HTTP_SSL_VERIFY=false`` is the (only) way to skip verification.
        """
        env = os.environ if env is None else env
        ssl_on = _env_bool(env, "CONSUL_HTTP_SSL")
        verify = _env_bool(env, "CONSUL_HTTP_SSL_VERIFY")
        raw = _env_str(env, "CONSUL_HTTP_ADDR") or "127.0.0.1:8500"
        address = _check_addr("CONSUL_HTTP_ADDR", raw, "https" if ssl_on else "http")
        if ssl_on and address.startswith("http://"):
            # The consul CLI never reverts to http once TLS was requested, even for http://.
            address = "https://" + address[len("http://") :]
        token = _env_str(env, "CONSUL_HTTP_TOKEN")
        token_file = _env_str(env, "CONSUL_HTTP_TOKEN_FILE")
        if token is None and token_file is not None:
            try:
                token = Path(token_file).read_text(encoding="utf-8").strip() or None
            except OSError as exc:
                raise UsageError(f"CONSUL_HTTP_TOKEN_FILE: cannot read {token_file}: {exc.strerror}") from exc
        return cls(
            address=address,
            token=token,
            namespace=_env_str(env, "CONSUL_NAMESPACE"),
            tls=TlsConfig(
                ca_cert=_env_str(env, "CONSUL_CACERT"),
                ca_path=_env_str(env, "CONSUL_CAPATH"),
                client_cert=_env_str(env, "CONSUL_CLIENT_CERT"),
                client_key=_env_str(env, "CONSUL_CLIENT_KEY"),
                skip_verify=verify is False,
            ),
        )


@dataclass(frozen=True, slots=True)
class VaultConfig:
    """Where and how to reach Vault or OpenBao (``VAULT_*``, as the ``vault``/``bao`` CLIs read them)."""

    address: str = DEFAULT_VAULT_ADDR
    token: str | None = field(default=None, repr=False)
    namespace: str | None = None
    tls: TlsConfig = field(default_factory=TlsConfig)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> VaultConfig:
        """Read ``VAULT_ADDR``, ``VAULT_TOKEN``, ``VAULT_NAMESPACE``, ``VAULT_CACERT``,
        ``VAULT_CAPATH``, ``VAULT_CLIENT_CERT``, ``VAULT_CLIENT_KEY`` and ``VAULT_SKIP_VERIFY``."""
        env = os.environ if env is None else env
        return cls(
            address=_check_addr("VAULT_ADDR", _env_str(env, "VAULT_ADDR") or DEFAULT_VAULT_ADDR, "https"),
            token=_env_str(env, "VAULT_TOKEN"),
            namespace=_env_str(env, "VAULT_NAMESPACE"),
            tls=TlsConfig(
                ca_cert=_env_str(env, "VAULT_CACERT"),
                ca_path=_env_str(env, "VAULT_CAPATH"),
                client_cert=_env_str(env, "VAULT_CLIENT_CERT"),
                client_key=_env_str(env, "VAULT_CLIENT_KEY"),
                skip_verify=bool(_env_bool(env, "VAULT_SKIP_VERIFY")),
            ),
        )
