"""The job the sensors launch: digest, pin and smoke check of one service, in one run."""

import dagster as dg

promote_service_job = dg.define_asset_job(
    "promote_service",
    selection=dg.AssetSelection.assets("digest_preview", "lane_pin", "smoke_result"),
    description="Verify the digest on the env's Harbor, pin it for the (service, env) lane, then smoke-check the deploy.",
)
