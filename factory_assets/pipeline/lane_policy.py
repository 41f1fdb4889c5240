"""What the policies say about each lane right now, for `release status`, the site and Dagster.

A stage whose upstream pin is soaking says so ("soaking, 12 min of 30"); a lane whose ready
request waits for a promotion window says until when ("outside its window until Mon 08:00").
Read only: nothing here writes.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from factory_assets.layout.config import Layout
from factory_assets.pipeline.soak_gate import soak_of
from factory_assets.policy.soak_time import Soak
from factory_assets.policy.windows import Decision, decide
from factory_assets.release.model import ReleaseEntry, ReleaseQueue


def upstream_soak(
    tree: Path, layout: Layout, queue: ReleaseQueue, service: str, env: str, now: datetime
) -> tuple[ReleaseEntry, Soak] | None:
    """The upstream release soaking for the stage `env` (not handed to it yet), and its soak."""
    found = layout.environment(env)
    if found is None or found.soak is None or found.after is None:
        return None
    upstream = queue.newest_promoted(service, found.after)
    if upstream is None or env in (upstream.handed_off or {}):
        return None
    state = soak_of(tree, layout, upstream, env, now)
    return (upstream, state) if state is not None else None


def window_wait(layout: Layout, entry: ReleaseEntry | None, now: datetime) -> Decision | None:
    """The window decision that holds a ready request of the lane, or None (it may go)."""
    found = layout.environment(entry.env) if entry is not None else None
    if found is None or not found.windows or entry.state != "pending":
        return None
    decision = decide(found.windows, now, rollback=entry.rollback_of is not None)
    return None if decision.allowed else decision


def annotate_rows(tree: Path, layout: Layout, queue: ReleaseQueue, rows: list[dict], now) -> None:
    """Add `soak` and `window` (text) to the `release status` rows they concern."""
    for row in rows:
        soaking = upstream_soak(tree, layout, queue, row["service"], row["env"], now)
        if soaking is not None:
            upstream, state = soaking
            row["soak"] = f"{state.text()} ({upstream.env} {upstream.id})"
        entry = queue.by_id(row["release"]) if row.get("release") else None
        held = window_wait(layout, entry, now)
        if held is not None:
            row["window"] = held.reason
