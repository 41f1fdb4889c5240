"""The steps of a promotion, Kargo style: each one small, typed, and named for what it does.

    claim_release     (git transaction 1)  plan on the fresh head; claim the newest ready entry
                                           per service; supersede older ones; release stale
                                           claims; fail malformed entries; compact old ones
    resolve_digest    (registry, no git)   resolve tag/digest to a verified manifest digest
    write_pin         (git transaction 2)  pin files + kustomize images + entries `promoted`
    commit_and_push                        the writer's compare-and-swap around 1, 2 and 3
    record_promotion  (git transaction 3)  one evidence record per attempt (with the pin
                                           commit and push result); entries get `evidence`,
                                           failures get back-off or `failed`

The apply functions (claim_release, write_pin, record_promotion) run inside the writer on a
clean tree at the fresh remote head, possibly more than once; they check that each entry is
still in the state this runner left it in before touching it.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Collection, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Literal, TypeVar

from factory_assets.common.clock import rfc3339, utc_now
from factory_assets.common.errors import InputError
from factory_assets.evidence import store
from factory_assets.evidence.model import EvidenceRecord
from factory_assets.layout.targets import TargetError
from factory_assets.pins.pin_file import PinChange
from factory_assets.pins.target import (
    PinNotWritten,
    PinTarget,
    PinTargets,
    verified_image,
    write_pins,
)
from factory_assets.promotion.claim_lease import claim_is_stale
from factory_assets.promotion.outcome import ServiceOutcome
from factory_assets.promotion.plan import PromotionPlan, apply_plan, lane_states, plan_queue
from factory_assets.promotion.records import LINK_KEYS, RecordContext, write_record
from factory_assets.promotion.replication import (
    ReplicationPolicy,
    mark_waiting,
)
from factory_assets.release.model import SERVICE_RE, InvalidEntry, ReleaseEntry, ReleaseQueue
from factory_assets.release.queue_file import load_queue, queue_relpath, save_queue
from factory_assets.release.retention import compact
from factory_assets.release.state import (
    RetryPolicy,
    mark_failed,
    mark_pinned,
    mark_recorded,
    mark_retry,
    mark_superseded,
)
from resources.gitops import GitopsWriter, Transaction
from resources.registries import registry_for
from resources.registry import (
    HostNotAllowed,
    InvalidReference,
    ManifestNotFound,
    RegistryError,
    ResolvedDigest,
)

T = TypeVar("T")
RELEASE_TRAILER = "Factory-Release"


def state_paths(tree: Path) -> tuple[str, ...]:
    """What every state transaction may change: the queue file and the evidence folder."""
    return (queue_relpath(tree), "evidence")


@dataclass(frozen=True)
class Claim:
    """An entry this runner owns for the pass: to promote, or to finish recording."""

    entry: ReleaseEntry
    kind: Literal["promote", "finalize"] = "promote"
    forced: bool = False
    target: PinTarget | None = None  # the lane's pin; None: no usable one (finalize only)
    replication_waits: bool = False  # a missing digest waits for the env's replica


@dataclass(frozen=True)
class Resolution:
    claim: Claim
    resolved: ResolvedDigest | None = None
    error: str | None = None
    # how to treat the error; `waiting`: the env's registry has no replica yet
    result: Literal["retry", "failure", "refused", "waiting"] | None = None
    retryable: bool = False


@dataclass(frozen=True)
class WrittenPin:
    resolution: Resolution
    changes: tuple[PinChange, ...]


@dataclass(frozen=True)
class ClaimStep:
    plan: PromotionPlan
    claims: tuple[Claim, ...] = ()
    outcomes: tuple[ServiceOutcome, ...] = ()
    summary: tuple[str, ...] = ()
    paths: tuple[str, ...] = ()  # what its transaction commits: `state_paths(tree)`


@dataclass(frozen=True)
class PinStep:
    written: tuple[WrittenPin, ...] = ()
    superseded: tuple[tuple[Resolution, str], ...] = ()  # the pin already has a newer release
    failed: tuple[Resolution, ...] = ()  # could not be written (a file turned invalid)
    lost: tuple[ServiceOutcome, ...] = ()  # the claim is no longer ours
    paths: tuple[str, ...] = ()  # what its transaction commits: `state_paths(tree)`


@dataclass(frozen=True)
class Finalize:
    """What `record_promotion` needs to finish a pin whose runner stopped before recording."""

    resolution: Resolution
    commit: str | None
    changes: tuple[PinChange, ...]


@dataclass(frozen=True)
class RecordStep:
    outcomes: tuple[ServiceOutcome, ...] = ()
    paths: tuple[str, ...] = ()  # what its transaction commits: `state_paths(tree)`


@dataclass
class _Writes:
    """Entries changed in one apply, plus the outcomes to report."""

    queue: ReleaseQueue
    outcomes: list[ServiceOutcome] = field(default_factory=list)
    summary: list[str] = field(default_factory=list)

    def put(self, entry: ReleaseEntry) -> ReleaseEntry:
        self.queue = self.queue.replace(entry)
        return entry


def _with_evidence(entry: ReleaseEntry, record: EvidenceRecord) -> ReleaseEntry:
    return entry.model_copy(update={"evidence": record.id})


def _outcome(
    entry: ReleaseEntry, result: str, record: EvidenceRecord | None = None, **extra
) -> ServiceOutcome:
    return ServiceOutcome(
        service=entry.service,
        env=entry.env,
        release_id=entry.id,
        result=result,  # type: ignore[arg-type]
        tag=entry.label,
        attempt=entry.attempts,
        evidence_id=record.id if record else None,
        evidence_digest=record.integrity.content_digest if record else None,
        **extra,
    )


# -- step 1 ----------------------------------------------------------------------------------


def claim_release(
    tree: Path,
    *,
    runner: str,
    now: datetime,
    ctx: RecordContext,
    lease: timedelta,
    retention: timedelta,
    force: bool = False,
    service: str | None = None,
    envs: Collection[str] | None = None,
    replica_present: Callable[[ReleaseEntry, PinTarget | None], bool] | None = None,
    replication: ReplicationPolicy | None = None,
) -> ClaimStep:
    """Plan on the fresh tree and write the decisions: claims, supersedes, releases, failures."""
    doc = load_queue(tree)
    queue = doc.queue
    targets = PinTargets.for_tree(tree)
    pins = lane_states(tree, queue, service=service, envs=envs)
    plan = plan_queue(
        queue,
        pins,
        now=now,
        force=force,
        service=service,
        is_stale=claim_is_stale,
        envs=envs,
        eager_supersede=doc.rules.one_open_per_lane,
    )
    queue, decisions = apply_plan(queue, plan, runner=runner, now=now, lease=lease)
    w = _Writes(queue)
    claims: list[Claim] = []
    waits = targets.layout.declared
    replication = replication or ReplicationPolicy()

    def target_of(entry: ReleaseEntry) -> PinTarget | None:
        return targets.usable(entry.service, entry.env)

    for d in decisions:
        if (
            d.kind == "claimed"
            and d.before.waiting_since is not None
            and replica_present is not None
            and not replication.expired(d.before, now)
            and not replica_present(d.before, target_of(d.before))
        ):
            # Still no replica: nothing to claim, commit or record until it appears.
            w.put(d.before)
            w.outcomes.append(
                _outcome(d.before, "waiting", attempted=False, error=d.before.last_error)
            )
            continue
        if d.kind == "claimed":
            claims.append(
                Claim(d.after, "promote", d.forced, target_of(d.after), replication_waits=waits)
            )
            w.summary.append(
                f"claim {d.after.id} ({d.after.service} {d.after.reference}), attempt {d.after.attempts}"
            )
            continue
        if d.kind == "finalize":
            claims.append(Claim(d.after, "finalize", target=target_of(d.after)))
            w.summary.append(f"finish recording {d.after.id} ({d.after.service})")
            continue
        if d.kind == "superseded":
            record = write_record(
                tree,
                w.queue,
                d.after,
                ctx,
                result="superseded",
                event="superseded",
                reason=d.reason,
                superseded_by=d.after.superseded_by,
            )
            w.outcomes.append(
                _outcome(d.after, "superseded", record, superseded_by=d.after.superseded_by)
            )
        elif d.kind == "refused":
            record = write_record(
                tree,
                w.queue,
                d.before,
                ctx,
                result="refused",
                event="refused",
                error=d.reason,
                retryable=False,
            )
            w.outcomes.append(_outcome(d.after, "refused", record, error=d.after.last_error))
        else:  # abandoned or exhausted: the attempt (or the entry) failed
            record = write_record(
                tree,
                w.queue,
                d.before,
                ctx,
                result="failure",
                event="abandoned" if d.kind == "abandoned" else "refused",
                error=d.reason,
                retryable=d.kind == "abandoned",
            )
            if d.after.state == "failed":
                w.outcomes.append(_outcome(d.after, "failure", record, error=d.after.last_error))
        w.put(_with_evidence(w.queue.by_id(d.after.id) or d.after, record))
        w.summary.append(f"{d.kind} {d.after.id}: {d.reason}")
    invalid_updates = {}
    for bad in plan.invalid:
        record = _refusal_record(tree, bad, ctx)
        message = f"{queue_relpath(tree)}: {bad.field}: {bad.problem}"
        invalid_updates[bad.position] = {
            "state": "failed",
            "last_error": message,
            "finished_at": now,
            "evidence": record.id,
        }
        w.outcomes.append(
            ServiceOutcome(
                service=bad.service or "-",
                release_id=bad.id,
                result="refused",
                error=message,
                evidence_id=record.id,
                evidence_digest=record.integrity.content_digest,
            )
        )
        w.summary.append(f"refuse {bad.id}: {bad.field}: {bad.problem}")
    # Never compact what a pin names, nor what this pass is about to promote or finish
    # recording: its record would then have no entry to land on.
    keep = {p.release_id for p in pins.values() if p.release_id}
    keep |= {claim.entry.id for claim in claims}
    keep |= {e.id for e in w.queue.entries if e.claimed_by}
    if doc.rules.compacts:
        w.queue = compact(w.queue, now=now, window=retention, keep_ids=keep)
    save_queue(doc, w.queue, invalid_updates)
    return ClaimStep(plan, tuple(claims), tuple(w.outcomes), tuple(w.summary), state_paths(tree))


def _refusal_record(tree: Path, bad: InvalidEntry, ctx: RecordContext) -> EvidenceRecord:
    """A record for an entry too malformed to model: only what is known is kept."""
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


# -- step 2 ----------------------------------------------------------------------------------


def classify(error: RegistryError) -> tuple[Literal["retry", "failure", "refused"], bool]:
    """Retry what time can fix (5xx, timeouts, replication-lag 404); fail fast on the rest."""
    if isinstance(error, (HostNotAllowed, InvalidReference)):
        return "refused", False
    if error.retryable:
        return "retry", True
    return "failure", False


def resolve_digest(registry, item: Claim) -> Resolution:
    """Resolve the claimed entry on its env's registry: the tag once, or the digest exactly.

    An overlay target is verified at the map's `harborImage`, the replica that env pulls;
    the request's own repository (perhaps a public build registry) gets no request.
    """
    entry = item.entry
    try:
        client = registry_for(registry, entry.env)
        image = verified_image(entry, item.target, client.registry_host)
        if item.kind == "finalize" or entry.tag is None:
            resolved = client.resolve(image, digest=entry.digest)
        else:
            resolved = client.resolve(image, tag=entry.tag)
    except ManifestNotFound as exc:
        if item.replication_waits and item.kind == "promote" and entry.tag is None:
            return Resolution(item, error=str(exc), result="waiting", retryable=True)
        result, retryable = classify(exc)
        return Resolution(item, error=str(exc), result=result, retryable=retryable)
    except RegistryError as exc:
        result, retryable = classify(exc)
        return Resolution(
            item, error=str(exc) or type(exc).__name__, result=result, retryable=retryable
        )
    return Resolution(item, resolved=resolved)


def resolve_all(registry, claims: Sequence[Claim], *, concurrency: int = 4) -> list[Resolution]:
    """Resolve every claim with a small bounded pool (the client also rate-limits itself)."""
    if len(claims) <= 1 or concurrency <= 1:
        return [resolve_digest(registry, c) for c in claims]
    with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="resolve") as pool:
        return list(pool.map(lambda c: resolve_digest(registry, c), claims))


# -- step 3 ----------------------------------------------------------------------------------


def _newer(queue: ReleaseQueue, a: ReleaseEntry, b: ReleaseEntry) -> bool:
    """Is `a` a newer request than `b` (time, then file position)?"""
    position = {e.id: i for i, e in enumerate(queue.entries)}
    return a.order_key(position[a.id]) > b.order_key(position[b.id])


def write_pin(
    tree: Path, resolutions: Sequence[Resolution], *, runner: str, now: datetime
) -> PinStep:
    """Write the pins of resolved claims, each through its lane's pin target, every kind in
    one batch; the entries become `promoted`."""
    doc = load_queue(tree)
    queue = doc.queue
    pins = PinTargets.for_tree(tree)
    decided = _PinDecisions()
    for res in resolutions:
        current = queue.by_id(res.claim.entry.id)
        if current is None or current.state != "promoting" or current.claimed_by != runner:
            decided.lost.append(_lost(res.claim.entry, current))
            continue
        decided.decide(pins, queue, res, current, now)
    # Most pins prove themselves: write the queue that says so while a render runs, and
    # write it again only when one did not.
    hoped = queue.replace(*(mark_pinned(c, digest=w.digest, now=now) for _, c, w in decided.writes))
    results = write_pins(
        tree,
        [w.write for _, _, w in decided.writes],
        meanwhile=functools.partial(save_queue, doc, hoped),
    )
    written: list[WrittenPin] = []
    for res, current, write in decided.writes:
        result = results[write.write.key]
        if isinstance(result, PinNotWritten):
            decided.failed.append(_not_written(res, result))
            continue
        queue = queue.replace(mark_pinned(current, digest=write.digest, now=now))
        written.append(WrittenPin(res, result.changes))
    if queue != hoped:
        save_queue(doc, queue)
    paths = [*state_paths(tree), *(c.path for w in written for c in w.changes)]
    return PinStep(
        tuple(written),
        tuple(decided.superseded),
        tuple(decided.failed),
        tuple(decided.lost),
        tuple(paths),
    )


@dataclass(frozen=True)
class _Write:
    digest: str
    write: object  # the pin target's PinWrite


@dataclass
class _PinDecisions:
    """What the pin step decided per claim, before anything is written."""

    writes: list[tuple[Resolution, ReleaseEntry, _Write]] = field(default_factory=list)
    superseded: list[tuple[Resolution, str]] = field(default_factory=list)
    failed: list[Resolution] = field(default_factory=list)
    lost: list[ServiceOutcome] = field(default_factory=list)

    def decide(
        self, pins: PinTargets, queue: ReleaseQueue, res: Resolution, current: ReleaseEntry, now
    ) -> None:
        """Held since the claim: wait; the pin has a newer release: superseded; else write."""
        assert res.resolved is not None
        try:
            pin = pins.for_lane(current.service, current.env)
            if pin.held() and not res.claim.forced:
                self.failed.append(_held(res))
                return
            newer = _newer_pin(queue, pin.current(queue).release_id, current)
            if newer:
                self.superseded.append((res, newer))
                return
            digest = res.resolved.digest
            write = pin.pin_write(current, res.resolved.image, digest, now)
        except TargetError as exc:
            self.failed.append(Resolution(res.claim, res.resolved, str(exc), "refused", False))
            return
        except InputError as exc:
            self.failed.append(
                Resolution(res.claim, error=str(exc), result="retry", retryable=True)
            )
            return
        self.writes.append((res, current, _Write(digest, write)))


def _not_written(res: Resolution, result: PinNotWritten) -> Resolution:
    """A pin its writer could not write: tried again (a file that turned invalid), or refused
    (an overlay whose render does not show it)."""
    if result.retryable:
        return Resolution(res.claim, error=result.error, result="retry", retryable=True)
    return Resolution(res.claim, res.resolved, result.error, "refused", False)


def _newer_pin(queue: ReleaseQueue, release_id: str | None, current: ReleaseEntry) -> str | None:
    """The id of the lane's pinned release when it is newer than `current` (never go back)."""
    pinned = queue.by_id(release_id) if release_id else None
    if (
        pinned
        and pinned.lane == current.lane
        and pinned.state == "promoted"
        and _newer(queue, pinned, current)
    ):
        return pinned.id
    return None


def _held(res: Resolution) -> Resolution:
    # Set while this pass resolved the digest: the hold wins over the claim.
    reason = "service put on hold during the promotion: not pinned; waits for the hold"
    return Resolution(res.claim, error=reason, result="retry", retryable=True)


def _lost(mine: ReleaseEntry, current: ReleaseEntry | None) -> ServiceOutcome:
    if current is not None and current.state == "superseded":
        return _outcome(mine, "superseded", superseded_by=current.superseded_by)
    state = current.state if current else "gone from the queue"
    holder = f" by {current.claimed_by}" if current and current.claimed_by else ""
    return _outcome(
        mine, "retry", error=f"claim lost before pinning: the entry is now {state}{holder}"
    )


def pin_message(step: PinStep) -> str:
    """`factory: pin api, web` + one line per pin + a trailer per release (for recovery)."""
    services = ", ".join(w.resolution.claim.entry.service for w in step.written) or "nothing"
    lines = [f"factory: pin {services}", ""]
    for w in step.written:
        entry = w.resolution.claim.entry
        digest = w.resolution.resolved.digest if w.resolution.resolved else "?"
        source = f"tag {entry.tag}" if entry.tag else "digest"
        lines.append(f"{entry.service}: {digest} (release {entry.id}, {source})")
    lines.append("")
    lines += [f"{RELEASE_TRAILER}: {w.resolution.claim.entry.id}" for w in step.written]
    return "\n".join(lines) + "\n"


def commit_and_push(
    writer: GitopsWriter,
    apply: Callable[[Path], T],
    *,
    step: str,
    message: Callable[[T], str] | str,
    paths: Callable[[T], Sequence[str]] | None = None,
) -> Transaction[T]:
    """Land `apply` on the branch: fetch, reset, apply, commit, push; re-apply on a lost race."""
    return writer.transact(
        apply, message=message, step=step, paths=paths or (lambda value: value.paths)
    )


# -- step 4 ----------------------------------------------------------------------------------


def record_promotion(
    tree: Path,
    *,
    runner: str,
    now: datetime,
    ctx: RecordContext,
    policy: RetryPolicy,
    pins: PinStep,
    pin_commit: str | None,
    pin_push: str | None,
    failures: Sequence[Resolution],
    finalize: Sequence[Finalize],
    replication: ReplicationPolicy | None = None,
) -> RecordStep:
    """One record per attempt; entries get their record id, failures back-off or `failed`."""
    doc = load_queue(tree)
    book = _RecordBook(tree, _Writes(doc.queue), runner, ctx, now)
    for pw in pins.written:
        _record_pinned(book, pw, commit=pin_commit, push=pin_push)
    for res, by in pins.superseded:
        _record_superseded(book, res, by)
    for res in failures:
        _record_failure(book, res, policy, replication or ReplicationPolicy())
    for fin in finalize:
        _record_recovered(book, fin)
    save_queue(doc, book.w.queue)
    return RecordStep(tuple(book.w.outcomes), state_paths(tree))


@dataclass
class _RecordBook:
    """One `record_promotion` apply: the tree, the queue being changed, and who records."""

    tree: Path
    w: _Writes
    runner: str
    ctx: RecordContext
    now: datetime

    def owned(self, entry: ReleaseEntry, state: str) -> ReleaseEntry | None:
        """The entry, if it is still in `state` and claimed by this runner; else a lost outcome."""
        current = self.w.queue.by_id(entry.id)
        if current is None or current.state != state or current.claimed_by != self.runner:
            self.w.outcomes.append(_lost(entry, current))
            return None
        return current

    def record(self, entry: ReleaseEntry, **details) -> EvidenceRecord:
        return write_record(self.tree, self.w.queue, entry, self.ctx, **details)


def _record_pinned(
    book: _RecordBook, pw: WrittenPin, *, commit: str | None, push: str | None
) -> None:
    """A pin this pass wrote: a success record, and the entry points at it."""
    res = pw.resolution
    current = book.owned(res.claim.entry, "promoted")
    if current is None:
        return
    record = book.record(
        current,
        result="success",
        event="attempt",
        resolved=res.resolved,
        pin_changes=pw.changes,
        commit=commit,
        push=push,
        forced=res.claim.forced,
    )
    book.w.put(
        mark_recorded(_with_evidence(current, record), evidence=record.id, promoted_commit=commit)
    )
    book.w.outcomes.append(_success(current, record, res.resolved, commit, res.claim.forced))


def _record_superseded(book: _RecordBook, res: Resolution, by: str) -> None:
    """The lane's pin already comes from a newer release: this one is superseded, not pinned."""
    current = book.owned(res.claim.entry, "promoting")
    if current is None:
        return
    reason = f"superseded: the pin already comes from newer release {by}"
    after = mark_superseded(current, by=by, now=book.now)
    record = book.record(
        current,
        result="superseded",
        event="superseded",
        resolved=res.resolved,
        reason=reason,
        superseded_by=by,
        forced=res.claim.forced,
    )
    book.w.put(_with_evidence(after, record))
    book.w.outcomes.append(_outcome(after, "superseded", record, superseded_by=by))


def _record_failure(
    book: _RecordBook, res: Resolution, policy: RetryPolicy, replication: ReplicationPolicy
) -> None:
    """A claim that was not pinned: back-off, `failed`, refused, or waiting for its replica."""
    current = book.owned(res.claim.entry, "promoting")
    if current is None:
        return
    if res.result == "waiting":
        _record_wait(book.tree, book.w, current, res, book.ctx, book.now, replication)
        return
    if current.waiting_since is not None:  # the replica is there: the wait is over
        current = current.model_copy(update={"waiting_since": None})
    if res.retryable:
        after = mark_retry(current, error=res.error or "failed", now=book.now, policy=policy)
    else:
        after = mark_failed(current, error=res.error or "failed", now=book.now)
    result = (
        "retry"
        if after.state == "pending"
        else (res.result if res.result == "refused" else "failure")
    )
    record = book.record(
        current,
        result="refused" if result == "refused" else "failure",
        event="refused" if result == "refused" else "attempt",
        resolved=res.resolved,
        error=res.error,
        retryable=res.retryable,
        next_attempt_at=after.next_attempt_at,
        forced=res.claim.forced,
    )
    book.w.put(_with_evidence(after, record))
    book.w.outcomes.append(
        _outcome(
            after, result, record, error=after.last_error, next_attempt_at=after.next_attempt_at
        )
    )


def _record_recovered(book: _RecordBook, fin: Finalize) -> None:
    """A pin an earlier runner pushed but never recorded: its record, written now."""
    res = fin.resolution
    current = book.owned(res.claim.entry, "promoted")
    if current is None:
        return
    note = "recorded by a later pass: the runner that pinned it stopped before recording"
    if res.error:
        note += f"; re-verification failed: {res.error}"
    record = book.record(
        current,
        result="success",
        event="recovered",
        resolved=res.resolved,
        pin_changes=fin.changes,
        commit=fin.commit,
        push="pushed by an earlier pass" if fin.commit else None,
        reason=note,
    )
    book.w.put(
        mark_recorded(
            _with_evidence(current, record), evidence=record.id, promoted_commit=fin.commit
        )
    )
    outcome = _success(current, record, res.resolved, fin.commit, False)
    if res.error:  # the pin is live, so it stays a success; but say it, on the outcome too
        outcome = replace(outcome, error=f"pinned, but re-verification failed: {res.error}")
    book.w.outcomes.append(outcome)


def _record_wait(
    tree: Path,
    w: _Writes,
    current: ReleaseEntry,
    res: Resolution,
    ctx: RecordContext,
    now: datetime,
    policy: ReplicationPolicy,
) -> None:
    """No replica yet: back to pending uncounted; one record when the wait starts or ends."""
    after = mark_waiting(current, error=res.error or "not found", now=now, policy=policy)
    if after.state == "failed":
        record = write_record(
            tree,
            w.queue,
            current,
            ctx,
            result="failure",
            event="waiting",
            error=after.last_error,
            retryable=False,
            waiting_since=after.waiting_since,
        )
        w.put(_with_evidence(after, record))
        w.outcomes.append(_outcome(after, "failure", record, error=after.last_error))
        return
    if current.waiting_since is not None:  # still waiting: the start was recorded already
        w.put(after)
        w.outcomes.append(_outcome(after, "waiting", attempted=False, error=after.last_error))
        return
    record = write_record(
        tree,
        w.queue,
        current,
        ctx,
        result="skipped",
        event="waiting",
        reason="waiting for replication: the environment's registry does not have this digest "
        "yet; no attempt counts until it does",
        error=res.error,
        retryable=True,
        waiting_since=after.waiting_since,
    )
    after = after.model_copy(update={"waiting_evidence": record.id})
    w.put(_with_evidence(after, record))
    w.outcomes.append(_outcome(after, "waiting", record, attempted=False, error=after.last_error))


def _success(
    entry: ReleaseEntry,
    record: EvidenceRecord,
    resolved: ResolvedDigest | None,
    commit: str | None,
    forced: bool,
) -> ServiceOutcome:
    return _outcome(
        entry,
        "success",
        record,
        digest=entry.digest,
        media_type=resolved.media_type if resolved else None,
        commit=commit,
        forced=forced,
        pin_proof=getattr(record.details, "pin_proof", None),
    )
