"""Promotion windows in the pass: a ready request outside its window waits, costing no attempt.

The plan asks `closed_window` for each lane's ready request; a closed one makes the request
wait ("outside its window until Mon 08:00"), unless `--force` passes it. The claim step then
records the wait once: a `window_wait` record when it starts (the entry keeps
`window_since`), a `window_open` record when the request goes, forced or not (the forced one
names who and why).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from factory_assets.common.clock import rfc3339
from factory_assets.layout.config import Layout
from factory_assets.policy.windows import Decision, Window, decide
from factory_assets.release.model import ReleaseEntry

Windows = Mapping[str, Sequence[Window]]


def windows_of(layout: Layout) -> dict[str, tuple[Window, ...]]:
    """Each declared environment's promotion windows (only those that have some)."""
    return {name: env.windows for name, env in (layout.environments or {}).items() if env.windows}


def closed_window(windows: Sequence[Window], entry: ReleaseEntry, now: datetime) -> Decision | None:
    """The decision that holds `entry` at `now`, or None when its windows let it go."""
    if not windows:
        return None
    decision = decide(windows, now, rollback=entry.rollback_of is not None)
    return None if decision.allowed else decision


def wait_details(decision: Decision) -> dict:
    """A `window_wait` record's details (evidence/model.py WindowWait)."""
    return {
        "reason": decision.reason,
        "window": {
            "window": decision.window.describe() if decision.window else "-",
            "until": rfc3339(decision.until) if decision.until else None,
        },
    }


def open_details(
    entry: ReleaseEntry, decision: Decision | None, *, by: str | None, why: str | None
) -> dict:
    """A `window_open` record's details: when the wait began, and who forced it and why."""
    forced = decision is not None  # the window was still closed: --force passed it
    window = {
        "window": decision.window.describe() if forced and decision.window else "open",
        "since": rfc3339(entry.window_since) if entry.window_since else None,
        "until": rfc3339(decision.until) if forced and decision.until else None,
        "forced_by": (by or "unknown") if forced else None,
    }
    return {
        "window": {k: v for k, v in window.items() if v is not None},
        "reason": (
            f"forced past its window ({decision.reason}) by {by or 'unknown'}: "
            f"{why or 'no reason given'}"
            if forced
            else "its promotion window is open: the request goes"
        ),
        "forced": forced,
    }
