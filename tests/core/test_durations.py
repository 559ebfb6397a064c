import pytest

from nomadctl import durations


@pytest.mark.parametrize(
    ("text", "ns"),
    [
        ("0", 0),
        ("0s", 0),
        ("30s", 30_000_000_000),
        ("40s", 40_000_000_000),
        ("1m30s", 90_000_000_000),
        ("1.5h", 5_400_000_000_000),
        ("300ms", 300_000_000),
        ("-2s", -2_000_000_000),
        ("1h2m3s4ms", 3_723_004_000_000),
        ("10us", 10_000),
    ],
)
def test_parse(text: str, ns: int) -> None:
    assert durations.parse_ns(text) == ns


@pytest.mark.parametrize("text", ["", "5", "s", "1x", "1s2", "abc"])
def test_parse_rejects_what_go_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="time: "):
        durations.parse_ns(text)


@pytest.mark.parametrize(
    ("ns", "text"),
    [
        (0, "0s"),
        (30_000_000_000, "30s"),
        (90_000_000_000, "1m30s"),
        (3_600_000_000_000, "1h0m0s"),
        (300_000_000, "300ms"),
        (1_500_000_000, "1.5s"),
    ],
)
def test_format(ns: int, text: str) -> None:
    assert durations.format_ns(ns) == text
    assert durations.parse_ns(text) == ns
