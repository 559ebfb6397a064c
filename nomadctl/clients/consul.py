"""The Consul client: KV with check-and-set, sessions and locks, catalog and health (blocking).

py-consul builds the requests and decodes the answers; its HTTP layer is replaced by ours
(``_ConsulHttp``, py-consul's documented ``http_connect`` extension point) so that Consul gets the
same TLS handling, retry policy, error tree, token redaction and ``MockTransport`` testability as
Nomad, and no ``requests`` or py-consul exception ever reaches a caller.

Two py-consul behaviours are neutralised on purpose: ``Consul()`` reads ``CONSUL_HTTP_ADDR`` and
lets ``CONSUL_HTTP_TOKEN`` *override* an explicit ``token=`` argument; here the address and token
come only from ``ConsulConfig`` (itself usually ``ConsulConfig.from_env()``), and the token is
sent by our HTTP layer, never by py-consul.

Every check-and-set that loses raises ``ConsulConflict`` (Consul answers ``200 false``), so a
caller handles a lost race the same way for Consul, Nomad and Vault (``except Conflict``).
"""

from __future__ import annotations

import logging
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TypeVar

import consul.base
import consul.exceptions
import httpx
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from nomadctl import durations
from nomadctl.clients import _http
from nomadctl.clients.blocking import Indexed
from nomadctl.clients.config import ConsulConfig
from nomadctl.clients.errors import ConsulConflict, ConsulError, ConsulNotFound
from nomadctl.clients.retry import DEFAULT_RETRY, RetryPolicy

__all__ = [
    "CatalogService",
    "ConsulClient",
    "ConsulLock",
    "HealthCheck",
    "KVEntry",
    "ServiceEntry",
    "ServiceHealth",
]

log = logging.getLogger("nomadctl.clients")

_M = TypeVar("_M", bound=BaseModel)

_DEFAULT_BLOCK = 300.0  # Consul holds a blocking query 5 minutes when no wait is given


# --- models -----------------------------------------------------------------------------------


class _ConsulModel(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True, frozen=True)


def _empty(value: Any, empty: Any) -> Any:
    return empty if value is None else value


class KVEntry(_ConsulModel):
    """One key: its value (bytes; ``None`` for a key stored without one) and indexes."""

    key: str = Field(alias="Key")
    value: bytes | None = Field(None, alias="Value")
    flags: int = Field(0, alias="Flags")
    session: str | None = Field(None, alias="Session")
    lock_index: int = Field(0, alias="LockIndex")
    create_index: int = Field(0, alias="CreateIndex")
    modify_index: int = Field(0, alias="ModifyIndex")

    @property
    def text(self) -> str | None:
        """The value as UTF-8 text (``None`` if there is no value)."""
        return None if self.value is None else self.value.decode("utf-8", errors="replace")


class HealthCheck(_ConsulModel):
    """A health check and its status: ``passing``, ``warning`` or ``critical``."""

    node: str = Field("", alias="Node")
    check_id: str = Field(alias="CheckID")
    name: str = Field("", alias="Name")
    status: str = Field(alias="Status")
    output: str = Field("", alias="Output")
    service_id: str = Field("", alias="ServiceID")
    service_name: str = Field("", alias="ServiceName")


class ServiceEntry(_ConsulModel):
    """A service instance as registered (Nomad registers ``_nomad-task-<allocID>-…`` IDs)."""

    id: str = Field(alias="ID")
    service: str = Field(alias="Service")
    tags: list[str] = Field(default_factory=list, alias="Tags")
    address: str = Field("", alias="Address")
    port: int = Field(0, alias="Port")
    meta: dict[str, str] = Field(default_factory=dict, alias="Meta")

    @field_validator("tags", mode="before")
    @classmethod
    def _tags(cls, value: Any) -> Any:
        return _empty(value, [])

    @field_validator("meta", mode="before")
    @classmethod
    def _meta(cls, value: Any) -> Any:
        return _empty(value, {})


class ServiceHealth(_ConsulModel):
    """One instance from ``/v1/health/service/:name``: its node, service and checks."""

    node: dict[str, Any] = Field(default_factory=dict, alias="Node")
    service: ServiceEntry = Field(alias="Service")
    checks: list[HealthCheck] = Field(default_factory=list, alias="Checks")

    @field_validator("checks", mode="before")
    @classmethod
    def _checks(cls, value: Any) -> Any:
        return _empty(value, [])

    @property
    def node_name(self) -> str:
        """The Consul node the instance is registered on."""
        return str(self.node.get("Node", ""))

    @property
    def address(self) -> str:
        """Where to connect: the service address, else the node's."""
        return self.service.address or str(self.node.get("Address", ""))

    @property
    def passing(self) -> bool:
        """Every check of the instance (node checks included) is passing."""
        return all(c.status == "passing" for c in self.checks)


class CatalogService(_ConsulModel):
    """One instance from ``/v1/catalog/service/:name`` (no health information)."""

    node: str = Field("", alias="Node")
    address: str = Field("", alias="Address")
    service_id: str = Field(alias="ServiceID")
    service_name: str = Field(alias="ServiceName")
    service_tags: list[str] = Field(default_factory=list, alias="ServiceTags")
    service_address: str = Field("", alias="ServiceAddress")
    service_port: int = Field(0, alias="ServicePort")
    service_meta: dict[str, str] = Field(default_factory=dict, alias="ServiceMeta")

    @field_validator("service_tags", mode="before")
    @classmethod
    def _tags(cls, value: Any) -> Any:
        return _empty(value, [])

    @field_validator("service_meta", mode="before")
    @classmethod
    def _meta(cls, value: Any) -> Any:
        return _empty(value, {})


# --- py-consul over our HTTP layer ------------------------------------------------------------


class _ConsulHttp(consul.base.HTTPClient):  # type: ignore[misc]
    """py-consul's HTTP client interface, implemented with ``HttpApi`` (retries, errors, TLS)."""

    # 4xx answers go to py-consul's callbacks (404 is "no such key" for a KV read); 429 and 5xx
    # stay in our retry loop.
    _TO_CALLBACK = frozenset(range(400, 500)) - {429}

    def __init__(self, api: _http.HttpApi) -> None:
        # The base class only derives base_uri from these; our HttpApi owns the address.
        super().__init__(host="consul", port=0, scheme="http", verify=True, cert=None)
        self._api = api

    def _call(
        self,
        method: str,
        callback: Callable[[Any], Any],
        path: str,
        params: Sequence[tuple[str, Any]] | None,
        data: str | bytes | None,
    ) -> Any:
        url_path = urllib.parse.quote(path, safe="/:")
        query = [(k, str(v)) for k, v in (params or [])]
        read_timeout = None
        if any(k == "index" for k, _ in query):
            wait = next((v for k, v in query if k == "wait"), None)
            held = durations.parse_seconds(wait) if wait else _DEFAULT_BLOCK
            read_timeout = self._api.timeout + held * 17 / 16
        response = self._api.request(
            method,
            url_path,
            params=query,
            content=data if data not in ("", None) else None,
            read_timeout=read_timeout,
            allow_status=self._TO_CALLBACK,
        )
        answer = consul.base.Response(response.status_code, response.headers, response.text)
        try:
            return callback(answer)
        except consul.exceptions.ConsulException as exc:
            if response.status_code < 400:
                raise ConsulError(
                    "answer cannot be decoded",
                    method=method,
                    path=url_path,
                    status=response.status_code,
                ) from exc
            raise self._api.error_from_response(response, method, url_path) from exc

    def get(
        self, callback: Any, path: str, params: Any = None, headers: Any = None, raw: bool = False
    ) -> Any:
        return self._call("GET", callback, path, params, None)

    def put(self, callback: Any, path: str, params: Any = None, data: Any = "", headers: Any = None) -> Any:
        return self._call("PUT", callback, path, params, data)

    def delete(
        self, callback: Any, path: str, params: Any = None, data: Any = "", headers: Any = None
    ) -> Any:
        return self._call("DELETE", callback, path, params, data)

    def post(self, callback: Any, path: str, params: Any = None, data: Any = "", headers: Any = None) -> Any:
        return self._call("POST", callback, path, params, data)

    def close(self) -> None:
        self._api.close()


class _PyConsul(consul.base.Consul):  # type: ignore[misc]
    """``consul.Consul`` whose HTTP goes through ``_ConsulHttp``; never reads the environment."""

    def __init__(self, http: _ConsulHttp, dc: str | None) -> None:
        self._injected_http = http
        # Explicit host/port/scheme/verify keep py-consul from reading CONSUL_HTTP_* itself.
        super().__init__(host="consul", port=0, scheme="http", verify=True, dc=dc)
        # py-consul sets token = os.getenv("CONSUL_HTTP_TOKEN", token); our HTTP layer sends the
        # configured token instead, so py-consul must not add one.
        self.token = None

    def http_connect(
        self, host: str, port: int, scheme: str, verify: Any = True, cert: Any = None
    ) -> _ConsulHttp:
        return self._injected_http


# --- the client -------------------------------------------------------------------------------


def _seconds(value: float) -> str:
    return f"{int(value)}s" if float(value).is_integer() else _http.duration_param(value)


class ConsulClient:
    """Sync Consul client over py-consul; thread-safe for calls.

    ``api`` is the underlying ``consul.Consul`` object (our transport) for endpoints not wrapped
    here. ``transport`` replaces the network (``httpx.MockTransport`` in tests) and ``sleep`` the
    wait between retries.
    """

    def __init__(
        self,
        config: ConsulConfig | None = None,
        *,
        retry: RetryPolicy = DEFAULT_RETRY,
        timeout: float = 30.0,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.config = config or ConsulConfig()
        self._http_api = _http.consul_api(
            self.config,
            timeout=timeout,
            retry=retry,
            transport=transport,
            sleep=sleep,
        )
        self.api: Any = _PyConsul(_ConsulHttp(self._http_api), self.config.datacenter)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **kwargs: Any) -> ConsulClient:
        """A client configured from ``CONSUL_*`` environment variables (see ``ConsulConfig``)."""
        return cls(ConsulConfig.from_env(env), **kwargs)

    def close(self) -> None:
        """Close pooled connections."""
        self._http_api.close()

    def __enter__(self) -> ConsulClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @staticmethod
    def _wait(index: int, wait: float | None) -> dict[str, Any]:
        if index <= 0:
            return {}
        return {"index": index, "wait": _seconds(wait) if wait is not None else None}

    @staticmethod
    def _parse(model: type[_M], data: Any, what: str) -> _M:
        try:
            return model.model_validate(data)
        except ValidationError as exc:
            raise ConsulError(
                f"unexpected answer shape for {model.__name__}", method="GET", path=what
            ) from exc

    # --- status ---------------------------------------------------------------------------------

    def leader(self) -> str:
        """The Raft leader's address (``""`` while there is none)."""
        return str(self.api.status.leader() or "")

    # --- KV -------------------------------------------------------------------------------------

    def kv_get(self, key: str, *, index: int = 0, wait: float | None = None) -> Indexed[KVEntry | None]:
        """One key (``None`` if absent); blocking: wait for a change after ``index``."""
        idx, data = self.api.kv.get(key, **self._wait(index, wait))
        entry = None if data is None else self._parse(KVEntry, data, f"/v1/kv/{key}")
        return Indexed(entry, int(idx))

    def kv_list(self, prefix: str, *, index: int = 0, wait: float | None = None) -> Indexed[list[KVEntry]]:
        """Every key under ``prefix`` with its value, sorted by key; blocking."""
        idx, data = self.api.kv.get(prefix, recurse=True, **self._wait(index, wait))
        entries = [self._parse(KVEntry, d, f"/v1/kv/{prefix}") for d in (data or [])]
        return Indexed(sorted(entries, key=lambda e: e.key), int(idx))

    def kv_keys(self, prefix: str, *, separator: str | None = None) -> list[str]:
        """The keys under ``prefix`` (with ``separator="/"``: one level, folders ending in ``/``)."""
        _, data = self.api.kv.get(prefix, keys=True, separator=separator)
        return sorted(str(k) for k in (data or []))

    def kv_put(
        self, key: str, value: str | bytes, *, cas: int | None = None, flags: int | None = None
    ) -> None:
        """Store ``value`` at ``key``. With ``cas``, only if the key's modify index is still
        ``cas`` (``0``: only if the key does not exist); otherwise ``ConsulConflict``."""
        if not self.api.kv.put(key, value, cas=cas, flags=flags):
            if cas is None:
                raise ConsulError("write refused", method="PUT", path=f"/v1/kv/{key}", status=200)
            raise ConsulConflict(
                f"check-and-set failed: {key} changed since index {cas}",
                method="PUT",
                path=f"/v1/kv/{key}",
                status=200,
            )

    def kv_delete(self, key: str, *, recurse: bool = False, cas: int | None = None) -> None:
        """Delete ``key`` (``recurse``: everything under it); with ``cas``, only if unchanged."""
        if not self.api.kv.delete(key, recurse=recurse or None, cas=cas) and cas is not None:
            raise ConsulConflict(
                f"check-and-set delete failed: {key} changed since index {cas}",
                method="DELETE",
                path=f"/v1/kv/{key}",
                status=200,
            )

    # --- sessions and locks -----------------------------------------------------------------------

    def session_create(
        self,
        name: str,
        *,
        ttl: float = 15.0,
        behavior: str = "release",
        lock_delay: float = 15.0,
        node_checks: bool = False,
    ) -> str:
        """Create a session; returns its ID.

        ``ttl`` (10-86400 s) invalidates it unless renewed in time. By default the session is
        *not* bound to the agent node's ``serfHealth`` check: a controller holding a lock should
        lose it when it stops renewing, not when the node it happened to talk to flaps
        (``node_checks=True`` restores Consul's default). ``lock_delay`` (0-60 s) keeps others
        from taking a lock released by invalidation for that long.
        """
        if not 10 <= ttl <= 86400:
            raise ValueError("Consul session TTL must be between 10 s and 86400 s")
        if not 0 <= lock_delay <= 60:
            raise ValueError("Consul session lock delay must be between 0 s and 60 s")
        if behavior not in ("release", "delete"):
            raise ValueError("Consul session behavior must be 'release' or 'delete'")
        return str(
            self.api.session.create(
                name=name,
                ttl=int(ttl),
                behavior=behavior,
                lock_delay=int(lock_delay),
                checks=None if node_checks else [],
            )
        )

    def session_renew(self, session_id: str) -> None:
        """Extend a session by its TTL; ``ConsulNotFound`` if it has expired or been destroyed."""
        if self.api.session.renew(session_id) is None:
            raise ConsulNotFound(
                "session expired or destroyed",
                method="PUT",
                path=f"/v1/session/renew/{session_id}",
                status=404,
            )

    def session_destroy(self, session_id: str) -> None:
        """Destroy a session (its locks are released, or their keys deleted, per its behavior)."""
        self.api.session.destroy(session_id)

    def session_info(self, session_id: str) -> dict[str, Any] | None:
        """The session as Consul describes it, ``None`` if it does not exist (any more)."""
        _, data = self.api.session.info(session_id)
        return dict(data) if data else None

    def lock_acquire(self, key: str, session_id: str, value: str | bytes = b"") -> bool:
        """Take the lock ``key`` for ``session_id``; false if another session holds it (or the
        lock delay after an invalidation has not passed)."""
        return bool(self.api.kv.put(key, value, acquire=session_id))

    def lock_release(self, key: str, session_id: str) -> bool:
        """Release ``key`` if ``session_id`` holds it; false otherwise."""
        return bool(self.api.kv.put(key, None, release=session_id))

    def lock_holder(self, key: str) -> str | None:
        """The session holding ``key``, or ``None``."""
        entry = self.kv_get(key).data
        return entry.session if entry is not None else None

    def lock(self, key: str, *, name: str, ttl: float = 15.0, lock_delay: float = 15.0) -> ConsulLock:
        """A ``ConsulLock`` on ``key`` (not yet acquired)."""
        return ConsulLock(self, key, name=name, ttl=ttl, lock_delay=lock_delay)

    # --- agent services (registration of our own processes, tests) -------------------------------

    def register_service(
        self,
        name: str,
        *,
        service_id: str | None = None,
        port: int = 0,
        address: str | None = None,
        tags: Sequence[str] = (),
        meta: Mapping[str, str] | None = None,
        ttl: float | None = None,
    ) -> str | None:
        """Register a service with the local agent. ``ttl`` adds a TTL check that stays critical
        until ``pass_ttl_check`` is called with the check ID returned (``service:<id>``)."""
        sid = service_id or name
        check_id = f"service:{sid}" if ttl else None
        check = (
            {
                "CheckID": check_id,
                "Name": f"{name} TTL",
                "TTL": _seconds(ttl),
                "DeregisterCriticalServiceAfter": "1m",
            }
            if ttl
            else None
        )
        accepted = self.api.agent.service.register(
            name,
            service_id=sid,
            port=port or None,
            address=address,
            tags=list(tags),
            meta=dict(meta or {}),
            check=check,
        )
        # py-consul's boolean callback turns a 404 into False instead of raising.
        if not accepted:
            raise ConsulNotFound(
                "agent refused the registration", method="PUT", path="/v1/agent/service/register", status=404
            )
        return check_id

    def deregister_service(self, service_id: str) -> None:
        """Remove a service registered with the local agent (no error if it is unknown)."""
        self.api.agent.service.deregister(service_id)

    def pass_ttl_check(self, check_id: str, note: str = "") -> None:
        """Mark a TTL check passing (a service's own check is ``service:<service id>``);
        ``ConsulNotFound`` if the agent has no such check."""
        if not self.api.agent.check.ttl_pass(check_id, notes=note or None):
            raise ConsulNotFound(
                f"no such check: {check_id}",
                method="PUT",
                path=f"/v1/agent/check/pass/{check_id}",
                status=404,
            )

    # --- catalog and health -----------------------------------------------------------------------

    def catalog_services(self, *, index: int = 0, wait: float | None = None) -> Indexed[dict[str, list[str]]]:
        """Every service name with its tags; blocking."""
        idx, data = self.api.catalog.services(**self._wait(index, wait))
        return Indexed({str(k): list(v or []) for k, v in (data or {}).items()}, int(idx))

    def catalog_service(
        self, name: str, *, tag: str | None = None, index: int = 0, wait: float | None = None
    ) -> Indexed[list[CatalogService]]:
        """The registered instances of ``name`` (healthy or not); blocking."""
        idx, data = self.api.catalog.service(name, tag=tag, **self._wait(index, wait))
        items = [self._parse(CatalogService, d, f"/v1/catalog/service/{name}") for d in (data or [])]
        return Indexed(items, int(idx))

    def health_service(
        self,
        name: str,
        *,
        passing: bool = False,
        tag: str | None = None,
        filter: str | None = None,
        index: int = 0,
        wait: float | None = None,
    ) -> Indexed[list[ServiceHealth]]:
        """Instances of ``name`` with their checks (``passing``: only fully passing ones, as the
        TCP check of a freshly started task is critical at first); blocking."""
        idx, data = self.api.health.service(
            name, passing=passing or None, tag=tag, filter_expr=filter, **self._wait(index, wait)
        )
        items = [self._parse(ServiceHealth, d, f"/v1/health/service/{name}") for d in (data or [])]
        return Indexed(items, int(idx))

    def health_checks(
        self, name: str, *, index: int = 0, wait: float | None = None
    ) -> Indexed[list[HealthCheck]]:
        """The checks of every instance of service ``name``; blocking."""
        idx, data = self.api.health.checks(name, **self._wait(index, wait))
        items = [self._parse(HealthCheck, d, f"/v1/health/checks/{name}") for d in (data or [])]
        return Indexed(items, int(idx))


class ConsulLock:
    """A Consul lock: a session with a TTL holding one key (leader election, per-environment
    transitions).

    ``acquire()`` creates the session and tries the key once; ``renew()`` must run more often than
    the TTL (``renew_interval`` is a third of it) — ``keepalive()`` does that on a thread;
    ``release()`` releases the key and destroys the session. Losing the session (expired,
    destroyed by an operator) shows as ``renew()`` raising ``ConsulNotFound``; ``held()``
    re-reads the key to check.
    """

    def __init__(
        self, client: ConsulClient, key: str, *, name: str, ttl: float = 15.0, lock_delay: float = 15.0
    ) -> None:
        self._client = client
        self.key = key
        self.name = name
        self.ttl = ttl
        self.lock_delay = lock_delay
        self.session_id: str | None = None

    @property
    def renew_interval(self) -> float:
        """How often to renew: a third of the TTL, leaving two chances before it expires."""
        return self.ttl / 3

    def acquire(self, value: str | bytes = b"") -> bool:
        """Try once to take the lock; true when this holder has it."""
        if self.session_id is None:
            self.session_id = self._client.session_create(self.name, ttl=self.ttl, lock_delay=self.lock_delay)
        acquired = self._client.lock_acquire(self.key, self.session_id, value)
        if not acquired:
            log.info("Consul lock %s is held by another session", self.key)
        return acquired

    def held(self) -> bool:
        """Whether our session still holds the key (one read)."""
        return self.session_id is not None and self._client.lock_holder(self.key) == self.session_id

    def renew(self) -> None:
        """Extend the session; raises ``ConsulNotFound`` if it was lost."""
        if self.session_id is None:
            raise ConsulNotFound("lock not acquired", method="PUT", path="/v1/session/renew", status=None)
        self._client.session_renew(self.session_id)

    def release(self) -> None:
        """Release the key and destroy the session (safe to call when not held)."""
        if self.session_id is None:
            return
        session, self.session_id = self.session_id, None
        try:
            self._client.lock_release(self.key, session)
        finally:
            self._client.session_destroy(session)

    @contextmanager
    def keepalive(
        self,
        on_lost: Callable[[BaseException], None],
        *,
        wait: Callable[[threading.Event, float], bool] | None = None,
    ) -> Iterator[None]:
        """Renew on a daemon thread while the ``with`` block runs; ``on_lost(error)`` is called
        (on that thread) if the session cannot be renewed. ``wait(stop, seconds)`` replaces the
        pause between renewals (tests); it returns true when asked to stop."""
        stop = threading.Event()
        pause = wait or (lambda event, seconds: event.wait(seconds))

        def run() -> None:
            while not pause(stop, self.renew_interval):
                try:
                    self.renew()
                except ConsulError as error:
                    log.error("Consul lock %s lost: %s", self.key, error)
                    on_lost(error)
                    return

        thread = threading.Thread(target=run, name=f"consul-lock-{self.key}", daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join(timeout=self.ttl)


if TYPE_CHECKING:
    from nomadctl.providers.consul import ConsulKV

    def _provides_kv(client: ConsulClient) -> ConsulKV:
        # mypy proves here that ConsulClient satisfies the provider's protocol.
        return client
