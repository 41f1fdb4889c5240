"""The compare-and-swap writer of the GitOps repository: the one way the factory changes it.

`transact(apply, message=...)`:
  1. fetch the branch from the remote,
  2. reset a private work tree to the fresh remote head (the user's checkout is never touched),
  3. run `apply(tree)`: it reads the fresh state and writes its change,
  4. commit, and push without force,
  5. if the push is rejected (someone else pushed first), go back to 1 and re-apply on the
     new head, up to a bound.
The push is the compare-and-swap: a change only lands on the head it was computed from, so
writers on different machines (CLI, CronJob, daemon) serialize through the branch itself.

Modes:
- `remote`: a git clone with the remote (default `origin`): the main path described above.
  The private work tree is a `git worktree` under `<git-dir>/factory/`, guarded by a file
  lock so two processes sharing one clone take turns.
- `local`: a git repository without that remote: `apply` edits the checkout in place under a
  file lock and the named paths are committed locally. Nothing is pushed; serialization holds
  only between processes on this machine.
- `files`: not a git repository: `apply` edits files in place under a file lock; no commit.

This module runs the git CLI (a read-only caller such as `factory promote --dry-run` loads no
git library); it knows nothing about queues or pins.
"""

from __future__ import annotations

import fcntl
import os
import random
import re
import subprocess
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Generic, Literal, TypeVar

from factory_assets.common import settings
from factory_assets.common.errors import FactoryError
from factory_assets.common.files import refuse_symlinked_dirs

if TYPE_CHECKING:
    import git

T = TypeVar("T")
Mode = Literal["remote", "local", "files"]

STALE_LOCK_SECONDS = 60  # a git lock file this old has no live owner
DEFAULT_AUTHOR_NAME = "factory"
DEFAULT_AUTHOR_EMAIL = "factory@localhost"
_CREDENTIALS_IN_URL = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/\s@]+@")


class GitError(FactoryError):
    """A git operation failed; `retryable` says whether a later attempt may succeed."""

    retryable = True


class RemoteBranchMissing(GitError):
    retryable = False


class CasExhausted(GitError):
    """Every push lost a race (or failed) within the attempt bound."""


# Push refusals that mean the branch moved (or its ref was locked for a moment) between the
# fetch and the push: a lost race, so re-apply on the new head. Any other refusal (a
# protected branch, a hook, no access, no network) ends the transaction at once.
_LOST_RACE = re.compile(
    r"non-fast-forward|fetch first|failed to update ref|cannot lock ref|failed to lock"
    r"|stale info|incorrect old value",
    re.IGNORECASE,
)


def lost_race(push_output: str) -> bool:
    """Whether a refused push only lost a race (see `_LOST_RACE`)."""
    return bool(_LOST_RACE.search(push_output))


def race_backoff(attempt: int) -> float:
    """Seconds to wait before re-applying after losing race `attempt`: growing, jittered, capped."""
    return min(1.0, 0.02 * 2**attempt) * (0.5 + random.random())


def compare_and_swap(
    attempt: Callable[[int], tuple[bool, T, str]], *, max_attempts: int, target: str
) -> tuple[T, int]:
    """The one compare-and-swap loop: `attempt(n)` fetches, applies, commits and pushes.

    It returns (landed, value, push output); landed is also true when there was nothing to
    push. A lost race is retried after `race_backoff`, up to `max_attempts`; any other
    refusal raises GitError at once. Returns (value, attempts).
    """
    last = ""
    for number in range(1, max_attempts + 1):
        landed, value, last = attempt(number)
        if landed:
            return value, number
        if not lost_race(last):
            raise GitError(redact(f"push to {target} refused: {last.strip()[-800:]}"))
        time.sleep(race_backoff(number))  # de-synchronize racing writers
    raise CasExhausted(
        redact(f"push to {target} lost {max_attempts} times in a row: {last.strip()[-400:]}")
    )


def author_identity(configured: Callable[[str], str] | None = None) -> tuple[str, str]:
    """The factory's commit identity: FACTORY_GIT_AUTHOR_NAME/EMAIL, else the repository's
    `user.name`/`user.email` (`configured(key)`, "" when unset), else factory@localhost."""
    name = settings.FACTORY_GIT_AUTHOR_NAME.get()
    email = settings.FACTORY_GIT_AUTHOR_EMAIL.get()
    if configured is not None:
        name = name or configured("user.name").strip()
        email = email or configured("user.email").strip()
    return name or DEFAULT_AUTHOR_NAME, email or DEFAULT_AUTHOR_EMAIL


def redact(text: str) -> str:
    """Drop `user:password@` from URLs: git echoes remote URLs in its errors."""
    return _CREDENTIALS_IN_URL.sub(r"\1***@", text)


@dataclass(frozen=True)
class Transaction(Generic[T]):
    """What one `transact` did: the value of the last apply, and where it landed."""

    value: T
    commit: str | None  # None: apply changed nothing, so nothing was committed
    pushed: bool
    attempts: int
    push_result: str


class GitopsWriter:
    """Serialized writes to one branch of the GitOps repository (see the module docstring)."""

    def __init__(
        self,
        repo: Path,
        *,
        remote: str = "origin",
        branch: str | None = None,
        max_attempts: int | None = None,
        exclude: Sequence[str] = ("evidence/.lock",),
        checkpoint: Callable[[str], None] | None = None,
    ) -> None:
        self.repo = Path(repo)
        self.remote = remote
        self.max_attempts = max_attempts or settings.FACTORY_GIT_MAX_ATTEMPTS.get()
        self.exclude = tuple(exclude)
        self.checkpoint = checkpoint or (lambda _name: None)
        self._author: list[str] | None = None
        self._repo_object: git.Repo | None = None
        self._git_dir = self._open()
        self.mode: Mode = self._detect_mode()
        self.branch = branch or settings.FACTORY_GIT_BRANCH.get() or self._default_branch()

    # -- setup -------------------------------------------------------------------------------

    def _open(self) -> Path | None:
        """The repository's (common) git directory; None when `repo` is in no git repository."""
        if not self.repo.is_dir():
            return None
        status, out, err = self._run(
            "rev-parse",
            "--is-bare-repository",
            "--path-format=absolute",
            "--git-common-dir",
            "--show-toplevel",
            check=False,
        )
        lines = out.splitlines()
        if status != 0 and len(lines) < 2:
            if "not a git repository" in err:
                return None
            raise GitError(redact(f"git rev-parse failed ({status}): {err.strip()[-800:]}"))
        bare, common = lines[0] == "true", Path(lines[1])
        # A bare repository is its own top; inside a work tree's git directory, the work tree.
        top = common if bare else Path(lines[2]) if len(lines) > 2 else common.parent
        if top.resolve() != self.repo.resolve():
            # Files mode here would grow a second queue and evidence chain inside the
            # checkout, never committed: refuse, and say which directory was meant.
            raise GitError(
                f"{self.repo} is inside the git repository {top}, not its top level: "
                f"use --repo {top} (or FACTORY_REPO)"
            )
        return common

    def _detect_mode(self) -> Mode:
        if self._git_dir is None:
            return "files"
        names = self._run("remote")[1].split()
        return "remote" if self.remote in names else "local"

    def _current_branch(self) -> str | None:
        """The branch the checkout is on (None: detached, or not a git repository)."""
        if self._git_dir is None:
            return None
        status, out, _ = self._run("symbolic-ref", "--quiet", "HEAD", check=False)
        ref = out.strip()
        return (
            ref.removeprefix("refs/heads/")
            if status == 0 and ref.startswith("refs/heads/")
            else None
        )

    def _default_branch(self) -> str:
        return self._current_branch() or "main"

    @property
    def _git(self) -> git.Repo | None:
        """GitPython's view of the checkout, for a caller that inspects its commits (the smoke
        landing); opened on first use, so that a writer alone never loads GitPython."""
        if self._git_dir is None:
            return None
        if self._repo_object is None:
            import git

            self._repo_object = git.Repo(self.repo)
        return self._repo_object

    @property
    def _common_dir(self) -> Path:
        assert self._git_dir is not None
        return self._git_dir

    @property
    def tree(self) -> Path:
        """Where `apply` runs: the private work tree (remote mode) or the repository itself."""
        if self.mode == "remote":
            return self._common_dir / "factory" / "worktrees" / _safe(self.branch)
        return self.repo

    def _lock_path(self) -> Path:
        if self.mode == "files":
            return self.repo / ".factory.lock"
        return self._common_dir / "factory" / f"{_safe(self.branch)}.lock"

    @contextmanager
    def _locked(self) -> Iterator[None]:
        path = self._lock_path()
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def _run(self, *args: str, cwd: Path | None = None, check: bool = True) -> tuple[int, str, str]:
        """(exit status, stdout, stderr) of `git ARGS` in `cwd` (the repository), never
        prompting; one trailing newline is dropped from each output."""
        env = {
            **os.environ,
            "LANGUAGE": "C",
            "LC_ALL": "C",
            "GIT_TERMINAL_PROMPT": "0",
            "GIT_ASKPASS": "true",
        }
        done = subprocess.run(
            ["git", *args],
            cwd=cwd or self.repo,
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
        )
        status, out, err = done.returncode, _text(done.stdout), _text(done.stderr)
        if check and status != 0:
            raise GitError(
                redact(f"git {args[0]} failed ({status}): {(err or out).strip()[-800:]}")
            )
        return status, out, err

    def _identity(self) -> list[str]:
        if self._author is None:
            self._author = self._find_identity()
        return self._author

    def _find_identity(self) -> list[str]:
        name, email = author_identity(lambda key: self._run("config", key, check=False)[1])
        return ["-c", f"user.name={name}", "-c", f"user.email={email}"]

    # -- remote mode -------------------------------------------------------------------------

    @property
    def remote_ref(self) -> str:
        return f"refs/remotes/{self.remote}/{self.branch}"

    def fetch(self) -> str:
        """Fetch the branch; return the sha of the fresh remote head."""
        spec = f"+refs/heads/{self.branch}:{self.remote_ref}"
        last = ""
        for attempt in range(3):  # a concurrent fetch in the same clone can hold the ref lock
            status, out, err = self._run(
                "fetch", "--quiet", "--no-tags", self.remote, spec, check=False
            )
            if status == 0:
                break
            last = (err or out).strip()
            if "couldn't find remote ref" in last:
                raise RemoteBranchMissing(
                    f"the remote {self.remote!r} has no branch {self.branch!r}"
                )
            if "cannot lock ref" in last:
                self._clear_stale_ref_lock()
            time.sleep(0.05 * (attempt + 1))
        else:
            raise GitError(redact(f"git fetch {self.remote} failed: {last[-800:]}"))
        return self._run("rev-parse", "--verify", self.remote_ref)[1].strip()

    def _clear_stale_ref_lock(self) -> None:
        """Remove the remote-tracking ref's lock when a killed git left it behind.

        A live fetch holds that lock for milliseconds; one older than STALE_LOCK_SECONDS
        belongs to no running process, and would otherwise block every later fetch.
        """
        lock = self._common_dir / f"{self.remote_ref}.lock"
        try:
            if time.time() - lock.stat().st_mtime > STALE_LOCK_SECONDS:
                lock.unlink()
        except FileNotFoundError:
            pass

    def _reset_tree(self, head: str) -> Path:
        tree = self.tree
        gitdir = self._own_tree_gitdir(tree) if (tree / ".git").exists() else None
        if gitdir is None:
            self._run("worktree", "prune", check=False)
            if tree.exists():
                import shutil  # only to clear a tree that is not this repository's

                shutil.rmtree(tree)
            tree.parent.mkdir(parents=True, exist_ok=True)
            # --force twice: also over a registration a killed `worktree add` left locked.
            self._run(
                "worktree", "add", "--quiet", "--detach", "--force", "--force", str(tree), head
            )
            return tree
        # We hold the lock, so an index.lock left here is from a killed process.
        stale = gitdir / "index.lock"
        stale.unlink(missing_ok=True)
        self._run("reset", "--quiet", "--hard", head, cwd=tree)
        self._run("clean", "--quiet", "-ffdx", cwd=tree)
        return tree

    def _own_tree_gitdir(self, tree: Path) -> Path | None:
        """The private tree's git dir, or None when the tree is not this repository's: a
        copied or moved checkout carries a tree that still points at the original."""
        status, out, _ = self._run(
            "rev-parse", "--git-dir", "--git-common-dir", cwd=tree, check=False
        )
        lines = out.splitlines()
        if status != 0 or len(lines) != 2:
            return None
        if (tree / lines[1]).resolve() != self._common_dir.resolve():
            return None
        return tree / lines[0]

    def _stage(self, tree: Path, paths: Sequence[str] | None) -> bool:
        """Stage the change; True when there is something to commit."""
        excludes = [f":(exclude){p}" for p in self.exclude]
        if self.mode == "remote":
            self._run("add", "--all", "--", ".", *excludes, cwd=tree)
        else:
            wanted = [p for p in (paths or []) if (tree / p).exists() or self._tracked(p)]
            if not wanted:
                return False
            self._run("add", "--all", "--", *wanted, *excludes, cwd=tree)
        status, _, _ = self._run("diff", "--cached", "--quiet", cwd=tree, check=False)
        return status != 0

    def _tracked(self, path: str) -> bool:
        return bool(self._run("ls-files", "--", path, check=False)[1].strip())

    def _commit(self, tree: Path, message: str, paths: Sequence[str] | None) -> str:
        args = [*self._identity(), "commit", "--quiet", "--no-verify", "-m", message]
        if self.mode == "local" and paths:
            # Only our paths: whatever else the user has staged stays staged, uncommitted.
            excludes = [f":(exclude){p}" for p in self.exclude]
            args += [
                "--",
                *[p for p in paths if (tree / p).exists() or self._tracked(p)],
                *excludes,
            ]
        self._run(*args, cwd=tree)
        return self._run("rev-parse", "HEAD", cwd=tree)[1].strip()

    def _push(self, tree: Path) -> tuple[bool, str]:
        head = self._run("rev-parse", "HEAD", cwd=tree)[1].strip()
        # From the checkout, not the private tree (they share objects): a relative remote
        # URL (`git clone ../remote.git`) is relative to the checkout.
        status, out, err = self._run(
            "push",
            "--porcelain",
            "--quiet",
            self.remote,
            f"{head}:refs/heads/{self.branch}",
            check=False,
        )
        text = redact((out + "\n" + err).strip())
        return status == 0, text

    # -- public ------------------------------------------------------------------------------

    def snapshot(self, read: Callable[[Path], T]) -> T:
        """Run `read` on the freshest state: the remote head (remote mode) or the checkout."""
        with self._locked():
            if self.mode == "remote":
                return read(self._reset_tree(self.fetch()))
            return read(self.repo)

    @property
    def resets_tree(self) -> bool:
        """`transact` applies in a private tree reset before every attempt, so a killed apply
        leaves nothing that is ever committed (remote mode; the others edit the checkout)."""
        return self.mode == "remote"

    def transact(
        self,
        apply: Callable[[Path], T],
        *,
        message: Callable[[T], str] | str,
        step: str = "transact",
        paths: Callable[[T], Sequence[str]] | None = None,
    ) -> Transaction[T]:
        """Apply a change on the fresh head and land it (see the module docstring).

        `apply` may run several times (once per attempt), always on a clean tree at the current
        remote head; it must not have effects outside the tree. `paths` names what to commit
        in local mode. `step` names the checkpoints `<step>:applied|committed|pushed`.
        """
        with self._locked():
            if self.mode != "remote":
                return self._transact_in_place(apply, message=message, step=step, paths=paths)

            def attempt(number: int) -> tuple[bool, Transaction[T] | None, str]:
                tree = self._reset_tree(self.fetch())
                refuse_symlinked_dirs(tree)
                value = apply(tree)
                self.checkpoint(f"{step}:applied")
                if not self._stage(tree, None):
                    return True, Transaction(value, None, False, number, "nothing to commit"), ""
                commit = self._commit(tree, message(value) if callable(message) else message, None)
                self.checkpoint(f"{step}:committed")
                ok, output = self._push(tree)
                if not ok:
                    return False, None, output
                self.checkpoint(f"{step}:pushed")
                pushed = f"pushed {commit[:12]} to {self.branch} (attempt {number})"
                return True, Transaction(value, commit, True, number, pushed), output

            txn, _ = compare_and_swap(
                attempt, max_attempts=self.max_attempts, target=f"{self.remote}/{self.branch}"
            )
            return txn

    def _transact_in_place(
        self,
        apply: Callable[[Path], T],
        *,
        message: Callable[[T], str] | str,
        step: str,
        paths: Callable[[T], Sequence[str]] | None,
    ) -> Transaction[T]:
        refuse_symlinked_dirs(self.repo)
        value = apply(self.repo)
        self.checkpoint(f"{step}:applied")
        if self.mode == "files":
            return Transaction(
                value, None, False, 1, "not a git repository: files written, nothing committed"
            )
        chosen = list(paths(value)) if paths else []
        if not self._stage(self.repo, chosen):
            return Transaction(value, None, False, 1, "nothing to commit")
        commit = self._commit(self.repo, message(value) if callable(message) else message, chosen)
        self.checkpoint(f"{step}:committed")
        return Transaction(
            value, commit, False, 1, f"committed {commit[:12]} locally (no remote {self.remote!r})"
        )

    def find_commit(self, grep: str) -> str | None:
        """The newest commit on the branch head whose message has a line matching `grep`."""
        if self.mode == "files":
            return None
        rev = self.remote_ref if self.mode == "remote" else "HEAD"
        status, out, _ = self._run(
            "log", "-1", "--format=%H", "--extended-regexp", f"--grep={grep}", rev, check=False
        )
        return out.strip() or None if status == 0 else None

    def show(self, commit: str, path: str) -> str | None:
        """A file's content at a commit (None when it did not exist there)."""
        status, out, _ = self._run("show", f"{commit}:{path}", check=False)
        return out if status == 0 else None

    def update_checkout(self, *, fetch: bool = False) -> str:
        """Fast-forward the user's checkout to the remote head when that is safe; say what happened.

        With `fetch`, the remote head is fetched first: a caller about to read the checkout
        (a smoke check) must see what the remote holds now, not what the last fetch saw.
        """
        if self.mode != "remote":
            return "checkout unchanged"
        if fetch:
            with self._locked():
                self.fetch()
        current = self._current_branch()
        if current is None:
            return "checkout is detached: not updated"
        if current != self.branch:
            return f"checkout is not on {self.branch}: not updated"
        status, out, err = self._run("merge", "--ff-only", "--quiet", self.remote_ref, check=False)
        if status != 0:
            return f"checkout not fast-forwarded ({redact((err or out).strip().splitlines()[-1] if (err or out).strip() else 'diverged')}); run git pull"
        return f"checkout fast-forwarded to {self.remote}/{self.branch}"


def _text(output: bytes) -> str:
    """git's output as text, without its one trailing newline (undecodable bytes kept)."""
    return output.removesuffix(b"\n").decode("utf-8", "surrogateescape")


def _safe(branch: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", branch)
