"""Adopt, merge, and run: on the adopted repository the factory promotes (real registry,
kustomize), smoke-checks (the repository's targets file), validates, collects and
publishes, and the legacy records stay at the start of the chain."""

from __future__ import annotations

import json
import subprocess

from factory_assets.cli.main import main
from factory_assets.promotion import run_pass
from factory_assets.smoke.landing import smoke_checks_and_land
from resources.registries import EnvRegistries
from tests.smoke.conftest import Answer, Endpoint
from tests.support.ljwx import PUBLIC
from tests.support.ljwx_legacy import QUEUE, RECORDS, SERVICES, make_legacy_repo
from tests.support.oci import push_image
from tests.support.queue_rules import queue_errors


def _git(clone, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(clone), *args], capture_output=True, text=True, check=True
    ).stdout


def test_an_adopted_repository_promotes_smokes_and_publishes(
    tmp_path, registry, prod_registry, unique_repo, monkeypatch, capsys
):
    project = unique_repo.split("/")[0]
    services = SERVICES.replace("harbor-dev.example/acme", f"{registry.host}/{project}")
    services = services.replace("harbor-prod.example/acme", f"{prod_registry.host}/{project}")
    worker = push_image(registry, f"{project}/worker", None, content=b"worker adopted")
    entry = f"""\
- id: 20260501T100000Z-worker-sha-aaaaaa1
  service: worker
  env: dev
  source:
    ghcr: {PUBLIC}/worker@{worker}
    tag: sha-aaaaaa1
    digest: {worker}
    gitSha: aaaaaa1
  createdAt: '2026-05-01T10:00:00Z'
  status: pending
  attempts: 0
  lastError: ''
  promotedAt: ''
  supersededAt: ''
  failedAt: ''
"""
    queue = QUEUE.replace("pending:\n", "pending:\n" + entry, 1)
    endpoint = Endpoint()
    targets = {
        "profile": "test",
        "targets": [
            {
                "service": "worker",
                "environment": "dev",
                "argocd_app": "",
                "endpoint": endpoint.script("/worker", Answer(200, b"ok")),
            }
        ],
    }
    remote = make_legacy_repo(
        tmp_path / "ljwx",
        **{
            "release__services.yaml": services,
            "release__queue.yaml": queue,
            "scripts__smoke__targets.json": json.dumps(targets),
        },
    )
    clone = remote.clone
    monkeypatch.setenv("HARBOR_URL_DEV", registry.url)
    monkeypatch.setenv("HARBOR_URL_PROD", prod_registry.url)
    monkeypatch.setenv("SMOKE_TARGETS", "scripts/smoke/targets.json")
    for name in ("HARBOR_URL", "FACTORY_ENVS", "SERVICE_MAP_PATH"):
        monkeypatch.delenv(name, raising=False)
    try:
        assert main(["adopt", "--repo", str(clone)]) == 0
        _git(clone, "merge", "-q", "--no-edit", "factory/adopt")  # the pull request, merged
        _git(clone, "push", "-q", "origin", "main")
        capsys.readouterr()

        registries = EnvRegistries()
        try:
            result = run_pass(clone, registry=registries, envs={"dev"})
        finally:
            registries.close()
        by = {o.release_id: o.result for o in result.outcomes}
        assert by["20260501T100000Z-worker-sha-aaaaaa1"] == "success", result.to_dict()
        check = remote.new_clone("check")
        assert (
            f"digest: {worker}"
            in (check / "apps/worker/overlays/dev/kustomization.yaml").read_text()
        )
        assert queue_errors((check / "release/queue.yaml").read_text()) == []

        (smoke,) = smoke_checks_and_land(clone, environments=["dev"])
        assert (smoke.service, smoke.verdict) == ("worker", "passed")
        assert main(["evidence", "validate", "--repo", str(clone)]) == 0
        assert _git(clone, "ls-files", "evidence/index.json") == ""  # the array index is gone
        index = clone / "evidence" / "index.json"  # the factory's, derived where the array was
        assert main(["evidence", "collect", "--repo", str(clone), "--out", str(index)]) == 0
        assert _git(clone, "status", "--porcelain") == ""  # git-ignored: never a local change
        collected = json.loads(index.read_text())
        assert collected["kinds"]["imported"] == len(RECORDS)  # the legacy records stay, first
        assert collected["kinds"]["smoke"] == 1 and collected["kinds"]["promotion"] >= 1
        assert main(["site", "publish", "--repo", str(clone)]) == 0
        assert _git(clone, "ls-remote", "origin", "gh-pages").strip()
    finally:
        endpoint.stop()
