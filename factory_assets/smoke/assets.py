"""Dagster layer for smoke checks: `smoke_result`, downstream of `lane_pin`, per (service, env).

The checks are imported in the asset body: the definitions load them only for a smoke run.
"""

import dagster as dg

from factory_assets.dagster_resources import GitOpsRepo
from factory_assets.partitions import lane_of, lanes_partitions


@dg.asset(
    partitions_def=lanes_partitions,
    deps=["lane_pin"],
    group_name="smoke",
    description="Proof that the pinned digest runs in the lane's environment: Argo CD synced the pinning commit, is healthy (not "
    "stale) and runs the digest; or the service's endpoint answers ready. Writes a `smoke` record.",
    kinds={"argocd"},
)
def smoke_result(context: dg.AssetExecutionContext, gitops: GitOpsRepo) -> dg.MaterializeResult:
    from factory_assets.common.clock import utc_now
    from factory_assets.pipeline.lane_policy import lane_metadata
    from factory_assets.smoke.landing import NotChecked, smoke_check_and_land

    service, env = lane_of(context.partition_key)
    repo = gitops.resolve()
    links = {
        "dagster_run_id": context.run.run_id,
        "asset_key": "smoke_result",
        "partition": str(context.partition_key),
    }
    outcome = smoke_check_and_land(
        repo, service, links=links, log=context.log.info, environment=env
    )
    if isinstance(outcome, NotChecked):  # another cluster's lane: its own runner checks it
        context.log.info(outcome.reason)
        return dg.MaterializeResult(metadata=outcome.metadata())
    # A failed smoke is recorded (metadata and evidence) but does not fail the run or un-pin:
    # the release is pinned; the verdict is what the dashboard and escalation act on.
    if not outcome.ok:
        context.log.warning(f"{service}: smoke {outcome.verdict}: {outcome.reason}")
    # the lane's policies: a downstream soak ("soak_prod: soaking, 12 min of 30"), a window
    # wait, what the automatic rollback makes of the pin
    policies = lane_metadata(repo, service, env, utc_now())
    return dg.MaterializeResult(metadata={**outcome.metadata(), **policies})


smoke_assets = [smoke_result]
