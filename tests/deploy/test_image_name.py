"""The factory image's name is defined once (pyproject.toml) and is the default everywhere.

pyproject.toml's `version` and `[project.urls] Repository` name the image the release workflow
publishes, ghcr.io/<owner>/<repo>:<version>. `factory adopt`'s default, the manifests under
deploy/k8s, the Helm values, the Dockerfile's comment and the READMEs all name that image;
a change of the version or the repository that leaves one of them behind fails here.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from factory_assets.adopt.image import FACTORY_IMAGE
from tests.deploy.conftest import DEPLOY, ROOT

SCRIPT = ROOT / "scripts" / "image_name.py"
# Any ghcr.io/<owner>/<repo>[:tag] written anywhere (an image some text names).
GHCR = re.compile(r"ghcr\.io/[A-Za-z0-9._-]+/[A-Za-z0-9._-]+(?::[A-Za-z0-9._-]+)?")


def published() -> str:
    done = subprocess.run(
        [sys.executable, str(SCRIPT)], capture_output=True, text=True, check=True, timeout=60
    )
    return done.stdout.strip()


def test_the_published_name_comes_from_pyproject():
    assert published() == FACTORY_IMAGE
    repository, version = FACTORY_IMAGE.rsplit(":", 1)
    assert re.fullmatch(r"ghcr\.io/[a-z0-9._-]+/[a-z0-9._-]+", repository)
    text = (ROOT / "pyproject.toml").read_text()
    assert f'\nversion = "{version}"\n' in text
    owner_repo = repository.removeprefix("ghcr.io/")
    assert re.search(rf'\nRepository = "https://github\.com/{owner_repo}"\n', text, re.I)


def test_factory_adopt_defaults_to_it():
    done = subprocess.run(
        [sys.executable, "-m", "factory_assets.cli.main", "adopt", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert f"(default: {FACTORY_IMAGE})" in " ".join(done.stdout.split())


def _k8s_images(path: Path) -> list[str]:
    images = []
    for doc in yaml.safe_load_all(path.read_text()):
        spec = (doc or {}).get("spec", {})
        template = spec.get("jobTemplate", {}).get("spec", spec).get("template", {})
        pod = template.get("spec", {})
        for container in pod.get("initContainers", []) + pod.get("containers", []):
            images.append(container["image"])
    return images


@pytest.mark.parametrize("path", sorted((DEPLOY / "k8s").glob("*.yaml")), ids=lambda p: p.name)
def test_the_manifests_run_it(path: Path):
    images = _k8s_images(path)
    assert all(image == FACTORY_IMAGE for image in images), images


def test_the_helm_values_run_it():
    values = yaml.safe_load((DEPLOY / "helm" / "values.yaml").read_text())
    (user,) = values["dagster-user-deployments"]["deployments"]
    assert f"{user['image']['repository']}:{user['image']['tag']}" == FACTORY_IMAGE


@pytest.mark.parametrize(
    "path",
    [DEPLOY / "Dockerfile", DEPLOY / "README.md", ROOT / "README.md", *(DEPLOY / "k8s").glob("*")],
    ids=lambda p: str(p.relative_to(ROOT)),
)
def test_every_text_that_names_a_ghcr_image_names_it(path: Path):
    named = set(GHCR.findall(path.read_text()))
    repository = FACTORY_IMAGE.rsplit(":", 1)[0]
    assert named <= {FACTORY_IMAGE, repository}, named
    if path.name == "Dockerfile":
        assert FACTORY_IMAGE in named
