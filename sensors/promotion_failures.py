"""`promotion_failure_sensor`: evidence for runs that died early, and escalation after N failures."""

import os

import dagster as dg

from factory_assets.dagster_resources import GitOpsRepo
from factory_assets.promotion.failed_run import record_failed_run
from factory_assets.promotion.jobs import promote_service_job
from factory_assets.repair.counter import failure_key
from factory_assets.repair.escalate import escalate_failure
from resources.github import GitHubClient, GitHubConfig
from sensors.release_queue import SERVICE_TAG

ESCALATE_AFTER = int(os.environ.get("FACTORY_ESCALATE_AFTER", "3"))


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
    failures = consecutive_failures(context.instance, run.job_name, service)
    if failures < ESCALATE_AFTER:
        return
    config = GitHubConfig.from_env()
    if config is None:
        context.log.warning(
            f"{service}: {failures} consecutive failed runs; GITHUB_* not set, not escalating"
        )
        return
    with GitHubClient(config) as client:
        result = escalate_failure(
            repo,
            key=failure_key(service, run.job_name),
            title=f"factory: promotion of {service} keeps failing",
            log=error,
            commands=[
                f"factory promote --service {service} --dry-run",
                f"factory promote --service {service}",
            ],
            commit=None,
            client=client,
            service=service,
            run_id=run.run_id,
        )
    context.log.info(f"{service}: escalation {result.action} {result.issue_url or ''}")
