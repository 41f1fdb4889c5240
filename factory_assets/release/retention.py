"""Retention: terminal entries older than the window leave the queue; their evidence stays.

Kept regardless of age: open entries, entries without an evidence record (nothing else
holds their history), the newest terminal and the newest promoted entry of each lane
(service, env: status and lineage need them, and a runner limited to some environments
must not drop another environment's pinned release), and any entry a pin names.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime, timedelta

from factory_assets.release.model import ReleaseQueue


def compact(
    queue: ReleaseQueue, *, now: datetime, window: timedelta, keep_ids: Collection[str] = ()
) -> ReleaseQueue:
    """The queue without terminal entries that finished before `now - window` (see module doc)."""
    cutoff = now - window
    newest: dict[tuple, tuple] = {}  # (lane, "terminal" | "promoted") -> (order key, id)
    for position, entry in enumerate(queue.entries):
        if not entry.terminal:
            continue
        key = entry.order_key(position)
        kinds = ("terminal", "promoted") if entry.state == "promoted" else ("terminal",)
        for kind in kinds:
            slot = (entry.lane, kind)
            if slot not in newest or key > newest[slot][0]:
                newest[slot] = (key, entry.id)
    protected = {entry_id for _, entry_id in newest.values()} | set(keep_ids)
    kept = tuple(
        e
        for e in queue.entries
        if not e.terminal
        or e.evidence is None
        or e.id in protected
        or (e.finished_at or e.requested_at) >= cutoff
    )
    if len(kept) == len(queue.entries):
        return queue
    return queue.model_copy(update={"entries": kept})
