"""`factory smoke` end to end: pin + promotion record -> smoke -> records that validate."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from factory_assets.cli.main import main
from factory_assets.evidence.collect import collect_index
from factory_assets.evidence.store import load_record
from tests.doubles.argocd import app_status
from tests.smoke.conftest import promote

FAST = {"interval_seconds": 0.02, "timeout_seconds": 5, "request_timeout_seconds": 2}
FACTORY = [sys.executable, "-m", "factory_assets.cli.main"]


def records(repo: Path) -> list[dict]:
    directory = repo / "evidence" / "records"
    return [json.loads(p.read_text()) for p in sorted(directory.glob("*.json"))]


def smoke_records(repo: Path) -> dict[str, dict]:
    return {r["service"]: r for r in records(repo) if r["kind"] == "smoke"}


def run_factory(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("ARGOCD_")}
    return subprocess.run(
        [*FACTORY, *args], env={**clean, **env}, capture_output=True, text=True, timeout=120
    )


def test_promotion_then_smoke_then_valid_evidence(gitops_remote, argocd):
    repo = gitops_remote.clone
    api = promote(gitops_remote, "api", smoke={"argocd_app": "api", **FAST})
    web = promote(gitops_remote, "web", smoke=None)
    argocd.set_app(
        "api",
        app_status(revision=api.commit, health="Progressing", images=[api.image]),
        app_status(revision=web.commit, images=[api.image]),
    )

    done = run_factory(["smoke", "--repo", str(repo)], argocd.env())

    assert done.returncode == 0, done.stdout + done.stderr
    assert "api: passed [argocd" in done.stdout and "web: skipped [none" in done.stdout
    assert "1 passed, 1 skipped" in done.stdout
    assert argocd.token not in done.stdout + done.stderr
    # promote() left its records uncommitted in this checkout: the verdicts stay here, said so
    assert "these verdicts stay in the checkout, not pushed" in done.stderr
    smoke = smoke_records(repo)
    assert smoke["api"]["parents"] == [
        {"id": api.record.id, "content_digest": api.record.integrity.content_digest}
    ]
    assert smoke["web"]["parents"][0]["id"] == web.record.id
    assert smoke["web"]["details"]["verdict"] == "skipped"

    validated = run_factory(["evidence", "validate", "--repo", str(repo)], {})
    assert validated.returncode == 0, validated.stderr
    assert "4 record(s) valid" in validated.stdout
    index = json.loads(collect_index(repo).path.read_text())
    assert index["services"]["api"]["last_smoke"]["verdict"] == "passed"


def test_any_failure_exits_1_and_every_service_is_still_recorded(
    gitops_remote, argocd, monkeypatch, capsys
):
    repo = gitops_remote.clone
    api = promote(gitops_remote, "api", smoke={"argocd_app": "api", **FAST})
    promote(gitops_remote, "web", smoke={"argocd_app": "web", **FAST})
    argocd.set_app("api", app_status(revision=api.commit, images=[api.image]))
    argocd.set_app("web", app_status(revision=gitops_remote.remote_head(), health="Degraded"))
    for name, value in argocd.env().items():
        monkeypatch.setenv(name, value)
    code = main(["smoke", "--repo", str(repo)])
    out = capsys.readouterr().out
    assert code == 1
    assert "web: failed" in out and "Degraded" in out and "not ok: web" in out
    assert {s: r["details"]["verdict"] for s, r in smoke_records(repo).items()} == {
        "api": "passed",
        "web": "failed",
    }


def test_service_and_timeout_options(gitops_remote, argocd, monkeypatch, capsys):
    repo = gitops_remote.clone
    api = promote(gitops_remote, "api", smoke={"argocd_app": "api", **FAST, "timeout_seconds": 600})
    promote(gitops_remote, "web", smoke={"argocd_app": "web", **FAST})
    argocd.set_app("api", app_status(revision=api.commit, health="Progressing", images=[api.image]))
    for name, value in argocd.env().items():
        monkeypatch.setenv(name, value)
    assert main(["smoke", "--repo", str(repo), "--service", "api", "--timeout", "0.3"]) == 1
    out = capsys.readouterr().out
    assert "api: timeout" in out and "timed out after 0.3 s" in out
    assert set(smoke_records(repo)) == {"api"}  # web was not checked


def test_unknown_service_is_bad_input_and_writes_nothing(gitops_remote, capsys):
    repo = gitops_remote.clone
    promote(gitops_remote, "api", smoke=None)
    before = len(records(repo))
    assert main(["smoke", "--repo", str(repo), "--service", "api", "--service", "nope"]) == 1
    assert "envs/dev/nope.yaml: -: no pin file for service 'nope'" in capsys.readouterr().err
    assert len(records(repo)) == before


@pytest.mark.parametrize("timeout", ["abc", "0", "-5"])
def test_usage_errors_exit_2(gitops_remote, timeout):
    with pytest.raises(SystemExit) as info:
        main(["smoke", "--repo", str(gitops_remote.clone), "--timeout", timeout])
    assert info.value.code == 2


def test_absent_token_exits_1_with_a_clear_reason(gitops_remote):
    promote(gitops_remote, "api", smoke={"argocd_app": "api", **FAST})
    done = run_factory(["smoke", "--repo", str(gitops_remote.clone)], {})
    assert done.returncode == 1
    assert "api: failed" in done.stdout and "ARGOCD_URL and ARGOCD_TOKEN not set" in done.stdout
    record = load_record(gitops_remote.clone, smoke_records(gitops_remote.clone)["api"]["id"])
    assert record.details.error == "config"


def test_no_pins_is_nothing_to_check(tmp_path, capsys):
    assert main(["smoke", "--repo", str(tmp_path)]) == 0
    assert "nothing to check" in capsys.readouterr().out


def test_help_documents_the_command():
    done = subprocess.run([*FACTORY, "smoke", "--help"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0
    for text in ("--service", "--timeout", "ARGOCD_TOKEN", "exit status", "skipped"):
        assert text in done.stdout
