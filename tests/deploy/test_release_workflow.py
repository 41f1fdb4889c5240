"""The release workflow: valid, clean under actionlint, and publishing exactly the defaults' name."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from factory_assets.adopt.image import FACTORY_IMAGE
from tests.deploy.conftest import ROOT
from tests.support.actionlint import actionlint

RELEASE = ROOT / ".github" / "workflows" / "release.yml"


def workflow() -> dict:
    return YAML(typ="safe").load(RELEASE.read_text())


def steps() -> list[dict]:
    return workflow()["jobs"]["image"]["steps"]


def step(uses: str, index: int = -1) -> dict:
    return [s for s in steps() if s.get("uses", "").startswith(uses + "@")][index]


def test_the_workflow_matches_the_github_workflow_schema():
    tool = Path(sys.executable).with_name("check-jsonschema")
    done = subprocess.run(
        [str(tool), "--builtin-schema", "vendor.github-workflows", str(RELEASE)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_actionlint_finds_nothing():
    assert actionlint([RELEASE]) == []


def test_runs_on_version_tags_with_only_the_permissions_it_needs():
    flow = workflow()
    assert flow["on"] == {"push": {"tags": ["v*"]}}
    assert flow["permissions"] == {"contents": "read"}
    assert flow["concurrency"]["cancel-in-progress"] is False
    assert flow["jobs"]["image"]["permissions"] == {
        "contents": "read",
        "packages": "write",
    }


def test_pushes_both_platforms_under_the_defined_name_with_provenance():
    push = step("docker/build-push-action")["with"]
    assert push["file"] == "deploy/Dockerfile" and push["push"] is True
    assert push["platforms"] == "linux/amd64,linux/arm64"
    assert push["provenance"] == "mode=max"
    name = "${{ steps.name.outputs.repository }}"
    assert push["tags"].splitlines() == [
        f"{name}:${{{{ steps.name.outputs.version }}}}",
        f"{name}:latest",
    ]
    assert steps()[-1]["with"] == push  # the push is the last step, after the name is checked
    assert [s.get("id") for s in steps()].index("name") < len(steps()) - 1


def _name_step(
    tmp_path: Path, tag: str, repository: str
) -> tuple[subprocess.CompletedProcess, str]:
    """The workflow's naming step, run by bash as the runner runs it."""
    (script,) = [s["run"] for s in steps() if s.get("id") == "name"]
    output = tmp_path / "github_output"
    output.write_text("")
    done = subprocess.run(
        ["bash", "-e", "-c", script],
        cwd=ROOT,
        env={
            "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
            "TAG": tag,
            "REPOSITORY": repository,
            "GITHUB_OUTPUT": str(output),
        },
        capture_output=True,
        text=True,
        timeout=60,
    )
    return done, output.read_text()


def test_the_name_step_publishes_the_name_pyproject_defines(tmp_path):
    repository, version = FACTORY_IMAGE.rsplit(":", 1)
    owner_repo = repository.removeprefix("ghcr.io/")
    owner, repo = owner_repo.split("/")
    done, output = _name_step(tmp_path, f"v{version}", f"{owner.title()}/{repo}")
    assert done.returncode == 0, done.stdout + done.stderr
    assert output.splitlines() == [f"repository={repository}", f"version={version}"]


@pytest.mark.parametrize(
    ("tag", "repository", "says"),
    [
        ("v99.0.0", None, "is not v"),
        (None, "someone-else/factory", "pyproject.toml's Repository names"),
    ],
)
def test_the_name_step_refuses_a_tag_or_a_repository_that_disagrees(
    tmp_path, tag, repository, says
):
    name, version = FACTORY_IMAGE.rsplit(":", 1)
    done, output = _name_step(
        tmp_path, tag or f"v{version}", repository or name.removeprefix("ghcr.io/")
    )
    assert done.returncode == 1 and says in done.stdout, done.stdout + done.stderr
    assert output == ""
