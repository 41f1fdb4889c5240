"""`make demo`: run the factory end to end on a scratch GitOps repository under .demo/.

Everything is local: a bare git remote, a working clone, and a Dagster instance
in .demo/dagster_home. Each step calls the same commands a user would.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / ".demo"
BIN = Path(sys.executable).parent


def run(
    *args: str,
    cwd: Path | None = None,
    env: dict | None = None,
    check: bool = True,
    quiet: bool = False,
) -> subprocess.CompletedProcess:
    printable = " ".join(args)
    print(f"$ {printable}", flush=True)
    proc = subprocess.run(
        args, cwd=cwd, env={**os.environ, **(env or {})}, text=True, capture_output=True
    )
    output = (proc.stdout + proc.stderr).strip()
    if quiet and proc.returncode == 0:
        output = "\n".join(
            line for line in output.splitlines() if "RUN_SUCCESS" in line or "ASSET_CHECK" in line
        )
    if output:
        print("  " + output.replace("\n", "\n  "), flush=True)
    if check and proc.returncode != 0:
        raise SystemExit(f"demo step failed ({proc.returncode}): {printable}")
    return proc


def factory(*args: str, **kwargs) -> subprocess.CompletedProcess:
    return run(str(BIN / "factory"), *args, **kwargs)


def make_gitops_repo() -> tuple[Path, Path]:
    """A bare remote plus a clone, seeded with the GitOps folders."""
    if DEMO.exists():
        shutil.rmtree(DEMO)
    remote, clone = DEMO / "remote.git", DEMO / "deploy"
    DEMO.mkdir()
    run("git", "init", "-q", "--bare", "-b", "main", str(remote))
    run("git", "clone", "-q", str(remote), str(clone))
    for key, value in (("user.name", "factory demo"), ("user.email", "demo@factory.invalid")):
        run("git", "config", key, value, cwd=clone)
    (clone / "release").mkdir()
    (clone / "release" / "queue.yaml").write_text(
        "# Release requests; see release/README.md\nreleases: []\n"
    )
    (clone / "envs" / "dev").mkdir(parents=True)
    (clone / "envs" / "dev" / ".gitkeep").write_text("")
    (clone / "evidence" / "records").mkdir(parents=True)
    (clone / "evidence" / "records" / ".gitkeep").write_text("")
    run("git", "add", "-A", cwd=clone)
    run("git", "commit", "-q", "-m", "Seed the GitOps folders", cwd=clone)
    run("git", "push", "-q", "origin", "main", cwd=clone)
    return remote, clone


def write_sample_evidence(clone: Path) -> None:
    """A pages record through the real writer, so the chain exists before any promotion."""
    sys.path.insert(0, str(ROOT))
    from factory_assets.evidence.store import append_record, new_body

    record = append_record(
        clone,
        new_body(
            kind="pages",
            service=None,
            result="skipped",
            details={
                "branch": "gh-pages",
                "merkle_root": "0" * 64,
                "tree_size": 0,
                "reason": "demo seed record",
            },
        ),
    )
    print(f"wrote evidence/records/{record.id}.json (sequence {record.integrity.sequence})")


def materialize(
    clone: Path, dagster_home: Path, selection: str, partition: str | None = None
) -> None:
    args = [
        str(BIN / "dagster"),
        "asset",
        "materialize",
        "-m",
        "factory_assets.definitions",
        "--select",
        selection,
    ]
    if partition:
        args += ["--partition", partition]
    env = {"DAGSTER_HOME": str(dagster_home), "FACTORY_REPO": str(clone)}
    proc = run(*args, cwd=ROOT, env=env, check=False, quiet=True)
    if proc.returncode != 0 or "RUN_SUCCESS" not in proc.stdout + proc.stderr:
        raise SystemExit(f"dagster materialize of {selection} failed")


def main() -> int:
    remote, clone = make_gitops_repo()
    dagster_home = DEMO / "dagster_home"
    dagster_home.mkdir()
    shutil.copy(ROOT / "deploy" / "dagster.yaml", dagster_home / "dagster.yaml")

    write_sample_evidence(clone)
    factory("evidence", "validate", "--repo", str(clone))
    factory(
        "evidence", "collect", "--repo", str(clone), "--out", str(clone / "evidence" / "index.json")
    )
    materialize(clone, dagster_home, "evidence_index")

    index = json.loads((clone / "evidence" / "index.json").read_text())
    print()
    print("== factory demo summary ==")
    print(f"gitops clone : {clone}")
    print(f"bare remote  : {remote}")
    print(f"DAGSTER_HOME : {dagster_home}")
    print(
        f"evidence     : {index['record_count']} record(s), merkle root {index['checkpoint']['root'][:16]}…"
    )
    print(
        f"open the UI  : DAGSTER_HOME={dagster_home} FACTORY_REPO={clone} {BIN}/dagster dev -w workspace.yaml"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
