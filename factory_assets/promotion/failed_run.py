"""Record a promotion run that died before the engine could write its own evidence."""

from __future__ import annotations

import os
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from pathlib import Path

import orjson

from factory_assets.common.errors import InputError
from factory_assets.evidence import store
from factory_assets.evidence.ids import ulid_millis
from factory_assets.evidence.layout import RECORDS_DIR
from factory_assets.evidence.model import RecordBody
from factory_assets.release.queue_file import load_queue
from resources.gitops import GitopsWriter

# Records are named by ULID (time-ordered): a run's own records are among the newest.
RECENT_RECORDS = 500


@dataclass(frozen=True)
class FailedRun:
    """A promotion run that failed, as Dagster reported it."""

    service: str
    run_id: str
    error: str
    job: str


def runs_with_evidence(
    tree: Path, run_ids: Collection[str], since_ms: int | None = None
) -> set[str]:
    """Which of `run_ids` a recent record links to.

    Recent: created at or after `since_ms` (record ids are ULIDs, so their names carry the
    time), else the newest RECENT_RECORDS. A reconciliation over a day of runs passes the
    day: a count would miss older records under load and record a run twice.
    """
    directory = tree / RECORDS_DIR
    if not directory.is_dir() or not run_ids:
        return set()
    wanted, found = set(run_ids), set()
    names = sorted((n for n in os.listdir(directory) if n.endswith(".json")), reverse=True)
    if since_ms is None:
        names = names[:RECENT_RECORDS]
    for name in names:
        if since_ms is not None and _created_ms(name) < since_ms:
            break
        try:
            links = orjson.loads((directory / name).read_bytes()).get("links") or {}
        except (OSError, orjson.JSONDecodeError, AttributeError):
            continue
        if links.get("dagster_run_id") in wanted:
            found.add(links["dagster_run_id"])
    return found


def _created_ms(name: str) -> int:
    try:
        return ulid_millis(name.removesuffix(".json"))
    except ValueError:
        return 0  # not a record id: sorts last anyway


def run_has_evidence(tree: Path, run_id: str) -> bool:
    return bool(runs_with_evidence(tree, [run_id]))


def _open_releases(tree: Path) -> dict[str, str]:
    """Each service's newest open (pending or promoting) release id, from one read of the queue."""
    try:
        entries = load_queue(tree).queue.entries
    except InputError:
        return {}
    return {e.service: e.id for e in entries if e.state in ("pending", "promoting")}


def _failure_body(failed: FailedRun, release_id: str | None) -> RecordBody:
    error = (
        f"run {failed.run_id} of {failed.job} failed before the engine recorded it: {failed.error}"
    )
    return store.new_body(
        kind="promotion",
        service=failed.service,
        result="failure",
        details={"release_id": release_id, "error": error[:60000]},
        links={
            "dagster_run_id": failed.run_id,
            "asset_key": "lane_pin",
            "partition": failed.service,
        },
    )


def runs_missing_evidence(
    repo: Path, run_ids: Collection[str], since_ms: int | None = None
) -> set[str]:
    """Which of `run_ids` have no record on the remote head (a read, nothing written)."""
    have = GitopsWriter(repo).snapshot(lambda tree: runs_with_evidence(tree, run_ids, since_ms))
    return set(run_ids) - have


def record_failed_runs(
    repo: Path, failed: Sequence[FailedRun], since_ms: int | None = None
) -> list[str]:
    """In one transaction, a `promotion`/`failure` record for each run that has none yet.

    The check runs on the fresh head inside the transaction, so two sensors racing on the
    same run land one record. Returns the new record ids.
    """

    def apply(tree: Path) -> list[str]:
        have = runs_with_evidence(tree, [f.run_id for f in failed], since_ms)
        releases = _open_releases(tree)
        bodies = [_failure_body(f, releases.get(f.service)) for f in failed if f.run_id not in have]
        return [record.id for record in store.append_records(tree, bodies)]

    if not failed:
        return []
    txn = GitopsWriter(repo).transact(
        apply,
        message=lambda ids: (
            f"factory: record failed run {failed[0].run_id} of {failed[0].service}\n"
            if len(failed) == 1
            else f"factory: record {len(ids)} failed promotion run(s)\n"
        ),
        step="failed_run",
        paths=lambda _: ("evidence",),
    )
    return txn.value


def record_failed_run(repo: Path, *, service: str, run_id: str, error: str, job: str) -> str | None:
    """Append a `promotion`/`failure` record for `run_id` unless the engine already wrote one.

    Returns the new record id, or None when the run had evidence already.
    """
    ids = record_failed_runs(repo, [FailedRun(service, run_id, error, job)])
    return ids[0] if ids else None
