"""The pure Argo CD verdict, rule by rule, on Application statuses shaped like Argo CD's."""

from __future__ import annotations

import pytest

from factory_assets.smoke.argocd_verdict import judge_application
from tests.doubles.argocd import app_status

PIN = "a" * 40
OLD = "b" * 40
DIGEST = "sha256:" + "c" * 64
OTHER_DIGEST = "sha256:" + "d" * 64
IMAGE = f"registry.example.invalid/team/api@{DIGEST}"


def judge(**status):
    status.setdefault("revision", PIN)
    status.setdefault("images", [IMAGE])
    return judge_application(
        {"metadata": {"name": "api"}, "status": app_status(**status)}, pin_commit=PIN, digest=DIGEST
    )


def test_healthy_at_the_pinned_revision_running_the_digest_passes():
    result = judge()
    assert result.state == "pass"
    assert result.observation["revision"] == PIN
    assert result.observation["health"] == "Healthy"
    assert result.observation["images"] == [IMAGE]


def test_revision_comes_first_even_when_healthy():
    result = judge(revision=OLD)
    assert result.state == "wait"
    assert result.refresh is True
    assert "not the pinning commit" in result.reason


def test_degraded_at_an_old_revision_is_not_a_failure_yet():
    assert judge(revision=OLD, health="Degraded").state == "wait"


@pytest.mark.parametrize("sync", ["OutOfSync", "Unknown"])
def test_not_synced_waits(sync):
    result = judge(sync=sync)
    assert result.state == "wait" and sync in result.reason


@pytest.mark.parametrize("phase", ["Running", "Terminating"])
def test_operation_not_succeeded_waits(phase):
    assert judge(phase=phase).state == "wait"


def test_no_operation_state_waits():
    assert judge(phase=None).state == "wait"


@pytest.mark.parametrize("phase", ["Failed", "Error"])
def test_failed_operation_at_the_pinned_revision_fails(phase):
    result = judge(phase=phase, sync="OutOfSync", message="one or more objects failed to apply")
    assert result.state == "fail"
    assert "failed to apply" in result.reason


def test_failed_operation_of_an_older_revision_waits():
    assert judge(phase="Failed", operation_revision=OLD, sync="OutOfSync").state == "wait"


def test_stale_health_is_not_trusted():
    result = judge(finished_at="2026-11-27T16:00:10Z", reconciled_at="2026-11-27T16:00:09Z")
    assert result.state == "wait"
    assert result.refresh is True
    assert "stale" in result.reason


def test_stale_degraded_does_not_fail_either():
    assert (
        judge(
            health="Degraded",
            finished_at="2026-11-27T16:00:10Z",
            reconciled_at="2026-11-27T16:00:00Z",
        ).state
        == "wait"
    )


def test_reconciled_exactly_at_finish_is_fresh():
    assert (
        judge(finished_at="2026-11-27T16:00:10Z", reconciled_at="2026-11-27T16:00:10Z").state
        == "pass"
    )


def test_timestamps_compare_as_times_not_text():
    # fractional seconds and offsets: 16:00:10.5Z is after 16:00:10Z
    assert (
        judge(finished_at="2026-11-27T16:00:10Z", reconciled_at="2026-11-27T16:00:10.5Z").state
        == "pass"
    )
    assert (
        judge(finished_at="2026-11-27T16:00:10Z", reconciled_at="2026-11-27T17:00:09+01:00").state
        == "wait"
    )


@pytest.mark.parametrize("health", ["Progressing", "Suspended", "Unknown"])
def test_waiting_health(health):
    assert judge(health=health).state == "wait"


@pytest.mark.parametrize("health", ["Degraded", "Missing"])
def test_failing_health(health):
    result = judge(health=health)
    assert result.state == "fail" and health in result.reason


def test_wrong_digest_running_fails():
    result = judge(images=[f"registry.example.invalid/team/api@{OTHER_DIGEST}"])
    assert result.state == "fail"
    assert DIGEST in result.reason


def test_tag_only_image_does_not_prove_the_digest():
    assert judge(images=["registry.example.invalid/team/api:1.2.3"]).state == "fail"


def test_tag_and_digest_reference_matches():
    assert judge(images=[f"registry.example.invalid/team/api:1.2.3@{DIGEST}"]).state == "pass"


def test_operation_revision_counts_as_the_synced_revision():
    status = app_status(revision=None, operation_revision=PIN, images=[IMAGE])
    status["sync"].pop("revision")
    assert judge_application({"status": status}, pin_commit=PIN, digest=DIGEST).state == "pass"


def test_multi_source_revisions():
    status = app_status(revision=PIN, images=[IMAGE])
    status["sync"]["revisions"] = [status["sync"].pop("revision")]
    assert judge_application({"status": status}, pin_commit=PIN, digest=DIGEST).state == "pass"


def test_revision_check_accepts_a_later_commit_that_still_pins():
    status = app_status(revision=OLD, images=[IMAGE])
    relation = {OLD: "includes"}
    result = judge_application(
        {"status": status},
        pin_commit=PIN,
        digest=DIGEST,
        revision_check=lambda r: relation.get(r, "other"),
    )
    assert result.state == "pass"


def test_superseded_pin_is_skipped():
    status = app_status(revision=OLD, images=[IMAGE])
    result = judge_application(
        {"status": status}, pin_commit=PIN, digest=DIGEST, revision_check=lambda r: "superseded"
    )
    assert result.state == "skip" and "superseded" in result.reason


def test_garbage_status_waits_instead_of_crashing():
    assert judge_application({"status": "nonsense"}, pin_commit=PIN, digest=DIGEST).state == "wait"
    assert judge_application({}, pin_commit=PIN, digest=DIGEST).state == "wait"
