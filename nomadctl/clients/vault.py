"""The Vault (and OpenBao) client: KV v2, ACL policies, token lookup — over hvac.

hvac builds the requests; its adapter (hvac's extension point, ``adapter=``) is replaced by
``_VaultAdapter``, which sends each request through the shared retry policy and turns every
failure into ``nomadctl.clients.errors.Vault*`` (hvac and requests exceptions never reach
callers). hvac's own environment lookups (``VAULT_ADDR``, ``VAULT_TOKEN``, ``~/.vault-token``,
``VAULT_CACERT``, ``VAULT_CLIENT_CERT``) are bypassed: everything comes from ``VaultConfig``.

Secret values never appear in ``repr()``, logs or error messages: ``KVSecret.data`` is hidden
from ``repr``, the adapter logs method and path only, and every token this client knows (its own,
and any it creates) is registered with the log redaction filter.
"""

from __future__ import annotations

import logging
import time
import urllib.parse
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

import hvac
import hvac.adapters
import requests
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from nomadctl.clients import redact
from nomadctl.clients.config import VaultConfig
from nomadctl.clients.errors import VaultError, error_for_status, error_for_transport, parse_retry_after
from nomadctl.clients.retry import DEFAULT_RETRY, RetryPolicy, call_with_retry

__all__ = ["KVSecret", "TokenInfo", "VaultClient"]

log = logging.getLogger("nomadctl.clients")

_IDEMPOTENT = frozenset({"GET", "LIST", "HEAD", "PUT", "DELETE"})


class KVSecret(BaseModel):
    """A KV v2 secret version: its key/value data (hidden from ``repr``) and metadata."""

    model_config = ConfigDict(frozen=True)

    data: dict[str, Any] = Field(repr=False)
    version: int
    created_time: datetime | None = None
    custom_metadata: dict[str, str] | None = None


class TokenInfo(BaseModel):
    """What a token lookup says about a token — never the token itself."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    accessor: str = ""
    display_name: str = ""
    policies: list[str] = Field(default_factory=list)
    ttl: int = 0
    renewable: bool = False
    orphan: bool = False
    expire_time: datetime | None = None
    entity_id: str = ""


def _clean_path(url: str) -> str:
    """The URL path of a request, without query string (hvac may pass a relative URL)."""
    path = urllib.parse.urlsplit(url).path
    while "//" in path:
        path = path.replace("//", "/")
    return path if path.startswith("/") else "/" + path


def _error_text(response: requests.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text
    errors = body.get("errors") if isinstance(body, dict) else None
    if isinstance(errors, list) and errors:
        return "; ".join(str(e) for e in errors)
    return response.text


class _VaultAdapter(hvac.adapters.JSONAdapter):  # type: ignore[misc]
    """hvac's JSON adapter with our retries and error mapping around each request."""

    def __init__(
        self,
        *args: Any,
        retry: RetryPolicy = DEFAULT_RETRY,
        sleep: Callable[[float], None] = time.sleep,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self._retry = retry
        self._sleep = sleep

    def request(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str] | None = None,
        raise_exception: bool = True,
        **kwargs: Any,
    ) -> Any:
        verb = method.upper()
        path = _clean_path(url)
        body = kwargs.get("json")
        # A check-and-set write repeated after a lost answer would conflict with itself.
        has_cas = (
            isinstance(body, dict) and isinstance(body.get("options"), dict) and "cas" in body["options"]
        )
        idempotent = (verb in _IDEMPOTENT or verb == "POST") and not has_cas

        def attempt() -> requests.Response:
            started = time.perf_counter()
            try:
                response: requests.Response = hvac.adapters.RawAdapter.request(
                    self, method, url, headers=dict(headers or {}), raise_exception=False, **kwargs
                )
            except requests.RequestException as exc:
                log.debug("Vault %s %s: no answer (%s)", verb, path, type(exc).__name__)
                raise error_for_transport("vault", exc, method=verb, path=path) from exc
            log.debug(
                "Vault %s %s -> %d in %.1f ms",
                verb,
                path,
                response.status_code,
                (time.perf_counter() - started) * 1000,
            )
            if not response.ok and raise_exception and not self.ignore_exceptions:
                raise error_for_status(
                    "vault",
                    response.status_code,
                    method=verb,
                    path=path,
                    body=_error_text(response),
                    retry_after=parse_retry_after(response.headers.get("Retry-After")),
                    secrets=(self.token,) if self.token else (),
                )
            return response

        response = call_with_retry(
            self._retry, attempt, what=f"Vault {verb} {path}", idempotent=idempotent, sleep=self._sleep
        )
        if response.status_code == 200:
            try:
                return response.json()
            except ValueError:
                pass
        return response


class VaultClient:
    """Sync Vault/OpenBao client over hvac (KV v2 at ``mount``, ACL policies, tokens).

    ``hvac`` is the underlying ``hvac.Client`` (our adapter) for endpoints not wrapped here.
    ``session`` replaces the requests session (tests), ``sleep`` the wait between retries.
    """

    def __init__(
        self,
        config: VaultConfig | None = None,
        *,
        mount: str = "secret",
        retry: RetryPolicy = DEFAULT_RETRY,
        timeout: float = 30.0,
        session: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.config = config or VaultConfig()
        self.mount = mount
        self._options: dict[str, Any] = {"retry": retry, "timeout": timeout, "sleep": sleep}
        redact.register_secret(self.config.token)
        self.hvac: Any = hvac.Client(
            url=self.config.address,
            # "" (not None) keeps hvac from falling back to VAULT_TOKEN or ~/.vault-token.
            token=self.config.token or "",
            verify=self.config.tls.requests_verify("Vault"),
            # () (not None) keeps hvac from falling back to VAULT_CLIENT_CERT/KEY.
            cert=self.config.tls.requests_cert() or (),
            timeout=timeout,
            session=session,
            namespace=self.config.namespace,
            adapter=_VaultAdapter,
            retry=retry,
            sleep=sleep,
        )

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **kwargs: Any) -> VaultClient:
        """A client configured from ``VAULT_*`` environment variables (see ``VaultConfig``)."""
        return cls(VaultConfig.from_env(env), **kwargs)

    def close(self) -> None:
        """Close pooled connections."""
        self.hvac.adapter.close()

    def __enter__(self) -> VaultClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _shape_error(self, what: str, exc: Exception) -> VaultError:
        error = VaultError(f"unexpected answer shape: {type(exc).__name__}", method="GET", path=what)
        error.__cause__ = exc
        return error

    # --- system ---------------------------------------------------------------------------------

    def health(self) -> dict[str, Any]:
        """``/v1/sys/health`` (standbys answer 200 too): ``initialized``, ``sealed``, ``version``."""
        data = self.hvac.sys.read_health_status(method="GET", standby_ok=True, performance_standby_code=200)
        if not isinstance(data, dict):
            raise VaultError(
                "unhealthy (sealed or not initialized)",
                method="GET",
                path="/v1/sys/health",
                status=getattr(data, "status_code", None),
            )
        return data

    # --- KV v2 ----------------------------------------------------------------------------------

    def kv_read(self, path: str, *, version: int | None = None, mount: str | None = None) -> KVSecret:
        """Read a KV v2 secret (latest or ``version``); ``VaultNotFound`` if absent or deleted."""
        answer = self.hvac.secrets.kv.v2.read_secret_version(
            path=path, version=version, mount_point=mount or self.mount, raise_on_deleted_version=True
        )
        try:
            payload = answer["data"]
            meta = payload.get("metadata") or {}
            return KVSecret(
                data=dict(payload.get("data") or {}),
                version=int(meta.get("version", 0)),
                created_time=meta.get("created_time") or None,
                custom_metadata=meta.get("custom_metadata"),
            )
        except (KeyError, TypeError, AttributeError, ValidationError) as exc:
            raise self._shape_error(f"/v1/{mount or self.mount}/data/{path}", exc) from exc

    def kv_exists(self, path: str, *, mount: str | None = None) -> bool:
        """Whether a KV v2 secret exists with a live current version, from its metadata only.

        Needs ``read`` on ``<mount>/metadata/<path>``, not on the data: callers that only check
        references (the controller, CI renders) never hold secret values.
        """
        try:
            answer = self.hvac.secrets.kv.v2.read_secret_metadata(path=path, mount_point=mount or self.mount)
        except VaultError as error:
            if error.status == 404:
                return False
            raise
        try:
            meta = answer["data"]
            current = meta.get("versions", {}).get(str(meta.get("current_version", 0))) or {}
        except (KeyError, TypeError, AttributeError) as exc:
            raise self._shape_error(f"/v1/{mount or self.mount}/metadata/{path}", exc) from exc
        return bool(current) and not current.get("destroyed") and not current.get("deletion_time")

    def kv_write(
        self, path: str, data: Mapping[str, Any], *, cas: int | None = None, mount: str | None = None
    ) -> int:
        """Write a new version of a KV v2 secret; returns its version number. With ``cas``, only
        if the current version is still ``cas`` (``0``: only if absent), else ``VaultConflict``."""
        answer = self.hvac.secrets.kv.v2.create_or_update_secret(
            path=path, secret=dict(data), cas=cas, mount_point=mount or self.mount
        )
        try:
            return int(answer["data"]["version"])
        except (KeyError, TypeError, ValueError) as exc:
            raise self._shape_error(f"/v1/{mount or self.mount}/data/{path}", exc) from exc

    def kv_list(self, path: str = "", *, mount: str | None = None) -> list[str]:
        """The keys directly under ``path`` (sub-folders end in ``/``); empty if there are none."""
        try:
            answer = self.hvac.secrets.kv.v2.list_secrets(path=path, mount_point=mount or self.mount)
        except VaultError as error:
            if error.status == 404:
                return []
            raise
        return sorted(str(k) for k in answer.get("data", {}).get("keys", []))

    def kv_delete(self, path: str, *, mount: str | None = None) -> None:
        """Delete a secret and all its versions and metadata (``kv metadata delete``)."""
        self.hvac.secrets.kv.v2.delete_metadata_and_all_versions(path=path, mount_point=mount or self.mount)

    # --- policies -------------------------------------------------------------------------------

    def policy_write(self, name: str, hcl: str) -> None:
        """Create or replace the ACL policy ``name`` with ``hcl``."""
        self.hvac.sys.create_or_update_policy(name=name, policy=hcl)

    def policy_read(self, name: str) -> str:
        """The HCL of the ACL policy ``name``; ``VaultNotFound`` if there is none."""
        answer = self.hvac.sys.read_policy(name=name)
        try:
            data = answer.get("data", answer)
            return str(data["rules"])
        except (KeyError, TypeError, AttributeError) as exc:
            raise self._shape_error(f"/v1/sys/policy/{name}", exc) from exc

    def policies(self) -> list[str]:
        """Names of every ACL policy."""
        answer = self.hvac.sys.list_policies()
        data = answer.get("data", answer)
        return sorted(str(p) for p in data.get("policies", []))

    def policy_delete(self, name: str) -> None:
        """Delete the ACL policy ``name`` (no error if it does not exist)."""
        self.hvac.sys.delete_policy(name=name)

    # --- tokens ---------------------------------------------------------------------------------

    def _token_info(self, answer: Any, what: str) -> TokenInfo:
        try:
            data = dict(answer["data"])
        except (KeyError, TypeError) as exc:
            raise self._shape_error(what, exc) from exc
        data.pop("id", None)  # the token itself: never kept
        try:
            return TokenInfo.model_validate(data)
        except ValidationError as exc:
            raise self._shape_error(what, exc) from exc

    def token_lookup_self(self) -> TokenInfo:
        """What Vault knows about this client's own token (policies, TTL, accessor)."""
        return self._token_info(self.hvac.auth.token.lookup_self(), "/v1/auth/token/lookup-self")

    def token_lookup(self, token: str) -> TokenInfo:
        """What Vault knows about ``token`` (needs ``auth/token/lookup`` capability)."""
        redact.register_secret(token)
        return self._token_info(self.hvac.auth.token.lookup(token), "/v1/auth/token/lookup")

    def token_create(
        self,
        *,
        policies: Sequence[str],
        ttl: str = "1h",
        renewable: bool = True,
        display_name: str = "nomadctl",
    ) -> str:
        """Create a child token with ``policies``; the token is registered for log redaction."""
        answer = self.hvac.auth.token.create(
            policies=list(policies), ttl=ttl, renewable=renewable, display_name=display_name
        )
        try:
            token = str(answer["auth"]["client_token"])
        except (KeyError, TypeError) as exc:
            raise self._shape_error("/v1/auth/token/create", exc) from exc
        redact.register_secret(token)
        return token

    def with_token(self, token: str) -> VaultClient:
        """A client for the same Vault acting with another token."""
        config = VaultConfig(
            address=self.config.address, token=token, namespace=self.config.namespace, tls=self.config.tls
        )
        return VaultClient(config, mount=self.mount, **self._options)
