"""Benchmark one promotion pass over 100 ready services against a naive one-commit-per-service loop.

    .venv/bin/python bench/promotion_bench.py [--services N] [--rps R]

Both runs use the same local registry (`docker-registry` on loopback, started here) and
each its own local bare remote seeded with one ready release per service. Both resolve
every tag through the same politeness-limited client (20 requests/s by default, the Kargo
and Argo CD Image Updater default), so the difference is the git side:
- batched: `run_pass` (what `factory promote` runs): 3 commits and 3 pushes in all, with
  claims, supersede checks and one evidence record per release;
- naive: per service fetch, resolve, write the pin, commit, push (what Argo CD Image
  Updater does per application), with no queue state and no evidence.
Target on the 2-core reference machine: all 100 pinned on the remote in <= 30 s.
Argo CD Image Updater users report ~7 minutes for ~90 apps (#1572).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from factory_assets.common.clock import utc_now  # noqa: E402
from factory_assets.pins.pin_file import PinRequest, read_pin  # noqa: E402
from factory_assets.pins.write import write_pin_file  # noqa: E402
from factory_assets.promotion import run_pass  # noqa: E402
from factory_assets.release.add import build_entry  # noqa: E402
from factory_assets.release.queue_file import load_queue, save_queue  # noqa: E402
from factory_assets.sandbox.gitops_remote import make_gitops_remote  # noqa: E402
from factory_assets.sandbox.oci_push import push_image  # noqa: E402
from factory_assets.sandbox.registry_server import RegistryServer  # noqa: E402
from resources.gitops import GitopsWriter  # noqa: E402
from resources.registry import RegistryClient  # noqa: E402


def seed_remote(workdir: Path, registry: RegistryServer, services: list[str]):
    """A bare remote + clone whose queue holds one ready release per service (one commit)."""
    remote = make_gitops_remote(workdir)
    doc = load_queue(remote.clone)
    queue = doc.queue
    for service in services:
        queue = queue.append(
            build_entry(
                remote.clone,
                service=service,
                tag="v1",
                image=registry.image(f"bench/{service}"),
                requested_by="bench",
                harbor_url=registry.url,
            )
        )
    save_queue(doc, queue)
    remote.commit_and_push(
        {"release/queue.yaml": (remote.clone / "release" / "queue.yaml").read_text()},
        "queue releases",
    )
    return remote


def pinned_on_remote(remote, services: list[str]) -> int:
    names = subprocess.run(
        ["git", "--git-dir", str(remote.bare), "ls-tree", "--name-only", "main", "envs/dev/"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    return sum(f"envs/dev/{s}.yaml" in names for s in services)


def commit_count(remote) -> int:
    out = subprocess.run(
        ["git", "--git-dir", str(remote.bare), "rev-list", "--count", "main"],
        capture_output=True,
        text=True,
        check=True,
    )
    return int(out.stdout)


def naive_loop(remote, registry: RegistryServer, services: list[str], rps: float) -> None:
    """One fetch + resolve + pin + commit + push per service, like a per-app image updater."""
    writer = GitopsWriter(remote.clone)
    with RegistryClient(registry.url, requests_per_second=rps) as client:
        for service in services:
            image = registry.image(f"bench/{service}")
            resolved = client.resolve(image, tag="v1")

            def apply(tree: Path, service=service, image=image, digest=resolved.digest) -> None:
                doc = read_pin(tree, service)
                request = PinRequest(
                    image=image,
                    digest=digest,
                    tag="v1",
                    release_id=service,
                    promoted_at=utc_now(),
                )
                write_pin_file(doc, request, repo=tree)

            writer.transact(apply, message=f"pin {service}")


def measure(root: Path, registry: RegistryServer, services: list[str], rps: float | None) -> dict:
    """One batched pass and one naive loop, each on a fresh remote, at one registry rate."""
    tag = f"{rps:g}" if rps else "unlimited"
    batched = seed_remote(root / f"batched-{tag}", registry, services)
    naive = seed_remote(root / f"naive-{tag}", registry, services)
    start = time.perf_counter()
    with RegistryClient(registry.url, requests_per_second=rps) as client:
        result = run_pass(batched.clone, registry=client)
    batched_s = time.perf_counter() - start
    start = time.perf_counter()
    naive_loop(naive, registry, services, rps)
    naive_s = time.perf_counter() - start
    return {
        "rate": f"{rps:g} req/s" if rps else "no limit",
        "batched_s": batched_s,
        "batched_pinned": pinned_on_remote(batched, services),
        "commits": len(result.commits),
        "pushes": sum("pushed" in n for n in result.notes),
        "records": sum(
            o.result == "success" and o.evidence_id is not None for o in result.outcomes
        ),
        "ok": result.ok,
        "naive_s": naive_s,
        "naive_pinned": pinned_on_remote(naive, services),
    }


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--services", type=int, default=100)
    parser.add_argument(
        "--rps",
        default="20,0",
        help="registry request rates to measure, comma-separated (0: no client limit)",
    )
    args = parser.parse_args()
    services = [f"svc{n:03d}" for n in range(args.services)]
    rates = [float(r) or None for r in args.rps.split(",")]
    rows = []
    with tempfile.TemporaryDirectory(prefix="promotion-bench-") as tmp:
        root = Path(tmp)
        registry = RegistryServer(root / "registry", "none").start()
        try:
            start = time.perf_counter()
            for service in services:
                push_image(registry, f"bench/{service}", "v1", content=service.encode())
            print(f"setup: {len(services)} images pushed in {time.perf_counter() - start:.1f} s")
            rows = [measure(root, registry, services, rate) for rate in rates]
        finally:
            registry.stop()

    n = len(services)
    print(f"promotion of {n} ready services (one release each): local registry + local bare remote")
    for row in rows:
        print(f"  registry client rate: {row['rate']}")
        print(
            f"    batched pass (factory promote):       {row['batched_s']:6.1f} s  "
            f"{row['batched_pinned']}/{n} pinned on the remote; {row['commits']} commits, "
            f"{row['pushes']} pushes, {row['records']} evidence records"
        )
        print(
            f"    naive loop (commit+push per service): {row['naive_s']:6.1f} s  "
            f"{row['naive_pinned']}/{n} pinned on the remote; {n} commits, {n} pushes, no evidence"
        )
        print(f"    naive / batched: {row['naive_s'] / row['batched_s']:.1f}x")
    worst = max(row["batched_s"] for row in rows)
    in_time = worst <= 30
    good = all(row["ok"] and row["batched_pinned"] == n for row in rows)
    print(
        f"target: all {n} pinned on the remote by one pass: {'met' if good else 'MISSED'} "
        f"({', '.join(str(row['batched_pinned']) for row in rows)})"
    )
    print(f"target: the pass takes <= 30 s: {'met' if in_time else 'MISSED'} ({worst:.1f} s)")
    print("reference: Argo CD Image Updater users report ~7 min for ~90 apps (#1572)")
    return 0 if good and in_time else 1


if __name__ == "__main__":
    sys.exit(main())
