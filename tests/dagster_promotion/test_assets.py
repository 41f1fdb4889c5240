"""digest_preview and lane_pin materialize through Dagster: in process and with the dagster CLI."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import dagster as dg
import pytest

from factory_assets.dagster_resources import GitOpsRepo, HarborRegistry, PromotionSettings
from factory_assets.pins.pin_file import read_pin
from factory_assets.promotion.assets import digest_preview, lane_pin
from factory_assets.release.add import add_release
from factory_assets.release.queue_file import load_queue
from tests.support.oci import push_multiarch

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def queued(registry, unique_repo, harbor_env, gitops_remote, dagster_instance):
    harbor_env(registry)
    image = registry.image(unique_repo)
    pushed = push_multiarch(registry, unique_repo, "2.0.0")
    add_release(
        gitops_remote.new_clone("dev"),
        service="api",
        tag="2.0.0",
        image=image,
        requested_by="dev",
        push=True,
    )
    dagster_instance.add_dynamic_partitions("services", ["api"])
    dagster_instance.add_dynamic_partitions("envs", ["dev"])
    return gitops_remote, dagster_instance, pushed


def test_materialize_pins_the_index_digest_with_evidence_metadata(queued):
    remote, instance, pushed = queued
    result = dg.materialize(
        [digest_preview, lane_pin],
        partition_key="dev|api",
        instance=instance,
        resources={
            "gitops": GitOpsRepo(path=str(remote.clone)),
            "harbor": HarborRegistry(),
            "promotion": PromotionSettings(),
        },
    )
    assert result.success
    (digest_mat,) = result.asset_materializations_for_node("digest_preview")
    assert digest_mat.metadata["digest"].value == pushed.index_digest
    assert digest_mat.tags["dagster/data_version"] == pushed.index_digest
    (pin_mat,) = result.asset_materializations_for_node("lane_pin")
    meta = {k: v.value for k, v in pin_mat.metadata.items()}
    assert meta["digest"] == pushed.index_digest
    assert meta["changed"] is True
    assert meta["evidence_id"] and meta["evidence_content_digest"].startswith("sha256:")
    assert len(meta["commit"]) == 40
    fresh = remote.new_clone("check")
    assert read_pin(fresh, "api").pin.image.endswith("@" + pushed.index_digest)
    (entry,) = load_queue(fresh).queue.entries
    assert entry.state == "promoted" and entry.evidence == meta["evidence_id"]
    record = (fresh / "evidence" / "records" / f"{meta['evidence_id']}.json").read_text()
    assert result.run_id in record  # the record links back to the Dagster run
    again = dg.materialize(  # nothing pending: the same pin, described the same way
        [lane_pin],
        partition_key="dev|api",
        instance=instance,
        resources={
            "gitops": GitOpsRepo(path=str(remote.clone)),
            "harbor": HarborRegistry(),
            "promotion": PromotionSettings(),
        },
    )
    (same,) = again.asset_materializations_for_node("lane_pin")
    same_meta = {k: v.value for k, v in same.metadata.items()}
    assert same_meta["changed"] is False
    for key in ("digest", "media_type", "evidence_id", "evidence_content_digest", "release_id"):
        assert same_meta[key] == meta[key], key
    assert same_meta["media_type"]


def test_registry_failure_is_a_failed_run_that_says_why(
    registry, unique_repo, harbor_env, gitops_remote, dagster_instance
):
    harbor_env(registry)
    image = registry.image(unique_repo)  # nothing pushed: the tag does not exist
    added = add_release(
        gitops_remote.new_clone("dev"),
        service="api",
        tag="9.9.9",
        image=image,
        requested_by="dev",
        push=True,
    )
    dagster_instance.add_dynamic_partitions("services", ["api"])
    dagster_instance.add_dynamic_partitions("envs", ["dev"])
    result = dg.materialize(
        [lane_pin],
        partition_key="dev|api",
        instance=dagster_instance,
        resources={
            "gitops": GitOpsRepo(path=str(gitops_remote.clone)),
            "harbor": HarborRegistry(),
            "promotion": PromotionSettings(),
        },
        raise_on_error=False,
    )
    assert not result.success
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    message = failure.event_specific_data.error.message
    # It names the service, the release, the exact image reference, and what the registry said.
    assert f"api: release {added.entry.id} " in message, message
    assert f"{image}:9.9.9: manifest not found" in message, message


def test_a_digest_the_registry_cannot_resolve_still_counts_an_attempt(
    registry, unique_repo, harbor_env, gitops_remote, dagster_instance
):
    """digest_preview must not fail the run: lane_pin then records the attempt, so back-off and
    the retry limit apply instead of a pending release retried by the sensor for ever."""
    harbor_env(registry)
    add_release(
        gitops_remote.new_clone("dev"),
        service="api",
        tag="9.9.9",  # nothing pushed
        image=registry.image(unique_repo),
        requested_by="dev",
        push=True,
    )
    dagster_instance.add_dynamic_partitions("services", ["api"])
    dagster_instance.add_dynamic_partitions("envs", ["dev"])
    result = dg.materialize(
        [digest_preview, lane_pin],
        partition_key="dev|api",
        instance=dagster_instance,
        resources={
            "gitops": GitOpsRepo(path=str(gitops_remote.clone)),
            "harbor": HarborRegistry(),
            "promotion": PromotionSettings(),
        },
        raise_on_error=False,
    )
    (digest_mat,) = result.asset_materializations_for_node("digest_preview")
    assert digest_mat.metadata["error"].value  # why, in the UI
    assert digest_mat.metadata["digest"].value == ""
    assert not result.success  # lane_pin ran and failed: the attempt is on the queue
    (entry,) = load_queue(gitops_remote.new_clone("check")).queue.entries
    assert (entry.attempts, entry.state) == (1, "pending"), entry
    assert entry.next_attempt_at is not None and "manifest not found" in entry.last_error


@pytest.mark.slow
def test_dagster_cli_materializes_lane_pin_for_a_partition(queued, dagster_home):
    remote, _, pushed = queued
    env = {**os.environ, "FACTORY_REPO": str(remote.clone)}
    proc = subprocess.run(
        [
            str(ROOT / ".venv/bin/dagster"),
            "asset",
            "materialize",
            "-m",
            "factory_assets.definitions",
            "--select",
            "digest_preview,lane_pin",
            "--partition",
            "dev|api",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert read_pin(remote.new_clone("check"), "api").pin.image.endswith("@" + pushed.index_digest)


@pytest.mark.slow
def test_a_fresh_instance_gets_its_partitions_from_the_repo(
    registry, unique_repo, harbor_env, gitops_remote, dagster_home
):
    """Wiping DAGSTER_HOME loses the `services` partitions; git still has the services. The
    code location (`defs`) registers nothing as it loads; `factory partitions sync` does."""
    harbor_env(registry)
    pushed = push_multiarch(registry, unique_repo, "3.0.0")
    add_release(
        gitops_remote.new_clone("dev"),
        service="api",
        tag="3.0.0",
        image=registry.image(unique_repo),
        requested_by="dev",
        push=True,
    )
    env = {**os.environ, "FACTORY_REPO": str(gitops_remote.clone)}
    materialize = [
        str(ROOT / ".venv/bin/dagster"),
        *("asset", "materialize", "-m", "factory_assets.definitions"),
        *("--select", "digest_preview,lane_pin", "--partition", "dev|api"),
    ]

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=240)

    assert run(*materialize).returncode != 0  # the fresh instance knows no service yet
    synced = run(str(ROOT / ".venv/bin/factory"), "partitions", "sync")
    assert synced.returncode == 0 and "added api" in synced.stdout, synced.stderr
    done = run(*materialize)
    assert done.returncode == 0, done.stderr[-3000:]
    fresh = gitops_remote.new_clone("check")
    assert read_pin(fresh, "api").pin.image.endswith("@" + pushed.index_digest)


# The README's CI row, as a shell runs it (the table escapes `|` as `\|`).
CI_RECIPE = (
    "dagster asset materialize -m factory_assets.definitions -a defs_with_lanes "
    "--select lane_pin --partition 'dev|api'"
)


def readme_ci_recipe() -> str:
    lines = (ROOT / "README.md").read_text().splitlines()
    row = next(line for line in lines if line.startswith("| CI |"))
    return row.split("`")[1].replace("\\|", "|")


def run_ci_recipe(repo: Path) -> subprocess.CompletedProcess:
    """The recipe in a shell, where CI runs it: in the deploy repo's checkout, the
    environment's commands on PATH, FACTORY_REPO unset (the cwd is the repo)."""
    env = {k: v for k, v in os.environ.items() if k != "FACTORY_REPO"}
    env["PATH"] = f"{ROOT / '.venv/bin'}{os.pathsep}{env['PATH']}"
    return subprocess.run(
        ["bash", "-c", CI_RECIPE], cwd=repo, env=env, capture_output=True, text=True, timeout=240
    )


@pytest.mark.slow
def test_the_readme_ci_recipe_pins_a_lane_from_a_fresh_instance(
    registry, unique_repo, harbor_env, gitops_remote, dagster_home
):
    """One command on an empty DAGSTER_HOME: it registers the repo's lanes as partitions,
    then pins the lane, and the instance records the materialization of that partition."""
    assert readme_ci_recipe() == CI_RECIPE
    harbor_env(registry)
    pushed = push_multiarch(registry, unique_repo, "3.0.0")
    add_release(
        gitops_remote.new_clone("dev"),
        service="api",
        tag="3.0.0",
        image=registry.image(unique_repo),
        requested_by="dev",
        push=True,
    )
    done = run_ci_recipe(gitops_remote.clone)
    assert done.returncode == 0, done.stderr[-3000:]
    fresh = gitops_remote.new_clone("check")
    assert read_pin(fresh, "api").pin.image.endswith("@" + pushed.index_digest)
    with dg.DagsterInstance.get() as instance:
        assert instance.get_dynamic_partitions("services") == ["api"]
        assert instance.get_dynamic_partitions("envs") == ["dev"]
        event = instance.get_latest_materialization_event(dg.AssetKey("lane_pin"))
        assert event is not None and event.dagster_event.partition == "dev|api"
        assert event.asset_materialization.metadata["digest"].value == pushed.index_digest


@pytest.mark.slow
def test_the_recipe_without_dagster_home_says_what_is_missing(gitops_remote, monkeypatch):
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    done = run_ci_recipe(gitops_remote.clone)
    assert done.returncode != 0
    assert "DAGSTER_HOME: -: not set: it names the instance to register in" in done.stderr
