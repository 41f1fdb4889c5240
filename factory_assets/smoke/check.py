"""Smoke-check a service's current pin and write the verdict as a `smoke` evidence record.

`check_service` is what the Dagster asset and the CLI call: it reads the pin,
finds its promotion record (the parent) and pinning commit, picks Argo CD or
the HTTP readiness fallback from the pin's `smoke:` block, polls until a
verdict, and appends the record. Every outcome, including skips and checks
that could not run, is recorded; nothing is lost.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import httpx

from factory_assets.common.clock import rfc3339, utc_now
from factory_assets.common.errors import InputError
from factory_assets.evidence.model import EvidenceRecord, RecordBody
from factory_assets.evidence.store import append_record, load_record, new_body
from factory_assets.layout.config import DEFAULT_ENV
from factory_assets.pins.lane_view import PinView, lane_pin_view
from factory_assets.release.queue_file import load_queue
from factory_assets.smoke.argocd_verdict import RevisionCheck, judge_application
from factory_assets.smoke.config import SmokeConfig, parse_smoke_config
from factory_assets.smoke.judgement import ErrorKind, Judgement, verdict_kind
from factory_assets.smoke.lineage import (
    find_promotion_record,
    git_revision_check,
    last_commit_touching,
)
from factory_assets.smoke.poll import PollResult, Verdict, poll
from factory_assets.smoke.readiness import Expected, probe_readiness, resolve_expected
from factory_assets.smoke.scope import SmokeScope, smoke_scope
from resources.argocd import (
    ArgoCDAppNotFound,
    ArgoCDAuthError,
    ArgoCDClient,
    ArgoCDConfigError,
    ArgoCDError,
    ArgoCDPermissionDenied,
    ArgoCDSettings,
)

Method = Literal["argocd", "http", "none"]
Log = Callable[[str], None]
# Seals and stores a record body; the default appends to the checkout's chain. The Dagster
# layer passes one that lands the record through the GitOps compare-and-swap writer.
Recorder = Callable[[RecordBody], EvidenceRecord]

REFRESH_MIN_GAP_SECONDS = 30.0
RESULT_OF: dict[str, str] = {
    "passed": "success",
    "failed": "failure",
    "timeout": "failure",
    "skipped": "skipped",
}


@dataclass(frozen=True)
class SmokeOutcome:
    """The verdict on one service's pin and the evidence record that holds it.

    `record` is this check's own record when `recorded`; otherwise the earlier record that
    found the same kind of verdict on the same pin (no news: nothing was written).
    """

    service: str
    verdict: Verdict
    reason: str
    method: Method
    record: EvidenceRecord
    revision: str | None = None
    health: str | None = None
    duration_ms: int = 0
    error: ErrorKind | None = None
    kind: str = ""  # the verdict kind (VERDICT_KINDS): which finding `verdict` is
    recorded: bool = True
    env: str = DEFAULT_ENV  # the lane's environment

    @property
    def ok(self) -> bool:
        """Passed, or skipped with a reason: what `factory smoke` exits 0 on."""
        return self.verdict in ("passed", "skipped")

    def metadata(self) -> dict[str, str | int]:
        """Flat metadata for a Dagster materialization (verdict, revision, health, duration, record)."""
        meta: dict[str, str | int] = {
            "verdict": self.verdict,
            "verdict_kind": self.kind,
            "reason": self.reason,
            "method": self.method,
            "duration_ms": self.duration_ms,
            "evidence_record_id": self.record.id,
            "evidence_content_digest": self.record.integrity.content_digest,
        }
        for key, value in (
            ("revision", self.revision),
            ("health", self.health),
            ("error", self.error),
        ):
            if value:
                meta[key] = value
        return meta


@dataclass
class _Context:
    """What the record needs, gathered while the check goes."""

    pin: PinView
    started_at: str
    recorder: Recorder
    start: float = field(default_factory=time.monotonic)
    promotion: EvidenceRecord | None = None
    pin_commit: str | None = None
    notes: list[str] = field(default_factory=list)
    environment: str = DEFAULT_ENV


def check_services(
    repo: Path,
    services: Sequence[str] | None = None,
    *,
    timeout_seconds: float | None = None,
    env: Mapping[str, str] | None = None,
    links: Mapping[str, str] | None = None,
    max_workers: int = 4,
    log: Log | None = None,
    record: Recorder | None = None,
    environments: Sequence[str] | None = None,
    scope: SmokeScope | None = None,
) -> list[SmokeOutcome]:
    """Check several lanes at once (each waits on its own target); outcomes in lane order.

    The lanes are `scope`'s, by default `smoke_scope(repo, services, environments)`: the
    runner's own environments only (FACTORY_ENVS, narrowed by `environments`).
    """
    lanes = list((scope or smoke_scope(repo, services, environments)).lanes)
    for name, environment in lanes:
        lane_pin_view(repo, name, environment)  # an unknown one is a usage problem: say it now
    if not lanes:
        return []

    def one(lane: tuple[str, str]) -> SmokeOutcome:
        return check_service(
            repo,
            lane[0],
            timeout_seconds=timeout_seconds,
            env=env,
            links=links,
            log=log,
            record=record,
            environment=lane[1],
        )

    with ThreadPoolExecutor(max_workers=max(1, min(max_workers, len(lanes)))) as pool:
        return list(pool.map(one, lanes))


def check_service(
    repo: Path,
    service: str,
    *,
    timeout_seconds: float | None = None,
    env: Mapping[str, str] | None = None,
    links: Mapping[str, str] | None = None,
    promotion: EvidenceRecord | None = None,
    log: Log | None = None,
    record: Recorder | None = None,
    environment: str = DEFAULT_ENV,
) -> SmokeOutcome:
    """Smoke-check `service`'s current pin and append a `smoke` record; never raises for a
    failing release or a check that cannot run (those are verdicts), only for an unknown service.

    `timeout_seconds` overrides `smoke.timeout_seconds`; `env` replaces os.environ for
    ARGOCD_*; `links` adds dagster_run_id/asset_key/partition; `promotion` skips the
    lookup when the caller just wrote the promotion record; `record` stores the body
    (default: append to `repo`'s chain).
    """
    repo = Path(repo)
    recorder = record or (lambda body: append_record(repo, body))
    ctx = _Context(
        pin=lane_pin_view(repo, service, environment),
        started_at=rfc3339(utc_now()),
        recorder=recorder,
        environment=environment,
    )
    pin = ctx.pin
    if pin.image is None or pin.digest is None:
        return _finish(ctx, "none", None, _skip(f"{pin.rel_path} pins no image yet"), links)
    ctx.promotion = _promotion_of(repo, pin, promotion, ctx.notes, environment)
    ctx.pin_commit = _pin_commit(repo, pin, ctx.promotion)
    try:
        cfg = parse_smoke_config(pin.smoke, path=pin.rel_path)
    except InputError as exc:
        return _finish(ctx, "none", None, _config_failure(str(exc)), links)
    if cfg is None or not cfg.configured:
        reason = (
            f"{pin.rel_path} has no smoke config (smoke.argocd_app or smoke.url): nothing to check"
        )
        return _finish(ctx, "none", None, _skip(reason), links)
    timeout = timeout_seconds if timeout_seconds is not None else cfg.timeout_seconds

    if cfg.argocd_app:
        try:
            settings = ArgoCDSettings.from_env(env)
        except ArgoCDConfigError as exc:
            if not cfg.url:
                reason = f"{pin.rel_path}: smoke.argocd_app is {cfg.argocd_app!r} but {exc}"
                return _finish(ctx, "argocd", cfg.argocd_app, _config_failure(reason), links)
            ctx.notes.append(
                f"Argo CD not configured ({exc}): used the readiness fallback smoke.url"
            )
        else:
            if not ctx.pin_commit:
                reason = f"{pin.rel_path}: no pinning commit known (promotion record without links.commit, pin not committed)"
                return _finish(ctx, "argocd", cfg.argocd_app, _config_failure(reason), links)
            result = _run_argocd(repo, ctx, cfg, settings, timeout, log)
            target = (
                f"argocd:{cfg.app_namespace + '/' if cfg.app_namespace else ''}{cfg.argocd_app}"
            )
            url = settings.app_ui_url(cfg.argocd_app, cfg.app_namespace)
            return _finish(ctx, "argocd", target, result, links, url=url)
    return _finish(ctx, "http", cfg.url, _run_http(ctx, cfg, timeout, log), links, url=cfg.url)


def _promotion_of(
    repo: Path, pin: PinView, given: EvidenceRecord | None, notes: list[str], environment: str
) -> EvidenceRecord | None:
    """The pin's parent: the pinned release's record, else the lane's latest promotion (in
    `environment` only: another environment's record is never this lane's parent)."""
    record = (
        given
        or _release_record(repo, pin, environment)
        or find_promotion_record(repo, pin.service, environment)
    )
    lane = f"{pin.service} in {environment}"
    if record is None:
        notes.append(f"no promotion record of {lane}: the smoke record has no parent")
        return None
    digest = getattr(record.details, "digest", None)
    if digest != pin.digest:
        notes.append(
            f"the latest promotion record of {lane}, {record.id}, pinned {digest}, "
            f"not {pin.digest}: no parent"
        )
        return None
    return record


def _release_record(repo: Path, pin: PinView, environment: str) -> EvidenceRecord | None:
    """The promotion record of the pinned release, by its queue entry (one per lane), when the
    entry is this environment's (a pin file copied from another lane names that lane's
    release) and the record pinned this digest."""
    if not pin.release_id:
        return None
    try:
        entry = load_queue(repo).queue.by_id(pin.release_id)
        if entry is None or not entry.evidence or entry.env != environment:
            return None
        record = load_record(repo, entry.evidence)
    except (InputError, OSError, ValueError):
        return None
    return record if getattr(record.details, "digest", None) == pin.digest else None


def _pin_commit(repo: Path, pin: PinView, promotion: EvidenceRecord | None) -> str | None:
    if promotion is not None and promotion.links.commit:
        return promotion.links.commit
    return last_commit_touching(repo, pin.rel_path)


class _ArgoProbe:
    """One look at the app per call; a refresh is requested while waiting on git or on stale
    health, at most every 6 looks and every 30 s (each makes Argo CD re-read git)."""

    def __init__(
        self,
        client: ArgoCDClient,
        cfg: SmokeConfig,
        pin_commit: str,
        digest: str,
        revision_check: RevisionCheck,
        environment: str = DEFAULT_ENV,
    ) -> None:
        self.client, self.cfg, self.pin_commit, self.digest = client, cfg, pin_commit, digest
        self.revision_check = revision_check
        self.environment = environment
        self.want_refresh = cfg.refresh != "none"
        self.next_refresh_at = 0.0

    def __call__(self, remaining: float) -> Judgement:
        cfg = self.cfg
        refresh = None
        if self.want_refresh and cfg.refresh != "none" and time.monotonic() >= self.next_refresh_at:
            refresh = cfg.refresh
            gap = max(cfg.interval_seconds, min(REFRESH_MIN_GAP_SECONDS, 6 * cfg.interval_seconds))
            self.next_refresh_at = time.monotonic() + gap
        try:
            app = self.client.get_application(
                cfg.argocd_app or "",
                refresh,  # type: ignore[arg-type]
                app_namespace=cfg.app_namespace,
                project=cfg.project,
                timeout_seconds=min(cfg.request_timeout_seconds, max(remaining, 1.0)),
            )
        except ArgoCDError as exc:
            return _judgement_of_error(exc, self._unknown_app(exc))
        judgement = judge_application(
            app, pin_commit=self.pin_commit, digest=self.digest, revision_check=self.revision_check
        )
        self.want_refresh = judgement.refresh
        return judgement

    def _unknown_app(self, exc: ArgoCDError) -> str | None:
        """For a 403 or 404 on the app, what the operator must check: this Argo CD does not
        know the application, which says nothing about the pin (Argo CD answers 403 alike for
        an app that does not exist and one the token may not see)."""
        if not isinstance(exc, ArgoCDPermissionDenied | ArgoCDAppNotFound):
            return None
        status = 403 if isinstance(exc, ArgoCDPermissionDenied) else 404
        project = f" (smoke.project {self.cfg.project})" if self.cfg.project else ""
        return (
            f"Argo CD at {self.client.settings.url} does not know application "
            f"{self.cfg.argocd_app!r} ({status}): check ARGOCD_URL and the token's project"
            f"{project}, or that this cluster deploys {self.environment}; not a verdict on "
            "the pin"
        )


def _judgement_of_error(exc: ArgoCDError, reason: str | None = None) -> Judgement:
    reason = reason or str(exc)
    if exc.retryable:  # asking again may help: keep polling until the deadline
        return Judgement("wait", reason, {"note": reason}, error="unavailable")
    if isinstance(exc, ArgoCDAuthError):
        kind: ErrorKind = "auth"
    elif isinstance(exc, ArgoCDPermissionDenied | ArgoCDAppNotFound):
        kind = "unknown_app"
    elif isinstance(exc, ArgoCDConfigError):
        kind = "config"
    else:
        kind = "protocol"
    return Judgement("fail", reason, {"note": reason}, error=kind)


def _run_argocd(
    repo: Path,
    ctx: _Context,
    cfg: SmokeConfig,
    settings: ArgoCDSettings,
    timeout: float,
    log: Log | None,
) -> PollResult:
    pin = ctx.pin
    assert ctx.pin_commit and pin.digest and pin.image
    revision_check = git_revision_check(repo, ctx.pin_commit, pin.rel_path, pin.image)
    with ArgoCDClient(settings) as client:
        probe = _ArgoProbe(client, cfg, ctx.pin_commit, pin.digest, revision_check, ctx.environment)
        return poll(
            probe,
            timeout_seconds=timeout,
            interval_seconds=cfg.interval_seconds,
            on_observation=_logger(pin.service, log),
        )


def _run_http(ctx: _Context, cfg: SmokeConfig, timeout: float, log: Log | None) -> PollResult:
    pin = ctx.pin
    assert cfg.url and pin.digest
    expected: Expected | None = None
    if cfg.expect is not None:
        try:
            expected = resolve_expected(cfg.expect, digest=pin.digest, version=pin.tag)
        except ValueError as exc:
            return _config_failure(f"{pin.rel_path}: smoke.expect.equals: {exc}")
    url = cfg.url
    with httpx.Client(follow_redirects=False, headers={"User-Agent": "factory-smoke"}) as client:

        def probe(remaining: float) -> Judgement:
            timeout_s = min(cfg.request_timeout_seconds, max(remaining, 0.5))
            return probe_readiness(
                client,
                url,
                expected=expected,
                allow_redirect_hosts=cfg.allow_redirect_hosts,
                timeout_seconds=timeout_s,
            )

        return poll(
            probe,
            timeout_seconds=timeout,
            interval_seconds=cfg.interval_seconds,
            on_observation=_logger(pin.service, log),
        )


def _logger(service: str, log: Log | None) -> Callable[[Judgement], None] | None:
    """Log a look only when what it says changed, so a long wait is a few lines."""
    if log is None:
        return None
    last: list[str] = []

    def on_observation(judgement: Judgement) -> None:
        line = f"{service}: {judgement.state}: {judgement.reason}"
        if not last or last[0] != line:
            log(line)
            last[:] = [line]

    return on_observation


def _skip(reason: str) -> PollResult:
    return PollResult("skipped", reason, [{"at": rfc3339(utc_now()), "note": reason[:4096]}])


def _config_failure(reason: str) -> PollResult:
    return PollResult(
        "failed", reason, [{"at": rfc3339(utc_now()), "note": reason[:4096]}], error="config"
    )


def _finish(
    ctx: _Context,
    method: Method,
    target: str | None,
    result: PollResult,
    links: Mapping[str, str] | None,
    *,
    url: str | None = None,
) -> SmokeOutcome:
    pin = ctx.pin
    reason = "; ".join([result.reason, *ctx.notes])
    kind = verdict_kind(result.verdict, result.error, result.last.kind if result.last else None)
    observations = [
        {**o, "note": o["note"][:4096]} if "note" in o else o for o in result.observations
    ]
    details = {
        "method": method,
        # every new record names its lane's environment (older ones without: the default's)
        "env": ctx.environment,
        "target": target,
        "release_id": pin.release_id,
        "digest": pin.digest,
        "pin_commit": ctx.pin_commit,
        "verdict": result.verdict,
        "verdict_kind": kind,
        "reason": reason[:65536],
        "duration_ms": int((time.monotonic() - ctx.start) * 1000),
        "observations": observations,
        "error": result.error,
    }
    subject = []
    if pin.digest and pin.repository:
        subject.append(
            {"name": pin.repository, "digest": {"sha256": pin.digest.removeprefix("sha256:")}}
        )
    record_links = {"commit": ctx.pin_commit, "url": url, **dict(links or {})}
    parents = []
    if ctx.promotion is not None:
        parents.append(
            {"id": ctx.promotion.id, "content_digest": ctx.promotion.integrity.content_digest}
        )
    body = new_body(
        kind="smoke",
        service=pin.service,
        result=RESULT_OF[result.verdict],
        details=details,
        subject=subject,
        started_at=ctx.started_at,
        finished_at=rfc3339(utc_now()),
        links={k: v for k, v in record_links.items() if v},
        parents=parents,
    )
    record = ctx.recorder(body)
    last = result.observations[-1] if result.observations else {}
    return SmokeOutcome(
        service=pin.service,
        verdict=result.verdict,
        reason=reason,
        method=method,
        record=record,
        revision=last.get("revision"),
        health=last.get("health"),
        duration_ms=details["duration_ms"],
        error=result.error,
        kind=kind,
        recorded=record.id == body.id,
        env=ctx.environment,
    )
