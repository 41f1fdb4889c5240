"""Soak, promotion windows and automatic rollback as a real dagster-daemon runs them, on a
clock the test sets (FACTORY_CLOCK_FILE): the test moves the time, the daemon's sensors and
runs read it; nothing waits for a soak, a weekend or a sync window to pass."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import yaml

from factory_assets.sandbox.gitops_remote import file_at_main
from tests.pipeline.test_auto_rollback import Clock
from tests.smoke.conftest import Answer
from tests.support.dagster_daemon import shipped_dagster_home, start_daemon, wait_for
from tests.support.evidence import validate_cli
from tests.support.passes import request_api

# Each step waits for the recheck sensor's next tick (a minute, its floor), in real time.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

FRIDAY_EVENING = datetime(2027, 3, 26, 15, 30, tzinfo=UTC)  # 16:30 in Berlin
MONDAY_0800 = datetime(2027, 3, 29, 6, 0, tzinfo=UTC)  # 08:00 in Berlin, summer time
T0 = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)


def _entries(remote) -> list[dict]:
    return yaml.safe_load(file_at_main(remote.bare, "release/queue.yaml"))["releases"] or []


def _entry(remote, release_id: str) -> dict:
    return next(e for e in _entries(remote) if e["id"] == release_id)


def _recorded(entry: dict) -> bool:
    return entry["state"] == "promoted" and not entry.get("claimed_by")


def _events(remote, release_id: str) -> list[str]:
    clone = remote.new_clone()
    found = []
    for path in sorted((clone / "evidence" / "records").glob("*.json")):
        record = yaml.safe_load(path.read_text())
        details = record["details"]
        if record["kind"] == "promotion" and details.get("release_id") == release_id:
            found.append(details.get("event"))
    return found


def _daemon(tmp_path, remote, registry, monkeypatch, at: datetime, **extra):
    """The test's clock, set to `at` (the test's own calls read it too), and a daemon on it."""
    clock = Clock(tmp_path / "clock")
    clock.set(at)
    monkeypatch.setenv("FACTORY_CLOCK_FILE", str(clock.path))
    monkeypatch.setenv("HARBOR_URL", registry.url)
    env = {
        "FACTORY_REPO": str(remote.new_clone("runner")),
        "HARBOR_URL": registry.url,
        "FACTORY_CLOCK_FILE": str(clock.path),
        **extra,
    }
    daemon = start_daemon(shipped_dagster_home(tmp_path / "home"), env, tmp_path / "daemon.log")
    return clock, daemon


def _lane_pin_metadata(home, asset: str = "lane_pin") -> dict:
    """The metadata of the lane's latest `asset` materialization (the Dagster UI's)."""
    import dagster as dg

    with dg.DagsterInstance.from_config(str(home)) as instance:
        event = instance.get_latest_materialization_event(dg.AssetKey(asset))
    if event is None:  # the run pushed its commit; its materialization is stored just after
        return {}
    metadata = event.asset_materialization.metadata
    return {key: value.value for key, value in metadata.items()}


def _soaking(home, text: str) -> str | None:
    shown = _lane_pin_metadata(home, "smoke_result").get("soak_prod") or ""
    return shown if shown.startswith(text) else None


def _request(remote, registry, repo: str, tag: str) -> str:
    return request_api(remote.new_clone(), registry, repo, tag).id


def test_the_daemon_holds_a_request_over_the_weekend_and_lets_it_go_at_monday_eight(
    tmp_path, gitops_remote, registry, endpoint, unique_repo, monkeypatch
):
    remote = gitops_remote
    ready = endpoint.script("/ready", Answer(200, b"ok"))
    window = '{kind: deny, schedule: "0 16 * * FRI", duration: 64h, timeZone: Europe/Berlin}'
    remote.commit_and_push(
        {
            "factory.yaml": f"environments:\n  dev: {{pins: pin-files, windows: [{window}]}}\n",
            "envs/dev/api.yaml": f"smoke:\n  url: {ready}\n  timeout_seconds: 5\n",
        },
        "no promotions over the weekend",
    )
    clock, daemon = _daemon(tmp_path, remote, registry, monkeypatch, FRIDAY_EVENING)
    try:
        rid = _request(remote, registry, unique_repo, "1.0")
        wait_for(
            lambda: _entry(remote, rid).get("window_since"),
            120,
            what=lambda: f"the window wait recorded\n{daemon.log()[-3000:]}",
        )
        held = _entry(remote, rid)
        assert (held["state"], held.get("attempts", 0)) == ("pending", 0)
        shown = wait_for(lambda: _lane_pin_metadata(tmp_path / "home").get("window"), 60)
        assert shown == "outside its window until Mon 08:00"
        clock.set(MONDAY_0800)
        wait_for(  # pinned, and recorded: the claim goes with the attempt's record
            lambda: _recorded(_entry(remote, rid)),
            120,
            what=lambda: f"api promoted on Monday\n{daemon.log()[-3000:]}",
        )
    finally:
        daemon.stop()
    done = _entry(remote, rid)
    assert done["attempts"] == 1 and not done.get("window_since")
    events = _events(remote, rid)
    assert events.count("window_wait") == 1 and events.count("window_open") == 1
    assert events.index("window_open") < events.index("attempt")
    assert validate_cli(remote.new_clone()).returncode == 0


def test_the_daemon_soaks_hands_off_and_rolls_a_confirmed_failure_back(
    tmp_path, gitops_remote, registry, endpoint, unique_repo, monkeypatch
):
    remote = gitops_remote
    ready = endpoint.script("/ready", Answer(200, b"ok"))
    pin = f"smoke:\n  url: {ready}\n  timeout_seconds: 5\n"
    remote.commit_and_push(
        {
            "factory.yaml": "environments:\n"
            "  dev: {pins: pin-files, auto_rollback: true, sync_window: 3m}\n"
            "  prod: {pins: pin-files, after: dev, soak: 30m}\n",
            "envs/dev/api.yaml": pin,
            "envs/prod/api.yaml": pin,
        },
        "dev -> prod after a soak; dev rolls back by itself",
    )
    # the recheck sensor looks once a minute (its floor), in the factory's clock's periods
    clock, daemon = _daemon(
        tmp_path,
        remote,
        registry,
        monkeypatch,
        T0,
        FACTORY_SMOKE_RECHECK_SECONDS="60",
        FACTORY_ENVS="dev",
    )
    log = lambda: daemon.log()[-4000:]  # noqa: E731
    try:
        good = _request(remote, registry, unique_repo, "1.0")
        wait_for(lambda: _entry(remote, good).get("smoke_verdict") == "passed", 120, what=log)
        assert [e for e in _entries(remote) if e["env"] == "prod"] == []  # soaking
        clock.set(T0 + timedelta(minutes=31))  # the next recheck ends the soak
        stage = wait_for(
            lambda: next((e for e in _entries(remote) if e["env"] == "prod"), None),
            150,
            what=lambda: f"the prod request after the soak\n{log()}",
        )
        assert stage["upstream"] == good

        endpoint.script("/ready", Answer.redirect("http://elsewhere.invalid/ready"))
        bad = _request(remote, registry, unique_repo, "2.0")
        wait_for(lambda: _entry(remote, bad).get("smoke_verdict") == "failed", 120, what=log)
        clock.set(T0 + timedelta(minutes=36))  # the next recheck confirms it
        rollback = wait_for(
            lambda: next((e for e in _entries(remote) if e.get("rollback_of") == bad), None),
            150,
            what=lambda: f"the automatic rollback\n{log()}",
        )
        endpoint.script("/ready", Answer(200, b"ok"))
        wait_for(
            lambda: _entry(remote, rollback["id"]).get("smoke_verdict") == "passed",
            120,
            what=lambda: f"the rollback healthy\n{log()}",
        )
    finally:
        daemon.stop()
    assert rollback["requested_by"] == "factory-auto-rollback"
    assert rollback["digest"] == _entry(remote, good)["digest"]
    assert len([e for e in _entries(remote) if e.get("rollback_of")]) == 1
    assert validate_cli(remote.new_clone()).returncode == 0


def test_the_daemon_restarts_a_soak_that_a_failed_verdict_interrupts(
    tmp_path, gitops_remote, registry, endpoint, unique_repo, monkeypatch
):
    remote = gitops_remote
    healthy, broken = Answer(200, b"ok"), Answer.redirect("http://elsewhere.invalid/ready")
    ready = endpoint.script("/ready", healthy)
    pin = f"smoke:\n  url: {ready}\n  timeout_seconds: 5\n"
    remote.commit_and_push(
        {
            "factory.yaml": "environments:\n"
            "  dev: {pins: pin-files}\n"
            "  prod: {pins: pin-files, after: dev, soak: 30m}\n",
            "envs/dev/api.yaml": pin,
            "envs/prod/api.yaml": pin,
        },
        "dev -> prod after a 30-minute soak",
    )
    clock, daemon = _daemon(
        tmp_path,
        remote,
        registry,
        monkeypatch,
        T0,
        FACTORY_SMOKE_RECHECK_SECONDS="60",
        FACTORY_ENVS="dev",
    )
    log = lambda: daemon.log()[-4000:]  # noqa: E731

    def prod() -> list[dict]:
        return [e for e in _entries(remote) if e["env"] == "prod"]

    try:
        rid = _request(remote, registry, unique_repo, "1.0")
        wait_for(lambda: _entry(remote, rid).get("smoke_verdict") == "passed", 120, what=log)
        endpoint.script("/ready", broken)
        clock.set(T0 + timedelta(minutes=10))  # the next recheck looks
        wait_for(lambda: _entry(remote, rid).get("smoke_verdict") == "failed", 150, what=log)
        endpoint.script("/ready", healthy)
        # 31 minutes after the first pass, but the clock starts again with this pass: no handoff
        clock.set(T0 + timedelta(minutes=31))
        shown = wait_for(  # the smoke_result's metadata in the Dagster UI says where it stands
            lambda: _soaking(tmp_path / "home", "soaking, 0 min of 30"),
            150,
            what=lambda: f"the check at minute 31\n{log()}",
        )
        assert "clock restarted by a failed verdict at 2026-12-07 09:10 UTC" in shown
        assert prod() == []
        clock.set(T0 + timedelta(minutes=62))  # 31 minutes since the restart: handed off
        (stage,) = wait_for(prod, 150, what=lambda: f"the prod request\n{log()}")
    finally:
        daemon.stop()
    clone = remote.new_clone()
    handoff = yaml.safe_load(
        (clone / "evidence" / "records" / f"{stage['evidence']}.json").read_text()
    )
    soak = handoff["details"]["soak"]
    assert soak["restarted_at"].startswith("2026-12-07T09:10")
    assert soak["began_at"].startswith("2026-12-07T09:31")
    assert soak["ended_at"].startswith("2026-12-07T10:02")
    assert validate_cli(clone).returncode == 0


def _repairs(remote) -> list[dict]:
    clone = remote.new_clone()
    found = [yaml.safe_load(p.read_text()) for p in (clone / "evidence" / "records").glob("*.json")]
    return [r for r in found if r["kind"] == "repair"]


def test_the_daemon_ignores_a_flake_rolls_back_once_and_escalates_a_broken_rollback(
    tmp_path, gitops_remote, registry, endpoint, unique_repo, monkeypatch
):
    remote = gitops_remote
    healthy, broken = Answer(200, b"ok"), Answer.redirect("http://elsewhere.invalid/ready")
    ready = endpoint.script("/ready", healthy)
    remote.commit_and_push(
        {
            "factory.yaml": "environments:\n"
            "  dev: {pins: pin-files, auto_rollback: true, sync_window: 3m}\n",
            "envs/dev/api.yaml": f"smoke:\n  url: {ready}\n  timeout_seconds: 5\n",
        },
        "dev rolls back by itself",
    )
    clock, daemon = _daemon(
        tmp_path, remote, registry, monkeypatch, T0, FACTORY_SMOKE_RECHECK_SECONDS="60"
    )
    log = lambda: daemon.log()[-4000:]  # noqa: E731

    def verdict_of(release_id: str, verdict: str, at_minute: int | None = None) -> None:
        if at_minute is not None:
            clock.set(T0 + timedelta(minutes=at_minute))  # the next recheck looks
        wait_for(
            lambda: _entry(remote, release_id).get("smoke_verdict") == verdict,
            150,
            what=lambda: f"{release_id} {verdict}\n{log()}",
        )

    def rollbacks() -> list[dict]:
        return [e for e in _entries(remote) if e.get("rollback_of")]

    try:
        good = _request(remote, registry, unique_repo, "1.0")
        verdict_of(good, "passed")
        endpoint.script("/ready", broken)
        clock.set(T0 + timedelta(minutes=10))
        bad = _request(remote, registry, unique_repo, "2.0")
        verdict_of(bad, "failed")
        endpoint.script("/ready", healthy)
        verdict_of(bad, "passed", at_minute=14)  # a flake: one broken look, then a pass
        endpoint.script("/ready", broken)
        verdict_of(bad, "failed", at_minute=16)  # a new suspicion, not a confirmation
        assert rollbacks() == []
        clock.set(T0 + timedelta(minutes=20))  # confirmed: the rollback goes (and breaks too)
        back = wait_for(lambda: rollbacks(), 150, what=lambda: f"the rollback\n{log()}")[0]
        verdict_of(back["id"], "failed")
        clock.set(T0 + timedelta(minutes=24))  # the rollback's failure confirmed: escalated
        wait_for(lambda: _repairs(remote), 150, what=lambda: f"the escalation\n{log()}")
    finally:
        daemon.stop()
    assert len(rollbacks()) == 1 and back["requested_by"] == "factory-auto-rollback"
    (escalation,) = _repairs(remote)
    assert "fails smoke too" in escalation["details"]["log_excerpt"]
    assert validate_cli(remote.new_clone()).returncode == 0
