"""Benchmark how fast `factory` starts for the commands that need no Dagster, against a bare
`python -c pass` measured in the same run.

    .venv/bin/python bench/cli_start_bench.py [--runs 9] [--ratio 6]

It builds a small scratch GitOps repository with git (a bare remote and a clone: one pinned
service, a `releases:` queue with one pending request, no evidence), then runs each command
`runs` times as a real process (the installed `factory` entry point), round by round after a
warm-up round, the bare interpreter first in each round. `promote --dry-run` only fetches the
remote head and plans: it needs no registry.

The judged figure is CPU time: user + system seconds of the process and of every process it
waited for (the git processes a dry run starts), from `getrusage(RUSAGE_CHILDREN)` before and
after each run. Other work on a shared machine stretches wall time, not this. The median of
each command is divided by the bare interpreter's median; the wall-time median is printed
beside. For scale it also prints what importing pydantic and building one model costs (what
these commands no longer load).
Target: every command's CPU time is at most `ratio` x the bare interpreter's.
Exit 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import os
import resource
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


# pydantic and one model: more than the whole budget of a command. Printed for scale, not judged.
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


def measured(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(CPU seconds, wall seconds) of one run of `argv`, which must exit 0. CPU: user + system
    of the process and of the processes it waited for (RUSAGE_CHILDREN counts those too)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(argv, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv)}: exit {done.returncode}\n{done.stderr}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return cpu, wall


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
        cpu: dict[str, list[float]] = {name: [] for name in runs}
        wall: dict[str, list[float]] = {name: [] for name in runs}
        # Round by round, the bare interpreter first: a machine that gets busier or quieter
        # during the run weighs on the baseline and on every command alike.
        for round_number in range(args.runs + 1):
            for name, argv in runs.items():
                seconds, elapsed = measured(argv, env)
                (repo / "release/queue.yaml").write_bytes(queue)  # `release add` appended
                if round_number:  # round 0 warms up: byte code written, files cached
                    cpu[name].append(seconds)
                    wall[name].append(elapsed)
    median_cpu = {name: statistics.median(samples) for name, samples in cpu.items()}
    median_wall = {name: statistics.median(samples) for name, samples in wall.items()}
    bare, bare_wall = median_cpu.pop("python -c pass"), median_wall.pop("python -c pass")
    print(
        f"bare `python -c pass`: {bare * 1000:.1f} ms CPU, {bare_wall * 1000:.0f} ms wall "
        f"(medians of {args.runs})"
    )
    floor, floor_wall = median_cpu.pop("pydantic"), median_wall.pop("pydantic")
    print(
        f"for scale, importing pydantic and building one model (none of these commands does): "
        f"{floor * 1000:.1f} ms CPU ({floor / bare:.1f}x bare), {floor_wall * 1000:.0f} ms wall"
    )
    missed = []
    for name, seconds in median_cpu.items():
        ratio = seconds / bare
        verdict = "met" if ratio <= args.ratio else "MISSED"
        if verdict == "MISSED":
            missed.append(name)
        elapsed = median_wall[name]
        print(
            f"factory {name:<18} {seconds * 1000:6.1f} ms CPU  {ratio:4.1f}x bare  "
            f"(target <= {args.ratio:g}x): {verdict}   wall {elapsed * 1000:5.0f} ms "
            f"({elapsed / bare_wall:4.1f}x)"
        )
    print(f"verdict: {'MISSED ' + ', '.join(missed) if missed else 'met'}")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
