"""The image tests: `make image-test` (after `make image`) runs them, never `make test`.

They start containers of the built image, so they take minutes and need podman; `make test`
leaves this folder out (nothing here is collected unless FACTORY_TEST_IMAGE names the image),
and .ci/run runs `make image-test` as its own step. Under CI=true an image that is not there
fails the tests; elsewhere they skip with the reason.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.doubles.argocd import ArgoCDDouble
from tests.image.git_http import GitHttpServer
from tests.image.podman import image_exists
from tests.layout.conftest import ljwx, prod_registry  # noqa: F401

IMAGE_ENV = "FACTORY_TEST_IMAGE"

if not os.environ.get(IMAGE_ENV):
    collect_ignore_glob = ["test_*.py"]

# Figures the tests measure (image size, start-up), printed at the end of the run.
FIGURES: dict[str, str] = {}


def _missing(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI=true, and the factory image cannot be tested: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def image() -> str:
    """The image under test (make image-test passes the name make image built)."""
    name = os.environ[IMAGE_ENV]
    if shutil.which("podman") is None:
        _missing("podman is not installed (scripts/install-system-deps.sh image)")
    if not image_exists(name):
        _missing(f"{name} is not built (make image)")
    return name


@pytest.fixture
def token() -> str:
    """The deploy repository's token: only the git server and the container know it."""
    return "ghp_image" + os.urandom(12).hex()


@pytest.fixture
def git_server(tmp_path: Path, token: str) -> Iterator[GitHttpServer]:
    """The deploy repositories under tmp_path, over HTTP, behind the token."""
    server = GitHttpServer(tmp_path, token).start()
    yield server
    server.stop()


@pytest.fixture
def argocd() -> Iterator[ArgoCDDouble]:
    with ArgoCDDouble(token="argocd-image-" + os.urandom(8).hex()) as double:
        yield double


def pytest_terminal_summary(terminalreporter) -> None:
    if FIGURES:
        terminalreporter.section("factory image: measured")
        for what, figure in FIGURES.items():
            terminalreporter.write_line(f"{what}: {figure}")
