"""The kind of a smoke verdict (which finding it is) is recorded, and derived for older records."""

from __future__ import annotations

import pytest

from factory_assets.evidence.store import load_record
from factory_assets.evidence.vocabulary import VERDICT_KINDS
from factory_assets.smoke.check import check_service
from factory_assets.smoke.judgement import judges_the_pin, kind_of_details
from tests.doubles.argocd import app_status
from tests.smoke.conftest import promote

FAST = {"argocd_app": "api", "interval_seconds": 0.02, "timeout_seconds": 5}
STALE = {"finished_at": "2026-11-27T16:00:10Z", "reconciled_at": "2026-11-27T16:00:09Z"}
OTHER_IMAGE = "registry.example.invalid/team/api@sha256:" + "e" * 64


@pytest.mark.parametrize(
    ("status", "timeout", "verdict", "kind"),
    [
        ({}, None, "passed", "passed"),
        ({"health": "Degraded"}, None, "failed", "degraded"),
        ({"health": "Missing"}, None, "failed", "degraded"),
        (
            {"phase": "Failed", "message": "one or more objects failed"},
            None,
            "failed",
            "sync_failed",
        ),
        ({"images": [OTHER_IMAGE]}, None, "failed", "drift"),
        (STALE, 0.3, "timeout", "stale"),
        ({"health": "Progressing"}, 0.3, "timeout", "timeout"),
    ],
    ids=["passed", "degraded", "missing", "sync_failed", "drift", "stale", "progressing"],
)
def test_each_argocd_finding_is_recorded_as_its_kind(
    gitops_remote, argocd, status, timeout, verdict, kind
):
    p = promote(gitops_remote, "api", smoke=FAST)
    argocd.set_app("api", app_status(**{"revision": p.commit, "images": [p.image], **status}))
    outcome = check_service(gitops_remote.clone, "api", env=argocd.env(), timeout_seconds=timeout)
    assert (outcome.verdict, outcome.kind) == (verdict, kind), outcome.reason
    stored = load_record(gitops_remote.clone, outcome.record.id).details
    assert (stored.verdict, stored.verdict_kind) == (verdict, kind)


def test_a_check_that_cannot_run_is_recorded_as_why(gitops_remote, argocd):
    promote(gitops_remote, "api", smoke={**FAST, "argocd_app": "ghost"})
    ghost = check_service(gitops_remote.clone, "api", env=argocd.env())
    assert (ghost.verdict, ghost.record.details.verdict_kind) == ("failed", "not_found")
    promote(gitops_remote, "api", smoke={**FAST, "timeout_seconds": 0.4}, version="2")
    argocd.fail_next(10_000, 502)
    down = check_service(gitops_remote.clone, "api", env=argocd.env())
    assert (down.verdict, down.record.details.verdict_kind) == ("timeout", "unreachable")


@pytest.mark.parametrize(
    ("details", "kind"),
    [
        ({"verdict": "passed"}, "passed"),
        ({"verdict": "skipped"}, "skipped"),
        ({"verdict": "failed", "error": None}, "failed"),
        ({"verdict": "failed", "error": "drift"}, "drift"),
        ({"verdict": "failed", "error": "unknown_app"}, "not_found"),
        ({"verdict": "failed", "error": "config"}, "misconfigured"),
        ({"verdict": "timeout", "error": "unavailable"}, "unreachable"),
        ({"verdict": "timeout", "error": None}, "timeout"),
        ({"verdict": "failed", "error": None, "verdict_kind": "degraded"}, "degraded"),
    ],
)
def test_a_record_without_a_kind_reads_as_its_verdict_and_error_say(details, kind):
    assert kind_of_details({"method": "argocd", **details}) == kind


JUDGES = {
    "passed": True,
    "degraded": True,
    "sync_failed": True,
    "drift": True,
    "failed": True,
    "stale": True,
    "timeout": True,
    "skipped": False,
    "unreachable": False,
    "not_found": False,
    "unauthorized": False,
    "misconfigured": False,
    "protocol": False,
}


def test_every_verdict_kind_is_placed_deliberately_as_a_judgement_of_the_pin_or_not():
    assert set(JUDGES) == set(VERDICT_KINDS)  # a new kind must be placed in the table
    assert {kind: judges_the_pin(kind) for kind in VERDICT_KINDS} == JUDGES
    with pytest.raises(ValueError, match="not a smoke verdict kind"):
        judges_the_pin("exploded")


def test_judges_the_pin_reads_records_old_and_new_but_not_an_index_line():
    new = {"kind": "smoke", "details": {"method": "argocd", "verdict": "failed"}}
    assert (
        judges_the_pin({**new, "details": {**new["details"], "verdict_kind": "not_found"}}) is False
    )
    assert judges_the_pin(new) is True  # a plain failure, before kinds were recorded
    older = {"method": "argocd", "verdict": "failed", "error": "unknown_app"}
    assert judges_the_pin(older) is False  # its error says the check could not run
    with pytest.raises(ValueError, match="pass the smoke record"):
        judges_the_pin({"kind": "smoke", "seq": 3, "verdict": "failed", "env": "prod"})
    with pytest.raises(ValueError, match="not a smoke record"):
        judges_the_pin({"kind": "promotion", "details": {"verdict": "passed"}})
