"""Waiting for replication: a digest the env's registry does not have yet is not a failure.

Service CI pushes to a build registry and never waits; each environment's Harbor replicates
on its own schedule. So a missing replica costs no attempt and no back-off spiral: the entry
goes back to `pending` with `waiting_since` and one `waiting` record. Later passes (and the
Harbor sensor) look for the replica with a HEAD before claiming, so a wait makes no commit
and no record per pass; the entry fails only after FACTORY_REPLICATION_TIMEOUT.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from factory_assets.common import settings
from factory_assets.release.model import ReleaseEntry
from factory_assets.release.state import mark_failed


@dataclass(frozen=True)
class ReplicationPolicy:
    timeout: timedelta = timedelta(seconds=settings.FACTORY_REPLICATION_TIMEOUT.default)

    def expired(self, entry: ReleaseEntry, now: datetime) -> bool:
        return entry.waiting_since is not None and now - entry.waiting_since >= self.timeout


def mark_waiting(
    entry: ReleaseEntry, *, error: str, now: datetime, policy: ReplicationPolicy
) -> ReleaseEntry:
    """promoting -> pending, the attempt not counted; failed once the wait is over its limit."""
    since = entry.waiting_since or now
    if policy.expired(entry, now):
        return mark_failed(
            entry,
            error=f"the digest never reached this environment's registry within "
            f"{int(policy.timeout.total_seconds())} s (waiting since {since:%Y-%m-%dT%H:%M:%SZ}): "
            f"{error}",
            now=now,
        )
    return entry.model_copy(
        update={
            "state": "pending",
            "attempts": max(0, entry.attempts - 1),
            "claimed_by": None,
            "claim_expires_at": None,
            "next_attempt_at": None,
            "waiting_since": since,
            "last_error": f"waiting for replication: {error}"[:2000],
        }
    )
