"""`--repo` / FACTORY_REPO must name an existing directory; nothing is created elsewhere."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest


def factory(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "factory_assets.cli.main", *args],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", **(env or {})},
    )


@pytest.mark.parametrize(
    "command", [("evidence", "collect"), ("evidence", "validate"), ("release", "status")]
)
def test_a_missing_repo_is_an_error_and_nothing_is_created(tmp_path: Path, command):
    missing = tmp_path / "typo"
    proc = factory(*command, "--repo", str(missing))
    assert proc.returncode == 1
    assert f"{missing}: --repo: no such directory" in proc.stderr
    assert not missing.exists()


def test_factory_repo_that_is_a_file_names_the_variable(tmp_path: Path):
    afile = tmp_path / "file"
    afile.write_text("x")
    proc = factory("evidence", "collect", env={"FACTORY_REPO": str(afile)})
    assert proc.returncode == 1
    assert f"FACTORY_REPO: -: not a directory: {afile}" in proc.stderr
