"""The Dagster daemon on an ljwx-layout repository: a pushed four-list entry gets pinned in its
overlay; a prod entry waits for its replica, and harbor_sensor promotes it once it appears."""

from __future__ import annotations

import subprocess

import pytest

from tests.support.dagster_daemon import shipped_dagster_home, start_daemon, wait_for
from tests.support.evidence import validate_cli
from tests.support.ljwx import EMPTY_QUEUE, PUBLIC, LjwxRepo, rendered_images
from tests.support.queue_rules import queue_errors

pytestmark = pytest.mark.slow


def test_daemon_promotes_a_pushed_entry_and_a_replicated_one(tmp_path, ljwx: LjwxRepo, monkeypatch):
    env = {"FACTORY_REPO": str(ljwx.clone), **ljwx.env()}
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    api = ljwx.replicate("dev", "api", "api daemon")
    batch = ljwx.build("batch", "batch daemon")  # not on the prod Harbor yet
    at = "2026-04-08T10:00:00Z"
    pending = ljwx.entry("api", "dev", api, tag="sha-0000020", git_sha="'0000020'", at=at)
    pending += ljwx.entry("batch", "prod", batch, tag="sha-0000021", git_sha="'0000021'", at=at)
    daemon = start_daemon(shipped_dagster_home(tmp_path / "dagster_home"), env, tmp_path / "d.log")
    try:
        pusher = ljwx.remote.new_clone("service-ci")
        (pusher / "release" / "queue.yaml").write_text(
            EMPTY_QUEUE.replace("pending: []\n", "pending:\n" + pending)
        )
        subprocess.run(["git", "commit", "-qam", "queue(api): entries"], cwd=pusher, check=True)
        subprocess.run(["git", "push", "-q", "origin", "main"], cwd=pusher, check=True)
        wait_for(
            lambda: ljwx.find("20260408T100000Z-api-sha-0000020")[0] == "promoted",
            150,
            what=f"api promoted\n{daemon.log()[-3000:]}",
        )
        wait_for(
            lambda: "waitingSince" in str(ljwx.find("20260408T100000Z-batch-sha-0000021-prod")[1]),
            120,
            what=f"batch waiting\n{daemon.log()[-3000:]}",
        )
        assert ljwx.replicate("prod", "batch", "batch daemon") == batch
        wait_for(
            lambda: ljwx.find("20260408T100000Z-batch-sha-0000021-prod")[0] == "promoted",
            150,
            what=f"batch promoted after replication\n{daemon.log()[-3000:]}",
        )
    finally:
        daemon.stop()
    assert rendered_images(ljwx.remote.new_clone("a") / "apps/api/overlays/dev") == [
        f"{PUBLIC}/api@{api}"
    ]
    assert rendered_images(ljwx.remote.new_clone("b") / "apps/batch/overlays/prod") == [
        f"{PUBLIC}/batch@{batch}"
    ]
    assert queue_errors(ljwx.show("release/queue.yaml")) == []
    _, entry = ljwx.find("20260408T100000Z-batch-sha-0000021-prod")
    assert entry["attempts"] == 1  # the wait cost no attempt
    assert validate_cli(ljwx.remote.new_clone("validate")).returncode == 0
