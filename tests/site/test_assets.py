"""`pages_site` materializes through Dagster and reports the publication in its metadata."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import git

from factory_assets.dagster_resources import GitOpsRepo
from factory_assets.site.assets import pages_site
from tests.site.fixture import PUBLISHED, write_fixture
from tests.support.gitrepo import GitOpsRemote


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
