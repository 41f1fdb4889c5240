"""Run smoke checks against the fresh remote head and land their records with compare-and-swap.

A check may wait minutes; it runs outside the writer's lock, on the user's checkout
fast-forwarded to the remote head. Only sealing and pushing a record holds the lock, on
the fresh head, so the evidence chain never forks. The CLI and the asset share this path.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from factory_assets.common.clock import utc_now
from factory_assets.common.errors import InputError
from factory_assets.evidence import store
from factory_assets.evidence.layout import INDEX_DIR, INDEX_FILE
from factory_assets.evidence.model import EvidenceRecord, RecordBody
from factory_assets.layout.config import DEFAULT_ENV, Layout, load_layout
from factory_assets.pipeline import rollback_watch
from factory_assets.pipeline.handoff import hand_off, handoff_pending
from factory_assets.pipeline.soak_gate import soak_of
from factory_assets.release.model import ReleaseQueue
from factory_assets.release.queue_file import QueueDocument, load_queue, save_queue
from factory_assets.smoke.check import SmokeOutcome, check_service, check_services
from factory_assets.smoke.judgement import judges_the_pin, kind_of_details
from factory_assets.smoke.lineage import checked_entry
from factory_assets.smoke.scope import SmokeScope, not_checked_here, smoke_scope
from resources.gitops import GitError, GitopsWriter


def queue_of(tree: Path) -> QueueDocument | None:
    """The queue, read once for everything a landing looks at; None when it is unusable
    (that is the promotion pass's to report: the smoke record still lands)."""
    try:
        return load_queue(tree)
    except InputError:
        return None


def with_smoke_verdict(queue: ReleaseQueue, record: EvidenceRecord) -> ReleaseQueue:
    """The verdict on the pinned release's queue entry (visibility only: it never un-pins).

    `smoke_evidence` names the release's newest smoke record (what the next check is compared
    with); `smoke_verdict` is the last verdict that judged the pin (`judges_the_pin`). A check
    that could not judge it (Argo CD does not know the app, the token was refused, nothing to
    check) leaves that verdict as it was: an operator's mistake neither fails a release nor
    takes a passed one out of what `factory rollback` may go back to.
    """
    entry = checked_entry(queue, record)
    if entry is None:
        # no release, compacted out by retention, or another lane's: the evidence keeps it
        return queue
    update = {"smoke_evidence": record.id}
    if judges_the_pin(record):
        update["smoke_verdict"] = record.details.verdict
    return queue.replace(entry.model_copy(update=update))


def unchanged_verdict(
    tree: Path, body: RecordBody, queue: ReleaseQueue | None
) -> EvidenceRecord | None:
    """The last smoke record of this release when it found the same kind of verdict on the
    same digest.

    A periodic check that finds what the last one found writes no record and no commit:
    only a new pin, another digest or another kind of verdict is news. The kind, not the
    verdict: Degraded and then drift are both `failed`, but two findings, two records.
    """
    entry = checked_entry(queue, body) if queue is not None else None
    if entry is None or not entry.smoke_evidence:
        return None
    try:
        last = store.load_record(tree, entry.smoke_evidence)
    except (InputError, OSError, ValueError):
        return None
    if last.kind != "smoke" or last.details.verdict != body.details.verdict:
        return None
    if last.details.digest != body.details.digest or last.details.method != body.details.method:
        return None
    if kind_of_details(last.details) != kind_of_details(body.details):
        return None
    return last


def layout_of(tree: Path) -> Layout | None:
    """The layout, or None when `factory.yaml` is unusable (the pass reports that)."""
    try:
        return load_layout(tree)
    except InputError:
        return None


def decisive(tree: Path, body: RecordBody, queue: ReleaseQueue | None) -> bool:
    """Does this check decide something (it ends a soak, or confirms a broken pin), so that it
    is recorded even when it found what the last record found? The handoff and the rollback
    name the records they rest on."""
    layout = layout_of(tree) if queue is not None else None
    if layout is None:
        return False
    now = utc_now()
    if _ends_a_soak(tree, layout, queue, body, now):
        return True
    if rollback_watch.watched_env(layout, body) is None:
        return False
    decision = rollback_watch.judge(tree, layout, queue, body, now)
    return rollback_watch.confirmed_now(decision, body) and decision.action != "none"


def _ends_a_soak(tree: Path, layout: Layout, queue: ReleaseQueue, body: RecordBody, now) -> bool:
    entry = checked_entry(queue, body)
    if entry is None or entry.state != "promoted" or body.details.verdict != "passed":
        return False
    for env in layout.stages_after(entry.env):
        if env in (entry.handed_off or {}):
            continue
        state = soak_of(tree, layout, entry, env, now, body)
        if state is not None and state.soaked and state.unrecorded is not None:
            return True
    return False


def land_verdict(tree: Path, body: RecordBody, escalation=None) -> EvidenceRecord:
    """Seal the verdict on `tree`'s chain, note it on its release, open the next stage's gate
    and roll a confirmed broken pin back, with one read and one write of the queue; news only
    (see `unchanged_verdict`), or a check that decides something (`decisive`).

    `escalation`: an escalation sent before the transaction (rollback_watch), recorded here.
    """
    doc = queue_of(tree)
    queue = doc.queue if doc is not None else None
    record = unchanged_verdict(tree, body, queue)
    if record is not None and decisive(tree, body, queue):
        record = None
    if record is None:
        record = store.append_record(tree, body)
        queue = with_smoke_verdict(queue, record) if queue is not None else None
    if queue is not None:
        # Idempotent for an unchanged verdict: only a stage declared since gets its request.
        queue = hand_off(tree, record, queue).queue  # a passed smoke opens the gate, once
        queue = _roll_back_if_broken(tree, queue, record)
    if escalation is not None:
        rollback_watch.record_escalation_for(tree, escalation.sent, record, escalation.decision)
    if doc is not None and queue is not doc.queue:
        save_queue(doc, queue)
    return record


def _roll_back_if_broken(tree: Path, queue: ReleaseQueue, record: EvidenceRecord) -> ReleaseQueue:
    """In an environment with `auto_rollback`, queue the rollback a confirmed failure asks for."""
    layout = layout_of(tree)
    if layout is None or rollback_watch.watched_env(layout, record) is None:
        return queue
    now = utc_now()
    decision = rollback_watch.judge(tree, layout, queue, record, now)
    if decision is None or decision.action != "rollback":
        return queue
    return rollback_watch.queue_rollback(tree, layout, queue, decision, now).queue


@dataclass(frozen=True)
class Escalation:
    """An escalation sent once before the verdict's transaction, and the decision behind it."""

    sent: object
    decision: object


def escalation_before(repo: Path, body: RecordBody, queue: ReleaseQueue | None):
    """When this check confirms that a rollback is broken too (or a second automatic rollback
    is held), send the escalation now: a transaction may be retried, GitHub is told once."""
    layout = layout_of(repo) if queue is not None else None
    if layout is None or rollback_watch.watched_env(layout, body) is None:
        return None
    decision = rollback_watch.judge(repo, layout, queue, body, utc_now())
    if decision is None or decision.action not in ("escalate", "held"):
        return None
    if not rollback_watch.confirmed_now(decision, body):
        return None
    return Escalation(rollback_watch.send_escalation_for(body, decision), decision)


def checkout_matches_remote(writer: GitopsWriter) -> bool:
    """True when the checkout is exactly the remote head, with no local changes to the GitOps data.

    Only then do the pins being checked equal the remote's, so the record may land there.
    """
    if writer.mode != "remote":
        return False
    git = writer._git
    if git is None or git.head.is_detached:
        return False
    if git.head.commit.hexsha != git.commit(writer.remote_ref).hexsha:
        return False
    # The index is derived (evidence_index and `make demo` write it untracked): it says
    # nothing about whether the pins and the chain are the remote's.
    changes = git.git.status(
        "--porcelain",
        "--",
        "evidence",
        "envs",
        "release",
        f":(exclude){INDEX_FILE}",
        f":(exclude){INDEX_DIR}",
    )
    return not changes.strip()


def record_lander(
    writer: GitopsWriter, repo: Path, in_sync: bool
) -> Callable[[RecordBody], EvidenceRecord]:
    """A `record=` callable: seal on the fresh head, commit, push, fast-forward the checkout.

    A checkout that is ahead of (or differs from) the remote (`in_sync` false) keeps its
    records local: what was checked is not what the remote holds, so the verdict belongs
    with the checkout.
    """

    def land(body: RecordBody) -> EvidenceRecord:
        doc = queue_of(repo)
        queue = doc.queue if doc is not None else None
        if not in_sync:
            return unchanged_verdict(repo, body, queue) or store.append_record(repo, body)
        # The checkout is the remote head here: a check with no news needs no transaction.
        same = unchanged_verdict(repo, body, queue)
        if (
            same is not None
            and not handoff_pending(repo, same, queue)
            and not decisive(repo, body, queue)
        ):
            return same
        escalation = escalation_before(repo, body, queue)
        txn = writer.transact(
            lambda tree: land_verdict(tree, body, escalation),
            message=lambda rec: f"factory: smoke {rec.service} {rec.details.verdict} ({rec.id})\n",
            step="smoke_record",
            paths=lambda _: ("evidence", "release"),
        )
        writer.update_checkout()
        return txn.value

    return land


@dataclass(frozen=True)
class NotChecked:
    """A lane this runner does not check (its environment is outside FACTORY_ENVS): nothing
    was looked at and nothing written; not a failure."""

    service: str
    env: str
    reason: str
    verdict: str = "not_checked"
    ok: bool = True

    def metadata(self) -> dict[str, str]:
        return {"verdict": self.verdict, "env": self.env, "reason": self.reason}


@dataclass(frozen=True)
class SmokeRun:
    """What a smoke run checked (`outcomes`, in lane order) and what it left alone (`scope`)."""

    outcomes: list[SmokeOutcome]
    scope: SmokeScope


def smoke_check_and_land(
    repo: Path,
    service: str,
    *,
    links: Mapping[str, str] | None = None,
    timeout_seconds: float | None = None,
    log: Callable[[str], None] | None = None,
    environment: str = DEFAULT_ENV,
) -> SmokeOutcome | NotChecked:
    """One lane, as the `smoke_result` asset runs it.

    A lane outside this runner's environments (FACTORY_ENVS) is not checked: `NotChecked`,
    with nothing fetched or written. Unlike the CLI, the asset never keeps a verdict in a
    checkout that differs from the remote: a run that reports success must have landed its
    record where everyone sees it.
    """
    outside = not_checked_here(service, environment)
    if outside is not None:
        return NotChecked(service, environment, outside)
    writer, note, in_sync = _fresh_checkout(repo, log)
    if writer.mode == "remote" and not in_sync:
        raise GitError(
            f"{repo}: the checkout differs from {writer.remote_ref} ({note}); its smoke record "
            "would not reach the remote: commit and push, or discard, the local changes under "
            "envs/, release/ and evidence/"
        )
    return check_service(
        repo,
        service,
        timeout_seconds=timeout_seconds,
        links=links,
        record=record_lander(writer, repo, in_sync),
        environment=environment,
    )


def smoke_run_and_land(
    repo: Path,
    services: Sequence[str] | None = None,
    *,
    timeout_seconds: float | None = None,
    log: Callable[[str], None] | None = None,
    environments: Sequence[str] | None = None,
) -> SmokeRun:
    """Several lanes at once, as `factory smoke` runs them: this runner's own (`smoke_scope`),
    read at the fresh remote head."""
    writer, _, in_sync = _fresh_checkout(repo, log)
    scope = smoke_scope(repo, services, environments)
    if log and writer.mode == "remote" and not in_sync and scope.lanes:
        log(
            f"warning: the checkout differs from {writer.remote_ref}: these verdicts stay in "
            "the checkout, not pushed, and its evidence chain departs from the remote's; "
            "commit and push (or discard) the local changes under envs/, release/, evidence/"
        )
    outcomes = check_services(
        repo,
        timeout_seconds=timeout_seconds,
        log=log,
        record=record_lander(writer, repo, in_sync),
        scope=scope,
    )
    return SmokeRun(outcomes, scope)


def smoke_checks_and_land(
    repo: Path,
    services: Sequence[str] | None = None,
    *,
    timeout_seconds: float | None = None,
    log: Callable[[str], None] | None = None,
    environments: Sequence[str] | None = None,
) -> list[SmokeOutcome]:
    """The outcomes of `smoke_run_and_land`."""
    return smoke_run_and_land(
        repo, services, timeout_seconds=timeout_seconds, log=log, environments=environments
    ).outcomes


def _fresh_checkout(
    repo: Path, log: Callable[[str], None] | None
) -> tuple[GitopsWriter, str, bool]:
    """Fetch and fast-forward the checkout; (writer, what happened, equal to the remote?)."""
    writer = GitopsWriter(repo)
    note = writer.update_checkout(fetch=True)
    if log:
        log(note)
    return writer, note, checkout_matches_remote(writer)
