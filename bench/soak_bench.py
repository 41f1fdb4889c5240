"""Benchmark: a longer fault soak, against the same soak without faults, measured in the same run.

    .venv/bin/python bench/soak_bench.py [--seed 2] [--minutes 5] [--services 100] [--requests 1000]

Both runs play the same seeded schedule of release requests (tests/soak: two CLI runners per
layout and a dagster-daemon, service CI on both layouts, two registries, a git remote, an
Argo CD double); the second also plays its faults (registry 5xx, timeouts, 401s, 404s, cuts,
outages, push races, a remote refusing pushes, kill -9 of runners, skewed clocks). The
baseline is the first run's throughput: requests per minute that reached a terminal list.
Targets: no invariant broken in either run; with faults, at least half the baseline's
throughput (faults cost retries and back-off, never a collapse); every request still pending
at the end has a stated reason (part of the invariants). Exit 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.soak.harness import run_soak  # noqa: E402
from tests.soak.schedule import SoakConfig, make_schedule  # noqa: E402

TARGET_RATIO = 0.5


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=2)
    parser.add_argument("--minutes", type=float, default=5.0, help="of requests, per run")
    parser.add_argument("--services", type=int, default=100)
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--faults-per-minute", type=float, default=12.0)
    args = parser.parse_args()
    config = SoakConfig(
        seed=args.seed,
        duration=args.minutes * 60,
        services=args.services,
        requests=args.requests,
        faults_per_minute=args.faults_per_minute,
        drain=max(120.0, args.minutes * 30),
    )
    print(f"load before: {os.getloadavg()[0]:.1f} (2-core machine, shared)", flush=True)
    reports = {}
    with tempfile.TemporaryDirectory(prefix="soak-bench-") as tmp:
        for name, rate in (
            ("baseline (no faults)", 0.0),
            ("with faults", config.faults_per_minute),
        ):
            print(f"\n== {name} ==", flush=True)
            schedule = make_schedule(replace(config, faults_per_minute=rate))
            report = run_soak(schedule, Path(tmp) / name.split()[0])
            for line in report.lines():
                print(line, flush=True)
            reports[name] = report
    baseline, faulted = reports["baseline (no faults)"], reports["with faults"]
    ratio = faulted.per_minute / baseline.per_minute if baseline.per_minute else 0.0
    print(f"\nload after: {os.getloadavg()[0]:.1f}")
    verdicts = [
        (
            "no violation without faults",
            not baseline.violations,
            f"{len(baseline.violations)} violation(s)",
        ),
        (
            "no violation with faults",
            not faulted.violations,
            f"{len(faulted.violations)} violation(s), "
            f"{sum(faulted.injected.values())} faults injected",
        ),
        (
            f"throughput with faults >= {TARGET_RATIO:.1f}x the baseline",
            ratio >= TARGET_RATIO,
            f"{faulted.per_minute:.1f} vs {baseline.per_minute:.1f} requests/min ({ratio:.2f}x)",
        ),
    ]
    missed = False
    for name, ok, figure in verdicts:
        print(f"{'met   ' if ok else 'MISSED'} {name}: {figure}")
        missed |= not ok
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
