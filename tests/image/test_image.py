"""The factory image, run the way the clusters will run it, against real parts on loopback.

A `docker-registry` is the dev Harbor, a deploy repository in the ljwx layout is served by
`git http-backend` behind a token (tests/image/git_http.py), and the Argo CD double reports
what kustomize renders at the remote's head (tests/pipeline/argocd_reconciler.py). Each
container runs as uid 10001 on a read-only root file system (tests/image/podman.py) and
clones the repository itself, through its entrypoint, with the token.

1. A runner (`factory promote`, the deploy repository's own variable names) pins a release in
   an overlay; its record says kustomize rendered the overlay.
2. A smoke runner (`factory smoke`) checks it through Argo CD and records the verdict.
3. `dagster-daemon` promotes a request pushed after it started, through the sensors.
4. The token is in no log, no process list (sampled while each container ran), no record and
   no object of the pushed repository.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import pytest

from tests.doubles.argocd import ArgoCDDouble
from tests.image import podman
from tests.image.conftest import FIGURES
from tests.image.git_http import GitHttpServer
from tests.pipeline.argocd_reconciler import Reconciler
from tests.support.dagster_daemon import wait_for
from tests.support.evidence import validate_cli
from tests.support.ljwx import EMPTY_QUEUE, PUBLIC, LjwxRepo, rendered_images

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

LAYOUT = """\
queue: {path: release/queue.yaml, format: four-lists}
service_map: release/services.yaml
smoke_targets: scripts/smoke/targets.json
environments:
  dev: {pins: overlays}
  prod: {pins: overlays}
"""
# What a pin's record says when the image's own kustomize rendered the overlay.
PROOF = "kubectl kustomize (kustomize v5.8.1): the rendered manifests use "
TARGETS = {
    "targets": [
        {"service": "api", "environment": "dev", "argocd_app": "api-dev", "endpoint": ""},
    ]
}


def _seed(ljwx: LjwxRepo) -> None:
    ljwx.remote.commit_and_push(
        {"factory.yaml": LAYOUT, "scripts/smoke/targets.json": json.dumps(TARGETS)}, "smoke targets"
    )


def _queue(ljwx: LjwxRepo, entry: str) -> None:
    ljwx.remote.commit_and_push(
        {"release/queue.yaml": EMPTY_QUEUE.replace("pending: []\n", "pending:\n" + entry)},
        "queue(api): a request",
    )


def _records(ljwx: LjwxRepo, name: str) -> list[dict]:
    records = ljwx.remote.new_clone(name) / "evidence" / "records"
    return [json.loads(p.read_text()) for p in sorted(records.glob("*.json"))]


def _every_object(bare: Path) -> str:
    """Every object the remote holds (commits, trees, blobs), as text."""
    return subprocess.run(
        ["git", "--git-dir", str(bare), "cat-file", "--batch-all-objects", "--batch"],
        capture_output=True,
        check=True,
    ).stdout.decode("utf-8", "replace")


def _assert_token_unseen(secret: str, containers: list[podman.Container], bare: Path) -> None:
    for container in containers:
        seen = "\n".join(container.ps)
        # sampled while it worked: its command, and git fetching or pushing with the token
        assert container.command in seen and "git push" in seen, seen
        assert secret not in seen, f"{container.name}: the token is in ps"
        assert secret not in container.logs(), f"{container.name}: the token is in its log"
    assert secret not in _every_object(bare), "the token is in the pushed repository"


def _seconds(container: podman.Container) -> float:
    started, finished = container.timing()
    assert finished is not None
    return (finished - started).total_seconds()


def test_the_image_is_the_one_the_manifests_run(image: str, tmp_path: Path):
    config = json.loads(podman.podman("image", "inspect", image).stdout)[0]
    assert config["Config"]["User"] == "10001:10001"
    env = dict(item.split("=", 1) for item in config["Config"]["Env"])
    assert {env["HOME"], env["FACTORY_REPO"], env["DAGSTER_HOME"]} == {
        "/work/home",
        "/work/repo",
        "/work/dagster_home",
    }
    assert env["PATH"].startswith("/opt/venv/bin:")
    assert not [key for key in env if key.startswith("PIP_")]  # build settings stay out
    FIGURES["image size"] = f"{config['Size'] / 1e6:.0f} MB ({image})"
    # read-only, unprivileged, nothing mounted: the CLI starts, the pinned kustomize is there,
    # and neither a pip configuration nor the sources were left behind
    done = podman.podman(
        "run",
        "--rm",
        "--read-only",
        "--user=10001:10001",
        image,
        "sh",
        "-c",
        "factory --help >/dev/null; echo factory: $?; kubectl version --client 2>&1;"
        " ls -d /etc/pip.conf /etc/xdg/pip /src /run/secrets 2>&1 || true",
    )
    lines = done.stdout.splitlines()
    assert "factory: 0" in lines, done.stdout
    assert "Kustomize Version: v5.8.1" in lines, done.stdout
    assert sum("No such file or directory" in line for line in lines) == 4, done.stdout
    # a DAGSTER_HOME on the volume without a dagster.yaml gets the one-machine file
    work = tmp_path / "work"
    work.mkdir()
    os.chown(work, podman.UID, podman.UID)
    seeded = podman.podman(
        "run", "--rm", *podman.HARDENING, f"--volume={work}:/work", image, "true"
    )
    assert seeded.returncode == 0
    shipped = (podman.ROOT / "deploy" / "dagster.yaml").read_text()
    assert (work / "dagster_home" / "dagster.yaml").read_text() == shipped


def test_a_runner_pins_with_kustomize_and_a_smoke_runner_checks_it(
    image: str,
    ljwx: LjwxRepo,
    git_server: GitHttpServer,
    argocd: ArgoCDDouble,
    token: str,
    tmp_path: Path,
):
    _seed(ljwx)
    api = ljwx.replicate("dev", "api", "api image test")
    release = "20260501T090000Z-api-sha-1a2b3c4"
    _queue(
        ljwx,
        ljwx.entry(
            "api", "dev", api, tag="sha-1a2b3c4", git_sha="1a2b3c4", at="2026-05-01T09:00:00Z"
        ),
    )
    url = git_server.url_for(ljwx.remote.bare)
    # The legacy CronJob's names (DEPLOY_REPO_*, ENV_ALLOWLIST): the same Secret keeps working.
    runner = podman.start(
        image,
        ["factory", "promote"],
        env={"DEPLOY_REPO_URL": url, "ENV_ALLOWLIST": "dev", **ljwx.env()},
        secrets={"DEPLOY_REPO_TOKEN": token},
        work=tmp_path / "runner",
        name="runner",
    )
    containers = [runner]
    reconciler = None
    try:
        assert runner.wait(300) == 0, runner.logs()
        FIGURES["runner: container start to its first pass done"] = f"{_seconds(runner):.1f} s"
        assert ljwx.find(release)[0] == "promoted", runner.logs()
        overlay = ljwx.remote.new_clone("rendered") / "apps/api/overlays/dev"
        assert rendered_images(overlay) == [f"{PUBLIC}/api@{api}"]
        (promotion,) = [
            r
            for r in _records(ljwx, "after-promote")
            if r["kind"] == "promotion" and r["details"]["release_id"] == release
        ]
        proof = promotion["details"]["pin_proof"]
        assert proof.startswith(PROOF) and proof.endswith(f"{PUBLIC}/api@{api}"), proof

        reconciler = Reconciler(argocd, ljwx.remote.bare, {"api-dev": "apps/api/overlays/dev"})
        reconciler.start()
        smoke = podman.start(
            image,
            ["factory", "smoke"],
            env={"GIT_REPO_URL": url, "FACTORY_ENVS": "dev", "ARGOCD_URL": argocd.url},
            secrets={"GIT_TOKEN": token, "ARGOCD_TOKEN": argocd.token},
            work=tmp_path / "smoke",
            name="smoke",
        )
        containers.append(smoke)
        assert smoke.wait(300) == 0, smoke.logs()
        FIGURES["smoke runner: container start to its check recorded"] = f"{_seconds(smoke):.1f} s"
        verdicts = [
            r["details"]
            for r in _records(ljwx, "after-smoke")
            if r["kind"] == "smoke" and r["service"] == "api"
        ]
        assert [(v["verdict"], v["digest"], v["target"]) for v in verdicts] == [
            ("passed", api, "argocd:api-dev")
        ]
        _assert_token_unseen(token, containers, ljwx.remote.bare)
        assert argocd.token not in smoke.logs() + "\n".join(smoke.ps)
        assert validate_cli(ljwx.remote.new_clone("validate")).returncode == 0
        assert any(s.authorized and s.method == "POST" for s in git_server.seen)  # pushed
        assert not any(s.authorized is False and s.method == "POST" for s in git_server.seen)
    finally:
        if reconciler is not None:
            reconciler.stop()
        for container in containers:
            container.remove()


def test_the_daemon_promotes_a_request_pushed_after_it_started(
    image: str, ljwx: LjwxRepo, git_server: GitHttpServer, token: str, tmp_path: Path
):
    _seed(ljwx)
    api = ljwx.replicate("dev", "api", "api image daemon")
    release = "20260501T100000Z-api-sha-5d6e7f8"
    entry = ljwx.entry(
        "api", "dev", api, tag="sha-5d6e7f8", git_sha="5d6e7f8", at="2026-05-01T10:00:00Z"
    )
    url = git_server.url_for(ljwx.remote.bare)
    began = time.monotonic()
    daemon = podman.start(
        image,
        ["dagster-daemon", "run", "-w", "/opt/factory/workspace.yaml"],
        env={"GIT_REPO_URL": url, "FACTORY_ENVS": "dev", **ljwx.env()},
        secrets={"GIT_TOKEN": token},
        work=tmp_path / "daemon",
        name="daemon",
    )
    try:
        try:
            wait_for(
                lambda: "SensorDaemon" in daemon.logs() or not daemon.running(),
                180,
                what="the daemon to start its sensors",
            )
            assert daemon.running(), "the daemon exited"
            ready = time.monotonic()
            _queue(ljwx, entry)
            wait_for(
                lambda: ljwx.find(release)[0] == "promoted",
                300,
                what=f"the daemon to pin {release}",
            )
            pinned = time.monotonic()
            assert daemon.running(), "the daemon exited"
        except (AssertionError, TimeoutError) as failure:
            raise AssertionError(f"{failure}\n{daemon.logs()[-4000:]}") from None
        finally:
            daemon.stop()
        FIGURES["daemon: container start to its sensors running"] = f"{ready - began:.1f} s"
        FIGURES["daemon: request pushed to pinned"] = f"{pinned - ready:.1f} s"
        overlay = ljwx.remote.new_clone("rendered") / "apps/api/overlays/dev"
        assert rendered_images(overlay) == [f"{PUBLIC}/api@{api}"]
        (promotion,) = [
            r
            for r in _records(ljwx, "after-daemon")
            if r["kind"] == "promotion" and r["details"]["release_id"] == release
        ]
        assert promotion["details"]["pin_proof"].startswith(PROOF)
        _assert_token_unseen(token, [daemon], ljwx.remote.bare)
    finally:
        daemon.remove()
