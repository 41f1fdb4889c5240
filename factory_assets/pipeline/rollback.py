"""`factory rollback`: request again the last digest that passed smoke in an environment.

The rollback is an ordinary request (verified again, pinned by the same pass), marked
`rollback_of` the release whose pin it replaces and recorded as a `rollback` with its
reason and parents; a stage's approval gate applies unless forced.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from factory_assets.common.clock import rfc3339, utc_now
from factory_assets.common.errors import InputError
from factory_assets.evidence import store
from factory_assets.evidence.model import EvidenceRecord
from factory_assets.layout.config import load_layout
from factory_assets.promotion.plan import lane_states
from factory_assets.release.model import ReleaseEntry, ReleaseQueue
from factory_assets.release.queue_codec import QueueCodec
from factory_assets.release.queue_file import load_queue, queue_relpath, save_queue
from resources.gitops import GitopsWriter

ARGS = "arguments"


@dataclass(frozen=True)
class Rollback:
    entry: ReleaseEntry
    target: ReleaseEntry  # the earlier release whose digest is requested again
    record_id: str
    commit: str | None = None
    message: str = ""


def _choose(
    lane: list[tuple[int, ReleaseEntry]], current: ReleaseEntry | None, to: str | None
) -> ReleaseEntry | None:
    """The release to go back to: the one named, else the newest before the current pin whose
    smoke passed with another digest."""
    keys = {e.id: e.order_key(i) for i, e in lane}
    promoted = sorted(
        (
            e
            for _, e in lane
            if e.state == "promoted" and e.digest and (current is None or e.id != current.id)
        ),
        key=lambda e: keys[e.id],
        reverse=True,
    )
    if to:
        return next((e for e in promoted if to in (e.id, e.digest)), None)
    for entry in promoted:
        if current is not None and keys[entry.id] > keys.get(current.id, keys[entry.id]):
            continue  # newer than the pin: not a step back
        if entry.smoke_verdict == "passed" and entry.digest != (
            current.digest if current else None
        ):
            return entry
    return None


def _request(tree: Path, service: str, env: str, *, to, by, reason, force, now) -> Rollback:
    layout = load_layout(tree)
    doc = load_queue(tree)
    queue = doc.queue
    pin = lane_states(tree, queue, service=service, envs={env}).get((service, env))
    current = queue.by_id(pin.release_id) if pin and pin.release_id else None
    lane = [(i, e) for i, e in enumerate(queue.entries) if e.lane == (service, env)]
    target = _choose(lane, current, to)
    if target is None:
        what = (
            f"{to!r} is no promoted release of {service} in {env}"
            if to
            else (
                f"no earlier release of {service} in {env} passed smoke with another digest than the pin"
            )
        )
        raise InputError(ARGS, "--to" if to else "SERVICE", what)
    why = reason or f"roll back {service} in {env} to {target.id} ({target.digest})"
    queue, entry, record = append_rollback(
        tree,
        queue,
        doc.codec,
        RollbackAsk(service, env, target, current, by=by, reason=why),
        now=now,
        parents=(target.smoke_evidence, current.evidence if current else None),
        approval_required=layout.needs_approval(env) and not force,
        forced=force,
    )
    save_queue(doc, queue)
    return Rollback(entry, target, record.id)


@dataclass(frozen=True)
class RollbackAsk:
    """What a rollback asks for: the lane, the release to go back to, the one it replaces."""

    service: str
    env: str
    target: ReleaseEntry
    current: ReleaseEntry | None
    by: str
    reason: str


def append_rollback(
    tree: Path,
    queue: ReleaseQueue,
    codec: QueueCodec,
    ask: RollbackAsk,
    *,
    now: datetime,
    parents: Sequence[str | None],
    approval_required: bool = False,
    **details: object,
) -> tuple[ReleaseQueue, ReleaseEntry, EvidenceRecord]:
    """The rollback request and its `rollback` record, as `factory rollback` and the automatic
    rollback both queue it; `parents` are record ids (None skipped), `details` the caller's own."""
    target, current = ask.target, ask.current
    taken = frozenset(e.id for e in queue.entries) | {i.id for i in queue.invalid}
    rid = codec.request_id(now, (ask.service, "rollback", ask.env), taken)
    rollback_of = current.id if current else None
    body = store.new_body(
        kind="promotion",
        service=ask.service,
        result="skipped",
        details={
            "release_id": rid,
            "env": ask.env,
            "image": target.image,
            "requested_digest": target.digest,
            "event": "rollback",
            "requested_by": ask.by,
            "reason": ask.reason,
            **({"rollback_of": rollback_of} if rollback_of else {}),
            **details,
        },
        subject=[
            {"name": target.image, "digest": {"sha256": target.digest.removeprefix("sha256:")}}
        ],
        started_at=rfc3339(now),
        finished_at=rfc3339(now),
        parents=[
            {"id": found.id, "content_digest": found.integrity.content_digest}
            for found in (store.load_record(tree, rec) for rec in parents if rec)
        ],
    )
    record = store.append_record(tree, body)
    entry = ReleaseEntry(
        id=rid,
        service=ask.service,
        env=ask.env,
        image=target.image,
        digest=target.digest,
        source_tag=target.label,
        requested_at=now,
        requested_by=ask.by,
        max_attempts=codec.rules.attempts_for(target.max_attempts),
        upstream=target.upstream,
        approval_required=approval_required,
        rollback_of=rollback_of,
        evidence=record.id,
    )
    return queue.append(entry), entry, record


def request_rollback(
    repo: Path,
    service: str,
    env: str,
    *,
    to: str | None = None,
    by: str = "unknown",
    reason: str | None = None,
    force: bool = False,
    push: bool = False,
    now: datetime | None = None,
) -> Rollback:
    """Queue the rollback request (see the module docstring); with `push`, one CAS commit."""
    moment = now or utc_now()  # a rollback is newer than the pin it replaces, to the microsecond

    def apply(tree: Path) -> Rollback:
        return _request(tree, service, env, to=to, by=by, reason=reason, force=force, now=moment)

    if not push:
        return apply(Path(repo))
    txn = GitopsWriter(repo).transact(
        apply,
        message=lambda r: f"factory: roll back {service} in {env} to {r.target.id}\n",
        step="rollback",
        paths=lambda _: (queue_relpath(Path(repo)), "evidence"),
    )
    return Rollback(
        txn.value.entry, txn.value.target, txn.value.record_id, txn.commit, txn.push_result
    )
