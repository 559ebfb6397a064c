import pytest
from hypothesis import given
from hypothesis import strategies as st

from nomadctl import triggers
from nomadctl.triggers import Point


@pytest.mark.parametrize(
    ("expr", "moment", "weight", "valid"),
    [
        ("before_DEPLOY", "before_DEPLOY", 0, True),
        ("before_DEPLOY-100", "before_DEPLOY", -100, True),
        ("before_START_ACTIVITY+10", "before_START_ACTIVITY", 10, True),
        ("before_X+007", "before_X", 7, True),
        ("before_X-0", "before_X", 0, True),
        ("enter_RUNNING-", "enter_RUNNING", 0, False),
        ("before_X+abc", "before_X", 0, False),
        ("before_X+ 5", "before_X", 0, False),
        ("before_X+5 ", "before_X", 0, False),
        ("before_X+1_000", "before_X", 0, False),
        ("before_X+\u0663", "before_X", 0, False),  # a non-ASCII digit: Atoi rejects it
        ("a-b-5", "a-b", -5, True),  # split at the LAST sign
        ("x+-5", "x+", -5, True),
        ("before-DEPLOY", "before", 0, False),
        ("CONFIGURE", "CONFIGURE", 0, True),
        ("", "", 0, True),
        ("m+9223372036854775807", "m", 2**63 - 1, True),
        ("m-9223372036854775808", "m", -(2**63), True),
        ("m+9223372036854775808", "m", 0, False),  # int64 overflow
    ],
)
def test_parse_like_aliecs(expr: str, moment: str, weight: int, valid: bool) -> None:
    parsed = triggers.parse(expr)
    assert parsed.point == Point(moment, weight)
    assert parsed.weight_valid is valid


def test_point_text() -> None:
    assert str(Point("before_X", -5)) == "before_X-5"
    assert str(Point("before_X")) == "before_X+0"


moment_text = st.text(st.characters(blacklist_characters="+-"), max_size=30)


@given(moment_text, st.integers(min_value=-(2**63), max_value=2**63 - 1))
def test_roundtrip(moment: str, weight: int) -> None:
    assert triggers.point(str(Point(moment, weight))) == Point(moment, weight)


@given(moment_text)
def test_no_sign_means_weight_zero(moment: str) -> None:
    assert triggers.parse(moment) == triggers.ParsedTrigger(Point(moment, 0))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("before_START_ACTIVITY-50", ("before_START_ACTIVITY", -50)),
        ("enter_RUNNING+ 5", ("enter_RUNNING", 0)),  # strconv.Atoi rejects the space
        ("enter_RUNNING+1_0", ("enter_RUNNING", 0)),  # and the underscore Python's int() takes
        ("DESTROY", ("DESTROY", 0)),
    ],
)
def test_hook_jobs_are_grouped_at_the_point_the_schedule_dispatches(text, expected):
    from nomadctl.jobspec import parse_trigger

    assert parse_trigger(text) == expected == (triggers.point(text).moment, triggers.point(text).weight)
