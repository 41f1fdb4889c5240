"""Apply the plan's change list to a scratch worktree, exactly, and prove nothing else changed.

The plan holds every change with the bytes the file will have; this module writes those bytes,
`git mv`s the moves (so history follows the file) and `git rm`s the removals, stages it all,
then checks the staged tree against the list: the same paths, the same bytes. A difference is
a bug in adopt, refused before any branch exists.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Sequence
from pathlib import Path, PurePosixPath

from factory_assets.adopt.plan import Change
from factory_assets.common.errors import InputError
from factory_assets.common.files import atomic_write_bytes

MOVE_CHUNK = 500  # paths per `git mv` (well inside the argument limit)


def _git(work: Path, *args: str) -> bytes:
    done = subprocess.run(["git", "-C", str(work), *args], capture_output=True, check=False)
    if done.returncode != 0:
        message = done.stderr.decode("utf-8", "replace").strip().splitlines()
        raise InputError(work, "git", f"git {args[0]} failed: {message[-1] if message else ''}")
    return done.stdout


def expected_after(changes: Sequence[Change]) -> dict[str, bytes | None]:
    """Every path the changes touch -> its bytes afterwards (None: no longer there)."""
    out: dict[str, bytes | None] = {}
    for change in changes:
        if change.action == "move":
            out[change.path] = None
            out[change.to or change.path] = change.content
        elif change.action in ("add", "rewrite", "suspend"):
            out[change.path] = change.content
        elif change.action == "remove":
            out[change.path] = None
    return out


def _moves(work: Path, batch: list[Change]) -> None:
    """`git mv` a run of moves: one call per chunk when they keep their names in one folder."""
    folder = PurePosixPath(batch[0].to or "").parent
    (work / folder).mkdir(parents=True, exist_ok=True)
    if all(PurePosixPath(c.to or "").name == PurePosixPath(c.path).name for c in batch):
        for start in range(0, len(batch), MOVE_CHUNK):
            chunk = batch[start : start + MOVE_CHUNK]
            _git(work, "mv", "--", *(c.path for c in chunk), str(folder))
        return
    for change in batch:
        _git(work, "mv", "--", change.path, change.to or "")


def _write(work: Path, change: Change) -> None:
    path = work / change.path
    mode = path.stat().st_mode if path.is_file() else None
    atomic_write_bytes(path, change.content or b"", durable=False)
    if mode is not None:
        os.chmod(path, mode)  # a rewrite keeps the file's mode (git records the x bit)


def apply_changes(work: Path, changes: Sequence[Change]) -> None:
    """Make `changes` in the worktree `work`, in order, stage them, and check the result."""
    index = 0
    while index < len(changes):
        change = changes[index]
        if change.action == "move":
            folder = PurePosixPath(change.to or "").parent
            end = index + 1
            while (
                end < len(changes)
                and changes[end].action == "move"
                and PurePosixPath(changes[end].to or "").parent == folder
            ):
                end += 1
            _moves(work, list(changes[index:end]))
            index = end
            continue
        if change.action in ("add", "rewrite", "suspend"):
            _write(work, change)
        elif change.action == "remove":
            _git(work, "rm", "-q", "--", change.path)
        index += 1
    _git(work, "add", "--all")
    check_applied(work, changes)


def check_applied(work: Path, changes: Sequence[Change]) -> None:
    """The staged tree differs from HEAD in exactly the planned paths, with the planned bytes."""
    expected = expected_after(changes)
    out = _git(work, "diff", "--cached", "--name-only", "--no-renames", "-z", "HEAD")
    staged = {p for p in out.decode("utf-8", "surrogateescape").split("\0") if p}
    if staged != set(expected):
        extra = sorted(staged - set(expected))
        missing = sorted(set(expected) - staged)
        raise InputError(
            work,
            "-",
            "the commit would not be what the plan says (adopt bug): "
            f"unplanned {extra[:5]}, planned but unchanged {missing[:5]}",
        )
    for path, content in expected.items():
        there = work / path
        actual = there.read_bytes() if there.is_file() else None
        if actual != content:
            raise InputError(path, "-", "its content differs from the plan (adopt bug)")
