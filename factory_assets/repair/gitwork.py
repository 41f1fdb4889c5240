"""Git plumbing for repair: a disposable scratch clone, tree snapshots, patches, trailers, the fix commit."""

from __future__ import annotations

import hashlib
import re
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import git

from factory_assets.common.errors import InputError, UsageError

TRAILER_FINGERPRINT = "Repair-Fingerprint"
TRAILER_PATCH = "Repair-Patch"
TRAILER_ATTEMPT = "Repair-Attempt"
TRAILER_CHECKS = "Repair-Checks"
# The repair tool's own bookkeeping may be dirty in the working tree; nothing else may.
BOOKKEEPING = ("evidence/records/", "evidence/chain-head.json")


def open_repo(path: Path) -> git.Repo:
    try:
        return git.Repo(path)
    except (git.InvalidGitRepositoryError, git.NoSuchPathError):
        raise InputError(
            path, "-", "not a git repository (factory repair works on a git checkout)"
        ) from None


def head_commit(repo: git.Repo) -> git.Commit:
    try:
        return repo.head.commit
    except ValueError:
        raise InputError(repo.working_tree_dir, "HEAD", "the repository has no commits") from None


def resolve_base(repo: git.Repo, ref: str) -> str:
    """The merge base of `ref` and HEAD: what a pull request's changes are measured against."""
    try:
        base = repo.commit(ref)
    except (git.BadName, ValueError, git.GitCommandError):
        raise UsageError(f"--base: cannot resolve {ref!r} to a commit") from None
    bases = repo.merge_base(base, repo.head.commit)
    if not bases:
        raise UsageError(f"--base: {ref!r} shares no history with HEAD")
    return bases[0].hexsha


def tracked_files(repo: git.Repo) -> list[str]:
    out = repo.git.ls_files("-z")
    return [p for p in out.split("\0") if p]


def changed_files(repo: git.Repo, base: str) -> set[str]:
    """Files added, copied, modified or renamed since `base` (deleted files have nothing to check)."""
    out = repo.git.diff("--name-only", "-z", "--no-renames", "--diff-filter=ACMRT", base, "HEAD")
    return {p for p in out.split("\0") if p}


def dirty_paths(repo: git.Repo) -> list[str]:
    """Tracked files with uncommitted changes, outside the repair tool's own bookkeeping."""
    out = repo.git.status("--porcelain", "-z", "--untracked-files=no")
    paths = [entry[3:] for entry in out.split("\0") if len(entry) > 3]
    return [p for p in paths if not p.startswith(BOOKKEEPING)]


@contextmanager
def scratch_clone(repo: git.Repo, commit: str) -> Iterator[git.Repo]:
    """A throwaway checkout of `commit` that recipes may scribble on; the real tree stays untouched."""
    tmp = Path(tempfile.mkdtemp(prefix="factory-repair-"))
    scratch = None
    try:
        # --shared borrows the objects instead of copying them: cloning costs milliseconds
        source = repo.working_tree_dir or repo.git_dir
        scratch = git.Repo.clone_from(source, tmp / "checkout", shared=True, no_checkout=True)
        scratch.git.checkout("--quiet", "--detach", commit)
        yield scratch
    finally:
        if scratch is not None:
            scratch.close()
        shutil.rmtree(tmp, ignore_errors=True)


def snapshot(scratch: git.Repo) -> str:
    """The tree of everything in the scratch checkout right now (ignored files excluded)."""
    scratch.git.add("--all", "--", ".")
    return scratch.git.write_tree()


def tree_of(repo: git.Repo, commit: str) -> str:
    return repo.git.rev_parse(f"{commit}^{{tree}}")


def changed_between(scratch: git.Repo, before: str, after: str) -> list[str]:
    """Every path that differs between two trees, old and new names alike."""
    out = scratch.git.diff_tree("-r", "--name-only", "-z", "--no-renames", before, after)
    return sorted(p for p in out.split("\0") if p)


@dataclass(frozen=True)
class Patch:
    text: bytes
    paths: tuple[str, ...]
    lines: int

    @property
    def digest(self) -> str:
        return "sha256:" + hashlib.sha256(self.text).hexdigest()

    @property
    def size(self) -> int:
        return len(self.text)

    @property
    def empty(self) -> bool:
        return not self.paths


def build_patch(scratch: git.Repo, before: str, after: str) -> Patch:
    """A binary-safe patch from tree `before` to tree `after`, as `git apply` takes it."""
    paths = tuple(changed_between(scratch, before, after))
    if not paths:
        return Patch(b"", (), 0)
    text = scratch.git.diff(
        "--binary",
        "--full-index",
        "--no-renames",
        "--no-color",
        "--no-ext-diff",
        before,
        after,
        stdout_as_string=False,
    )
    if not text.endswith(b"\n"):
        text += b"\n"
    # added + deleted lines per file; binary files count as one line each
    numstat = scratch.git.diff("--numstat", "--no-renames", before, after).splitlines()
    lines = sum(
        int(a) + int(d) if a.isdigit() and d.isdigit() else 1
        for a, d, *_ in (row.split("\t") for row in numstat)
    )
    return Patch(text, paths, lines)


def apply_patch(repo: git.Repo, patch: Patch) -> None:
    """Apply to the working tree and the index; refuses (nothing changed) if it does not apply cleanly."""
    with tempfile.NamedTemporaryFile(prefix="factory-repair-", suffix=".patch") as fh:
        fh.write(patch.text)
        fh.flush()
        try:
            repo.git.apply("--check", "--index", "--whitespace=nowarn", fh.name)
            repo.git.apply("--index", "--whitespace=nowarn", fh.name)
        except git.GitCommandError as exc:
            raise InputError(
                "repair patch", "-", f"does not apply to the working tree: {exc.stderr.strip()}"
            ) from None


def commit_fix(repo: git.Repo, paths: tuple[str, ...], message: str, name: str, email: str) -> str:
    """Commit exactly `paths` as the repair identity (hooks skipped: the content was already checked)."""
    env = {
        "GIT_AUTHOR_NAME": name,
        "GIT_AUTHOR_EMAIL": email,
        "GIT_COMMITTER_NAME": name,
        "GIT_COMMITTER_EMAIL": email,
    }
    repo.git.commit("--quiet", "--no-verify", "-m", message, "--", *paths, env=env)
    return repo.head.commit.hexsha


def fix_message(
    recipes: list[str], checks: list[str], fingerprint: str, patch: Patch, attempt: int
) -> str:
    subject = f"fix(repair): {', '.join(recipes)}"
    body = f"Applied by `factory repair` to make these checks pass: {', '.join(checks)}."
    trailers = [
        f"{TRAILER_FINGERPRINT}: {fingerprint}",
        f"{TRAILER_PATCH}: {patch.digest}",
        f"{TRAILER_ATTEMPT}: {attempt}",
        f"{TRAILER_CHECKS}: {' '.join(checks)}",
    ]
    return f"{subject}\n\n{body}\n\n" + "\n".join(trailers) + "\n"


@dataclass(frozen=True)
class PastRepair:
    commit: str
    fingerprint: str
    patch_digest: str | None


_TRAILER = re.compile(rf"^({TRAILER_FINGERPRINT}|{TRAILER_PATCH}):[ \t]*(\S+)[ \t]*$", re.MULTILINE)


def past_repairs(repo: git.Repo, *, base: str | None, limit: int) -> list[PastRepair]:
    """Repair commits in `base..HEAD` (or the last `limit` commits): the attempt state kept in git."""
    rev = f"{base}..HEAD" if base else "HEAD"
    found = []
    for commit in repo.iter_commits(rev, max_count=limit):
        trailers: dict[str, str] = {}
        for key, value in _TRAILER.findall(commit.message):
            trailers[key] = value
        if TRAILER_FINGERPRINT in trailers:
            found.append(
                PastRepair(
                    commit.hexsha, trailers[TRAILER_FINGERPRINT], trailers.get(TRAILER_PATCH)
                )
            )
    return found
