"""Two promoters in separate processes, on separate clones, racing on one bare remote."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from factory_assets.common import roundtrip_yaml
from factory_assets.evidence.validate import validate_repo
from tests.promotion.conftest import Deploy

REPO_ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow


def start_racer(deploy: Deploy, clone: Path, go: Path, *extra: str) -> subprocess.Popen:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.promotion.racer",
            str(clone),
            "--registry",
            deploy.registry.url,
            "--go",
            str(go),
            *extra,
        ],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
    )


def race(deploy: Deploy, tmp_path: Path, extras: list[list[str]]) -> list[dict]:
    go = tmp_path / "go"
    racers = [start_racer(deploy, deploy.remote.new_clone(), go, *extra) for extra in extras]
    deadline = time.monotonic() + 30
    while len(list(tmp_path.glob("go.ready.*"))) < len(racers) and time.monotonic() < deadline:
        time.sleep(0.02)  # every racer has imported everything: release them together
    go.touch()
    results = []
    for racer in racers:
        out, err = racer.communicate(timeout=60)
        assert racer.returncode == 0, err
        results.append(json.loads(out))
    for path in tmp_path.glob("go*"):
        path.unlink()
    return results


def pin_history(deploy: Deploy, service: str) -> list[str]:
    """The release_id of every version of the pin on main, oldest first."""
    shas = deploy.git(
        "log", "--reverse", "--format=%H", "main", "--", f"envs/dev/{service}.yaml"
    ).split()
    ids = []
    for sha in shas:
        text = deploy.git("show", f"{sha}:envs/dev/{service}.yaml")
        ids.append(str(roundtrip_yaml.loads(text, "pin")["release_id"]))
    return ids


def assert_consistent(deploy: Deploy) -> None:
    clone = deploy.remote.new_clone()
    count, problems = validate_repo(clone)
    assert problems == [], problems  # one evidence chain, no fork, no gap


def test_two_promoters_one_release_pin_once(deploy: Deploy, tmp_path: Path) -> None:
    digest = deploy.push("api", "v1")
    entry = deploy.add("api", tag="v1")
    results = race(deploy, tmp_path, [[], []])
    outcomes = [o for r in results for o in r["outcomes"]]
    successes = [o for o in outcomes if o["result"] == "success"]
    assert len(successes) == 1 and successes[0]["digest"] == digest
    others = [o for o in outcomes if o["result"] != "success"]
    assert all(
        o["result"] == "retry" and not o["attempted"] for o in others
    )  # saw the claim: waited
    assert pin_history(deploy, "api") == [entry.id]  # pinned exactly once
    done = deploy.queue().by_id(entry.id)
    assert (done.state, done.attempts) == ("promoted", 1)
    assert_consistent(deploy)


def test_two_promoters_two_releases_never_interleave(
    gitops_remote, fault_proxy, tmp_path: Path
) -> None:
    deploy = Deploy(gitops_remote, fault_proxy)
    image = deploy.image("api")
    for tag in ("a", "b"):
        deploy.push("api", tag)
    # A slow registry keeps both passes in flight at once: they must meet on the claim.
    fault_proxy.delay_next(100, 1.0, path="/manifests/")
    results = race(deploy, tmp_path, [["--add", "api", image, "a"], ["--add", "api", image, "b"]])
    queue = deploy.queue()
    assert len(queue.entries) == 2  # no entry lost
    outcomes = [o for r in results for o in r["outcomes"]]
    print(
        "race notes:",
        [r["notes"] for r in results],
        [(o["release_id"], o["result"]) for o in outcomes],
    )
    assert [o["result"] for o in outcomes].count("success") == 1
    fault_proxy.clear_faults()
    promoted = [e for e in queue.entries if e.state == "promoted"]
    assert len(promoted) == 1
    (other,) = [e for e in queue.entries if e.state != "promoted"]
    if other.state == "superseded":
        assert (
            other.superseded_by == promoted[0].id and other.requested_at <= promoted[0].requested_at
        )
    else:  # it waited for the other runner's claim: a later pass promotes it
        assert other.state == "pending" and other.attempts == 0
        assert deploy.run().ok
    history = pin_history(deploy, "api")
    assert len(history) == len(set(history))  # never the same release pinned twice
    requested = {e.id: e.requested_at for e in deploy.queue().entries}
    assert [requested[i] for i in history] == sorted(requested[i] for i in history)  # never older
    assert_consistent(deploy)


def test_many_services_from_two_clones(deploy: Deploy, tmp_path: Path) -> None:
    services = [f"s{n}" for n in range(4)]
    for name in services:
        deploy.push(name, "v1")
    deploy.add_many(services)
    results = race(deploy, tmp_path, [[], []])
    outcomes = [o for r in results for o in r["outcomes"]]
    wins = sorted(o["service"] for o in outcomes if o["result"] == "success")
    assert wins == services  # each service pinned once, by whichever runner claimed it first
    for name in services:
        assert len(pin_history(deploy, name)) == 1
    assert_consistent(deploy)
