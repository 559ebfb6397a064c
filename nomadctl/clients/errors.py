"""API errors of the three backends, keyed by HTTP status, and the one place that maps to them.

    ApiError (nomadctl.errors)
    └── BackendError                 backend, status, method, path, retry_after, attempts
        ├── BadRequest               400 (and Nomad's 500 for job validation failures): the
        │                            request is wrong; retrying cannot help
        ├── Forbidden                401, 403: no or bad token, or a policy denies it
        ├── NotFound                 404
        ├── Conflict                 a check-and-set lost (Nomad job modify index, Consul KV ``cas``,
        │                            Vault KV v2 ``cas``), whatever status the backend used for it
        ├── TooManyRequests          429                                        retryable
        ├── ServerError              5xx                                        retryable
        └── Unreachable              no HTTP answer: refused, timed out, dropped  retryable
    NomadError  → NomadBadRequest, NomadForbidden, NomadNotFound, NomadConflict,
                  NomadTooManyRequests, NomadServerError, NomadUnreachable
    ConsulError → Consul… (same seven)          VaultError → Vault… (same seven)

Each concrete class derives from its backend's base *and* from the status-neutral class, so
callers can write ``except NomadError`` or ``except NotFound`` (any backend) as they need.
Messages are one line: ``Nomad GET /v1/job/x: 404 job not found``. They carry the method and the
URL path only — never a query string, a header, or a token — and the original exception (httpx,
requests, py-consul, hvac) is chained as ``__cause__``, never raised to callers.

Other status codes (405, 412, 413, …) become the backend base class with ``status`` set.
"""

from __future__ import annotations

import email.utils
import time
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import httpx
import requests

from nomadctl.errors import ApiError

__all__ = [
    "BackendError",
    "BadRequest",
    "Conflict",
    "ConsulBadRequest",
    "ConsulConflict",
    "ConsulError",
    "ConsulForbidden",
    "ConsulNotFound",
    "ConsulServerError",
    "ConsulTooManyRequests",
    "ConsulUnreachable",
    "Forbidden",
    "NomadBadRequest",
    "NomadConflict",
    "NomadError",
    "NomadForbidden",
    "NomadNotFound",
    "NomadServerError",
    "NomadTooManyRequests",
    "NomadUnreachable",
    "NotFound",
    "ServerError",
    "TooManyRequests",
    "Unreachable",
    "VaultBadRequest",
    "VaultConflict",
    "VaultError",
    "VaultForbidden",
    "VaultNotFound",
    "VaultServerError",
    "VaultTooManyRequests",
    "VaultUnreachable",
    "error_for_status",
    "error_for_transport",
    "nomad_shape_error",
    "parse_retry_after",
]

_BODY_LIMIT = 300


class BackendError(ApiError):
    """A Nomad, Consul or Vault request that failed; the attributes say how.

    ``status`` is the HTTP status (``None`` when no answer came), ``retryable`` whether the same
    request may succeed later, ``request_sent`` whether the server may have acted on it (false
    only when the connection was never made, so even a non-idempotent request is safe to
    repeat), ``retry_after`` the server's ``Retry-After`` in seconds, and ``attempts`` how many
    times the client tried before giving up.
    """

    backend: ClassVar[str] = "API"
    retryable: bool = False

    def __init__(
        self,
        message: str,
        *,
        method: str,
        path: str,
        status: int | None = None,
        retry_after: float | None = None,
        request_sent: bool = True,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.method = method
        self.path = path
        self.status = status
        self.retry_after = retry_after
        self.request_sent = request_sent
        self.attempts = 1

    def __str__(self) -> str:
        status = f"{self.status} " if self.status is not None else ""
        tries = f" (after {self.attempts} attempts)" if self.attempts > 1 else ""
        return f"{self.backend} {self.method} {self.path}: {status}{self.message}{tries}"


class BadRequest(BackendError):
    """The backend rejected the request as malformed or invalid (400)."""


class Forbidden(BackendError):
    """Missing, unknown or insufficient token (401/403)."""


class NotFound(BackendError):
    """The object does not exist (404)."""


class Conflict(BackendError):
    """A check-and-set lost: someone else changed the object since it was read."""


class TooManyRequests(BackendError):
    """The backend is rate-limiting this client (429)."""

    retryable = True


class ServerError(BackendError):
    """The backend failed (5xx): no leader, an RPC error, a proxy in front of it failing."""

    retryable = True


class Unreachable(BackendError):
    """No HTTP answer: connection refused, TLS failure, timeout or a dropped connection."""

    retryable = True


class NomadError(BackendError):
    """A Nomad API call failed."""

    backend = "Nomad"


def nomad_shape_error(
    what: str, problems: Sequence[Mapping[str, Any]], *, method: str, path: str
) -> NomadError:
    """The error for a Nomad answer that could not be read as ``what``, naming the first field
    at fault (``problems``: pydantic's ``ValidationError.errors()``)."""
    first = problems[0] if problems else {"loc": (), "msg": "unreadable"}
    where = ".".join(str(p) for p in first["loc"])
    return NomadError(
        f"unexpected answer shape for {what}: {where}: {first['msg']}", method=method, path=path
    )


class NomadBadRequest(NomadError, BadRequest):
    """Nomad answered 400."""


class NomadForbidden(NomadError, Forbidden):
    """Nomad answered 401/403 (``Permission denied``, ``ACL token not found``)."""


class NomadNotFound(NomadError, NotFound):
    """Nomad answered 404."""


class NomadConflict(NomadError, Conflict):
    """A job register/scale with a check index lost (Nomad answers 500 ``Enforcing job modify index``)."""


class NomadTooManyRequests(NomadError, TooManyRequests):
    """Nomad answered 429 (HTTP connection limit reached)."""


class NomadServerError(NomadError, ServerError):
    """Nomad answered 5xx."""


class NomadUnreachable(NomadError, Unreachable):
    """No answer from the Nomad agent."""


class ConsulError(BackendError):
    """A Consul API call failed."""

    backend = "Consul"


class ConsulBadRequest(ConsulError, BadRequest):
    """Consul answered 400."""


class ConsulForbidden(ConsulError, Forbidden):
    """Consul answered 401/403 (``ACL not found``, ``Permission denied``)."""


class ConsulNotFound(ConsulError, NotFound):
    """Consul answered 404 where the object had to exist."""


class ConsulConflict(ConsulError, Conflict):
    """A KV check-and-set lost (Consul answers 200 ``false``)."""


class ConsulTooManyRequests(ConsulError, TooManyRequests):
    """Consul answered 429 (RPC rate limit)."""


class ConsulServerError(ConsulError, ServerError):
    """Consul answered 5xx (e.g. ``No cluster leader``)."""


class ConsulUnreachable(ConsulError, Unreachable):
    """No answer from the Consul agent."""


class VaultError(BackendError):
    """A Vault (or OpenBao) API call failed."""

    backend = "Vault"


class VaultBadRequest(VaultError, BadRequest):
    """Vault answered 400."""


class VaultForbidden(VaultError, Forbidden):
    """Vault answered 401/403 (``permission denied``, bad or expired token)."""


class VaultNotFound(VaultError, NotFound):
    """Vault answered 404 (no secret, no policy, or no such mount)."""


class VaultConflict(VaultError, Conflict):
    """A KV v2 write with ``cas`` lost (Vault answers 400 ``check-and-set parameter did not match``)."""


class VaultTooManyRequests(VaultError, TooManyRequests):
    """Vault answered 429 (rate limit quota, or a standby with ``standbyok`` unset)."""


class VaultServerError(VaultError, ServerError):
    """Vault answered 5xx (sealed, no leader, a backend failure)."""


class VaultUnreachable(VaultError, Unreachable):
    """No answer from Vault."""


_BY_BACKEND: dict[str, dict[str, type[BackendError]]] = {
    "nomad": {
        "base": NomadError,
        "bad": NomadBadRequest,
        "forbidden": NomadForbidden,
        "missing": NomadNotFound,
        "conflict": NomadConflict,
        "throttled": NomadTooManyRequests,
        "server": NomadServerError,
        "unreachable": NomadUnreachable,
    },
    "consul": {
        "base": ConsulError,
        "bad": ConsulBadRequest,
        "forbidden": ConsulForbidden,
        "missing": ConsulNotFound,
        "conflict": ConsulConflict,
        "throttled": ConsulTooManyRequests,
        "server": ConsulServerError,
        "unreachable": ConsulUnreachable,
    },
    "vault": {
        "base": VaultError,
        "bad": VaultBadRequest,
        "forbidden": VaultForbidden,
        "missing": VaultNotFound,
        "conflict": VaultConflict,
        "throttled": VaultTooManyRequests,
        "server": VaultServerError,
        "unreachable": VaultUnreachable,
    },
}

_STATUS_SLOT = {
    400: "bad",
    401: "forbidden",
    403: "forbidden",
    404: "missing",
    409: "conflict",
    429: "throttled",
}

# Check-and-set failures that the backends do not report as 409. Nomad's job endpoint returns a
# plain error (HTTP 500) whose text starts with ``structs.RegisterEnforceIndexErrPrefix``; Vault's
# KV v2 returns 400. Recognising them keeps a lost race out of the retry loop and lets callers
# ``except Conflict`` for every backend.
_CONFLICT_MARKERS = {
    "nomad": ("Enforcing job modify index",),
    "vault": ("check-and-set parameter did not match",),
    "consul": (),
}


# Nomad reports job validation failures as plain RPC errors, which its HTTP layer turns into 500
# (``nomad/job_endpoint_hooks.go`` returns a multierror: "1 error occurred:\n\t* ..."). Retrying
# them cannot help and calling them server errors misleads: they are bad requests.
_BAD_REQUEST_MARKERS = {
    "nomad": ("error occurred:", "errors occurred:", "validation failed", "error in job mutator"),
    "vault": (),
    "consul": (),
}


def classes(backend: str) -> dict[str, type[BackendError]]:
    """The concrete error classes of ``backend`` (``nomad``, ``consul``, ``vault``) by role."""
    return _BY_BACKEND[backend]


def _one_line(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= _BODY_LIMIT else flat[: _BODY_LIMIT - 1] + "…"


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or an HTTP date), or ``None``."""
    if value is None or not value.strip():
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    current = time.time() if now is None else now
    return max(0.0, when.timestamp() - current)


def error_for_status(
    backend: str,
    status: int,
    *,
    method: str,
    path: str,
    body: str = "",
    retry_after: float | None = None,
    secrets: tuple[str, ...] = (),
) -> BackendError:
    """The error for an HTTP answer with a failing status (the one status → class map).

    ``body`` is the server's error text (Nomad and Consul send plain text, Vault a JSON
    ``errors`` list already joined by the caller); any of ``secrets`` in it is masked.
    """
    table = _BY_BACKEND[backend]
    for secret in secrets:
        if secret:
            body = body.replace(secret, "<redacted>")
    message = _one_line(body) or "(empty response)"
    if any(marker in body for marker in _CONFLICT_MARKERS[backend]):
        cls = table["conflict"]
    elif status == 500 and any(marker in body for marker in _BAD_REQUEST_MARKERS[backend]):
        cls = table["bad"]
    elif status >= 500:
        cls = table["server"]
    else:
        cls = table.get(_STATUS_SLOT.get(status, "base"), table["base"])
    return cls(message, method=method, path=path, status=status, retry_after=retry_after)


def error_for_transport(backend: str, exc: BaseException, *, method: str, path: str) -> BackendError:
    """The ``Unreachable`` error for an httpx or requests failure that produced no HTTP answer.

    ``request_sent`` is false only for failures before the request left this host (connection
    refused, DNS, TLS handshake, connect timeout, no free pooled connection): a non-idempotent
    request is then safe to repeat. Messages name the failure kind, not the library's text,
    which can contain the full URL.
    """
    cls = _BY_BACKEND[backend]["unreachable"]
    not_sent: tuple[type[BaseException], ...] = (
        httpx.ConnectError,
        httpx.ConnectTimeout,
        httpx.PoolTimeout,
        requests.exceptions.ConnectionError,
    )
    sent = not isinstance(exc, not_sent)
    # requests raises ConnectionError for both refused connects and reset reads; only its
    # ConnectTimeout subclass and a refused connect are certainly pre-send.
    if isinstance(exc, requests.exceptions.ConnectionError):
        sent = not isinstance(exc, requests.exceptions.ConnectTimeout) and not _is_connect_refused(exc)
    kind = _transport_kind(exc)
    return cls(kind, method=method, path=path, status=None, request_sent=sent)


def _is_connect_refused(exc: requests.exceptions.ConnectionError) -> bool:
    text = str(exc)
    return "NewConnectionError" in text or "Connection refused" in text or "Failed to resolve" in text


def _transport_kind(exc: BaseException) -> str:
    if isinstance(exc, httpx.ConnectTimeout | requests.exceptions.ConnectTimeout):
        return "connect timeout"
    if isinstance(exc, httpx.ReadTimeout | requests.exceptions.ReadTimeout):
        return "read timeout (no answer in time)"
    if isinstance(exc, httpx.PoolTimeout):
        return "no free connection in the pool"
    if isinstance(exc, httpx.TimeoutException | requests.exceptions.Timeout):
        return "timeout"
    if isinstance(exc, httpx.ConnectError | requests.exceptions.SSLError):
        return f"cannot connect ({_reason(exc)})"
    if isinstance(exc, httpx.RemoteProtocolError):
        return "connection dropped by the server"
    if isinstance(exc, requests.exceptions.ConnectionError):
        return "cannot connect" if _is_connect_refused(exc) else "connection dropped by the server"
    return f"transport failure ({type(exc).__name__})"


def _reason(exc: BaseException) -> str:
    text = str(exc)
    for needle, reason in (
        ("CERTIFICATE_VERIFY_FAILED", "TLS certificate verification failed"),
        ("SSL", "TLS handshake failed"),
        ("refused", "connection refused"),
        ("Name or service not known", "unknown host"),
        ("nodename nor servname", "unknown host"),
    ):
        if needle in text:
            return reason
    return type(exc).__name__
