"""`harbor_sensor`: HEAD each tracked tag in Harbor; when it moved, request a release.
It also looks for the replica of every request waiting for replication, and requests the
lane's promotion run the moment the env's registry has it.

The engine and the registry client are imported in the tick: the definitions load this
module for every run, and only the daemon's ticks need them."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import dagster as dg

from factory_assets.dagster_resources import GitOpsRepo, HarborRegistry
from factory_assets.partitions import add_requests, lane_key, unregistered_lanes
from factory_assets.promotion.jobs import promote_service_job

if TYPE_CHECKING:
    from factory_assets.promotion.replica_watch import WaitingEntry

# Bound one tick: at most this many HEADs, continuing from the cursor on the next tick.
MAX_SERVICES_PER_TICK = 2000


def replica_runs(
    context: dg.SensorEvaluationContext, waiting: list[WaitingEntry], harbor: HarborRegistry
) -> list:
    """Run requests for waiting entries whose replica is there now (one run per entry)."""
    from factory_assets.promotion.replica_watch import replicated

    present, errors = replicated(harbor.registries(), waiting)
    for error in errors:
        context.log.warning(error)
    requests = []
    for item in present:
        context.log.info(f"{item.service}@{item.env}: {item.digest} replicated; promoting")
        requests.append(
            dg.RunRequest(
                run_key=f"{item.service}@{item.env}:{item.release_id}:replicated",
                partition_key=lane_key(item.service, item.env),
                tags={
                    "factory/service": item.service,
                    "factory/env": item.env,
                    "factory/release": item.release_id,
                },
            )
        )
    return requests


@dg.sensor(
    job=promote_service_job,
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="For services whose pin has `track`, HEADs the tag in Harbor; when its digest differs from the "
    "pin, appends a release request with requested_by: harbor (the queue sensor then promotes it). For "
    "requests waiting for replication, requests the promotion run once the env's registry has the digest.",
)
def harbor_sensor(
    context: dg.SensorEvaluationContext, gitops: GitOpsRepo, harbor: HarborRegistry
) -> dg.SkipReason | dg.SensorResult:
    from factory_assets.layout.config import allowed_envs
    from factory_assets.promotion.digest_view import read_fresh
    from factory_assets.promotion.replica_watch import waiting_entries
    from factory_assets.promotion.track import look_for_moves, request_moved_tags, tracked_services

    repo = gitops.resolve()
    # One snapshot of the remote head for both reads: each snapshot is a fetch and a reset.
    waiting, tracked = read_fresh(
        repo, lambda tree: (waiting_entries(tree, allowed_envs()), tracked_services(tree))
    )
    runs = replica_runs(context, waiting, harbor)
    if runs:
        lanes = [lane_of_request(r) for r in runs]
        return dg.SensorResult(
            run_requests=runs,
            dynamic_partitions_requests=add_requests(*unregistered_lanes(context.instance, lanes)),
        )
    if not tracked:
        return dg.SkipReason("no service has `track` in its pin file; no replica appeared")
    offset = int(json.loads(context.cursor)["offset"]) if context.cursor else 0
    if offset >= len(tracked):
        offset = 0
    chunk = tracked[offset : offset + MAX_SERVICES_PER_TICK]
    look = look_for_moves(harbor.client(), chunk)
    for error in look.errors:
        context.log.warning(error)
    added, commit = request_moved_tags(repo, list(look.moved))
    next_offset = offset + len(chunk)
    context.update_cursor(json.dumps({"offset": 0 if next_offset >= len(tracked) else next_offset}))
    for result in added:
        context.log.info(
            f"{result.entry.service}: {result.entry.tag} moved; requested {result.entry.id}"
        )
    return dg.SkipReason(
        f"looked at {len(chunk)} of {len(tracked)} tracked tags; {len(added)} moved"
        + (f", requested in {commit[:12]}" if commit else "")
    )


def lane_of_request(request: dg.RunRequest) -> tuple[str, str]:
    return request.tags["factory/service"], request.tags["factory/env"]
