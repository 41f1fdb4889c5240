"""Adopt adds the factory's runners beside the legacy CronJobs: same folder, namespace, env."""

from __future__ import annotations

import subprocess

import kubernetes_validate
import yaml

from factory_assets.cli.main import main
from factory_assets.layout.legacy_runtime import legacy_jobs
from tests.deploy.test_helm_values import K8S_VERSION
from tests.support.ljwx_legacy import adopted_file, make_legacy_repo


def test_each_legacy_cronjob_gets_a_factory_runner_in_its_place(tmp_path, capsys):
    clone = make_legacy_repo(tmp_path / "ljwx").clone
    assert main(["adopt", "--repo", str(clone)]) == 0
    out = capsys.readouterr().out

    for legacy, runner, args, allowlist in (
        (
            "cluster/deploy-promoter-cronjob.yaml",
            "cluster/factory-runner-cronjob.yaml",
            ["factory", "promote"],
            "dev,demo",
        ),
        (
            "cluster-prod/deploy-promoter-prod-cronjob.yaml",
            "cluster-prod/factory-runner-prod-cronjob.yaml",
            ["factory", "promote"],
            "prod",
        ),
        (
            "cluster/smoke-runner-cronjob.yaml",
            "cluster/factory-smoke-cronjob.yaml",
            ["factory", "smoke"],
            None,
        ),
    ):
        assert f"add {runner}:" in out
        job = yaml.safe_load(adopted_file(clone, runner))
        kubernetes_validate.validate(job, K8S_VERSION, strict=True)  # a CronJob the API takes
        old = yaml.safe_load(adopted_file(clone, legacy))
        assert job["metadata"]["namespace"] == old["metadata"]["namespace"]
        (container,) = job["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"]
        assert container["args"] == args
        names = [e["name"] for e in container["env"]]
        assert "FACTORY_REPO" in names and "HARBOR_INSECURE" not in names
        legacy_env = old["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["env"]
        for item in legacy_env:  # the same Secret and keys, under the names the aliases map
            if "valueFrom" in item:
                assert item["valueFrom"] in [e.get("valueFrom") for e in container["env"]]
        if args[1] == "promote":
            assert {"name": "ENV_ALLOWLIST", "value": allowlist} in container["env"]
            assert "RETRY_MAX" not in names and "SKIP_REGISTRY_CHECK" not in names
        else:
            assert "AUTO_ENQUEUE_PROD" not in names and "AUTO_TAG_LOCAL_HARBOR" not in names
    # The runners are not legacy jobs: the pass guard lets the adopted repository run.
    checkout = tmp_path / "adopted"
    subprocess.run(
        ["git", "clone", "-q", "-b", "factory/adopt", str(clone), str(checkout)], check=True
    )
    live = [j for j in legacy_jobs(checkout) if not j.suspended]
    assert live == []


def test_factory_image_names_the_build_the_runners_and_workflows_run(tmp_path, capsys):
    clone = make_legacy_repo(tmp_path / "ljwx").clone
    image = "harbor-prod.example/platform/factory:0.2.0"
    assert main(["adopt", "--repo", str(clone), "--factory-image", image]) == 0
    out = capsys.readouterr().out
    for path in (
        "cluster/factory-runner-cronjob.yaml",
        "cluster-prod/factory-runner-prod-cronjob.yaml",
    ):
        text = adopted_file(clone, path)
        (container,) = yaml.safe_load(text)["spec"]["jobTemplate"]["spec"]["template"]["spec"][
            "containers"
        ]
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
    assert (
        "factory/adopt"
        not in subprocess.run(
            ["git", "-C", str(clone), "branch", "--list"], capture_output=True, text=True
        ).stdout
    )
