"""`pages_site` materializes through Dagster and reports the publication in its metadata."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import git
import pytest

from factory_assets.dagster_resources import GitOpsRepo
from factory_assets.site.assets import pages_site
from tests.site.fixture import PUBLISHED, write_fixture
from tests.support.gitrepo import GitOpsRemote

ROOT = Path(__file__).resolve().parents[2]


def test_pages_site_publishes_and_reports(gitops_remote: GitOpsRemote, dagster_home: Path):
    write_fixture(gitops_remote.clone)
    repo = gitops_remote.repo
    repo.git.add("--all")
    repo.index.commit("evidence")
    repo.remotes.origin.push("HEAD:refs/heads/main").raise_if_error()
    resources = {"gitops": GitOpsRepo(path=str(gitops_remote.clone))}
    with dg.DagsterInstance.get() as instance:
        result = dg.materialize([pages_site], resources=resources, instance=instance)
        assert result.success
        (mat,) = result.asset_materializations_for_node("pages_site")
        meta = {k: v.value for k, v in mat.metadata.items()}
        assert meta["pushed"] is True and meta["tree_size"] == PUBLISHED
        assert (
            meta["site_commit"] == git.Repo(gitops_remote.bare).commit("refs/heads/gh-pages").hexsha
        )
        assert meta["pages_record_id"] and meta["record_error"] == ""
        again = dg.materialize([pages_site], resources=resources, instance=instance)
        (mat,) = again.asset_materializations_for_node("pages_site")
        assert mat.metadata["pushed"].value is False


def test_pages_site_depends_on_the_evidence_index():
    spec = next(iter(pages_site.specs))
    assert dg.AssetKey("evidence_index") in {dep.asset_key for dep in spec.deps}


DEFS = """
import dagster as dg
from factory_assets.dagster_resources import GitOpsRepo
from factory_assets.evidence.assets import evidence_index
from factory_assets.site.assets import site_assets

defs = dg.Definitions(
    assets=[evidence_index, *site_assets],
    resources={"gitops": GitOpsRepo()},
    executor=dg.in_process_executor,
)
"""


@pytest.mark.slow
def test_the_nightly_command_materializes_index_and_site(
    gitops_remote: GitOpsRemote, dagster_home: Path, tmp_path: Path
):
    """The workflow's exact `dagster asset materialize --select evidence_index,pages_site`."""
    write_fixture(gitops_remote.clone)
    repo = gitops_remote.repo
    repo.git.add("--all")
    repo.index.commit("evidence")
    repo.remotes.origin.push("HEAD:refs/heads/main").raise_if_error()
    (tmp_path / "nightly_defs.py").write_text(DEFS)
    env = {
        **os.environ,
        "FACTORY_REPO": str(gitops_remote.clone),
        "PYTHONPATH": os.pathsep.join([str(tmp_path), str(ROOT)]),
    }
    dagster = Path(sys.executable).with_name("dagster")
    command = [
        str(dagster),
        "asset",
        "materialize",
        "-m",
        "nightly_defs",
        "--select",
        "evidence_index,pages_site",
    ]
    result = subprocess.run(
        command, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=180
    )
    assert result.returncode == 0, result.stderr[-3000:]
    tip = git.Repo(gitops_remote.bare).commit("refs/heads/gh-pages")
    summary = json.loads(tip.tree["data/summary.json"].data_stream.read())
    assert summary["checkpoint"]["tree_size"] == PUBLISHED
