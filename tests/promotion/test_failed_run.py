"""Which failed runs already have evidence: looked up by time, so none is recorded twice."""

from __future__ import annotations

import json
from pathlib import Path

from factory_assets.evidence.ids import encode_ulid
from factory_assets.promotion.failed_run import RECENT_RECORDS, runs_with_evidence

START_MS = 1_800_000_000_000


def write_links(records: Path, millis: int, run_id: str | None, n: int = 0) -> None:
    links = {"dagster_run_id": run_id} if run_id else {}
    (records / f"{encode_ulid(millis, n)}.json").write_text(json.dumps({"links": links}))


def test_a_run_s_record_older_than_the_newest_records_is_found_by_time(tmp_path: Path):
    records = tmp_path / "evidence" / "records"
    records.mkdir(parents=True)
    write_links(records, START_MS + 5, "RUN-R")  # the engine's record of the run
    for n in range(RECENT_RECORDS + 20):  # a busy day: many records after it
        write_links(records, START_MS + 1000 + n, None, n)
    assert runs_with_evidence(tmp_path, ["RUN-R"]) == set()  # a count window misses it
    assert runs_with_evidence(tmp_path, ["RUN-R"], since_ms=START_MS) == {"RUN-R"}
    # and records older than the run's start are not read at all
    assert runs_with_evidence(tmp_path, ["RUN-R"], since_ms=START_MS + 10) == set()
