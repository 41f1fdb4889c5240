"""Adopt adds each cluster's runtime in its own folder: Dagster (the default) or CronJobs, each
limited to the environments that cluster deploys, with its own smoke targets and the legacy
Secret's keys."""

from __future__ import annotations

import subprocess

import kubernetes_validate
import pytest
import yaml

from factory_assets.adopt.image import FACTORY_IMAGE
from factory_assets.adopt.legacy_runtime import legacy_jobs
from factory_assets.cli.main import main
from tests.deploy.test_helm_values import K8S_VERSION
from tests.support.ljwx_legacy import adopted_file, make_legacy_repo

DEV_TARGETS = "scripts/smoke/targets.local-k3s.json"
PROD_TARGETS = "scripts/smoke/targets.prod-planned.json"
# cluster folder -> (its environment limit, its targets file, its Harbor's Secret keys)
CLUSTERS = {
    "cluster": ("dev,demo", DEV_TARGETS, "harbor_local"),
    "cluster-prod": ("prod", PROD_TARGETS, "harbor_prod"),
}


def _docs(text: str) -> list[dict]:
    return [d for d in yaml.safe_load_all(text) if d]


def _pod(doc: dict) -> dict:
    if doc["kind"] == "CronJob":
        return doc["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    return doc["spec"]["template"]["spec"]


def _env(container: dict) -> dict[str, object]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container["env"]}


def _secret_key(env: dict, name: str) -> str | None:
    ref = env.get(name)
    return ref["secretKeyRef"]["key"] if isinstance(ref, dict) else None


def _check_cluster_env(env: dict, folder: str) -> None:
    """The factory's variables for one cluster: its limit, targets, map profile, Secret keys."""
    allowlist, targets, harbor = CLUSTERS[folder]
    assert env["ENV_ALLOWLIST"] == allowlist  # promotion and smoke alike
    assert env["SMOKE_TARGETS"] == targets
    assert _secret_key(env, "HARBOR_URL") == f"{harbor}_url"
    assert _secret_key(env, "HARBOR_USER") == f"{harbor}_username"
    assert _secret_key(env, "DEPLOY_REPO_TOKEN") == "deploy_repo_token"
    assert _secret_key(env, "ARGOCD_TOKEN") == "argocd_token"  # the smoke check's, every cluster
    assert env["FACTORY_REPO"] == "/work/repo"
    for legacy_only in ("HARBOR_INSECURE", "RETRY_MAX", "SKIP_REGISTRY_CHECK", "AUTO_ENQUEUE_PROD"):
        assert legacy_only not in env


def test_cronjob_runtime_gives_each_cluster_a_promote_and_a_smoke_runner(tmp_path, capsys):
    clone = make_legacy_repo(tmp_path / "ljwx").clone
    assert main(["adopt", "--repo", str(clone), "--runtime", "cronjob"]) == 0
    out = capsys.readouterr().out

    for legacy, runner, role in (
        ("cluster/deploy-promoter-cronjob.yaml", "cluster/factory-runner-cronjob.yaml", "promote"),
        ("cluster/smoke-runner-cronjob.yaml", "cluster/factory-smoke-cronjob.yaml", "smoke"),
        (
            "cluster-prod/deploy-promoter-prod-cronjob.yaml",
            "cluster-prod/factory-runner-prod-cronjob.yaml",
            "promote",
        ),
        # the prod cluster had no smoke runner: it gets one, with prod's targets file
        (None, "cluster-prod/factory-smoke-prod-cronjob.yaml", "smoke"),
    ):
        assert f"add {runner}:" in out
        (job,) = _docs(adopted_file(clone, runner))
        kubernetes_validate.validate(job, K8S_VERSION, strict=True)  # a CronJob the API takes
        assert job["metadata"]["namespace"] == "dev"
        (container,) = _pod(job)["containers"]
        assert container["args"] == ["factory", role] and container["image"] == FACTORY_IMAGE
        _check_cluster_env(_env(container), runner.split("/")[0])
        if legacy is None:
            continue
        old = yaml.safe_load(adopted_file(clone, legacy))
        legacy_env = old["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["env"]
        for item in legacy_env:  # the same Secret and keys, under the names the aliases map
            if "valueFrom" in item:
                assert item["valueFrom"] in [e.get("valueFrom") for e in container["env"]]
    # The runners are not legacy jobs: the pass guard lets the adopted repository run.
    checkout = tmp_path / "adopted"
    subprocess.run(
        ["git", "clone", "-q", "-b", "factory/adopt", str(clone), str(checkout)], check=True
    )
    assert [j for j in legacy_jobs(checkout) if not j.suspended] == []


def test_dagster_runtime_gives_each_cluster_its_daemon_and_webserver(tmp_path, capsys):
    kustomization = (
        "resources:\n  - deploy-promoter-cronjob.yaml  # the promoter\n"
        "  - smoke-runner-cronjob.yaml\n"
    )
    clone = make_legacy_repo(
        tmp_path / "ljwx", **{"cluster__kustomization.yaml": kustomization}
    ).clone
    assert main(["adopt", "--repo", str(clone)]) == 0  # Dagster is the default
    out = capsys.readouterr().out
    assert "Runtime: **Dagster**" in out
    assert "`cluster/` (Argo CD Application `cluster-bootstrap`, namespace `dev`)" in out
    for path, name in (
        ("cluster/factory-dagster.yaml", "factory-dagster"),
        ("cluster-prod/factory-dagster-prod.yaml", "factory-dagster-prod"),
    ):
        docs = {d["kind"]: d for d in _docs(adopted_file(clone, path))}
        assert sorted(docs) == ["ConfigMap", "Deployment", "PersistentVolumeClaim", "Service"]
        deployment = docs["Deployment"]
        assert deployment["metadata"]["name"] == name and deployment["spec"]["replicas"] == 1
        containers = {c["name"]: c for c in _pod(deployment)["containers"]}
        daemon = containers["daemon"]
        assert daemon["args"] == ["dagster-daemon", "run", "-w", "/opt/factory/workspace.yaml"]
        _check_cluster_env(_env(daemon), path.split("/")[0])
        assert "secretKeyRef" not in str(containers["webserver"])  # the UI holds no Secret
        assert docs["Service"]["metadata"]["name"] == f"{name}-webserver"
    # Listed where the folder lists its legacy runners, so the same Application applies it.
    listing = adopted_file(clone, "cluster/kustomization.yaml")
    assert listing == kustomization.replace(
        "# the promoter\n", "# the promoter\n  - factory-dagster.yaml\n"
    )
    assert "rewrite cluster/kustomization.yaml: lists cluster/factory-dagster.yaml" in out


def test_a_cluster_without_targets_for_its_environment_needs_a_human(tmp_path, capsys):
    clone = make_legacy_repo(
        tmp_path / "ljwx", **{"scripts__smoke__targets.prod-planned.json": None}
    ).clone
    assert main(["adopt", "--repo", str(clone), "--dry-run", "--runtime", "cronjob"]) == 0
    out = capsys.readouterr().out
    needs = out.split("## Needs a human\n\n", 1)[1].split("\n\n", 1)[0]
    assert (
        "cluster-prod/ smoke-checks prod but finds no target in any targets file for it for: "
        "api (prod)" in needs
    )
    assert "cluster/ smoke-checks" not in needs  # the dev cluster's file covers its lanes


@pytest.mark.parametrize("runtime", ["dagster", "cronjob"])
def test_factory_image_names_the_build_the_runtime_and_workflows_run(tmp_path, capsys, runtime):
    clone = make_legacy_repo(tmp_path / "ljwx").clone
    image = "harbor-prod.example/platform/factory:0.2.0"
    assert (
        main(["adopt", "--repo", str(clone), "--factory-image", image, "--runtime", runtime]) == 0
    )
    out = capsys.readouterr().out
    files = (
        ["cluster/factory-dagster.yaml", "cluster-prod/factory-dagster-prod.yaml"]
        if runtime == "dagster"
        else ["cluster/factory-runner-cronjob.yaml", "cluster-prod/factory-smoke-prod-cronjob.yaml"]
    )
    for path in files:
        for doc in _docs(adopted_file(clone, path)):
            if doc["kind"] in ("Deployment", "CronJob"):
                pod = _pod(doc)
                for container in [*pod.get("initContainers", []), *pod["containers"]]:
                    assert container["image"] == image
    for path in (
        ".github/workflows/nightly-evidence.yml",
        ".github/workflows/deploy-repo-gate.yml",
    ):
        text = adopted_file(clone, path)
        jobs = yaml.safe_load(text)["jobs"]
        job = jobs.get("publish") or jobs["factory-validate"]
        assert job["container"]["image"] == image  # one factory release, clusters and CI
    assert "rerun adopt with --factory-image" not in out  # named: nothing to check by hand


def test_a_factory_image_that_is_not_a_reference_is_a_usage_error(tmp_path, capsys):
    clone = make_legacy_repo(tmp_path / "ljwx").clone
    for bad in ("factory", "https://harbor.example/p/factory:1", "harbor.example/p/Factory:1"):
        assert main(["adopt", "--repo", str(clone), "--factory-image", bad]) == 2
        assert "--factory-image: expected an image reference" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        main(["adopt", "--repo", str(clone), "--runtime", "helm"])
    assert exc.value.code == 2
    assert (
        "factory/adopt"
        not in subprocess.run(
            ["git", "-C", str(clone), "branch", "--list"], capture_output=True, text=True
        ).stdout
    )
