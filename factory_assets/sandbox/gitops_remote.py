"""A scratch GitOps repository: a bare `main` remote plus working clones, seeded with the GitOps folders."""

from __future__ import annotations

import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import git

# (user.name, user.email) of a clone: with FACTORY_GIT_AUTHOR_* unset it is also the factory's.
Identity = tuple[str, str]
SANDBOX_IDENTITY: Identity = ("Factory Sandbox", "factory-sandbox@example.invalid")

SEED_FILES: dict[str, str] = {
    "release/queue.yaml": "releases: []\n",
    "envs/dev/.gitkeep": "",
    "evidence/records/.gitkeep": "",
}


def configure_identity(repo: git.Repo, identity: Identity = SANDBOX_IDENTITY) -> None:
    """Set a local author/committer so commits never depend on the machine's global config."""
    with repo.config_writer() as config:
        config.set_value("user", "name", identity[0])
        config.set_value("user", "email", identity[1])
        config.set_value("commit", "gpgsign", "false")


def write_files(root: Path, files: Mapping[str, str | bytes]) -> list[str]:
    """Write `files` (relative path -> content) under `root`; return the relative paths."""
    for relative, content in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)
    return list(files)


def file_at_main(bare: Path, path: str) -> str | None:
    """The text of `path` on the bare remote's `main` (None when it is not there)."""
    done = subprocess.run(
        ["git", "--git-dir", str(bare), "show", f"main:{path}"], capture_output=True, text=True
    )
    return done.stdout if done.returncode == 0 else None


@dataclass
class GitOpsRemote:
    """A bare remote (`bare`, branch main) and a seeded working clone (`clone`, `repo`)."""

    bare: Path
    clone: Path
    workdir: Path
    identity: Identity = SANDBOX_IDENTITY
    _clones: int = field(default=0, repr=False)

    @property
    def url(self) -> str:
        """The remote URL clones use (a plain path; git treats it as a local remote)."""
        return str(self.bare)

    @property
    def repo(self) -> git.Repo:
        return git.Repo(self.clone)

    def new_clone(self, name: str | None = None) -> Path:
        """Clone the remote again (for race tests); identity configured, branch main checked out."""
        self._clones += 1
        target = self.workdir / (name or f"clone-{self._clones}")
        repo = git.Repo.clone_from(self.url, target, branch="main")
        configure_identity(repo, self.identity)
        repo.close()
        return target

    def commit_and_push(
        self, files: Mapping[str, str | bytes], message: str, *, clone: Path | None = None
    ) -> str:
        """Write files in a clone (default: the main clone), commit, push to main; return the sha."""
        repo = git.Repo(clone or self.clone)
        try:
            paths = write_files(Path(repo.working_tree_dir), files)
            repo.index.add(paths)
            commit = repo.index.commit(message)
            repo.remotes.origin.push("HEAD:refs/heads/main").raise_if_error()
            return commit.hexsha
        finally:
            repo.close()

    def show(self, path: str) -> str | None:
        """`path` as the remote's `main` has it (None when it is not there)."""
        return file_at_main(self.bare, path)

    def remote_head(self) -> str:
        """The commit sha `main` points at in the bare remote."""
        bare = git.Repo(self.bare)
        try:
            return bare.commit("refs/heads/main").hexsha
        finally:
            bare.close()


def make_gitops_remote(
    workdir: Path,
    seed: Mapping[str, str | bytes] | None = None,
    *,
    clone: str = "clone",
    identity: Identity = SANDBOX_IDENTITY,
) -> GitOpsRemote:
    """Create `workdir/remote.git` (bare, HEAD -> main) and `workdir/<clone>` with seed files pushed."""
    workdir.mkdir(parents=True, exist_ok=True)
    bare_path = workdir / "remote.git"
    git.Repo.init(bare_path, bare=True, initial_branch="main").close()

    clone_path = workdir / clone
    repo = git.Repo.init(clone_path, initial_branch="main")
    try:
        configure_identity(repo, identity)
        paths = write_files(clone_path, dict(SEED_FILES) | dict(seed or {}))
        repo.index.add(paths)
        repo.index.commit("Seed GitOps layout")
        origin = repo.create_remote("origin", str(bare_path))
        origin.push("refs/heads/main:refs/heads/main").raise_if_error()
        repo.git.branch("--set-upstream-to=origin/main", "main")
    finally:
        repo.close()
    return GitOpsRemote(bare=bare_path, clone=clone_path, workdir=workdir, identity=identity)
