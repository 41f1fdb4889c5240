"""The dashboard of an ljwx-layout repository: one section per environment, DORA per env,
built from the records and the four-list queue, checked in headless chromium."""

from __future__ import annotations

import json

import pytest

from factory_assets.promotion import run_pass
from factory_assets.site.build import build_site
from resources.registries import EnvRegistries
from tests.site.conftest import browser, serve  # noqa: F401 - fixtures shared with tests/site
from tests.support.ljwx import EMPTY_QUEUE, LjwxRepo

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
    assert rows[("api", "dev")]["pinned"]["digest"] == api
    assert rows[("api", "prod")]["pinned"]["digest"] == api
    assert rows[("batch", "prod")]["queue"]["latest"]["state"] == "waiting"
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
    finally:
        page.close()
