"""Evidence records of kind `repair`: one per attempt, refusal, escalation and auto-close."""

from __future__ import annotations

import re
from pathlib import Path

from factory_assets.common import settings
from factory_assets.evidence.model import RecordBody
from factory_assets.evidence.store import append_record, new_body
from factory_assets.repair.redact import redact, trim_log

SHA = re.compile(r"^[a-f0-9]{40}$")


def subject_for(repo: Path, commit: str | None) -> list[dict]:
    if not commit or not SHA.match(commit):
        return []
    name = settings.GITHUB_REPOSITORY.get() or repo.name
    return [{"name": f"git:{name}", "digest": {"gitCommit": commit}}]


def repair_body(
    repo: Path,
    *,
    result: str,
    head: str | None,
    started_at: str,
    finished_at: str | None = None,
    service: str | None = None,
    run_id: str | None = None,
    log: str | None = None,
    **details: object,
) -> RecordBody:
    """A validated `repair` record body about commit `head`; the log is trimmed and redacted here."""
    fields = {k: v for k, v in details.items() if v is not None}
    if log:
        fields["log_excerpt"] = trim_log(redact(log), head=10, tail=60, max_chars=8000)
    links = {"commit": head} if head and SHA.match(head) else {}
    if run_id:
        links["dagster_run_id"] = run_id
    return new_body(
        kind="repair",
        service=service,
        result=result,
        details=fields,
        subject=subject_for(repo, head),
        started_at=started_at,
        finished_at=finished_at,
        links=links,
    )


def record_repair(repo: Path, **kwargs: object) -> str:
    """Append a repair record to the repository's evidence chain; returns the record id."""
    return append_record(repo, repair_body(repo, **kwargs)).id  # type: ignore[arg-type]
