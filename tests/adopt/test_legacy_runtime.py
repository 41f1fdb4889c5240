"""The legacy CronJobs: suspended in place by adopt, and a pass refuses to start beside one."""

from __future__ import annotations

import subprocess

import dagster as dg
import pytest
import yaml

from factory_assets.adopt.legacy_runtime import legacy_jobs, suspend_text
from factory_assets.adopt.runners import RUNTIMES
from factory_assets.cli.main import main
from factory_assets.common.errors import InputError
from factory_assets.dagster_resources import GitOpsRepo, HarborRegistry, PromotionSettings
from factory_assets.promotion import run_pass
from factory_assets.promotion.assets import lane_pin
from resources.registry.environments import EnvRegistries
from tests.support.ljwx import LjwxRepo
from tests.support.ljwx_legacy import CRONJOB, make_legacy_repo

PROMOTER = CRONJOB.format(name="deploy-promoter", schedule="*/10 * * * *")


def test_suspend_changes_one_line_and_keeps_comments():
    text = PROMOTER.replace("\nspec:\n", "\nspec:  # runs the promoter\n")
    out = suspend_text(text, {0}, "cluster/x.yaml")
    assert out == text.replace(
        "\nspec:  # runs the promoter\n", "\nspec:  # runs the promoter\n  suspend: true\n"
    )
    assert yaml.safe_load(out)["spec"]["suspend"] is True


def test_an_existing_suspend_false_is_flipped_in_place():
    text = PROMOTER.replace("  concurrencyPolicy", "  suspend: false  # on\n  concurrencyPolicy")
    out = suspend_text(text, {0}, "cluster/x.yaml")
    assert "  suspend: true  # on\n" in out
    assert out.count("suspend") == 1


def test_only_the_named_document_of_a_multi_document_file_changes():
    other = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n"
    text = other + "---\n" + PROMOTER
    out = suspend_text(text, {1}, "cluster/x.yaml")
    assert out.startswith(other + "---\n")
    docs = list(yaml.safe_load_all(out))
    assert "suspend" not in docs[0] and docs[1]["spec"]["suspend"] is True


def test_adopt_suspends_every_legacy_cronjob(tmp_path, capsys):
    clone = make_legacy_repo(tmp_path / "ljwx").clone
    assert [j.suspended for j in legacy_jobs(clone)] == [False, False, False]
    assert main(["adopt", "--repo", str(clone)]) == 0
    out = capsys.readouterr().out
    assert "suspend cluster/deploy-promoter-cronjob.yaml: suspends CronJob deploy-promoter" in out
    assert "platform-admin" in out
    diff = subprocess.run(
        # the legacy manifests (the factory's runners are new files beside them)
        [
            "git",
            "-C",
            str(clone),
            "diff",
            "HEAD",
            "factory/adopt",
            "--",
            *(j.path for j in legacy_jobs(clone)),
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    added = [line for line in diff.splitlines() if line.startswith("+") and "+++" not in line]
    assert added == ["+  suspend: true"] * 3
    assert not [line for line in diff.splitlines() if line.startswith("-") and "---" not in line]


def test_a_pass_refuses_to_start_beside_a_live_legacy_promoter(ljwx: LjwxRepo):
    ljwx.remote.commit_and_push({"cluster/deploy-promoter-cronjob.yaml": PROMOTER}, "legacy")
    before = ljwx.remote.remote_head()
    registries = EnvRegistries()
    try:
        with pytest.raises(InputError) as exc:
            run_pass(ljwx.clone, registry=registries, envs={"dev"})
    finally:
        registries.close()
    assert exc.value.path == "cluster/deploy-promoter-cronjob.yaml"
    assert "legacy promoter CronJob is live" in str(exc.value)
    assert ljwx.remote.remote_head() == before
    # Suspended, it no longer stands in the way.
    suspended = suspend_text(PROMOTER, {0}, "cluster/deploy-promoter-cronjob.yaml")
    ljwx.remote.commit_and_push({"cluster/deploy-promoter-cronjob.yaml": suspended}, "suspend")
    registries = EnvRegistries()
    try:
        assert run_pass(ljwx.clone, registry=registries, envs={"dev"}).ok
    finally:
        registries.close()


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_one_revert_undoes_either_runtime_and_every_pass_then_refuses(
    tmp_path, capsys, dagster_instance, registry, harbor_env, runtime
):
    harbor_env(registry)  # a runner's settings: the refusal comes before any registry call
    remote = make_legacy_repo(tmp_path / "ljwx")
    clone = remote.clone

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", "-C", str(clone), *args], capture_output=True, text=True, check=True
        ).stdout

    before = git("rev-parse", "HEAD^{tree}")
    assert main(["adopt", "--repo", str(clone), "--runtime", runtime]) == 0
    git("merge", "-q", "--no-ff", "--no-edit", "factory/adopt")
    added = git("diff", "--name-only", "--diff-filter=A", "HEAD^1", "HEAD", "--", "cluster*")
    assert ("factory-dagster" in added) == (runtime == "dagster"), added
    git("revert", "--no-edit", "-m", "1", "HEAD")  # the rollback: one revert
    git("push", "-q", "origin", "main")
    assert git("rev-parse", "HEAD^{tree}") == before  # exactly the repository as it was
    assert [j.path for j in legacy_jobs(clone) if not j.suspended] != []
    capsys.readouterr()
    # A CronJob's pass (its command) and a Dagster run (the daemon's) both refuse to start.
    assert main(["promote", "--repo", str(clone)]) == 1
    assert "legacy promoter CronJob is live" in capsys.readouterr().err
    dagster_instance.add_dynamic_partitions("services", ["api"])
    dagster_instance.add_dynamic_partitions("envs", ["dev"])
    result = dg.materialize(
        [lane_pin],
        partition_key="dev|api",
        instance=dagster_instance,
        resources={
            "gitops": GitOpsRepo(path=str(clone)),
            "harbor": HarborRegistry(),
            "promotion": PromotionSettings(),
        },
        raise_on_error=False,
    )
    assert not result.success
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    message = failure.event_specific_data.error.to_string()  # the step's error and its cause
    assert "cluster/deploy-promoter-cronjob.yaml" in message
    assert "legacy promoter CronJob is live" in message
