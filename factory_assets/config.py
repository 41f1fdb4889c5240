"""Where the GitOps repository is: `--repo PATH`, else `FACTORY_REPO`, else the cwd."""

from __future__ import annotations

import os
from pathlib import Path

PRODUCER_NAME = "factory"
PRODUCER_VERSION = "0.1.0"


def resolve_repo(path: str | os.PathLike | None = None) -> Path:
    if path:
        return Path(path).resolve()
    env = os.environ.get("FACTORY_REPO")
    if env:
        return Path(env).resolve()
    return Path.cwd().resolve()
