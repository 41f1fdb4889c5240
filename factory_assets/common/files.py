"""Atomic, bounded file I/O: state files are never half-written or unbounded."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from factory_assets.common.errors import InputError

MAX_STATE_FILE_BYTES = 1024 * 1024  # 1 MiB: queue, pins and records are small by design


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


_FILE_MODE = (
    0o666 & ~_umask()
)  # what open() would give; mkstemp's 0600 would leak into git and sites


def atomic_write_bytes(
    path: Path, data: bytes, *, exclusive: bool = False, durable: bool = True
) -> None:
    """Write via a temp file in the same directory, fsync, then rename (or link).

    With `exclusive`, an existing file is never replaced: records are write-once.
    `durable=False` skips the fsync for derived files that can be rebuilt (the index): the
    rename still makes the write all-or-nothing for readers and for a killed process.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    import tempfile  # here: a command that only reads never needs it

    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, _FILE_MODE)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            if durable:
                os.fsync(fh.fileno())
        if exclusive:
            os.link(tmp, path)  # fails with FileExistsError instead of overwriting
            os.unlink(tmp)
        else:
            os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def atomic_write_text(path: Path, text: str, **kwargs) -> None:
    atomic_write_bytes(path, text.encode("utf-8"), **kwargs)


def read_bounded(path: Path, *, limit: int = MAX_STATE_FILE_BYTES, field: str = "-") -> bytes:
    """Read a state file, refusing anything over `limit` bytes before reading it."""
    try:
        with open(path, "rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            if size > limit:
                raise InputError(path, field, f"file is {size} bytes, over the {limit}-byte limit")
            return fh.read(limit + 1)
    except PermissionError as exc:
        raise InputError(path, field, f"cannot read: {exc.strerror}") from None
    except IsADirectoryError:
        raise InputError(path, field, "is a directory, expected a file") from None


def read_text_bounded(path: Path, *, limit: int = MAX_STATE_FILE_BYTES, field: str = "-") -> str:
    data = read_bounded(path, limit=limit, field=field)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(path, field, f"not UTF-8 (byte {exc.start})") from None


# The folders the factory writes into, relative to the repository root.
WRITTEN_DIRS = ("envs", "envs/dev", "release", "evidence", "evidence/records", "evidence/index")


def refuse_symlinked_dirs(root: Path, rel_dirs: tuple[str, ...] = WRITTEN_DIRS) -> None:
    """InputError when a folder the factory writes into is a symbolic link.

    A link committed to the repository (say `envs/dev -> /etc`) would make every atomic write
    land outside it: the temp file and the rename both follow the link.
    """
    for rel in rel_dirs:
        if (root / rel).is_symlink():
            raise InputError(
                rel, "-", "is a symbolic link: the factory writes only inside the repository"
            )


def inside(root: Path, path: Path) -> bool:
    """Whether `path`, links resolved, is within `root` (links resolved too)."""
    return path.resolve().is_relative_to(root.resolve())
