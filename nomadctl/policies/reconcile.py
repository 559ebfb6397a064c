"""Bring Vault, Nomad and Consul to what ``policies/`` declares, idempotently, and report drift.

Each ``plan_*`` function reads the current objects and compares them, normalised, with the
desired ones; it returns one ``Step`` per declared item: a ``Change`` (created / updated /
unchanged, with the fields or policy lines that differ) and, unless unchanged, the effect that
applies it. ``execute`` runs the effects (none with ``dry_run``) and returns a ``Report``; drift is
any item that is not unchanged. Only declared items are ever written; nothing is deleted.

Nothing here prints or logs a token: reports carry names, policy text and role fields only.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from nomadctl import durations
from nomadctl.clients.consul_acl import ConsulAclClient
from nomadctl.clients.errors import VaultNotFound
from nomadctl.clients.nomad_acl import Namespace, NomadAclClient
from nomadctl.clients.vault import VaultClient
from nomadctl.clients.vault_auth import VaultAuth
from nomadctl.policies import nomad_caps
from nomadctl.policies.spec import JwtAuth, PolicyError, Spec

__all__ = [
    "Action",
    "Backends",
    "Change",
    "Plan",
    "Report",
    "Step",
    "execute",
    "normalize_fields",
    "normalize_text",
    "plan_all",
    "plan_consul",
    "plan_nomad",
    "plan_vault",
]

MAX_DIFF_LINES = 20
JWT_KEY_SOURCES = ("jwks_url", "jwt_validation_pubkeys", "oidc_discovery_url")
# Vault reports these role fields in seconds whatever was written ("30m" -> 1800).
_DURATION_FIELDS = frozenset(
    {
        "token_ttl",
        "token_max_ttl",
        "token_period",
        "token_explicit_max_ttl",
        "clock_skew_leeway",
        "expiration_leeway",
        "not_before_leeway",
        "max_age",
    }
)
# Order carries no meaning in these lists.
_SET_FIELDS = frozenset(
    {
        "bound_audiences",
        "token_policies",
        "jwt_supported_algs",
        "jwt_validation_pubkeys",
        "token_bound_cidrs",
        "bound_cidrs",
    }
)


class Action(StrEnum):
    """What applying an item does (or did)."""

    CREATE = "created"
    UPDATE = "updated"
    UNCHANGED = "unchanged"


@dataclass(frozen=True, slots=True)
class Change:
    """One declared item and how it differs from what the backend holds."""

    backend: str
    kind: str
    name: str
    action: Action
    details: tuple[str, ...] = ()

    def line(self) -> str:
        """``nomad  policy      operator          updated``."""
        return f"{self.backend:<7}{self.kind:<14}{self.name:<28}{self.action.value}"


@dataclass(frozen=True, slots=True)
class Step:
    """A change and the effect that applies it (``None`` when unchanged)."""

    change: Change
    effect: Callable[[], None] | None = None


@dataclass(frozen=True, slots=True)
class Plan:
    """The steps for one backend, in the order they must run, and notes for the operator."""

    backend: str
    steps: tuple[Step, ...]
    notes: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Report:
    """What ``execute`` did (or, with ``dry_run``, would do)."""

    changes: tuple[Change, ...]
    notes: tuple[str, ...] = ()
    dry_run: bool = False

    @property
    def drift(self) -> bool:
        """Whether any declared item differs from the backend."""
        return any(c.action is not Action.UNCHANGED for c in self.changes)

    def counts(self) -> dict[Action, int]:
        """How many items were created, updated, unchanged."""
        out = dict.fromkeys(Action, 0)
        for c in self.changes:
            out[c.action] += 1
        return out

    def lines(self, *, verbose: bool = True) -> list[str]:
        """The summary: one line per item, its differences indented under it, notes, totals."""
        out: list[str] = []
        for change in self.changes:
            out.append(change.line())
            if verbose:
                out.extend(f"    {d}" for d in change.details)
        out.extend(f"note: {n}" for n in self.notes)
        counts = self.counts()
        verb = "would be " if self.dry_run else ""
        summary = ", ".join(f"{counts[a]} {verb}{a.value}" for a in (Action.CREATE, Action.UPDATE))
        out.append(f"{summary}, {counts[Action.UNCHANGED]} unchanged")
        return out


def execute(plans: Iterable[Plan], *, dry_run: bool = False) -> Report:
    """Run every effect of ``plans`` in order (none with ``dry_run``); the report of all changes."""
    changes: list[Change] = []
    notes: list[str] = []
    for plan in plans:
        notes.extend(plan.notes)
        for step in plan.steps:
            if step.effect is not None and not dry_run:
                step.effect()
            changes.append(step.change)
    return Report(changes=tuple(changes), notes=tuple(notes), dry_run=dry_run)


# --- comparison helpers -----------------------------------------------------------------------


def normalize_text(text: str) -> str:
    """Policy text as compared: LF line ends, no trailing blanks, no leading/trailing empty lines."""
    lines = [line.rstrip() for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n")]
    return "\n".join(lines).strip("\n")


def _text_diff(current: str, desired: str) -> tuple[str, ...]:
    lines = [
        line
        for line in difflib.unified_diff(current.split("\n"), desired.split("\n"), lineterm="", n=0)
        if not line.startswith(("---", "+++", "@@"))
    ]
    if len(lines) > MAX_DIFF_LINES:
        lines = [*lines[:MAX_DIFF_LINES], f"... ({len(lines) - MAX_DIFF_LINES} more lines)"]
    return tuple(lines)


def _field_diff(current: Mapping[str, Any], desired: Mapping[str, Any]) -> tuple[str, ...]:
    return tuple(
        f"{key}: {current.get(key)!r} -> {desired[key]!r}"
        for key in sorted(desired)
        if current.get(key) != desired[key]
    )


def _step(
    backend: str,
    kind: str,
    name: str,
    *,
    exists: bool,
    details: Sequence[str],
    effect: Callable[[], None],
) -> Step:
    if not exists:
        return Step(Change(backend, kind, name, Action.CREATE), effect)
    if details:
        return Step(Change(backend, kind, name, Action.UPDATE, tuple(details)), effect)
    return Step(Change(backend, kind, name, Action.UNCHANGED))


def _norm_value(key: str, value: Any) -> Any:
    if key in _DURATION_FIELDS:
        if isinstance(value, str):
            return round(durations.parse_seconds(value)) if value.strip() not in ("", "0") else 0
        return int(value or 0)
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, list):
        items = [_norm_value("", v) for v in value]
        return sorted(items, key=repr) if key in _SET_FIELDS else items
    if isinstance(value, Mapping):
        return {str(k): _norm_value("", v) for k, v in sorted(value.items())}
    return value


def normalize_fields(fields: Mapping[str, Any], keys: Iterable[str]) -> dict[str, Any]:
    """``fields`` restricted to ``keys`` (absent ones as ``None``), durations in seconds, sets sorted."""
    return {key: _norm_value(key, fields.get(key)) for key in keys}


# --- Vault ------------------------------------------------------------------------------------


def _vault_policy_steps(vault: VaultClient, spec: Spec) -> list[Step]:
    steps: list[Step] = []
    for doc in spec.vault_policies:
        try:
            current: str | None = vault.policy_read(doc.name)
        except VaultNotFound:
            current = None
        desired = normalize_text(doc.rules)
        details = _text_diff(normalize_text(current), desired) if current is not None else ()

        def effect(name: str = doc.name, text: str = doc.rules) -> None:
            vault.policy_write(name, text)

        steps.append(
            _step("vault", "policy", doc.name, exists=current is not None, details=details, effect=effect)
        )
    return steps


def _jwt_config(auth: JwtAuth, overrides: Mapping[str, Any]) -> dict[str, Any]:
    config = {**auth.config, **{k: v for k, v in overrides.items() if v is not None}}
    sources = [k for k in JWT_KEY_SOURCES if config.get(k)]
    if len(sources) != 1:
        raise PolicyError(
            "needs exactly one key source (jwks_url, jwt_validation_pubkeys or oidc_discovery_url); "
            f"got {sources or 'none'}: pass --jwks-url",
            file=auth.source,
            item="config",
        )
    return config


def _vault_auth_steps(auth_api: VaultAuth, auth: JwtAuth, overrides: Mapping[str, Any]) -> list[Step]:
    config = _jwt_config(auth, overrides)
    mounts = auth_api.auth_methods()
    mounted = mounts.get(auth.path)
    if mounted is not None and mounted.type not in ("jwt", "oidc"):
        raise PolicyError(f"auth/{auth.path} is a {mounted.type!r} auth method, not jwt", file=auth.source)
    steps = [
        _step(
            "vault",
            "auth method",
            auth.path,
            exists=mounted is not None,
            details=(),
            effect=lambda: auth_api.enable_auth(auth.path, "jwt", description=auth.description),
        )
    ]
    current_config = auth_api.jwt_config(auth.path) if mounted is not None else None
    want = normalize_fields(config, config)
    details = _field_diff(normalize_fields(current_config or {}, config), want)
    steps.append(
        _step(
            "vault",
            "jwt config",
            auth.path,
            exists=current_config is not None,
            details=details,
            effect=lambda: auth_api.write_jwt_config(auth.path, config),
        )
    )
    for role in auth.roles:
        current = auth_api.jwt_role(auth.path, role.name) if mounted is not None else None
        desired = normalize_fields(role.fields, role.fields)
        details = _field_diff(normalize_fields(current or {}, role.fields), desired)

        def effect(name: str = role.name, fields: Mapping[str, Any] = role.fields) -> None:
            auth_api.write_jwt_role(auth.path, name, fields)

        steps.append(
            _step(
                "vault",
                "jwt role",
                f"{auth.path}/{role.name}",
                exists=current is not None,
                details=details,
                effect=effect,
            )
        )
    return steps


def plan_vault(
    vault: VaultClient, spec: Spec, *, jwt_config_overrides: Mapping[str, Any] | None = None
) -> Plan:
    """Steps for Vault: ACL policies, then each JWT auth method (mount, config, roles).

    ``jwt_config_overrides`` supplies the deployment-specific part of the JWT configuration
    (``jwks_url`` and ``jwks_ca_pem``, or ``jwt_validation_pubkeys``); ``None`` values are ignored.
    """
    steps = _vault_policy_steps(vault, spec)
    auth_api = VaultAuth(vault)
    for auth in spec.vault_auth:
        steps.extend(_vault_auth_steps(auth_api, auth, jwt_config_overrides or {}))
    return Plan("vault", tuple(steps))


# --- Nomad ------------------------------------------------------------------------------------


def _namespace_fields(ns: Namespace) -> dict[str, Any]:
    return {
        "description": ns.description,
        "meta": dict(sorted(ns.meta.items())),
        "enabled_task_drivers": sorted(ns.enabled_task_drivers),
        "disabled_task_drivers": sorted(ns.disabled_task_drivers),
    }


def plan_nomad(acl: NomadAclClient, spec: Spec, *, version: tuple[int, int, int]) -> Plan:
    """Steps for Nomad: namespaces, then ACL policies as a server of ``version`` accepts them.

    For a 1.x server the 2.0-only capabilities become ``submit-job``; each policy so widened is
    named in the plan's notes.
    """
    steps: list[Step] = []
    notes: list[str] = []
    for ns in spec.namespaces:
        desired = Namespace(
            name=ns.name,
            description=ns.description,
            meta=dict(ns.meta),
            enabled_task_drivers=ns.rules.enabled_task_drivers,
            disabled_task_drivers=ns.rules.disabled_task_drivers,
        )
        current = acl.namespace(ns.name)
        ns_details = _field_diff(_namespace_fields(current), _namespace_fields(desired)) if current else ()

        def write_ns(namespace: Namespace = desired) -> None:
            acl.write_namespace(namespace)

        steps.append(
            _step(
                "nomad", "namespace", ns.name, exists=current is not None, details=ns_details, effect=write_ns
            )
        )
    for doc in spec.nomad_policies:
        rules, widened = nomad_caps.for_version(doc.rules, version)
        if widened:
            notes.append(
                f"Nomad {'.'.join(map(str, version))} < 2.0: policy {doc.name!r} sent with "
                f"{', '.join(sorted(widened))} as submit-job (wider: also purge, revert, ...)"
            )
        current_policy = acl.policy(doc.name)
        details: tuple[str, ...] = ()
        if current_policy is not None:
            details = _text_diff(normalize_text(current_policy.rules), normalize_text(rules))
            if current_policy.description != doc.description:
                details += (f"description: {current_policy.description!r} -> {doc.description!r}",)

        def write_policy(name: str = doc.name, text: str = rules, description: str = doc.description) -> None:
            acl.write_policy(name, text, description=description)

        steps.append(
            _step(
                "nomad",
                "policy",
                doc.name,
                exists=current_policy is not None,
                details=details,
                effect=write_policy,
            )
        )
    return Plan("nomad", tuple(steps), tuple(notes))


# --- Consul -----------------------------------------------------------------------------------


def plan_consul(acl: ConsulAclClient, spec: Spec) -> Plan:
    """Steps for Consul: ACL policies, then roles (which link policies by name)."""
    steps: list[Step] = []
    stubs = {p.name: p.id for p in acl.policies()}
    for doc in spec.consul_policies:
        policy_id = stubs.get(doc.name)
        details: tuple[str, ...] = ()
        if policy_id is not None:
            current = acl.policy(policy_id)
            details = _text_diff(normalize_text(current.rules), normalize_text(doc.rules))
            if current.description != doc.description:
                details += (f"description: {current.description!r} -> {doc.description!r}",)

        def write_policy(
            name: str = doc.name,
            text: str = doc.rules,
            description: str = doc.description,
            pid: str | None = policy_id,
        ) -> None:
            if pid is None:
                acl.create_policy(name, text, description=description)
            else:
                acl.update_policy(pid, name, text, description=description)

        steps.append(
            _step(
                "consul",
                "policy",
                doc.name,
                exists=policy_id is not None,
                details=details,
                effect=write_policy,
            )
        )
    roles = {r.name: r for r in acl.roles()}
    for role in spec.consul_roles:
        found = roles.get(role.name)
        want = {"description": role.description, "policies": sorted(role.policies)}
        role_details: tuple[str, ...] = ()
        if found is not None:
            role_details = _field_diff(
                {"description": found.description, "policies": sorted(found.policies)}, want
            )

        def write_role(r: Any = role, rid: str | None = found.id if found else None) -> None:
            if rid is None:
                acl.create_role(r.name, r.policies, description=r.description)
            else:
                acl.update_role(rid, r.name, r.policies, description=r.description)

        steps.append(
            _step(
                "consul", "role", role.name, exists=found is not None, details=role_details, effect=write_role
            )
        )
    return Plan("consul", tuple(steps))


@dataclass(frozen=True, slots=True)
class Backends:
    """The clients ``plan_all`` talks to; a ``None`` backend is skipped."""

    vault: VaultClient | None = None
    nomad: NomadAclClient | None = None
    consul: ConsulAclClient | None = None
    nomad_version: tuple[int, int, int] | None = None
    jwt_config_overrides: Mapping[str, Any] = field(default_factory=dict)


def plan_all(spec: Spec, backends: Backends) -> list[Plan]:
    """The plans of every configured backend, Vault first (tasks need secrets before jobs run)."""
    plans: list[Plan] = []
    if backends.vault is not None:
        plans.append(plan_vault(backends.vault, spec, jwt_config_overrides=backends.jwt_config_overrides))
    if backends.nomad is not None:
        if backends.nomad_version is None:
            raise PolicyError("the Nomad server version is needed to pick the policy variant")
        plans.append(plan_nomad(backends.nomad, spec, version=backends.nomad_version))
    if backends.consul is not None:
        plans.append(plan_consul(backends.consul, spec))
    return plans
