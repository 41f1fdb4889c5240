"""One promotion pass: plan, claim, resolve, pin, record (see `steps` for each step).

`run_pass` makes at most three commits, whatever the number of services: the claims, the
pins (every service pinned in this pass, one file each), and the evidence records. Each
is a compare-and-swap on the branch (`resources.gitops`), so any number of runners on any
number of machines can run passes at once. A pass killed at any point leaves a state the
next pass completes: an unpushed commit is discarded with the private work tree, a claim
whose runner is gone is abandoned (the attempt counts) and the release is tried again, and
a pin pushed without its record gets its record (and re-verification) from the next pass.

Without a remote `origin`, the same steps edit the checkout in place and commit locally
(or only write files outside git); see `resources.gitops` for the modes.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import NamedTuple

from factory_assets.common import settings
from factory_assets.common.clock import utc_now
from factory_assets.layout.config import allowed_envs
from factory_assets.layout.legacy_runtime import refuse_live_legacy_promoter
from factory_assets.pins.pin_file import check_service_name
from factory_assets.pins.target import verified_image
from factory_assets.promotion.claim_lease import active_runner, claim_lease
from factory_assets.promotion.crash import crash_point
from factory_assets.promotion.outcome import PassResult, ServiceOutcome
from factory_assets.promotion.plan import PromotionPlan
from factory_assets.promotion.records import RecordContext
from factory_assets.promotion.replication import ReplicationPolicy
from factory_assets.promotion.steps import (
    RELEASE_TRAILER,
    Claim,
    ClaimStep,
    Finalize,
    PinStep,
    RecordStep,
    Resolution,
    claim_release,
    commit_and_push,
    pin_message,
    record_promotion,
    resolve_all,
    write_pin,
)
from factory_assets.release.retention import retention_window
from factory_assets.release.state import RetryPolicy
from resources.gitops import GitError, GitopsWriter, Transaction
from resources.registries import registry_for
from resources.registry import ManifestNotFound, RegistryError


def _check_service(service: str | None) -> None:
    if service is not None:
        check_service_name(service, source="arguments", field="--service")


def _resolve_concurrency() -> int:
    return settings.FACTORY_RESOLVE_CONCURRENCY.get()


def _plan_outcomes(plan: PromotionPlan) -> list[ServiceOutcome]:
    """Services the pass could not try: busy elsewhere (not a failure) or blocked by a bad pin file."""
    outcomes = []
    for sp in plan.services:
        if not sp.waiting:
            continue
        if sp.busy_with:
            result, error, attempted = (
                "retry",
                f"another runner holds the claim: {sp.busy_with}",
                False,
            )
        elif sp.blocked:
            result, error, attempted = "refused", sp.blocked, True
        else:
            continue
        entry = sp.waiting[-1].entry
        outcomes.append(
            ServiceOutcome(
                service=sp.service,
                release_id=entry.id,
                result=result,
                tag=entry.tag,
                attempted=attempted,
                error=error,
            )
        )
    return outcomes


def _finalize_info(writer: GitopsWriter, res: Resolution) -> Finalize:
    """Find the pin commit of a release whose runner stopped before recording it."""
    entry = res.claim.entry
    commit = writer.find_commit(f"^{RELEASE_TRAILER}: {re.escape(entry.id)}$")
    pin = res.claim.target
    changes = pin.changed_by(writer.show, commit) if commit and pin else ()
    return Finalize(res, commit, changes)


def _replica_check(registry):
    """HEAD-like look for a waiting digest on its env's registry, once per entry per pass."""
    seen: dict[str, bool] = {}

    def present(entry, target) -> bool:
        if entry.id not in seen:
            try:
                client = registry_for(registry, entry.env)
                image = verified_image(entry, target, client.registry_host)
                client.resolve(image, digest=entry.digest)
                seen[entry.id] = True
            except ManifestNotFound:
                seen[entry.id] = False
            except RegistryError:
                seen[entry.id] = True  # let the attempt say what is wrong, with a record
        return seen[entry.id]

    return present


def _claim_unless_legacy_promoter(tree: Path, *, claim):
    """Claim on the fresh tree, unless the repository still runs its own promoter CronJob."""
    refuse_live_legacy_promoter(tree)  # two promoters on one queue would race on every push
    return claim(tree)


def run_pass(
    repo: Path,
    *,
    registry,
    service: str | None = None,
    force: bool = False,
    now: datetime | None = None,
    links: Mapping[str, str] | None = None,
    writer: GitopsWriter | None = None,
    envs: Collection[str] | None = None,
) -> PassResult:
    """Promote every ready release (or one service's): claim, resolve, pin, push, record.

    `registry` is a `resources.registry.RegistryClient` (every env) or an `EnvRegistries`
    (one per env). `envs` limits the pass to those environments (default: FACTORY_ENVS,
    else all). `links` ({dagster_run_id, asset_key,
    partition}) goes into every evidence record. Raises InputError when the queue itself is
    unusable (nothing is changed then); every per-release problem is an outcome instead.
    """
    _check_service(service)
    moment = now or utc_now()
    writer = writer or GitopsWriter(repo, checkpoint=crash_point)
    policy = RetryPolicy.from_env()
    replication = ReplicationPolicy.from_env()
    envs = envs if envs is not None else allowed_envs()
    with active_runner() as runner:
        ctx = RecordContext(runner=runner, started_at=utc_now(), links=dict(links or {}))
        claim = functools.partial(
            claim_release,
            runner=runner,
            now=moment,
            ctx=ctx,
            lease=claim_lease(),
            retention=retention_window(),
            force=force,
            service=service,
            envs=envs,
            replica_present=_replica_check(registry),
            replication=replication,
        )
        run = PassRun(writer, registry, runner, moment, ctx, policy, replication)
        try:
            claimed = _claim_releases(run, claim)
        except GitError as exc:
            return PassResult(
                PromotionPlan(now=moment), error=f"claim: {exc}", mode=writer.mode, runner=runner
            )
        log = PassLog(claimed.value.plan, writer.mode, runner)
        log.landed("claim_release", claimed)
        log.outcomes += [*claimed.value.outcomes, *_plan_outcomes(claimed.value.plan)]
        if not claimed.value.claims:
            return log.result()
        resolved = _resolve_claims(run, claimed.value.claims)
        pinned = _pin_resolved(run, resolved.to_pin)
        if pinned.transaction is not None:
            log.landed("write_pin", pinned.transaction)
        log.outcomes += pinned.step.lost
        try:
            recorded = _record_all(
                run,
                pinned,
                failures=resolved.failures + pinned.failures,
                finalize=resolved.finalize,
            )
        except GitError as exc:
            log.outcomes += _pinned_not_recorded(pinned, exc)
            return log.result(error=f"record: {exc}")
        log.landed("record_promotion", recorded)
        log.outcomes += recorded.value.outcomes
        return log.result()


@dataclass(frozen=True)
class PassRun:
    """What every step of one pass shares: where it writes, what it asks, who it is, and when."""

    writer: GitopsWriter
    registry: object  # a RegistryClient or an EnvRegistries
    runner: str
    now: datetime
    ctx: RecordContext
    policy: RetryPolicy
    replication: ReplicationPolicy


@dataclass
class PassLog:
    """What the pass has landed so far: commits, notes and outcomes, in the order they came."""

    plan: PromotionPlan
    mode: str
    runner: str
    outcomes: list[ServiceOutcome] = field(default_factory=list)
    commits: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    pushed: bool = False

    def landed(self, step: str, transaction: Transaction) -> None:
        self.notes.append(f"{step}: {transaction.push_result}")
        if transaction.commit:
            self.commits.append(transaction.commit)
            self.pushed |= transaction.pushed

    def result(self, error: str | None = None) -> PassResult:
        return PassResult(
            self.plan,
            tuple(self.outcomes),
            tuple(self.commits),
            self.pushed,
            self.mode,
            error=error,
            runner=self.runner,
            notes=tuple(self.notes),
        )


class Resolved(NamedTuple):
    """The claims after step 2, by what comes next: pin, record the failure, finish recording."""

    to_pin: list[Resolution]
    failures: list[Resolution]
    finalize: list[Finalize]


@dataclass(frozen=True)
class Pinned:
    """Step 3 as the pass saw it: the pin commit (None: nothing to pin, or the push failed)
    and the claims it could not pin."""

    transaction: Transaction[PinStep] | None
    failures: list[Resolution]

    @property
    def step(self) -> PinStep:
        return self.transaction.value if self.transaction else PinStep()

    @property
    def commit(self) -> str | None:
        return self.transaction.commit if self.transaction else None

    @property
    def push_result(self) -> str | None:
        return self.transaction.push_result if self.transaction else None


def _claim_releases(run: PassRun, claim) -> Transaction[ClaimStep]:
    """Step 1: claim on the fresh head, in one commit."""
    return commit_and_push(
        run.writer,
        functools.partial(_claim_unless_legacy_promoter, claim=claim),
        step="claim_release",
        message=lambda v: "factory: claim releases\n\n" + "\n".join(v.summary) + "\n",
    )


def _resolve_claims(run: PassRun, claims: Sequence[Claim]) -> Resolved:
    """Step 2: resolve every claim on its registry; no git."""
    resolutions = resolve_all(run.registry, claims, concurrency=_resolve_concurrency())
    crash_point("resolve_digest:done")
    return Resolved(
        to_pin=[r for r in resolutions if r.claim.kind == "promote" and r.resolved is not None],
        failures=[r for r in resolutions if r.claim.kind == "promote" and r.resolved is None],
        finalize=[_finalize_info(run.writer, r) for r in resolutions if r.claim.kind == "finalize"],
    )


def _pin_resolved(run: PassRun, to_pin: list[Resolution]) -> Pinned:
    """Step 3: write every resolved pin in one commit; a failed push fails each of them."""
    if not to_pin:
        return Pinned(None, [])
    try:
        pinned = commit_and_push(
            run.writer,
            lambda tree: write_pin(tree, to_pin, runner=run.runner, now=run.now),
            step="write_pin",
            message=pin_message,
        )
    except GitError as exc:
        return Pinned(
            None,
            [
                Resolution(
                    r.claim,
                    r.resolved,
                    error=f"pin not pushed: {exc}",
                    result="retry" if exc.retryable else "failure",
                    retryable=exc.retryable,
                )
                for r in to_pin
            ],
        )
    return Pinned(pinned, list(pinned.value.failed))


def _record_all(
    run: PassRun,
    pinned: Pinned,
    *,
    failures: list[Resolution],
    finalize: list[Finalize],
) -> Transaction[RecordStep]:
    """Step 4: one evidence record per attempt, in one commit."""
    return commit_and_push(
        run.writer,
        lambda tree: record_promotion(
            tree,
            runner=run.runner,
            now=run.now,
            ctx=run.ctx,
            policy=run.policy,
            pins=pinned.step,
            pin_commit=pinned.commit,
            pin_push=pinned.push_result,
            failures=failures,
            finalize=finalize,
            replication=run.replication,
        ),
        step="record_promotion",
        message=lambda v: (
            "factory: record promotions\n\n"
            + "\n".join(f"{o.service}: {o.release_id} {o.result}" for o in v.outcomes)
            + "\n"
        ),
    )


def _pinned_not_recorded(pinned: Pinned, exc: GitError) -> list[ServiceOutcome]:
    """Pins that are live while their records are not: successes, with the reason said."""
    return [
        ServiceOutcome(
            service=w.resolution.claim.entry.service,
            release_id=w.resolution.claim.entry.id,
            result="success",
            digest=w.resolution.resolved.digest if w.resolution.resolved else None,
            tag=w.resolution.claim.entry.tag,
            commit=pinned.commit,
            attempt=w.resolution.claim.entry.attempts,
            error=f"pinned, but the record is not pushed yet (the next pass writes it): {exc}",
        )
        for w in pinned.step.written
    ]
