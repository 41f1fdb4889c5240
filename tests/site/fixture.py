"""A small evidence set for the dashboard tests, written through the real store.

Three services over a few days: deployments, a failed smoke and its restore, a
refusal, a repair and a trailing pages record. String fields carry XSS payloads
that must render as inert text. Times are fixed so metrics are exact. The pins and
the queue are valid for the reader `factory release status` uses, as the dashboard
reads them through it. `write_events` adds a release's way from dev to prod.
"""

from __future__ import annotations

from pathlib import Path

from factory_assets.evidence.model import EvidenceRecord
from factory_assets.evidence.store import append_record, new_body

XSS_TAG = '<img src=x onerror="window.__xss=(window.__xss||0)+1">'
XSS_REASON = "<script>window.__xss=(window.__xss||0)+1</script><b>bold</b>"
XSS_URL = "javascript:window.__xss=(window.__xss||0)+1"
XSS_NAME = '"><svg onload="window.__xss=(window.__xss||0)+1">'
DIGEST_A = "sha256:" + "a1" * 32
DIGEST_B = "sha256:" + "b2" * 32
DIGEST_C = "sha256:" + "c3" * 32
COMMIT = "0123456789abcdef0123456789abcdef01234567"


def _ts(day: int, hour: int, minute: int = 0, second: int = 0) -> str:
    return f"2026-03-{day:02d}T{hour:02d}:{minute:02d}:{second:02d}.000000Z"


def _promotion(
    repo, service, *, result, day, hour, minute, release, tag, digest, requested, **extra
):
    details = {
        "release_id": release,
        "tag": tag,
        "digest": digest,
        "requested_at": requested,
        "attempt": 1,
    }
    details.update(extra.pop("details", {}))
    return append_record(
        repo,
        new_body(
            kind="promotion",
            service=service,
            result=result,
            details=details,
            subject=[{"name": f"registry.local/{service}", "digest": {"sha256": digest[7:]}}],
            started_at=requested,
            finished_at=_ts(day, hour, minute),
            links={
                "commit": COMMIT,
                "dagster_run_id": f"run-{service}-{release}",
                **extra.pop("links", {}),
            },
        ),
    )


def _smoke(repo, service, parent: EvidenceRecord, *, verdict, day, hour, minute, reason=None):
    details = {
        "method": "argocd",
        "verdict": verdict,
        "release_id": parent.details.release_id,
        "digest": parent.details.digest,
        "duration_ms": 1234,
    }
    if reason:
        details["reason"] = reason
    return append_record(
        repo,
        new_body(
            kind="smoke",
            service=service,
            result="success" if verdict == "passed" else "failure",
            details=details,
            started_at=parent.finished_at,
            finished_at=_ts(day, hour, minute),
            parents=[{"id": parent.id, "content_digest": parent.integrity.content_digest}],
        ),
    )


def write_fixture(repo: Path) -> list[EvidenceRecord]:
    """Records, pins and queue; returns the records in sequence order."""
    out: list[EvidenceRecord] = []
    # api: request 10:00 -> pinned 10:02 -> healthy 10:05
    p1 = _promotion(
        repo,
        "api",
        result="success",
        day=1,
        hour=10,
        minute=2,
        release="r1",
        tag="1.0.0",
        digest=DIGEST_A,
        requested=_ts(1, 10),
    )
    out += [p1, _smoke(repo, "api", p1, verdict="passed", day=1, hour=10, minute=5)]
    # web: tag carries markup; pinned 4 min after request, healthy 6 min later
    p2 = _promotion(
        repo,
        "web",
        result="success",
        day=2,
        hour=9,
        minute=4,
        release="r2",
        tag=XSS_TAG,
        digest=DIGEST_B,
        requested=_ts(2, 9),
        links={"url": XSS_URL},
    )
    out += [p2, _smoke(repo, "web", p2, verdict="passed", day=2, hour=9, minute=10)]
    # api again: pinned, smoke fails, passes 30 minutes later (restore)
    p3 = _promotion(
        repo,
        "api",
        result="success",
        day=3,
        hour=12,
        minute=1,
        release="r3",
        tag="1.1.0",
        digest=DIGEST_C,
        requested=_ts(3, 12),
    )
    out += [
        p3,
        _smoke(repo, "api", p3, verdict="failed", day=3, hour=12, minute=5, reason=XSS_REASON),
    ]
    out.append(_smoke(repo, "api", p3, verdict="passed", day=3, hour=12, minute=35))
    # worker: refused, with markup in the reason
    out.append(
        _promotion(
            repo,
            "worker",
            result="refused",
            day=3,
            hour=13,
            minute=0,
            release="r4",
            tag="2.0.0",
            digest=DIGEST_A,
            requested=_ts(3, 12, 59),
            details={"reason": XSS_REASON},
        )
    )
    out.append(
        append_record(
            repo,
            new_body(
                kind="repair",
                service=None,
                result="failure",
                details={"fingerprint": "ruff", "refused": XSS_TAG},
                started_at=_ts(3, 14),
                finished_at=_ts(3, 14, 1),
            ),
        )
    )
    # a publication record at the end: not part of the published checkpoint
    out.append(
        append_record(
            repo,
            new_body(
                kind="pages",
                service=None,
                result="success",
                details={
                    "branch": "gh-pages",
                    "merkle_root": "00" * 32,
                    "tree_size": len(out),
                    "pushed": True,
                },
                started_at=_ts(3, 15),
                finished_at=_ts(3, 15),
            ),
        )
    )
    pins = repo / "envs" / "dev"
    pins.mkdir(parents=True, exist_ok=True)
    (pins / "api.yaml").write_text(
        f"service: api\nimage: registry.local/api@{DIGEST_C}\ntag: 1.1.0\nrelease_id: r3\n"
        "promoted_at: '2026-03-03T12:01:00Z'\n"
    )
    (pins / "web.yaml").write_text(
        f"service: web\nimage: registry.local/web@{DIGEST_B}\ntag: 2.0.0\nrelease_id: r2\n"
        "promoted_at: '2026-03-02T09:04:00Z'\nhold: true\n"
    )
    (repo / "release").mkdir(exist_ok=True)
    (repo / "release" / "queue.yaml").write_text(
        "releases:\n"
        f"  - {{id: r5, service: api, image: registry.local/api, digest: '{DIGEST_C}',\n"
        "     requested_at: '2026-03-03T12:00:00Z', requested_by: ci, state: promoted,\n"
        "     attempts: 1, finished_at: '2026-03-03T12:01:00Z'}\n"
        "  - {id: r6, service: worker, image: registry.local/worker, tag: 2.0.0,\n"
        "     requested_at: '2026-03-03T12:59:00Z', requested_by: ci, state: pending,\n"
        f"     attempts: 2, last_error: '{XSS_REASON}'}}\n"
    )
    return out


def _event(repo, service, details, *, result="skipped", at, parent=None):
    """A promotion record that is an event of a release's life, shaped as its writer
    shapes it (`factory_assets/pipeline/`, `promotion/steps/`), at a fixed time."""
    return append_record(
        repo,
        new_body(
            kind="promotion",
            service=service,
            result=result,
            details={"image": f"registry.local/{service}", "requested_digest": DIGEST_B, **details},
            subject=[{"name": f"registry.local/{service}", "digest": {"sha256": DIGEST_B[7:]}}],
            started_at=at,
            finished_at=at,
            parents=[{"id": parent.id, "content_digest": parent.integrity.content_digest}]
            if parent
            else [],
        ),
    )


def write_events(repo: Path) -> list[EvidenceRecord]:
    """After `write_fixture`: web's passed dev smoke hands it off to prod, where it awaits
    approval, is approved (by a name with markup) and waits for its replica; api's passed
    smoke finds no prod target. Then a pages record: these are published, it is not."""
    handoff = _event(
        repo,
        "web",
        {
            "release_id": "r7",
            "env": "prod",
            "event": "handoff",
            "requested_by": "factory-pipeline",
            "requested_at": _ts(3, 16),
            "reason": f"smoke passed on dev for {DIGEST_B}: prod request r7 awaits approval",
        },
        at=_ts(3, 16),
    )
    approved = _event(
        repo,
        "web",
        {"release_id": "r7", "env": "prod", "event": "approved", "requested_by": XSS_NAME},
        at=_ts(3, 16, 30),
        parent=handoff,
    )
    waiting = _event(
        repo,
        "web",
        {
            "release_id": "r7",
            "env": "prod",
            "event": "waiting",
            "requested_by": "factory-pipeline",
            "requested_at": _ts(3, 16),
            "reason": "waiting for replication: the environment's registry does not have this "
            "digest yet; no attempt counts until it does",
            "waiting_since": _ts(3, 16, 35),
        },
        at=_ts(3, 16, 35),
        parent=approved,
    )
    skipped = _event(
        repo,
        "api",
        {
            "release_id": "r3",
            "env": "prod",
            "event": "handoff",
            "requested_by": "factory-pipeline",
            "reason": "api has no target in prod: nothing queued",
        },
        at=_ts(3, 16, 40),
    )
    pages = append_record(
        repo,
        new_body(
            kind="pages",
            service=None,
            result="success",
            details={
                "branch": "gh-pages",
                "merkle_root": "11" * 32,
                "tree_size": 14,
                "pushed": True,
            },
            started_at=_ts(3, 17),
            finished_at=_ts(3, 17),
        ),
    )
    return [handoff, approved, waiting, skipped, pages]


PUBLISHED = 9  # records before the trailing pages record
PUBLISHED_WITH_EVENTS = 14  # with `write_events`: the first pages record and the four events
