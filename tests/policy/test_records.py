"""The records of soak, windows and automatic rollback validate, and a wrong one is refused."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from factory_assets.evidence.store import append_record, new_body
from factory_assets.evidence.validate import validate_repo
from tests.evidence.helpers import write_chain

DIGEST = "sha256:" + "ab" * 32
AT = "2026-12-07T09:00:00.000000Z"
LATER = "2026-12-07T09:31:00.000000Z"


def promotion(event: str, **details) -> dict:
    return dict(
        kind="promotion",
        service="api",
        result="skipped",
        details={"release_id": "r-1", "env": "prod", "requested_digest": DIGEST, "event": event}
        | details,
    )


def test_soak_window_and_automatic_rollback_records_validate(tmp_path: Path):
    smoke = write_chain(tmp_path, 2)[1]
    bodies = [
        promotion(
            "handoff",
            soak={
                "required_ms": 1_800_000,
                "began_at": AT,
                "ended_at": LATER,
                "records": [smoke.id],
                "restarted_at": None,
            },
        ),
        promotion(
            "window_wait",
            window={"window": "deny '0 16 * * FRI' for 64h (Europe/Berlin)", "until": LATER},
            reason="outside its window until Mon 08:00",
        ),
        promotion("window_open", window={"window": "deny", "since": AT}),
        promotion(
            "rollback",
            requested_by="factory-auto-rollback",
            auto_rollback={
                "failed_smoke": smoke.id,
                "failed_at": AT,
                "verdict_kind": "drift",
                "confirmed_at": LATER,
                "sync_window_ms": 180_000,
            },
        ),
    ]
    for body in bodies:
        append_record(tmp_path, new_body(**body))
    count, problems = validate_repo(tmp_path)
    assert (count, problems) == (6, [])


@pytest.mark.parametrize(
    "bad",
    [
        {"soak": {"required_ms": -1, "began_at": AT, "ended_at": LATER}},
        {"soak": {"required_ms": 1, "began_at": "monday", "ended_at": LATER}},
        {"window": {"until": LATER}},
        {
            "auto_rollback": {
                "failed_smoke": "F",
                "failed_at": AT,
                "verdict_kind": "drift",
                "confirmed_at": LATER,
                "sync_window_ms": 1,
            }
        },
        {"event": "window_closed"},
    ],
)
def test_a_malformed_one_is_refused(bad: dict):
    with pytest.raises(ValidationError):
        new_body(**promotion(bad.pop("event", "handoff"), **bad))
