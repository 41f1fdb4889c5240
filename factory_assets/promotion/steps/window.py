"""Promotion windows in the claim step: one record when a ready request starts waiting for
its window, one when it goes (its window opened, or `--force` passed it: who and why).

The plan decides (`LanePlan.window`, pipeline/window_gate.py); this writes what it decided.
"""

from __future__ import annotations

from dataclasses import replace

from factory_assets.pipeline.window_gate import open_details, wait_details
from factory_assets.promotion.plan import Decision, PromotionPlan
from factory_assets.promotion.steps.record import RecordBook
from factory_assets.promotion.steps.results import outcome, with_evidence


def record_window_waits(book: RecordBook, plan: PromotionPlan) -> None:
    """Each lane held by a window: pending, uncounted; a `window_wait` record when it starts."""
    for lane in plan.services:
        if lane.window is None or lane.promote is not None or not lane.waiting:
            continue
        current = book.latest(lane.waiting[-1].entry)
        reason = lane.window.reason
        if current.window_since is not None:  # still waiting: the start was recorded already
            book.w.outcomes.append(outcome(current, "waiting", attempted=False, error=reason))
            continue
        record = book.seal(
            current, result="skipped", event="window_wait", **wait_details(lane.window)
        )
        after = current.model_copy(
            update={"window_since": book.run.now, "window_evidence": record.id}
        )
        book.w.put(with_evidence(after, record))
        book.w.outcomes.append(outcome(after, "waiting", record, attempted=False, error=reason))
        book.w.summary.append(f"wait {after.id}: {reason}")


def window_opened(book: RecordBook, d: Decision, windows: dict) -> Decision:
    """A claimed request that waited for its window, or was forced past a closed one: its
    `window_open` record, and the wait cleared from the entry."""
    closed = windows.get(d.after.lane)
    if d.kind != "claimed" or (closed is None and d.before.window_since is None):
        return d
    cfg = book.run.config
    details = open_details(d.before, closed, by=cfg.forced_by, why=cfg.forced_why)
    record = book.seal(d.before, result="skipped", event="window_open", **details)
    after = with_evidence(d.after, record).model_copy(
        update={"window_since": None, "window_evidence": None}
    )
    book.w.put(after)
    book.w.summary.append(f"window {after.id}: {details['reason']}")
    return replace(d, after=after)
