"""Print the factory image's published name, ghcr.io/<owner>/<repo>:<version>, from pyproject.toml.

    python3 scripts/image_name.py               # ghcr.io/example/factory:0.1.0
    python3 scripts/image_name.py --repository  # ghcr.io/example/factory

The one definition is pyproject.toml: `version`, and `[project.urls] Repository` (this project's
GitHub repository). `make image` tags its build with this name; the release workflow checks that
it publishes exactly this; factory_assets/adopt/image.py reads the same two fields from the
installed package's metadata. Standard library only: it runs before anything is installed.
"""

from __future__ import annotations

import sys
import tomllib
from pathlib import Path
from urllib.parse import urlsplit

PYPROJECT = Path(__file__).resolve().parent.parent / "pyproject.toml"


def published_repository(repository_url: str) -> str:
    """`https://github.com/Owner/Repo` -> `ghcr.io/owner/repo` (GHCR names are lower case)."""
    parts = urlsplit(repository_url)
    path = parts.path.strip("/").removesuffix(".git")
    if parts.netloc != "github.com" or path.count("/") != 1:
        raise SystemExit(
            f"{PYPROJECT}: project.urls.Repository: expected https://github.com/OWNER/REPO, "
            f"got {repository_url!r}"
        )
    return f"ghcr.io/{path.lower()}"


def main(argv: list[str]) -> int:
    project = tomllib.loads(PYPROJECT.read_text())["project"]
    repository = published_repository(project["urls"]["Repository"])
    print(repository if argv == ["--repository"] else f"{repository}:{project['version']}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
