"""The auto-repair workflow: valid, lint-clean, and shaped by the safety rules in repair/README.md."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from tests.support.actionlint import actionlint

ROOT = Path(__file__).resolve().parents[2]
WORKFLOW = ROOT / ".github" / "workflows" / "auto-repair.yml"


@pytest.fixture(scope="module")
def workflow() -> dict:
    return YAML(typ="safe").load(WORKFLOW.read_text())


def _runs(job: dict) -> list[str]:
    return [step["run"] for step in job["steps"] if "run" in step]


def test_matches_the_github_workflow_schema() -> None:
    tool = Path(sys.executable).with_name("check-jsonschema")
    result = subprocess.run(
        [str(tool), "--builtin-schema", "vendor.github-workflows", str(WORKFLOW)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_actionlint_finds_nothing() -> None:
    assert actionlint([WORKFLOW]) == []


def test_run_scripts_pass_shellcheck(workflow: dict) -> None:
    if not shutil.which("shellcheck"):
        pytest.skip("shellcheck is not installed")
    for name, job in workflow["jobs"].items():
        for script in _runs(job):
            result = subprocess.run(
                ["shellcheck", "--shell=bash", "-"], input=script, capture_output=True, text=True
            )
            assert result.returncode == 0, f"{name}: {result.stdout}"


def test_only_pull_request_and_no_untrusted_expressions_in_scripts(workflow: dict) -> None:
    assert list(workflow["on"]) == ["pull_request"]
    assert "pull_request_target" not in WORKFLOW.read_text()
    for job in workflow["jobs"].values():
        for script in _runs(job):
            assert "${{" not in script, "untrusted strings reach scripts through env: only"


def test_least_privilege(workflow: dict) -> None:
    jobs = workflow["jobs"]
    assert workflow["permissions"] == {}
    assert jobs["repair"]["permissions"] == {"contents": "write", "issues": "write"}
    assert jobs["suggest"]["permissions"] == {"contents": "read"}
    assert jobs["auto-merge"]["permissions"] == {"contents": "write", "pull-requests": "write"}
    assert workflow["concurrency"]["cancel-in-progress"] is False
    for job in ("repair", "suggest"):
        checkout = next(
            s for s in jobs[job]["steps"] if s.get("uses", "").startswith("actions/checkout")
        )
        assert checkout["with"]["persist-credentials"] is False


def test_same_repo_pushes_forks_only_get_a_patch(workflow: dict) -> None:
    jobs = workflow["jobs"]
    same = "github.event.pull_request.head.repo.full_name == github.repository"
    assert jobs["repair"]["if"] == same
    assert jobs["suggest"]["if"] == same.replace("==", "!=")
    repair = "\n".join(_runs(jobs["repair"]))
    assert "factory repair --base" in repair and "push --no-verify" in repair
    suggest = "\n".join(_runs(jobs["suggest"]))
    assert "--dry-run" in suggest and "--patch-out repair.patch" in suggest
    assert not re.search(r"\bgit\b[^\n]*\bpush\b", suggest)
    assert any(
        s.get("uses", "").startswith("actions/upload-artifact") for s in jobs["suggest"]["steps"]
    )


def test_auto_merge_only_in_the_dev_flow_after_repair(workflow: dict) -> None:
    job = workflow["jobs"]["auto-merge"]
    assert job["needs"] == "repair"
    assert "'dev-flow'" in job["if"] and "head.repo.full_name == github.repository" in job["if"]
    assert _runs(job) == ['gh pr merge --auto --squash "$PR_URL"']
