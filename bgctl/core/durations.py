"""Durations as users type them: `90`, `90s`, `5m`, `1h`, `1h30m`, `0`."""

from __future__ import annotations

import re
from datetime import datetime

from bgctl.core.errors import InvalidInput

_UNITS = {"s": 1, "m": 60, "h": 3600}
_PART = re.compile(r"(\d+(?:\.\d+)?)([smh])")


def parse_duration(text: str, *, name: str = "duration") -> float:
    """Seconds in `text`; a bare number is seconds.

    >>> parse_duration("5m")
    300.0
    """
    raw = text.strip().lower()
    if re.fullmatch(r"\d+(?:\.\d+)?", raw):
        return float(raw)
    parts = _PART.findall(raw)
    if not raw or "".join(n + u for n, u in parts) != raw:
        raise InvalidInput(f"{name} {text!r} is not a duration; use a number of seconds or a form like 90s, 5m, 1h.")
    return float(sum(float(n) * _UNITS[u] for n, u in parts))


def format_duration(seconds: float) -> str:
    """`75` → `1m15s`; sub-second values keep milliseconds."""
    if seconds < 1:
        return f"{seconds * 1000:.0f}ms"
    if seconds < 60:
        return f"{seconds:.1f}s".replace(".0s", "s")
    minutes, secs = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    if hours:
        return f"{hours}h{minutes:02d}m{secs:02d}s"
    return f"{minutes}m{secs:02d}s"


def format_clock(epoch: float) -> str:
    """An absolute time as the local time of day, `14:03:07` (how deadlines are said)."""
    return datetime.fromtimestamp(epoch).strftime("%H:%M:%S")
