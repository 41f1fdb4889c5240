"""Record a promotion run that died before the engine could write its own evidence."""

from __future__ import annotations

from pathlib import Path

import orjson

from factory_assets.common.errors import InputError
from factory_assets.evidence import store
from factory_assets.evidence.layout import RECORDS_DIR
from factory_assets.release.queue_file import load_queue
from resources.gitops import GitopsWriter

# Records are named by ULID (time-ordered): a run's own records are among the newest.
RECENT_RECORDS = 500


def run_has_evidence(tree: Path, run_id: str) -> bool:
    directory = tree / RECORDS_DIR
    if not directory.is_dir():
        return False
    names = sorted(
        (n for n in (p.name for p in directory.iterdir()) if n.endswith(".json")), reverse=True
    )
    for name in names[:RECENT_RECORDS]:
        try:
            links = orjson.loads((directory / name).read_bytes()).get("links") or {}
        except (OSError, orjson.JSONDecodeError, AttributeError):
            continue
        if links.get("dagster_run_id") == run_id:
            return True
    return False


def record_failed_run(repo: Path, *, service: str, run_id: str, error: str, job: str) -> str | None:
    """Append a `promotion`/`failure` record for `run_id` unless the engine already wrote one.

    Returns the new record id, or None when the run had evidence already.
    """

    def apply(tree: Path) -> str | None:
        if run_has_evidence(tree, run_id):
            return None
        release_id = None
        try:
            open_entries = [
                e
                for e in load_queue(tree).queue.entries
                if e.service == service and e.state in ("pending", "promoting")
            ]
            release_id = open_entries[-1].id if open_entries else None
        except InputError:
            pass
        body = store.new_body(
            kind="promotion",
            service=service,
            result="failure",
            details={
                "release_id": release_id,
                "error": f"run {run_id} of {job} failed before the engine recorded it: {error}"[
                    :60000
                ],
            },
            links={"dagster_run_id": run_id, "asset_key": "dev_pin", "partition": service},
        )
        return store.append_record(tree, body).id

    txn = GitopsWriter(repo).transact(
        apply,
        message=lambda rid: f"factory: record failed run {run_id} of {service}\n",
        step="failed_run",
        paths=lambda _: ("evidence",),
    )
    return txn.value
