"""`factory release add|status`: validation, exit codes, nothing changed on bad input, --push."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from factory_assets.cli.main import main
from factory_assets.evidence.validate import validate_repo
from factory_assets.release.queue_file import load_queue
from tests.support.gitrepo import GitOpsRemote

HOST = "127.0.0.1:5999"
IMAGE = f"{HOST}/factory/api"
DIGEST = "sha256:" + "c" * 64


@pytest.fixture
def repo(gitops_remote: GitOpsRemote, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("HARBOR_URL", f"http://{HOST}")
    monkeypatch.delenv("FACTORY_REPO", raising=False)
    return gitops_remote.clone


def snapshot(repo: Path) -> dict[str, bytes]:
    """Every file outside .git: 'nothing changed' means this is identical."""
    return {
        str(p.relative_to(repo)): p.read_bytes()
        for p in sorted(repo.rglob("*"))
        if p.is_file() and ".git" not in p.relative_to(repo).parts
    }


def run(repo: Path, *args: str) -> int:
    try:
        return main([*args[:2], "--repo", str(repo), *args[2:]])
    except SystemExit as exc:  # argparse usage errors
        return int(exc.code)


def test_add_appends_a_pending_entry(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(repo, "release", "add", "api", "--tag", "v1", "--image", IMAGE, "--by", "alice") == 0
    (entry,) = load_queue(repo).queue.entries
    assert (entry.service, entry.image, entry.tag, entry.state, entry.requested_by) == (
        "api",
        IMAGE,
        "v1",
        "pending",
        "alice",
    )
    assert (entry.attempts, entry.max_attempts) == (0, 5)
    out = capsys.readouterr().out
    assert entry.id in out and "not committed" in out


def test_image_defaults_to_the_pin_files_repository(repo: Path) -> None:
    pin = repo / "envs" / "dev" / "api.yaml"
    pin.write_text(f"service: api\nimage: {IMAGE}@{DIGEST}\nrelease_id: r0\n")
    assert run(repo, "release", "add", "api", "--digest", DIGEST) == 0
    assert load_queue(repo).queue.entries[0].image == IMAGE


@pytest.mark.parametrize(
    ("args", "code", "needle"),
    [
        (
            ["../x", "--tag", "v1", "--image", IMAGE],
            1,
            "arguments: SERVICE: '../x' is not a service name",
        ),
        (
            ["a/b", "--tag", "v1", "--image", IMAGE],
            1,
            "arguments: SERVICE: 'a/b' is not a service name",
        ),
        (
            ["Api", "--tag", "v1", "--image", IMAGE],
            1,
            "arguments: SERVICE: 'Api' is not a service name",
        ),
        (["", "--tag", "v1", "--image", IMAGE], 1, "arguments: SERVICE: '' is not a service name"),
        (
            ["api", "--tag", "bad tag", "--image", IMAGE],
            1,
            "arguments: --tag: tag 'bad tag' must match",
        ),
        (["api", "--tag", "-x", "--image", IMAGE], 2, "expected one argument"),
        (
            ["api", "--digest", "sha256:XYZ", "--image", IMAGE],
            1,
            "arguments: --digest: digest 'sha256:XYZ'",
        ),
        (["api", "--digest", "md5:abc", "--image", IMAGE], 1, "arguments: --digest:"),
        (
            ["api", "--tag", "v1", "--digest", DIGEST, "--image", IMAGE],
            2,
            "not allowed with argument",
        ),
        (["api", "--image", IMAGE], 2, "one of the arguments --tag --digest is required"),
        (
            ["api", "--tag", "v1", "--image", "evil.example.com/factory/api"],
            1,
            "is not HARBOR_URL's host",
        ),
        (["api", "--tag", "v1", "--image", f"{IMAGE}:v1"], 1, "arguments: --image:"),
        (["api", "--tag", "v1", "--image", f"{HOST}/Factory/API"], 1, "arguments: --image:"),
        (
            ["api", "--tag", "v1"],
            1,
            "arguments: --image: required: envs/dev/api.yaml does not name",
        ),
        (["api", "--tag", "v1", "--image", IMAGE, "--by", "a\nb"], 1, "arguments: --by:"),
    ],
)
def test_bad_arguments_change_nothing(
    repo: Path, capsys: pytest.CaptureFixture[str], args: list[str], code: int, needle: str
) -> None:
    before = snapshot(repo)
    assert run(repo, "release", "add", *args) == code
    assert needle in capsys.readouterr().err
    assert snapshot(repo) == before


def test_harbor_url_must_be_set(repo: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    monkeypatch.delenv("HARBOR_URL")
    before = snapshot(repo)
    assert run(repo, "release", "add", "api", "--tag", "v1", "--image", IMAGE) == 1
    assert "environment: HARBOR_URL: not set" in capsys.readouterr().err
    assert snapshot(repo) == before


BAD_QUEUES = {
    "not a mapping": ("- 1\n", "release/queue.yaml: -: expected a mapping"),
    "yaml bomb": ("a: &a [x, x]\nb: [*a, *a]\nreleases: []\n", "YAML aliases are not allowed"),
    "over 1 MiB": ("releases: []\n#" + "x" * (1 << 20) + "\n", "over the 1048576-byte limit"),
}


@pytest.mark.parametrize("case", sorted(BAD_QUEUES))
def test_bad_queue_file_changes_nothing(repo: Path, capsys, case: str) -> None:
    text, needle = BAD_QUEUES[case]
    (repo / "release" / "queue.yaml").write_text(text)
    before = snapshot(repo)
    assert run(repo, "release", "add", "api", "--tag", "v1", "--image", IMAGE) == 1
    assert needle in capsys.readouterr().err
    assert snapshot(repo) == before


def test_duplicate_id_is_refused(repo: Path, capsys) -> None:
    assert run(repo, "release", "add", "api", "--tag", "v1", "--image", IMAGE, "--id", "r1") == 0
    before = snapshot(repo)
    assert run(repo, "release", "add", "api", "--tag", "v2", "--image", IMAGE, "--id", "r1") == 1
    assert "release/queue.yaml: releases[0].id: duplicate id 'r1'" in capsys.readouterr().err
    assert snapshot(repo) == before


def test_invalid_pin_file_is_named(repo: Path, capsys) -> None:
    (repo / "envs" / "dev" / "api.yaml").write_text("hold: maybe\n")
    before = snapshot(repo)
    assert run(repo, "release", "add", "api", "--tag", "v1") == 1
    assert "envs/dev/api.yaml: hold:" in capsys.readouterr().err
    assert snapshot(repo) == before


def test_push_commits_the_entry_with_a_request_record(
    repo: Path, gitops_remote: GitOpsRemote, capsys
) -> None:
    assert (
        run(repo, "release", "add", "api", "--tag", "v1", "--image", IMAGE, "--push", "--id", "r1")
        == 0
    )
    assert "pushed" in capsys.readouterr().out
    log = subprocess.run(
        ["git", "--git-dir", str(gitops_remote.bare), "log", "-1", "--format=%s", "main"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert log.startswith("factory: request release r1")
    clone = gitops_remote.new_clone()
    (entry,) = load_queue(clone).queue.entries
    assert entry.id == "r1" and entry.evidence
    record = (clone / "evidence" / "records" / f"{entry.evidence}.json").read_text()
    assert '"event":"requested"' in record and '"result":"skipped"' in record
    assert validate_repo(clone)[1] == []
    assert snapshot(repo) == snapshot(repo)  # the user's checkout is not rewritten under them
    assert not (repo / "evidence" / "records" / f"{entry.evidence}.json").exists()


def test_status_shows_one_row_per_service(repo: Path, capsys) -> None:
    (repo / "envs" / "dev" / "web.yaml").write_text(
        f"service: web\nimage: {HOST}/factory/web@{DIGEST}\ntag: v3\nhold: true\n"
    )
    assert run(repo, "release", "add", "api", "--tag", "v1", "--image", IMAGE, "--id", "r1") == 0
    capsys.readouterr()
    assert run(repo, "release", "status") == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == [
        "SERVICE",
        "PINNED",
        "TAG",
        "STATE",
        "ATTEMPTS",
        "NEXT",
        "RETRY",
        "SMOKE",
        "HOLD",
    ]
    assert lines[1].split() == ["api", "-", "-", "pending", "(r1)", "0/5", "-", "-", "-"]
    assert lines[2].split() == ["web", DIGEST, "v3", "-", "-", "-", "-", "hold"]
    (repo / "envs" / "dev" / "web.yaml").write_text("hold: 1\n")
    assert run(repo, "release", "status") == 1
    assert "envs/dev/web.yaml: hold:" in capsys.readouterr().err
