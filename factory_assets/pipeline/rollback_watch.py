"""After each smoke verdict in an environment with `auto_rollback: true`: roll back or escalate.

`policy.auto_rollback.decide` says what to do; this module gathers what it reads (the lane's
releases from the queue, the checks of the pin from the evidence, the check just made) and
does it inside the transaction that lands the verdict: a rollback is an ordinary request, as
`factory rollback` queues one, requested by `factory-auto-rollback`, recorded as a `rollback`
whose parents are the failed smoke and the release it replaces. It does not wait for a
stage's approval (it goes back to a digest that passed this environment before); `factory
release approve` of it is the acknowledgement that allows another one. A rollback that fails
too is escalated (once, on the check that confirms it), through the existing escalation.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from factory_assets.common.clock import rfc3339
from factory_assets.evidence.model import EvidenceRecord, RecordBody
from factory_assets.layout.config import DEFAULT_ENV, Layout
from factory_assets.layout.queue_codecs import queue_codec
from factory_assets.pipeline.lane_history import (
    lane_releases,
    smoke_checks,
    this_check,
    with_this_check,
)
from factory_assets.pipeline.rollback import RollbackAsk, append_rollback
from factory_assets.policy.auto_rollback import AUTOMATIC, Decision, decide
from factory_assets.policy.checks import from_record
from factory_assets.release.model import ReleaseEntry, ReleaseQueue
from factory_assets.smoke.lineage import checked_entry


@dataclass(frozen=True)
class Watched:
    """The decision about a lane's pin after one check, and what was done in the tree."""

    decision: Decision
    queue: ReleaseQueue
    rollback: ReleaseEntry | None = None
    record_id: str | None = None

    @property
    def escalates(self) -> bool:
        return self.decision.action in ("escalate", "held")


def watched_env(layout: Layout, record: EvidenceRecord | RecordBody) -> str | None:
    """The record's environment when it rolls back by itself, else None."""
    env = getattr(record.details, "env", None) or DEFAULT_ENV
    found = layout.environment(env)
    return env if found is not None and found.auto_rollback else None


def judge(
    tree: Path,
    layout: Layout,
    queue: ReleaseQueue,
    record: EvidenceRecord | RecordBody,
    now: datetime,
) -> Decision | None:
    """The decision after the check `record` (None: not an environment that rolls back)."""
    env = watched_env(layout, record)
    entry = checked_entry(queue, record) if env else None
    if entry is None or entry.state != "promoted":
        return None
    checks = with_this_check(smoke_checks(tree, entry.id), this_check(tree, record))
    return decide(
        lane_releases(queue.entries, entry.service, env),
        checks,
        current_id=entry.id,
        sync_window=layout.environment(env).sync_window,
        now=now,
    )


def confirmed_now(decision: Decision | None, record: EvidenceRecord | RecordBody) -> bool:
    """Was the check just made the one that confirmed the failure (act once, on that one)?"""
    confirming = decision.confirmed_by if decision is not None else None
    return confirming is not None and confirming.at == from_record(record).at


def queue_rollback(
    tree: Path,
    layout: Layout,
    queue: ReleaseQueue,
    decision: Decision,
    now: datetime,
    confirmed_by: str | None = None,
) -> Watched:
    """Queue the rollback `decision` asks for, with its record (see the module docstring)."""
    current = queue.by_id(decision.replaces.id)
    failed, env = decision.failed, current.env
    window = layout.environment(env).sync_window
    ask = RollbackAsk(
        current.service,
        env,
        queue.by_id(decision.target.id),
        current,
        by=AUTOMATIC,
        reason=decision.reason,
    )
    after, entry, record = append_rollback(
        tree,
        queue,
        queue_codec(layout),  # the queue's own id style and attempt budget
        ask,
        now=now,
        parents=(failed.record_id, current.evidence),
        auto_rollback={
            "failed_smoke": failed.record_id,
            "failed_at": rfc3339(failed.at),
            "verdict_kind": failed.kind,
            "confirmed_at": rfc3339(decision.confirmed_by.at),
            "confirmed_by": confirmed_by or decision.confirmed_by.record_id,
            "sync_window_ms": int(window.total_seconds() * 1000),
        },
    )
    return Watched(decision, after, entry, record.id)


def _escalation_key(record: EvidenceRecord | RecordBody) -> str:
    env = getattr(record.details, "env", None) or DEFAULT_ENV
    return f"{record.service}/auto-rollback-{env}"


def send_escalation_for(record: EvidenceRecord | RecordBody, decision: Decision):
    """Open (or comment on) the lane's escalation issue: once, outside any transaction; without
    GITHUB_* it is only recorded (the existing escalation's rule)."""
    from factory_assets.repair.escalate import send_escalation
    from resources.github import GitHubClient, GitHubConfig

    env = getattr(record.details, "env", None) or DEFAULT_ENV
    arguments = dict(
        key=_escalation_key(record),
        title=f"factory: {record.service} in {env} is broken and no automatic rollback restores it",
        log=decision.reason,
        commands=[
            "factory release status",
            f"factory rollback {record.service} --env {env} --to RELEASE_ID --by NAME --push",
        ],
        commit=None,
    )
    config = GitHubConfig.from_env()
    if config is None:
        return send_escalation(client=None, **arguments)
    with GitHubClient(config) as client:
        return send_escalation(client=client, **arguments)


def record_escalation_for(tree: Path, sent, record: EvidenceRecord | RecordBody, decision) -> str:
    """The `repair` record of a sent escalation, in the verdict's transaction."""
    from factory_assets.repair.escalate import record_escalation

    done = record_escalation(
        tree, sent, key=_escalation_key(record), log=decision.reason, service=record.service
    )
    return done.record_id
