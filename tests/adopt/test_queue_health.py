"""queue-health.json in the deploy repository's shape, computed from the four-list queue."""

from __future__ import annotations

from datetime import UTC, datetime

import yaml

from factory_assets.layout.queue_health import queue_health, queue_health_text
from tests.support.ljwx_legacy import QUEUE

NOW = datetime(2026, 4, 1, 10, 0, 0, tzinfo=UTC)


def entry(id_: str, service: str, env: str, created: str, **extra) -> dict:
    return {"id": id_, "service": service, "env": env, "createdAt": created, "attempts": 0, **extra}


def test_the_fields_are_exactly_the_repository_ones():
    health = queue_health(yaml.safe_load(QUEUE), NOW)
    assert list(health) == ["generatedAt", "counts", "pending", "failed", "retries", "ratios"]
    assert list(health["counts"]) == ["pending", "promoted", "failed", "superseded"]
    assert list(health["pending"]) == [
        "oldestCreatedAt",
        "maxAgeSeconds",
        "staleThresholdSeconds",
        "staleIds",
        "byServiceEnv",
    ]
    assert list(health["failed"]) == ["last24h", "byServiceEnv"]
    assert list(health["retries"]) == ["pendingMaxAttempts", "failedMaxAttempts"]
    assert list(health["ratios"]) == ["supersededVsPromoted"]
    assert health["generatedAt"] == "2026-04-01T10:00:00Z"
    assert health["counts"] == {"pending": 1, "promoted": 1, "failed": 0, "superseded": 1}
    assert health["ratios"]["supersededVsPromoted"] == 0.5


def test_pending_age_stale_ids_and_grouping():
    data = {
        "pending": [
            entry("a", "web", "dev", "2026-04-01T09:45:00Z"),  # 15 min: not stale
            entry("b", "api", "dev", "2026-03-31T10:00:00Z", attempts=2),  # a day: stale
            entry("c", "api", "prod", "2026-04-01T09:29:59Z"),  # just over 30 min
        ],
        "promoted": [],
        "failed": [],
        "superseded": [],
    }
    pending = queue_health(data, NOW)["pending"]
    assert pending["oldestCreatedAt"] == "2026-03-31T10:00:00Z"
    assert pending["maxAgeSeconds"] == 86400
    assert pending["staleThresholdSeconds"] == 1800
    assert pending["staleIds"] == ["b", "c"]
    assert pending["byServiceEnv"] == {"api/dev": 1, "api/prod": 1, "web/dev": 1}
    assert queue_health(data, NOW)["retries"]["pendingMaxAttempts"] == 2


def test_failures_of_the_last_day_by_failed_at_else_created_at():
    failed = [
        entry("old", "web", "dev", "2026-03-01T00:00:00Z", failedAt="2026-03-30T09:00:00Z"),
        entry("recent", "web", "dev", "2026-03-01T00:00:00Z", failedAt="2026-04-01T08:00:00Z"),
        entry("no-failed-at", "api", "dev", "2026-04-01T07:00:00Z", failedAt="", attempts=10),
    ]
    data = {"pending": [], "promoted": [], "failed": failed, "superseded": []}
    health = queue_health(data, NOW)
    assert health["failed"] == {"last24h": 2, "byServiceEnv": {"api/dev": 1, "web/dev": 2}}
    assert health["retries"] == {"pendingMaxAttempts": 0, "failedMaxAttempts": 10}


def test_an_empty_queue():
    empty = {"pending": [], "promoted": [], "failed": [], "superseded": []}
    health = queue_health(empty, NOW)
    assert health["pending"]["oldestCreatedAt"] == ""
    assert health["pending"]["maxAgeSeconds"] == 0
    assert health["ratios"]["supersededVsPromoted"] == 0.0
    assert queue_health_text(empty, NOW).endswith("}\n")


def test_adopt_writes_it_and_release_status_json_reports_it(tmp_path, capsys):
    import json
    import subprocess

    from factory_assets.cli.main import main
    from tests.support.ljwx_legacy import make_legacy_repo

    clone = make_legacy_repo(tmp_path / "ljwx").clone
    assert main(["adopt", "--repo", str(clone)]) == 0
    adopted = tmp_path / "adopted"
    subprocess.run(
        ["git", "-C", str(clone), "worktree", "add", "--detach", str(adopted), "factory/adopt"],
        check=True,
        capture_output=True,
    )
    written = json.loads((adopted / "evidence/metrics/queue-health.json").read_text())
    assert written["counts"] == {"pending": 1, "promoted": 1, "failed": 0, "superseded": 1}
    assert written["pending"]["byServiceEnv"] == {"api/prod": 1}
    capsys.readouterr()
    assert main(["release", "status", "--json", "--repo", str(adopted)]) == 0
    health = json.loads(capsys.readouterr().out)["queue_health"]
    assert health["counts"] == written["counts"]
    assert health["pending"]["staleIds"] == ["20260401T091502Z-api-sha-4417092-prod"]
