"""`promotion_failure_sensor`: evidence for runs that died early, and escalation after N failures."""

import dagster as dg

from factory_assets.common.env import int_setting
from factory_assets.dagster_resources import GitOpsRepo
from factory_assets.promotion.failed_run import record_failed_run
from factory_assets.promotion.jobs import promote_service_job
from factory_assets.repair.counter import failure_key
from factory_assets.repair.escalate import record_escalation, send_escalation
from resources.github import GitHubClient, GitHubConfig
from resources.gitops import GitopsWriter
from sensors.release_queue import SERVICE_TAG


def escalate_after() -> int:
    """FACTORY_ESCALATE_AFTER, read per failure so a changed setting needs no code reload."""
    return int_setting("FACTORY_ESCALATE_AFTER", 3)


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
