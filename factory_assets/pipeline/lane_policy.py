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
from factory_assets.policy.auto_rollback import AUTOMATIC
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
        if entry is not None and entry.requested_by == AUTOMATIC and entry.rollback_of:
            row["auto_rollback"] = f"automatic rollback of {entry.rollback_of}"


def lane_metadata(tree: Path, service: str, env: str, now: datetime) -> dict[str, str]:
    """What the policies say about a lane, as its Dagster materialization's metadata:
    `soak_<stage>` for each downstream stage its pin soaks for, `window` for a request held by
    a promotion window, `auto_rollback` for what the automatic rollback makes of the pin."""
    from factory_assets.common.errors import InputError
    from factory_assets.layout.config import load_layout
    from factory_assets.release.queue_file import load_queue

    try:
        layout = load_layout(tree)
        queue = load_queue(tree).queue
    except InputError:
        return {}
    meta: dict[str, str] = {}
    for stage in layout.stages_after(env):
        soaking = upstream_soak(tree, layout, queue, service, stage, now)
        if soaking is not None:
            meta[f"soak_{stage}"] = soaking[1].text()
    pending = [e for e in queue.entries if e.lane == (service, env) and e.state == "pending"]
    held = window_wait(layout, pending[-1], now) if pending else None
    if held is not None:
        meta["window"] = held.reason
    found = layout.environment(env)
    pinned = queue.newest_promoted(service, env)
    if found is not None and found.auto_rollback and pinned is not None:
        meta["auto_rollback"] = _rollback_note(tree, layout, queue, pinned, now)
    return meta


def _rollback_note(tree: Path, layout: Layout, queue: ReleaseQueue, pinned, now) -> str:
    from factory_assets.pipeline.lane_history import lane_releases, smoke_checks
    from factory_assets.policy.auto_rollback import decide as decide_rollback

    decision = decide_rollback(
        lane_releases(queue.entries, pinned.service, pinned.env),
        smoke_checks(tree, pinned.id),
        current_id=pinned.id,
        sync_window=layout.environment(pinned.env).sync_window,
        now=now,
    )
    return f"{decision.action}: {decision.reason}"
