"""Go ``time.Duration`` text, as AliECS manifests and Nomad HCL write it.

AliECS parses ``timeout: 40s`` with Go's ``time.ParseDuration``; Nomad's JSON wants integer
nanoseconds and its HCL wants the Go text again. Both directions live here.
"""

from __future__ import annotations

import re

_UNITS_NS: dict[str, int] = {
    "ns": 1,
    "us": 1_000,
    "µs": 1_000,
    "μs": 1_000,
    "ms": 1_000_000,
    "s": 1_000_000_000,
    "m": 60 * 1_000_000_000,
    "h": 3600 * 1_000_000_000,
}
_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)")


def parse_ns(text: str) -> int:
    """Parse a Go duration (``"1m30s"``, ``"-1.5h"``, ``"0"``) into integer nanoseconds.

    Raises ``ValueError`` with Go's wording for anything ``time.ParseDuration`` rejects.
    """
    s = text.strip()
    orig = s
    sign = 1
    if s and s[0] in "+-":
        sign = -1 if s[0] == "-" else 1
        s = s[1:]
    if s == "0":
        return 0
    if not s:
        raise ValueError(f'time: invalid duration "{orig}"')
    total = 0.0
    pos = 0
    while pos < len(s):
        m = _PART.match(s, pos)
        if m is None:
            if re.match(r"(\d+(?:\.\d*)?|\.\d+)", s[pos:]):
                raise ValueError(f'time: missing unit in duration "{orig}"')
            raise ValueError(f'time: invalid duration "{orig}"')
        total += float(m.group(1)) * _UNITS_NS[m.group(2)]
        pos = m.end()
    return sign * round(total)


def parse_seconds(text: str) -> float:
    """Parse a Go duration into seconds (float)."""
    return parse_ns(text) / 1e9


def format_ns(ns: int) -> str:
    """Format nanoseconds the way Go's ``Duration.String`` does for whole units (``"1m30s"``)."""
    if ns == 0:
        return "0s"
    sign = "-" if ns < 0 else ""
    ns = abs(ns)
    if ns < 1_000_000_000:
        for unit, size in (("ms", 1_000_000), ("us", 1_000), ("ns", 1)):
            if ns % size == 0:
                return f"{sign}{ns // size}{unit}"
    hours, rest = divmod(ns, 3600 * 1_000_000_000)
    minutes, rest = divmod(rest, 60 * 1_000_000_000)
    seconds = rest / 1e9
    out = sign
    if hours:
        out += f"{hours}h"
    if hours or minutes:
        out += f"{minutes}m"
    out += f"{seconds:.9f}".rstrip("0").rstrip(".") + "s"
    return out
