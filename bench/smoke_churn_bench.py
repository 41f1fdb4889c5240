"""Benchmark: a day of smoke checks every 15 minutes for stable services, counting commits.

    .venv/bin/python bench/smoke_churn_bench.py [--services 20] [--rounds 96]

Twenty services are promoted for real (local registry, local bare remote), each with a
readiness endpoint on loopback, then `factory smoke` (what the CronJob would run) checks
them `rounds` times, a day at one check every 15 minutes. One service breaks at 40% of the
day and recovers at 60%: two real changes. Baseline, in the same run: the scripts this
replaces commit on every run whatever happened (one commit per round).
Targets: 0 commits and 0 records for the stable rounds; exactly one record (one commit) per
change. Exit 1 when missed.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from factory_assets.promotion import run_pass  # noqa: E402
from factory_assets.release.add import add_release  # noqa: E402
from factory_assets.sandbox.gitops_remote import make_gitops_remote  # noqa: E402
from factory_assets.sandbox.oci_push import push_image  # noqa: E402
from factory_assets.sandbox.registry_server import RegistryServer  # noqa: E402
from factory_assets.smoke.landing import smoke_checks_and_land  # noqa: E402
from resources.registry import RegistryClient  # noqa: E402


class Readiness:
    """One loopback server; `/svcNN` answers 200 unless that service is broken."""

    def __init__(self) -> None:
        self.broken: set[str] = set()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                down = self.path.strip("/") in owner.broken
                self.send_response(503 if down else 200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"no" if down else b"ok")

            def log_message(self, *args: object) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def url(self, service: str) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/{service}"


def commits(remote) -> int:
    out = subprocess.run(
        ["git", "--git-dir", str(remote.bare), "rev-list", "--count", "main"],
        capture_output=True,
        text=True,
        check=True,
    )
    return int(out.stdout)


def smoke_records(remote) -> int:
    out = subprocess.run(
        [
            "git",
            "--git-dir",
            str(remote.bare),
            "grep",
            "-l",
            '"kind":"smoke"',
            "main",
            "--",
            "evidence/records",
        ],
        capture_output=True,
        text=True,
    )
    return len(out.stdout.splitlines())


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--services", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=96)
    args = parser.parse_args()
    names = [f"svc{n:02d}" for n in range(args.services)]
    endpoint = Readiness()
    with tempfile.TemporaryDirectory(prefix="smoke-churn-") as tmp:
        root = Path(tmp)
        registry = RegistryServer(root / "registry", "none").start()
        try:
            pins = {
                f"envs/dev/{n}.yaml": f"smoke:\n  url: {endpoint.url(n)}\n  timeout_seconds: 2\n  interval_seconds: 0.5\n"
                for n in names
            }
            remote = make_gitops_remote(root / "deploy", pins)
            for n in names:
                push_image(registry, f"bench/{n}", "1.0", content=n.encode())
                add_release(
                    remote.clone,
                    service=n,
                    tag="1.0",
                    image=registry.image(f"bench/{n}"),
                    requested_by="bench",
                    harbor_url=registry.url,
                )
            subprocess.run(["git", "-C", str(remote.clone), "commit", "-qam", "queue"], check=True)
            subprocess.run(
                ["git", "-C", str(remote.clone), "push", "-q", "origin", "main"], check=True
            )
            with RegistryClient(registry.url) as client:
                assert run_pass(remote.clone, registry=client).ok
            smoke_checks_and_land(remote.clone)  # the first verdicts: news, recorded
            start_commits, start_records = commits(remote), smoke_records(remote)
            broken_at, fixed_at = int(args.rounds * 0.4), int(args.rounds * 0.6)
            started = time.perf_counter()
            for round_ in range(args.rounds):
                if round_ == broken_at:
                    endpoint.broken.add(names[0])
                if round_ == fixed_at:
                    endpoint.broken.discard(names[0])
                smoke_checks_and_land(remote.clone)
            seconds = time.perf_counter() - started
            new_commits = commits(remote) - start_commits
            new_records = smoke_records(remote) - start_records
        finally:
            registry.stop()
            endpoint.server.shutdown()
    changes = 2 if 0 < args.rounds * 0.4 < args.rounds else 0
    print(
        f"{args.rounds} smoke runs of {args.services} services in {seconds:.1f} s "
        f"({seconds / max(1, args.rounds):.2f} s a run)"
    )
    print(f"  baseline (the scripts replaced: a commit every run): {args.rounds} commits")
    print(f"  factory: {new_commits} commits, {new_records} smoke records, for {changes} changes")
    ok = new_records == changes and new_commits == changes
    print(
        f"target: one record and one commit per change, none when stable: {'met' if ok else 'MISSED'}"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
