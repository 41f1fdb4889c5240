"""Benchmark the README's CI recipe (`dagster asset materialize` of one lane, from a fresh
DAGSTER_HOME) against `factory promote` doing the same work, measured in the same run.

    .venv/bin/python bench/materialize_bench.py [--rounds N]

The recipe is read from the README's CI row and run as written, in a shell whose PATH starts
with this environment's bin (so `factory` and `dagster` are the installed commands). Each
round gives both sides the same work on their own fresh scratch remote: one pending release
of `api` (a `docker-registry` on loopback holds its image), to be verified, pinned, pushed
with compare-and-swap and recorded as evidence. The recipe also starts from a fresh
DAGSTER_HOME (deploy/dagster.yaml), as a CI job does. The order alternates between rounds.
Target: the recipe's median <= the CLI pass's median + 3 s (Dagster's own start-up is what
the recipe may cost beyond the pass). Also: both pin the release on the remote every round.
Prints met or MISSED per target and exits 1 when one is missed.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from factory_assets.release.add import add_release  # noqa: E402
from factory_assets.sandbox.dagster_processes import BIN, shipped_dagster_home  # noqa: E402
from factory_assets.sandbox.gitops_remote import GitOpsRemote, make_gitops_remote  # noqa: E402
from factory_assets.sandbox.oci_push import push_image  # noqa: E402
from factory_assets.sandbox.registry_server import RegistryServer  # noqa: E402

TARGET_EXTRA_SECONDS = 3.0
SERVICE = "api"
# Settings a developer's shell may carry that would change what either side does.
SCRUBBED_PREFIXES = ("FACTORY_", "HARBOR_", "DAGSTER_", "GITHUB_", "ARGOCD_", "SMOKE_")


def ci_recipe(readme: Path = ROOT / "README.md") -> str:
    """The command of the README's `| CI |` row, with the table's `\\|` escapes undone."""
    for line in readme.read_text().splitlines():
        if line.startswith("| CI |"):
            match = re.search(r"`(.+?)`", line)
            if match:
                return match.group(1).replace("\\|", "|")
    raise SystemExit(f"{readme}: no `| CI |` row with a command in backticks")


def seeded_remote(workdir: Path, registry: RegistryServer) -> GitOpsRemote:
    """A fresh remote whose queue holds one pending release of SERVICE (pushed)."""
    remote = make_gitops_remote(workdir)
    add_release(
        remote.clone,
        service=SERVICE,
        tag="1.0.0",
        image=registry.image(f"bench/{SERVICE}"),
        requested_by="bench",
        harbor_url=registry.url,
        push=True,
    )
    return remote


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(SCRUBBED_PREFIXES)}
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    return {**env, **extra}


def timed(args: list[str], cwd: Path, env: dict[str, str]) -> float:
    """Seconds `args` took; a failure stops the bench with its output."""
    start = time.perf_counter()
    done = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(args)} exited {done.returncode}:\n{done.stderr[-3000:]}")
    return elapsed


def pinned(remote: GitOpsRemote, digest: str) -> bool:
    pin = remote.show(f"envs/dev/{SERVICE}.yaml") or ""
    return f"@{digest}" in pin


def cli_pass(root: Path, registry: RegistryServer) -> tuple[float, GitOpsRemote]:
    remote = seeded_remote(root, registry)
    env = clean_env(HARBOR_URL=registry.url, FACTORY_REPO=str(remote.clone))
    return timed([str(BIN / "factory"), "promote"], remote.clone, env), remote


def recipe(root: Path, registry: RegistryServer, command: str) -> tuple[float, GitOpsRemote]:
    remote = seeded_remote(root, registry)
    home = shipped_dagster_home(root / "dagster_home")
    env = clean_env(HARBOR_URL=registry.url, FACTORY_REPO=str(remote.clone), DAGSTER_HOME=str(home))
    return timed(["bash", "-c", command], remote.clone, env), remote


def verdict(what: str, ok: bool, value: str) -> bool:
    print(f"target: {what}: {'met' if ok else 'MISSED'} ({value})")
    return ok


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5, help="median of this many rounds")
    args = parser.parse_args()
    rounds = max(1, args.rounds)
    command = ci_recipe()
    cli_s: list[float] = []
    recipe_s: list[float] = []
    pins = {"cli": 0, "recipe": 0}
    with tempfile.TemporaryDirectory(prefix="materialize-bench-") as tmp:
        root = Path(tmp)
        registry = RegistryServer(root / "registry", "none").start()
        try:
            digest = push_image(registry, f"bench/{SERVICE}", "1.0.0")
            for n in range(rounds):
                sides = [("cli", cli_pass), ("recipe", recipe)]
                for name, run in sides if n % 2 == 0 else reversed(sides):
                    extra = (command,) if name == "recipe" else ()
                    seconds, remote = run(root / f"{name}-{n}", registry, *extra)
                    (cli_s if name == "cli" else recipe_s).append(seconds)
                    pins[name] += pinned(remote, digest)
        finally:
            registry.stop()

    cli_median = statistics.median(cli_s)
    recipe_median = statistics.median(recipe_s)
    print(f"one lane ({SERVICE} in dev), one pending release; median of {rounds}")
    print(f"  CI recipe, fresh DAGSTER_HOME: {recipe_median:5.2f} s  ({command})")
    print(f"  CLI pass (factory promote):    {cli_median:5.2f} s")
    print(f"  recipe - CLI pass:             {recipe_median - cli_median:5.2f} s")
    print(f"  rounds (s): recipe {' '.join(f'{t:.2f}' for t in recipe_s)}")
    print(f"              CLI    {' '.join(f'{t:.2f}' for t in cli_s)}")
    ok = verdict(
        "both pin the release every round",
        pins == {"cli": rounds, "recipe": rounds},
        f"CLI {pins['cli']}/{rounds}, recipe {pins['recipe']}/{rounds}",
    )
    ok &= verdict(
        f"recipe <= CLI pass + {TARGET_EXTRA_SECONDS:g} s",
        recipe_median <= cli_median + TARGET_EXTRA_SECONDS,
        f"{recipe_median:.2f} s vs {cli_median + TARGET_EXTRA_SECONDS:.2f} s",
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
