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


@pytest.mark.parametrize(
    "command",
    [("site", "build", "--out", "{file}"), ("evidence", "collect", "--out", "{file}/index.json")],
)
def test_an_output_path_under_a_file_is_an_error_not_a_traceback(tmp_path: Path, command):
    repo = tmp_path / "repo"
    (repo / "evidence" / "records").mkdir(parents=True)
    afile = tmp_path / "file"
    afile.write_text("keep me\n")
    args = [part.format(file=afile) for part in command]
    proc = factory(*args, "--repo", str(repo))
    assert proc.returncode == 1, proc.stderr
    assert proc.stderr.startswith("factory: error: ") and "Not a directory" in proc.stderr
    assert "Traceback" not in proc.stderr and afile.read_text() == "keep me\n"
