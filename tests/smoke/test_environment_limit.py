"""A smoke runner checks only its own environments (FACTORY_ENVS, or ENV_ALLOWLIST): in the
factory's own layout, prod's pin files are left to the prod cluster's runner, said so in one
line, with nothing written; every record names its environment; and a prod runner whose Argo CD
does not know the application records the operator's mistake, not a failed release."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

from factory_assets.dagster_resources import GitOpsRepo
from factory_assets.release.queue_file import load_queue
from factory_assets.smoke.assets import smoke_result
from factory_assets.smoke.judgement import judges_the_pin
from factory_assets.smoke.landing import NotChecked, smoke_check_and_land
from tests.doubles.argocd import app_status
from tests.smoke.conftest import digest_of, pin_yaml

FACTORY = [sys.executable, "-m", "factory_assets.cli.main"]
FAST = {"interval_seconds": 0.02, "timeout_seconds": 5, "request_timeout_seconds": 2}
DECLARED = "environments:\n  dev: {pins: pin-files}\n  prod: {pins: pin-files}\n"


def run_factory(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    """The CLI as a runner's CronJob runs it: its own process, only the variables it is given."""
    skip = ("ARGOCD_", "FACTORY_ENVS", "ENV_ALLOWLIST")
    clean = {k: v for k, v in os.environ.items() if not k.startswith(skip)}
    return subprocess.run(
        [*FACTORY, *args], env={**clean, **env}, capture_output=True, text=True, timeout=120
    )


def smoke_records(remote) -> list[dict]:
    """The smoke records on the remote's main."""
    records = remote.new_clone() / "evidence" / "records"
    found = [json.loads(p.read_text()) for p in sorted(records.glob("*.json"))]
    return [r for r in found if r["kind"] == "smoke"]


def pin(service: str, env: str) -> tuple[str, str]:
    """A pin file checked through the app `<service>-<env>`, and the image it pins."""
    image = f"registry.example.invalid/team/{service}@{digest_of(f'{service}-{env}')}"
    smoke = {"argocd_app": f"{service}-{env}", **FAST}
    return pin_yaml(service, image, release_id=f"{service}-{env}-1", smoke=smoke), image


@pytest.fixture(params=["factory.yaml", "no factory.yaml"])
def dev_and_prod(request, gitops_remote, argocd):
    """dev and prod pin files on the remote; this (dev) cluster's Argo CD has only `api-dev`."""
    files, images, queue = {}, {}, ["releases:"]
    for service, env in (("api", "dev"), ("api", "prod"), ("web", "prod")):
        files[f"envs/{env}/{service}.yaml"], images[(service, env)] = pin(service, env)
        repository, digest = images[(service, env)].split("@")
        queue += [
            f"  - {{id: {service}-{env}-1, service: {service}, env: {env}, image: {repository},",
            f"     digest: '{digest}', requested_at: '2026-11-27T15:00:00Z', requested_by: ci,",
            "     state: promoted}",
        ]
    files["release/queue.yaml"] = "\n".join(queue) + "\n"
    if request.param == "factory.yaml":
        files["factory.yaml"] = DECLARED
    commit = gitops_remote.commit_and_push(files, "dev and prod pins")
    argocd.set_app("api-dev", app_status(revision=commit, images=[images[("api", "dev")]]))
    return gitops_remote, images


@pytest.mark.parametrize("limit", [{"FACTORY_ENVS": "dev"}, {"ENV_ALLOWLIST": "dev,demo"}])
def test_a_dev_runner_checks_dev_and_leaves_prod_to_its_own_runner(dev_and_prod, argocd, limit):
    remote, _ = dev_and_prod
    repo = str(remote.clone)
    mine = "demo, dev" if "ENV_ALLOWLIST" in limit else "dev"
    line = f"not checked here: prod (api, web): outside this runner's environments {mine} (FACTORY_ENVS)"

    done = run_factory(["smoke", "--repo", repo], argocd.env(**limit))

    assert done.returncode == 0, done.stdout + done.stderr
    assert "api: passed [argocd" in done.stdout
    assert done.stdout.count("not checked here") == 1 and line in done.stdout.splitlines()
    (record,) = smoke_records(remote)
    assert (record["service"], record["details"]["env"]) == ("api", "dev")
    assert {r.path.rsplit("/", 1)[1] for r in argocd.requests} == {"api-dev"}  # prod not asked

    head = remote.remote_head()
    again = run_factory(["smoke", "--repo", repo], argocd.env(**limit))
    assert again.returncode == 0 and line in again.stdout.splitlines()
    assert remote.remote_head() == head  # dev unchanged, prod not checked: no record, no commit
    assert len(smoke_records(remote)) == 1


def test_a_prod_runner_whose_argocd_lacks_the_app_records_an_operator_mistake(dev_and_prod, argocd):
    remote, images = dev_and_prod

    done = run_factory(["smoke", "--repo", str(remote.clone)], argocd.env(FACTORY_ENVS="prod"))

    assert done.returncode == 1, done.stdout + done.stderr  # the runner needs fixing
    said = (
        f"Argo CD at {argocd.url} does not know application 'api-prod' (403): check ARGOCD_URL "
        "and the token's project, or that this cluster deploys prod"
    )
    (api,) = [ln for ln in done.stdout.splitlines() if ln.startswith("api@prod: ")]
    assert api.startswith("api@prod: failed (not_found) [argocd") and said in api
    assert (
        "not checked here: dev (api): outside this runner's environments prod (FACTORY_ENVS)"
        in done.stdout.splitlines()
    )
    records = {r["service"]: r for r in smoke_records(remote)}
    assert set(records) == {"api", "web"}  # prod's lanes; dev's is the dev runner's
    for record in records.values():
        details = record["details"]
        assert (details["env"], details["verdict_kind"]) == ("prod", "not_found")
        assert said.replace("api-prod", f"{record['service']}-prod") in details["reason"]
        assert judges_the_pin(record) is False
    assert records["api"]["details"]["digest"] == images[("api", "prod")].rsplit("@", 1)[1]
    entry = load_queue(remote.new_clone()).queue.by_id("api-prod-1")
    # the release is not failed by it; the record is what the next check compares with
    assert (entry.smoke_verdict, entry.smoke_evidence) == (None, records["api"]["id"])


def test_an_env_outside_the_limit_is_a_usage_error_and_writes_nothing(dev_and_prod, argocd):
    remote, _ = dev_and_prod
    head = remote.remote_head()
    done = run_factory(
        ["smoke", "--repo", str(remote.clone), "--env", "prod"], argocd.env(FACTORY_ENVS="dev")
    )
    assert done.returncode == 2, done.stdout + done.stderr
    assert "--env prod: not in FACTORY_ENVS (dev)" in done.stderr
    assert remote.remote_head() == head and argocd.requests == []


def test_the_smoke_asset_leaves_another_environment_s_lane_alone(
    dev_and_prod, argocd, dagster_instance, monkeypatch
):
    """A prod partition materialized on the dev cluster's Dagster: the same limit, no record."""
    remote, _ = dev_and_prod
    for name, value in argocd.env(FACTORY_ENVS="dev").items():
        monkeypatch.setenv(name, value)
    dagster_instance.add_dynamic_partitions("services", ["api"])
    dagster_instance.add_dynamic_partitions("envs", ["dev", "prod"])
    head = remote.remote_head()

    result = dg.materialize(
        [smoke_result],
        partition_key="prod|api",
        instance=dagster_instance,
        resources={"gitops": GitOpsRepo(path=str(remote.clone))},
    )

    assert result.success
    (mat,) = result.asset_materializations_for_node("smoke_result")
    meta = {k: v.value for k, v in mat.metadata.items()}
    assert meta["verdict"] == "not_checked" and "not checked here: prod (api)" in meta["reason"]
    assert remote.remote_head() == head and argocd.requests == []
    outcome = smoke_check_and_land(Path(remote.clone), "api", environment="dev")  # its own lane
    assert not isinstance(outcome, NotChecked) and outcome.verdict == "passed"
    assert outcome.record.details.env == "dev"
