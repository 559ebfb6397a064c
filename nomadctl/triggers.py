"""The ``trigger``/``await`` grammar: ``<moment>[±N]``.

AliECS's ``callable.ParseTriggerExpression`` splits the text at the **last** ``+`` or ``-``; the
left part is the moment, the right part (sign included) goes through Go's ``strconv.Atoi``. Text
with neither sign has weight ``+0``. A weight ``Atoi`` rejects (``before_X+abc``, ``enter_Y-``,
overflow beyond int64, spaces, non-ASCII digits) becomes 0 with a warning, and the moment keeps
whatever was left of the split. Moments are compared exactly (case and all), so a misspelt moment
is accepted and never fires; ``nomadctl.lifecycle.hooks`` reports such triggers as warnings.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_INT64_MIN = -(2**63)
_INT64_MAX = 2**63 - 1
# what strconv.Atoi(s) accepts in base 10: an optional sign and ASCII digits, nothing else
_ATOI = re.compile(r"[+-]?[0-9]+")


@dataclass(frozen=True, slots=True, order=True)
class Point:
    """A hook moment and a weight: ``before_START_ACTIVITY-50``.

    Ordering compares the moment text first, which is only meaningful within one moment; use
    the weights to order points of the same moment.
    """

    moment: str
    weight: int = 0

    def __str__(self) -> str:
        return f"{self.moment}{self.weight:+d}"


@dataclass(frozen=True, slots=True)
class ParsedTrigger:
    """A parsed expression: ``point`` plus whether the weight part was valid (for warnings)."""

    point: Point
    weight_valid: bool = True


def parse(expr: str) -> ParsedTrigger:
    """Parse ``expr`` exactly like AliECS's ``ParseTriggerExpression``."""
    split = max(expr.rfind("+"), expr.rfind("-"))
    if split < 0:
        return ParsedTrigger(Point(expr, 0))
    moment, weight_text = expr[:split], expr[split:]
    if _ATOI.fullmatch(weight_text) is None:
        return ParsedTrigger(Point(moment, 0), weight_valid=False)
    weight = int(weight_text)
    if not _INT64_MIN <= weight <= _INT64_MAX:
        return ParsedTrigger(Point(moment, 0), weight_valid=False)
    return ParsedTrigger(Point(moment, weight))


def point(expr: str) -> Point:
    """The point of ``expr`` (see ``parse``)."""
    return parse(expr).point
