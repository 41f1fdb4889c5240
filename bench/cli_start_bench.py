"""Benchmark how fast `factory` starts for the commands that need no Dagster, against a bare
`python -c pass` measured in the same run.

    .venv/bin/python bench/cli_start_bench.py [--runs 9] [--ratio 6]

It builds a small scratch GitOps repository with git (a bare remote and a clone: one pinned
service, a `releases:` queue with one pending request, no evidence), then runs each command
`runs` times as a real process (the installed `factory` entry point), round by round after a
warm-up round, and takes the median wall time. `promote --dry-run` only fetches the remote
head and plans: it needs no registry. For scale it also prints what importing pydantic and
building one model costs, the least any command that reads the queue or a pin loads.
Target: every command starts in at most `ratio` x the bare interpreter's median.
Exit 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TARGET_RATIO = 6.0
REGISTRY = "127.0.0.1:9"  # never contacted: `release add --digest` only checks the host
DIGEST = "sha256:" + "ab" * 32
IDENTITY = (
    "-c",
    "user.name=bench",
    "-c",
    "user.email=bench@localhost",
    "-c",
    "commit.gpgsign=false",
)
PIN = f"""\
service: api
image: {REGISTRY}/shop/api@sha256:{"cd" * 32}
tag: v1
release_id: 01JDZ8X3M4T9V6W2Q5R7S1K0PA
promoted_at: '2026-01-01T00:00:00Z'
"""
QUEUE = f"""\
releases:
- id: 01JDZ8X3M4T9V6W2Q5R7S1K0PB
  service: api
  env: dev
  image: {REGISTRY}/shop/api
  digest: {DIGEST}
  requested_at: '2026-01-02T00:00:00Z'
  requested_by: bench
  state: pending
"""


# What every command that reads the queue or a pin loads at the least: its entries are
# pydantic models. Printed for scale, not judged.
PYDANTIC = "from pydantic import BaseModel\nclass Entry(BaseModel):\n    id: str\n"


def _git(*args: str, cwd: Path | None = None) -> None:
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True)


def scratch_repo(workdir: Path) -> Path:
    """A bare remote and its clone, seeded with one pin and one pending request."""
    bare, clone = workdir / "remote.git", workdir / "clone"
    _git("init", "--quiet", "--bare", "--initial-branch=main", str(bare))
    _git("clone", "--quiet", str(bare), str(clone))
    files = {
        "envs/dev/api.yaml": PIN,
        "release/queue.yaml": QUEUE,
        "evidence/records/.gitkeep": "",
    }
    for relative, text in files.items():
        (clone / relative).parent.mkdir(parents=True, exist_ok=True)
        (clone / relative).write_text(text)
    _git(*IDENTITY, "add", "--all", cwd=clone)
    _git(*IDENTITY, "commit", "--quiet", "-m", "seed", cwd=clone)
    _git("push", "--quiet", "origin", "HEAD:main", cwd=clone)
    return clone


def commands(repo: Path) -> dict[str, list[str]]:
    """Each command under test, as argv after `factory`."""
    at = ["--repo", str(repo)]
    return {
        "--version": ["--version"],
        "--help": ["--help"],
        "release add": ["release", "add", "api", "--digest", DIGEST, "--id", "bench", *at],
        "release status": ["release", "status", *at],
        "promote --dry-run": ["promote", "--dry-run", *at],
        "evidence validate": ["evidence", "validate", *at],
    }


def timed(argv: list[str], env: dict[str, str]) -> float:
    """Wall seconds of one run of `argv`, which must exit 0."""
    start = time.perf_counter()
    done = subprocess.run(argv, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv)}: exit {done.returncode}\n{done.stderr}")
    return seconds


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--ratio", type=float, default=TARGET_RATIO)
    args = parser.parse_args()
    python = Path(sys.executable)
    factory = python.parent / "factory"
    if not factory.exists():
        raise SystemExit(f"{factory}: not installed (run `make .venv/.installed`)")
    # As an installed package runs: byte-compiled (a PYTHONDONTWRITEBYTECODE checkout would
    # compile every module from source on every run), after one warm-up round.
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("FACTORY_", "HARBOR_", "DAGSTER_"))
        and key != "PYTHONDONTWRITEBYTECODE"
    }
    env["HARBOR_URL"] = f"http://{REGISTRY}"
    with tempfile.TemporaryDirectory(prefix="cli-start-bench-") as tmp:
        repo = scratch_repo(Path(tmp))
        queue = (repo / "release/queue.yaml").read_bytes()
        runs = {
            "python -c pass": [str(python), "-c", "pass"],
            "pydantic": [str(python), "-c", PYDANTIC],
        }
        runs |= {name: [str(factory), *argv] for name, argv in commands(repo).items()}
        times: dict[str, list[float]] = {name: [] for name in runs}
        # Round by round, the bare interpreter first: a machine that gets busier or quieter
        # during the run weighs on the baseline and on every command alike.
        for round_number in range(args.runs + 1):
            for name, argv in runs.items():
                seconds = timed(argv, env)
                (repo / "release/queue.yaml").write_bytes(queue)  # `release add` appended
                if round_number:  # round 0 warms up: byte code written, files cached
                    times[name].append(seconds)
    bare = statistics.median(times.pop("python -c pass"))
    print(f"bare `python -c pass`: {bare * 1000:.0f} ms (median of {args.runs})")
    floor = statistics.median(times.pop("pydantic"))
    print(
        f"for scale, pydantic and one model, the least a command reading the queue loads: "
        f"{floor * 1000:.0f} ms ({floor / bare:.1f}x bare)"
    )
    missed = []
    for name, samples in times.items():
        seconds = statistics.median(samples)
        ratio = seconds / bare
        verdict = "met" if ratio <= args.ratio else "MISSED"
        if verdict == "MISSED":
            missed.append(name)
        print(
            f"factory {name:<18} {seconds * 1000:6.0f} ms  {ratio:4.1f}x bare  "
            f"(target <= {args.ratio:g}x): {verdict}"
        )
    print(f"verdict: {'MISSED ' + ', '.join(missed) if missed else 'met'}")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
