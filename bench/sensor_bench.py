"""harbor_sensor tick with 1,000 tracked services vs a bare loop of the same HEAD requests.

    .venv/bin/python bench/sensor_bench.py [--services N]

Both run in this process against a local docker-registry; the bare loop is one httpx
client issuing the same HEAD /v2/<repo>/manifests/<tag> requests one after another.
Target here: a tick <= 10 s and <= 1.5x the bare loop.
"""

from __future__ import annotations

import argparse
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
from resources.registry import MANIFEST_ACCEPT  # noqa: E402
from sensors.harbor import harbor_sensor  # noqa: E402
from tests.support.gitrepo import make_gitops_remote  # noqa: E402
from tests.support.oci import get_manifest, push_image, push_manifest  # noqa: E402
from tests.support.registry import RegistryServer  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--services", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="sensor-bench-") as tmp:
        tmp = Path(tmp)
        registry = RegistryServer(tmp / "registry", "none").start()
        try:
            os.environ["HARBOR_URL"] = registry.url
            repo_name = "bench/app"
            digest = push_image(registry, repo_name, "t0", content=b"bench")
            response = get_manifest(registry, repo_name, digest)
            body, media_type = response.content, response.headers["content-type"]
            tags = [f"t{i}" for i in range(args.services)]
            for tag in tags[1:]:
                push_manifest(registry, repo_name, tag, body, media_type)
            image = registry.image(repo_name)
            pins = {
                f"envs/dev/s{i:04d}.yaml": f"service: s{i:04d}\nimage: {image}@{digest}\ntag: {tag}\ntrack: {tag}\n"
                for i, tag in enumerate(tags)
            }
            remote = make_gitops_remote(tmp / "gitops")
            remote.commit_and_push(pins, f"{args.services} tracked services")

            bare, tick = [], []
            with httpx.Client(base_url=registry.url, headers={"Accept": MANIFEST_ACCEPT}) as client:
                for _ in range(args.rounds):
                    start = time.perf_counter()
                    for tag in tags:
                        client.head(f"/v2/{repo_name}/manifests/{tag}").raise_for_status()
                    bare.append(time.perf_counter() - start)
            instance = dg.DagsterInstance.ephemeral()
            resources = {"gitops": GitOpsRepo(path=str(remote.clone)), "harbor": HarborRegistry()}
            for _ in range(args.rounds):
                start = time.perf_counter()
                with dg.build_sensor_context(instance=instance, resources=resources) as context:
                    result = harbor_sensor(context)
                tick.append(time.perf_counter() - start)
            assert "0 moved" in str(result.skip_message), result
        finally:
            registry.stop()
    b, t = statistics.median(bare), statistics.median(tick)
    print(f"{args.services} tracked services, {os.cpu_count()} cores, median of {args.rounds}")
    print(f"{'bare loop of HEAD requests':40} {b:7.2f} s")
    print(
        f"{'harbor_sensor tick (fetch + read + HEAD)':40} {t:7.2f} s   {t / b:.2f}x the bare loop   target <= 10 s and <= 1.5x"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
