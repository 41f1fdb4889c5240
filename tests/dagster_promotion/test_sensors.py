"""Sensor units with build_sensor_context, against a real registry and a real bare remote."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

import dagster as dg
import pytest
from ruamel.yaml import YAML

from factory_assets.dagster_resources import GitOpsRepo, HarborRegistry
from factory_assets.release.add import add_release
from factory_assets.release.queue_file import load_queue
from sensors.harbor import harbor_sensor
from sensors.release_queue import release_queue_sensor
from tests.support.oci import push_image


@pytest.fixture
def setup(registry, unique_repo, harbor_env, gitops_remote, dagster_instance):
    harbor_env(registry)
    image = registry.image(unique_repo)
    resources = {"gitops": GitOpsRepo(path=str(gitops_remote.clone)), "harbor": HarborRegistry()}
    return registry, unique_repo, image, gitops_remote, dagster_instance, resources


def queue_sensor_result(instance, resources) -> dg.SensorResult:
    with dg.build_sensor_context(instance=instance, resources=resources) as context:
        return release_queue_sensor(context)


def run_harbor_sensor(instance, resources):
    with dg.build_sensor_context(instance=instance, resources=resources) as context:
        return harbor_sensor(context)


def test_new_queue_entry_adds_the_partition_and_requests_a_run(setup):
    registry, repo_name, image, remote, instance, resources = setup
    push_image(registry, repo_name, "1.0.0")
    other = remote.new_clone("pusher")
    added = add_release(
        other, service="api", tag="1.0.0", image=image, requested_by="dev", push=True
    )
    result = queue_sensor_result(instance, resources)
    services, envs = result.dynamic_partitions_requests
    assert (services.partitions_def_name, list(services.partition_keys)) == ("services", ["api"])
    assert (envs.partitions_def_name, list(envs.partition_keys)) == ("envs", ["dev"])
    (request,) = result.run_requests
    assert request.partition_key == "dev|api"
    assert request.run_key == f"api:{added.entry.id}:a0"
    assert request.tags["factory/service"] == "api" and request.tags["factory/env"] == "dev"


def test_back_off_not_yet_due_requests_nothing(setup):
    registry, repo_name, image, remote, instance, resources = setup
    other = remote.new_clone("pusher")
    add_release(other, service="api", tag="1.0.0", image=image, requested_by="dev", push=True)
    # Record a failed attempt with a back-off in the future, as the engine would.
    clone = remote.new_clone("engine")
    later = datetime.now(UTC) + timedelta(minutes=10)
    yaml = YAML()
    data = yaml.load((clone / "release" / "queue.yaml").read_text())
    data["releases"][0].update(
        attempts=1, next_attempt_at=later.strftime("%Y-%m-%dT%H:%M:%SZ"), last_error="registry 503"
    )
    buffer = io.StringIO()
    yaml.dump(data, buffer)
    remote.commit_and_push(
        {"release/queue.yaml": buffer.getvalue()}, "attempt 1 failed", clone=clone
    )
    result = queue_sensor_result(instance, resources)
    assert result.run_requests == []
    assert list(result.dynamic_partitions_requests[0].partition_keys) == ["api"]
    assert list(result.dynamic_partitions_requests[1].partition_keys) == ["dev"]


def test_held_service_requests_nothing(setup):
    registry, repo_name, image, remote, instance, resources = setup
    remote.commit_and_push(
        {"envs/dev/api.yaml": "service: api\nhold: true  # frozen for the demo\n"}, "hold api"
    )
    add_release(
        remote.new_clone("pusher"),
        service="api",
        tag="1.0.0",
        image=image,
        requested_by="dev",
        push=True,
    )
    result = queue_sensor_result(instance, resources)
    assert result.run_requests == []


def _tracked_pin(remote, image: str, digest: str) -> None:
    remote.commit_and_push(
        {
            "envs/dev/web.yaml": f"service: web\nimage: {image}@{digest}\ntag: stable\ntrack: stable  # follow it\n"
        },
        "track stable",
    )


def test_tracked_tag_that_moved_requests_a_release(setup):
    registry, repo_name, image, remote, instance, resources = setup
    first = push_image(registry, repo_name, "stable", content=b"one")
    _tracked_pin(remote, image, first)
    moved = push_image(registry, repo_name, "stable", content=b"two")
    assert moved != first
    run_harbor_sensor(instance, resources)
    fresh = remote.new_clone("reader")
    (entry,) = load_queue(fresh).queue.entries
    assert (entry.service, entry.tag, entry.requested_by, entry.state) == (
        "web",
        "stable",
        "harbor",
        "pending",
    )
    # The next look sees the open request and does not add a second one.
    run_harbor_sensor(instance, resources)
    assert len(load_queue(remote.new_clone("reader2")).queue.entries) == 1


def test_tracked_tag_that_did_not_move_requests_nothing(setup):
    registry, repo_name, image, remote, instance, resources = setup
    digest = push_image(registry, repo_name, "stable", content=b"same")
    _tracked_pin(remote, image, digest)
    head = remote.remote_head()
    run_harbor_sensor(instance, resources)
    assert remote.remote_head() == head
