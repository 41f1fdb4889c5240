"""Promotion windows in the pass: a ready request inside a deny window waits, costing no
attempt, with one record when the wait starts and one when it goes; the weekend window ends
Monday 08:00 in Berlin across the change to summer time. The clock is the test's."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from factory_assets.cli.main import main
from factory_assets.evidence.store import load_record
from factory_assets.promotion import plan_pass
from factory_assets.release.queue_file import load_queue
from tests.pipeline.test_auto_rollback import Clock, _timeline_events
from tests.site.conftest import browser, serve  # noqa: F401
from tests.smoke.conftest import Answer
from tests.support.evidence import validate_cli
from tests.support.passes import promotion_pass, request_api

WEEKEND = '{kind: deny, schedule: "0 16 * * FRI", duration: 64h, timeZone: Europe/Berlin%s}'
LAYOUT = "environments:\n  dev: {pins: pin-files, windows: [%s]}\n"
# Berlin springs forward on Sunday 2027-03-28: Friday 16:00 CET is 15:00 UTC, Monday 08:00
# CEST is 06:00 UTC (64 absolute hours would end at 07:00 UTC).
FRIDAY_EVENING = datetime(2027, 3, 26, 15, 30, tzinfo=UTC)
SATURDAY = datetime(2027, 3, 27, 12, 0, tzinfo=UTC)
MONDAY_0759 = datetime(2027, 3, 29, 5, 59, tzinfo=UTC)
MONDAY_0800 = datetime(2027, 3, 29, 6, 0, tzinfo=UTC)


def _lane(remote, registry, endpoint, monkeypatch, tmp_path, window_extra: str = ""):
    ready = endpoint.script("/ready", Answer(200, b"ok"))
    remote.commit_and_push(
        {
            "factory.yaml": LAYOUT % (WEEKEND % window_extra),
            "envs/dev/api.yaml": f"smoke:\n  url: {ready}\n  timeout_seconds: 5\n",
        },
        "no promotions over the weekend",
    )
    for name in ("FACTORY_ENVS", "HARBOR_USERNAME", "HARBOR_PASSWORD"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HARBOR_URL", registry.url)
    clock = Clock(tmp_path / "clock")
    monkeypatch.setenv("FACTORY_CLOCK_FILE", str(clock.path))
    return clock


@pytest.fixture
def lane(gitops_remote, registry, endpoint, unique_repo, monkeypatch, tmp_path):
    clock = _lane(gitops_remote, registry, endpoint, monkeypatch, tmp_path)
    return gitops_remote, registry, unique_repo, clock


def _request(remote, registry, repo, tag: str) -> str:
    return request_api(remote.clone, registry, repo, tag).id


def _pass(remote, **kw):
    return promotion_pass(remote.clone, **kw)


def _entry(remote, release_id):
    return load_queue(remote.new_clone()).queue.by_id(release_id)


def _events(remote, release_id) -> list[str]:
    clone = remote.new_clone()
    records = [
        load_record(clone, p.stem) for p in sorted((clone / "evidence/records").glob("*.json"))
    ]
    return [
        r.details.event
        for r in records
        if r.kind == "promotion" and r.details.release_id == release_id
    ]


def test_a_deny_window_holds_a_request_until_it_ends_across_the_spring_change(
    lane,
    capsys,
    browser,  # noqa: F811
    serve,  # noqa: F811
    tmp_path,
):
    remote, registry, repo, clock = lane
    clock.set(FRIDAY_EVENING)
    rid = _request(remote, registry, repo, "1.0")
    (outcome,) = _pass(remote).outcomes
    assert (outcome.result, outcome.attempted) == ("waiting", False)
    assert outcome.error == "outside its window until Mon 08:00"
    waiting = _entry(remote, rid)
    assert (waiting.state, waiting.attempts, waiting.window_since) == ("pending", 0, FRIDAY_EVENING)
    wait = load_record(remote.new_clone(), waiting.window_evidence)
    assert wait.details.event == "window_wait" and wait.details.reason == outcome.error
    assert wait.details.window.until == "2027-03-29T06:00:00.000000Z"
    assert "deny '0 16 * * FRI' for 2d16h (Europe/Berlin)" == wait.details.window.window
    plan = plan_pass(remote.clone, fetch=True).for_service("api", "dev")
    assert plan.waiting[0].reason == "outside its window until Mon 08:00"
    capsys.readouterr()
    assert main(["release", "status", "--repo", str(remote.new_clone())]) == 0
    assert f"outside its window until Mon 08:00 ({rid})" in capsys.readouterr().out

    for moment in (SATURDAY, MONDAY_0759):  # still waiting: no commit, no record, no attempt
        clock.set(moment)
        head = remote.remote_head()
        assert [o.result for o in _pass(remote).outcomes] == ["waiting"]
        assert remote.remote_head() == head
    assert _entry(remote, rid).attempts == 0

    clock.set(MONDAY_0800)  # 08:00 on Berlin's clock, in summer time
    (outcome,) = _pass(remote).outcomes
    assert outcome.result == "success"
    done = _entry(remote, rid)
    assert (done.state, done.attempts, done.window_since) == ("promoted", 1, None)
    events = _events(remote, rid)
    assert events.count("window_wait") == 1 and events.count("window_open") == 1
    assert events.index("window_open") < events.index("attempt")
    clone = remote.new_clone()
    opened = next(
        load_record(clone, p.stem)
        for p in (clone / "evidence/records").glob("*.json")
        if '"window_open"' in p.read_text()
    )
    assert opened.details.window.since == "2027-03-26T15:30:00.000000Z"
    assert opened.details.forced is False
    assert validate_cli(remote.new_clone()).returncode == 0
    events = _timeline_events(remote, tmp_path / "site", browser, serve)
    assert "its promotion window opened" in events and "waiting for its promotion window" in events


def test_force_passes_a_window_and_records_who_and_why(lane):
    remote, registry, repo, clock = lane
    clock.set(SATURDAY)
    rid = _request(remote, registry, repo, "1.0")
    args = ["promote", "--force", "--by", "ana", "--reason", "hotfix for the outage"]
    assert main([*args, "--repo", str(remote.clone)]) == 0
    assert _entry(remote, rid).state == "promoted"
    clone = remote.new_clone()
    opened = next(
        load_record(clone, p.stem)
        for p in (clone / "evidence/records").glob("*.json")
        if '"window_open"' in p.read_text()
    )
    assert opened.details.forced and opened.details.window.forced_by == "ana"
    assert "hotfix for the outage" in opened.details.reason
    assert "outside its window until Mon 08:00" in opened.details.reason


def test_a_rollback_passes_a_window_unless_it_says_rollbacks_deny(
    gitops_remote, registry, endpoint, unique_repo, monkeypatch, tmp_path
):
    remote, repo = gitops_remote, unique_repo
    clock = _lane(remote, registry, endpoint, monkeypatch, tmp_path)
    clock.set(datetime(2027, 3, 24, 10, 0, tzinfo=UTC))  # a Wednesday: open
    _request(remote, registry, repo, "1.0")
    assert [o.result for o in _pass(remote).outcomes] == ["success"]
    from factory_assets.smoke.landing import smoke_checks_and_land

    smoke_checks_and_land(remote.clone)
    second = _request(remote, registry, repo, "2.0")
    assert [o.result for o in _pass(remote).outcomes] == ["success"]
    clock.set(SATURDAY)
    args = ["rollback", "api", "--env", "dev", "--by", "bo", "--push", "--repo", str(remote.clone)]
    assert main(args) == 0
    assert [o.result for o in _pass(remote).outcomes] == ["success"]  # restoring does not wait
    # the same window with `rollbacks: deny` holds the next rollback too
    remote.commit_and_push(
        {"factory.yaml": LAYOUT % (WEEKEND % ", rollbacks: deny")},
        "not even rollbacks",
        clone=remote.new_clone(),
    )
    assert main([*args, "--to", second]) == 0  # forward again, as a rollback: held now
    (outcome,) = _pass(remote).outcomes
    assert (outcome.result, outcome.error) == ("waiting", "outside its window until Mon 08:00")


def test_the_pipeline_view_shows_a_stage_request_outside_its_window(tmp_path):
    from factory_assets.site.pipeline import pipeline_rows

    digest = "sha256:" + "ab" * 32
    (tmp_path / "factory.yaml").write_text(
        "environments:\n  dev: {pins: pin-files}\n"
        f"  prod: {{pins: pin-files, after: dev, windows: [{WEEKEND % ''}]}}\n"
    )
    (tmp_path / "release").mkdir()
    (tmp_path / "release" / "queue.yaml").write_text(
        "releases:\n"
        f"  - {{id: r1, service: api, env: dev, image: registry.local/api, digest: '{digest}',\n"
        "     requested_at: '2027-03-26T10:00:00Z', requested_by: ci, state: promoted,\n"
        "     finished_at: '2027-03-26T10:01:00Z', handed_off: {prod: r2}}\n"
        f"  - {{id: r2, service: api, env: prod, image: registry.local/api, digest: '{digest}',\n"
        "     requested_at: '2027-03-26T15:00:00Z', requested_by: factory-pipeline,\n"
        "     upstream: r1, window_since: '2027-03-26T15:30:00Z'}\n"
    )
    rows = pipeline_rows(tmp_path, [], [])["rows"]
    prod = rows[0]["cells"][1]
    assert (prod["where"], prod["since"]) == ("outside its window", "2027-03-26T15:30:00.000000Z")
