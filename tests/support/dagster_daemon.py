"""Run the real `dagster-daemon` (and webserver) on this project's workspace, as subprocesses."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Mapping
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BIN = ROOT / ".venv" / "bin"


def shipped_dagster_home(root: Path) -> Path:
    """A DAGSTER_HOME holding the dagster.yaml the project ships for one machine."""
    root.mkdir(parents=True, exist_ok=True)
    shutil.copy(ROOT / "deploy" / "dagster.yaml", root / "dagster.yaml")
    return root


class DagsterProcess:
    """A dagster CLI process in its own process group, stopped with everything it started."""

    def __init__(self, args: list[str], env: Mapping[str, str], log_path: Path) -> None:
        self.log_path = log_path
        self._log = open(log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            args,
            cwd=ROOT,
            env={**os.environ, **env},
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        self._log.close()


def start_daemon(dagster_home: Path, env: Mapping[str, str], log_path: Path) -> DagsterProcess:
    return DagsterProcess(
        [str(BIN / "dagster-daemon"), "run", "-w", str(ROOT / "workspace.yaml")],
        {"DAGSTER_HOME": str(dagster_home), **env},
        log_path,
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_webserver(
    dagster_home: Path, env: Mapping[str, str], log_path: Path, port: int
) -> DagsterProcess:
    return DagsterProcess(
        [
            str(BIN / "dagster-webserver"),
            "-w",
            str(ROOT / "workspace.yaml"),
            "-h",
            "127.0.0.1",
            "-p",
            str(port),
        ],
        {"DAGSTER_HOME": str(dagster_home), **env},
        log_path,
    )


def wait_for(predicate, timeout: float, interval: float = 0.5, what="condition"):
    """Poll `predicate` until it is truthy; `what` may be a callable, built only on a timeout
    (so a daemon log in the message is the log at failure time, not at the start)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    described = what() if callable(what) else what
    raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {described}")
