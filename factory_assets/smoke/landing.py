"""Run a smoke check against the fresh remote head and land its record with compare-and-swap.

The check itself may wait minutes; it runs outside the writer's lock, on the user's
checkout fast-forwarded to the remote head. Only sealing and pushing the record holds
the lock, on the fresh head, so the chain never forks.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

from factory_assets.evidence import store
from factory_assets.evidence.model import EvidenceRecord, RecordBody
from factory_assets.smoke.check import SmokeOutcome, check_service
from resources.gitops import GitopsWriter


def smoke_check_and_land(
    repo: Path,
    service: str,
    *,
    links: Mapping[str, str] | None = None,
    timeout_seconds: float | None = None,
    log: Callable[[str], None] | None = None,
) -> SmokeOutcome:
    writer = GitopsWriter(repo)
    note = writer.update_checkout()
    if log:
        log(note)

    def land(body: RecordBody) -> EvidenceRecord:
        if writer.mode == "files":
            return store.append_record(repo, body)
        txn = writer.transact(
            lambda tree: store.append_record(tree, body),
            message=lambda rec: f"factory: smoke {service} {rec.details.verdict} ({rec.id})\n",
            step="smoke_record",
            paths=lambda _: ("evidence",),
        )
        if writer.mode == "remote":
            writer.update_checkout()
        return txn.value

    return check_service(repo, service, timeout_seconds=timeout_seconds, links=links, record=land)
