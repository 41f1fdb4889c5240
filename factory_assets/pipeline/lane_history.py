"""What the policies read of a lane: the smoke checks of one release's pin, and its releases.

The smoke records of a release are found newest first (record file names are ULIDs, which
sort by the time they were written) back to the release's own pinning record: a pin's
checks all come after it, so a lookup reads only the records written since the pin landed.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path

import orjson

from factory_assets.common.files import read_bounded
from factory_assets.evidence.layout import record_path, records_dir
from factory_assets.policy.auto_rollback import Release
from factory_assets.policy.checks import Check, from_record
from factory_assets.release.model import ReleaseEntry

# A bound on one lookup: a pin older than this many records is judged by those alone.
MAX_SCANNED = 50_000


def smoke_checks(repo: Path, release_id: str) -> list[Check]:
    """The smoke checks recorded on `release_id`'s pin, oldest first."""
    directory = records_dir(Path(repo))
    if not directory.is_dir():
        return []
    names = sorted((p.name for p in directory.glob("*.json")), reverse=True)
    found: list[Check] = []
    for name in names[:MAX_SCANNED]:
        try:
            raw = orjson.loads(read_bounded(directory / name, field="record"))
        except (ValueError, OSError):
            continue  # `factory evidence validate` reports it; it proves nothing here
        details = raw.get("details") if isinstance(raw, dict) else None
        if not isinstance(details, dict) or details.get("release_id") != release_id:
            continue
        if raw.get("kind") == "smoke":
            found.append(from_record(raw))
        elif raw.get("kind") == "promotion" and raw.get("result") == "success":
            break  # the record that pinned it: nothing older is a check of this pin
    found.reverse()  # oldest first, so that checks at one instant keep the chain's order
    return sorted(found, key=lambda c: c.at)


def this_check(repo: Path, record: object) -> Check:
    """The check being landed: a body that was not appended (its kind had not changed) has an
    id but no record, and counts as a check without one."""
    check = from_record(record)
    if check.record_id and not record_path(Path(repo), check.record_id).is_file():
        return replace(check, record_id=None)
    return check


def with_this_check(checks: Iterable[Check], current: Check) -> list[Check]:
    """The pin's recorded checks plus the one being landed (once)."""
    found = list(checks)
    if current.record_id is None or all(c.record_id != current.record_id for c in found):
        found.append(current)
    return sorted(found, key=lambda c: c.at)


def release_of(entry: ReleaseEntry) -> Release:
    """A queue entry as the automatic rollback reads it."""
    return Release(
        id=entry.id,
        digest=entry.digest,
        requested_at=entry.requested_at,
        state=entry.state,
        promoted_at=entry.finished_at if entry.state == "promoted" else None,
        smoke_passed=entry.smoke_verdict == "passed",
        rollback_of=entry.rollback_of,
        requested_by=entry.requested_by,
        approved_by=entry.approved_by,
    )


def lane_releases(entries: Iterable[ReleaseEntry], service: str, env: str) -> list[Release]:
    return [release_of(e) for e in entries if e.lane == (service, env)]
