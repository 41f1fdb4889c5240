"""promotion_failure_sensor: evidence for a run that died early; one issue after N failures."""

from __future__ import annotations

import json

import dagster as dg
import pytest

import resources.gitops as gitops_module
from factory_assets.dagster_resources import GitOpsRepo
from factory_assets.promotion.failed_run import run_has_evidence
from factory_assets.promotion.jobs import promote_service_job
from resources.gitops import GitError, GitopsWriter
from sensors.promotion_failures import failed_run_evidence_sensor, promotion_failure_sensor
from tests.doubles.github import GitHubDouble
from tests.support.evidence import validate_cli


@dg.asset(partitions_def=dg.DynamicPartitionsDefinition(name="services"), name="lane_pin")
def crashing_lane_pin() -> None:
    raise RuntimeError("worker killed before the engine wrote anything")


@pytest.fixture
def github(monkeypatch):
    double = GitHubDouble().start()
    for name, value in double.env().items():
        monkeypatch.setenv(name, value)
    yield double
    double.stop()


# A job named like the real one, so the run's job_name is what the sensors monitor.
crashing_promote_service = dg.Definitions(
    assets=[crashing_lane_pin],
    jobs=[dg.define_asset_job(promote_service_job.name, selection=[crashing_lane_pin])],
).resolve_job_def(promote_service_job.name)


def fail_a_run(instance) -> dg.RunFailureSensorContext:
    result = crashing_promote_service.execute_in_process(
        partition_key="api",
        instance=instance,
        raise_on_error=False,
        tags={"factory/service": "api"},
    )
    run = instance.get_run_by_id(result.run_id)
    (failure,) = [
        record.dagster_event
        for record in instance.all_logs(result.run_id, of_type=dg.DagsterEventType.RUN_FAILURE)
    ]
    return dg.build_run_status_sensor_context(
        sensor_name=promotion_failure_sensor.name,
        dagster_instance=instance,
        dagster_run=run,
        dagster_event=failure,
    ).for_run_failure()


def test_failed_run_gets_a_record_and_escalates_once_after_n(
    gitops_remote, dagster_instance, github, monkeypatch
):
    dagster_instance.add_dynamic_partitions("services", ["api"])
    monkeypatch.setenv("FACTORY_ESCALATE_AFTER", "2")
    # consecutive_failures reads the real failed runs from the instance: 1, then 2, then 3.
    resources = {"gitops": GitOpsRepo(path=str(gitops_remote.clone))}

    first = fail_a_run(dagster_instance)
    promotion_failure_sensor(first, **resources)
    fresh = gitops_remote.new_clone("after-first")
    assert run_has_evidence(fresh, first.dagster_run.run_id)
    assert github.open_issues() == []  # one failure: below the threshold

    promotion_failure_sensor(fail_a_run(dagster_instance), **resources)
    (issue,) = github.open_issues()
    assert "api" in issue["title"]
    promotion_failure_sensor(fail_a_run(dagster_instance), **resources)
    assert len(github.open_issues()) == 1  # a recurrence comments instead of opening a duplicate
    assert len(github.comments[issue["number"]]) == 1

    fresh = gitops_remote.new_clone("verify")
    proc = validate_cli(fresh)
    assert proc.returncode == 0, proc.stderr
    assert github.token not in (fresh / "evidence").as_posix()
    # The escalations are evidence on the remote, not files left in the user's checkout.
    escalations = [r for r in records_of(fresh) if r["kind"] == "repair"]
    assert [r["details"]["escalation"] for r in escalations] == [
        f"opened #{issue['number']}",
        f"commented on #{issue['number']}",
    ]
    assert all(r["details"]["issue_url"] == issue["html_url"] for r in escalations)
    assert gitops_remote.repo.git.status("--porcelain") == ""


def records_of(tree) -> list[dict]:
    paths = sorted((tree / "evidence" / "records").glob("*.json"))
    return [json.loads(p.read_text()) for p in paths]


def test_a_lost_push_race_does_not_comment_twice(
    gitops_remote, dagster_instance, github, monkeypatch
):
    """The escalation record's push loses to a concurrent commit; the retry must not re-send."""
    dagster_instance.add_dynamic_partitions("services", ["api"])
    monkeypatch.setenv("FACTORY_ESCALATE_AFTER", "1")
    resources = {"gitops": GitOpsRepo(path=str(gitops_remote.clone))}
    promotion_failure_sensor(fail_a_run(dagster_instance), **resources)  # opens the issue
    (issue,) = github.open_issues()
    raced = []

    class RacedWriter(GitopsWriter):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, checkpoint=self._race, **kwargs)

        def _race(self, name: str) -> None:
            if name == "escalation:applied" and not raced:
                rival = gitops_remote.new_clone("rival")  # at the head this attempt built on
                raced.append(
                    gitops_remote.commit_and_push({"NOTES.md": "rival\n"}, "rival", clone=rival)
                )

    # The sensor imports its writer when it runs (not with the definitions): patch its home.
    monkeypatch.setattr(gitops_module, "GitopsWriter", RacedWriter)
    promotion_failure_sensor(fail_a_run(dagster_instance), **resources)
    assert raced, "the race was not run"
    assert len(github.comments[issue["number"]]) == 1  # one recurrence, one comment
    fresh = gitops_remote.new_clone("verify")
    assert (fresh / "NOTES.md").read_text() == "rival\n"  # landed on top of the rival commit
    assert [r["details"]["escalation"] for r in records_of(fresh) if r["kind"] == "repair"] == [
        f"opened #{issue['number']}",
        f"commented on #{issue['number']}",
    ]
    assert validate_cli(fresh).returncode == 0


@pytest.mark.slow
def test_a_threshold_above_twenty_still_escalates(
    gitops_remote, dagster_instance, github, monkeypatch
):
    dagster_instance.add_dynamic_partitions("services", ["api"])
    monkeypatch.setenv("FACTORY_ESCALATE_AFTER", "22")
    for _ in range(21):
        fail_a_run(dagster_instance)  # failures the sensor did not see (e.g. it was stopped)
    resources = {"gitops": GitOpsRepo(path=str(gitops_remote.clone))}
    promotion_failure_sensor(fail_a_run(dagster_instance), **resources)  # the 22nd
    assert len(github.open_issues()) == 1


def test_a_run_the_failure_sensor_could_not_record_is_recorded_later(
    gitops_remote, dagster_instance, monkeypatch
):
    """Run status sensors move their cursor even when the tick fails: the reconciliation
    sensor finds the failed run without evidence and records it once git is back."""
    dagster_instance.add_dynamic_partitions("services", ["api"])
    resources = {"gitops": GitOpsRepo(path=str(gitops_remote.clone))}
    context = fail_a_run(dagster_instance)
    run_id = context.dagster_run.run_id
    away = gitops_remote.bare.with_name("away.git")
    gitops_remote.bare.rename(away)  # the remote is unreachable for this tick
    with pytest.raises(GitError):
        promotion_failure_sensor(context, **resources)
    away.rename(gitops_remote.bare)
    assert not run_has_evidence(gitops_remote.new_clone("before"), run_id)

    tick = dg.build_sensor_context(instance=dagster_instance, resources=resources)
    skip = failed_run_evidence_sensor(tick)
    assert "recorded 1 failed run" in skip.skip_message
    fresh = gitops_remote.new_clone("after")
    assert run_has_evidence(fresh, run_id)
    (record,) = [r for r in records_of(fresh) if r["links"].get("dagster_run_id") == run_id]
    assert "Steps failed: ['lane_pin']" in record["details"]["error"]  # the failure's message
    assert validate_cli(fresh).returncode == 0
    again = failed_run_evidence_sensor(tick)  # nothing left to do: no second record
    assert "have evidence" in again.skip_message
