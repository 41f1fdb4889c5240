"""The whole `promote_service` job under `dagster-daemon run`: digest_preview -> lane_pin ->
smoke_result, with the smoke check answered by an Argo CD double that reconciles the remote
like the real one (kustomize renders the overlay the pin writes through to).

The smoke record lands on the remote, names the promotion record as its parent and the
Dagster run that made it, and the run's record says the same run.
"""

from __future__ import annotations

import json

import pytest
import yaml

from factory_assets.release.add import add_release
from factory_assets.sandbox.gitops_remote import file_at_main
from tests.doubles.argocd import ArgoCDDouble
from tests.pipeline.argocd_reconciler import Reconciler
from tests.support.dagster_daemon import shipped_dagster_home, start_daemon, wait_for
from tests.support.evidence import validate_cli
from tests.support.gitrepo import make_gitops_remote
from tests.support.oci import push_image

pytestmark = pytest.mark.slow

OVERLAY = "apps/api/overlays/dev"


def _seed(image_repo: str) -> dict[str, str]:
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "api"},
        "spec": {
            "selector": {"matchLabels": {"app": "api"}},
            "template": {
                "metadata": {"labels": {"app": "api"}},
                "spec": {"containers": [{"name": "api", "image": f"{image_repo}:latest"}]},
            },
        },
    }
    return {
        "apps/api/base/kustomization.yaml": "resources:\n  - deployment.yaml\n",
        "apps/api/base/deployment.yaml": yaml.safe_dump(deployment),
        f"{OVERLAY}/kustomization.yaml": (
            f"resources:\n  - ../../base\nimages:\n  - name: {image_repo}\n    newTag: latest\n"
        ),
        "envs/dev/api.yaml": (
            "service: api\n"
            f"kustomization: {OVERLAY}/kustomization.yaml\n"
            "smoke:\n  argocd_app: api-dev\n  timeout_seconds: 60\n  interval_seconds: 0.5\n"
        ),
    }


def _remote_json(bare, path: str) -> dict | None:
    text = file_at_main(bare, path)
    return json.loads(text) if text is not None else None


def _entry(bare, release_id: str) -> dict:
    text = file_at_main(bare, "release/queue.yaml")
    assert text is not None, "no queue on the remote's main"
    return next(e for e in yaml.safe_load(text)["releases"] if e["id"] == release_id)


def test_the_daemon_runs_promote_service_through_the_argocd_smoke_check(
    tmp_path, registry, unique_repo, monkeypatch
):
    digest = push_image(registry, unique_repo, "1.0.0", content=b"api smoke e2e")
    image_repo = registry.image(unique_repo)
    remote = make_gitops_remote(tmp_path / "gitops", _seed(image_repo))
    argocd = ArgoCDDouble().start()
    reconciler = Reconciler(argocd, remote.bare, {"api-dev": OVERLAY}).start()
    env = {
        "FACTORY_REPO": str(remote.new_clone("runner")),
        "HARBOR_URL": registry.url,
        "ARGOCD_URL": argocd.url,
        "ARGOCD_TOKEN": argocd.token,
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    daemon = start_daemon(
        shipped_dagster_home(tmp_path / "dagster_home"), env, tmp_path / "daemon.log"
    )
    try:
        entry = add_release(
            remote.new_clone("service-ci"),
            service="api",
            tag="1.0.0",
            image=image_repo,
            requested_by="ci",
            push=True,
        ).entry
        smoked = wait_for(
            lambda: _entry(remote.bare, entry.id).get("smoke_evidence"),
            240,
            what=lambda: f"api smoke-checked\n{daemon.log()[-4000:]}",
        )
    finally:
        daemon.stop()
        reconciler.stop()
        argocd.stop()

    final = _entry(remote.bare, entry.id)
    assert (final["state"], final["smoke_verdict"]) == ("promoted", "passed")
    smoke = _remote_json(remote.bare, f"evidence/records/{smoked}.json")
    promotion = _remote_json(remote.bare, f"evidence/records/{final['evidence']}.json")
    assert smoke is not None and promotion is not None
    details = smoke["details"]
    assert (details["method"], details["verdict"]) == ("argocd", "passed"), details
    assert details["release_id"] == entry.id and details["digest"] == digest
    assert details["target"] == "argocd:api-dev"
    # Argo CD was looked at, and reported the pinned image at the pinned revision.
    assert any(f"{image_repo}@{digest}" in o["images"] for o in details["observations"])
    assert argocd.served("api-dev") >= 1
    # Linked: the promotion record is its parent, and both name the run that made them.
    assert promotion["id"] in [p["id"] for p in smoke["parents"]]
    run_id = smoke["links"]["dagster_run_id"]
    assert run_id and smoke["links"]["asset_key"] == "smoke_result"
    assert promotion["links"]["dagster_run_id"] == run_id
    assert smoke["links"]["partition"] == promotion["links"]["partition"] == "dev|api"
    assert validate_cli(remote.new_clone("verify")).returncode == 0
