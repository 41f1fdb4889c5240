"""Benchmark validate and collect on 100,000 records against a floor measured in the same run.

    .venv/bin/python bench/evidence_bench.py [--records N] [--runs N]

The floor is the time to read every record file once, in a fresh process (as the
commands run): no command that checks every record can beat it. Targets are ratios to
that floor, so a slower or busier machine moves both sides:

- `factory evidence validate`                  <= 4x the floor
- `factory evidence collect --full`            <= 3x the floor
- `factory evidence collect` after 100 new records <= 0.5x the floor: it must not re-read
  the records already collected, and one that did would cost the whole floor again. (Its
  ratio to the CLI's start-up, also measured, is printed too: the command has to list every
  record file's name, which at 100k names takes about as long as the start-up itself, so
  that ratio measures the listing, not whether the chain is read again.)

The naive baseline (json.loads each file, jsonschema against the committed schema,
rfc8785 digest: what a first version would do) is a validator, so it is compared with
validate only. Every figure is the median of --runs runs. Exits 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import jsonschema
import rfc8785

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.evidence_records import generate  # noqa: E402

# Ratios to the floor (see the module docstring).
VALIDATE_TARGET = 4.0
FULL_COLLECT_TARGET = 3.0
INCREMENTAL_TARGET = 0.5  # x floor A: a re-read of the collected records costs 1x or more


def naive_validate(repo: Path) -> int:
    schema = json.loads((ROOT / "evidence/schema/evidence-record.schema.json").read_text())
    validator = jsonschema.Draft202012Validator(schema)
    count = 0
    for path in sorted((repo / "evidence/records").glob("*.json")):
        record = json.loads(path.read_text())
        validator.validate(record)
        body = {k: v for k, v in record.items() if k != "integrity"}
        assert (
            "sha256:" + hashlib.sha256(rfc8785.dumps(body)).hexdigest()
            == record["integrity"]["content_digest"]
        )
        count += 1
    return count


def timed_naive(repo: Path) -> float:
    start = time.perf_counter()
    naive_validate(repo)
    return time.perf_counter() - start


READ_ALL = """
import os, sys
directory = sys.argv[1]
for name in os.listdir(directory):
    with open(os.path.join(directory, name), "rb") as fh:
        fh.read()
"""


def timed_floor(repo: Path) -> float:
    """Wall time of a fresh process reading every record file once: the floor."""
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", READ_ALL, str(repo / "evidence" / "records")], check=True)
    return time.perf_counter() - start


def timed_startup() -> float:
    """Wall time of a fresh process that imports the CLI and exits: what every command pays."""
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import factory_assets.cli.main"], check=True)
    return time.perf_counter() - start


def timed_cli(*args: str) -> float:
    """Wall time of the real command, process start-up included (what a user waits for)."""
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "factory_assets.cli.main", *args], capture_output=True, text=True
    )
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"factory {' '.join(args)} failed: {proc.stderr[-500:]}")
    return elapsed


def repeated(run, times: int, before=None) -> tuple[float, float, float]:
    """(median, min, max) of `times` runs; `before` restores the starting state for each."""
    seconds = []
    for _ in range(times):
        if before:
            before()
        os.sync()  # start each run with no writeback of earlier runs in flight
        seconds.append(run())
    return statistics.median(seconds), min(seconds), max(seconds)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3, help="timed runs per command (median)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="evidence-bench-") as tmp:
        repo = Path(tmp)
        t0 = time.perf_counter()
        last = generate(repo, args.records)
        print(
            f"generated {args.records} records by the documented rule in {time.perf_counter() - t0:.1f} s"
        )

        runs = args.runs
        floor = repeated(lambda: timed_floor(repo), runs)
        startup = repeated(timed_startup, runs)
        naive = repeated(lambda: timed_naive(repo), runs)
        validate = repeated(lambda: timed_cli("evidence", "validate", "--repo", tmp), runs)
        full = repeated(lambda: timed_cli("evidence", "collect", "--repo", tmp, "--full"), runs)
        generate(repo, 100, start_sequence=args.records + 1, prev_digest=last)
        # Each run extends the same collected index by the same 100 records.
        index_dir = repo / "evidence" / "index"
        saved = Path(tmp).parent / f"{Path(tmp).name}-index"
        shutil.copytree(index_dir, saved)
        saved_index = (repo / "evidence" / "index.json").read_bytes()

        def restore() -> None:
            # Only what the last run changed: rewriting all shards would leave ~45 MB of
            # writeback running into the next timed run.
            for path in index_dir.iterdir():
                if not (saved / path.name).exists():
                    path.unlink()
            for path in saved.iterdir():
                data = path.read_bytes()
                target = index_dir / path.name
                if not target.exists() or target.read_bytes() != data:
                    target.write_bytes(data)
            (repo / "evidence" / "index.json").write_bytes(saved_index)

        try:
            incremental = repeated(
                lambda: timed_cli("evidence", "collect", "--repo", tmp), runs, restore
            )
        finally:
            shutil.rmtree(saved, ignore_errors=True)

    # (what, timings, the floor it is compared with, target as a multiple of that floor)
    rows = [
        ("read every record file once (floor A)", floor, floor, None),
        ("CLI start-up: import it, exit (floor B)", startup, startup, None),
        ("naive validate (json + jsonschema + rfc8785)", naive, floor, None),
        ("factory evidence validate", validate, floor, VALIDATE_TARGET),
        ("factory evidence collect (full)", full, floor, FULL_COLLECT_TARGET),
        ("factory evidence collect (+100, incremental)", incremental, floor, INCREMENTAL_TARGET),
    ]
    print(f"\n{args.records} records, {os.cpu_count()} cores; median of {args.runs} runs (min-max)")
    print(f"{'what':48} {'seconds':>8} {'min-max':>11} {'x floor':>10} {'target':>8}  verdict")
    missed = []
    for name, (median, low, high), base, target in rows:
        ratio = median / base[0]
        which = "A" if base is floor else "B"
        verdict = "" if target is None else ("met" if ratio <= target else "MISSED")
        if verdict == "MISSED":
            missed.append(name)
        print(
            f"{name:48} {median:8.2f} {f'{low:.2f}-{high:.2f}':>11} {ratio:7.2f}x {which} "
            f"{f'<= {target}x' if target else '':>8}  {verdict}"
        )
    # Like with like: the naive loop is a validator, so only validate is compared with it.
    print(f"validate is {naive[0] / validate[0]:.1f}x faster than the naive validate loop")
    print(f"incremental collect is {incremental[0] / startup[0]:.1f}x the CLI's start-up (floor B)")
    print(f"targets: {'all met' if not missed else 'missed: ' + ', '.join(missed)}")
    # A busy machine skews every figure; say so next to them.
    print(f"1-minute load average at the end: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
