"""Containers of the factory image under podman, run the way the clusters run them.

Every container runs as uid 10001 with a read-only root file system, all capabilities dropped
and no privilege escalation (the manifests' security contexts), with /work and /tmp as its only
writable places (the manifests' emptyDir volumes: /work a fresh directory owned by 10001, as
fsGroup makes an emptyDir; /tmp a tmpfs), on the host network (the registry, the git server
and Argo CD listen on loopback). Secrets are passed by name only (`--env NAME`, the
value taken from podman's environment), so no token is in podman's own argument list either.
"""

from __future__ import annotations

import os
import subprocess
import threading
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PODMAN = ROOT / "scripts" / "podman.sh"  # runc and the ulimits this machine kind needs

HARDENING = [
    "--network=host",
    "--read-only",
    "--user=10001:10001",
    "--cap-drop=ALL",
    "--security-opt=no-new-privileges",
    "--tmpfs=/tmp:rw,size=1g",
]
UID = 10001

# `ps -eo args` inside the container: each new command line once, until the container stops.
PS_INSIDE = """
import os, time
seen, me = set(), str(os.getpid())
while True:
    for pid in os.listdir("/proc"):
        if pid.isdigit() and pid != me:
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    line = f.read().replace(b"\\0", b" ").decode(errors="replace").strip()
            except OSError:
                continue
            if line and line not in seen:
                seen.add(line)
                print(line, flush=True)
    time.sleep(0.01)
"""


def podman(*args: str, env: Mapping[str, str] | None = None, timeout: float = 120, check=True):
    """Run scripts/podman.sh with `args`; its output as text."""
    return subprocess.run(
        [str(PODMAN), *args],
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=check,
    )


def image_exists(image: str) -> bool:
    return podman("image", "exists", image, check=False).returncode == 0


@dataclass
class Container:
    """A detached container; `ps` holds every command line that ran in it while it was sampled."""

    name: str
    command: str
    ps: list[str] = field(default_factory=list)
    _reader: subprocess.Popen | None = None
    _sampler: threading.Thread | None = None

    def sample_ps(self) -> None:
        """Collect every command line `ps` would show inside the container while it runs.

        A reader of /proc/*/cmdline runs inside the container (the image has no procps), every
        10 ms, so short-lived processes such as git's fetches and pushes are seen too.
        """
        self._reader = subprocess.Popen(
            [str(PODMAN), "exec", self.name, "python3", "-c", PS_INSIDE],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )

        def read() -> None:
            for line in self._reader.stdout:
                self.ps.append(line.rstrip("\n"))

        self._sampler = threading.Thread(target=read, daemon=True)
        self._sampler.start()

    def running(self) -> bool:
        done = podman("inspect", "--format", "{{.State.Running}}", self.name, check=False)
        return done.stdout.strip() == "true"

    def wait(self, timeout: float) -> int:
        code = int(podman("wait", self.name, timeout=timeout).stdout.strip().splitlines()[-1])
        self._end_sampling()
        return code

    def logs(self) -> str:
        done = podman("logs", self.name, check=False)
        return done.stdout + done.stderr

    def timing(self) -> tuple[datetime, datetime | None]:
        """When the container started and finished, as podman recorded them."""
        started, finished = (
            podman("inspect", "--format", "{{.State.StartedAt}}|{{.State.FinishedAt}}", self.name)
            .stdout.strip()
            .split("|")
        )
        return _podman_time(started), _podman_time(finished)

    def stop(self, grace: int = 10) -> None:
        podman("stop", "--time", str(grace), self.name, check=False, timeout=grace + 60)
        self._end_sampling()

    def remove(self) -> None:
        self._end_sampling()
        podman("rm", "--force", self.name, check=False)

    def _end_sampling(self) -> None:
        if self._reader is not None and self._reader.poll() is None:
            self._reader.terminate()
        if self._sampler is not None:
            self._sampler.join(timeout=30)


def _podman_time(text: str) -> datetime | None:
    """`2026-12-06 04:10:11.123456789 +0000 UTC` -> an aware datetime (microseconds)."""
    if not text or text.startswith("0001-01-01"):
        return None
    day, clock, offset = text.split()[:3]
    whole, _, fraction = clock.partition(".")
    return datetime.strptime(
        f"{day} {whole}.{(fraction or '0')[:6]:0<6} {offset}", "%Y-%m-%d %H:%M:%S.%f %z"
    )


def start(
    image: str,
    command: list[str],
    *,
    env: Mapping[str, str],
    work: Path,
    secrets: Mapping[str, str] = {},  # noqa: B006 - read only
    name: str = "factory",
) -> Container:
    """`podman run -d` the image as the clusters do, `work` as its /work; `env` by value,
    `secrets` by name only."""
    container = Container(f"{name}-{uuid.uuid4().hex[:8]}", " ".join(command))
    work.mkdir(parents=True)
    os.chown(work, UID, UID)
    args = ["run", "--detach", "--name", container.name, *HARDENING, f"--volume={work}:/work"]
    for key, value in env.items():
        args.append(f"--env={key}={value}")
    for key in secrets:
        args.append(f"--env={key}")  # podman reads the value from its own environment
    podman(*args, image, *command, env=secrets)
    container.sample_ps()
    return container
