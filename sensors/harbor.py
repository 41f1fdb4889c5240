"""`harbor_sensor`: HEAD each tracked tag in Harbor; when it moved, request a release."""

import json

import dagster as dg

from factory_assets.dagster_resources import GitOpsRepo, HarborRegistry
from factory_assets.promotion.digest_view import read_fresh
from factory_assets.promotion.track import look_for_moves, request_moved_tags, tracked_services

# Bound one tick: at most this many HEADs, continuing from the cursor on the next tick.
MAX_SERVICES_PER_TICK = 2000


@dg.sensor(
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="For services whose pin has `track`, HEADs the tag in Harbor; when its digest differs from the "
    "pin, appends a release request with requested_by: harbor (the queue sensor then promotes it).",
)
def harbor_sensor(
    context: dg.SensorEvaluationContext, gitops: GitOpsRepo, harbor: HarborRegistry
) -> dg.SkipReason:
    repo = gitops.resolve()
    tracked = read_fresh(repo, tracked_services)
    if not tracked:
        return dg.SkipReason("no service has `track` in its pin file")
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
