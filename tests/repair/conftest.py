"""Fixtures for repair tests: a real GitOps git repo with the shipped recipes, and the GitHub double."""

from __future__ import annotations

import contextlib
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import git
import pytest

from factory_assets.cli.main import main
from factory_assets.evidence.collect import collect_index
from factory_assets.evidence.schema_file import write_schema_file
from tests.doubles.github import GitHubDouble
from tests.support.gitrepo import make_gitops_remote, write_files

SHIPPED_RECIPES = Path(__file__).resolve().parents[2] / "repair" / "recipes.yaml"

CLEAN_FILES = {
    ".gitignore": ".ruff_cache/\n__pycache__/\n",
    "pyproject.toml": '[tool.ruff]\nline-length = 100\n\n[tool.ruff.lint]\nselect = ["E", "F", "I"]\n',
    "pkg/__init__.py": "",
    "pkg/core.py": '"""Core."""\n\n\ndef greet(name: str) -> str:\n    return f"hello {name}"\n',
    "envs/dev/app.yaml": (
        "# the app pinned in dev\n"
        "image:\n"
        "  repository: registry.local/team/app  # where it lives\n"
        "  digest: sha256:0000000000000000000000000000000000000000000000000000000000000000\n"
        "ports:\n"
        "  - 8080\n"
        "  - 8443\n"
    ),
}


@dataclass
class Run:
    code: int
    out: str
    err: str


@dataclass
class GitOpsRepo:
    path: Path

    @property
    def repo(self) -> git.Repo:
        return git.Repo(self.path)

    def head(self) -> git.Commit:
        return self.repo.head.commit

    def commit(
        self, files: dict[str, str | bytes], message: str, *, author: tuple[str, str] | None = None
    ) -> str:
        repo = self.repo
        try:
            paths = write_files(self.path, files)
            repo.git.add("--", *paths)
            env = {}
            if author:
                env = {"GIT_AUTHOR_NAME": author[0], "GIT_AUTHOR_EMAIL": author[1]}
            repo.git.commit("--quiet", "-m", message, env=env)
            return repo.head.commit.hexsha
        finally:
            repo.close()

    def status(self) -> str:
        """Porcelain status, leaving out the evidence the repair run itself appended."""
        lines = self.repo.git.status("--porcelain", "--untracked-files=all").splitlines()
        return "\n".join(
            line
            for line in lines
            if "evidence/records/" not in line and "evidence/chain-head.json" not in line
        )

    def repair_records(self) -> list[dict]:
        records = [
            json.loads(p.read_text())
            for p in sorted((self.path / "evidence" / "records").glob("*.json"))
        ]
        records.sort(key=lambda r: r["integrity"]["sequence"])
        return [r for r in records if r["kind"] == "repair"]

    def run(self, *args: str) -> Run:
        """`factory <args> --repo <path>` in-process, capturing output."""
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = main([*args, "--repo", str(self.path)])
            except SystemExit as exc:  # argparse usage errors
                code = int(exc.code or 0)
        return Run(code, out.getvalue(), err.getvalue())


def make_repo(workdir: Path, recipes: str | None = None) -> GitOpsRepo:
    remote = make_gitops_remote(workdir)
    root = remote.clone
    write_files(
        root, {**CLEAN_FILES, "repair/recipes.yaml": recipes or SHIPPED_RECIPES.read_text()}
    )
    write_schema_file(root)
    collect_index(root)
    repo = git.Repo(root)
    repo.git.add("--all")
    repo.git.commit("--quiet", "-m", "Clean GitOps repo with generated evidence files")
    repo.close()
    return GitOpsRepo(root)


@pytest.fixture(autouse=True)
def _no_github_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test talks to a real GitHub: escalation is off unless a test points it at the double."""
    for name in (
        "GITHUB_TOKEN",
        "GITHUB_REPOSITORY",
        "GITHUB_API_URL",
        "FACTORY_REPO",
        "FACTORY_REPAIR_NAME",
        "FACTORY_REPAIR_EMAIL",
        "FACTORY_REPAIR_MAX_ATTEMPTS",
        "FACTORY_REPAIR_CLOSE_AFTER",
    ):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def gitops(tmp_path: Path) -> GitOpsRepo:
    """A committed, clean repo where every shipped check passes."""
    return make_repo(tmp_path / "gitops")


@pytest.fixture
def github(monkeypatch: pytest.MonkeyPatch) -> Iterator[GitHubDouble]:
    """The GitHub double, running, with GITHUB_* pointing at it."""
    double = GitHubDouble().start()
    for name, value in double.env().items():
        monkeypatch.setenv(name, value)
    yield double
    double.stop()
