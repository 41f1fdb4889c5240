"""Adopt replaces the nightly evidence workflow and keeps the PR gate."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml

from factory_assets.adopt.image import FACTORY_IMAGE
from factory_assets.cli.main import main
from tests.support.actionlint import actionlint
from tests.support.ljwx_legacy import GATE, adopted_file, make_legacy_repo


def test_the_nightly_is_replaced_by_a_valid_factory_workflow_and_the_gate_kept(tmp_path, capsys):
    clone = make_legacy_repo(tmp_path / "ljwx").clone
    assert main(["adopt", "--repo", str(clone)]) == 0
    out = capsys.readouterr().out
    assert (
        "rewrite .github/workflows/nightly-evidence.yml: replaced by the factory's nightly" in out
    )
    assert "rewrite .github/workflows/deploy-repo-gate.yml: the PR gate keeps every check" in out
    assert "FACTORY_PIP_SPEC" not in out  # nothing to install: the jobs run in the image

    nightly = adopted_file(clone, ".github/workflows/nightly-evidence.yml")
    assert "factory evidence validate" in nightly and "factory site publish" in nightly
    gate = adopted_file(clone, ".github/workflows/deploy-repo-gate.yml")
    assert gate.startswith(GATE)  # every check it had, byte for byte
    jobs = yaml.safe_load(gate)["jobs"]
    assert jobs["gate"] == yaml.safe_load(GATE)["jobs"]["gate"]
    steps = [s.get("run", "") for s in jobs["factory-validate"]["steps"]]
    assert 'factory evidence validate --repo "$GITHUB_WORKSPACE"' in steps
    assert 'factory promote --dry-run --repo "$GITHUB_WORKSPACE"' in steps
    for job in (jobs["factory-validate"], yaml.safe_load(nightly)["jobs"]["publish"]):
        assert job["container"] == {
            "image": FACTORY_IMAGE,
            "options": "--user root",
        }
    tool = Path(sys.executable).with_name("check-jsonschema")
    for name, text in (("nightly-evidence.yml", nightly), ("deploy-repo-gate.yml", gate)):
        written = tmp_path / name
        written.write_text(text)
        checked = subprocess.run(
            [str(tool), "--builtin-schema", "vendor.github-workflows", str(written)],
            capture_output=True,
            text=True,
        )
        assert checked.returncode == 0, checked.stdout + checked.stderr
    written = [tmp_path / "nightly-evidence.yml", tmp_path / "deploy-repo-gate.yml"]
    assert actionlint(written) == []  # as the repository's own workflows are linted


def test_without_workflows_nothing_is_planned_for_them(tmp_path, capsys):
    clone = make_legacy_repo(
        tmp_path / "bare",
        **{
            ".github__workflows__nightly-evidence.yml": None,
            ".github__workflows__deploy-repo-gate.yml": None,
        },
    ).clone
    assert main(["adopt", "--repo", str(clone), "--dry-run"]) == 0
    assert "### Workflows" not in capsys.readouterr().out
