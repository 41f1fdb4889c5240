"""Promotion evidence: one record per request, attempt and decision, sealed on the fresh tree.

Records are appended with `store.append_record(tree, ...)` inside the writer's apply
function, so their chain position (sequence, prev_digest) is computed on the head the
commit lands on, even after a lost push race.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from factory_assets.common.clock import rfc3339, utc_now
from factory_assets.evidence import store
from factory_assets.evidence.model import EvidenceRecord
from factory_assets.pins.pin_file import PinChange
from factory_assets.release.model import ReleaseEntry, ReleaseQueue
from resources.registry import ManifestVerification, ResolvedDigest

LINK_KEYS = ("dagster_run_id", "asset_key", "partition", "url")


@dataclass(frozen=True)
class RecordContext:
    """What every record of one pass shares."""

    runner: str
    started_at: datetime
    links: Mapping[str, str]


def parents_for(tree: Path, queue: ReleaseQueue, entry: ReleaseEntry) -> list[dict]:
    """The release's previous record (its request or last attempt) and the service's latest record."""
    ids: list[str] = []
    if entry.evidence:
        ids.append(entry.evidence)
    others = [
        e.evidence for e in queue.for_service(entry.service) if e.evidence and e.id != entry.id
    ]
    if others and max(others) not in ids:
        ids.append(max(others))  # ULIDs sort by creation time
    parents = []
    for record_id in ids:
        try:
            record = store.load_record(tree, record_id)
        except Exception:  # noqa: BLE001 - a missing or unreadable parent is left out, not fatal
            continue
        parents.append({"id": record_id, "content_digest": record.integrity.content_digest})
    return parents


def verification_of(v: ManifestVerification) -> dict:
    """One registry request, as a record keeps it (enough to check it again)."""
    return {
        "url": v.url,
        "method": v.method,
        "accept": v.accept,
        "status": v.status,
        "header_digest": v.header_digest,
        "computed_digest": v.computed_digest,
        "media_type": v.media_type,
        "size": v.size,
    }


def _verifications(resolved: ResolvedDigest | None) -> list[dict]:
    return [verification_of(v) for v in resolved.verifications] if resolved else []


def _request_details(entry: ReleaseEntry) -> dict:
    """What the request asked for, as every record of it repeats it."""
    return {
        "release_id": entry.id,
        "env": entry.env,
        "image": entry.image,
        "tag": entry.tag or entry.source_tag,
        "requested_digest": entry.digest if entry.tag is None else None,
        "requested_at": rfc3339(entry.requested_at),
        "requested_by": entry.requested_by,
        "attempt": entry.attempts,
        "max_attempts": entry.max_attempts,
    }


def _subject(entry: ReleaseEntry, digest: str | None, commit: str | None) -> list[dict]:
    """What the record is about: the image by digest, and the pin commit."""
    subject = []
    if digest and digest.startswith("sha256:"):
        subject.append({"name": entry.image, "digest": {"sha256": digest.removeprefix("sha256:")}})
    if commit:
        subject.append({"name": f"git:{entry.service}", "digest": {"gitCommit": commit}})
    return subject


def write_record(
    tree: Path,
    queue: ReleaseQueue,
    entry: ReleaseEntry,
    ctx: RecordContext,
    *,
    result: str,
    event: str,
    resolved: ResolvedDigest | None = None,
    pin_changes: Iterable[PinChange] = (),
    commit: str | None = None,
    push: str | None = None,
    reason: str | None = None,
    error: str | None = None,
    forced: bool = False,
    superseded_by: str | None = None,
    next_attempt_at: datetime | None = None,
    retryable: bool | None = None,
    waiting_since: datetime | None = None,
    window: dict | None = None,
) -> EvidenceRecord:
    """Seal one promotion record for `entry` onto the chain of `tree`."""
    digest = resolved.digest if resolved else (entry.digest if entry.state == "promoted" else None)
    details = {
        **_request_details(entry),
        "digest": digest,
        "forced": forced,
        "reason": reason,
        "superseded_by": superseded_by,
        "verification": _verifications(resolved),
        "pin": [{"path": c.path, "before": c.before, "after": c.after} for c in pin_changes],
        "pin_proof": "; ".join(c.proof for c in pin_changes if c.proof) or None,
        "push": push,
        "error": error,
        "event": event,
        "media_type": resolved.media_type if resolved else None,
        "retryable": retryable,
        "next_attempt_at": rfc3339(next_attempt_at) if next_attempt_at else None,
        "runner": ctx.runner,
        "waiting_since": rfc3339(waiting_since) if waiting_since else None,
        "rollback_of": entry.rollback_of,
        "upstream": entry.upstream,
        "window": window,
    }
    links = {k: str(v) for k, v in ctx.links.items() if k in LINK_KEYS and v is not None}
    if commit:
        links["commit"] = commit
    body = store.new_body(
        kind="promotion",
        service=entry.service,
        result=result,
        details={k: v for k, v in details.items() if v is not None},
        subject=_subject(entry, digest, commit),
        started_at=rfc3339(min(ctx.started_at, utc_now())),
        finished_at=rfc3339(utc_now()),
        links=links,
        parents=parents_for(tree, queue, entry),
    )
    return store.append_record(tree, body)
