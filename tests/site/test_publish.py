"""`publish_site` against real bare remotes: idempotent, race-safe, history kept, recorded on main."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import git
import pytest

from factory_assets.evidence.checkpoints import HISTORY_FILE, parse_history
from factory_assets.evidence.validate import validate_repo
from factory_assets.site.build import build_site
from factory_assets.site.publish import PublishError, publish_site, redact
from tests.site.conftest import LINKS
from tests.site.fixture import PUBLISHED, write_fixture
from tests.support.gitrepo import GitOpsRemote, configure_identity

ROOT = Path(__file__).resolve().parents[2]


def _seed(remote: GitOpsRemote) -> Path:
    """The fixture evidence committed and pushed on main; returns the clone."""
    write_fixture(remote.clone)
    repo = remote.repo
    repo.git.add("--all")
    repo.index.commit("evidence fixture")
    repo.remotes.origin.push("HEAD:refs/heads/main").raise_if_error()
    repo.close()
    return remote.clone


def _files(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


def _branch_files(bare: Path, branch: str) -> dict[str, bytes]:
    repo = git.Repo(bare)
    try:
        tree = repo.commit(f"refs/heads/{branch}").tree
        return {b.path: b.data_stream.read() for b in tree.traverse() if b.type == "blob"}
    finally:
        repo.close()


def _log(bare: Path, ref: str) -> list[str]:
    return git.Repo(bare).git.rev_list(ref).split()


def _state(clone: Path) -> tuple:
    repo = git.Repo(clone)
    try:
        return (
            repo.head.commit.hexsha,
            repo.git.status("--porcelain", "--untracked-files=all"),
            repo.git.for_each_ref(),
            (clone / ".git" / "config").read_text(),
        )
    finally:
        repo.close()


def _hook(bare: Path, name: str, script: str) -> None:
    path = bare / "hooks" / name
    path.write_text("#!/bin/sh\n" + textwrap.dedent(script))
    path.chmod(path.stat().st_mode | stat.S_IEXEC)


def test_publish_twice_second_is_a_no_op(gitops_remote: GitOpsRemote, tmp_path: Path):
    clone = _seed(gitops_remote)
    before = _state(clone)
    main_before = gitops_remote.remote_head()
    build = build_site(clone, tmp_path / "site", links=LINKS).out_dir

    first = publish_site(clone, build)
    assert first.pushed and first.attempts == 1 and first.record_error is None
    published = _branch_files(gitops_remote.bare, "gh-pages")
    history = parse_history(published.pop(HISTORY_FILE), HISTORY_FILE)
    built = _files(build)
    assert parse_history(built.pop(HISTORY_FILE), HISTORY_FILE) == []
    assert published == built  # the build is the branch root, with the checkpoint history
    summary = json.loads((build / "data" / "summary.json").read_text())["checkpoint"]
    assert [(c.tree_size, c.root, c.head_id) for c in history] == [
        (PUBLISHED, summary["root"], summary["head"]["id"])
    ]
    assert first.site_commit == git.Repo(gitops_remote.bare).commit("refs/heads/gh-pages").hexsha
    assert _state(clone) == before  # checkout, index, refs and config untouched

    # The publication is recorded on main, chained after the published head.
    main = _log(gitops_remote.bare, "refs/heads/main")
    assert main[1] == main_before
    checkout = Path(gitops_remote.new_clone("after"))
    record = json.loads((checkout / "evidence" / "records" / f"{first.record_id}.json").read_text())
    assert record["kind"] == "pages" and record["integrity"]["sequence"] == PUBLISHED + 2
    assert record["details"] == {
        "kind": "pages",
        "branch": "gh-pages",
        "merkle_root": first.merkle_root,
        "tree_size": PUBLISHED,
        "site_commit": first.site_commit,
        "pushed": True,
        "reason": None,
    }
    assert (
        record["parents"][0]["id"]
        == json.loads((build / "data" / "summary.json").read_text())["checkpoint"]["head"]["id"]
    )
    assert validate_repo(checkout) == (PUBLISHED + 2, [])

    # Same build again: nothing to commit, on either branch.
    second = publish_site(clone, build)
    assert (
        not second.pushed and second.site_commit == first.site_commit and second.record_id is None
    )
    # A checkout that has the new pages record builds the same tree: trailing pages records are not published.
    rebuilt = build_site(checkout, tmp_path / "site2", links=LINKS).out_dir
    assert _files(rebuilt) == _files(build)
    third = publish_site(checkout, rebuilt)
    assert not third.pushed
    assert len(_log(gitops_remote.bare, "refs/heads/gh-pages")) == 1
    assert len(_log(gitops_remote.bare, "refs/heads/main")) == len(main)


def test_a_changed_build_adds_a_commit_on_top(gitops_remote: GitOpsRemote, tmp_path: Path):
    clone = _seed(gitops_remote)
    build = build_site(clone, tmp_path / "site", links=LINKS).out_dir
    first = publish_site(clone, build, evidence_branch=None)
    (build / "extra.txt").write_text("new\n")
    second = publish_site(clone, build, evidence_branch=None)
    assert second.pushed and second.record_id is None
    assert _log(gitops_remote.bare, "refs/heads/gh-pages") == [
        second.site_commit,
        first.site_commit,
    ]


def _competitor(tmp_path: Path, bare: Path) -> Path:
    """A clone with a gh-pages commit of its own, pushed by the remote's hook mid-publish."""
    other = tmp_path / "other"
    repo = git.Repo.init(other, initial_branch="gh-pages")
    configure_identity(repo)
    (other / "theirs.txt").write_text("another writer\n")
    repo.index.add(["theirs.txt"])
    repo.index.commit("someone else publishes")
    repo.create_remote("origin", str(bare))
    repo.close()
    return other


@pytest.mark.parametrize("branch_exists", [False, True], ids=["new-branch", "existing-branch"])
def test_a_push_race_is_retried_and_keeps_the_other_commit(
    gitops_remote: GitOpsRemote, tmp_path: Path, branch_exists: bool
):
    """Another process moves gh-pages while our push is in flight: re-fetch, recommit, push again."""
    clone = _seed(gitops_remote)
    bare = gitops_remote.bare
    build = build_site(clone, tmp_path / "site", links=LINKS).out_dir
    other = _competitor(tmp_path, bare)
    if branch_exists:
        subprocess.run(["git", "-C", str(other), "push", "-q", "origin", "gh-pages"], check=True)
        subprocess.run(
            ["git", "-C", str(other), "commit", "-q", "--allow-empty", "-m", "second"], check=True
        )
    marker = tmp_path / "raced"
    # The first push to gh-pages triggers a push from another git process before the ref is updated.
    _hook(
        bare,
        "pre-receive",
        f"""
        read old new ref
        if [ "$ref" = refs/heads/gh-pages ] && [ ! -e {marker} ]; then
          touch {marker}
          env -i PATH="$PATH" HOME="$HOME" git -C {other} push -q origin gh-pages:gh-pages >&2
        fi
        exit 0
        """,
    )
    result = publish_site(clone, build, evidence_branch=None)
    assert marker.exists() and result.pushed and result.attempts == 2
    theirs = git.Repo(other).head.commit.hexsha
    history = _log(bare, "refs/heads/gh-pages")
    assert history[0] == result.site_commit and theirs in history  # no force push
    published, built = _branch_files(bare, "gh-pages"), _files(build)
    published.pop(HISTORY_FILE)
    built.pop(HISTORY_FILE)
    assert published == built


def test_concurrent_publishers_all_land(gitops_remote: GitOpsRemote, tmp_path: Path):
    """Three processes publish different builds at once; every commit and pages record lands, chained."""
    clone = _seed(gitops_remote)
    base = build_site(clone, tmp_path / "site", links=LINKS).out_dir
    script = textwrap.dedent(
        """
        import json, sys
        from pathlib import Path
        from factory_assets.site.publish import publish_site
        r = publish_site(Path(sys.argv[1]), Path(sys.argv[2]), max_attempts=8)
        print(json.dumps({"commit": r.site_commit, "pushed": r.pushed, "record": r.record_id, "error": r.record_error}))
        """
    )
    procs = []
    for n in range(3):
        build = tmp_path / f"build-{n}"
        shutil.copytree(base, build)
        (build / "writer.txt").write_text(f"writer {n}\n")
        procs.append(
            subprocess.Popen(
                [sys.executable, "-c", script, str(clone), str(build)],
                cwd=ROOT,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                env={**os.environ, "PYTHONPATH": str(ROOT)},
            )
        )
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        results.append(json.loads(out))
    assert all(r["pushed"] and r["record"] and not r["error"] for r in results)
    history = _log(gitops_remote.bare, "refs/heads/gh-pages")
    assert {r["commit"] for r in results} <= set(history) and len(history) == 3
    checkout = Path(gitops_remote.new_clone("after"))
    count, problems = validate_repo(checkout)
    assert problems == [] and count == PUBLISHED + 1 + 3


def test_a_stale_build_never_replaces_a_newer_dashboard(
    gitops_remote: GitOpsRemote, tmp_path: Path
):
    stale = Path(gitops_remote.new_clone("stale"))  # cloned before the evidence landed
    clone = _seed(gitops_remote)
    newer = publish_site(clone, build_site(clone, tmp_path / "new", links=LINKS).out_dir)
    assert newer.pushed and newer.tree_size == PUBLISHED
    old_build = build_site(stale, tmp_path / "old", links=LINKS).out_dir
    with pytest.raises(PublishError, match=f"already shows {PUBLISHED} records"):
        publish_site(stale, old_build)
    assert _log(gitops_remote.bare, "refs/heads/gh-pages")[0] == newer.site_commit


def test_a_refused_push_fails_fast_without_credentials_in_the_message(
    gitops_remote: GitOpsRemote, tmp_path: Path
):
    clone = _seed(gitops_remote)
    build = build_site(clone, tmp_path / "site", links=LINKS).out_dir
    _hook(gitops_remote.bare, "pre-receive", "echo 'gh-pages is protected' >&2\nexit 1\n")
    with pytest.raises(PublishError, match="refused") as caught:
        publish_site(clone, build)
    assert "gh-pages is protected" in str(caught.value)
    with pytest.raises(PublishError) as caught:
        publish_site(clone, build, remote="http://factory-bot:s3cret-token@127.0.0.1:9/deploy.git")
    assert "s3cret-token" not in str(caught.value) and "127.0.0.1" in str(caught.value)
    assert (
        redact("To https://x:tok@h/r.git and ssh://git@h/r")
        == "To https://***@h/r.git and ssh://***@h/r"
    )


def test_site_pushed_but_main_refused_is_reported(gitops_remote: GitOpsRemote, tmp_path: Path):
    clone = _seed(gitops_remote)
    build = build_site(clone, tmp_path / "site", links=LINKS).out_dir
    _hook(
        gitops_remote.bare,
        "pre-receive",
        """
        read old new ref
        if [ "$ref" = refs/heads/main ]; then echo 'main is protected' >&2; exit 1; fi
        exit 0
        """,
    )
    result = publish_site(clone, build)
    assert result.pushed and result.record_id is None
    assert "main is protected" in result.record_error
    (gitops_remote.bare / "hooks" / "pre-receive").unlink()
    again = publish_site(clone, build)  # the site is already there; its record is not
    assert not again.pushed and again.record_id and again.site_commit == result.site_commit
    third = publish_site(clone, build)  # now both are: nothing to do
    assert not third.pushed and third.record_id is None


def test_partial_clone_remote_serves_blobless_fetches(gitops_remote: GitOpsRemote, tmp_path: Path):
    """With a server that honours --filter (as GitHub does), publishing still builds and records."""
    clone = _seed(gitops_remote)
    git.Repo(gitops_remote.bare).git.config("uploadpack.allowFilter", "true")
    build = build_site(clone, tmp_path / "site", links=LINKS).out_dir
    first = publish_site(clone, build)
    (build / "extra.txt").write_text("again\n")
    second = publish_site(clone, build)
    assert first.pushed and second.pushed and first.record_id and second.record_id
    checkout = Path(gitops_remote.new_clone("after"))
    assert validate_repo(checkout) == (PUBLISHED + 3, [])


def test_the_checkouts_auth_header_is_forwarded(gitops_remote: GitOpsRemote):
    """actions/checkout keeps its token as an http extraheader in the checkout; the scratch repo needs it too."""
    from factory_assets.site.publish import _forwarded_auth

    repo = gitops_remote.repo
    with repo.config_writer() as config:
        config.set_value(
            'http "https://github.com/"', "extraheader", "AUTHORIZATION: basic dG9rZW4="
        )
    repo.close()
    assert _forwarded_auth(gitops_remote.clone) == [
        ("http.https://github.com/.extraheader", "AUTHORIZATION: basic dG9rZW4=")
    ]


def test_publication_commits_carry_the_factory_identity(
    gitops_remote: GitOpsRemote, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """The same identity as every other factory commit: FACTORY_GIT_AUTHOR_*, not GIT_AUTHOR_*."""
    clone = _seed(gitops_remote)
    build = build_site(clone, tmp_path / "site", links=LINKS).out_dir
    monkeypatch.setenv("FACTORY_GIT_AUTHOR_NAME", "factory-bot")
    monkeypatch.setenv("FACTORY_GIT_AUTHOR_EMAIL", "bot@factory.test")
    monkeypatch.delenv("GIT_AUTHOR_NAME", raising=False)
    monkeypatch.delenv("GIT_AUTHOR_EMAIL", raising=False)
    result = publish_site(clone, build)
    assert result.pushed and result.record_id
    bare = git.Repo(gitops_remote.bare)
    try:
        for ref in ("refs/heads/gh-pages", "refs/heads/main"):  # the site and its pages record
            commit = bare.commit(ref)
            assert (commit.author.name, commit.author.email) == ("factory-bot", "bot@factory.test")
            assert (commit.committer.name, commit.committer.email) == (
                "factory-bot",
                "bot@factory.test",
            )
    finally:
        bare.close()
