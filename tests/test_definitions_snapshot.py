"""Snapshot of what the code location exposes: asset keys, partitions, checks, jobs, sensors.

A change here is a change to what users see in the UI and select in CI: update the
snapshot on purpose, never by accident.
"""

from __future__ import annotations

import dagster as dg

from factory_assets.definitions import defs

EXPECTED_ASSETS = {
    "digest_preview": {"group": "promotion", "partitions": "envs x services", "deps": []},
    "lane_pin": {"group": "promotion", "partitions": "envs x services", "deps": ["digest_preview"]},
    "smoke_result": {"group": "smoke", "partitions": "envs x services", "deps": ["lane_pin"]},
    # The keys before the rename, kept one release so their history stays readable.
    "dev_pin": {"group": "renamed", "partitions": "envs x services", "deps": []},
    "harbor_digest": {"group": "renamed", "partitions": "envs x services", "deps": []},
    "evidence_index": {"group": "evidence", "partitions": None, "deps": []},
    "pages_site": {"group": "evidence", "partitions": None, "deps": ["evidence_index"]},
}
EXPECTED_SENSORS = {
    "release_queue_sensor": ("RUNNING", "promote_service"),
    "harbor_sensor": ("RUNNING", "promote_service"),
    "promotion_failure_sensor": ("RUNNING", None),
    "failed_run_evidence_sensor": ("RUNNING", None),
    "smoke_recheck_sensor": ("RUNNING", "smoke_lanes"),
}


def _partitions_name(spec) -> str | None:
    partitions = spec.partitions_def
    if isinstance(partitions, dg.MultiPartitionsDefinition):
        return " x ".join(d.partitions_def.name for d in partitions.partitions_defs)
    return getattr(partitions, "name", None) if partitions else None


def test_asset_keys_groups_partitions_and_deps():
    specs = {spec.key.to_user_string(): spec for spec in defs.resolve_all_asset_specs()}
    actual = {
        key: {
            "group": spec.group_name,
            "partitions": _partitions_name(spec),
            "deps": sorted(dep.asset_key.to_user_string() for dep in spec.deps),
        }
        for key, spec in specs.items()
    }
    assert actual == EXPECTED_ASSETS


def test_sensors_default_to_running_and_target_the_promotion_job():
    repo = defs.get_repository_def()
    actual = {}
    for sensor in repo.sensor_defs:
        if sensor.name.startswith("default_automation"):
            continue
        job = sensor.job_name if sensor.has_jobs else None
        actual[sensor.name] = (sensor.default_status.value, job)
    assert actual == EXPECTED_SENSORS


def test_jobs_checks_and_executor():
    repo = defs.get_repository_def()
    assert {j.name for j in repo.get_all_jobs() if not j.name.startswith("__")} == {
        "promote_service",
        "smoke_lanes",
    }
    job = repo.get_job("promote_service")
    assert {k.to_user_string() for k in job.asset_layer.selected_asset_keys} == {
        "digest_preview",
        "lane_pin",
        "smoke_result",
    }
    smoke = repo.get_job("smoke_lanes")
    assert {k.to_user_string() for k in smoke.asset_layer.selected_asset_keys} == {"smoke_result"}
    checks = {key.name for key in defs.resolve_asset_graph().asset_check_keys}
    assert checks == {"evidence_records_valid"}
    assert isinstance(defs.executor, dg.ExecutorDefinition) and defs.executor.name == "in_process"
