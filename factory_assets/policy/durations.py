"""Durations as a platform engineer writes them in YAML: `30m`, `64h`, `1h30m`, `2d`.

The form of Go's `time.ParseDuration` (Argo CD's sync window `duration`), whole numbers only,
plus `d` for days; a bare number is refused, since `30` could mean seconds or minutes.
"""

from __future__ import annotations

import re
from datetime import timedelta

_PART = re.compile(r"(\d+)(d|h|m|s)")
_WHOLE = re.compile(r"(?:\d+(?:d|h|m|s))+")
_UNIT = {"d": 86400, "h": 3600, "m": 60, "s": 1}
EXPECTED = "a duration such as 30m, 64h, 1h30m or 2d (units d, h, m, s)"


def parse_duration(text: object) -> timedelta:
    """`1h30m` -> 90 minutes; a ValueError says what was expected (the caller names the field)."""
    if not isinstance(text, str) or not _WHOLE.fullmatch(text.strip()):
        raise ValueError(f"expected {EXPECTED}, got {text!r}")
    seconds = sum(int(n) * _UNIT[unit] for n, unit in _PART.findall(text.strip()))
    if seconds <= 0:
        raise ValueError(f"expected a duration longer than zero, got {text!r}")
    return timedelta(seconds=seconds)


def minutes(span: timedelta) -> int:
    """Whole minutes elapsed (rounded down: "12 min of 30" never overstates a soak)."""
    return max(0, int(span.total_seconds() // 60))


def describe(span: timedelta) -> str:
    """`30m`, `1h30m`, `2d`: the shortest form parse_duration reads back."""
    seconds = int(span.total_seconds())
    parts = []
    for unit, size in _UNIT.items():
        count, seconds = divmod(seconds, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts) or "0s"
