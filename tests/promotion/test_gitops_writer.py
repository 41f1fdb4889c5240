"""The compare-and-swap writer on real git: lost races re-apply, bounds, private tree, modes."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from factory_assets.common.errors import InputError
from resources.gitops import CasExhausted, GitError, GitopsWriter, RemoteBranchMissing, redact
from tests.support.gitrepo import GitOpsRemote


def append_line(name: str, line: str):
    def apply(tree: Path) -> str:
        path = tree / name
        path.write_text((path.read_text() if path.exists() else "") + line + "\n")
        return path.read_text()

    return apply


def remote_file(remote: GitOpsRemote, path: str) -> str:
    text = remote.show(path)
    assert text is not None, f"{path} is not on the remote's main"
    return text


def test_lost_race_is_reapplied_on_the_fresh_head(gitops_remote: GitOpsRemote) -> None:
    mine = GitopsWriter(gitops_remote.new_clone("a"))
    theirs = GitopsWriter(gitops_remote.new_clone("b"))
    calls = []

    def apply(tree: Path) -> str:
        calls.append(tree)
        if len(calls) == 1:  # someone else lands a change while we are working
            theirs.transact(append_line("log.txt", "theirs"), message="theirs")
        return append_line("log.txt", "mine")(tree)

    txn = mine.transact(apply, message="mine")
    assert txn.pushed and txn.attempts == 2 and len(calls) == 2
    assert (
        remote_file(gitops_remote, "log.txt") == "theirs\nmine\n"
    )  # applied on top, never overwritten
    assert txn.commit == gitops_remote.remote_head()


def test_race_bound_is_respected(gitops_remote: GitOpsRemote) -> None:
    mine = GitopsWriter(gitops_remote.new_clone("a"), max_attempts=3)
    theirs = GitopsWriter(gitops_remote.new_clone("b"))
    count = 0

    def always_lose(tree: Path) -> None:
        nonlocal count
        count += 1
        theirs.transact(append_line("log.txt", f"theirs {count}"), message="theirs")
        append_line("log.txt", "mine")(tree)

    with pytest.raises(CasExhausted, match="lost 3 times"):
        mine.transact(always_lose, message="mine")
    assert count == 3 and "mine" not in remote_file(gitops_remote, "log.txt")


def test_nothing_changed_means_no_commit(gitops_remote: GitOpsRemote) -> None:
    head = gitops_remote.remote_head()
    txn = GitopsWriter(gitops_remote.clone).transact(lambda tree: None, message="noop")
    assert txn.commit is None and not txn.pushed and gitops_remote.remote_head() == head


def test_user_checkout_is_never_touched(gitops_remote: GitOpsRemote) -> None:
    clone = gitops_remote.clone
    (clone / "release" / "queue.yaml").write_text("releases: []  # my uncommitted edit\n")
    (clone / "scratch.txt").write_text("untracked\n")
    writer = GitopsWriter(clone)
    writer.transact(append_line("log.txt", "factory"), message="factory")
    assert (clone / "release" / "queue.yaml").read_text() == "releases: []  # my uncommitted edit\n"
    assert (clone / "scratch.txt").exists() and not (clone / "log.txt").exists()
    assert writer.tree.is_relative_to(clone / ".git")
    assert "fast-forwarded to origin/main" in writer.update_checkout()  # no conflict: edit kept
    assert (clone / "release" / "queue.yaml").read_text() == "releases: []  # my uncommitted edit\n"
    writer.transact(append_line("release/queue.yaml", "# factory"), message="factory 2")
    assert (
        "not fast-forwarded" in writer.update_checkout()
    )  # the local edit is in the way: left alone
    assert (clone / "release" / "queue.yaml").read_text() == "releases: []  # my uncommitted edit\n"


def test_update_checkout_fast_forwards_a_clean_checkout(gitops_remote: GitOpsRemote) -> None:
    writer = GitopsWriter(gitops_remote.clone)
    writer.transact(append_line("log.txt", "factory"), message="factory")
    assert "fast-forwarded" in writer.update_checkout()
    assert (gitops_remote.clone / "log.txt").read_text() == "factory\n"


def test_stale_index_lock_from_a_killed_writer_is_cleared(gitops_remote: GitOpsRemote) -> None:
    writer = GitopsWriter(gitops_remote.clone)
    writer.transact(append_line("a.txt", "1"), message="first")
    gitdir = subprocess.run(
        ["git", "-C", str(writer.tree), "rev-parse", "--absolute-git-dir"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    (Path(gitdir) / "index.lock").write_text("")
    (writer.tree / "half-written.tmp").write_text("junk")  # debris of a killed apply
    txn = writer.transact(append_line("a.txt", "2"), message="second")
    assert txn.pushed and remote_file(gitops_remote, "a.txt") == "1\n2\n"
    assert (
        "half-written.tmp"
        not in subprocess.run(
            ["git", "--git-dir", str(gitops_remote.bare), "ls-tree", "-r", "--name-only", "main"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    )


def test_a_copied_checkout_gets_its_own_private_tree(gitops_remote: GitOpsRemote) -> None:
    """`cp -r` of a checkout copies the private tree, whose .git still names the original."""
    original = GitopsWriter(gitops_remote.clone)
    original.transact(append_line("a.txt", "1"), message="first")
    copy = gitops_remote.workdir / "copy"
    shutil.copytree(gitops_remote.clone, copy, symlinks=True)
    GitopsWriter(gitops_remote.new_clone("other")).transact(
        append_line("a.txt", "2"), message="an object the original has not fetched"
    )
    writer = GitopsWriter(copy)
    txn = writer.transact(append_line("a.txt", "3"), message="from the copy")
    assert txn.pushed and remote_file(gitops_remote, "a.txt") == "1\n2\n3\n"
    common = subprocess.run(
        ["git", "-C", str(writer.tree), "rev-parse", "--path-format=absolute", "--git-common-dir"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert Path(common) == (copy / ".git").resolve()  # the copy's own, not the original's
    assert original.transact(append_line("a.txt", "4"), message="original still works").pushed


def test_a_stale_ref_lock_from_a_killed_fetch_is_cleared(gitops_remote: GitOpsRemote) -> None:
    writer = GitopsWriter(gitops_remote.clone)
    writer.transact(append_line("a.txt", "1"), message="first")
    GitopsWriter(gitops_remote.new_clone("other")).transact(
        append_line("a.txt", "2"), message="something to fetch"
    )
    lock = gitops_remote.clone / ".git" / "refs" / "remotes" / "origin" / "main.lock"
    lock.write_text("")
    with pytest.raises(GitError, match="cannot lock ref"):  # a live lock is left alone
        writer.transact(append_line("a.txt", "3"), message="blocked")
    assert lock.exists()
    old = time.time() - 300
    os.utime(lock, (old, old))  # nobody has held it for five minutes: a killed git's
    txn = writer.transact(append_line("a.txt", "3"), message="after the stale lock")
    assert txn.pushed and remote_file(gitops_remote, "a.txt") == "1\n2\n3\n"
    assert not lock.exists()


def test_a_committed_symlinked_folder_is_refused_before_apply_writes_through_it(
    gitops_remote: GitOpsRemote, tmp_path: Path
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    rival = gitops_remote.new_clone("rival")
    shutil.rmtree(rival / "envs" / "dev", ignore_errors=True)
    (rival / "envs" / "dev").symlink_to(outside)
    subprocess.run(["git", "-C", str(rival), "add", "-A"], check=True)
    subprocess.run(["git", "-C", str(rival), "commit", "-qm", "envs/dev -> outside"], check=True)
    subprocess.run(["git", "-C", str(rival), "push", "-q", "origin", "HEAD:main"], check=True)
    writer = GitopsWriter(gitops_remote.clone)
    with pytest.raises(InputError, match="envs/dev: -: is a symbolic link"):
        writer.transact(append_line("envs/dev/api.yaml", "image: x"), message="through the link")
    assert list(outside.iterdir()) == []


def test_local_and_files_modes(tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    writer = GitopsWriter(plain)
    assert writer.mode == "files"
    txn = writer.transact(append_line("x.txt", "1"), message="m")
    assert txn.commit is None and (plain / "x.txt").read_text() == "1\n"

    local = tmp_path / "local"
    subprocess.run(["git", "init", "-q", "-b", "main", str(local)], check=True)
    writer = GitopsWriter(local)
    assert writer.mode == "local"
    txn = writer.transact(
        append_line("x.txt", "1"), message="local change", paths=lambda _: ["x.txt"]
    )
    assert txn.commit and not txn.pushed and "locally" in txn.push_result
    log = subprocess.run(
        ["git", "-C", str(local), "log", "--format=%s"], capture_output=True, text=True
    )
    assert log.stdout.strip() == "local change"


def test_missing_remote_branch_is_not_retried(gitops_remote: GitOpsRemote) -> None:
    writer = GitopsWriter(gitops_remote.clone, branch="nope")
    with pytest.raises(RemoteBranchMissing, match="no branch 'nope'"):
        writer.transact(append_line("x", "1"), message="m")


def test_credentials_in_remote_urls_are_redacted() -> None:
    text = "fatal: unable to access 'https://robot$ci:s3cr3t@git.example/deploy.git/': 403"
    assert "s3cr3t" not in redact(text) and "https://***@git.example" in redact(text)


def test_a_push_refused_for_another_reason_than_a_race_fails_at_once(
    gitops_remote: GitOpsRemote,
) -> None:
    """Only a lost race is re-applied: a hook's refusal is reported on the first attempt."""
    calls = gitops_remote.workdir / "hook-calls"
    hook = gitops_remote.bare / "hooks" / "pre-receive"
    hook.write_text(f"#!/bin/sh\necho x >> {calls}\necho 'main is frozen' >&2\nexit 1\n")
    hook.chmod(0o755)
    writer = GitopsWriter(gitops_remote.new_clone("a"), max_attempts=5)
    with pytest.raises(GitError, match=r"(?s)refused: .*main is frozen") as refused:
        writer.transact(append_line("log.txt", "mine"), message="mine")
    assert not isinstance(refused.value, CasExhausted)
    assert calls.read_text().count("x") == 1  # one push, no re-apply loop


def test_commits_carry_the_factory_identity_from_the_environment(
    gitops_remote: GitOpsRemote, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FACTORY_GIT_AUTHOR_NAME", "factory-bot")
    monkeypatch.setenv("FACTORY_GIT_AUTHOR_EMAIL", "bot@factory.test")
    txn = GitopsWriter(gitops_remote.new_clone("a")).transact(
        append_line("log.txt", "mine"), message="mine"
    )
    author = subprocess.run(
        [
            "git",
            "--git-dir",
            str(gitops_remote.bare),
            "log",
            "-1",
            "--format=%an <%ae>",
            txn.commit,
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert author == "factory-bot <bot@factory.test>"


def test_a_relative_remote_url_resolves_from_the_checkout(gitops_remote: GitOpsRemote) -> None:
    # `git clone ../remote.git` records the URL as written: relative to the checkout, which
    # is not where the private tree the writer commits in lives.
    clone = gitops_remote.new_clone("relative")
    relative = os.path.relpath(gitops_remote.bare, clone)
    subprocess.run(["git", "-C", str(clone), "remote", "set-url", "origin", relative], check=True)
    txn = GitopsWriter(clone).transact(append_line("log.txt", "relative"), message="relative")
    assert txn.pushed and txn.attempts == 1
    assert remote_file(gitops_remote, "log.txt") == "relative\n"
