"""Wire-format helpers shared by the Nomad and Consul fakes: JSON, Go times, Go error text.

Nomad and Consul are Go programs; their JSON carries Go idioms that clients see and sometimes
parse: ``time.Time`` as RFC 3339 with nanoseconds (the zero time is ``0001-01-01T00:00:00Z``),
``time.Duration`` as integer nanoseconds, and ``hashicorp/go-multierror`` text for validation
errors. Request bodies are decoded the way Go's ``encoding/json`` does it: keys match struct
fields case-insensitively and unknown keys are dropped.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping
from typing import Any

JSON = Any
"""A decoded JSON value (the farm passes API payloads around as plain dicts and lists)."""

ZERO_TIME = "0001-01-01T00:00:00Z"

_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=True, check_circular=False)


def dumps(obj: JSON) -> str:
    """Compact JSON, as Go's encoder writes it (no spaces)."""
    return _ENCODER.encode(obj)


def go_time(ns: int) -> str:
    """A Unix-nanosecond timestamp as Go's ``time.Time`` JSON (RFC 3339, trailing zeros cut)."""
    if ns <= 0:
        return ZERO_TIME
    secs, frac = divmod(ns, 1_000_000_000)
    base = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs))
    if frac:
        return f"{base}.{frac:09d}".rstrip("0") + "Z"
    return base + "Z"


def multierror(errors: Iterable[str]) -> str:
    """``hashicorp/go-multierror`` text: ``"1 error occurred:\\n\\t* msg\\n\\n"``."""
    errs = list(errors)
    head = "1 error occurred:" if len(errs) == 1 else f"{len(errs)} errors occurred:"
    return head + "\n" + "".join(f"\t* {e}\n" for e in errs) + "\n"


def fold(obj: Mapping[str, JSON], fields: Iterable[str]) -> dict[str, JSON]:
    """Keep the keys of ``obj`` that name one of ``fields`` (case-insensitively), spelt as the field.

    This is how Go's ``encoding/json`` decodes into a struct: an exact match wins, otherwise the
    first case-insensitive match; everything else is silently ignored.
    """
    names = {f.lower(): f for f in fields}
    out: dict[str, JSON] = {}
    for key, value in obj.items():
        if key in names.values():
            out[key] = value
            continue
        canon = names.get(key.lower())
        if canon is not None and canon not in out:
            out[canon] = value
    return out


def get_ci(obj: Mapping[str, JSON], key: str, default: JSON = None) -> JSON:
    """``obj[key]`` with Go's case-insensitive fallback."""
    if key in obj:
        return obj[key]
    low = key.lower()
    for k, v in obj.items():
        if k.lower() == low:
            return v
    return default


def as_int(value: JSON, default: int = 0) -> int:
    """A JSON number (or numeric string, as lenient clients send) as an int."""
    if value is None or isinstance(value, bool):
        return default if value is None else int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value)
    if isinstance(value, str):
        try:
            return int(float(value))
        except ValueError:
            return default
    return default


def as_str_map(value: JSON) -> dict[str, str]:
    """A ``map[string]string`` field; non-string values are kept as their JSON text."""
    if not isinstance(value, dict):
        return {}
    return {str(k): v if isinstance(v, str) else dumps(v) for k, v in value.items()}


class HTTPError(Exception):
    """An API error answered as Nomad and Consul do: a status code and a plain-text body."""

    def __init__(self, status: int, text: str) -> None:
        super().__init__(text)
        self.status = status
        self.text = text
