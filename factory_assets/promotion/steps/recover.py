"""Step 4: crash recovery. A pin an earlier runner pushed but never recorded gets its record.

The plan re-claims such an entry (`promoted`, still claimed, its runner gone); this step finds
the commit that pinned it (by its `Factory-Release` trailer) and what that commit changed,
verifies the digest again on the env's registry, and `record_recovered` writes the record
(event `recovered`) with the other records of the pass.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import replace

from factory_assets.promotion.steps.record import RecordBook, success
from factory_assets.promotion.steps.resolve import resolve_all
from factory_assets.promotion.steps.results import (
    RELEASE_TRAILER,
    Claim,
    PassRun,
    Recovery,
    with_evidence,
)
from factory_assets.release.state import mark_recorded
from resources.gitops import GitopsWriter


def recover_pins(
    run: PassRun, writer: GitopsWriter, registry, claims: Sequence[Claim]
) -> list[Recovery]:
    """Each unrecorded pin's commit and changes, and its digest verified again."""
    recoveries = []
    concurrency = run.config.resolve_concurrency
    for res in resolve_all(registry, claims, concurrency=concurrency, exact=True):
        entry = res.claim.entry
        commit = writer.find_commit(f"^{RELEASE_TRAILER}: {re.escape(entry.id)}$")
        pin = res.claim.target
        changes = pin.changed_by(writer.show, commit) if commit and pin else ()
        recoveries.append(Recovery(res, commit, tuple(changes)))
    return recoveries


def record_recovered(book: RecordBook, recovery: Recovery) -> None:
    """A pin an earlier runner pushed but never recorded: its record, written now."""
    res = recovery.resolution
    current = book.owned(res.claim.entry, "promoted")
    if current is None:
        return
    note = "recorded by a later pass: the runner that pinned it stopped before recording"
    if res.error:
        note += f"; re-verification failed: {res.error}"
    record = book.seal(
        current,
        result="success",
        event="recovered",
        resolved=res.resolved,
        pin_changes=recovery.changes,
        commit=recovery.commit,
        push="pushed by an earlier pass" if recovery.commit else None,
        reason=note,
    )
    book.w.put(
        mark_recorded(
            with_evidence(current, record), evidence=record.id, promoted_commit=recovery.commit
        )
    )
    result = success(current, record, res.resolved, recovery.commit, False)
    if res.error:  # the pin is live, so it stays a success; but say it, on the outcome too
        result = replace(result, error=f"pinned, but re-verification failed: {res.error}")
    book.w.outcomes.append(result)
