"""Load and validate a ``policies/`` directory into the desired state of a deployment.

Layout (each file starts with a comment header saying who holds it — ``Held by:`` — and why —
``Why:``; a file without both is refused)::

    policies/namespaces.hcl          Nomad namespaces + the placement table (``nomadctl {}`` blocks)
    policies/nomad/<name>.hcl        Nomad ACL policies (written for Nomad >= 2.0)
    policies/consul/<name>.hcl       Consul ACL policies
    policies/consul/roles.hcl        Consul ACL roles (``role "<name>" { policies = [...] }``)
    policies/vault/<name>.hcl        Vault/OpenBao ACL policies
    policies/vault/auth/<path>.hcl   a JWT auth method mounted at <path>: ``config {}``, ``role {}``

Policy files are sent to the servers verbatim (header included, so the reason travels with the
policy); they are parsed here only to validate them (python-hcl2) against each backend's rule
vocabulary, and to check cross-references: a Nomad policy naming an undeclared namespace, a Vault
JWT role or a Consul role naming an undeclared policy, a role without bound claims.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import hcl2

from nomadctl.errors import UsageError
from nomadctl.policies import nomad_caps
from nomadctl.policies.admission import NamespaceRules, PlacementTable

__all__ = [
    "ConsulRole",
    "JwtAuth",
    "JwtRole",
    "NamespaceSpec",
    "PolicyDoc",
    "PolicyError",
    "Spec",
    "header",
    "load",
    "parse_hcl",
]

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$")
_DESCRIPTION_MAX = 256  # Nomad's maxPolicyDescriptionLength

VAULT_CAPABILITIES = frozenset({"create", "read", "update", "patch", "delete", "list", "sudo", "deny"})
VAULT_PATH_KEYS = frozenset(
    {
        "capabilities",
        "required_parameters",
        "allowed_parameters",
        "denied_parameters",
        "min_wrapping_ttl",
        "max_wrapping_ttl",
    }
)
NOMAD_BLOCKS = frozenset(
    {"namespace", "node_pool", "host_volume", "agent", "node", "operator", "quota", "plugin", "sentinel"}
)
CONSUL_PREFIXED = frozenset(
    {"agent", "event", "identity", "key", "node", "query", "service", "session", "namespace", "partition"}
)
CONSUL_PLAIN = frozenset({"acl", "keyring", "mesh", "operator", "peering"})
CONSUL_POLICIES = frozenset({"read", "write", "deny", "list"})
JWT_ROLE_REQUIRED = ("bound_audiences", "bound_claims", "user_claim", "token_policies")


class PolicyError(UsageError):
    """A policy file that is missing, malformed or inconsistent: names the file and the item."""

    kind = "Policy"

    def __init__(self, message: str, *, file: str | None = None, item: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.file = file
        self.item = item

    def __str__(self) -> str:
        return ": ".join(p for p in (self.file, self.item, self.message) if p)


# --- parsing ----------------------------------------------------------------------------------


def parse_hcl(text: str, *, file: str) -> dict[str, Any]:
    """HCL text as plain Python data (strings unquoted, no comment or block markers)."""
    options = hcl2.SerializationOptions(with_comments=False, explicit_blocks=False, strip_string_quotes=True)
    try:
        data = hcl2.loads(text, serialization_options=options)
    except Exception as exc:  # lark raises its own tree; only the position matters
        line = getattr(exc, "line", None)
        where = f"{file}:{line}" if isinstance(line, int) and line > 0 else file
        raise PolicyError(f"not valid HCL: {str(exc).splitlines()[0]}", file=where) from None
    if not isinstance(data, dict):
        raise PolicyError("not an HCL body", file=file)
    return data


def header(text: str) -> list[str]:
    """The comment lines at the top of a file, without their ``#`` or ``//`` marker."""
    lines: list[str] = []
    for raw in text.splitlines():
        stripped = raw.strip()
        if stripped.startswith("#"):
            lines.append(stripped[1:].strip())
        elif stripped.startswith("//"):
            lines.append(stripped[2:].strip())
        elif stripped:
            break
        else:
            lines.append("")
    return lines


def _description(text: str, file: str) -> str:
    """The "Held by: ..." sentence of the header (the description sent to Nomad and Consul)."""
    lines = header(text)
    joined = "\n".join(lines)
    if "Held by:" not in joined or "Why:" not in joined:
        raise PolicyError("the header comment must say who holds it ('Held by:') and why ('Why:')", file=file)
    start = joined.index("Held by:")
    paragraph = joined[start:].split("\nWhy:")[0].split("\n\n")[0]
    description = " ".join(paragraph.split())
    if len(description) > _DESCRIPTION_MAX:
        description = description[: _DESCRIPTION_MAX - 3].rstrip() + "..."
    return description


def _blocks(data: Mapping[str, Any], key: str, file: str) -> list[tuple[str, dict[str, Any]]]:
    """Labelled blocks ``key "label" { ... }`` as (label, body) pairs, in file order."""
    out: list[tuple[str, dict[str, Any]]] = []
    for entry in data.get(key) or ():
        if not isinstance(entry, Mapping) or len(entry) != 1:
            raise PolicyError(f"{key!r} must be a block with one label", file=file)
        ((label, body),) = entry.items()
        if not isinstance(body, Mapping):
            raise PolicyError(f"{key} {label!r}: not a block", file=file)
        out.append((str(label), dict(body)))
    return out


def _block(data: Mapping[str, Any], key: str, file: str) -> dict[str, Any] | None:
    """An unlabelled block ``key { ... }`` (at most one)."""
    entries = data.get(key)
    if entries is None:
        return None
    if isinstance(entries, Mapping):
        return dict(entries)
    if not isinstance(entries, list) or len(entries) != 1 or not isinstance(entries[0], Mapping):
        raise PolicyError(f"{key!r} must be a single block", file=file)
    return dict(entries[0])


def _strings(value: Any, what: str, file: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise PolicyError(f"{what}: expected a list of strings", file=file)
    return tuple(value)


def _int(value: Any, what: str, file: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise PolicyError(f"{what}: expected an integer", file=file)
    return value


# --- the desired state ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PolicyDoc:
    """One ACL policy file: its name (the file stem), text as sent, description, parsed rules."""

    backend: str
    name: str
    rules: str
    description: str
    source: str
    parsed: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class JwtRole:
    """One role of a JWT auth method: the fields sent to ``auth/<path>/role/<name>``."""

    name: str
    fields: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class JwtAuth:
    """A JWT auth method: mount path, description, configuration and roles."""

    path: str
    description: str
    config: Mapping[str, Any]
    roles: tuple[JwtRole, ...]
    source: str


@dataclass(frozen=True, slots=True)
class NamespaceSpec:
    """A Nomad namespace as declared: what is sent to Nomad and the nomadctl placement rules."""

    name: str
    description: str
    meta: Mapping[str, str]
    rules: NamespaceRules


@dataclass(frozen=True, slots=True)
class ConsulRole:
    """A Consul ACL role linking policies by name."""

    name: str
    description: str
    policies: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Spec:
    """Everything ``policies/`` declares."""

    root: str
    vault_policies: tuple[PolicyDoc, ...]
    vault_auth: tuple[JwtAuth, ...]
    nomad_policies: tuple[PolicyDoc, ...]
    namespaces: tuple[NamespaceSpec, ...]
    raw_exec_pools: tuple[str, ...]
    consul_policies: tuple[PolicyDoc, ...]
    consul_roles: tuple[ConsulRole, ...]

    @property
    def placement(self) -> PlacementTable:
        """The admission table of the declared namespaces."""
        return PlacementTable(
            namespaces={ns.name: ns.rules for ns in self.namespaces}, raw_exec_pools=self.raw_exec_pools
        )


# --- per-backend validation -------------------------------------------------------------------


def _check_name(name: str, file: str) -> None:
    if not _NAME.match(name):
        raise PolicyError(f"{name!r} is not a valid name (letters, digits, '-', '_'; <= 128)", file=file)


def _validate_vault(name: str, data: Mapping[str, Any], file: str) -> None:
    unknown = set(data) - {"path"}
    if unknown:
        raise PolicyError(f"unknown top-level key(s) {sorted(unknown)} (only 'path' blocks)", file=file)
    paths = _blocks(data, "path", file)
    if not paths:
        raise PolicyError("grants nothing: no 'path' block", file=file)
    for path, body in paths:
        extra = set(body) - VAULT_PATH_KEYS
        if extra:
            raise PolicyError(f"unknown key(s) {sorted(extra)}", file=file, item=f"path {path!r}")
        caps = _strings(body.get("capabilities"), f"path {path!r}: capabilities", file)
        bad = set(caps) - VAULT_CAPABILITIES
        if bad or not caps:
            raise PolicyError(
                f"capabilities {sorted(bad) or '[]'} are not Vault capabilities",
                file=file,
                item=f"path {path!r}",
            )


def _validate_nomad(data: Mapping[str, Any], file: str) -> set[str]:
    """Validate a Nomad policy; returns the exact (non-glob) namespaces it names."""
    unknown = set(data) - NOMAD_BLOCKS
    if unknown:
        raise PolicyError(f"unknown rule(s) {sorted(unknown)} for a Nomad policy", file=file)
    named: set[str] = set()
    for ns, body in _blocks(data, "namespace", file):
        item = f"namespace {ns!r}"
        extra = set(body) - {"policy", "capabilities", "variables"}
        if extra:
            raise PolicyError(f"unknown key(s) {sorted(extra)}", file=file, item=item)
        if "policy" in body and body["policy"] not in nomad_caps.NAMESPACE_POLICIES:
            raise PolicyError(
                f"policy {body['policy']!r} is not one of deny/read/write/scale", file=file, item=item
            )
        caps = _strings(body.get("capabilities", []), f"{item}: capabilities", file)
        bad = set(caps) - nomad_caps.NAMESPACE_CAPABILITIES_2X
        if bad:
            raise PolicyError(f"unknown capabilities {sorted(bad)}", file=file, item=item)
        if "policy" not in body and not caps:
            raise PolicyError("grants nothing", file=file, item=item)
        if "*" not in ns:
            named.add(ns)
    for key in ("node_pool", "host_volume"):
        for label, body in _blocks(data, key, file):
            if body.get("policy", "read") not in nomad_caps.AGENT_POLICIES:
                raise PolicyError(f"bad policy {body.get('policy')!r}", file=file, item=f"{key} {label!r}")
    for key in ("agent", "node", "operator", "quota", "plugin", "sentinel"):
        block = _block(data, key, file)
        if block is None:
            continue
        allowed = nomad_caps.PLUGIN_POLICIES if key == "plugin" else nomad_caps.AGENT_POLICIES
        if "policy" in block and block["policy"] not in allowed:
            raise PolicyError(f"bad policy {block['policy']!r}", file=file, item=key)
    return named


def _validate_consul(data: Mapping[str, Any], file: str) -> None:
    if not data:
        raise PolicyError("grants nothing", file=file)
    for key, value in data.items():
        base = key.removesuffix("_prefix")
        if key in CONSUL_PLAIN:
            if value not in CONSUL_POLICIES:
                raise PolicyError(f"{key} = {value!r}: not read/write/deny/list", file=file)
            continue
        if base not in CONSUL_PREFIXED:
            raise PolicyError(f"unknown Consul rule {key!r}", file=file)
        for label, body in _blocks(data, key, file):
            if body.get("policy") not in CONSUL_POLICIES:
                raise PolicyError(
                    f"policy {body.get('policy')!r} is not read/write/deny/list",
                    file=file,
                    item=f"{key} {label!r}",
                )


# --- loading ----------------------------------------------------------------------------------


def _read(path: Path, root: Path) -> tuple[str, str]:
    rel = str(path.relative_to(root.parent)) if path.is_relative_to(root.parent) else str(path)
    try:
        return path.read_text(encoding="utf-8"), rel
    except (OSError, UnicodeDecodeError) as exc:
        raise PolicyError(f"cannot read: {exc}", file=rel) from exc


def _policy_docs(root: Path, backend: str, skip: Sequence[str] = ()) -> tuple[PolicyDoc, ...]:
    folder = root / backend
    if not folder.is_dir():
        return ()
    docs: list[PolicyDoc] = []
    for path in sorted(folder.glob("*.hcl")):
        if path.name in skip:
            continue
        text, rel = _read(path, root)
        name = path.stem
        _check_name(name, rel)
        parsed = parse_hcl(text, file=rel)
        docs.append(
            PolicyDoc(
                backend=backend,
                name=name,
                rules=text,
                description=_description(text, rel),
                source=rel,
                parsed=parsed,
            )
        )
    return tuple(docs)


def _jwt_auths(root: Path, vault_policy_names: set[str]) -> tuple[JwtAuth, ...]:
    folder = root / "vault" / "auth"
    if not folder.is_dir():
        return ()
    auths: list[JwtAuth] = []
    for path in sorted(folder.glob("*.hcl")):
        text, rel = _read(path, root)
        _description(text, rel)
        data = parse_hcl(text, file=rel)
        unknown = set(data) - {"description", "config", "role"}
        if unknown:
            raise PolicyError(f"unknown key(s) {sorted(unknown)} (description, config, role)", file=rel)
        roles: list[JwtRole] = []
        for name, body in _blocks(data, "role", rel):
            _check_name(name, rel)
            item = f"role {name!r}"
            missing = [k for k in JWT_ROLE_REQUIRED if not body.get(k)]
            if missing:
                raise PolicyError(
                    f"missing {', '.join(missing)} (every role binds audiences and claims)",
                    file=rel,
                    item=item,
                )
            if not isinstance(body["bound_claims"], Mapping):
                raise PolicyError("bound_claims must be an object", file=rel, item=item)
            policies = _strings(body["token_policies"], f"{item}: token_policies", rel)
            undeclared = sorted(set(policies) - vault_policy_names - {"default"})
            if undeclared:
                raise PolicyError(
                    f"token_policies {undeclared} are not declared in vault/", file=rel, item=item
                )
            roles.append(JwtRole(name=name, fields=body))
        auths.append(
            JwtAuth(
                path=path.stem,
                description=str(data.get("description") or ""),
                config=_block(data, "config", rel) or {},
                roles=tuple(roles),
                source=rel,
            )
        )
    return tuple(auths)


def _namespaces(root: Path) -> tuple[tuple[NamespaceSpec, ...], tuple[str, ...]]:
    path = root / "namespaces.hcl"
    if not path.exists():
        return (), ()
    text, rel = _read(path, root)
    _description(text, rel)
    data = parse_hcl(text, file=rel)
    unknown = set(data) - {"namespace", "raw_exec_node_pools"}
    if unknown:
        raise PolicyError(f"unknown key(s) {sorted(unknown)}", file=rel)
    raw_exec = _strings(data.get("raw_exec_node_pools", []), "raw_exec_node_pools", rel)
    out: list[NamespaceSpec] = []
    for name, body in _blocks(data, "namespace", rel):
        item = f"namespace {name!r}"
        _check_name(name, rel)
        extra = set(body) - {"description", "capabilities", "meta", "nomadctl"}
        if extra:
            raise PolicyError(f"unknown key(s) {sorted(extra)}", file=rel, item=item)
        caps = _block(body, "capabilities", rel) or {}
        extra = set(caps) - {"enabled_task_drivers", "disabled_task_drivers"}
        if extra:
            raise PolicyError(f"capabilities: unsupported key(s) {sorted(extra)}", file=rel, item=item)
        place = _block(body, "nomadctl", rel)
        if place is None:
            raise PolicyError("has no nomadctl { node_pools = [...] ... } block", file=rel, item=item)
        extra = set(place) - {"node_pools", "priority_min", "priority_max", "priority_default"}
        if extra:
            raise PolicyError(f"nomadctl: unknown key(s) {sorted(extra)}", file=rel, item=item)
        pools = _strings(place.get("node_pools"), f"{item}: node_pools", rel)
        low = _int(place.get("priority_min", 1), f"{item}: priority_min", rel)
        high = _int(place.get("priority_max", 100), f"{item}: priority_max", rel)
        default = place.get("priority_default")
        if default is not None:
            default = _int(default, f"{item}: priority_default", rel)
        if not pools:
            raise PolicyError("node_pools is empty", file=rel, item=item)
        if not 1 <= low <= high or (default is not None and not low <= default <= high):
            raise PolicyError("priorities must satisfy 1 <= min <= default <= max", file=rel, item=item)
        rules = NamespaceRules(
            name=name,
            node_pools=pools,
            priority_min=low,
            priority_max=high,
            priority_default=default,
            enabled_task_drivers=_strings(caps.get("enabled_task_drivers", []), f"{item}: drivers", rel),
            disabled_task_drivers=_strings(caps.get("disabled_task_drivers", []), f"{item}: drivers", rel),
        )
        meta_block = _block(body, "meta", rel) or {}
        meta = {str(k): str(v) for k, v in meta_block.items()}
        meta.update(rules.to_meta(raw_exec))
        out.append(
            NamespaceSpec(name=name, description=str(body.get("description") or ""), meta=meta, rules=rules)
        )
    return tuple(out), raw_exec


def _consul_roles(root: Path, policy_names: set[str]) -> tuple[ConsulRole, ...]:
    path = root / "consul" / "roles.hcl"
    if not path.exists():
        return ()
    text, rel = _read(path, root)
    _description(text, rel)
    data = parse_hcl(text, file=rel)
    if set(data) - {"role"}:
        raise PolicyError(f"unknown key(s) {sorted(set(data) - {'role'})} (only 'role' blocks)", file=rel)
    roles: list[ConsulRole] = []
    for name, body in _blocks(data, "role", rel):
        _check_name(name, rel)
        policies = _strings(body.get("policies"), f"role {name!r}: policies", rel)
        undeclared = sorted(set(policies) - policy_names)
        if undeclared:
            raise PolicyError(
                f"policies {undeclared} are not declared in consul/", file=rel, item=f"role {name!r}"
            )
        roles.append(ConsulRole(name=name, description=str(body.get("description") or ""), policies=policies))
    return tuple(roles)


def load(root: str | Path) -> Spec:
    """Load and validate every file of a ``policies/`` directory (``PolicyError`` on the first fault)."""
    base = Path(root)
    if not base.is_dir():
        raise PolicyError("policies directory not found", file=str(base))

    vault = _policy_docs(base, "vault")
    for doc in vault:
        _validate_vault(doc.name, doc.parsed, doc.source)
    nomad = _policy_docs(base, "nomad")
    namespaces, raw_exec = _namespaces(base)
    declared_ns = {ns.name for ns in namespaces}
    for doc in nomad:
        named = _validate_nomad(doc.parsed, doc.source)
        undeclared = sorted(named - declared_ns)
        if namespaces and undeclared:
            raise PolicyError(
                f"namespace(s) {undeclared} are not declared in namespaces.hcl", file=doc.source
            )
    consul = _policy_docs(base, "consul", skip=("roles.hcl",))
    for doc in consul:
        _validate_consul(doc.parsed, doc.source)
    return Spec(
        root=str(base),
        vault_policies=vault,
        vault_auth=_jwt_auths(base, {d.name for d in vault}),
        nomad_policies=nomad,
        namespaces=namespaces,
        raw_exec_pools=raw_exec,
        consul_policies=consul,
        consul_roles=_consul_roles(base, {d.name for d in consul}),
    )
