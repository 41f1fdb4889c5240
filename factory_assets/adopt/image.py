"""The factory image the adopted runners and workflows run: one release, named once."""

from __future__ import annotations

import re

from factory_assets.common.errors import UsageError

# The factory's published image (deploy/Dockerfile, as deploy/k8s runs it); --factory-image
# names another build.
FACTORY_IMAGE = "ghcr.io/example/factory:0.1.0"

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
