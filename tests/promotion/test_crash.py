"""kill -9 at every step boundary of a promotion, then resume: consistent, no duplicate pin, nothing lost."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from factory_assets.evidence.validate import validate_repo
from tests.promotion.conftest import Deploy
from tests.support.oci import delete_manifest

REPO_ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow

# point -> attempts the release ends with after the resume (the killed claim counts when pushed)
CRASH_POINTS = {
    "claim_release:applied": 1,
    "claim_release:committed": 1,
    "claim_release:pushed": 2,
    "resolve_digest:done": 2,
    "write_pin:applied": 2,
    "write_pin:committed": 2,
    "write_pin:pushed": 1,
    "record_promotion:applied": 1,
    "record_promotion:committed": 1,
    "record_promotion:pushed": 1,
}


def killed_pass(deploy: Deploy, point: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "tests.promotion.racer",
            str(deploy.clone),
            "--registry",
            deploy.registry.url,
        ],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT), "FACTORY_CRASH_AT": point},
    )


@pytest.mark.parametrize("point", list(CRASH_POINTS))
def test_kill_then_resume(deploy: Deploy, point: str) -> None:
    digest = deploy.push("api", "v1")
    entry = deploy.add("api", tag="v1")
    crashed = killed_pass(deploy, point)
    assert crashed.returncode == -signal.SIGKILL, crashed.stderr  # it really died there

    result = deploy.run()  # same clone, same host: the dead runner's claim is stale at once
    assert result.ok, result.to_dict()
    (done,) = deploy.queue().entries  # nothing lost, nothing duplicated
    assert done.id == entry.id and done.state == "promoted" and done.digest == digest
    assert done.claimed_by is None and done.evidence and done.promoted_commit
    assert done.attempts == CRASH_POINTS[point]
    assert deploy.pin("api")["image"] == f"{deploy.image('api')}@{digest}"
    pin_commits = deploy.git(
        "log", "--format=%H", "--grep", f"Factory-Release: {entry.id}", "main"
    ).split()
    assert pin_commits == [done.promoted_commit]  # pinned exactly once
    record = json.loads(deploy.show(f"evidence/records/{done.evidence}.json"))
    assert record["result"] == "success" and record["links"]["commit"] == done.promoted_commit
    assert record["details"]["verification"]  # re-verified even when recovered
    recovered = point in (
        "write_pin:pushed",
        "record_promotion:applied",
        "record_promotion:committed",
    )
    assert record["details"]["event"] == ("recovered" if recovered else "attempt")
    if CRASH_POINTS[point] == 2:
        parent = json.loads(deploy.show(f"evidence/records/{record['parents'][0]['id']}.json"))
        assert (
            parent["details"]["event"] == "abandoned"
            and "process is gone" in parent["details"]["error"]
        )
    count, problems = validate_repo(deploy.remote.new_clone())
    assert problems == []
    assert deploy.run().outcomes == ()  # and the next pass has nothing left to do


def test_retention_keeps_a_pinned_release_whose_record_is_still_to_write(
    deploy: Deploy, monkeypatch
) -> None:
    """Two passes die after pushing their pins; the next pass finishes recording both, with
    retention at 0 days: compaction must not remove what that pass is about to record."""
    deploy.push("api", "v1")
    first = deploy.add("api", tag="v1")
    assert killed_pass(deploy, "write_pin:pushed").returncode == -signal.SIGKILL
    deploy.push("api", "v2")
    second = deploy.add("api", tag="v2")
    assert killed_pass(deploy, "write_pin:pushed").returncode == -signal.SIGKILL
    monkeypatch.setenv("FACTORY_RELEASE_RETENTION_DAYS", "0")
    result = deploy.run()
    assert result.ok, result.to_dict()
    entries = {e.id: e for e in deploy.queue().entries}
    assert entries[second.id].state == "promoted" and entries[second.id].evidence
    records = [
        json.loads(deploy.show(path))
        for path in deploy.git("ls-tree", "--name-only", "main", "evidence/records/").split()
        if path.endswith(".json")
    ]
    outcomes = {
        r["details"].get("release_id"): r["result"]
        for r in records
        if r["kind"] == "promotion" and r["details"].get("event") != "requested"
    }
    assert outcomes.get(first.id) in ("success", "superseded"), outcomes  # never lost


def test_a_recovered_pin_whose_digest_is_gone_says_so(deploy: Deploy) -> None:
    """The pin was pushed, then the image was deleted: the pin is live (a success), but the
    pass and its record both say the digest no longer verifies."""
    digest = deploy.push("api", "v1")
    entry = deploy.add("api", tag="v1")
    assert killed_pass(deploy, "write_pin:pushed").returncode == -signal.SIGKILL
    delete_manifest(deploy.registry, f"{deploy.prefix}/api", digest)
    result = deploy.run()
    (outcome,) = result.outcomes
    assert outcome.result == "success" and "re-verification failed" in (outcome.error or "")
    done = deploy.queue().by_id(entry.id)
    record = json.loads(deploy.show(f"evidence/records/{done.evidence}.json"))
    assert record["details"]["event"] == "recovered"
    assert "re-verification failed" in record["details"]["reason"]
