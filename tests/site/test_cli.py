"""`factory site build|publish` run the same code as the asset, with clean exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import git

from factory_assets.cli.main import main
from tests.site.fixture import PUBLISHED, write_fixture
from tests.support.gitrepo import GitOpsRemote


def test_build_writes_the_site(tmp_path: Path, capsys):
    repo = tmp_path / "repo"
    repo.mkdir()
    write_fixture(repo)
    assert main(["site", "build", "--repo", str(repo), "--out", str(tmp_path / "out")]) == 0
    assert f"{PUBLISHED} record(s)" in capsys.readouterr().out
    assert (
        json.loads((tmp_path / "out" / "data" / "summary.json").read_text())["checkpoint"][
            "tree_size"
        ]
        == PUBLISHED
    )


def test_publish_builds_pushes_and_records(gitops_remote: GitOpsRemote, capsys):
    write_fixture(gitops_remote.clone)
    repo = gitops_remote.repo
    repo.git.add("--all")
    repo.index.commit("evidence")
    repo.remotes.origin.push("HEAD:refs/heads/main").raise_if_error()
    assert main(["site", "publish", "--repo", str(gitops_remote.clone)]) == 0
    out = capsys.readouterr().out
    assert "(pushed;" in out and "evidence: pages record" in out
    assert main(["site", "publish", "--repo", str(gitops_remote.clone), "--no-record"]) == 0
    assert "unchanged, nothing pushed" in capsys.readouterr().out
    assert git.Repo(gitops_remote.bare).commit("refs/heads/gh-pages").hexsha


def test_publish_takes_relative_paths_as_the_user_typed_them(
    gitops_remote: GitOpsRemote, capsys, monkeypatch
):
    write_fixture(gitops_remote.clone)
    repo = gitops_remote.repo
    repo.git.add("--all")
    repo.index.commit("evidence")
    repo.remotes.origin.push("HEAD:refs/heads/main").raise_if_error()
    repo.git.remote("set-url", "origin", "../remote.git")  # relative to the clone
    monkeypatch.chdir(gitops_remote.workdir)
    assert main(["site", "build", "--repo", "clone", "--out", "siteout"]) == 0
    assert main(["site", "publish", "--repo", "clone", "--build-dir", "siteout"]) == 0
    assert "(pushed;" in capsys.readouterr().out
    site = git.Repo(gitops_remote.bare).commit("refs/heads/gh-pages")
    assert "index.html" in [blob.path for blob in site.tree.traverse()]
    args = ["site", "publish", "--repo", "clone", "--build-dir", "siteout", "--no-record"]
    assert main([*args, "--remote", "remote.git", "--branch", "pages-2"]) == 0  # relative to cwd
    other = git.Repo(gitops_remote.bare).commit("refs/heads/pages-2").tree
    # The same build; only the checkpoint history differs (its publication time).
    assert (
        other["index.html"] == site.tree["index.html"]
        and other["data/summary.json"] == site.tree["data/summary.json"]
    )


def test_publish_without_a_remote_is_a_clear_error(tmp_path: Path, capsys):
    repo = tmp_path / "repo"
    repo.mkdir()
    git.Repo.init(repo).close()
    write_fixture(repo)
    assert main(["site", "publish", "--repo", str(repo)]) == 1
    assert "remote: has no `origin` remote" in capsys.readouterr().err


def test_build_requires_out(capsys):
    try:
        main(["site", "build"])
    except SystemExit as exc:
        assert exc.code == 2
    else:
        raise AssertionError("argparse should exit 2")
