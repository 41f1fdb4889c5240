"""DORA figures on a small history worked out by hand: deployment frequency, lead time,
change failure rate and time to restore, over every environment and per environment.

The history is an adopted repository's: three legacy promotions (imported by adopt's own
reader, as `factory adopt` imports them) and then three of the factory's.

    legacy  L1  api  dev   synced 03-01 10:00  smoke pass 10:05
    legacy  L2  api  dev   synced 03-02 10:00  smoke fail 10:10
    legacy  L3  api  prod  synced 03-02 12:00  smoke pending
    factory P1  api  dev   requested 03-03 08:50, pinned 09:00; smoke passed 09:20
    factory P2  api  prod  requested 03-03 11:00, pinned 12:00; smoke failed 12:10,
                                                 failed again 12:20, passed 12:40
    factory P3  web  dev   requested 03-04 09:58, pinned 10:00; smoke passed 10:03
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from factory_assets.adopt.legacy_records import read_legacy_records
from factory_assets.evidence.model import EvidenceRecord
from factory_assets.evidence.store import append_record, append_records, new_body
from factory_assets.site.build import SiteLinks, build_site

DIGEST = {n: f"sha256:{n * 64}" for n in "abcdef"}
MIN = 60_000  # ms
HOUR = 60 * MIN


def _legacy(name: str, env: str, digest: str, synced: str, smoke: str, checked: str) -> str:
    """A record as the legacy promoter and smoke job left it (reference section 7)."""
    service = name.split("-")[1]
    return f"""\
evidenceId: {name}
service: {service}
env: {env}
source:
  repo: ghcr.example/acme/{service}
  commit: '{name.rsplit("-", 1)[1]}'
image:
  deployed: ghcr.example/acme/{service}@{digest}
deploy:
  deployRepoCommit: 3b1f0c9d8e7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c
  queueId: 20260301T000000Z-{name}
  syncedAt: '{synced}'
tests:
  smoke:
    status: {smoke}
    checkedAt: '{checked}'
approvals: {{}}
"""


LEGACY = {
    "20260301-api-1111111": (
        "dev",
        DIGEST["a"],
        "2026-03-01T10:00:00Z",
        "pass",
        "2026-03-01T10:05:00Z",
    ),
    "20260302-api-2222222": (
        "dev",
        DIGEST["b"],
        "2026-03-02T10:00:00Z",
        "fail",
        "2026-03-02T10:10:00Z",
    ),
    "20260302-api-3333333": ("prod", DIGEST["b"], "2026-03-02T12:00:00Z", "pending", ""),
}


def _at(day: int, hour: int, minute: int) -> str:
    return f"2026-03-{day:02d}T{hour:02d}:{minute:02d}:00.000000Z"


def _pinned(repo, service, env, release, digest, requested, pinned) -> EvidenceRecord:
    details = {"release_id": release, "env": env, "digest": digest, "requested_at": requested}
    return append_record(
        repo,
        new_body(
            kind="promotion",
            service=service,
            result="success",
            details={**details, "event": "attempt", "attempt": 1},
            started_at=requested,
            finished_at=pinned,
        ),
    )


def _smoke(repo, pin: EvidenceRecord, verdict: str, at: str, **found) -> None:
    """A smoke record of `pin`; `found`, the kind and error the check recorded."""
    d = pin.details
    append_record(
        repo,
        new_body(
            kind="smoke",
            service=pin.service,
            result="success" if verdict == "passed" else "failure",
            details={
                "method": "http",
                "verdict": verdict,
                "env": d.env,
                "release_id": d.release_id,
                "digest": d.digest,
                **found,
            },
            started_at=pin.finished_at,
            finished_at=at,
        ),
    )


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The site built from the history above."""
    root = tmp_path_factory.mktemp("metrics")
    repo = root / "repo"
    records = repo / "evidence" / "records"
    records.mkdir(parents=True)
    blobs = {}
    for n, (name, (env, digest, synced, smoke, checked)) in enumerate(LEGACY.items()):
        (records / f"{name}.yaml").write_text(_legacy(name, env, digest, synced, smoke, checked))
        blobs[f"evidence/records/{name}.yaml"] = f"{n:040x}"
    imported = read_legacy_records(repo, blobs)  # what `factory adopt` seals first
    for path in blobs:
        (repo / path).unlink()  # adopt moves them to evidence/legacy/
    append_records(repo, [r.body for r in imported])
    p1 = _pinned(repo, "api", "dev", "p1", DIGEST["c"], _at(3, 8, 50), _at(3, 9, 0))
    _smoke(repo, p1, "passed", _at(3, 9, 20))
    p2 = _pinned(repo, "api", "prod", "p2", DIGEST["d"], _at(3, 11, 0), _at(3, 12, 0))
    _smoke(repo, p2, "failed", _at(3, 12, 10))
    _smoke(repo, p2, "failed", _at(3, 12, 20))
    _smoke(repo, p2, "passed", _at(3, 12, 40))
    p3 = _pinned(repo, "web", "dev", "p3", DIGEST["e"], _at(4, 9, 58), _at(4, 10, 0))
    _smoke(repo, p3, "passed", _at(4, 10, 3))
    return build_site(repo, root / "site", links=SiteLinks()).out_dir


def _metrics(site: Path) -> dict:
    return json.loads((site / "data" / "metrics.json").read_bytes())


def test_deployments_count_legacy_promotions_at_their_own_times(history: Path):
    """Deployment frequency, and the lead time of the deployments that have a request time."""
    metrics = _metrics(history)
    # L1, L2, L3 (imported), P1, P2, P3: six deployments in the 90 days up to 03-04
    # (the page shows 6 * 7 / 90 = 0.5 a week); per day 03-01: L1; 03-02: L2, L3;
    # 03-03: P1, P2; 03-04: P3.
    assert metrics["days"][-1] == "2026-03-04"
    assert metrics["tiles"]["deployments"] == 6
    assert metrics["series"]["deployments"][-4:] == [1, 2, 2, 1]
    # dev: L1, L2, P1, P3; prod: L3, P2.
    by_env = metrics["by_env"]
    assert {env: t["deployments"] for env, t in by_env.items()} == {"dev": 4, "prod": 2}
    # Lead time: P1 08:50 -> 09:00 = 10 min, P2 11:00 -> 12:00 = 60 min, P3 09:58 -> 10:00 = 2 min;
    # a legacy record holds no request time. Sorted [2, 10, 60]: the median is 10 min, the
    # p90 the 3rd of 3 (index (3 * 9 - 1) // 10 = 2), 60 min.
    assert metrics["tiles"]["lead_time_ms"] == {"count": 3, "median": 10 * MIN, "p90": 60 * MIN}
    # dev [2, 10]: the lower median, 2 min; prod [60].
    assert metrics["by_env"]["dev"]["lead_time_ms"] == {
        "count": 2,
        "median": 2 * MIN,
        "p90": 10 * MIN,
    }
    assert metrics["by_env"]["prod"]["lead_time_ms"] == {
        "count": 1,
        "median": 60 * MIN,
        "p90": 60 * MIN,
    }


def test_change_failure_rate_is_the_share_of_deployments_that_failed(history: Path):
    metrics = _metrics(history)
    # Failed: L2 (its legacy smoke: fail) and P2 (two failed checks, one deployment).
    # 2 of 6 = 33.3 %; dev: L2 of 4 = 25 %; prod: P2 of 2 = 50 %. Three failed checks in all.
    tiles, by_env = metrics["tiles"], metrics["by_env"]
    assert (tiles["failed_deployments"], tiles["deployments"], tiles["failed_smokes"]) == (2, 6, 3)
    assert (by_env["dev"]["failed_deployments"], by_env["dev"]["deployments"]) == (1, 4)
    assert (by_env["prod"]["failed_deployments"], by_env["prod"]["deployments"]) == (1, 2)
    for t in (tiles, *by_env.values()):
        assert t["failed_deployments"] <= t["deployments"]


def test_time_to_restore_runs_from_a_failure_to_the_next_healthy_deployment(history: Path):
    metrics = _metrics(history)
    # dev: L2 failed 03-02 10:10; the next healthy deployment of api dev is P1, its check
    # passed 03-03 09:20: 23 h 10 min = 83,400,000 ms.
    # prod: P2's first failure 12:10 (the second, 12:20, changes nothing) -> passed 12:40:
    # 30 min. Both: [30 min, 23 h 10 min], lower median 30 min, p90 index 1: 23 h 10 min.
    dev_restore = 23 * HOUR + 10 * MIN
    assert metrics["tiles"]["restore_ms"] == {"count": 2, "median": 30 * MIN, "p90": dev_restore}
    assert metrics["by_env"]["dev"]["restore_ms"] == {
        "count": 1,
        "median": dev_restore,
        "p90": dev_restore,
    }
    assert metrics["by_env"]["prod"]["restore_ms"] == {
        "count": 1,
        "median": 30 * MIN,
        "p90": 30 * MIN,
    }


@pytest.mark.slow
@pytest.mark.xdist_group("chromium")
def test_the_page_shows_the_figures(history: Path, browser, serve):
    page = browser.new_page()
    try:
        page.open(serve(history))
        page.wait_for("document.querySelectorAll('#dora-envs tbody tr').length === 2")
        tiles = page.eval(
            "Object.fromEntries([...document.querySelectorAll('#dora .tile')].map(t => "
            "[t.dataset.metric, t.querySelector('.value').textContent]))"
        )
        assert (tiles["deployment_frequency"], tiles["lead_time"]) == ("0.5 / week", "10.0 min")
        assert (tiles["change_failure_rate"], tiles["time_to_restore"]) == ("33.3 %", "30.0 min")
        envs = page.eval(
            "[...document.querySelectorAll('#dora-envs tbody tr')]"
            ".map(tr => [...tr.children].map(c => c.textContent))"
        )
        assert envs == [
            ["dev", "4", "2.0 min", "25.0 %", "23.2 h"],
            ["prod", "2", "60.0 min", "50.0 %", "30.0 min"],
        ]
    finally:
        page.close()


def test_a_check_that_could_not_judge_the_pin_is_no_failure(tmp_path: Path):
    """A prod pin checked against a cluster whose Argo CD does not know the app (403: a
    `not_found` kind, and the same written before kinds were, as `error: unknown_app`) and
    with a refused token, then passed: no failed deployment, no failed check, nothing to
    restore. A degraded check of a dev pin is still a failure: 1 of 2 deployments."""
    repo = tmp_path / "repo"
    (repo / "evidence" / "records").mkdir(parents=True)
    prod = _pinned(repo, "api", "prod", "p1", DIGEST["a"], _at(3, 8, 0), _at(3, 9, 0))
    _smoke(repo, prod, "failed", _at(3, 9, 5), verdict_kind="not_found", error="unknown_app")
    _smoke(repo, prod, "failed", _at(3, 9, 6), error="unknown_app")
    _smoke(repo, prod, "failed", _at(3, 9, 7), verdict_kind="unauthorized", error="auth")
    _smoke(repo, prod, "passed", _at(3, 9, 30), verdict_kind="passed")
    dev = _pinned(repo, "api", "dev", "d1", DIGEST["b"], _at(3, 10, 0), _at(3, 11, 0))
    _smoke(repo, dev, "failed", _at(3, 11, 5), verdict_kind="degraded")
    _smoke(repo, dev, "passed", _at(3, 11, 25), verdict_kind="passed")
    metrics = _metrics(build_site(repo, tmp_path / "site", links=SiteLinks()).out_dir)
    tiles, prod_tiles = metrics["tiles"], metrics["by_env"]["prod"]
    assert (prod_tiles["failed_deployments"], prod_tiles["failed_smokes"]) == (0, 0)
    assert prod_tiles["restore_ms"]["count"] == 0
    # dev: degraded at 11:05, passed 11:25: 20 min to restore, the one restore overall.
    assert (tiles["failed_deployments"], tiles["deployments"], tiles["failed_smokes"]) == (1, 2, 1)
    assert tiles["restore_ms"] == {"count": 1, "median": 20 * MIN, "p90": 20 * MIN}
