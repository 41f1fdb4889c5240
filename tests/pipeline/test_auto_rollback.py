"""auto_rollback: a confirmed broken pin is rolled back to the last known-good digest, once;
a single flake rolls nothing back; a rollback that breaks too is escalated. The clock is the
test's (FACTORY_CLOCK_FILE): nothing sleeps."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from factory_assets.cli.main import main
from factory_assets.evidence.store import load_record
from factory_assets.release.queue_file import load_queue
from factory_assets.site.build import build_site
from factory_assets.smoke.landing import smoke_checks_and_land
from tests.site.conftest import browser, serve  # noqa: F401
from tests.smoke.conftest import Answer
from tests.support.evidence import validate_cli
from tests.support.passes import promotion_pass, request_api

LAYOUT = """\
environments:
  dev: {pins: pin-files, auto_rollback: true, sync_window: 3m}
"""
START = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)


class Clock:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.set(START)

    def set(self, moment: datetime) -> None:
        self.path.write_text(moment.isoformat().replace("+00:00", "Z"))

    def at(self, minutes: float) -> None:
        self.set(START + timedelta(minutes=minutes))


@pytest.fixture
def lane(gitops_remote, registry, endpoint, unique_repo, monkeypatch, tmp_path):
    ready = endpoint.script("/ready", Answer(200, b"ok"))
    gitops_remote.commit_and_push(
        {
            "factory.yaml": LAYOUT,
            "envs/dev/api.yaml": f"smoke:\n  url: {ready}\n  timeout_seconds: 5\n",
        },
        "dev rolls back by itself",
    )
    for name in ("FACTORY_ENVS", "HARBOR_USERNAME", "HARBOR_PASSWORD", "GITHUB_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HARBOR_URL", registry.url)
    clock = Clock(tmp_path / "clock")
    monkeypatch.setenv("FACTORY_CLOCK_FILE", str(clock.path))
    return gitops_remote, registry, endpoint, unique_repo, clock


def _release(remote, registry, repo, tag: str) -> str:
    entry = request_api(remote.clone, registry, repo, tag)
    outcomes = promotion_pass(remote.clone).outcomes
    assert [o.result for o in outcomes] == ["success"]
    return entry.id


def _entries(remote) -> dict:
    return {e.id: e for e in load_queue(remote.new_clone()).queue.entries}


def _broken(endpoint) -> None:
    endpoint.script("/ready", Answer.redirect("http://elsewhere.invalid/ready"))


def _healthy(endpoint) -> None:
    endpoint.script("/ready", Answer(200, b"ok"))


def _smoke(remote) -> str:
    (outcome,) = smoke_checks_and_land(remote.clone)
    return outcome.kind


def _timeline_events(remote, out, browser, serve) -> list[str]:  # noqa: F811
    """The Event column of the dashboard's timeline, newest first; the page's own check of
    every record (digests, chain, Merkle root) holds on them too."""
    build_site(remote.new_clone(), out)
    page = browser.new_page()
    try:
        page.open(serve(out))
        page.wait_for("document.querySelectorAll('#timeline tbody tr').length > 0")
        events = page.eval(
            "[...document.querySelectorAll('#timeline tbody tr')].map(tr => tr.children[4].textContent)"
        )
        page.open(serve(out) + "?verify=1")
        state = page.wait_for(
            "['ok','fail'].includes(document.getElementById('integrity-status').dataset.state)"
            " && document.getElementById('integrity-status').dataset.state"
        )
        problems = page.eval(
            "[...document.querySelectorAll('#integrity-problems li')].map(li => li.textContent)"
        )
        assert state == "ok", (page.text("#integrity-status"), problems)
        return events
    finally:
        page.close()


def test_a_confirmed_failure_rolls_back_once_and_a_broken_rollback_escalates(
    lane,
    browser,  # noqa: F811
    serve,  # noqa: F811
    tmp_path,
):
    remote, registry, endpoint, repo, clock = lane
    good = _release(remote, registry, repo, "1.0")
    assert _smoke(remote) == "passed"
    clock.at(10)
    bad = _release(remote, registry, repo, "2.0")
    _broken(endpoint)
    clock.at(11)
    assert _smoke(remote) == "failed"
    clock.at(12)  # inside the sync window: not confirmed yet
    assert _smoke(remote) == "failed"
    assert [e for e in _entries(remote).values() if e.rollback_of] == []

    clock.at(14.5)  # a second broken check after the sync window confirms it
    assert _smoke(remote) == "failed"
    (back,) = [e for e in _entries(remote).values() if e.rollback_of]
    entries = _entries(remote)
    assert (back.rollback_of, back.digest, back.requested_by) == (
        bad,
        entries[good].digest,
        "factory-auto-rollback",
    )
    assert not back.awaiting_approval
    record = load_record(remote.new_clone(), back.evidence)
    assert record.details.event == "rollback"
    proof = record.details.auto_rollback
    assert proof.verdict_kind == "failed" and proof.sync_window_ms == 180_000
    assert proof.failed_at.startswith("2026-12-07T09:11:00")
    assert proof.confirmed_at.startswith("2026-12-07T09:14:30") and proof.confirmed_by
    failed_smoke = load_record(remote.new_clone(), proof.failed_smoke)
    assert failed_smoke.details.release_id == bad and failed_smoke.details.verdict == "failed"
    assert {p.id for p in record.parents} == {proof.failed_smoke, entries[bad].evidence}
    events = _timeline_events(remote, tmp_path / "site", browser, serve)
    assert events[0] == "automatic rollback after a confirmed failure"

    clock.at(16)  # more broken checks: the rollback is queued already, not twice
    assert _smoke(remote) == "failed"
    assert len([e for e in _entries(remote).values() if e.rollback_of]) == 1

    # the rollback lands, and breaks too: escalated, never rolled back again
    assert [o.result for o in promotion_pass(remote.clone).outcomes] == ["success"]
    clock.at(18)
    assert _smoke(remote) == "failed"
    clock.at(22)
    assert _smoke(remote) == "failed"
    clone = remote.new_clone()
    assert len([e for e in _entries(remote).values() if e.rollback_of]) == 1
    repairs = [
        load_record(clone, p.stem)
        for p in (clone / "evidence" / "records").glob("*.json")
        if '"kind":"repair"' in p.read_text()
    ]
    assert len(repairs) == 1
    assert "fails smoke too" in repairs[0].details.log_excerpt and repairs[0].service == "api"
    clock.at(30)
    _smoke(remote)
    assert len(list((remote.new_clone() / "evidence" / "records").glob("*.json"))) == len(
        list((clone / "evidence" / "records").glob("*.json"))
    )  # no news: no record, no second escalation
    assert validate_cli(remote.new_clone()).returncode == 0


def test_a_single_flake_rolls_nothing_back(lane):
    remote, registry, endpoint, repo, clock = lane
    _release(remote, registry, repo, "1.0")
    assert _smoke(remote) == "passed"
    clock.at(10)
    _release(remote, registry, repo, "2.0")
    _broken(endpoint)
    clock.at(11)
    assert _smoke(remote) == "failed"
    _healthy(endpoint)
    clock.at(15)
    assert _smoke(remote) == "passed"
    _broken(endpoint)
    clock.at(16)  # a new suspicion, not the confirmation of the old one
    assert _smoke(remote) == "failed"
    assert [e for e in _entries(remote).values() if e.rollback_of] == []


def _status_text(remote) -> str:
    import contextlib
    import io

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["release", "status", "--repo", str(remote.new_clone())]) == 0
    return out.getvalue()


def test_approving_an_automatic_rollback_acknowledges_it(lane, tmp_path):
    remote, registry, endpoint, repo, clock = lane
    _release(remote, registry, repo, "1.0")
    assert _smoke(remote) == "passed"
    clock.at(10)
    _release(remote, registry, repo, "2.0")
    _broken(endpoint)
    clock.at(11)
    _smoke(remote)
    clock.at(15)
    _smoke(remote)
    (back,) = [e for e in _entries(remote).values() if e.rollback_of]
    assert not back.awaiting_approval
    assert f"pending: automatic rollback of {back.rollback_of} ({back.id})" in _status_text(remote)
    args = ["release", "approve", back.id, "--by", "ana", "--push", "--repo", str(remote.clone)]
    assert main(args) == 0
    acknowledged = _entries(remote)[back.id]
    assert acknowledged.approved_by == "ana" and acknowledged.evidence != back.evidence
    assert main(args) == 1  # once
    record = load_record(remote.new_clone(), acknowledged.evidence)
    assert record.details.event == "approved"
    assert record.details.reason == "acknowledges the automatic rollback"

    # the rollback lands and is healthy: time to restore runs from the failed smoke to it
    assert [o.result for o in promotion_pass(remote.clone).outcomes] == ["success"]
    _healthy(endpoint)
    clock.at(20)
    assert _smoke(remote) == "passed"
    build_site(remote.new_clone(), tmp_path / "site")
    metrics = json.loads((tmp_path / "site" / "data" / "metrics.json").read_text())
    restore = metrics["by_env"]["dev"]["restore_ms"]
    assert (restore["count"], restore["median"]) == (1, 9 * 60 * 1000)  # 09:11 -> 09:20
