"""Where the `smoke_result` asset's record goes: always the remote, or the run fails."""

from __future__ import annotations

import json

import git
import pytest

from factory_assets.evidence.collect import collect_index
from factory_assets.smoke.landing import smoke_check_and_land, smoke_checks_and_land
from resources.gitops import GitError
from tests.smoke.conftest import promote


def promote_and_push(gitops_remote, service: str, version: str = "1", clone=None):
    """The pin and its promotion record on the remote, the checkout equal to it."""
    promoted = promote(gitops_remote, service, smoke=None, version=version, clone=clone)
    repo = git.Repo(clone or gitops_remote.clone)
    repo.git.add("evidence")
    repo.index.commit(f"record the promotion of {service}")
    repo.remotes.origin.push("HEAD:refs/heads/main").raise_if_error()
    return promoted


def remote_smoke_records(gitops_remote) -> list[dict]:
    fresh = gitops_remote.new_clone()
    paths = sorted((fresh / "evidence" / "records").glob("*.json"))
    return [r for r in (json.loads(p.read_text()) for p in paths) if r["kind"] == "smoke"]


def test_an_untracked_index_in_the_checkout_does_not_keep_the_record_local(gitops_remote):
    promote_and_push(gitops_remote, "web")
    collect_index(gitops_remote.clone)  # what evidence_index and `make demo` leave untracked
    outcome = smoke_check_and_land(gitops_remote.clone, "web")
    assert [r["id"] for r in remote_smoke_records(gitops_remote)] == [outcome.record.id]
    status = gitops_remote.repo.git.status("--porcelain", "--", "evidence/records")
    assert status == ""  # nothing left behind in the checkout


def test_a_checkout_with_local_changes_fails_the_asset_instead_of_forking(gitops_remote):
    promote_and_push(gitops_remote, "web")
    pin = gitops_remote.clone / "envs" / "dev" / "web.yaml"
    pin.write_text(pin.read_text() + "# local edit\n")
    with pytest.raises(GitError, match="would not reach the remote"):
        smoke_check_and_land(gitops_remote.clone, "web")
    assert remote_smoke_records(gitops_remote) == []
    assert not list((gitops_remote.clone / "evidence" / "records").glob("*.json")) or all(
        json.loads(p.read_text())["kind"] != "smoke"
        for p in (gitops_remote.clone / "evidence" / "records").glob("*.json")
    )


def test_the_check_reads_the_remote_s_current_pin_not_the_last_fetch(gitops_remote):
    promote_and_push(gitops_remote, "web")
    other = gitops_remote.new_clone("other")  # someone pins a newer digest meanwhile
    newer = promote_and_push(gitops_remote, "web", version="2", clone=other)
    outcome = smoke_check_and_land(gitops_remote.clone, "web")  # this clone never fetched
    assert outcome.record.details.digest == newer.digest


def test_a_checkout_equal_to_the_remote_gets_no_warning(gitops_remote):
    promote_and_push(gitops_remote, "web")
    lines: list[str] = []
    smoke_checks_and_land(gitops_remote.clone, ["web"], log=lines.append)
    assert not [line for line in lines if line.startswith("warning:")], lines
    assert len(remote_smoke_records(gitops_remote)) == 1
