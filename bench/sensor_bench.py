"""harbor_sensor ticks with 1,000 tracked services vs a bare loop of the same HEAD requests.

    .venv/bin/python bench/sensor_bench.py [--services N] [--repositories R] [--rounds K]

Every tracked tag has its own manifest (distinct digests), spread over R repositories of one
local docker-registry. Two ticks are timed, each against the bare loop (one httpx client
issuing the same HEAD /v2/<repo>/manifests/<tag> requests one after another), all in this
run, median of K rounds:

- steady: no tag moved (every pin names its tag's digest): target <= 1.5x the bare loop;
- moved: every tag moved, so the tick appends N release requests (N queue entries, N
  `requested` evidence records) in one compare-and-swap commit: target <= 2x the bare loop.

Each "moved" round starts from its own fresh remote, so every round appends N requests.
Prints a verdict per target and exits 1 when one is missed.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import dagster as dg  # noqa: E402

from factory_assets.dagster_resources import GitOpsRepo, HarborRegistry  # noqa: E402
from factory_assets.release.queue_file import load_queue  # noqa: E402
from factory_assets.sandbox.gitops_remote import make_gitops_remote  # noqa: E402
from factory_assets.sandbox.oci_push import get_manifest, push_image, push_manifest  # noqa: E402
from factory_assets.sandbox.registry_server import RegistryServer  # noqa: E402
from resources.registry import MANIFEST_ACCEPT  # noqa: E402
from sensors.harbor import harbor_sensor  # noqa: E402

STEADY_TARGET = 1.5
MOVED_TARGET = 2.0


def push_tracked(registry: RegistryServer, services: int, repositories: int) -> list[tuple]:
    """(service, repository, tag, base digest, tag digest) per service: distinct manifests."""
    base: dict[str, tuple[str, dict, str]] = {}
    for r in range(repositories):
        repo_name = f"bench/app{r:03d}"
        digest = push_image(registry, repo_name, "base", content=f"bench {r}".encode())
        response = get_manifest(registry, repo_name, digest)
        base[repo_name] = (digest, json.loads(response.content), response.headers["content-type"])
    found = []
    for i in range(services):
        repo_name = f"bench/app{i % repositories:03d}"
        base_digest, manifest, media_type = base[repo_name]
        tag = f"t{i}"
        body = json.dumps({**manifest, "annotations": {"bench.tag": tag}}).encode()
        digest = push_manifest(registry, repo_name, tag, body, media_type)
        found.append((f"s{i:04d}", repo_name, tag, base_digest, digest))
    return found


def pins(registry: RegistryServer, tracked: list[tuple], *, moved: bool) -> dict[str, str]:
    files = {}
    for service, repo_name, tag, base_digest, digest in tracked:
        pinned = base_digest if moved else digest
        files[f"envs/dev/{service}.yaml"] = (
            f"service: {service}\nimage: {registry.image(repo_name)}@{pinned}\n"
            f"tag: {tag}\ntrack: {tag}\n"
        )
    return files


def tick(instance: dg.DagsterInstance, path: Path) -> tuple[float, dg.SkipReason]:
    resources = {"gitops": GitOpsRepo(path=str(path)), "harbor": HarborRegistry()}
    start = time.perf_counter()
    with dg.build_sensor_context(instance=instance, resources=resources) as context:
        result = harbor_sensor(context)
    return time.perf_counter() - start, result


def verdict(name: str, ratio: float, target: float) -> bool:
    ok = ratio <= target
    print(f"{name:44} {ratio:5.2f}x   target <= {target}x   {'MET' if ok else 'MISSED'}")
    return ok


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--services", type=int, default=1000)
    parser.add_argument("--repositories", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="sensor-bench-") as tmp:
        tmp = Path(tmp)
        registry = RegistryServer(tmp / "registry", "none").start()
        try:
            os.environ["HARBOR_URL"] = registry.url
            tracked = push_tracked(registry, args.services, max(1, args.repositories))
            steady = make_gitops_remote(tmp / "steady", pins(registry, tracked, moved=False))
            moved = [
                make_gitops_remote(tmp / f"moved{r}", pins(registry, tracked, moved=True))
                for r in range(args.rounds)
            ]
            instance = dg.DagsterInstance.ephemeral()
            bare, steady_ticks, moved_ticks = [], [], []
            with httpx.Client(base_url=registry.url, headers={"Accept": MANIFEST_ACCEPT}) as client:
                for _ in range(args.rounds):
                    start = time.perf_counter()
                    for _service, repo_name, tag, _base, _digest in tracked:
                        client.head(f"/v2/{repo_name}/manifests/{tag}").raise_for_status()
                    bare.append(time.perf_counter() - start)
            for _ in range(args.rounds):
                seconds, result = tick(instance, steady.clone)
                assert " 0 moved" in str(result.skip_message), result
                steady_ticks.append(seconds)
            for remote in moved:
                seconds, result = tick(instance, remote.clone)
                assert f" {args.services} moved" in str(result.skip_message), result
                moved_ticks.append(seconds)
                queue = load_queue(remote.new_clone("check")).queue
                assert len(queue.entries) == args.services, len(queue.entries)
        finally:
            registry.stop()
    b = statistics.median(bare)
    s, m = statistics.median(steady_ticks), statistics.median(moved_ticks)
    print(
        f"{args.services} tracked services in {args.repositories} repositories, "
        f"{os.cpu_count()} cores, median of {args.rounds}"
    )
    print(f"{'bare loop of HEAD requests':44} {b:7.2f} s")
    print(f"{'harbor_sensor tick, no tag moved':44} {s:7.2f} s")
    print(f"{f'harbor_sensor tick, {args.services} tags moved':44} {m:7.2f} s")
    ok = verdict("no tag moved / bare loop", s / b, STEADY_TARGET)
    ok &= verdict(f"{args.services} tags moved / bare loop", m / b, MOVED_TARGET)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
