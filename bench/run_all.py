"""`make bench`: run every benchmark in bench/, one after the other, and print their figures."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
BENCHES = [
    "evidence_bench.py",
    "verify_bench.py",
    "promotion_bench.py",
    "layout_bench.py",
    "sensor_bench.py",
    "latency_bench.py",
    "smoke_bench.py",
    "smoke_churn_bench.py",
    "site_bench.py",
    "cli_start_bench.py",
    "materialize_bench.py",
    "soak_bench.py",
]


def main() -> int:
    failed = []
    for name in BENCHES:
        print(f"\n===== {name} =====", flush=True)
        start = time.perf_counter()
        code = subprocess.call([sys.executable, str(HERE / name)], cwd=HERE.parent)
        print(f"({name}: exit {code}, {time.perf_counter() - start:.0f} s)", flush=True)
        if code:
            failed.append(name)
    if failed:
        print(f"\nfailed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
