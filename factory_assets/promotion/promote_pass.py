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
from collections.abc import Collection, Mapping
from datetime import datetime
from pathlib import Path

from factory_assets.common import roundtrip_yaml
from factory_assets.common.clock import utc_now
from factory_assets.common.env import int_setting
from factory_assets.common.errors import InputError
from factory_assets.layout.config import allowed_envs
from factory_assets.layout.legacy_runtime import refuse_live_legacy_promoter
from factory_assets.pins.pin_file import PinChange, check_service_name, pin_relpath
from factory_assets.promotion.claim_lease import active_runner, claim_is_stale, claim_lease
from factory_assets.promotion.crash import crash_point
from factory_assets.promotion.outcome import PassResult, ServiceOutcome
from factory_assets.promotion.plan import PromotionPlan, read_plan
from factory_assets.promotion.records import RecordContext
from factory_assets.promotion.replication import ReplicationPolicy
from factory_assets.promotion.steps import (
    RELEASE_TRAILER,
    Finalize,
    PinStep,
    Resolution,
    claim_release,
    commit_and_push,
    pin_message,
    record_promotion,
    resolve_all,
    verified_image,
    write_pin,
)
from factory_assets.release.retention import retention_window
from factory_assets.release.state import RetryPolicy
from resources.gitops import GitError, GitopsWriter
from resources.registries import registry_for
from resources.registry import ManifestNotFound, RegistryError


def _check_service(service: str | None) -> None:
    if service is not None:
        check_service_name(service, source="arguments", field="--service")


def plan_pass(
    repo: Path,
    *,
    service: str | None = None,
    force: bool = False,
    now: datetime | None = None,
    fetch: bool = False,
    envs: Collection[str] | None = None,
) -> PromotionPlan:
    """What a pass would do, per service: promote, supersede, wait (back-off, hold, busy).

    A pure read of the files under `repo`. With `fetch=True` (what `--dry-run` uses) and a
    remote, it reads the fresh remote head instead, via the writer's private work tree; the
    user's checkout is never changed either way.
    """
    _check_service(service)
    moment = now or utc_now()
    envs = envs if envs is not None else allowed_envs()

    def read(tree: Path) -> PromotionPlan:
        return read_plan(
            tree, service=service, force=force, now=moment, is_stale=claim_is_stale, envs=envs
        )[0]

    if fetch:
        writer = GitopsWriter(repo)
        if writer.mode == "remote":
            return writer.snapshot(read)
    return read(Path(repo))


def _resolve_concurrency() -> int:
    return int_setting("FACTORY_RESOLVE_CONCURRENCY", 4)


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


def _image_of(text: str | None, path: str) -> str | None:
    if text is None:
        return None
    try:
        data = roundtrip_yaml.loads(text, path)
    except InputError:
        return None
    return str(data.get("image")) if isinstance(data, dict) and data.get("image") else None


def _finalize_info(writer: GitopsWriter, res: Resolution) -> Finalize:
    """Find the pin commit of a release whose runner stopped before recording it."""
    entry = res.claim.entry
    commit = writer.find_commit(f"^{RELEASE_TRAILER}: {re.escape(entry.id)}$")
    changes: tuple[PinChange, ...] = ()
    if commit and (res.claim.target is None or res.claim.target.kind == "pin-file"):
        path = pin_relpath(entry.service, entry.env)
        after = _image_of(writer.show(commit, path), path)
        before = _image_of(writer.show(f"{commit}^", path), path)
        if after:
            changes = (PinChange(path=path, before=before, after=after),)
    return Finalize(res, commit, changes)


def _replica_check(registry):
    """HEAD-like look for a waiting digest on its env's registry, once per entry per pass."""
    seen: dict[str, bool] = {}

    def present(entry, target) -> bool:
        if entry.id not in seen:
            try:
                client = registry_for(registry, entry.env)
                client.resolve(verified_image(entry, target, client), digest=entry.digest)
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
    commits: list[str] = []
    notes: list[str] = []
    pushed = False
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
        try:
            t1 = commit_and_push(
                writer,
                functools.partial(_claim_unless_legacy_promoter, claim=claim),
                step="claim_release",
                message=lambda v: "factory: claim releases\n\n" + "\n".join(v.summary) + "\n",
            )
        except GitError as exc:
            return PassResult(
                PromotionPlan(now=moment), error=f"claim: {exc}", mode=writer.mode, runner=runner
            )
        step1 = t1.value
        notes.append(f"claim_release: {t1.push_result}")
        if t1.commit:
            commits.append(t1.commit)
            pushed |= t1.pushed
        outcomes = list(step1.outcomes) + _plan_outcomes(step1.plan)

        def result(error: str | None = None) -> PassResult:
            """What the pass did so far (read when called: the lists and `pushed` grow)."""
            return PassResult(
                step1.plan,
                tuple(outcomes),
                tuple(commits),
                pushed,
                writer.mode,
                error=error,
                runner=runner,
                notes=tuple(notes),
            )

        if not step1.claims:
            return result()

        resolutions = resolve_all(registry, step1.claims, concurrency=_resolve_concurrency())
        crash_point("resolve_digest:done")
        to_pin = [r for r in resolutions if r.claim.kind == "promote" and r.resolved is not None]
        failures = [r for r in resolutions if r.claim.kind == "promote" and r.resolved is None]
        finalize = [_finalize_info(writer, r) for r in resolutions if r.claim.kind == "finalize"]

        pins, pin_commit, pin_push = PinStep(), None, None
        if to_pin:
            try:
                t2 = commit_and_push(
                    writer,
                    lambda tree: write_pin(tree, to_pin, runner=runner, now=moment),
                    step="write_pin",
                    message=pin_message,
                )
                pins, pin_commit, pin_push = t2.value, t2.commit, t2.push_result
                notes.append(f"write_pin: {t2.push_result}")
                if t2.commit:
                    commits.append(t2.commit)
                    pushed |= t2.pushed
            except GitError as exc:
                failures += [
                    Resolution(
                        r.claim,
                        r.resolved,
                        error=f"pin not pushed: {exc}",
                        result="retry" if exc.retryable else "failure",
                        retryable=exc.retryable,
                    )
                    for r in to_pin
                ]
        failures += list(pins.failed)
        outcomes += list(pins.lost)

        try:
            t3 = commit_and_push(
                writer,
                lambda tree: record_promotion(
                    tree,
                    runner=runner,
                    now=moment,
                    ctx=ctx,
                    policy=policy,
                    pins=pins,
                    pin_commit=pin_commit,
                    pin_push=pin_push,
                    failures=failures,
                    finalize=finalize,
                    replication=replication,
                ),
                step="record_promotion",
                message=lambda v: (
                    "factory: record promotions\n\n"
                    + "\n".join(f"{o.service}: {o.release_id} {o.result}" for o in v.outcomes)
                    + "\n"
                ),
            )
        except GitError as exc:
            outcomes += [
                ServiceOutcome(
                    service=w.resolution.claim.entry.service,
                    release_id=w.resolution.claim.entry.id,
                    result="success",
                    digest=w.resolution.resolved.digest if w.resolution.resolved else None,
                    tag=w.resolution.claim.entry.tag,
                    commit=pin_commit,
                    attempt=w.resolution.claim.entry.attempts,
                    error=f"pinned, but the record is not pushed yet (the next pass writes it): {exc}",
                )
                for w in pins.written
            ]
            return result(error=f"record: {exc}")
        notes.append(f"record_promotion: {t3.push_result}")
        if t3.commit:
            commits.append(t3.commit)
            pushed |= t3.pushed
        outcomes += list(t3.value.outcomes)
        return result()
