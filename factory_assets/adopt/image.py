"""The factory image the adopted runners and workflows run: one release, named once."""

from __future__ import annotations

import re
from importlib.metadata import metadata
from urllib.parse import urlsplit

from factory_assets.common.errors import UsageError


def published_image() -> str:
    """ghcr.io/<owner>/<repo>:<version>, the image .github/workflows/release.yml publishes:
    pyproject.toml's `version` and `[project.urls] Repository`, read from this package's
    metadata (scripts/image_name.py reads the same two fields before anything is installed)."""
    meta = metadata("factory")
    urls = dict(entry.split(", ", 1) for entry in meta.get_all("Project-URL") or [])
    owner_repo = urlsplit(urls["Repository"]).path.strip("/").removesuffix(".git").lower()
    return f"ghcr.io/{owner_repo}:{meta['Version']}"


# The factory's published image (deploy/Dockerfile, as deploy/k8s runs it); --factory-image
# names another build.
FACTORY_IMAGE = published_image()

# registry/repository[:tag][@digest], as Kubernetes and GitHub's `container:` take it
IMAGE_REFERENCE = re.compile(
    r"^[a-z0-9]+(?:[._-][a-z0-9]+)*(?::[0-9]+)?(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)+"
    r"(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(?:@sha256:[0-9a-f]{64})?$"
)


def check_image(image: str) -> str:
    """`image` if it is a full image reference (registry/repository[:tag][@digest]), else a
    usage error naming the option."""
    if not IMAGE_REFERENCE.match(image):
        raise UsageError(
            "--factory-image: expected an image reference such as "
            f"harbor.example.com/platform/factory:0.1.0, got {image!r}"
        )
    return image
