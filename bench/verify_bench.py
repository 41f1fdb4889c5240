"""Benchmark `factory evidence verify` against a full `collect` measured in the same run.

    .venv/bin/python bench/verify_bench.py [--records N] [--checkpoints N] [--runs N]

Verify reads and checks every record as collect does, then proves the tree
extends each published checkpoint (RFC 6962 consistency proofs). The checkpoint
history sits on a local `gh-pages` ref (`--against gh-pages`, no network).
Target: verify of 100,000 records against 100 checkpoints <= 1.5x a full collect.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.checkpoint_history import history_for  # noqa: E402
from bench.evidence_bench import repeated, timed_cli  # noqa: E402
from bench.evidence_records import generate  # noqa: E402
from factory_assets.evidence.checkpoints import HISTORY_FILE, history_bytes  # noqa: E402
from factory_assets.evidence.verify import current_tree  # noqa: E402

TARGET_RATIO = 1.5


def _git(repo: Path, *args: str, data: bytes | None = None) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "bench", "GIT_AUTHOR_EMAIL": "bench@localhost",
           "GIT_COMMITTER_NAME": "bench", "GIT_COMMITTER_EMAIL": "bench@localhost"}  # fmt: skip
    out = subprocess.run(
        ["git", "-C", str(repo), *args], input=data, capture_output=True, env=env, check=True
    )
    return out.stdout.decode().strip()


def publish_history_ref(repo: Path, history: bytes) -> None:
    """A `gh-pages` branch holding only the history file (the records stay uncommitted)."""
    _git(repo, "init", "-q")
    blob = _git(repo, "hash-object", "-w", "--stdin", data=history)
    data_tree = _git(
        repo, "mktree", data=f"100644 blob {blob}\t{Path(HISTORY_FILE).name}\n".encode()
    )
    root_tree = _git(repo, "mktree", data=f"040000 tree {data_tree}\tdata\n".encode())
    commit = _git(repo, "commit-tree", root_tree, "-m", "checkpoints")
    _git(repo, "update-ref", "refs/heads/gh-pages", commit)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--checkpoints", type=int, default=100)
    parser.add_argument("--runs", type=int, default=3, help="timed runs per command (median)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="verify-bench-") as tmp:
        repo = Path(tmp) / "repo"
        repo.mkdir()
        t0 = time.perf_counter()
        generate(repo, args.records)
        history = history_for(current_tree(repo).digests, args.checkpoints)
        publish_history_ref(repo, history_bytes(history))
        print(
            f"generated {args.records} records and {len(history)} checkpoints in {time.perf_counter() - t0:.1f} s"
        )
        out = str(Path(tmp) / "index.json")
        collect = repeated(
            lambda: timed_cli("evidence", "collect", "--repo", str(repo), "--full", "--out", out),
            args.runs,
        )
        verify = repeated(
            lambda: timed_cli("evidence", "verify", "--repo", str(repo), "--against", "gh-pages"),
            args.runs,
        )
    ratio = verify[0] / collect[0]
    met = ratio <= TARGET_RATIO
    print(
        f"\n{args.records} records, {len(history)} checkpoints, {os.cpu_count()} cores; median of {args.runs} runs (min-max)"
    )
    for name, (median, low, high) in (("factory evidence collect --full (baseline)", collect),
                                      ("factory evidence verify --against gh-pages", verify)):  # fmt: skip
        print(f"{name:46} {median:8.2f} s {low:.2f}-{high:.2f}")
    print(
        f"verify / collect = {ratio:.2f}x (target <= {TARGET_RATIO}x): {'met' if met else 'MISSED'}"
    )
    print(f"1-minute load average at the end: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
