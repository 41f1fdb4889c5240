"""Retention: terminal entries older than the window leave the queue; their evidence stays.

Kept regardless of age: open entries, entries without an evidence record (nothing else
holds their history), the newest terminal entry of each service (status and lineage
need it), and any entry a pin names.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime, timedelta

from factory_assets.common import settings
from factory_assets.release.model import ReleaseQueue


def retention_window() -> timedelta:
    """FACTORY_RELEASE_RETENTION_DAYS (default 30)."""
    return timedelta(days=settings.FACTORY_RELEASE_RETENTION_DAYS.get())


def compact(
    queue: ReleaseQueue, *, now: datetime, window: timedelta, keep_ids: Collection[str] = ()
) -> ReleaseQueue:
    """The queue without terminal entries that finished before `now - window` (see module doc)."""
    cutoff = now - window
    newest_terminal: dict[str, tuple] = {}
    for position, entry in enumerate(queue.entries):
        if entry.terminal:
            key = entry.order_key(position)
            if entry.service not in newest_terminal or key > newest_terminal[entry.service][0]:
                newest_terminal[entry.service] = (key, entry.id)
    protected = {entry_id for _, entry_id in newest_terminal.values()} | set(keep_ids)
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
