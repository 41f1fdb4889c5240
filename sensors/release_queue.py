"""`release_queue_sensor`: watch release/queue.yaml at the remote head and start promotions.

The planner is imported in the tick: the definitions load this module for every run, and
only the daemon's ticks need it.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import dagster as dg

from factory_assets.dagster_resources import GitOpsRepo
from factory_assets.partitions import add_requests, lane_key, unregistered_lanes
from factory_assets.promotion.jobs import promote_service_job

if TYPE_CHECKING:
    from factory_assets.promotion.watch import ReadyService

SERVICE_TAG = "factory/service"
ENV_TAG = "factory/env"
RELEASE_TAG = "factory/release"
KEY_BASE_TAG = "factory/run-key-base"
MAX_RUN_RETRIES = 5
IN_FLIGHT = {
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
    dg.DagsterRunStatus.CANCELING,
}


def run_key_for(instance: dg.DagsterInstance, ready: ReadyService, now: datetime) -> str | None:
    """The run key for this exact queue state, or None when a run for it is in flight or spent.

    The base key changes whenever the engine records an attempt (attempts is in it), so a
    retry after back-off gets a fresh key. A run that failed without changing the queue (a
    crash before the claim landed) would otherwise block its key forever: it is retried with
    a `#rN` suffix after an exponential pause, at most MAX_RUN_RETRIES times.
    """
    runs = instance.get_runs(
        filters=dg.RunsFilter(tags={KEY_BASE_TAG: ready.run_key}), limit=MAX_RUN_RETRIES + 1
    )
    if not runs:
        return ready.run_key
    if any(run.status in IN_FLIGHT for run in runs):
        return None
    if runs[0].status == dg.DagsterRunStatus.SUCCESS:
        return None  # the state did not change after a successful run: nothing new to try
    failed = [
        run
        for run in runs
        if run.status in (dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED)
    ]
    if len(failed) > MAX_RUN_RETRIES:
        return None
    record = instance.get_run_record_by_id(runs[0].run_id)
    ended = record.end_time if record and record.end_time else None
    pause = timedelta(seconds=15 * 2 ** (len(failed) - 1))
    if ended is not None and now < datetime.fromtimestamp(ended, UTC) + pause:
        return None
    return f"{ready.run_key}#r{len(failed)}"


@dg.sensor(
    job=promote_service_job,
    minimum_interval_seconds=5,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Fetches the deploy repo, adds the `services` and `envs` partitions of each lane and "
    "requests a promotion run for each (service, env) lane with a ready release (pending, back-off "
    "over, not held, not waiting for replication), within FACTORY_ENVS.",
)
def release_queue_sensor(
    context: dg.SensorEvaluationContext, gitops: GitOpsRepo
) -> dg.SensorResult:
    from factory_assets.common.clock import utc_now
    from factory_assets.promotion.watch import queue_snapshot

    now = datetime.now(UTC)  # run ends are the instance's times
    # the plan's time is the factory's (promotion windows; a test moves it)
    snapshot = queue_snapshot(gitops.resolve(), utc_now())
    new_services, new_envs = unregistered_lanes(context.instance, snapshot.lanes)
    requests = []
    for ready in snapshot.ready:
        key = run_key_for(context.instance, ready, now)
        if key is None:
            continue
        tags = {SERVICE_TAG: ready.service, ENV_TAG: ready.env, KEY_BASE_TAG: ready.run_key}
        if ready.release_id:
            tags[RELEASE_TAG] = ready.release_id
        requests.append(
            dg.RunRequest(run_key=key, partition_key=lane_key(ready.service, ready.env), tags=tags)
        )
    for line in snapshot.waiting:
        context.log.info(line)
    return dg.SensorResult(
        run_requests=requests,
        dynamic_partitions_requests=add_requests(new_services, new_envs),
    )
