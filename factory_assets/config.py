"""Where the GitOps repository is: `--repo PATH`, else `FACTORY_REPO`, else the cwd."""

from __future__ import annotations

import os
from pathlib import Path

from factory_assets.common import settings
from factory_assets.common.errors import InputError

PRODUCER_NAME = "factory"
PRODUCER_VERSION = "0.1.0"


def resolve_repo(path: str | os.PathLike | None = None) -> Path:
    """The repository directory; an InputError naming where it came from when it is not one.

    A missing directory is an error, not something to create: a typo in `--repo` must not
    grow an `evidence/` tree somewhere else.
    """
    if path:
        repo, source, field = Path(path).resolve(), str(path), "--repo"
    elif named := settings.FACTORY_REPO.get():
        repo, source, field = Path(named).resolve(), settings.FACTORY_REPO.name, "-"
    else:
        repo, source, field = Path.cwd().resolve(), "current directory", "-"
    if not repo.is_dir():
        problem = "no such directory" if not repo.exists() else "not a directory"
        raise InputError(source, field, f"{problem}: {repo} (expected the GitOps repository)")
    top = enclosing_checkout(repo)
    if top is not None:
        raise InputError(
            source, field, f"{repo} is inside the checkout {top}, not its top: use {top}"
        )
    return repo


def enclosing_checkout(directory: Path) -> Path | None:
    """The git checkout `directory` is strictly inside (its top is another directory), if any.

    Pointing the factory at a sub-folder would grow a second queue and evidence chain there.
    """
    if (directory / ".git").exists():
        return None
    for parent in directory.parents:
        if (parent / ".git").exists():
            return parent
    return None
