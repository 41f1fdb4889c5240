"""Promotion on Postgres storage: the daemon end to end, and two runners with their own instances.

The PostgreSQL server is started by the fixture (CI has no running services); each instance
gets its own database and a DAGSTER_HOME holding the shipped deploy/postgres/dagster.yaml.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
import pytest

from factory_assets.release.add import add_release
from factory_assets.release.queue_file import load_queue
from factory_assets.sandbox.gitops_remote import file_at_main
from tests.deploy.conftest import VENV_BIN, PgHome, wait_until
from tests.deploy.readme import block_after
from tests.support.oci import push_image, push_multiarch

pytestmark = pytest.mark.slow

SERVICE = "api"


def remote_pin_image(bare: Path, service: str = SERVICE) -> str | None:
    """The `image:` of envs/dev/<service>.yaml at the remote's main, read from the bare repo."""
    text = file_at_main(bare, f"envs/dev/{service}.yaml")
    if text is None:
        return None
    for line in text.splitlines():
        if line.startswith("image:"):
            return line.split(":", 1)[1].strip().strip("'\"")
    return None


def run_env(home: PgHome, clone: Path) -> dict[str, str]:
    """The process environment of one runner: its instance, its clone, the test registry."""
    return {
        **os.environ,
        **home.env,
        "FACTORY_REPO": str(clone),
        "PYTHONUNBUFFERED": "1",
        "PATH": f"{VENV_BIN}:{os.environ['PATH']}",
    }


def validate_evidence(repo: Path) -> None:
    proc = subprocess.run(
        [str(VENV_BIN / "factory"), "evidence", "validate", "--repo", str(repo)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def records(repo: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted((repo / "evidence/records").glob("*.json"))]


def test_daemon_on_postgres_pins_a_pushed_queue_entry(
    registry, unique_repo, harbor_env, gitops_remote, pg_home, processes
):
    harbor_env(registry)
    home = pg_home("daemon")
    # The daemon command of deploy/README.md, as written, from the repository root.
    daemon = processes.start(
        "daemon",
        shlex.split(block_after("test_postgres_e2e.py")),
        env=run_env(home, gitops_remote.clone),
    )
    pushed = push_multiarch(registry, unique_repo, "1.0.0")
    entry = add_release(
        gitops_remote.new_clone("dev"),
        service=SERVICE,
        tag="1.0.0",
        image=registry.image(unique_repo),
        requested_by="dev",
        push=True,
    ).entry

    def daemon_log() -> str:
        return processes.log(daemon)[-6000:]

    image = wait_until(
        lambda: remote_pin_image(gitops_remote.bare),
        90,
        "the pin commit on the remote",
        daemon_log,
    )
    assert image == f"{registry.image(unique_repo)}@{pushed.index_digest}"

    fresh = gitops_remote.new_clone("check")
    queued = load_queue(fresh).queue.by_id(entry.id)
    assert queued.state == "promoted" and queued.digest == pushed.index_digest
    validate_evidence(fresh)

    # The run lives in Postgres: a second instance on the same database sees it.
    with pg_instance(home) as instance:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"

        def finished_runs():
            runs = instance.get_runs(filters=dg.RunsFilter(tags={"factory/service": SERVICE}))
            done = [r for r in runs if r.is_finished]
            return done if done and len(done) == len(runs) else None

        runs = wait_until(finished_runs, 60, "the promotion run to finish", daemon_log)
        assert any(r.status == dg.DagsterRunStatus.SUCCESS for r in runs), [
            (r.run_id, r.status) for r in runs
        ]
        assert instance.get_dynamic_partitions("services") == [SERVICE]


def test_two_runners_with_their_own_instances_serialize_and_supersede(
    registry, unique_repo, harbor_env, gitops_remote, pg_home, processes
):
    harbor_env(registry)
    image = registry.image(unique_repo)
    tags = ["1.0.0", "1.1.0", "1.2.0"]
    digests = [push_image(registry, unique_repo, t, content=t.encode()) for t in tags]
    dev = gitops_remote.new_clone("dev")
    entries = [
        add_release(dev, service=SERVICE, tag=t, image=image, requested_by="dev", push=True).entry
        for t in tags
    ]
    head_before = gitops_remote.remote_head()
    gate = install_push_gate(gitops_remote.bare)

    runners = []
    for name in ("a", "b"):
        home = pg_home(name)
        # Each runner is its own machine: its own instance (database), its own clone.
        env = run_env(home, gitops_remote.new_clone(f"runner-{name}"))
        add_partition(home, SERVICE)
        runners.append(
            processes.start(
                f"runner-{name}",
                [
                    str(VENV_BIN / "dagster"),
                    "asset",
                    "materialize",
                    "-m",
                    "factory_assets.definitions",
                    "--select",
                    "digest_preview,lane_pin",
                    "--partition",
                    f"dev|{SERVICE}",
                ],
                env=env,
            )
        )
    for proc in runners:
        try:
            proc.wait(150)
        except subprocess.TimeoutExpired:
            pytest.fail("a runner did not finish in 150 s:\n" + processes.log(proc)[-4000:])
    logs = [processes.log(p) for p in runners]
    assert [p.returncode for p in runners] == [0, 0], "\n\n".join(x[-4000:] for x in logs)
    # The gate held both runners' first pushes until both had arrived: they raced for real.
    assert gate.arrivals() >= 2, "the runners never pushed at the same time"

    fresh = gitops_remote.new_clone("check")
    assert remote_pin_image(gitops_remote.bare) == f"{image}@{digests[-1]}"
    queue = load_queue(fresh).queue
    newest = queue.by_id(entries[-1].id)
    assert newest.state == "promoted" and newest.digest == digests[-1]
    for older in entries[:-1]:
        entry = queue.by_id(older.id)
        assert (entry.state, entry.superseded_by) == ("superseded", newest.id)

    # No interleaved writes: a straight line of commits, and exactly one of them moved the pin.
    history = git_lines(gitops_remote.bare, "rev-list", "--parents", f"{head_before}..main")
    assert all(len(line.split()) == 2 for line in history), "a merge commit on main"
    pin_commits = git_lines(
        gitops_remote.bare, "log", "--format=%H", f"{head_before}..main", "--", "envs/dev/api.yaml"
    )
    assert len(pin_commits) == 1, pin_commits
    claims = git_lines(
        gitops_remote.bare, "log", "--format=%H", "--grep=^factory: claim", f"{head_before}..main"
    )
    assert len(claims) == 1, "both runners claimed: the loser's push was not refused"

    # One record per decision: one promotion, one supersede per older release, none twice.
    ours = [r for r in records(fresh) if r.get("kind") == "promotion"]
    by_result: dict[str, list[dict]] = {}
    for rec in ours:
        by_result.setdefault(rec["result"], []).append(rec)
    assert len(by_result.get("success", [])) == 1, [r["result"] for r in ours]
    assert len(by_result.get("superseded", [])) == 2, [r["result"] for r in ours]
    validate_evidence(fresh)


@contextmanager
def pg_instance(home: PgHome) -> Iterator[dg.DagsterInstance]:
    """A DagsterInstance on `home` in this process (its DAGSTER_PG_* set only meanwhile)."""
    saved = {k: os.environ.get(k) for k in home.env}
    os.environ.update(home.env)
    try:
        with dg.DagsterInstance.from_config(str(home.path)) as instance:
            yield instance
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def add_partition(home: PgHome, key: str) -> None:
    """The lane's partitions exist before a CLI run (the sensor adds them under a daemon)."""
    with pg_instance(home) as instance:
        instance.add_dynamic_partitions("services", [key])
        instance.add_dynamic_partitions("envs", ["dev"])


def git_lines(bare: Path, *args: str) -> list[str]:
    out = subprocess.run(
        ["git", "--git-dir", str(bare), *args], capture_output=True, text=True, check=True
    ).stdout
    return [line for line in out.splitlines() if line.strip()]


class PushGate:
    """A pre-receive hook on the bare remote that holds the first pushes until two have arrived."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def arrivals(self) -> int:
        return len(list((self.directory / "arrived").iterdir()))


# Every push waits (at most 20 s) until a second push is also waiting, then all pass; once
# open, the gate stays open. git's ref update is itself a compare-and-swap, so of two pushes
# computed on the same head exactly one lands and the other runner must re-apply.
PRE_RECEIVE = """#!/bin/sh
gate="{gate}"
cat >/dev/null
[ -e "$gate/open" ] && exit 0
touch "$gate/arrived/$$"
i=0
while [ "$(ls "$gate/arrived" | wc -l)" -lt 2 ] && [ "$i" -lt 200 ]; do
  sleep 0.1
  i=$((i + 1))
done
touch "$gate/open"
exit 0
"""


def install_push_gate(bare: Path) -> PushGate:
    gate = bare.parent / "push-gate"
    (gate / "arrived").mkdir(parents=True)
    hook = bare / "hooks" / "pre-receive"
    hook.write_text(PRE_RECEIVE.format(gate=gate))
    hook.chmod(0o755)
    return PushGate(gate)
