"""`python -m tests.soak [--seed N] [--minutes M] [--services S] [--requests R]`: one soak.

Prints the figures and every violation; on a violation, the seed and the shortest history
that shows it (shrunk by replaying). `--replay FILE` plays a saved schedule instead. Exit 0
with no violation, 1 otherwise.
"""

from __future__ import annotations

import argparse
import signal
import sys
import tempfile
from pathlib import Path

from tests.soak.harness import run_soak
from tests.soak.schedule import Schedule, SoakConfig, make_schedule
from tests.soak.shrink import report_violation


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.soak", description=__doc__)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--services", type=int, default=200)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--faults-per-minute", type=float, default=12.0)
    parser.add_argument(
        "--drain",
        type=float,
        default=None,
        help="at most this many seconds to finish after the faults stop (default: half the soak, >= 120)",
    )
    parser.add_argument("--lease", type=int, default=30, help="FACTORY_CLAIM_LEASE_SECONDS")
    parser.add_argument("--no-daemon", action="store_true", help="CLI runners only")
    parser.add_argument("--replay", type=Path, help="play this saved schedule instead")
    parser.add_argument("--workdir", type=Path, help="keep the soak's files here")
    parser.add_argument(
        "--no-shrink", action="store_true", help="report violations without shrinking"
    )
    parser.add_argument(
        "--shrink-budget", type=float, default=900.0, help="seconds the shrinker may replay for"
    )
    args = parser.parse_args(argv)
    # A SIGTERM (a CI timeout, `kill`) stops the soak the way Ctrl-C does: everything it
    # started (registries, runners, the daemon) is stopped on the way out.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if args.replay:
        schedule = Schedule.load(args.replay)
    else:
        duration = args.minutes * 60
        drain = args.drain if args.drain is not None else max(120.0, duration / 2)
        config = SoakConfig(
            seed=args.seed,
            duration=duration,
            services=args.services,
            requests=args.requests,
            faults_per_minute=args.faults_per_minute,
            drain=drain,
            daemon=not args.no_daemon,
            lease_seconds=args.lease,
        )
        schedule = make_schedule(config)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="factory-soak-"))
    report = run_soak(schedule, workdir / "soak", keep=args.workdir is not None)
    for line in report.lines():
        print(line, flush=True)
    if not report.violations:
        return 0
    if not args.no_shrink:
        report_violation(report, workdir, print, budget_seconds=args.shrink_budget)
    return 1


if __name__ == "__main__":
    sys.exit(main())
