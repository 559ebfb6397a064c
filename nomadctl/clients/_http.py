"""The httpx layer shared by the Nomad client and the Consul adapter: TLS, tokens, retries, errors.

One ``HttpApi`` per backend address. ``request()`` sends one logical request through the retry
policy and returns the response (raising the backend's error for a failing status, except the
statuses the caller says it handles); ``stream()`` opens a long-lived response without retries
(the event stream does its own reconnecting). httpx exceptions are turned into the backend's
``Unreachable`` here and nowhere else.
"""

from __future__ import annotations

import logging
import time
import urllib.parse
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import httpx

from nomadctl import __version__
from nomadctl.clients import redact
from nomadctl.clients.config import ConsulConfig, NomadConfig, TlsConfig
from nomadctl.clients.errors import BackendError, error_for_status, error_for_transport, parse_retry_after
from nomadctl.clients.retry import DEFAULT_RETRY, RetryPolicy, call_with_retry

log = logging.getLogger("nomadctl.clients")

USER_AGENT = f"nomadctl/{__version__}"
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})

QueryValue = str | int | bool | None
Params = Mapping[str, QueryValue | list[str]] | Sequence[tuple[str, str]]


def quote(segment: str) -> str:
    """One URL path segment, percent-encoded (``/`` included: dispatched job IDs contain one)."""
    return urllib.parse.quote(segment, safe="")


def path(template: str, *segments: str) -> str:
    """``template`` with each ``{}`` replaced by a quoted segment: ``path("/v1/job/{}", job_id)``."""
    return template.format(*(quote(s) for s in segments))


def duration_param(seconds: float) -> str:
    """A Go duration for a query parameter (``wait=``), in whole milliseconds."""
    return f"{max(1, round(seconds * 1000))}ms"


Encoded = list[tuple[str, str | int | float | bool | None]]


def _encode_params(params: Mapping[str, QueryValue | list[str]]) -> Encoded:
    out: Encoded = []
    for key, value in params.items():
        if value is None or value is False:
            continue
        if isinstance(value, list):
            out.extend((key, v) for v in value)
        elif value is True:
            out.append((key, "true"))
        else:
            out.append((key, str(value)))
    return out


class HttpApi:
    """A backend's HTTP API over one pooled httpx client.

    ``auth_header`` names the header carrying ``token`` (``X-Nomad-Token``, ``X-Consul-Token``);
    ``default_params`` are added to every request (namespace, region) unless the call sets them.
    ``transport`` replaces the network (``httpx.MockTransport`` in tests) and ``sleep`` the wait
    between retries.
    """

    def __init__(
        self,
        backend: str,
        address: str,
        *,
        tls: TlsConfig,
        token: str | None,
        auth_header: str,
        default_params: Mapping[str, str | None] | None = None,
        timeout: float = 30.0,
        retry: RetryPolicy = DEFAULT_RETRY,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.backend = backend
        self.label = backend.capitalize()
        self.address = address
        self.retry = retry
        self.timeout = timeout
        self._sleep = sleep
        self._token = token
        self._auth_header = auth_header
        self._default_params = {k: v for k, v in (default_params or {}).items() if v}
        redact.register_secret(token)
        verify: Any = tls.ssl_context(self.label) if address.startswith("https://") else True
        self._client = httpx.Client(
            base_url=address,
            verify=verify,
            transport=transport,
            timeout=httpx.Timeout(timeout),
            headers={"User-Agent": USER_AGENT},
            follow_redirects=False,
        )

    def close(self) -> None:
        """Close the pooled connections."""
        self._client.close()

    @property
    def secrets(self) -> tuple[str, ...]:
        """What must be masked in anything this API reports (its token)."""
        return (self._token,) if self._token else ()

    def _headers(self) -> dict[str, str]:
        return {self._auth_header: self._token} if self._token else {}

    def _params(self, params: Params | None) -> Encoded:
        if isinstance(params, Mapping) or params is None:
            merged: dict[str, QueryValue | list[str]] = dict(self._default_params)
            merged.update(params or {})
            return _encode_params(merged)
        # Ordered pairs (py-consul's form, repeated keys allowed): defaults go first, unless set.
        given = {key for key, _ in params}
        defaults = _encode_params({k: v for k, v in self._default_params.items() if k not in given})
        return defaults + list(params)

    def _timeout(self, read: float | None) -> httpx.Timeout:
        if read is None:
            return httpx.Timeout(self.timeout)
        return httpx.Timeout(self.timeout, read=read)

    def error_from_response(self, response: httpx.Response, method: str, url_path: str) -> BackendError:
        """The backend error for a failing ``response`` (its body must be read already)."""
        return error_for_status(
            self.backend,
            response.status_code,
            method=method,
            path=url_path,
            body=response.text,
            retry_after=parse_retry_after(response.headers.get("Retry-After")),
            secrets=self.secrets,
        )

    def send_once(
        self,
        method: str,
        url_path: str,
        *,
        params: Params | None = None,
        json: Any = None,
        content: bytes | str | None = None,
        read_timeout: float | None = None,
        raise_for: Callable[[int], bool] = lambda status: status >= 400,
    ) -> httpx.Response:
        """One HTTP exchange, errors mapped; no retry."""
        started = time.perf_counter()
        try:
            response = self._client.request(
                method,
                url_path,
                params=self._params(params),
                json=json,
                content=content,
                headers=self._headers(),
                timeout=self._timeout(read_timeout),
            )
        except httpx.HTTPError as exc:
            log.debug("%s %s %s: no answer (%s)", self.label, method, url_path, type(exc).__name__)
            raise error_for_transport(self.backend, exc, method=method, path=url_path) from exc
        log.debug(
            "%s %s %s -> %d in %.1f ms",
            self.label,
            method,
            url_path,
            response.status_code,
            (time.perf_counter() - started) * 1000,
        )
        if raise_for(response.status_code):
            raise self.error_from_response(response, method, url_path)
        return response

    def request(
        self,
        method: str,
        url_path: str,
        *,
        params: Params | None = None,
        json: Any = None,
        content: bytes | str | None = None,
        idempotent: bool | None = None,
        read_timeout: float | None = None,
        allow_status: Collection[int] = (),
    ) -> httpx.Response:
        """Send a request through the retry policy; return the response, or raise the mapped error.

        Statuses in ``allow_status`` (e.g. 404 for "absent is fine") are returned, not raised.
        ``idempotent`` defaults from the method (POST is not); a POST that is safe to repeat
        (same job registered twice, a dispatch with an idempotency token) passes ``True``.
        """
        safe = method in IDEMPOTENT_METHODS if idempotent is None else idempotent
        return call_with_retry(
            self.retry,
            lambda: self.send_once(
                method,
                url_path,
                params=params,
                json=json,
                content=content,
                read_timeout=read_timeout,
                raise_for=lambda status: status >= 400 and status not in allow_status,
            ),
            what=f"{self.label} {method} {url_path}",
            idempotent=safe,
            sleep=self._sleep,
        )

    @contextmanager
    def stream(
        self,
        method: str,
        url_path: str,
        *,
        params: Params | None = None,
        read_timeout: float | None = None,
    ) -> Iterator[httpx.Response]:
        """Open a streaming response (no retries); a failing status raises the mapped error."""
        try:
            with self._client.stream(
                method,
                url_path,
                params=self._params(params),
                headers=self._headers(),
                timeout=self._timeout(read_timeout),
            ) as response:
                if response.status_code >= 400:
                    response.read()
                    raise self.error_from_response(response, method, url_path)
                yield response
        except httpx.HTTPError as exc:
            raise error_for_transport(self.backend, exc, method=method, path=url_path) from exc


def nomad_api(config: NomadConfig, *, namespaced: bool = True, **options: Any) -> HttpApi:
    """The Nomad HTTP API for ``config``: token header, region and (unless ``namespaced`` is
    false, for cluster-wide endpoints such as ACL policies) namespace on every request."""
    params = {"namespace": config.namespace} if namespaced else {}
    return HttpApi(
        "nomad",
        config.address,
        tls=config.tls,
        token=config.token,
        auth_header="X-Nomad-Token",
        default_params={**params, "region": config.region},
        **options,
    )


def consul_api(config: ConsulConfig, **options: Any) -> HttpApi:
    """The Consul HTTP API for ``config``: token header, namespace and datacenter on every request."""
    return HttpApi(
        "consul",
        config.address,
        tls=config.tls,
        token=config.token,
        auth_header="X-Consul-Token",
        default_params={"ns": config.namespace, "dc": config.datacenter},
        **options,
    )
