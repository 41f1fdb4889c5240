"""check_service against the Argo CD double, with pins and promotion records in a real git repo."""

from __future__ import annotations

import json

import pytest

from factory_assets.evidence.store import load_record
from factory_assets.evidence.validate import validate_repo
from factory_assets.smoke.check import check_service
from tests.doubles.argocd import app_status
from tests.smoke.conftest import Answer, promote

FAST = {"interval_seconds": 0.02, "timeout_seconds": 5, "request_timeout_seconds": 2}
OLD = "0" * 40


def smoke_cfg(**extra):
    return {"argocd_app": "api", **FAST, **extra}


def healthy(p, **kw):
    return app_status(revision=p.commit, images=[p.image], **kw)


def record_json(repo, outcome) -> str:
    return (repo / "evidence" / "records" / f"{outcome.record.id}.json").read_text()


def test_full_rollout_sequence_passes_only_at_the_pinned_revision(gitops_remote, argocd):
    repo = gitops_remote.clone
    p = promote(gitops_remote, "api", smoke=smoke_cfg())
    argocd.set_app(
        "api",
        app_status(
            sync="OutOfSync", revision=OLD, phase="Succeeded", images=["old@sha256:" + "1" * 64]
        ),
        app_status(sync="Synced", revision=OLD, images=["old@sha256:" + "1" * 64]),
        app_status(sync="OutOfSync", revision=p.commit, phase="Running"),
        healthy(p, health="Progressing"),
        healthy(p, health="Progressing"),
        healthy(p),
    )
    outcome = check_service(repo, "api", env=argocd.env())

    assert outcome.verdict == "passed", outcome.reason
    assert outcome.ok and outcome.method == "argocd"
    assert outcome.revision == p.commit and outcome.health == "Healthy"
    assert argocd.served("api") == 6  # it did not stop before the app was Healthy
    assert argocd.requests[0].query.get("refresh") == "normal"  # asks Argo CD to re-read git

    record = load_record(repo, outcome.record.id)
    assert record.kind == "smoke" and record.result == "success"
    assert [(x.id, x.content_digest) for x in record.parents] == [
        (p.record.id, p.record.integrity.content_digest)
    ]
    assert record.links.commit == p.commit
    assert record.links.url.startswith(argocd.url + "/applications/api")
    details = record.details
    assert (
        details.verdict == "passed"
        and details.digest == p.digest
        and details.pin_commit == p.commit
    )
    assert details.release_id == "rel-1" and details.method == "argocd"
    seen = [(o.sync_status, o.revision, o.health, o.count) for o in details.observations]
    assert seen == [
        ("OutOfSync", OLD, "Healthy", 1),
        ("Synced", OLD, "Healthy", 1),
        ("OutOfSync", p.commit, "Healthy", 1),
        ("Synced", p.commit, "Progressing", 2),  # identical looks are folded, with a count
        ("Synced", p.commit, "Healthy", 1),
    ]
    assert details.observations[-1].images == [p.image]
    assert record.subject[0].digest.sha256 == p.digest.removeprefix("sha256:")
    assert outcome.metadata()["evidence_record_id"] == record.id
    assert validate_repo(repo) == (2, [])  # the promotion and the smoke record, chained


def test_stale_health_is_not_trusted_and_refresh_is_requested(gitops_remote, argocd):
    repo = gitops_remote.clone
    p = promote(gitops_remote, "api", smoke=smoke_cfg())
    stale = healthy(p, finished_at="2026-11-27T16:00:10Z", reconciled_at="2026-11-27T16:00:09Z")
    fresh_degraded = healthy(
        p,
        health="Degraded",
        finished_at="2026-11-27T16:00:10Z",
        reconciled_at="2026-11-27T16:00:40Z",
    )
    argocd.set_app("api", *[stale] * 20, fresh_degraded)

    outcome = check_service(repo, "api", env=argocd.env())

    assert outcome.verdict == "failed"
    assert (
        "Degraded" in outcome.reason and outcome.error is None
    )  # the release failed, not the check
    notes = [o.note for o in outcome.record.details.observations]
    assert "stale" in notes[0]
    assert sum(1 for r in argocd.requests if r.query.get("refresh") == "normal") >= 2


@pytest.mark.parametrize("health", ["Degraded", "Missing"])
def test_bad_health_at_the_pinned_revision_fails(gitops_remote, argocd, health):
    p = promote(gitops_remote, "api", smoke=smoke_cfg())
    argocd.set_app("api", healthy(p, health="Progressing"), healthy(p, health=health))
    outcome = check_service(gitops_remote.clone, "api", env=argocd.env())
    assert outcome.verdict == "failed" and health in outcome.reason
    assert outcome.record.result == "failure"


def test_wrong_digest_running_fails(gitops_remote, argocd):
    p = promote(gitops_remote, "api", smoke=smoke_cfg())
    wrong = "registry.example.invalid/team/api@sha256:" + "e" * 64
    argocd.set_app("api", app_status(revision=p.commit, images=[wrong]))
    outcome = check_service(gitops_remote.clone, "api", env=argocd.env())
    assert outcome.verdict == "failed"
    assert p.digest in outcome.reason and "not among the running images" in outcome.reason
    assert outcome.reason.startswith("drift:") and outcome.record.details.error == "drift"


def test_bad_token_fails_fast_as_auth_and_the_token_is_nowhere(gitops_remote, argocd, capsys):
    repo = gitops_remote.clone
    promote(gitops_remote, "api", smoke=smoke_cfg())
    secret = "s3cr3t-token-value-that-must-not-leak"
    outcome = check_service(repo, "api", env=argocd.env(ARGOCD_TOKEN=secret), log=print)
    assert outcome.verdict == "failed" and outcome.error == "auth"
    assert "401" in outcome.reason
    assert len(argocd.requests) == 1  # waiting would not help: no retries
    out = capsys.readouterr()
    for text in (record_json(repo, outcome), outcome.reason, out.out, out.err, repr(outcome)):
        assert secret not in text
    assert argocd.token not in record_json(repo, outcome)


@pytest.mark.parametrize("project", [None, "default"])
def test_unknown_app_fails_with_a_clear_reason(gitops_remote, argocd, project):
    cfg = smoke_cfg(argocd_app="ghost")
    if project:
        cfg["project"] = project
    promote(gitops_remote, "api", smoke=cfg)
    outcome = check_service(gitops_remote.clone, "api", env=argocd.env())
    assert outcome.verdict == "failed" and outcome.error == "unknown_app"
    assert ("404" if project else "403") in outcome.reason and "ghost" in outcome.reason


def test_server_errors_are_retried_then_pass(gitops_remote, argocd):
    p = promote(gitops_remote, "api", smoke=smoke_cfg())
    argocd.set_app("api", healthy(p))
    argocd.fail_next(3, 503)
    outcome = check_service(gitops_remote.clone, "api", env=argocd.env())
    assert outcome.verdict == "passed"
    first = outcome.record.details.observations[0]
    assert "503" in first.note and first.count == 3


def test_server_errors_until_the_deadline_time_out(gitops_remote, argocd):
    promote(gitops_remote, "api", smoke=smoke_cfg(timeout_seconds=0.6))
    argocd.set_app("api", app_status(revision=OLD))
    argocd.fail_next(10_000, 502)
    outcome = check_service(gitops_remote.clone, "api", env=argocd.env())
    assert outcome.verdict == "timeout" and outcome.error == "unavailable"
    assert "502" in outcome.reason
    assert 500 <= outcome.duration_ms < 3000


def test_slow_answers_time_out_per_request_and_the_check_keeps_its_deadline(gitops_remote, argocd):
    promote(gitops_remote, "api", smoke=smoke_cfg(timeout_seconds=1, request_timeout_seconds=0.2))
    argocd.set_app("api", app_status(revision=OLD))
    argocd.delay = 0.5
    outcome = check_service(gitops_remote.clone, "api", env=argocd.env())
    assert outcome.verdict == "timeout"
    assert "no answer within 0.2 s" in outcome.reason
    assert outcome.duration_ms < 2500


def test_slow_but_answering_argocd_passes(gitops_remote, argocd):
    p = promote(gitops_remote, "api", smoke=smoke_cfg())
    argocd.set_app("api", healthy(p))
    argocd.delay = 0.3  # a GET with refresh waits for Argo CD's own refresh
    outcome = check_service(gitops_remote.clone, "api", env=argocd.env())
    assert outcome.verdict == "passed"


def test_progressing_forever_times_out_with_the_last_state(gitops_remote, argocd):
    p = promote(gitops_remote, "api", smoke=smoke_cfg(timeout_seconds=0.4))
    argocd.set_app("api", healthy(p, health="Progressing"))
    outcome = check_service(gitops_remote.clone, "api", env=argocd.env())
    assert outcome.verdict == "timeout" and outcome.error is None
    assert "Progressing" in outcome.reason
    assert outcome.record.details.observations[0].count >= 5


def test_timeout_argument_overrides_the_pin(gitops_remote, argocd):
    p = promote(gitops_remote, "api", smoke=smoke_cfg(timeout_seconds=60))
    argocd.set_app("api", healthy(p, health="Suspended"))
    outcome = check_service(gitops_remote.clone, "api", env=argocd.env(), timeout_seconds=0.3)
    assert outcome.verdict == "timeout" and outcome.duration_ms < 2000


def test_absent_token_is_a_clear_config_failure_and_nothing_is_sent(gitops_remote, argocd):
    p = promote(gitops_remote, "api", smoke=smoke_cfg())
    outcome = check_service(gitops_remote.clone, "api", env={"ARGOCD_URL": argocd.url})
    assert outcome.verdict == "failed" and outcome.error == "config"
    assert "ARGOCD_TOKEN not set" in outcome.reason and "envs/dev/api.yaml" in outcome.reason
    assert argocd.requests == []
    assert outcome.record.parents[0].id == p.record.id  # recorded all the same


def test_absent_token_with_a_url_uses_the_readiness_fallback(gitops_remote, endpoint):
    url = endpoint.script("/ready", Answer(200, b"ok"))
    promote(gitops_remote, "api", smoke=smoke_cfg(url=url))
    outcome = check_service(gitops_remote.clone, "api", env={})
    assert outcome.verdict == "passed" and outcome.method == "http"
    assert "readiness fallback" in outcome.reason


def test_missing_smoke_config_is_skipped_with_its_reason(gitops_remote):
    p = promote(gitops_remote, "api", smoke=None)
    outcome = check_service(gitops_remote.clone, "api", env={})
    assert outcome.verdict == "skipped" and outcome.ok
    assert "no smoke config" in outcome.reason
    assert outcome.record.result == "skipped" and outcome.record.details.method == "none"
    assert outcome.record.parents[0].id == p.record.id


def test_invalid_smoke_url_is_a_config_failure_naming_the_field(gitops_remote):
    promote(gitops_remote, "api", smoke={"url": "ftp://example.invalid/ready"})
    outcome = check_service(gitops_remote.clone, "api", env={})
    assert outcome.verdict == "failed" and outcome.error == "config"
    assert "envs/dev/api.yaml: smoke.url:" in outcome.reason and "http://" in outcome.reason


def test_unknown_smoke_key_is_a_config_failure(gitops_remote):
    promote(gitops_remote, "api", smoke={"argocd_app": "api", "timeout": 5})
    outcome = check_service(gitops_remote.clone, "api", env={})
    assert outcome.error == "config" and "smoke.timeout: unknown key" in outcome.reason


def test_later_commit_for_another_service_still_counts(gitops_remote, argocd):
    """In a monorepo every pin moves HEAD: Argo CD syncs a later commit that still pins our digest."""
    api = promote(gitops_remote, "api", smoke=smoke_cfg())
    web = promote(gitops_remote, "web", smoke=None)
    argocd.set_app("api", app_status(revision=web.commit, images=[api.image]))
    outcome = check_service(gitops_remote.clone, "api", env=argocd.env())
    assert outcome.verdict == "passed", outcome.reason
    assert outcome.record.links.commit == api.commit


def test_pin_superseded_on_the_remote_is_skipped(gitops_remote, argocd):
    api = promote(gitops_remote, "api", smoke=smoke_cfg())
    other = gitops_remote.new_clone()
    newer = promote(gitops_remote, "api", smoke=smoke_cfg(), version="2", clone=other, record=False)
    # this checkout still has the old pin; Argo CD already runs the newer one
    argocd.set_app("api", app_status(revision=newer.commit, images=[newer.image]))
    outcome = check_service(gitops_remote.clone, "api", env=argocd.env())
    assert outcome.verdict == "skipped" and "superseded" in outcome.reason
    assert outcome.record.details.digest == api.digest


def test_unknown_service_raises_input_error(gitops_remote):
    from factory_assets.common.errors import InputError

    with pytest.raises(InputError, match="no pin file"):
        check_service(gitops_remote.clone, "nope", env={})
    with pytest.raises(InputError, match="not a valid service name"):
        check_service(gitops_remote.clone, "../etc", env={})


def test_pin_without_promotion_record_uses_the_git_commit_and_has_no_parent(gitops_remote, argocd):
    p = promote(gitops_remote, "api", smoke=smoke_cfg(), record=False)
    argocd.set_app("api", healthy(p))
    outcome = check_service(gitops_remote.clone, "api", env=argocd.env())
    assert outcome.verdict == "passed"
    assert outcome.record.parents == [] and outcome.record.links.commit == p.commit
    assert "no promotion record" in outcome.reason
    json.loads(record_json(gitops_remote.clone, outcome))


def test_a_recorder_lands_the_record_elsewhere(gitops_remote, tmp_path):
    """The Dagster layer lands records through the GitOps writer: check_service only builds the body."""
    from factory_assets.evidence.store import append_record

    promote(gitops_remote, "api", smoke=None)
    bodies = []

    def land(body):
        bodies.append(body)
        return append_record(tmp_path, body)

    before = sorted((gitops_remote.clone / "evidence" / "records").glob("*.json"))
    outcome = check_service(gitops_remote.clone, "api", env={}, record=land)
    assert [b.id for b in bodies] == [outcome.record.id] and bodies[0].kind == "smoke"
    assert (tmp_path / "evidence" / "records" / f"{outcome.record.id}.json").exists()
    assert sorted((gitops_remote.clone / "evidence" / "records").glob("*.json")) == before
