"""Sensor units with build_sensor_context, against a real registry and a real bare remote."""

from __future__ import annotations

import io
import json
import subprocess
from datetime import UTC, datetime, timedelta

import dagster as dg
import pytest
from dagster._core.events import DagsterEvent, DagsterEventType
from ruamel.yaml import YAML

import sensors.harbor as harbor_module
from factory_assets.dagster_resources import GitOpsRepo, HarborRegistry
from factory_assets.definitions import defs
from factory_assets.promotion.jobs import promote_service_job
from factory_assets.promotion.watch import queue_snapshot
from factory_assets.release.add import add_release
from factory_assets.release.queue_file import load_queue
from sensors.harbor import harbor_sensor
from sensors.release_queue import MAX_RUN_RETRIES, release_queue_sensor, run_key_for
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


# -- release_queue_sensor run keys ---------------------------------------------------------


def _run_for(instance, request: dg.RunRequest) -> dg.DagsterRun:
    """A run of promote_service_job as the daemon creates it for `request` (queued, not started)."""
    return instance.create_run_for_job(
        job_def=defs.resolve_job_def(promote_service_job.name),
        tags={**request.tags, "dagster/run_key": request.run_key},
        status=dg.DagsterRunStatus.NOT_STARTED,
    )


def _event(instance, run: dg.DagsterRun, event_type: DagsterEventType) -> dg.DagsterRunStatus:
    """Move `run` on through a real run event, as its run worker would; return its status."""
    instance.report_dagster_event(
        DagsterEvent(event_type_value=event_type.value, job_name=run.job_name), run_id=run.run_id
    )
    return instance.get_run_by_id(run.run_id).status


def _ended_at(instance, run: dg.DagsterRun) -> datetime:
    return datetime.fromtimestamp(instance.get_run_record_by_id(run.run_id).end_time, UTC)


@pytest.fixture
def ready_api(setup):
    """One pending release for `api`, and the run the sensor first requests for it."""
    registry, repo_name, image, remote, instance, resources = setup
    add_release(
        remote.new_clone("pusher"),
        service="api",
        tag="1.0.0",
        image=image,
        requested_by="dev",
        push=True,
    )
    (request,) = queue_sensor_result(instance, resources).run_requests
    (ready,) = queue_snapshot(remote.clone).ready
    assert request.run_key == ready.run_key
    return instance, resources, ready, request


def test_no_new_run_while_one_is_in_flight_nor_after_a_success(ready_api):
    instance, resources, ready, request = ready_api
    run = _run_for(instance, request)
    assert queue_sensor_result(instance, resources).run_requests == []  # queued
    assert _event(instance, run, DagsterEventType.RUN_START) == dg.DagsterRunStatus.STARTED
    assert queue_sensor_result(instance, resources).run_requests == []  # running
    assert _event(instance, run, DagsterEventType.RUN_SUCCESS) == dg.DagsterRunStatus.SUCCESS
    # The queue did not change (the same key base): a success leaves nothing new to try.
    assert queue_sensor_result(instance, resources).run_requests == []
    later = _ended_at(instance, run) + timedelta(days=1)
    assert run_key_for(instance, ready, later) is None


def test_a_failed_run_is_retried_with_r1_only_after_the_pause(ready_api):
    instance, resources, ready, request = ready_api
    run = _run_for(instance, request)
    _event(instance, run, DagsterEventType.RUN_START)
    instance.report_run_failed(run)
    ended = _ended_at(instance, run)
    assert run_key_for(instance, ready, ended + timedelta(seconds=14)) is None
    assert run_key_for(instance, ready, ended + timedelta(seconds=15)) == f"{ready.run_key}#r1"
    # The second failure doubles the pause.
    second = _run_for(instance, dg.RunRequest(run_key=f"{ready.run_key}#r1", tags=request.tags))
    instance.report_run_failed(second)
    ended = _ended_at(instance, second)
    assert run_key_for(instance, ready, ended + timedelta(seconds=29)) is None
    assert run_key_for(instance, ready, ended + timedelta(seconds=30)) == f"{ready.run_key}#r2"


def test_retries_of_a_failing_run_stop_at_the_cap(ready_api):
    instance, resources, ready, request = ready_api
    for attempt in range(MAX_RUN_RETRIES + 1):
        key = request.run_key if attempt == 0 else f"{ready.run_key}#r{attempt}"
        assert run_key_for(instance, ready, datetime.now(UTC) + timedelta(days=1)) == key
        run = _run_for(instance, dg.RunRequest(run_key=key, tags=request.tags))
        instance.report_run_failed(run)
    # MAX_RUN_RETRIES retries have failed too: no further key, however long the wait.
    assert run_key_for(instance, ready, datetime.now(UTC) + timedelta(days=365)) is None
    assert queue_sensor_result(instance, resources).run_requests == []


# -- harbor_sensor cursor and chunking -----------------------------------------------------


def test_harbor_sensor_looks_at_one_chunk_per_tick_and_resumes_from_its_cursor(setup, monkeypatch):
    registry, repo_name, image, remote, instance, resources = setup
    monkeypatch.setattr(harbor_module, "MAX_SERVICES_PER_TICK", 2)
    names = ["a", "b", "c", "d", "e"]
    for n in names:  # each tag its own manifest
        push_image(registry, repo_name, f"t-{n}", content=n.encode())
    stale = push_image(registry, repo_name, "old", content=b"old")
    remote.commit_and_push(
        {
            f"envs/dev/{n}.yaml": f"service: {n}\nimage: {image}@{stale}\ntrack: t-{n}\n"
            for n in names
        },
        "five tracked services, every tag moved",
    )

    def tick(cursor):
        with dg.build_sensor_context(
            instance=instance, resources=resources, cursor=cursor
        ) as context:
            result = harbor_sensor(context)
            return str(result.skip_message), context.cursor

    def requested() -> list[str]:
        queue = load_queue(remote.new_clone(f"reader{len(seen)}")).queue
        return [e.service for e in queue.entries]

    seen: list[tuple[str, str]] = []
    before = remote.remote_head()
    message, cursor = tick(None)
    seen.append((message, cursor))
    assert message.startswith("looked at 2 of 5 tracked tags; 2 moved"), message
    assert json.loads(cursor) == {"offset": 2}
    # Both requests of the tick (entries and records) land in one commit on the old head.
    parents = subprocess.run(
        ["git", "--git-dir", str(remote.bare), "rev-parse", f"{remote.remote_head()}^@"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert parents == [before]
    assert requested() == ["a", "b"]
    message, cursor = tick(cursor)
    seen.append((message, cursor))
    assert json.loads(cursor) == {"offset": 4}
    assert requested() == ["a", "b", "c", "d"]
    message, cursor = tick(cursor)  # the last, short chunk wraps the cursor around
    seen.append((message, cursor))
    assert message.startswith("looked at 1 of 5 tracked tags; 1 moved"), message
    assert json.loads(cursor) == {"offset": 0}
    assert requested() == names
    # Around again: every tag already has an open request, so nothing is added twice.
    message, cursor = tick(cursor)
    seen.append((message, cursor))
    assert message.startswith("looked at 2 of 5 tracked tags; 0 moved"), message
    assert requested() == names
    queue = load_queue(remote.new_clone("final")).queue
    assert {e.service: e.tag for e in queue.entries} == {n: f"t-{n}" for n in names}
    assert all(e.requested_by == "harbor" and e.evidence for e in queue.entries)


def test_harbor_sensor_restarts_from_zero_when_the_cursor_is_past_the_end(setup, monkeypatch):
    registry, repo_name, image, remote, instance, resources = setup
    monkeypatch.setattr(harbor_module, "MAX_SERVICES_PER_TICK", 2)
    first = push_image(registry, repo_name, "stable", content=b"one")
    _tracked_pin(remote, image, first)
    push_image(registry, repo_name, "stable", content=b"two")
    # A cursor from a time when there were more tracked services.
    with dg.build_sensor_context(
        instance=instance, resources=resources, cursor=json.dumps({"offset": 7})
    ) as context:
        result = harbor_sensor(context)
        cursor = context.cursor
    assert str(result.skip_message).startswith("looked at 1 of 1 tracked tags; 1 moved")
    assert json.loads(cursor) == {"offset": 0}
