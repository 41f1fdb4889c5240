"""The Argo CD verdict: a pure function of one observed Application and the pin.

Rules (Kargo's staleness guard, plus the digest check nobody else does):
1. Revision first: the synced revision must be the commit that pinned the
   digest (or a later commit that still pins it); anything else: wait.
2. `sync.status == Synced` and `operationState.phase == Succeeded`
   (an operation of the pinned revision that Failed/Errored: fail).
3. Health counts only when `reconciledAt >= operationState.finishedAt`;
   otherwise it is stale: refresh and wait.
4. Healthy passes; Progressing, Suspended, Unknown wait; Degraded, Missing fail.
5. The pinned digest must be in `status.summary.images`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Literal

from factory_assets.common.clock import parse_rfc3339
from factory_assets.smoke.judgement import Judgement

# How a synced revision relates to the pinning commit.
RevisionRelation = Literal["pinned", "includes", "superseded", "other"]
RevisionCheck = Callable[[str], RevisionRelation]

WAITING_HEALTH = ("Progressing", "Suspended", "Unknown")
FAILING_HEALTH = ("Degraded", "Missing")
FAILED_PHASES = ("Failed", "Error")


def exact_revision(pin_commit: str) -> RevisionCheck:
    """The strict check: only the pinning commit itself counts."""
    return lambda revision: "pinned" if revision == pin_commit else "other"


def observe_application(app: dict) -> dict:
    """The fields of an Application that a verdict depends on, as a SmokeObservation dict."""
    status = _mapping(app.get("status"))
    sync = _mapping(status.get("sync"))
    operation = _mapping(status.get("operationState"))
    result = _mapping(operation.get("syncResult"))
    revision = sync.get("revision") or _first(sync.get("revisions"))
    observation = {
        "sync_status": _text(sync.get("status")),
        "revision": _text(revision),
        "operation_phase": _text(operation.get("phase")),
        "operation_revision": _text(result.get("revision") or _first(result.get("revisions"))),
        "finished_at": _text(operation.get("finishedAt")),
        "reconciled_at": _text(status.get("reconciledAt")),
        "health": _text(_mapping(status.get("health")).get("status")),
        "images": [str(image) for image in _list(_mapping(status.get("summary")).get("images"))],
    }
    return {key: value for key, value in observation.items() if value not in (None, [])}


def judge_application(
    app: dict, *, pin_commit: str, digest: str, revision_check: RevisionCheck | None = None
) -> Judgement:
    """Pass, wait, fail or skip for one look at the app deployed from `pin_commit` running `digest`."""
    seen = observe_application(app)
    relation_of = revision_check or exact_revision(pin_commit)

    def verdict(
        state: str, reason: str, *, refresh: bool = False, error=None, kind=None
    ) -> Judgement:
        return Judgement(
            state,  # type: ignore[arg-type]
            reason,
            {**seen, "note": reason},
            refresh=refresh,
            error=error,
            kind=kind,
        )

    # 1. revision first
    revision, op_revision = seen.get("revision"), seen.get("operation_revision")
    relation = _best_relation([relation_of(r) for r in (revision, op_revision) if r])
    short = pin_commit[:12]
    if relation == "superseded":
        return verdict(
            "skip", f"revision {revision} pins another digest: this pin ({short}) was superseded"
        )
    if relation == "other":
        return verdict(
            "wait",
            f"synced revision {revision or 'none'} is not the pinning commit {short} yet",
            refresh=True,
        )

    # 2. Synced, with the operation Succeeded
    phase = seen.get("operation_phase")
    if phase in FAILED_PHASES and op_revision and relation_of(op_revision) != "other":
        message = (
            _text(_mapping(_mapping(app.get("status")).get("operationState")).get("message"))
            or "no message"
        )
        return verdict(
            "fail", f"sync operation {phase} at the pinned revision: {message}", kind="sync_failed"
        )
    if seen.get("sync_status") != "Synced":
        return verdict(
            "wait",
            f"sync status is {seen.get('sync_status') or 'absent'}, not Synced",
            refresh=True,
        )
    if phase != "Succeeded":
        return verdict("wait", f"operation phase is {phase or 'absent'}, not Succeeded")

    # 3. health is trusted only when the controller compared after the operation finished
    reconciled, finished = _time(seen.get("reconciled_at")), _time(seen.get("finished_at"))
    if reconciled is None or finished is None or reconciled < finished:
        return verdict(
            "wait",
            f"health is stale: reconciledAt {seen.get('reconciled_at') or 'absent'} is before "
            f"operationState.finishedAt {seen.get('finished_at') or 'absent'}",
            refresh=True,
            kind="stale",  # a timeout here never saw trustworthy health
        )

    # 4. health
    health = seen.get("health")
    if health in FAILING_HEALTH:
        return verdict("fail", f"health is {health} at the pinned revision", kind="degraded")
    if health != "Healthy":
        return verdict("wait", f"health is {health or 'absent'}, not Healthy yet")

    # 5. what runs is what was pinned
    images = seen.get("images", [])
    if not any(image_has_digest(image, digest) for image in images):
        return verdict(
            "fail",
            f"drift: pinned digest {digest} is not among the running images "
            f"{images or '(none reported)'}",
            error="drift",
        )
    return verdict("pass", f"Synced and Healthy at {revision}, running {digest}")


def image_has_digest(image: str, digest: str) -> bool:
    """True for `repo@<digest>` and `repo:tag@<digest>` references, or the bare digest."""
    return image == digest or image.endswith("@" + digest)


def _best_relation(relations: list[RevisionRelation]) -> RevisionRelation:
    for wanted in ("pinned", "includes", "superseded"):
        if wanted in relations:
            return wanted  # type: ignore[return-value]
    return "other"


def _time(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        return parse_rfc3339(text)
    except ValueError:
        return None


def _mapping(value: object) -> dict:
    return value if isinstance(value, dict) else {}


def _list(value: object) -> list:
    return value if isinstance(value, list) else []


def _first(value: object) -> object:
    items = _list(value)
    return items[0] if items else None


def _text(value: object) -> str | None:
    return None if value is None else str(value)[:4096]
