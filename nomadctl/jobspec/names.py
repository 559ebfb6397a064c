"""Deterministic names: job IDs, group and task names, port labels, Consul service names."""

from __future__ import annotations

import hashlib
import re

_NON_DNS = re.compile(r"[^a-z0-9]+")
_NON_LABEL = re.compile(r"[^a-z0-9]+")
# Nomad's service-name rule (nomad/structs/services.go ValidateName), RFC 1123, <= 63 chars.
SERVICE_NAME = re.compile(r"^(?i:[a-z0-9]|[a-z0-9][a-z0-9\-]{0,61}[a-z0-9])$")
SERVICE_NAME_MAX = 63


def short_hash(text: str, n: int = 6) -> str:
    """A short stable hex digest (not for security: it only disambiguates names)."""
    return hashlib.sha1(text.encode(), usedforsecurity=False).hexdigest()[:n]


def dns_slug(text: str) -> str:
    """Lower-case ``[a-z0-9-]`` form of ``text`` (runs of other characters become one ``-``)."""
    return _NON_DNS.sub("-", text.lower()).strip("-")


def fit(name: str, limit: int, *, key: str | None = None) -> str:
    """``name`` cut to ``limit`` characters, ending in a hash of ``key`` (or of ``name``) if cut."""
    if len(name) <= limit:
        return name
    digest = short_hash(key if key is not None else name, 8)
    return name[: limit - len(digest) - 1].rstrip("-") + "-" + digest


def service_name(*parts: str) -> str:
    """A Consul service name from ``parts``: RFC 1123, lower case, <= 63 characters."""
    full = "-".join(p for p in (dns_slug(x) for x in parts) if p)
    return fit(full or "svc", SERVICE_NAME_MAX, key="\0".join(parts))


def port_label(*parts: str) -> str:
    """A port label usable in ``NOMAD_PORT_<label>`` as is: ``[a-z0-9_]``."""
    return "_".join(p for p in (_NON_LABEL.sub("_", x.lower()).strip("_") for x in parts) if p)


def task_name(relative_path: str) -> str:
    """A Nomad task name from a role path relative to its group (no slashes, never ``alloc``)."""
    name = relative_path.replace("/", "-").replace("\\", "-").replace("\0", "") or "task"
    return "alloc-task" if name == "alloc" else name


def env_key(text: str) -> str:
    """An environment-variable name part: upper case ``[A-Z0-9_]``."""
    return re.sub(r"[^A-Z0-9]+", "_", text.upper()).strip("_")


def unique(names: list[str]) -> list[str]:
    """``names`` with repeats made unique by ``-2``, ``-3``... suffixes (first one kept)."""
    seen: dict[str, int] = {}
    taken = set(names)
    out: list[str] = []
    for name in names:
        if name not in seen:
            seen[name] = 1
            out.append(name)
            continue
        n = seen[name]
        candidate = name
        while candidate in taken:
            n += 1
            candidate = f"{name}-{n}"
        seen[name] = n
        taken.add(candidate)
        out.append(candidate)
    return out
