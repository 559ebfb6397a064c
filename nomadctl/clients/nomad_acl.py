"""Nomad ACL policies, tokens and namespaces: the endpoints ``nomadctl policies`` needs.

Built on the same ``HttpApi`` as ``NomadClient`` (TLS, token header, retry policy, error mapping,
log redaction); ``NomadAclClient`` takes the same ``NomadConfig``. Reads of a single object return
``None`` when Nomad answers 404, so callers can tell "absent" from "forbidden".

Every token secret this client sees (bootstrap, created tokens) is registered with the log
redaction filter and hidden from ``repr``; ``AclToken`` never prints it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

import httpx
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from nomadctl.clients import _http, redact
from nomadctl.clients.config import NomadConfig
from nomadctl.clients.errors import NomadError, nomad_shape_error
from nomadctl.clients.retry import DEFAULT_RETRY, RetryPolicy

__all__ = ["AclPolicy", "AclToken", "Namespace", "NomadAclClient"]

_M = TypeVar("_M", bound=BaseModel)


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True, frozen=True)


class AclPolicy(_Model):
    """A Nomad ACL policy; ``rules`` is the HCL text exactly as stored (empty in list stubs)."""

    name: str = Field(alias="Name")
    description: str = Field("", alias="Description")
    rules: str = Field("", alias="Rules")
    modify_index: int = Field(0, alias="ModifyIndex")

    @field_validator("description", "rules", mode="before")
    @classmethod
    def _none_is_empty(cls, value: Any) -> Any:
        return "" if value is None else value


class Namespace(_Model):
    """A Nomad namespace: description, meta and the task-driver rules Nomad CE enforces."""

    name: str = Field(alias="Name")
    description: str = Field("", alias="Description")
    meta: dict[str, str] = Field(default_factory=dict, alias="Meta")
    enabled_task_drivers: tuple[str, ...] = ()
    disabled_task_drivers: tuple[str, ...] = ()
    modify_index: int = Field(0, alias="ModifyIndex")

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> Namespace:
        """From Nomad's JSON (``Capabilities`` flattened; nulls become empty)."""
        caps = data.get("Capabilities") or {}
        return cls.model_validate(
            {
                "Name": data.get("Name"),
                "Description": data.get("Description") or "",
                "Meta": data.get("Meta") or {},
                "enabled_task_drivers": tuple(caps.get("EnabledTaskDrivers") or ()),
                "disabled_task_drivers": tuple(caps.get("DisabledTaskDrivers") or ()),
                "ModifyIndex": data.get("ModifyIndex") or 0,
            }
        )

    def to_api(self) -> dict[str, Any]:
        """The body of ``POST /v1/namespace/:name``."""
        body: dict[str, Any] = {"Name": self.name, "Description": self.description, "Meta": dict(self.meta)}
        if self.enabled_task_drivers or self.disabled_task_drivers:
            body["Capabilities"] = {
                "EnabledTaskDrivers": list(self.enabled_task_drivers),
                "DisabledTaskDrivers": list(self.disabled_task_drivers),
            }
        return body


class AclToken(_Model):
    """A Nomad ACL token; ``secret_id`` is hidden from ``repr`` and registered for redaction."""

    accessor_id: str = Field(alias="AccessorID")
    secret_id: str = Field("", alias="SecretID", repr=False)
    name: str = Field("", alias="Name")
    type: str = Field("client", alias="Type")
    policies: tuple[str, ...] = Field((), alias="Policies")

    @field_validator("policies", mode="before")
    @classmethod
    def _none_is_empty(cls, value: Any) -> Any:
        return () if value is None else value


class NomadAclClient:
    """ACL policies, tokens and namespaces of one Nomad cluster (sync, thread-safe for calls).

    ``transport`` replaces the network (``httpx.MockTransport`` in tests) and ``sleep`` the wait
    between retries, as for ``NomadClient``.
    """

    def __init__(
        self,
        config: NomadConfig | None = None,
        *,
        retry: RetryPolicy = DEFAULT_RETRY,
        timeout: float = 30.0,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.config = config or NomadConfig()
        # ACL objects are global; a namespace default would only be noise on these endpoints.
        self._api = _http.nomad_api(
            self.config,
            namespaced=False,
            timeout=timeout,
            retry=retry,
            transport=transport,
            sleep=sleep,
        )

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **kwargs: Any) -> NomadAclClient:
        """A client configured from ``NOMAD_*`` environment variables (see ``NomadConfig``)."""
        return cls(NomadConfig.from_env(env), **kwargs)

    def close(self) -> None:
        """Close pooled connections."""
        self._api.close()

    def __enter__(self) -> NomadAclClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- plumbing -----------------------------------------------------------------------------

    def _get(self, url_path: str, *, absent_ok: bool = False) -> Any:
        response = self._api.request("GET", url_path, allow_status=(404,) if absent_ok else ())
        if response.status_code == 404:
            return None
        return self._json(response, "GET", url_path)

    def _send(self, method: str, url_path: str, body: Any = None) -> Any:
        # Policy and namespace writes carry the whole object and deletes are final: repeating
        # one after a lost answer is harmless. Token creation is not (see create_token).
        response = self._api.request(method, url_path, json=body, idempotent=True)
        return self._json(response, method, url_path) if response.content else None

    @staticmethod
    def _json(response: httpx.Response, method: str, url_path: str) -> Any:
        try:
            return response.json()
        except ValueError as exc:
            raise NomadError(
                "answer is not JSON", method=method, path=url_path, status=response.status_code
            ) from exc

    @staticmethod
    def _parse(model: type[_M], data: Any, method: str, url_path: str) -> _M:
        try:
            return model.model_validate(data)
        except ValidationError as exc:
            raise nomad_shape_error(model.__name__, exc.errors(), method=method, path=url_path) from exc

    def _list(self, url_path: str) -> list[Any]:
        data = self._get(url_path)
        if data is None:
            return []
        if not isinstance(data, list):
            raise NomadError("expected a list", method="GET", path=url_path)
        return data

    # --- policies -----------------------------------------------------------------------------

    def policies(self) -> list[AclPolicy]:
        """Every ACL policy (name and description; ``rules`` is empty in this listing)."""
        url_path = "/v1/acl/policies"
        return [self._parse(AclPolicy, item, "GET", url_path) for item in self._list(url_path)]

    def policy(self, name: str) -> AclPolicy | None:
        """The ACL policy ``name`` with its rules, or ``None`` if there is none."""
        url_path = _http.path("/v1/acl/policy/{}", name)
        data = self._get(url_path, absent_ok=True)
        return None if data is None else self._parse(AclPolicy, data, "GET", url_path)

    def write_policy(self, name: str, rules: str, *, description: str = "") -> None:
        """Create or replace the ACL policy ``name`` (Nomad parses ``rules``; a bad rule is a 400)."""
        url_path = _http.path("/v1/acl/policy/{}", name)
        self._send("POST", url_path, {"Name": name, "Description": description, "Rules": rules})

    def delete_policy(self, name: str) -> None:
        """Delete the ACL policy ``name``."""
        self._send("DELETE", _http.path("/v1/acl/policy/{}", name))

    # --- namespaces ---------------------------------------------------------------------------

    def namespaces(self) -> list[Namespace]:
        """The namespaces this token may see."""
        return [Namespace.from_api(item) for item in self._list("/v1/namespaces")]

    def namespace(self, name: str) -> Namespace | None:
        """The namespace ``name``, or ``None`` if there is none."""
        data = self._get(_http.path("/v1/namespace/{}", name), absent_ok=True)
        return None if data is None else Namespace.from_api(data)

    def write_namespace(self, namespace: Namespace) -> None:
        """Create or replace a namespace (needs a management token)."""
        self._send("POST", _http.path("/v1/namespace/{}", namespace.name), namespace.to_api())

    def delete_namespace(self, name: str) -> None:
        """Delete a namespace (Nomad refuses while it still holds jobs)."""
        self._send("DELETE", _http.path("/v1/namespace/{}", name))

    # --- tokens -------------------------------------------------------------------------------

    def _token(self, data: Any, method: str, url_path: str) -> AclToken:
        token = self._parse(AclToken, data, method, url_path)
        redact.register_secret(token.secret_id)
        return token

    def bootstrap(self) -> AclToken:
        """``nomad acl bootstrap``: the initial management token (once per cluster)."""
        url_path = "/v1/acl/bootstrap"
        response = self._api.request("POST", url_path, idempotent=False)
        return self._token(self._json(response, "POST", url_path), "POST", url_path)

    def create_token(
        self,
        name: str,
        policies: Sequence[str],
        *,
        management: bool = False,
        ttl_seconds: float | None = None,
    ) -> AclToken:
        """Create a client token holding ``policies`` (``management``: a management token;
        ``ttl_seconds``: it expires, Nomad >= 1.4)."""
        body: dict[str, Any] = {
            "Name": name,
            "Type": "management" if management else "client",
            "Policies": list(policies),
        }
        if ttl_seconds is not None:
            body["ExpirationTTL"] = f"{int(ttl_seconds)}s"
        url_path = "/v1/acl/token"
        response = self._api.request("POST", url_path, json=body, idempotent=False)
        return self._token(self._json(response, "POST", url_path), "POST", url_path)

    def delete_token(self, accessor_id: str) -> None:
        """Revoke a token by its accessor ID."""
        self._send("DELETE", _http.path("/v1/acl/token/{}", accessor_id))

    def token_self(self) -> AclToken:
        """What Nomad knows about this client's own token (its secret is not kept)."""
        url_path = "/v1/acl/token/self"
        data = dict(self._get(url_path) or {})
        data.pop("SecretID", None)
        return self._parse(AclToken, data, "GET", url_path)
