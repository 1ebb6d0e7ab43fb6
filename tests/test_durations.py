import pytest

from bgctl.core.durations import format_duration, parse_duration
from bgctl.core.errors import InvalidInput


@pytest.mark.parametrize(
    "text, seconds",
    [("90", 90), ("90s", 90), ("5m", 300), ("1h", 3600), ("1h30m", 5400), ("0", 0), ("1.5s", 1.5), (" 2M ", 120)],
)
def test_parse(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "m", "5x", "-1", "5 m", "1h-2m", "abc"])
def test_refused(text):
    with pytest.raises(InvalidInput, match="not a duration"):
        parse_duration(text, name="--bake-time")


def test_format():
    assert format_duration(0.0123) == "12ms"
    assert format_duration(5) == "5s"
    assert format_duration(75) == "1m15s"
    assert format_duration(3725) == "1h02m05s"
