"""Consul ACL policies, roles and tokens: the endpoints ``nomadctl policies`` needs.

Built on the shared ``HttpApi`` (TLS, ``X-Consul-Token``, retry policy, error mapping, log
redaction) with the same ``ConsulConfig`` as ``ConsulClient``. Consul addresses policies and roles
by ID; the ``*_by_name`` reads find the ID in the listing first, so "absent" is ``None`` whatever
status a given Consul version uses for an unknown name.

Token secrets (bootstrap, created tokens) are registered with the log redaction filter and hidden
from ``repr``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

import httpx
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from nomadctl.clients import _http, redact
from nomadctl.clients.config import ConsulConfig
from nomadctl.clients.errors import ConsulError
from nomadctl.clients.retry import DEFAULT_RETRY, RetryPolicy

__all__ = ["ConsulAclClient", "ConsulAclPolicy", "ConsulAclRole", "ConsulAclToken"]

_M = TypeVar("_M", bound=BaseModel)


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True, frozen=True)


class ConsulAclPolicy(_Model):
    """A Consul ACL policy; ``rules`` is the text as stored (empty in list stubs)."""

    id: str = Field(alias="ID")
    name: str = Field(alias="Name")
    description: str = Field("", alias="Description")
    rules: str = Field("", alias="Rules")

    @field_validator("description", "rules", mode="before")
    @classmethod
    def _none_is_empty(cls, value: Any) -> Any:
        return "" if value is None else value


def _link_names(value: Any) -> Any:
    if value is None:
        return ()
    if isinstance(value, list):
        return tuple(str(item.get("Name", "")) if isinstance(item, Mapping) else str(item) for item in value)
    return value


class ConsulAclRole(_Model):
    """A Consul ACL role; ``policies`` are the linked policies' names."""

    id: str = Field(alias="ID")
    name: str = Field(alias="Name")
    description: str = Field("", alias="Description")
    policies: tuple[str, ...] = Field((), alias="Policies")

    @field_validator("policies", mode="before")
    @classmethod
    def _names(cls, value: Any) -> Any:
        return _link_names(value)

    @field_validator("description", mode="before")
    @classmethod
    def _none_is_empty(cls, value: Any) -> Any:
        return "" if value is None else value


class ConsulAclToken(_Model):
    """A Consul ACL token; ``secret_id`` is hidden from ``repr`` and registered for redaction."""

    accessor_id: str = Field(alias="AccessorID")
    secret_id: str = Field("", alias="SecretID", repr=False)
    description: str = Field("", alias="Description")
    policies: tuple[str, ...] = Field((), alias="Policies")
    roles: tuple[str, ...] = Field((), alias="Roles")

    @field_validator("policies", "roles", mode="before")
    @classmethod
    def _names(cls, value: Any) -> Any:
        return _link_names(value)


class ConsulAclClient:
    """ACL policies, roles and tokens of one Consul cluster (sync, thread-safe for calls)."""

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
        self._api = _http.consul_api(
            self.config,
            timeout=timeout,
            retry=retry,
            transport=transport,
            sleep=sleep,
        )

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **kwargs: Any) -> ConsulAclClient:
        """A client configured from ``CONSUL_*`` environment variables (see ``ConsulConfig``)."""
        return cls(ConsulConfig.from_env(env), **kwargs)

    def close(self) -> None:
        """Close pooled connections."""
        self._api.close()

    def __enter__(self) -> ConsulAclClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- plumbing -----------------------------------------------------------------------------

    def _call(self, method: str, url_path: str, body: Any = None, *, idempotent: bool = True) -> Any:
        response = self._api.request(method, url_path, json=body, idempotent=idempotent)
        if not response.content:
            return None
        try:
            return response.json()
        except ValueError as exc:
            raise ConsulError(
                "answer is not JSON", method=method, path=url_path, status=response.status_code
            ) from exc

    @staticmethod
    def _parse(model: type[_M], data: Any, method: str, url_path: str) -> _M:
        try:
            return model.model_validate(data)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise ConsulError(
                f"unexpected answer shape for {model.__name__}: {where}: {first['msg']}",
                method=method,
                path=url_path,
            ) from exc

    def _parse_list(self, model: type[_M], url_path: str) -> list[_M]:
        data = self._call("GET", url_path)
        if data is None:
            return []
        if not isinstance(data, list):
            raise ConsulError("expected a list", method="GET", path=url_path)
        return [self._parse(model, item, "GET", url_path) for item in data]

    # --- policies -----------------------------------------------------------------------------

    def policies(self) -> list[ConsulAclPolicy]:
        """Every ACL policy (``rules`` empty: the listing does not carry them)."""
        return self._parse_list(ConsulAclPolicy, "/v1/acl/policies")

    def policy(self, policy_id: str) -> ConsulAclPolicy:
        """The policy with ``policy_id``, rules included."""
        url_path = _http.path("/v1/acl/policy/{}", policy_id)
        return self._parse(ConsulAclPolicy, self._call("GET", url_path), "GET", url_path)

    def policy_by_name(self, name: str) -> ConsulAclPolicy | None:
        """The policy called ``name`` with its rules, or ``None``."""
        stub = next((p for p in self.policies() if p.name == name), None)
        return None if stub is None else self.policy(stub.id)

    def create_policy(self, name: str, rules: str, *, description: str = "") -> ConsulAclPolicy:
        """Create a policy (Consul parses ``rules``; a bad rule or a taken name is a 400)."""
        body = {"Name": name, "Description": description, "Rules": rules}
        # A repeated create would fail on the name it just took: not idempotent.
        data = self._call("PUT", "/v1/acl/policy", body, idempotent=False)
        return self._parse(ConsulAclPolicy, data, "PUT", "/v1/acl/policy")

    def update_policy(self, policy_id: str, name: str, rules: str, *, description: str = "") -> None:
        """Replace the policy ``policy_id``."""
        body = {"ID": policy_id, "Name": name, "Description": description, "Rules": rules}
        self._call("PUT", _http.path("/v1/acl/policy/{}", policy_id), body)

    def delete_policy(self, policy_id: str) -> None:
        """Delete the policy ``policy_id``."""
        self._call("DELETE", _http.path("/v1/acl/policy/{}", policy_id))

    # --- roles --------------------------------------------------------------------------------

    def roles(self) -> list[ConsulAclRole]:
        """Every ACL role with its linked policy names."""
        return self._parse_list(ConsulAclRole, "/v1/acl/roles")

    def role_by_name(self, name: str) -> ConsulAclRole | None:
        """The role called ``name``, or ``None``."""
        return next((r for r in self.roles() if r.name == name), None)

    def create_role(self, name: str, policies: Sequence[str], *, description: str = "") -> ConsulAclRole:
        """Create a role linking ``policies`` by name (they must exist)."""
        body = {"Name": name, "Description": description, "Policies": [{"Name": p} for p in policies]}
        data = self._call("PUT", "/v1/acl/role", body, idempotent=False)
        return self._parse(ConsulAclRole, data, "PUT", "/v1/acl/role")

    def update_role(self, role_id: str, name: str, policies: Sequence[str], *, description: str = "") -> None:
        """Replace the role ``role_id``."""
        body = {
            "ID": role_id,
            "Name": name,
            "Description": description,
            "Policies": [{"Name": p} for p in policies],
        }
        self._call("PUT", _http.path("/v1/acl/role/{}", role_id), body)

    def delete_role(self, role_id: str) -> None:
        """Delete the role ``role_id``."""
        self._call("DELETE", _http.path("/v1/acl/role/{}", role_id))

    # --- tokens -------------------------------------------------------------------------------

    def _token(self, data: Any, url_path: str) -> ConsulAclToken:
        token = self._parse(ConsulAclToken, data, "PUT", url_path)
        redact.register_secret(token.secret_id)
        return token

    def bootstrap(self) -> ConsulAclToken:
        """``consul acl bootstrap``: the initial management token (once per cluster)."""
        return self._token(self._call("PUT", "/v1/acl/bootstrap", idempotent=False), "/v1/acl/bootstrap")

    def create_token(
        self,
        description: str,
        *,
        policies: Sequence[str] = (),
        roles: Sequence[str] = (),
        service_identities: Sequence[str] = (),
    ) -> ConsulAclToken:
        """Create a token linking ``policies`` and ``roles`` by name, and service identities."""
        body: dict[str, Any] = {
            "Description": description,
            "Policies": [{"Name": p} for p in policies],
            "Roles": [{"Name": r} for r in roles],
            "ServiceIdentities": [{"ServiceName": s} for s in service_identities],
        }
        return self._token(self._call("PUT", "/v1/acl/token", body, idempotent=False), "/v1/acl/token")

    def delete_token(self, accessor_id: str) -> None:
        """Revoke a token by its accessor ID."""
        self._call("DELETE", _http.path("/v1/acl/token/{}", accessor_id))
