"""The real `dagster-daemon` and webserver on this checkout's workspace.yaml, as stoppable subprocesses."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]  # the checkout: workspace.yaml, deploy/dagster.yaml
BIN = Path(sys.executable).parent  # the environment this runs in holds the dagster commands


def shipped_dagster_home(root: Path) -> Path:
    """A DAGSTER_HOME holding the dagster.yaml the project ships for one machine."""
    root.mkdir(parents=True, exist_ok=True)
    shutil.copy(ROOT / "deploy" / "dagster.yaml", root / "dagster.yaml")
    return root


class DagsterProcess:
    """A dagster CLI process in its own process group, stopped with everything it started."""

    def __init__(
        self,
        args: list[str],
        env: Mapping[str, str],
        log_path: Path,
        *,
        cwd: Path = ROOT,
        inherit_environ: bool = True,
    ) -> None:
        """`env` is added to this process's environment, or (`inherit_environ=False`) is all of it."""
        self.log_path = log_path
        self._log = open(log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            args,
            cwd=cwd,
            env={**os.environ, **env} if inherit_environ else dict(env),
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self, timeout: float = 20) -> None:
        """SIGTERM to the group, SIGKILL after `timeout` seconds: runs it launched stop too."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        self._log.close()


def start_daemon(dagster_home: Path, env: Mapping[str, str], log_path: Path) -> DagsterProcess:
    """`dagster-daemon run` on workspace.yaml: the sensors tick and queued runs launch."""
    return DagsterProcess(
        [str(BIN / "dagster-daemon"), "run", "-w", str(ROOT / "workspace.yaml")],
        {"DAGSTER_HOME": str(dagster_home), **env},
        log_path,
    )


def start_webserver(
    dagster_home: Path, env: Mapping[str, str], log_path: Path, port: int
) -> DagsterProcess:
    """`dagster-webserver` (the UI and its GraphQL) on 127.0.0.1:`port`."""
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
