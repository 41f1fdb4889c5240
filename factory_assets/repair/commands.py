"""Run a check or recipe command in a checkout: argv only (no shell), bounded output, scrubbed env."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from factory_assets.repair.recipes import FILES_TOKEN, Command

MAX_OUTPUT_BYTES = 1024 * 1024
# Checks and recipes never need credentials; a recipe runs PR code, so it must not see any.
SECRET_NAME = re.compile(
    r"TOKEN|PASSWORD|PASSWD|SECRET|CREDENTIAL|API_KEY|PRIVATE_KEY", re.IGNORECASE
)


@dataclass(frozen=True)
class CommandResult:
    name: str
    argv: tuple[str, ...]
    display: str
    returncode: int
    output: str
    duration_ms: int
    skipped: bool = False

    @property
    def ok(self) -> bool:
        return self.skipped or self.returncode == 0


def tool_dir() -> Path:
    """The venv's bin directory: where `ruff` and `factory` live next to this Python."""
    return Path(sys.executable).parent


def render(command: Command, files: list[str] | None) -> list[str]:
    """argv with `{files}` expanded; `{python}` stays symbolic here (see `resolve_argv`)."""
    argv: list[str] = []
    for arg in command.argv:
        if arg == FILES_TOKEN:
            argv.extend(files or [])
        else:
            argv.append(arg)
    return argv


def display(argv: list[str]) -> str:
    """The command as a person would type it, for logs and reproduction steps."""
    return shlex.join(a.replace("{python}", "python") for a in argv)


def resolve_argv(argv: list[str]) -> list[str]:
    return [a.replace("{python}", sys.executable) for a in argv]


def child_env(cwd: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not SECRET_NAME.search(k)}
    env["PATH"] = os.pathsep.join([str(tool_dir()), env.get("PATH", os.defpath)])
    env["FACTORY_REPO"] = str(cwd)
    env.pop("PYTHONPATH", None)
    env.setdefault("NO_COLOR", "1")
    return env


def run_command(command: Command, cwd: Path, files: list[str] | None) -> CommandResult:
    """Run in `cwd`; a missing program or a timeout is a failed result, not an exception."""
    argv = render(command, files)
    started = time.monotonic()
    try:
        proc = subprocess.run(
            resolve_argv(argv),
            cwd=cwd,
            env=child_env(cwd),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            timeout=command.timeout,
            check=False,
        )
        code, raw = proc.returncode, proc.stdout
    except FileNotFoundError as exc:
        code, raw = 127, f"{command.name}: cannot run {argv[0]!r}: {exc.strerror}\n".encode()
    except subprocess.TimeoutExpired as exc:
        code, raw = (
            124,
            (exc.stdout or b"")
            + f"\n{command.name}: timed out after {command.timeout}s\n".encode(),
        )
    output = raw[:MAX_OUTPUT_BYTES].decode("utf-8", errors="replace")
    return CommandResult(
        name=command.name,
        argv=tuple(argv),
        display=display(argv),
        returncode=code,
        output=output,
        duration_ms=int((time.monotonic() - started) * 1000),
    )


def skipped(command: Command, reason: str) -> CommandResult:
    return CommandResult(
        command.name, tuple(command.argv), display(command.argv), 0, reason, 0, skipped=True
    )
