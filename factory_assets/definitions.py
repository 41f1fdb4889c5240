"""Assembles the factory's Definitions; each domain folder owns its assets, checks and sensors."""

import dagster as dg

from factory_assets.dagster_resources import GitOpsRepo
from factory_assets.evidence.assets import evidence_assets, evidence_checks

defs = dg.Definitions(
    assets=[*evidence_assets],
    asset_checks=[*evidence_checks],
    resources={
        # Empty path: resolved at run time from FACTORY_REPO, else the current directory.
        "gitops": GitOpsRepo(),
    },
    # One machine, two cores: in-process keeps a run cheap (~3 s instead of ~6 s).
    executor=dg.in_process_executor,
)
