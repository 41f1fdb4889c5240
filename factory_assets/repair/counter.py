"""Consecutive-failure counting for the Dagster run-failure sensor (pure: counts in, counts out).

The sensor keeps the counts in its cursor (`counts_to_cursor` / `counts_from_cursor`), calls
`count_run` for every finished run, and calls `escalate_failure` when `escalate` is true
(and `note_green` after a success, so the issue closes after K green runs).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class FailureCount:
    counts: dict[str, int]  # every key's consecutive failures after this run: store it back
    key: str
    count: int  # this key's consecutive failures, 0 after a success
    escalate: bool  # count reached the threshold: escalate (again: a recurrence comments)


def failure_key(service: str | None, job: str) -> str:
    """`<service>/<job>`, or the job alone for runs not tied to a service."""
    return f"{service}/{job}" if service else job


def count_run(counts: Mapping[str, int], key: str, *, failed: bool, threshold: int) -> FailureCount:
    """Add one run's outcome: a failure increments the key's count, a success resets it."""
    if threshold < 1:
        raise ValueError("threshold must be at least 1")
    updated = {k: int(v) for k, v in counts.items() if int(v) > 0}
    count = updated.get(key, 0) + 1 if failed else 0
    if count:
        updated[key] = count
    else:
        updated.pop(key, None)
    return FailureCount(dict(sorted(updated.items())), key, count, failed and count >= threshold)


def counts_from_cursor(cursor: str | None) -> dict[str, int]:
    """Counts from a sensor cursor; an empty or unreadable cursor starts from zero."""
    if not cursor:
        return {}
    try:
        data = json.loads(cursor)
    except ValueError:
        return {}
    counts = data.get("failures") if isinstance(data, dict) else None
    if not isinstance(counts, dict):
        return {}
    return {
        str(k): v
        for k, v in counts.items()
        if isinstance(v, int) and not isinstance(v, bool) and v > 0
    }


def counts_to_cursor(counts: Mapping[str, int]) -> str:
    return json.dumps({"failures": dict(sorted(counts.items()))}, separators=(",", ":"))
