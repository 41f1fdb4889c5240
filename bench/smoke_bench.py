"""Benchmark: how long after Argo CD turns Healthy does `check_service` give its verdict?

    .venv/bin/python bench/smoke_bench.py [--intervals 0.5,2,5] [--trials 4] [--argocd-delay 0]

Each trial pins a service in a fresh git repository, scripts the Argo CD double
as Synced/Progressing at the pinning commit, starts the check, and switches the
double to Healthy at a random moment. The latency is the time from that switch
to `check_service` returning (verdict decided and evidence record written).
Baseline, measured in the same run: the poll interval itself (a poller can be
up to one interval late) and one bare GET round trip to the double.
Target: latency <= interval + 1 s for every trial.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import git
import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from factory_assets.evidence.store import append_record, new_body  # noqa: E402
from factory_assets.smoke.check import check_service  # noqa: E402
from tests.doubles.argocd import ArgoCDDouble, app_status  # noqa: E402

DIGEST = "sha256:" + "ab" * 32
IMAGE = f"registry.example.invalid/team/api@{DIGEST}"


def make_repo(root: Path, interval: float) -> str:
    """A GitOps repo with the pin committed and its promotion record; returns the pin commit."""
    repo = git.Repo.init(root, initial_branch="main")
    with repo.config_writer() as config:
        config.set_value("user", "name", "bench")
        config.set_value("user", "email", "bench@invalid")
    pin = root / "envs/dev/api.yaml"
    pin.parent.mkdir(parents=True)
    pin.write_text(
        f"service: api\nimage: {IMAGE}\ntag: 1.0.0\nrelease_id: rel-1\n"
        f"smoke: {{argocd_app: api, interval_seconds: {interval}, timeout_seconds: 600}}\n"
    )
    repo.index.add(["envs/dev/api.yaml"])
    commit = repo.index.commit("Pin api").hexsha
    body = new_body(
        kind="promotion",
        service="api",
        result="success",
        details={"release_id": "rel-1", "digest": DIGEST, "tag": "1.0.0"},
        links={"commit": commit},
    )
    append_record(root, body)
    return commit


def one_trial(double: ArgoCDDouble, interval: float, rng: random.Random) -> float:
    with tempfile.TemporaryDirectory(prefix="smoke-bench-") as tmp:
        repo = Path(tmp)
        commit = make_repo(repo, interval)
        double.set_app("api", app_status(revision=commit, health="Progressing", images=[IMAGE]))
        result: dict = {}

        def run() -> None:
            result["outcome"] = check_service(repo, "api", env=double.env())
            result["done"] = time.monotonic()

        worker = threading.Thread(target=run)
        worker.start()
        time.sleep(0.2 + rng.uniform(0, 2 * interval))  # land anywhere between two looks
        healthy_at = double.replace_status("api", app_status(revision=commit, images=[IMAGE]))
        worker.join(timeout=interval + 60)
        outcome = result.get("outcome")
        if outcome is None or outcome.verdict != "passed":
            raise SystemExit(f"trial did not pass: {outcome and outcome.reason}")
        return result["done"] - healthy_at


def round_trip(double: ArgoCDDouble) -> float:
    double.set_app("rtt", app_status(revision="0" * 40))
    with httpx.Client(headers={"Authorization": f"Bearer {double.token}"}) as client:
        times = []
        for _ in range(20):
            start = time.perf_counter()
            client.get(
                f"{double.url}/api/v1/applications/rtt", params={"refresh": "normal"}
            ).raise_for_status()
            times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "--intervals", default="0.5,2,5", help="poll intervals in seconds, comma-separated"
    )
    parser.add_argument("--trials", type=int, default=4)
    parser.add_argument(
        "--argocd-delay", type=float, default=0.0, help="extra seconds per Argo CD answer"
    )
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    ok = True
    with ArgoCDDouble() as double:
        rtt = round_trip(double)
        double.delay = args.argocd_delay
        print(
            f"baseline: one GET round trip to the Argo CD double {rtt * 1000:.1f} ms (median of 20)"
        )
        print(
            f"{'interval s':>10} {'trials':>6} {'median s':>9} {'max s':>7} {'target s':>9}  verdict"
        )
        for interval in (float(x) for x in args.intervals.split(",")):
            latencies = [one_trial(double, interval, rng) for _ in range(args.trials)]
            target = interval + 1.0
            within = max(latencies) <= target
            ok &= within
            print(
                f"{interval:>10.2f} {len(latencies):>6} {statistics.median(latencies):>9.3f} "
                f"{max(latencies):>7.3f} {target:>9.2f}  {'met' if within else 'MISSED'}"
            )
    print(f"target: every verdict within one interval + 1 s: {'met' if ok else 'MISSED'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
