"""The dashboard of an ljwx-layout repository: one section per environment, DORA per env,
built from the records and the four-list queue, checked in headless chromium; and what it
says runs where, which is what `factory release status` says, also after adoption."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from factory_assets.cli.main import main
from factory_assets.evidence import store
from factory_assets.promotion import run_pass
from factory_assets.site.build import build_site
from factory_assets.smoke.landing import land_verdict
from resources.registry.environments import EnvRegistries
from tests.site.conftest import browser, serve  # noqa: F401 - fixtures shared with tests/site
from tests.support.ljwx import EMPTY_QUEUE, PUBLIC, LjwxRepo
from tests.support.ljwx_legacy import DIGEST_A, QUEUE, make_legacy_repo

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("chromium")]


def test_what_runs_in_each_environment(ljwx: LjwxRepo, tmp_path, browser, serve):  # noqa: F811
    api = ljwx.replicate("dev", "api", "api dash")
    ljwx.replicate("prod", "api", "api dash")
    batch = ljwx.build("batch", "batch dash")  # not replicated: waits in prod
    at = "2026-04-12T10:00:00Z"
    pending = ljwx.entry("api", "dev", api, tag="sha-0000050", git_sha="'0000050'", at=at)
    pending += ljwx.entry("api", "prod", api, tag="sha-0000050", git_sha="'0000050'", at=at)
    pending += ljwx.entry("batch", "prod", batch, tag="sha-0000051", git_sha="'0000051'", at=at)
    ljwx.remote.commit_and_push(
        {"release/queue.yaml": EMPTY_QUEUE.replace("pending: []\n", "pending:\n" + pending)}, "q"
    )
    registries = EnvRegistries()
    try:
        assert run_pass(ljwx.clone, registry=registries).ok
    finally:
        registries.close()
    checkout = ljwx.remote.new_clone("site")
    build_site(checkout, tmp_path / "site")
    summary = json.loads((tmp_path / "site" / "data" / "summary.json").read_text())
    rows = {(r["service"], r["env"]): r for r in summary["services"]}
    assert (
        rows[("api", "dev")]["status"]["pinned"] == rows[("api", "dev")]["pinned"]["digest"] == api
    )
    assert rows[("api", "prod")]["pinned"]["digest"] == api
    batch = rows[("batch", "prod")]["status"]
    assert batch["state"] == "pending" and batch["waiting_since"]
    health = summary["queue_health"]  # the repository's queue-health figures, on the dashboard
    assert health["counts"] == {"pending": 1, "promoted": 2, "failed": 0, "superseded": 0}
    assert health["pending"]["byServiceEnv"] == {"batch/prod": 1}
    metrics = json.loads((tmp_path / "site" / "data" / "metrics.json").read_text())
    assert {env: t["deployments"] for env, t in metrics["by_env"].items()} == {"dev": 1, "prod": 1}

    page = browser.new_page()
    try:
        page.open(serve(tmp_path / "site"))
        page.wait_for("document.querySelectorAll('#dora-envs tbody tr').length === 2")
        sections = page.eval(
            "[...document.querySelectorAll('#matrix tbody')].map(b => [b.dataset.env, "
            "b.querySelector('tr.env-heading').textContent, "
            "[...b.querySelectorAll('tr[data-service]')].map(r => r.dataset.service)])"
        )
        assert sections == [
            ["dev", "What runs in dev", ["api"]],
            ["prod", "What runs in prod", ["api", "batch"]],
        ]
        cells = page.eval(
            "[...document.querySelectorAll('#matrix tbody[data-env=prod] tr[data-service=batch] td')]"
            ".map(td => td.textContent)"
        )
        assert cells[0] == "–" and cells[5].startswith("waiting")
        envs = page.eval(
            "[...document.querySelectorAll('#dora-envs tbody tr')]"
            ".map(tr => [...tr.children].map(c => c.textContent))"
        )
        assert [row[:2] for row in envs] == [["dev", "1"], ["prod", "1"]]
        facts = page.eval("[...document.querySelectorAll('#health dd')].map(d => d.textContent)")
        assert not page.eval("document.getElementById('health-panel').hidden")
        assert facts[0] == "1 pending · 2 promoted · 0 failed · 0 superseded"
        assert facts[3] == "batch/prod 1"
        # The replication wait is named as such in the timeline, not "promotion skipped".
        events = page.eval(
            "[...document.querySelectorAll('#timeline tbody tr')].map(tr => "
            "[...tr.children].slice(2, 6).map(c => c.textContent))"
        )
        assert ["batch @ prod", "promotion", "waiting for replication", "–"] in events
    finally:
        page.close()


WORKER_DIGEST = "sha256:" + "1" * 64  # what the worker overlay pins (tests/support/ljwx.py)
# The legacy promoter pinned worker in dev before adoption: its entry is in `promoted`.
WORKER_PROMOTED = f"""\
- id: 20260330T120000Z-worker-sha-1111111
  service: worker
  env: dev
  source:
    ghcr: {PUBLIC}/worker@{WORKER_DIGEST}
    tag: sha-1111111
    digest: {WORKER_DIGEST}
    gitSha: '1111111'
  createdAt: '2026-03-30T12:00:00Z'
  status: promoted
  attempts: 0
  lastError: ''
  promotedAt: '2026-03-30T12:00:40Z'
  supersededAt: ''
  failedAt: ''
"""
# The frozen `envs/` folder, read by nothing (JSON in .yaml files, tags and a template).
FROZEN_ENVS = {
    "envs__dev___template.yaml": '{"service": "<svc>", "environment": "dev", "image": '
    '"harbor-dev.example/acme/<svc>@sha256:__DIGEST__", "updated_at": "__UPDATED_AT__"}\n',
    "envs__dev__api.yaml": '{"service": "api", "environment": "dev", "image": '
    '"ghcr.example/acme/api:sha-0c0ffee", "updated_at": "2026-02-20T10:00:00Z"}\n',
}


def _status_rows(repo: Path, capsys) -> list[dict]:
    capsys.readouterr()
    assert main(["release", "status", "--json", "--repo", str(repo)]) == 0
    return json.loads(capsys.readouterr().out)["services"]


def test_after_adoption_the_dashboard_says_what_release_status_says(
    tmp_path,
    capsys,
    browser,  # noqa: F811
    serve,  # noqa: F811
):
    """An adopted repository: overlays pinned by hand and by the legacy promoter (none by the
    factory), the frozen `envs/dev/_template.yaml`, and worker, a service with only a dev
    target, whose passed smoke finds no prod target. The page lists the lanes
    `factory release status --json` lists, with the same pins, row for row."""
    queue = QUEUE.replace("promoted:\n", "promoted:\n" + WORKER_PROMOTED, 1)
    remote = make_legacy_repo(tmp_path / "ljwx", **{"release__queue.yaml": queue}, **FROZEN_ENVS)
    clone = remote.clone
    git = lambda *args: subprocess.run(["git", "-C", str(clone), *args], check=True)  # noqa: E731
    assert main(["adopt", "--repo", str(clone)]) == 0
    git("merge", "-q", "--no-ff", "--no-edit", "factory/adopt")
    assert "after: dev" in (clone / "factory.yaml").read_text()  # the smoke runner's handoff
    # worker's smoke passes in dev: the handoff finds no prod target and records the skip.
    land_verdict(
        clone,
        store.new_body(
            kind="smoke",
            service="worker",
            result="success",
            details={
                "method": "http",
                "env": "dev",
                "verdict": "passed",
                "release_id": "20260330T120000Z-worker-sha-1111111",
                "digest": WORKER_DIGEST,
            },
        ),
    )
    status = _status_rows(clone, capsys)
    build_site(clone, tmp_path / "site")
    summary = json.loads((tmp_path / "site" / "data" / "summary.json").read_text())
    assert [row["status"] for row in summary["services"]] == status
    lanes = {(r["service"], r["env"]): r["pinned"] for r in status}
    assert lanes == {
        ("api", "prod"): None,  # requested, not pinned yet
        ("api", "dev"): DIGEST_A,  # the hand-pinned overlay's lane: its last promoted release
        ("worker", "dev"): WORKER_DIGEST,  # pinned by the legacy promoter
    }
    # Not the frozen template's `<svc>`, nor a prod row for worker, which has no prod target.
    assert [(r["service"], r["env"]) for r in summary["services"]] == list(lanes)
    assert not any("<svc>" in w or "__DIGEST__" in w for w in summary["warnings"])
    lines = [line for b in summary["blocks"] for line in _timeline(tmp_path, b)]
    (skip,) = [line for line in lines if (line["service"], line.get("env")) == ("worker", "prod")]
    assert skip["event"] == "handoff" and "requested_at" not in skip  # the skip, on record

    page = browser.new_page()
    try:
        page.open(serve(tmp_path / "site"))
        shown = page.eval(
            "[...document.querySelectorAll('#matrix tr[data-service]')].map(tr => "
            "[tr.dataset.service, tr.dataset.env, ...[...tr.children].map(c => c.title || c.textContent)])"
        )
        # service, env, pinned digest (in full, as the cell's title), tag, release, hold
        assert [[r[0], r[1], r[3], r[4], r[6], r[9]] for r in shown] == [
            [
                s["service"],
                s["env"],
                s["pinned"] or "–",
                s["tag"] or "–",
                s["release_id"] or "–",
                "hold" if s["hold"] else "–",
            ]
            for s in status
        ]
    finally:
        page.close()


def _timeline(root: Path, block: dict) -> list[dict]:
    return json.loads((root / "site" / block["timeline"]["path"]).read_text())["records"]
