"""Adopt, merge, and run, as the two clusters would.

The repository (tests/support/ljwx_legacy.py) has legacy records (two colliding on one
id, one broken), a dev entry whose image has not reached the dev Harbor yet, a prod entry, the
promoter and smoke CronJobs and the workflows. After `adopt --dry-run` (nothing changes),
`adopt` and the merge:

- the dev cluster runs the real `dagster-daemon`, with the environment its adopted runners
  declare (the legacy variable names, the Secret's keys), against a Basic-auth registry;
- the prod cluster runs its adopted CronJob's command, `factory promote`, with that
  manifest's environment;

and then the nightly's commands validate, collect and publish. Real registries, git remotes,
kustomize and Dagster throughout.
"""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from pathlib import Path

import pytest
import yaml

from factory_assets.cli.main import main
from factory_assets.sandbox.dagster_processes import BIN
from factory_assets.sandbox.gitops_remote import file_at_main
from tests.smoke.conftest import Answer, Endpoint
from tests.support.dagster_daemon import shipped_dagster_home, start_daemon, wait_for
from tests.support.ljwx import PUBLIC, pending_entry, rendered_images
from tests.support.ljwx_legacy import DIGEST_A, QUEUE, RECORDS, SERVICES, make_legacy_repo
from tests.support.oci import push_image
from tests.support.queue_rules import queue_errors

pytestmark = pytest.mark.slow

TARGETS = "scripts/smoke/targets.local-k3s.json"  # what the smoke CronJob's SMOKE_TARGETS names


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), *args], capture_output=True, text=True, check=True
    ).stdout


def _runner_env(branch_checkout: Path, manifest: str, secret: dict[str, str]) -> dict[str, str]:
    """The container environment an adopted CronJob declares, as the kubelet would resolve it:
    plain values as written, `secretKeyRef`s from `secret` (an optional missing key: unset)."""
    doc = yaml.safe_load((branch_checkout / manifest).read_text())
    (container,) = doc["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"]
    env: dict[str, str] = {}
    for item in container["env"]:
        if "value" in item:
            env[item["name"]] = str(item["value"])
        else:
            ref = item["valueFrom"]["secretKeyRef"]
            assert ref["name"] == "deploy-promoter-secret", ref
            if ref["key"] in secret:
                env[item["name"]] = secret[ref["key"]]
            else:
                assert ref.get("optional"), f"{manifest}: required key {ref['key']} missing"
    return env


def _clean_environ() -> dict[str, str]:
    """The test process's environment without any factory or legacy setting leaking in."""
    drop = ("HARBOR_", "FACTORY_", "SERVICE_MAP_PATH", "SMOKE_TARGETS", "ENV_ALLOWLIST", "ARGOCD_")
    return {k: v for k, v in os.environ.items() if not k.startswith(drop)}


def _lists(remote_bare: Path) -> dict:
    text = file_at_main(remote_bare, "release/queue.yaml")
    assert text is not None, "no queue on the remote's main"
    return yaml.safe_load(text)


def _find(remote_bare: Path, release_id: str) -> tuple[str, dict]:
    data = _lists(remote_bare)
    for name in ("pending", "promoted", "failed", "superseded"):
        for item in data[name] or []:
            if item["id"] == release_id:
                return name, item
    raise KeyError(release_id)


def test_an_adopted_repository_runs_on_the_daemon_and_its_own_runners(
    tmp_path, registry_basic, prod_registry, monkeypatch
):
    dev, prod = registry_basic, prod_registry
    project = f"acme{uuid.uuid4().hex[:8]}"
    worker = push_image(dev, f"{project}/worker", None, content=b"worker adopted")
    cron_content = b"worker-cron, built, not replicated yet"
    worker_cron = push_image(dev, f"{project}/scratch", None, content=cron_content)
    api_prod = push_image(prod, f"{project}/api", None, content=b"api for prod")
    services = SERVICES.replace("harbor-dev.example/acme", f"{dev.host}/{project}").replace(
        "harbor-prod.example/acme", f"{prod.host}/{project}"
    )
    # The legacy prod entry (and its promoted dev twin) name the digest now on the prod Harbor.
    queue = QUEUE.replace(DIGEST_A, api_prod).replace(
        "pending:\n",
        "pending:\n"
        + pending_entry(
            "worker",
            "dev",
            worker,
            tag="sha-aaaaaa1",
            git_sha="aaaaaa1",
            at="2026-05-01T10:00:00Z",
        )
        + pending_entry(
            "worker-cron",
            "dev",
            worker_cron,
            tag="sha-bbbbbb2",
            git_sha="bbbbbb2",
            at="2026-05-01T10:00:01Z",
        ),
        1,
    )
    endpoint = Endpoint()
    check = endpoint.script("/worker", Answer(200, b"ok"))
    targets = {
        "profile": "local-k3s",
        "targets": [
            {"service": "worker", "environment": "dev", "argocd_app": "", "endpoint": check}
        ],
    }
    remote = make_legacy_repo(
        tmp_path / "ljwx",
        **{
            "release__services.yaml": services,
            "release__services.local-k3s.yaml": services,
            "release__services.orbstack-k3s-cn.yaml": services,
            "release__queue.yaml": queue,
            TARGETS.replace("/", "__"): json.dumps(targets),
        },
    )
    owner = remote.clone
    for name in _clean_environ().keys() ^ os.environ.keys():
        monkeypatch.delenv(name)
    daemon = None
    try:
        # 1. The dry run changes nothing at all.
        before = (_git(owner, "rev-parse", "HEAD"), _git(owner, "status", "--porcelain=v1"))
        assert main(["adopt", "--repo", str(owner), "--dry-run"]) == 0
        assert (_git(owner, "rev-parse", "HEAD"), _git(owner, "status", "--porcelain=v1")) == before
        assert _git(owner, "branch", "--list", "factory/adopt") == ""

        # 2. Adopt, and merge the branch as the pull request would.
        assert main(["adopt", "--repo", str(owner)]) == 0
        _git(owner, "merge", "-q", "--no-ff", "--no-edit", "factory/adopt")
        _git(owner, "push", "-q", "origin", "main")

        secret = {
            "harbor_local_url": dev.url,
            "harbor_local_username": dev.username,
            "harbor_local_password": dev.password,
            "harbor_prod_url": prod.url,
        }

        # 3. The dev cluster: the daemon with its adopted runners' environment, its own clone.
        dev_clone = remote.new_clone("dev-cluster")
        dev_env = {
            **_runner_env(dev_clone, "cluster/factory-runner-cronjob.yaml", secret),
            **_runner_env(dev_clone, "cluster/factory-smoke-cronjob.yaml", secret),
            "FACTORY_REPO": str(dev_clone),  # the image's entrypoint clones; here, a clone
            "HOME": str(tmp_path / "home-dev"),
        }
        assert dev_env["HARBOR_USER"] == dev.username and "HARBOR_USERNAME" not in dev_env
        assert dev_env["ENV_ALLOWLIST"] == "dev,demo" and dev_env["SMOKE_TARGETS"] == TARGETS
        daemon = start_daemon(
            shipped_dagster_home(tmp_path / "dagster-dev"),
            {**_clean_environ(), **dev_env},
            tmp_path / "daemon.log",
        )
        log = lambda: daemon.log()[-4000:]  # noqa: E731 - read at failure time
        bare = remote.bare
        wait_for(
            lambda: _find(bare, "20260501T100000Z-worker-sha-aaaaaa1")[0] == "promoted",
            180,
            what=lambda: f"worker promoted by the daemon\n{log()}",
        )
        cron_id = "20260501T100001Z-worker-cron-sha-bbbbbb2"
        wait_for(
            lambda: "waitingSince" in str(_find(bare, cron_id)[1].get("meta")),
            150,
            what=lambda: f"worker-cron waiting for its replica\n{log()}",
        )
        assert _find(bare, cron_id)[0] == "pending"
        # Harbor's replication brings the same manifest to the repository the map names.
        assert push_image(dev, f"{project}/worker-cron", None, content=cron_content) == worker_cron
        wait_for(
            lambda: _find(bare, cron_id)[0] == "promoted",
            180,
            what=lambda: f"worker-cron promoted after replication\n{log()}",
        )
        wait_for(
            lambda: (
                (_find(bare, "20260501T100000Z-worker-sha-aaaaaa1")[1].get("meta") or {})
                .get("factory", {})
                .get("smokeVerdict")
                == "passed"
            ),
            150,
            what=lambda: f"worker smoke-checked against {TARGETS}\n{log()}",
        )
    finally:
        if daemon is not None:
            daemon.stop()
        endpoint.stop()

    # 4. The prod cluster: its adopted CronJob's command and environment.
    prod_clone = remote.new_clone("prod-cluster")
    manifest = "cluster-prod/factory-runner-prod-cronjob.yaml"
    prod_env = {
        **_runner_env(prod_clone, manifest, secret),
        "FACTORY_REPO": str(prod_clone),
        "HOME": str(tmp_path / "home-prod"),
    }
    (container,) = yaml.safe_load((prod_clone / manifest).read_text())["spec"]["jobTemplate"][
        "spec"
    ]["template"]["spec"]["containers"]
    done = subprocess.run(
        [str(BIN / container["args"][0]), *container["args"][1:]],
        env={**_clean_environ(), **prod_env},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert _find(bare, "20260401T091502Z-api-sha-4417092-prod")[0] == "promoted"

    # 5. What the clusters left on main.
    final = remote.new_clone("final")
    assert queue_errors((final / "release/queue.yaml").read_text()) == []
    assert _find(bare, cron_id)[1]["attempts"] == 1  # the wait for the replica cost nothing
    assert rendered_images(final / "apps/worker/overlays/dev") == sorted(
        [f"{PUBLIC}/worker@{worker}", f"{PUBLIC}/worker-cron@{worker_cron}"]
    )
    assert rendered_images(final / "apps/api/overlays/prod") == [
        f"{prod.host}/{project}/api@{api_prod}"
    ]
    assert (
        'newTag: "dev"' in (final / "apps/api/overlays/dev/kustomization.yaml").read_text()
    )  # held
    legacy = [
        j
        for j in ("cluster/deploy-promoter-cronjob.yaml", "cluster/smoke-runner-cronjob.yaml")
        if yaml.safe_load((final / j).read_text())["spec"].get("suspend") is not True
    ]
    assert legacy == []

    # 6. The nightly's commands: validate, collect, publish; the imported chain holds.
    assert main(["evidence", "validate", "--repo", str(final)]) == 0
    index = final / "evidence" / "index.json"
    assert main(["evidence", "collect", "--repo", str(final), "--out", str(index)]) == 0
    assert _git(final, "status", "--porcelain") == ""  # the derived index is git-ignored
    collected = json.loads(index.read_text())
    assert collected["kinds"]["imported"] == len(RECORDS)  # as many records as files
    assert collected["kinds"]["promotion"] >= 3 and collected["kinds"]["smoke"] >= 1
    records = [json.loads(p.read_text()) for p in (final / "evidence/records").glob("*.json")]
    imported = [r for r in records if r["kind"] == "imported"]
    for record in imported:  # each original is reachable from its record, byte for byte
        details = record["details"]
        original = _git(final, "cat-file", "-p", details["git_blob"])
        assert original == RECORDS[details["original_path"]]
        assert (final / details["legacy_path"]).read_text() == original
    assert main(["site", "publish", "--repo", str(final)]) == 0
    assert _git(final, "ls-remote", "origin", "gh-pages").strip()
    assert main(["evidence", "verify", "--repo", str(final)]) == 0
