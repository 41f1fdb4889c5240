"""The smoke re-check sensor: every lane of this runner's environments, once per period."""

from __future__ import annotations

import dagster as dg

from factory_assets.dagster_resources import GitOpsRepo
from sensors.smoke_recheck import recheck_run_key, smoke_recheck_sensor

LAYOUT = "environments:\n  dev: {pins: pin-files}\n  prod: {pins: pin-files}\n"
SMOKE = "smoke:\n  argocd_app: {app}\n"


def _tick(instance, clone, cursor: str | None = "0") -> dg.SensorResult:
    resources = {"gitops": GitOpsRepo(path=str(clone))}
    with dg.build_sensor_context(instance=instance, resources=resources, cursor=cursor) as context:
        return smoke_recheck_sensor(context)


def test_each_lane_of_this_runners_environments_is_checked_again(
    gitops_remote, dagster_instance, monkeypatch
):
    """A dev runner asks for dev's lanes at the remote head (a lane pushed after its clone
    was made included), registers their partitions, and leaves prod to prod's runner."""
    monkeypatch.setenv("FACTORY_ENVS", "dev")
    gitops_remote.commit_and_push(
        {
            "factory.yaml": LAYOUT,
            "envs/dev/api.yaml": SMOKE.format(app="api-dev"),
            "envs/prod/api.yaml": SMOKE.format(app="api-prod"),
        },
        "two environments",
    )
    gitops_remote.commit_and_push(
        {"envs/dev/web.yaml": SMOKE.format(app="web-dev")},
        "web joins dev",
        clone=gitops_remote.new_clone("elsewhere"),
    )
    result = _tick(dagster_instance, gitops_remote.clone)
    assert sorted(r.partition_key for r in result.run_requests) == ["dev|api", "dev|web"]
    assert {r.tags["factory/env"] for r in result.run_requests} == {"dev"}
    services, envs = result.dynamic_partitions_requests
    assert (list(services.partition_keys), list(envs.partition_keys)) == (["api", "web"], ["dev"])
    # Within the same period, the next tick asks for nothing.
    assert _tick(dagster_instance, gitops_remote.clone, result.cursor).run_requests == []


def test_a_new_instance_starts_the_clock_without_a_burst(gitops_remote, dagster_instance):
    gitops_remote.commit_and_push({"envs/dev/api.yaml": SMOKE.format(app="api-dev")}, "api")
    first = _tick(dagster_instance, gitops_remote.clone, cursor=None)
    assert first.run_requests == [] and first.cursor is not None


def test_one_run_per_lane_per_period():
    assert recheck_run_key("api", "dev", 1000.0, 900) == recheck_run_key("api", "dev", 1799.0, 900)
    assert recheck_run_key("api", "dev", 1800.0, 900) != recheck_run_key("api", "dev", 1799.0, 900)
    assert recheck_run_key("api", "dev", 1000.0, 900) != recheck_run_key("api", "prod", 1000.0, 900)
