"""Assembles the factory's Definitions; each domain folder owns its assets, checks and sensors.

`defs` is the code location (workspace.yaml, the webserver, the daemon). `defs_with_lanes` is
the same Definitions for `dagster asset materialize -a defs_with_lanes`: it first registers the
repo's lanes as partitions in DAGSTER_HOME, so CI on a fresh instance is one command.
"""

import functools

import dagster as dg

from factory_assets.common.env_aliases import apply_env_aliases
from factory_assets.config import resolve_repo
from factory_assets.dagster_resources import GitOpsRepo, HarborRegistry, PromotionSettings
from factory_assets.evidence.assets import evidence_assets, evidence_checks
from factory_assets.partitions import register_repo_lanes
from factory_assets.promotion.assets import promotion_assets
from factory_assets.promotion.jobs import promote_service_job
from factory_assets.site.assets import site_assets
from factory_assets.smoke.assets import smoke_assets
from sensors.harbor import harbor_sensor
from sensors.promotion_failures import failed_run_evidence_sensor, promotion_failure_sensor
from sensors.release_queue import release_queue_sensor
from sensors.smoke_recheck import smoke_lanes_job, smoke_recheck_sensor

# The deploy repository's own variable names (HARBOR_USER, ENV_ALLOWLIST, ...) work here too;
# HARBOR_INSECURE stops the code location from loading, with the reason.
apply_env_aliases()

defs = dg.Definitions(
    assets=[*promotion_assets, *smoke_assets, *evidence_assets, *site_assets],
    asset_checks=[*evidence_checks],
    jobs=[promote_service_job, smoke_lanes_job],
    sensors=[
        release_queue_sensor,
        harbor_sensor,
        promotion_failure_sensor,
        failed_run_evidence_sensor,
        smoke_recheck_sensor,
    ],
    resources={
        # Empty fields: resolved at run time from FACTORY_REPO (else the cwd) and HARBOR_*.
        "gitops": GitOpsRepo(),
        "harbor": HarborRegistry(),
        # Empty fields: each takes its variable (FACTORY_ENVS, FACTORY_RETRY_*, ...) at run time.
        "promotion": PromotionSettings(),
    },
    # One machine, two cores: in-process keeps a run cheap (~3 s instead of ~6 s).
    executor=dg.in_process_executor,
)


# Dagster calls the pointer on each load (five times in one `asset materialize`): register once.
@functools.cache
def defs_with_lanes() -> dg.Definitions:
    """`defs`, after adding the lanes at the remote head of FACTORY_REPO (else the cwd) to the
    instance in DAGSTER_HOME: `--partition` is checked against the instance before the run."""
    register_repo_lanes(resolve_repo(None))
    return defs
