"""`make bench` runs every benchmark in bench/."""

from __future__ import annotations

from pathlib import Path

from bench import run_all

BENCH = Path(run_all.__file__).resolve().parent


def benchmarks() -> list[str]:
    """The scripts in bench/ that run on their own (helpers and run_all itself excluded)."""
    return sorted(
        path.name
        for path in BENCH.glob("*.py")
        if path.name != "run_all.py" and '__name__ == "__main__"' in path.read_text()
    )


def test_make_bench_runs_every_benchmark():
    assert sorted(run_all.BENCHES) == benchmarks()
    assert len(set(run_all.BENCHES)) == len(run_all.BENCHES)
