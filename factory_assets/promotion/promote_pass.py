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
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import NamedTuple

from factory_assets.adopt.legacy_runtime import refuse_live_legacy_promoter
from factory_assets.common.clock import utc_now
from factory_assets.pins.pin_file import check_service_name
from factory_assets.pins.target import verified_image
from factory_assets.promotion.claim_lease import active_runner
from factory_assets.promotion.crash import crash_point
from factory_assets.promotion.outcome import PassResult, ServiceOutcome
from factory_assets.promotion.pass_config import PassConfig
from factory_assets.promotion.plan import PromotionPlan
from factory_assets.promotion.records import RecordContext
from factory_assets.promotion.steps.claim import claim_release
from factory_assets.promotion.steps.pin import pin_message, write_pin
from factory_assets.promotion.steps.record import record_promotion
from factory_assets.promotion.steps.recover import recover_pins
from factory_assets.promotion.steps.resolve import resolve_all
from factory_assets.promotion.steps.results import (
    Claim,
    ClaimStep,
    PassRun,
    PinStep,
    RecordStep,
    Recovery,
    Resolution,
)
from resources.gitops import GitError, GitopsWriter, Transaction
from resources.registry import ManifestNotFound, RegistryError
from resources.registry.environments import registry_for


def run_pass(
    repo: Path,
    *,
    registry,
    config: PassConfig | None = None,
    service: str | None = None,
    force: bool = False,
    now: datetime | None = None,
    links: Mapping[str, str] | None = None,
    writer: GitopsWriter | None = None,
    envs: Collection[str] | None = None,
    forced_by: str | None = None,
    forced_why: str | None = None,
) -> PassResult:
    """Promote every ready release (or one service's): claim, resolve, pin, push, record.

    `registry` is a `resources.registry.RegistryClient` (every env) or an `EnvRegistries`
    (one per env). `config` is the pass's settings, built once at the edge (the CLI from the
    environment, Dagster from its resource; without one, from the environment); `service`,
    `force` and `envs` narrow it for this pass (`forced_by` and `forced_why`: who forces past a
    promotion window, and why, for its record). `links` ({dagster_run_id, asset_key,
    partition}) goes into every evidence record. Raises InputError when the queue itself is
    unusable (nothing is changed then); every per-release problem is an outcome instead.
    """
    if service is not None:
        check_service_name(service, source="arguments", field="--service")
    config = (config or PassConfig.from_env()).scoped(
        service=service, force=force, envs=envs, forced_by=forced_by, forced_why=forced_why
    )
    moment = now or utc_now()
    writer = writer or GitopsWriter(repo, checkpoint=crash_point)
    with active_runner() as runner:
        ctx = RecordContext(runner=runner, started_at=utc_now(), links=dict(links or {}))
        run = PassRun(runner, moment, ctx, config)
        try:
            claimed = _claim(run, writer, registry)
        except GitError as exc:
            return PassResult(
                PromotionPlan(now=moment), error=f"claim: {exc}", mode=writer.mode, runner=runner
            )
        log = PassLog(claimed.value.plan, writer.mode, runner)
        log.landed("claim_release", claimed)
        log.outcomes += [*claimed.value.outcomes, *_plan_outcomes(claimed.value.plan)]
        if not (claimed.value.claims or claimed.value.recover):
            return log.result()
        resolved = _resolve(run, registry, claimed.value.claims)
        recoveries = recover_pins(run, writer, registry, claimed.value.recover)
        crash_point("resolve_digest:done")
        pinned = _pin(run, writer, resolved.to_pin)
        if pinned.transaction is not None:
            log.landed("write_pin", pinned.transaction)
        log.outcomes += pinned.step.lost
        try:
            recorded = _record(run, writer, pinned, resolved.failures + pinned.failures, recoveries)
        except GitError as exc:
            log.outcomes += _pinned_not_recorded(pinned, exc)
            return log.result(error=f"record: {exc}")
        log.landed("record_promotion", recorded)
        log.outcomes += recorded.value.outcomes
        return log.result()


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
    """The claims after step 2: resolved (to pin), or not (to record the failure)."""

    to_pin: list[Resolution]
    failures: list[Resolution]


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


def _claim(run: PassRun, writer: GitopsWriter, registry) -> Transaction[ClaimStep]:
    """Step 1: claim on the fresh head, in one commit."""
    claim = functools.partial(claim_release, run=run, replica_present=_replica_check(registry))
    return writer.transact(
        functools.partial(_claim_unless_legacy_promoter, claim=claim),
        step="claim_release",
        message=lambda v: "factory: claim releases\n\n" + "\n".join(v.summary) + "\n",
        paths=lambda v: v.paths,
    )


def _resolve(run: PassRun, registry, claims: Sequence[Claim]) -> Resolved:
    """Step 2: resolve every claim on its registry; no git."""
    resolutions = resolve_all(registry, claims, concurrency=run.config.resolve_concurrency)
    return Resolved(
        to_pin=[r for r in resolutions if r.resolved is not None],
        failures=[r for r in resolutions if r.resolved is None],
    )


def _pin(run: PassRun, writer: GitopsWriter, to_pin: list[Resolution]) -> Pinned:
    """Step 3: write every resolved pin in one commit; a failed push fails each of them."""
    if not to_pin:
        return Pinned(None, [])
    try:
        pinned = writer.transact(
            lambda tree: write_pin(tree, run, to_pin),
            step="write_pin",
            message=pin_message,
            paths=lambda v: v.paths,
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


def _record(
    run: PassRun,
    writer: GitopsWriter,
    pinned: Pinned,
    failures: list[Resolution],
    recoveries: list[Recovery],
) -> Transaction[RecordStep]:
    """Step 5: one evidence record per attempt, decision and recovery, in one commit."""
    return writer.transact(
        lambda tree: record_promotion(
            tree,
            run,
            pins=pinned.step,
            pin_commit=pinned.commit,
            pin_push=pinned.push_result,
            failures=failures,
            recoveries=recoveries,
        ),
        step="record_promotion",
        message=lambda v: (
            "factory: record promotions\n\n"
            + "\n".join(f"{o.service}: {o.release_id} {o.result}" for o in v.outcomes)
            + "\n"
        ),
        paths=lambda v: v.paths,
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
