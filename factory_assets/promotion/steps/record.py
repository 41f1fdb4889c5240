"""Step 5, and every record the other steps write: one function per kind of record.

Each function seals one promotion record for an entry, points the entry at it, and adds the
outcome the pass reports. `record_promotion` is the step itself: the records of every pin,
failure and recovery of the pass, in one transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from factory_assets.common.clock import rfc3339, utc_now
from factory_assets.evidence import store
from factory_assets.evidence.model import EvidenceRecord
from factory_assets.promotion.plan import Decision
from factory_assets.promotion.records import LINK_KEYS, RecordContext, write_record
from factory_assets.promotion.replication import mark_waiting
from factory_assets.promotion.steps.results import (
    PassRun,
    PinStep,
    RecordStep,
    Recovery,
    Resolution,
    Writes,
    WrittenPin,
    lost,
    outcome,
    state_paths,
    with_evidence,
)
from factory_assets.release.model import SERVICE_RE, InvalidEntry, ReleaseEntry
from factory_assets.release.queue_file import load_queue, queue_relpath, save_queue
from factory_assets.release.state import mark_failed, mark_recorded, mark_retry, mark_superseded
from resources.registry import ResolvedDigest


@dataclass
class RecordBook:
    """The records of one apply: the tree they are sealed on, the queue being changed, the pass."""

    tree: Path
    w: Writes
    run: PassRun

    def owned(self, entry: ReleaseEntry, state: str) -> ReleaseEntry | None:
        """The entry, if it is still in `state` and claimed by this runner; else a lost outcome."""
        current = self.w.queue.by_id(entry.id)
        if current is None or current.state != state or current.claimed_by != self.run.runner:
            self.w.outcomes.append(lost(entry, current))
            return None
        return current

    def seal(self, entry: ReleaseEntry, **details) -> EvidenceRecord:
        return write_record(self.tree, self.w.queue, entry, self.run.ctx, **details)

    def latest(self, entry: ReleaseEntry) -> ReleaseEntry:
        """The entry as this apply has it now (a later decision of the plan may change it)."""
        return self.w.queue.by_id(entry.id) or entry


def record_promotion(
    tree: Path,
    run: PassRun,
    *,
    pins: PinStep,
    pin_commit: str | None,
    pin_push: str | None,
    failures: Sequence[Resolution],
    recoveries: Sequence[Recovery],
) -> RecordStep:
    """One record per attempt; entries get their record id, failures back-off or `failed`."""
    from factory_assets.promotion.steps.recover import record_recovered

    doc = load_queue(tree)
    book = RecordBook(tree, Writes(doc.queue), run)
    for written in pins.written:
        record_pinned(book, written, commit=pin_commit, push=pin_push)
    for res, by in pins.superseded:
        current = book.owned(res.claim.entry, "promoting")
        if current is not None:
            reason = f"superseded: the pin already comes from newer release {by}"
            after = mark_superseded(current, by=by, now=run.now)
            record_superseded(book, current, after, by=by, reason=reason, resolution=res)
    for res in failures:
        record_failed_attempt(book, res)
    for recovery in recoveries:
        record_recovered(book, recovery)
    save_queue(doc, book.w.queue)
    return RecordStep(tuple(book.w.outcomes), state_paths(tree))


def record_decision(book: RecordBook, d: Decision) -> None:
    """A decision of the plan that ends or reopens a request: its record (claims have none)."""
    if d.kind == "superseded":
        by = d.after.superseded_by
        record_superseded(book, d.after, book.latest(d.after), by=by, reason=d.reason)
    elif d.kind == "refused":
        record_refused(book, d)
    elif d.kind == "abandoned":
        record_abandoned(book, d)
    elif d.kind == "exhausted":
        record_exhausted(book, d)
    else:
        raise AssertionError(f"no record for a {d.kind!r} decision")  # pragma: no cover
    book.w.summary.append(f"{d.kind} {d.after.id}: {d.reason}")


def record_superseded(
    book: RecordBook,
    entry: ReleaseEntry,
    after: ReleaseEntry,
    *,
    by: str | None,
    reason: str | None,
    resolution: Resolution | None = None,
) -> None:
    """A request a newer one replaces: planned, or found when its pin already came from a
    newer release (`resolution`: what this pass resolved for it)."""
    attempt = {}
    if resolution is not None:
        attempt = {"resolved": resolution.resolved, "forced": resolution.claim.forced}
    record = book.seal(
        entry, result="superseded", event="superseded", reason=reason, superseded_by=by, **attempt
    )
    book.w.put(with_evidence(after, record))
    book.w.outcomes.append(outcome(after, "superseded", record, superseded_by=by))


def record_refused(book: RecordBook, d: Decision) -> None:
    """A request the repository names no usable target for: it fails, never retried."""
    record = book.seal(d.before, result="refused", event="refused", error=d.reason, retryable=False)
    book.w.outcomes.append(outcome(d.after, "refused", record, error=d.after.last_error))
    book.w.put(with_evidence(book.latest(d.after), record))


def record_abandoned(book: RecordBook, d: Decision) -> None:
    """A claim whose runner is gone: the attempt failed (it counts) and the entry is reopened."""
    record = book.seal(
        d.before, result="failure", event="abandoned", error=d.reason, retryable=True
    )
    if d.after.state == "failed":
        book.w.outcomes.append(outcome(d.after, "failure", record, error=d.after.last_error))
    book.w.put(with_evidence(book.latest(d.after), record))


def record_exhausted(book: RecordBook, d: Decision) -> None:
    """A pending request with no attempts left fails. Its record's event has always been
    `refused` (the records already written say so; the dashboard reads it)."""
    record = book.seal(d.before, result="failure", event="refused", error=d.reason, retryable=False)
    if d.after.state == "failed":
        book.w.outcomes.append(outcome(d.after, "failure", record, error=d.after.last_error))
    book.w.put(with_evidence(book.latest(d.after), record))


def record_invalid(tree: Path, bad: InvalidEntry, ctx: RecordContext) -> EvidenceRecord:
    """An entry too malformed to model is refused: a record of only what is known."""
    service = bad.service if bad.service and SERVICE_RE.fullmatch(bad.service) else None
    body = store.new_body(
        kind="promotion",
        service=service,
        result="refused",
        details={
            "release_id": bad.id[:4096],
            "event": "refused",
            "error": f"{queue_relpath(tree)}: {bad.field}: {bad.problem}"[:60000],
            "retryable": False,
            "runner": ctx.runner,
        },
        started_at=rfc3339(min(ctx.started_at, utc_now())),
        finished_at=rfc3339(utc_now()),
        links={k: str(v) for k, v in ctx.links.items() if k in LINK_KEYS and v is not None},
    )
    return store.append_record(tree, body)


def record_pinned(
    book: RecordBook, written: WrittenPin, *, commit: str | None, push: str | None
) -> None:
    """A pin this pass wrote: a success record, and the entry points at it."""
    res = written.resolution
    current = book.owned(res.claim.entry, "promoted")
    if current is None:
        return
    record = book.seal(
        current,
        result="success",
        event="attempt",
        resolved=res.resolved,
        pin_changes=written.changes,
        commit=commit,
        push=push,
        forced=res.claim.forced,
    )
    book.w.put(
        mark_recorded(with_evidence(current, record), evidence=record.id, promoted_commit=commit)
    )
    book.w.outcomes.append(success(current, record, res.resolved, commit, res.claim.forced))


def record_failed_attempt(book: RecordBook, res: Resolution) -> None:
    """A claim that was not pinned: back-off, `failed`, refused, or waiting for its replica."""
    current = book.owned(res.claim.entry, "promoting")
    if current is None:
        return
    if res.result == "waiting":
        record_waiting(book, current, res)
        return
    if current.waiting_since is not None:  # the replica is there: the wait is over
        current = current.model_copy(update={"waiting_since": None})
    now, retry = book.run.now, book.run.config.retry
    if res.retryable:
        after = mark_retry(current, error=res.error or "failed", now=now, policy=retry)
    else:
        after = mark_failed(current, error=res.error or "failed", now=now)
    if after.state == "pending":
        result = "retry"
    else:
        result = "refused" if res.result == "refused" else "failure"
    record = book.seal(
        current,
        result="refused" if result == "refused" else "failure",
        event="refused" if result == "refused" else "attempt",
        resolved=res.resolved,
        error=res.error,
        retryable=res.retryable,
        next_attempt_at=after.next_attempt_at,
        forced=res.claim.forced,
    )
    book.w.put(with_evidence(after, record))
    book.w.outcomes.append(
        outcome(
            after, result, record, error=after.last_error, next_attempt_at=after.next_attempt_at
        )
    )


def record_waiting(book: RecordBook, current: ReleaseEntry, res: Resolution) -> None:
    """No replica yet: back to pending uncounted; one record when the wait starts or ends."""
    policy = book.run.config.replication
    after = mark_waiting(current, error=res.error or "not found", now=book.run.now, policy=policy)
    if after.state == "failed":
        record = book.seal(
            current,
            result="failure",
            event="waiting",
            error=after.last_error,
            retryable=False,
            waiting_since=after.waiting_since,
        )
        book.w.put(with_evidence(after, record))
        book.w.outcomes.append(outcome(after, "failure", record, error=after.last_error))
        return
    if current.waiting_since is not None:  # still waiting: the start was recorded already
        book.w.put(after)
        book.w.outcomes.append(outcome(after, "waiting", attempted=False, error=after.last_error))
        return
    record = book.seal(
        current,
        result="skipped",
        event="waiting",
        reason="waiting for replication: the environment's registry does not have this digest "
        "yet; no attempt counts until it does",
        error=res.error,
        retryable=True,
        waiting_since=after.waiting_since,
    )
    after = after.model_copy(update={"waiting_evidence": record.id})
    book.w.put(with_evidence(after, record))
    book.w.outcomes.append(
        outcome(after, "waiting", record, attempted=False, error=after.last_error)
    )


def success(
    entry: ReleaseEntry,
    record: EvidenceRecord,
    resolved: ResolvedDigest | None,
    commit: str | None,
    forced: bool,
):
    """The outcome of a pin that is live and recorded."""
    return outcome(
        entry,
        "success",
        record,
        digest=entry.digest,
        media_type=resolved.media_type if resolved else None,
        commit=commit,
        forced=forced,
        pin_proof=getattr(record.details, "pin_proof", None),
    )
