"""`promotion_failure_sensor`: evidence for runs that died early, and escalation after N failures.

Evidence, escalation and the GitHub client are imported in the sensors' bodies: the
definitions load this module for every run, and only the daemon's ticks need them.
"""

from datetime import UTC, datetime, timedelta

import dagster as dg

from factory_assets.common import settings
from factory_assets.dagster_resources import GitOpsRepo
from factory_assets.promotion.jobs import promote_service_job
from sensors.release_queue import SERVICE_TAG


def escalate_after() -> int:
    """FACTORY_ESCALATE_AFTER, read per failure so a changed setting needs no code reload."""
    return settings.FACTORY_ESCALATE_AFTER.get()


def consecutive_failures(
    instance: dg.DagsterInstance, job: str, service: str, limit: int = 20
) -> int:
    """Failed runs of `job` for `service` since its last success, newest first (from the instance)."""
    runs = instance.get_runs(
        filters=dg.RunsFilter(job_name=job, tags={SERVICE_TAG: service}), limit=limit
    )
    count = 0
    for run in runs:
        if run.status == dg.DagsterRunStatus.SUCCESS:
            break
        if run.status == dg.DagsterRunStatus.FAILURE:
            count += 1
    return count


@dg.run_failure_sensor(
    monitored_jobs=[promote_service_job],
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Writes a failure record for a promotion run that crashed before its evidence, and after "
    "FACTORY_ESCALATE_AFTER consecutive failures of a service opens (or comments on) one GitHub issue.",
)
def promotion_failure_sensor(context: dg.RunFailureSensorContext, gitops: GitOpsRepo) -> None:
    from factory_assets.promotion.failed_run import record_failed_run
    from factory_assets.repair.counter import failure_key
    from factory_assets.repair.escalate import record_escalation, send_escalation
    from resources.github import GitHubClient, GitHubConfig
    from resources.gitops import GitopsWriter

    run = context.dagster_run
    service = run.tags.get(SERVICE_TAG)
    if not service:
        return
    error = context.failure_event.message or "run failed"
    repo = gitops.resolve()
    record_id = record_failed_run(
        repo, service=service, run_id=run.run_id, error=error, job=run.job_name
    )
    if record_id:
        context.log.info(f"recorded failed run {run.run_id} of {service} as {record_id}")
    threshold = escalate_after()
    # Read at least as many runs as the threshold: the count could never reach it otherwise.
    failures = consecutive_failures(
        context.instance, run.job_name, service, limit=max(20, threshold)
    )
    if failures < threshold:
        return
    config = GitHubConfig.from_env()
    if config is None:
        context.log.warning(
            f"{service}: {failures} consecutive failed runs; GITHUB_* not set, not escalating"
        )
        return
    key = failure_key(service, run.job_name)
    with GitHubClient(config) as client:
        # GitHub once, outside the transaction: a retried transaction must not comment twice.
        sent = send_escalation(
            key=key,
            title=f"factory: promotion of {service} keeps failing",
            log=error,
            commands=[
                f"factory promote --service {service} --dry-run",
                f"factory promote --service {service}",
            ],
            commit=None,
            client=client,
        )
    txn = GitopsWriter(repo).transact(
        lambda tree: record_escalation(
            tree, sent, key=key, log=error, service=service, run_id=run.run_id
        ),
        message=lambda _: f"factory: record escalation of {service} ({sent.action})\n",
        step="escalation",
        paths=lambda _: ("evidence",),
    )
    context.log.info(
        f"{service}: escalation {sent.action} {sent.issue_url or ''} recorded as {txn.value.record_id}"
    )


# How far back the reconciliation looks: a day of failed runs, the newest first.
RECONCILE_WINDOW_SECONDS = 24 * 3600
RECONCILE_MAX_RUNS = 50


def failure_message(instance: dg.DagsterInstance, run_id: str) -> str:
    """The RUN_FAILURE event's message of a run (what the failure sensor would have seen)."""
    for record in instance.all_logs(run_id, of_type=dg.DagsterEventType.RUN_FAILURE):
        event = record.dagster_event
        if event is not None and event.message:
            return event.message
    return "run failed"


@dg.sensor(
    minimum_interval_seconds=300,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Records evidence for failed promotion runs of the last day that have none: "
    "the failure sensor moves past a run even when recording it failed (git unreachable).",
)
def failed_run_evidence_sensor(
    context: dg.SensorEvaluationContext, gitops: GitOpsRepo
) -> dg.SkipReason:
    from factory_assets.promotion.failed_run import (
        FailedRun,
        record_failed_runs,
        runs_missing_evidence,
    )

    window_start = datetime.now(UTC) - timedelta(seconds=RECONCILE_WINDOW_SECONDS)
    records = context.instance.get_run_records(
        filters=dg.RunsFilter(
            job_name=promote_service_job.name,
            statuses=[dg.DagsterRunStatus.FAILURE],
            updated_after=window_start,
        ),
        limit=RECONCILE_MAX_RUNS,
    )
    records = [r for r in records if r.dagster_run.tags.get(SERVICE_TAG)]
    runs = {r.dagster_run.run_id: r.dagster_run for r in records}
    if not runs:
        return dg.SkipReason("no failed promotion run in the last day")
    repo = gitops.resolve()
    # A run's records are written after it started: look that far back in the chain, by
    # time (a minute of margin for clock skew between the run's host and this one).
    started = min(r.start_time or r.create_timestamp.timestamp() for r in records)
    since_ms = int((started - 60) * 1000)
    missing = runs_missing_evidence(repo, runs, since_ms)
    if not missing:
        return dg.SkipReason(
            f"all {len(runs)} failed promotion run(s) of the last day have evidence"
        )
    failed = [
        FailedRun(
            runs[run_id].tags[SERVICE_TAG],
            run_id,
            failure_message(context.instance, run_id),
            runs[run_id].job_name,
        )
        for run_id in sorted(missing)
    ]
    recorded = record_failed_runs(repo, failed, since_ms)
    return dg.SkipReason(f"recorded {len(recorded)} failed run(s) that had no evidence")
