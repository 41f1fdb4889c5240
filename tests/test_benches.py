"""`make bench` runs every benchmark in bench/, and each one says met or MISSED per target."""

from __future__ import annotations

import ast
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


def test_each_benchmark_prints_a_verdict_and_returns_non_zero_on_a_miss():
    for name in benchmarks():
        source = (BENCH / name).read_text()
        assert "MISSED" in source, f"{name} prints no met/MISSED verdict"
        main = next(
            node
            for node in ast.parse(source).body
            if isinstance(node, ast.FunctionDef) and node.name == "main"
        )
        returns = [node.value for node in ast.walk(main) if isinstance(node, ast.Return)]
        # The exit code depends on the verdict: `return 1 if missed else 0` or its mirror.
        assert any(isinstance(value, ast.IfExp) for value in returns), (
            f"{name}: main() does not return a code that depends on its verdict"
        )
