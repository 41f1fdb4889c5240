"""Fixtures for the scale-out tests: a PostgreSQL server, Dagster homes on it, managed processes."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.postgres import PostgresServer

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
VENV_BIN = ROOT / ".venv" / "bin"


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """One PostgreSQL cluster per session (per xdist worker); each test makes its own databases."""
    server = PostgresServer().start()
    yield server
    server.stop()


@dataclass(frozen=True)
class PgHome:
    """A DAGSTER_HOME holding deploy/postgres/dagster.yaml, and the env that points it at a database."""

    path: Path
    env: dict[str, str]


@pytest.fixture
def pg_home(postgres: PostgresServer, tmp_path: Path) -> Callable[[str], PgHome]:
    """`pg_home("a")`: a fresh database and a DAGSTER_HOME using the shipped Postgres dagster.yaml."""

    def make(name: str) -> PgHome:
        db = postgres.create_database(f"dagster_{name}_{uuid.uuid4().hex[:8]}")
        home = tmp_path / f"dagster_home_{name}"
        home.mkdir()
        # Literally what deploy/README.md says: copy the file into DAGSTER_HOME.
        shutil.copy(DEPLOY / "postgres" / "dagster.yaml", home / "dagster.yaml")
        return PgHome(home, {**postgres.env(db), "DAGSTER_HOME": str(home)})

    return make


def _descendants(pid: int) -> list[int]:
    """Every live descendant of `pid` (children first found through /proc)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                # pid (comm) state ppid ...: comm may hold spaces, so split after the last ')'
                ppid = int(fh.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry))
    found, stack = [], [pid]
    while stack:
        for child in children.get(stack.pop(), []):
            found.append(child)
            stack.append(child)
    return found


def _signal_all(pids: list[int], sig: int) -> None:
    for pid in pids:
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass


class Processes:
    """Subprocesses a test starts; all of them, and everything they spawned, die at teardown."""

    def __init__(self, logdir: Path) -> None:
        self.logdir = logdir
        self._procs: list[tuple[subprocess.Popen, Path]] = []

    def start(
        self, name: str, args: list[str], *, env: Mapping[str, str], cwd: Path = ROOT
    ) -> subprocess.Popen:
        log = self.logdir / f"{name}.log"
        with open(log, "ab") as out:
            proc = subprocess.Popen(
                args,
                cwd=cwd,
                env=dict(env),
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # its own process group: one signal reaches its children
            )
        self._procs.append((proc, log))
        return proc

    def log(self, proc: subprocess.Popen) -> str:
        for known, path in self._procs:
            if known is proc:
                return path.read_text(errors="replace")
        return ""

    def stop_all(self) -> None:
        for proc, _ in reversed(self._procs):
            pids = [proc.pid, *_descendants(proc.pid)]
            try:
                os.killpg(proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            _signal_all(pids, signal.SIGTERM)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                pass
            time.sleep(0.2)
            # Anything still alive (a run worker that left the group, a stuck code server): kill.
            leftovers = [p for p in [proc.pid, *_descendants(proc.pid), *pids] if _alive(p)]
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            _signal_all(leftovers, signal.SIGKILL)
            if proc.poll() is None:
                proc.wait(10)
        self._procs.clear()


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


@pytest.fixture
def processes(tmp_path: Path) -> Iterator[Processes]:
    logdir = tmp_path / "logs"
    logdir.mkdir()
    procs = Processes(logdir)
    try:
        yield procs
    finally:
        procs.stop_all()


def wait_until(check: Callable[[], object], timeout: float, what: str, on_timeout=lambda: ""):
    """Poll `check` every 0.5 s until it returns a truthy value; fail with `what` after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}\n{on_timeout()}")
        time.sleep(0.5)
