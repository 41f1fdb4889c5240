"""Benchmark one promotion pass on the ljwx-deploy layout against the same pass in the
factory's own layout, measured in the same run.

    .venv/bin/python bench/layout_bench.py [--entries 1000] [--ready 20] [--runs 3]

Both repositories hold `entries` queue entries, all terminal but `ready` pending ones split
across dev and prod, each env with its own local `docker-registry`:
- ljwx layout: factory.yaml, a four-list queue, a service map and one kustomize overlay per
  service; every pin is proven by rendering the overlay with the real kustomize;
- own layout: a `releases:` queue and pin files under `envs/<env>/`.
The renders are the proof and stay, so the engine is judged by what it adds on top of them:
after each ljwx pass the same `ready` overlays are rendered bare (`kubectl kustomize DIR`, with
the kustomize the factory uses, as many at once as the engine runs) in the same run.
Targets: the four-list pass pins every ready entry with at most one pin commit per
environment, and takes at most 1.2x (the own-layout pass + the bare renders): the median of
the per-run ratios, each of three timings taken back to back (the machine is shared, and its
load moves between runs). CPU seconds (the process and its children) are printed beside.
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
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from factory_assets.pins.kustomize_tool import Kustomize, find_kustomize  # noqa: E402
from factory_assets.promotion import run_pass  # noqa: E402
from factory_assets.release.model import ReleaseEntry  # noqa: E402
from factory_assets.release.queue_file import load_queue, save_queue  # noqa: E402
from factory_assets.sandbox.gitops_remote import make_gitops_remote  # noqa: E402
from factory_assets.sandbox.oci_push import push_image  # noqa: E402
from factory_assets.sandbox.registry_server import RegistryServer  # noqa: E402
from resources.registry.environments import EnvRegistries  # noqa: E402

PUBLIC = "ghcr.example/acme"
ENVS = ("dev", "prod")
TARGET_RATIO = 1.2
RENDER_CONCURRENCY = 4  # pin_overlays' default: the engine renders this many at once


def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _four_list_entry(
    rid: str, service: str, env: str, digest: str, at: datetime, state: str
) -> str:
    stamps = {"promotedAt": "''", "supersededAt": "''", "failedAt": "''"}
    if state != "pending":
        stamps[{"promoted": "promotedAt", "superseded": "supersededAt"}[state]] = f"'{_stamp(at)}'"
    text = (
        f"- id: {rid}\n  service: {service}\n  env: {env}\n  source:\n"
        f"    ghcr: {PUBLIC}/{service}@{digest}\n    tag: sha-{digest[7:14]}\n"
        f"    digest: {digest}\n    gitSha: {digest[7:14]}\n"
        f"  createdAt: '{_stamp(at)}'\n  status: {state}\n  attempts: 0\n  lastError: ''\n"
        + "".join(f"  {k}: {v}\n" for k, v in stamps.items())
    )
    if state == "superseded":
        text += "  reason: replaced by newer pending release for same service+env\n"
    return text


def _overlay(service: str) -> dict[str, str]:
    deployment = (
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: app\nspec:\n  template:\n"
        f"    spec:\n      containers:\n        - name: app\n          image: {PUBLIC}/{service}:latest\n"
    )
    return {
        f"apps/{service}/base/kustomization.yaml": "resources:\n  - deployment.yaml\n",
        f"apps/{service}/base/deployment.yaml": deployment,
        f"apps/{service}/overlays/env/kustomization.yaml": "resources:\n  - ../../base\n",
    }


def ljwx_repo(workdir: Path, regs: dict, ready: list[tuple[str, str, str]], terminal: int):
    now = datetime.now(UTC)
    lists = {"pending": [], "promoted": [], "superseded": []}
    for n in range(terminal):
        state = "promoted" if n % 3 else "superseded"
        lists[state].append(
            _four_list_entry(
                f"old{n:05d}",
                f"old{n % 50:02d}",
                ENVS[n % 2],
                "sha256:" + f"{n:064x}",
                now - timedelta(days=2, minutes=n),
                state,
            )
        )
    for service, env, digest in ready:
        lists["pending"].append(
            _four_list_entry(f"r-{service}-{env}", service, env, digest, now, "pending")
        )
    order = ("pending", "promoted", "failed", "superseded")  # the format's order
    parts = {
        name: f"{name}:\n" + "".join(lists[name]) if lists.get(name) else f"{name}: []\n"
        for name in order
    }
    smap = "services:\n" + "".join(
        f"  {s}:\n    envs:\n      {e}:\n        overlayPath: apps/{s}/overlays/env/kustomization.yaml\n"
        f"        kustomizeImageName: {PUBLIC}/{s}\n        harborImage: {regs[e].host}/bench/{s}\n"
        f"        argocdApp: {s}-{e}\n"
        for s, e, _ in ready
    )
    files = {
        "factory.yaml": "queue: {path: release/queue.yaml, format: four-lists}\n"
        "service_map: release/services.yaml\nenvironments:\n  dev: {pins: overlays}\n  prod: {pins: overlays}\n",
        "release/queue.yaml": "".join(parts[name] for name in order),
        "release/services.yaml": smap,
    }
    for service, _, _ in ready:
        files.update(_overlay(service))
    return make_gitops_remote(workdir, files)


def own_repo(workdir: Path, regs: dict, ready: list[tuple[str, str, str]], terminal: int):
    remote = make_gitops_remote(workdir)
    now = datetime.now(UTC)
    doc = load_queue(remote.clone)
    queue = doc.queue
    for n in range(terminal):
        env = ENVS[n % 2]
        state = "promoted" if n % 3 else "superseded"
        queue = queue.append(
            ReleaseEntry(
                id=f"old{n:05d}",
                service=f"old{n % 50:02d}",
                env=env,
                image=f"{regs[env].host}/bench/old",
                digest="sha256:" + f"{n:064x}",
                requested_at=now - timedelta(days=2, minutes=n),
                requested_by="bench",
                state=state,
                finished_at=now - timedelta(days=2, minutes=n),
                superseded_by="x" if state == "superseded" else None,
            )
        )
    for service, env, digest in ready:
        queue = queue.append(
            ReleaseEntry(
                id=f"r-{service}-{env}",
                service=service,
                env=env,
                image=f"{regs[env].host}/bench/{service}",
                digest=digest,
                requested_at=now,
                requested_by="bench",
            )
        )
    save_queue(doc, queue)
    remote.commit_and_push(
        {"release/queue.yaml": (remote.clone / "release/queue.yaml").read_text()}, "queue"
    )
    return remote


def cpu_seconds() -> float:
    """CPU time of this process and its waited-for children (git, kustomize) so far."""
    own, children = (
        resource.getrusage(w) for w in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)
    )
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def one_pass(remote, ready_count: int) -> tuple[float, int, int, float]:
    before = subprocess.run(
        ["git", "--git-dir", str(remote.bare), "rev-parse", "main"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    registries = EnvRegistries()
    cpu, start = cpu_seconds(), time.perf_counter()
    try:
        result = run_pass(remote.clone, registry=registries)
    finally:
        registries.close()
    seconds, cpu = time.perf_counter() - start, cpu_seconds() - cpu
    log = subprocess.run(
        ["git", "--git-dir", str(remote.bare), "log", "--format=%s", f"{before}..main"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    pinned = sum(o.result == "success" for o in result.outcomes)
    return seconds, pinned, sum(line.startswith("factory: pin") for line in log), cpu


def bare_renders(remote, ready: list[tuple[str, str, str]], tool: Kustomize) -> tuple[float, float]:
    """Seconds (wall, CPU) to render the pass's overlays with kustomize alone, from the
    pushed main."""
    checkout = remote.new_clone()
    dirs = [checkout / f"apps/{service}/overlays/env" for service, _, _ in ready]
    env = {"GOGC": "off", "GOMEMLIMIT": "1GiB"} | dict(os.environ)  # as the engine runs it

    def render(directory: Path) -> None:
        subprocess.run([*tool.command, str(directory)], capture_output=True, check=True, env=env)

    cpu, start = cpu_seconds(), time.perf_counter()
    with ThreadPoolExecutor(max_workers=RENDER_CONCURRENCY) as pool:
        list(pool.map(render, dirs))
    return time.perf_counter() - start, cpu_seconds() - cpu


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--entries", type=int, default=1000)
    parser.add_argument("--ready", type=int, default=20)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    tool = find_kustomize()
    if not isinstance(tool, Kustomize):
        print(f"no kustomize to prove the pins with: {tool}")
        return 1
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="layout-bench-") as tmp:
        root = Path(tmp)
        regs = {env: RegistryServer(root / f"registry-{env}", "none").start() for env in ENVS}
        try:
            os.environ.update({f"HARBOR_URL_{env.upper()}": regs[env].url for env in ENVS})
            ready = []
            for n in range(args.ready):
                service, env = f"svc{n:02d}", ENVS[n % 2]
                digest = push_image(regs[env], f"bench/{service}", "v1", content=service.encode())
                ready.append((service, env, digest))
            terminal = args.entries - args.ready
            rows = {"ljwx": [], "own": []}
            renders = []
            for run in range(args.runs):
                for name, build in (("own", own_repo), ("ljwx", ljwx_repo)):
                    remote = build(root / f"{name}-{run}", regs, ready, terminal)
                    rows[name].append(one_pass(remote, args.ready))
                renders.append(bare_renders(remote, ready, tool))
        finally:
            for reg in regs.values():
                reg.stop()
    median = statistics.median
    own, ljwx = (median(r[0] for r in rows[name]) for name in ("own", "ljwx"))
    own_cpu, ljwx_cpu = (median(r[3] for r in rows[name]) for name in ("own", "ljwx"))
    bare, bare_cpu = median(r[0] for r in renders), median(r[1] for r in renders)
    ratios = [
        lj[0] / (ow[0] + re[0])
        for ow, lj, re in zip(rows["own"], rows["ljwx"], renders, strict=True)
    ]
    ratio = median(ratios)
    pinned = min(r[1] for r in rows["ljwx"])
    commits = max(r[2] for r in rows["ljwx"])
    print(
        f"one pass, {args.entries} queue entries, {args.ready} ready across {', '.join(ENVS)} "
        f"(median of {args.runs}; load average {load:.1f} -> {os.getloadavg()[0]:.1f} "
        f"on {os.cpu_count()} CPUs)"
    )

    def row(what: str, wall: float, cpu: float, note: str = "") -> None:
        print(f"  {what:<44}{wall:6.2f} s{cpu:6.2f} s  {note}".rstrip())

    print(f"  {'':<44}{'wall':>8}{'CPU':>8}")
    row(
        "own layout (releases queue, pin files)",
        own,
        own_cpu,
        f"{min(r[1] for r in rows['own'])}/{args.ready} pinned",
    )
    row(f"{args.ready} bare renders ({RENDER_CONCURRENCY} at once)", bare, bare_cpu, tool.label)
    row("baseline: own layout + bare renders", own + bare, own_cpu + bare_cpu)
    row(
        "ljwx layout (four lists, overlays, render)",
        ljwx,
        ljwx_cpu,
        f"{pinned}/{args.ready} pinned, {commits} pin commit(s)",
    )
    print(
        f"  per-run ljwx / baseline: {', '.join(f'{r:.2f}x' for r in ratios)}; "
        f"ljwx / own layout alone: {ljwx / own:.2f}x"
    )
    verdicts = [
        (
            f"ljwx pass <= {TARGET_RATIO}x (own-layout pass + bare renders), median per-run ratio",
            ratio <= TARGET_RATIO,
            f"{ratio:.2f}x",
        ),
        (f"all {args.ready} pinned", pinned == args.ready, f"{pinned}"),
        ("at most one pin commit per environment", commits <= len(ENVS), f"{commits}"),
    ]
    for what, ok, value in verdicts:
        print(f"target: {what}: {'met' if ok else 'MISSED'} ({value})")
    return 0 if all(ok for _, ok, _ in verdicts) else 1


if __name__ == "__main__":
    sys.exit(main())
