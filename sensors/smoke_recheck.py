"""`smoke_recheck_sensor`: smoke-check every lane of this runner's environments again, on a clock.

A pin is smoke-checked once, in the run that lands it. What happens later shows only on a
later look: someone's `kubectl edit` (drift), an Argo CD that stopped syncing, a service that
degrades a day after its deploy. The legacy smoke CronJob looked every 15 minutes; in the
Dagster runtime this sensor does, one `smoke_result` run per lane. A check writes a record
and a commit only when its verdict kind changes, so a quiet lane costs no commit.
"""

from __future__ import annotations

import dagster as dg

from factory_assets.common import settings
from factory_assets.dagster_resources import GitOpsRepo
from factory_assets.partitions import add_requests, lane_key, unregistered_lanes
from sensors.release_queue import ENV_TAG, SERVICE_TAG

smoke_lanes_job = dg.define_asset_job(
    "smoke_lanes",
    selection=dg.AssetSelection.assets("smoke_result"),
    description="Smoke-check one (service, env) lane's current pin again, recording only news.",
)
RECHECK_SECONDS = settings.FACTORY_SMOKE_RECHECK_SECONDS.get()


def recheck_run_key(service: str, env: str, epoch_seconds: float, every: int) -> str:
    """One run per lane per period: a tick that repeats within the period asks for nothing new."""
    return f"smoke:{env}|{service}:{int(epoch_seconds // every)}"


@dg.sensor(
    job=smoke_lanes_job,
    minimum_interval_seconds=RECHECK_SECONDS,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Every FACTORY_SMOKE_RECHECK_SECONDS (default 15 min, the first one period after "
    "the instance's first tick), requests a smoke check of each lane of this runner's "
    "environments (FACTORY_ENVS) at the remote head, so drift and a later degradation are seen "
    "without a new pin.",
)
def smoke_recheck_sensor(
    context: dg.SensorEvaluationContext, gitops: GitOpsRepo
) -> dg.SensorResult:
    from factory_assets.common.clock import utc_now
    from factory_assets.smoke.scope import scope_at_remote_head

    # The factory's clock (a test moves it): a soak's end or an automatic rollback's
    # confirmation is looked for in the period after the clock reached it.
    stamp = utc_now().timestamp()
    period = str(int(stamp // RECHECK_SECONDS))
    if context.cursor is None:
        # A new instance starts the clock: every pin it lands is checked in that run, and
        # a burst of checks of every lane at start-up would race the first promotions.
        return dg.SensorResult(cursor=period)
    if context.cursor == period:
        return dg.SensorResult()
    lanes = scope_at_remote_head(gitops.resolve()).lanes
    new_services, new_envs = unregistered_lanes(context.instance, lanes)
    requests = [
        dg.RunRequest(
            run_key=recheck_run_key(service, env, stamp, RECHECK_SECONDS),
            partition_key=lane_key(service, env),
            tags={SERVICE_TAG: service, ENV_TAG: env},
        )
        for service, env in lanes
    ]
    return dg.SensorResult(
        run_requests=requests,
        dynamic_partitions_requests=add_requests(new_services, new_envs),
        cursor=period,
    )
