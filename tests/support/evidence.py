"""Run `factory evidence validate` the way a user would, for end-to-end assertions."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def validate_cli(repo: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "factory_assets.cli.main",
            "evidence",
            "validate",
            "--repo",
            str(repo),
        ],
        capture_output=True,
        text=True,
    )
