"""End to end through `dagster-daemon run`: entries pushed from another clone get pinned on the remote."""

from __future__ import annotations

import json
import subprocess

import pytest
import yaml

from factory_assets.release.add import add_release, append_entry, build_entry
from factory_assets.release.queue_file import load_queue
from tests.support.dagster_daemon import shipped_dagster_home, start_daemon, wait_for
from tests.support.evidence import validate_cli
from tests.support.oci import push_image

pytestmark = pytest.mark.slow


def remote_file(remote, path: str) -> str | None:
    return remote.show(path)


def pinned_digest(remote, service: str) -> str | None:
    text = remote_file(remote, f"envs/dev/{service}.yaml") or ""
    for line in text.splitlines():
        if line.startswith("image:") and "@" in line:
            return line.split("@", 1)[1].strip()
    return None


def recorded_result(remote, release_id: str) -> str | None:
    """The result of the record the remote's queue entry names (None before it has one)."""
    queue = yaml.safe_load(remote_file(remote, "release/queue.yaml") or "") or {}
    for entry in queue.get("releases") or ():
        if entry.get("id") == release_id and entry.get("evidence"):
            record = remote_file(remote, f"evidence/records/{entry['evidence']}.json")
            return json.loads(record)["result"] if record else None
    return None


def test_daemon_promotes_supersedes_and_retries(
    tmp_path, registry, make_fault_proxy, unique_repo, gitops_remote, monkeypatch
):
    proxy = make_fault_proxy(registry)
    env = {
        "FACTORY_REPO": str(gitops_remote.clone),
        "HARBOR_URL": proxy.url,
        "FACTORY_RETRY_BASE_SECONDS": "2",
        "FACTORY_RETRY_MAX_SECONDS": "4",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    images = {svc: f"{unique_repo}-{svc}" for svc in ("api", "web", "pay")}
    digests = {
        "api": push_image(registry, images["api"], "1.0.0", content=b"api"),
        "web1": push_image(registry, images["web"], "1.0.1", content=b"web1"),
        "web2": push_image(registry, images["web"], "1.0.2", content=b"web2"),
        "web3": push_image(registry, images["web"], "1.0.3", content=b"web3"),
        "pay": push_image(registry, images["pay"], "1.0.0", content=b"pay"),
    }
    image = {svc: proxy.image(repo) for svc, repo in images.items()}
    daemon = start_daemon(
        shipped_dagster_home(tmp_path / "dagster_home"), env, tmp_path / "daemon.log"
    )
    try:
        pusher = gitops_remote.new_clone("pusher")
        # 1. One entry, pushed from another clone.
        add_release(
            pusher, service="api", tag="1.0.0", image=image["api"], requested_by="dev", push=True
        )

        # 2. Three entries for one service in one push: only the newest is pinned.
        def add_three(tree):
            return [
                append_entry(
                    tree,
                    build_entry(
                        tree, service="web", tag=tag, image=image["web"], requested_by="dev"
                    ),
                    record=False,
                ).entry
                for tag in ("1.0.1", "1.0.2", "1.0.3")
            ]

        subprocess.run(["git", "pull", "-q", "--ff-only"], cwd=pusher, check=True)
        web = add_three(pusher)
        subprocess.run(["git", "commit", "-qam", "three web releases"], cwd=pusher, check=True)
        subprocess.run(["git", "push", "-q", "origin", "main"], cwd=pusher, check=True)
        # 3. A transient registry failure: the first attempt fails, the retry after back-off pins.
        proxy.fail_next(6, 503, path=rf"/v2/{images['pay']}/manifests/")
        pay = add_release(
            pusher, service="pay", tag="1.0.0", image=image["pay"], requested_by="dev", push=True
        ).entry

        wait_for(
            lambda: pinned_digest(gitops_remote, "api") == digests["api"],
            120,
            what=lambda: f"api pin\n{daemon.log()[-3000:]}",
        )
        wait_for(
            lambda: pinned_digest(gitops_remote, "web") == digests["web3"],
            120,
            what=lambda: f"web pin\n{daemon.log()[-3000:]}",
        )
        wait_for(
            lambda: pinned_digest(gitops_remote, "pay") == digests["pay"],
            150,
            what=lambda: f"pay pin\n{daemon.log()[-3000:]}",
        )
        # The pin lands first; the attempt's success record follows in its own commit.
        wait_for(
            lambda: recorded_result(gitops_remote, pay.id) == "success",
            60,
            what=lambda: f"pay success record\n{daemon.log()[-3000:]}",
        )
    finally:
        daemon.stop()

    fresh = gitops_remote.new_clone("verify")
    entries = {e.id: e for e in load_queue(fresh).queue.entries}
    web1, web2, web3 = web
    assert entries[web3.id].state == "promoted"
    assert {entries[web1.id].state, entries[web2.id].state} == {"superseded"}
    assert entries[web1.id].superseded_by == web3.id
    pay = entries[pay.id]
    # The pin came from a retry: the first attempt failed on the 503s and was recorded so.
    assert pay.state == "promoted" and pay.attempts >= 2, pay
    records = [
        json.loads(path.read_text()) for path in (fresh / "evidence" / "records").glob("*.json")
    ]
    pay_records = sorted(  # the release's promotion records (its smoke records name it too)
        (
            r
            for r in records
            if r["kind"] == "promotion" and r["details"].get("release_id") == pay.id
        ),
        key=lambda r: r["integrity"]["sequence"],
    )
    history = [
        (r["result"], r["details"].get("event"), r["details"].get("attempt")) for r in pay_records
    ]
    failed = [r for r in pay_records if r["result"] == "failure"]
    assert failed, history
    first = failed[0]["details"]
    assert (first["event"], first["attempt"], first["retryable"]) == ("attempt", 1, True), first
    assert "503" in first["error"], first["error"]
    assert first["next_attempt_at"], first
    success = [r for r in pay_records if r["result"] == "success"]
    assert success, history
    success = success[-1]
    assert success["details"]["attempt"] == pay.attempts >= 2
    assert success["integrity"]["sequence"] > failed[-1]["integrity"]["sequence"]
    proc = validate_cli(fresh)
    assert proc.returncode == 0, proc.stderr
