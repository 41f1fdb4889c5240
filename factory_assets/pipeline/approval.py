"""Approve or reject a stage request: who, when, for which exact digest, as evidence.

A stage with `approval: true` leaves its requests pending ("awaiting approval") until a
person approves that request, whose digest cannot change; rejecting ends it (`failed`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from factory_assets.common.clock import rfc3339, utc_now
from factory_assets.common.errors import InputError
from factory_assets.evidence import store
from factory_assets.policy.auto_rollback import AUTOMATIC
from factory_assets.release.model import ReleaseEntry
from factory_assets.release.queue_file import load_queue, queue_relpath, save_queue
from factory_assets.release.state import mark_failed
from resources.gitops import GitopsWriter

ARGS = "arguments"


@dataclass(frozen=True)
class Decision:
    entry: ReleaseEntry
    record_id: str
    commit: str | None = None
    message: str = ""


def _decide(
    tree: Path,
    release_id: str,
    *,
    by: str,
    approve: bool,
    reason: str | None,
    digest: str | None,
    now: datetime,
) -> Decision:
    doc = load_queue(tree)
    entry = doc.queue.by_id(release_id)
    if entry is None:
        raise InputError(ARGS, "ID", f"no release {release_id!r} in {queue_relpath(tree)}")
    # An automatic rollback waits for nobody; approving it acknowledges it, which lets the lane
    # roll back by itself again (policy/auto_rollback.py: at most one until acknowledged).
    acknowledges = approve and _unacknowledged_rollback(entry)
    if not acknowledges and (not entry.awaiting_approval or entry.state != "pending"):
        state = "approved already" if entry.approved_by else f"{entry.state}, not awaiting approval"
        raise InputError(ARGS, "ID", f"release {release_id} is {state}")
    if digest is not None and digest != entry.digest:
        raise InputError(
            ARGS,
            "--digest",
            f"release {release_id} is {entry.digest}, not {digest}: nothing approved",
        )
    parents = []
    if entry.evidence:
        request = store.load_record(tree, entry.evidence)
        parents.append({"id": request.id, "content_digest": request.integrity.content_digest})
    details = {
        "release_id": entry.id,
        "env": entry.env,
        "image": entry.image,
        "requested_digest": entry.digest,
        "event": "approved" if approve else "rejected",
        "requested_by": by,
        "reason": reason or ("acknowledges the automatic rollback" if acknowledges else None),
    }
    body = store.new_body(
        kind="promotion",
        service=entry.service,
        result="skipped" if approve else "refused",
        details={k: v for k, v in details.items() if v is not None},
        subject=[{"name": entry.image, "digest": {"sha256": entry.digest.removeprefix("sha256:")}}],
        started_at=rfc3339(now),
        parents=parents,
    )
    record = store.append_record(tree, body)
    if approve:
        update = {"approved_by": by, "approved_at": now, "evidence": record.id}
        if entry.state != "pending":
            del update["evidence"]  # a pinned release keeps its pinning record (rollback parents)
        after = entry.model_copy(update=update)
    else:
        after = mark_failed(entry, error=f"rejected by {by}: {reason}", now=now).model_copy(
            update={"evidence": record.id}
        )
    save_queue(doc, doc.queue.replace(after))
    return Decision(after, record.id)


def _unacknowledged_rollback(entry: ReleaseEntry) -> bool:
    return entry.requested_by == AUTOMATIC and bool(entry.rollback_of) and not entry.approved_by


def decide_release(
    repo: Path,
    release_id: str,
    *,
    by: str,
    approve: bool,
    reason: str | None = None,
    digest: str | None = None,
    push: bool = False,
    now: datetime | None = None,
) -> Decision:
    """Approve (or reject) a stage request; with `push`, as one compare-and-swap commit."""
    if not by or not by.strip():
        raise InputError(ARGS, "--by", "required: who approves or rejects")
    if not approve and not (reason and reason.strip()):
        raise InputError(ARGS, "--reason", "required: why the release is rejected")
    moment = now or utc_now()

    def apply(tree: Path) -> Decision:
        return _decide(
            tree, release_id, by=by, approve=approve, reason=reason, digest=digest, now=moment
        )

    if not push:
        return apply(Path(repo))
    verb = "approve" if approve else "reject"
    txn = GitopsWriter(repo).transact(
        apply,
        message=f"factory: {verb} {release_id} ({by})\n",
        step=f"{verb}_release",
        paths=lambda _: (queue_relpath(Path(repo)), "evidence"),
    )
    return Decision(txn.value.entry, txn.value.record_id, txn.commit, txn.push_result)
