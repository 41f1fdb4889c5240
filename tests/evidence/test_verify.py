"""`factory evidence verify` and `factory site publish` hold the records to every published checkpoint."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import git
import pytest

from factory_assets.evidence.checkpoints import HISTORY_FILE, parse_history
from factory_assets.evidence.collect import collect_index
from factory_assets.evidence.validate import validate_repo
from factory_assets.site.build import build_site
from factory_assets.site.publish import PublishError, publish_site
from tests.evidence.helpers import rewrite_tail, write_chain
from tests.support.gitrepo import GitOpsRemote


def verify_cli(repo: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "factory_assets.cli.main",
            "evidence",
            "verify",
            "--repo",
            str(repo),
            *args,
        ],
        capture_output=True,
        text=True,
    )


def publish(clone: Path, tmp_path: Path, name: str):
    build = build_site(clone, tmp_path / name).out_dir
    return publish_site(clone, build, evidence_branch=None)


def pages_history(bare: Path) -> list:
    repo = git.Repo(bare)
    try:
        data = repo.git.show(f"refs/heads/gh-pages:{HISTORY_FILE}")
    finally:
        repo.close()
    return parse_history(data.encode(), HISTORY_FILE)


def test_an_honest_append_holds_to_every_published_checkpoint(
    gitops_remote: GitOpsRemote, tmp_path: Path
):
    clone = gitops_remote.clone
    write_chain(clone, 5)
    first = publish(clone, tmp_path, "one")
    write_chain(clone, 3)
    proc = verify_cli(clone)
    assert proc.returncode == 0, proc.stderr
    assert "consistent with 1 published checkpoint(s)" in proc.stdout
    assert "8 record(s)" in proc.stdout

    second = publish(clone, tmp_path, "two")
    history = pages_history(gitops_remote.bare)
    assert [(c.tree_size, c.root) for c in history] == [
        (5, first.merkle_root),
        (8, second.merkle_root),
    ]
    assert all(c.head_id and c.published_at for c in history)
    proc = verify_cli(clone)
    assert proc.returncode == 0, proc.stderr
    assert "consistent with 2 published checkpoint(s)" in proc.stdout


def test_a_consistent_tail_rewrite_is_caught_by_verify_and_by_publish(
    gitops_remote: GitOpsRemote, tmp_path: Path
):
    clone = gitops_remote.clone
    write_chain(clone, 6)
    first = publish(clone, tmp_path, "one")
    tip = git.Repo(gitops_remote.bare).commit("refs/heads/gh-pages").hexsha

    rewrite_tail(clone, keep=3, count=4)
    # The chain alone cannot tell: digests, links and head were all recomputed.
    assert validate_repo(clone) == (7, [])
    assert collect_index(clone).tree_size == 7

    proc = verify_cli(clone)
    assert proc.returncode == 1
    assert f"checkpoint #1 (size 6, root {first.merkle_root}" in proc.stderr
    assert "first record that differs: sequence 4" in proc.stderr

    with pytest.raises(
        PublishError, match=r"checkpoint #1 \(size 6.*first record that differs: sequence 4"
    ):
        publish(clone, tmp_path, "two")
    assert git.Repo(gitops_remote.bare).commit("refs/heads/gh-pages").hexsha == tip

    # The same against a ref of the checkout, without the network.
    git.Repo(clone).git.fetch("origin", "gh-pages:refs/remotes/origin/gh-pages")
    proc = verify_cli(clone, "--against", "origin/gh-pages")
    assert proc.returncode == 1
    assert "origin/gh-pages@" in proc.stderr and "size 6" in proc.stderr


def test_dropped_records_are_caught(gitops_remote: GitOpsRemote, tmp_path: Path):
    clone = gitops_remote.clone
    write_chain(clone, 6)
    publish(clone, tmp_path, "one")
    rewrite_tail(clone, keep=4, count=0)
    assert validate_repo(clone) == (4, [])
    proc = verify_cli(clone)
    assert proc.returncode == 1
    assert "fewer than the 6 published" in proc.stderr
    assert "first record that differs: sequence 5" in proc.stderr


def test_a_malformed_history_is_named_by_file_and_field(
    gitops_remote: GitOpsRemote, tmp_path: Path
):
    clone = gitops_remote.clone
    write_chain(clone, 2)
    publish(clone, tmp_path, "one")
    repo = git.Repo(clone)
    repo.git.fetch("origin", "gh-pages:refs/remotes/origin/gh-pages")
    repo.git.checkout("-b", "bad-pages", "origin/gh-pages")
    bad = {"format": "factory-checkpoints/1", "checkpoints": [{"tree_size": 2, "root": "xyz"}]}
    (clone / HISTORY_FILE).write_text(json.dumps(bad))
    repo.git.add(HISTORY_FILE)
    repo.git.commit("-m", "bad history")
    repo.git.checkout("main")
    proc = verify_cli(clone, "--against", "bad-pages")
    assert proc.returncode == 1
    assert f"{HISTORY_FILE}: checkpoints[0].root" in proc.stderr
    assert "expected 64 lowercase hex digits" in proc.stderr


def test_nothing_published_yet_has_nothing_to_hold_to(gitops_remote: GitOpsRemote):
    write_chain(gitops_remote.clone, 2)
    proc = verify_cli(gitops_remote.clone)
    assert proc.returncode == 0, proc.stderr
    assert "consistent with 0 published checkpoint(s)" in proc.stdout
