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


def test_a_folder_inside_a_checkout_is_refused_before_anything_is_written(tmp_path: Path):
    checkout = tmp_path / "deploy"
    (checkout / "envs" / "dev").mkdir(parents=True)
    subprocess.run(["git", "init", "-q", str(checkout)], check=True)
    inside = checkout / "envs" / "dev"
    proc = factory("release", "add", "api", "--tag", "v1", "--repo", str(inside))
    assert proc.returncode == 1
    assert f"{inside} is inside the checkout {checkout}, not its top" in proc.stderr
    assert sorted(p.name for p in inside.iterdir()) == []  # no stray queue or evidence chain
    proc = factory("evidence", "collect", env={"FACTORY_REPO": str(inside)})
    assert proc.returncode == 1 and "FACTORY_REPO: -:" in proc.stderr


def test_the_writer_refuses_a_folder_inside_a_checkout(tmp_path: Path):
    from resources.gitops import GitError, GitopsWriter

    subprocess.run(["git", "init", "-q", str(tmp_path / "deploy")], check=True)
    (tmp_path / "deploy" / "envs").mkdir()
    with pytest.raises(GitError, match="not its top level"):
        GitopsWriter(tmp_path / "deploy" / "envs")
