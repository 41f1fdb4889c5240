"""Two runners, two clusters: the dev runner (FACTORY_ENVS=dev) and the prod runner
(FACTORY_ENVS=prod), each a real dagster-daemon with its own instance and clone, and each
cluster its own Argo CD (the HTTP double, reconciled from the git remote and rendered with
kustomize), carry one release from dev to prod through smoke, retag, approval and
replication."""

from __future__ import annotations

import json
import subprocess

import pytest

from factory_assets.cli.main import main
from tests.doubles.argocd import ArgoCDDouble
from tests.layout.conftest import ljwx  # noqa: F401
from tests.pipeline.argocd_reconciler import Reconciler
from tests.support.dagster_daemon import shipped_dagster_home, start_daemon, wait_for
from tests.support.evidence import validate_cli
from tests.support.ljwx import EMPTY_QUEUE, LjwxRepo

pytestmark = pytest.mark.slow

LAYOUT = """\
queue: {path: release/queue.yaml, format: four-lists}
service_map: release/services.yaml
smoke_targets: scripts/smoke/targets.json
environments:
  dev: {pins: overlays}
  prod: {pins: overlays, after: dev, retag: prod-, approval: true}
"""


def _prod_entry(repo: LjwxRepo) -> dict | None:
    data = repo.queue()
    for name in ("pending", "promoted", "failed"):
        for item in data[name]:
            if item["env"] == "prod":
                return {**item, "_list": name}
    return None


def test_two_runners_carry_a_release_from_dev_to_prod(tmp_path, ljwx: LjwxRepo):  # noqa: F811
    targets = {
        "targets": [
            {"service": "api", "environment": e, "argocd_app": f"api-{e}", "endpoint": ""}
            for e in ("dev", "prod")
        ]
    }
    ljwx.remote.commit_and_push(
        {"factory.yaml": LAYOUT, "scripts/smoke/targets.json": json.dumps(targets)}, "pipeline"
    )
    api = ljwx.replicate("dev", "api", "api two runners")
    runners, argocd, reconcilers = {}, {}, []
    try:
        for env in ("dev", "prod"):  # each cluster: its Argo CD, reconciling its Application
            argocd[env] = ArgoCDDouble().start()
            apps = {f"api-{env}": f"apps/api/overlays/{env}"}
            reconcilers.append(Reconciler(argocd[env], ljwx.remote.bare, apps).start())
            clone = ljwx.remote.new_clone(f"runner-{env}")
            runners[env] = start_daemon(
                shipped_dagster_home(tmp_path / f"home-{env}"),
                {
                    "FACTORY_REPO": str(clone),
                    "FACTORY_ENVS": env,
                    **ljwx.env(),
                    # the names the repository's smoke job uses
                    "ARGOCD_SERVER": argocd[env].url,
                    "ARGOCD_TOKEN": argocd[env].token,
                },
                tmp_path / f"{env}.log",
            )
        pusher = ljwx.remote.new_clone("service-ci")
        entry = ljwx.entry(
            "api", "dev", api, tag="sha-4417092", git_sha="'4417092'", at="2026-04-14T10:00:00Z"
        )
        (pusher / "release" / "queue.yaml").write_text(
            EMPTY_QUEUE.replace("pending: []\n", "pending:\n" + entry)
        )
        subprocess.run(
            ["git", "commit", "-qam", "queue(api): 20260414T100000Z-api-sha-4417092"],
            cwd=pusher,
            check=True,
        )
        subprocess.run(["git", "push", "-q", "origin", "main"], cwd=pusher, check=True)

        def logs() -> str:
            return "\n".join(f"--- {e}\n{r.log()[-2500:]}" for e, r in runners.items())

        # dev runner: pinned, Argo CD synced it, smoke passed, retagged, prod queued
        stage = wait_for(lambda: _prod_entry(ljwx), 180, what=f"prod request\n{logs()}")
        assert stage["meta"]["factory"]["approvalRequired"] is True
        approver = ljwx.remote.new_clone("approver")
        assert (
            main(
                [
                    "release",
                    "approve",
                    stage["id"],
                    "--by",
                    "alice",
                    "--push",
                    "--repo",
                    str(approver),
                ]
            )
            == 0
        )
        # prod runner: claims it, finds no replica, waits
        wait_for(
            lambda: "waitingSince" in str(_prod_entry(ljwx)["meta"]["factory"]),
            120,
            what=f"prod waiting for the replica\n{logs()}",
        )
        assert ljwx.replicate("prod", "api", "api two runners") == api  # Harbor's prod-* rule
        wait_for(
            lambda: _prod_entry(ljwx)["_list"] == "promoted", 150, what=f"prod pinned\n{logs()}"
        )
        wait_for(
            lambda: _prod_entry(ljwx)["meta"]["factory"].get("smokeVerdict") == "passed",
            150,
            what=f"prod smoke\n{logs()}",
        )
    finally:
        for runner in runners.values():
            runner.stop()
        for reconciler in reconcilers:
            reconciler.stop()
        for double in argocd.values():
            double.stop()
    final = _prod_entry(ljwx)
    assert final["attempts"] == 1 and final["meta"]["factory"]["approvedBy"] == "alice"
    assert f"digest: {api}" in ljwx.show("apps/api/overlays/prod/kustomization.yaml")
    checkout = ljwx.remote.new_clone("verify")
    assert validate_cli(checkout).returncode == 0
    records = checkout / "evidence" / "records"
    smoke = json.loads((records / f"{final['meta']['factory']['upstreamSmoke']}.json").read_text())
    assert (
        smoke["details"]["verdict"] == "passed" and smoke["details"]["target"] == "argocd:api-dev"
    )
    prod_smoke = json.loads(
        (records / f"{final['meta']['factory']['smokeEvidence']}.json").read_text()
    )
    assert prod_smoke["details"]["target"] == "argocd:api-prod"
    assert prod_smoke["details"]["env"] == "prod" and prod_smoke["details"]["digest"] == api
