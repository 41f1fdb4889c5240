"""Step 1: plan on the fresh head and write the plan's decisions (git transaction 1).

The newest ready entry of each lane is claimed (or, waiting for its replica, left as it is:
the plan decides that too); older ones are superseded, stale claims released, exhausted and
malformed entries failed, each with its record; pins an earlier runner never recorded are
re-claimed for `recover`; old terminal entries are compacted.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path

from factory_assets.pins.target import PinTarget, PinTargets
from factory_assets.pipeline.window_gate import windows_of
from factory_assets.promotion.claim_lease import claim_is_stale
from factory_assets.promotion.outcome import ServiceOutcome
from factory_assets.promotion.plan import Decision, PinState, apply_plan, lane_states, plan_queue
from factory_assets.promotion.steps.record import RecordBook, record_decision, record_invalid
from factory_assets.promotion.steps.results import (
    Claim,
    ClaimStep,
    PassRun,
    Writes,
    outcome,
    state_paths,
)
from factory_assets.promotion.steps.window import record_window_waits, window_opened
from factory_assets.release.model import InvalidEntry, ReleaseEntry, ReleaseQueue
from factory_assets.release.queue_file import QueueDocument, load_queue, queue_relpath, save_queue
from factory_assets.release.retention import compact

ReplicaCheck = Callable[[ReleaseEntry, "PinTarget | None"], bool]  # is the digest there yet?


def claim_release(
    tree: Path, run: PassRun, *, replica_present: ReplicaCheck | None = None
) -> ClaimStep:
    """Plan on the fresh tree and write its decisions: claims, supersedes, releases, failures."""
    cfg = run.config
    doc = load_queue(tree)
    targets = PinTargets.for_tree(tree)
    pins = lane_states(tree, doc.queue, service=cfg.service, envs=cfg.envs)
    plan = plan_queue(
        doc.queue,
        pins,
        now=run.now,
        force=cfg.force,
        service=cfg.service,
        is_stale=claim_is_stale,
        envs=cfg.envs,
        eager_supersede=doc.rules.one_open_per_lane,
        replica_missing=_replica_missing(run, targets, replica_present),
        windows=windows_of(targets.layout),
    )
    queue, decisions = apply_plan(doc.queue, plan, runner=run.runner, now=run.now, lease=cfg.lease)
    book = RecordBook(tree, Writes(queue), run)
    windows = {lane.lane: lane.window for lane in plan.services if lane.window is not None}
    decisions = [window_opened(book, d, windows) for d in decisions]
    record_window_waits(book, plan)
    claims = [_claim(book, targets, d) for d in decisions if d.kind == "claimed"]
    recover = [_claim(book, targets, d) for d in decisions if d.kind == "recover"]
    for d in decisions:
        if d.kind not in ("claimed", "recover"):
            record_decision(book, d)
    for waiting in plan.awaiting_replica:  # nothing to claim, commit or record until it lands
        entry = book.latest(waiting)
        book.w.outcomes.append(outcome(entry, "waiting", attempted=False, error=entry.last_error))
    invalid = {bad.position: _refuse_invalid(book, bad) for bad in plan.invalid}
    kept = _compacted(doc, book.w.queue, pins, [*claims, *recover], run.now, cfg.retention)
    save_queue(doc, kept, invalid)
    return ClaimStep(
        plan,
        tuple(claims),
        tuple(recover),
        tuple(book.w.outcomes),
        tuple(book.w.summary),
        state_paths(tree),
    )


def _replica_missing(
    run: PassRun, targets: PinTargets, replica_present: ReplicaCheck | None
) -> Callable[[ReleaseEntry], bool] | None:
    """Whether a waiting entry's digest is still not on its env's registry (past its
    replication timeout it is claimed anyway, so its attempt fails with a record)."""
    if replica_present is None:
        return None

    def missing(entry: ReleaseEntry) -> bool:
        if run.config.replication.expired(entry, run.now):
            return False
        return not replica_present(entry, targets.usable(entry.service, entry.env))

    return missing


def _claim(book: RecordBook, targets: PinTargets, d: Decision) -> Claim:
    """A claimed entry to pin, or a pinned one to recover: what the later steps need of it."""
    entry = d.after
    target = targets.usable(entry.service, entry.env)
    if d.kind == "recover":
        book.w.summary.append(f"finish recording {entry.id} ({entry.service})")
        return Claim(entry, target=target)
    book.w.summary.append(
        f"claim {entry.id} ({entry.service} {entry.reference}), attempt {entry.attempts}"
    )
    return Claim(entry, d.forced, target, replication_waits=targets.layout.declared)


def _refuse_invalid(book: RecordBook, bad: InvalidEntry) -> dict:
    """An entry too malformed to model fails, with a record: the fields to write into it."""
    record = record_invalid(book.tree, bad, book.run.ctx)
    message = f"{queue_relpath(book.tree)}: {bad.field}: {bad.problem}"
    book.w.outcomes.append(
        ServiceOutcome(
            service=bad.service or "-",
            release_id=bad.id,
            result="refused",
            error=message,
            evidence_id=record.id,
            evidence_digest=record.integrity.content_digest,
        )
    )
    book.w.summary.append(f"refuse {bad.id}: {bad.field}: {bad.problem}")
    return {
        "state": "failed",
        "last_error": message,
        "finished_at": book.run.now,
        "evidence": record.id,
    }


def _compacted(
    doc: QueueDocument,
    queue: ReleaseQueue,
    pins: dict[tuple[str, str], PinState],
    claims: Sequence[Claim],
    now: datetime,
    retention,
) -> ReleaseQueue:
    """The queue without old terminal entries, where the format compacts at all."""
    if not doc.rules.compacts:
        return queue
    # Never compact what a pin names, nor what this pass is about to promote or finish
    # recording: its record would then have no entry to land on.
    keep = {p.release_id for p in pins.values() if p.release_id}
    keep |= {claim.entry.id for claim in claims}
    keep |= {e.id for e in queue.entries if e.claimed_by}
    return compact(queue, now=now, window=retention, keep_ids=keep)
