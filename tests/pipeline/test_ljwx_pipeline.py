"""The prod handoff of the ljwx-deploy layout, done by the factory: dev pinned -> smoke passed
(targets file) -> tagged prod-<tag> on the dev Harbor -> prod queued in the four-list queue ->
replica appears -> prod pinned from the prod Harbor -> prod smoke passed."""

from __future__ import annotations

import json

import pytest

from factory_assets.promotion import run_pass
from factory_assets.site.build import build_site
from factory_assets.smoke.landing import smoke_checks_and_land
from resources.registry import RegistryClient
from resources.registry.environments import EnvRegistries
from tests.layout.conftest import ljwx  # noqa: F401
from tests.site.conftest import browser, serve  # noqa: F401
from tests.smoke.conftest import Answer
from tests.support.ljwx import EMPTY_QUEUE, PUBLIC, LjwxRepo
from tests.support.queue_rules import queue_errors

LAYOUT = """\
queue: {path: release/queue.yaml, format: four-lists}
service_map: release/services.yaml
smoke_targets: scripts/smoke/targets.json
environments:
  dev: {pins: overlays}
  prod: {pins: overlays, after: dev, retag: prod-}
"""


def _pass(clone, envs):
    registries = EnvRegistries()
    try:
        return run_pass(clone, registry=registries, envs=envs)
    finally:
        registries.close()


@pytest.mark.xdist_group("chromium")
def test_dev_to_prod_in_the_ljwx_layout(ljwx: LjwxRepo, endpoint, tmp_path, browser, serve):  # noqa: F811
    targets = {
        "profile": "test",
        "targets": [
            {
                "service": s,
                "environment": e,
                "argocd_app": "",
                "endpoint": endpoint.script(f"/{s}-{e}", Answer(200, b'{"status":"ok"}')),
            }
            for s, e in (("api", "dev"), ("api", "prod"), ("worker", "dev"))
        ],
    }
    ljwx.remote.commit_and_push(
        {"factory.yaml": LAYOUT, "scripts/smoke/targets.json": json.dumps(targets)}, "pipeline"
    )
    api = ljwx.replicate("dev", "api", "api pipeline")
    worker = ljwx.replicate("dev", "worker", "worker pipeline")
    at = "2026-04-13T10:00:00Z"
    pending = ljwx.entry("api", "dev", api, tag="sha-4417092", git_sha="'4417092'", at=at)
    pending += ljwx.entry("worker", "dev", worker, tag="sha-5e6f7a8", git_sha="5e6f7a8", at=at)
    ljwx.remote.commit_and_push(
        {"release/queue.yaml": EMPTY_QUEUE.replace("pending: []\n", "pending:\n" + pending)}, "q"
    )
    assert _pass(ljwx.clone, {"dev"}).ok
    outcomes = smoke_checks_and_land(ljwx.clone, environments=["dev"])
    assert sorted((o.service, o.verdict) for o in outcomes) == [
        ("api", "passed"),
        ("worker", "passed"),
    ]

    text = ljwx.show("release/queue.yaml")
    assert queue_errors(text) == []
    prod_ids = [i for i in (e["id"] for e in ljwx.queue()["pending"]) if i.endswith("-prod")]
    assert (
        len(prod_ids) == 1 and "-api-sha-4417092-prod" in prod_ids[0]
    )  # worker has no prod target
    _, stage = ljwx.find(prod_ids[0])
    assert stage["source"]["digest"] == api and stage["env"] == "prod"
    assert stage["meta"]["factory"]["upstream"] == "20260413T100000Z-api-sha-4417092"
    _, worker_entry = ljwx.find("20260413T100000Z-worker-sha-5e6f7a8")
    assert worker_entry["meta"]["factory"]["handedOff"] == {"prod": "skipped"}
    with RegistryClient(ljwx.dev.url) as client:  # tagged where Harbor's prod-* rule reads
        assert client.head_digest(ljwx.harbor("dev", "api"), "prod-sha-4417092") == api

    assert [o.result for o in _pass(ljwx.clone, {"prod"}).outcomes] == ["waiting"]
    assert ljwx.replicate("prod", "api", "api pipeline") == api  # the replication rule ran
    assert [o.result for o in _pass(ljwx.clone, {"prod"}).outcomes] == ["success"]
    assert f"digest: {api}" in ljwx.show("apps/api/overlays/prod/kustomization.yaml")
    assert f"newName: {ljwx.prod.host}/{ljwx.project}/api" in ljwx.show(
        "apps/api/overlays/prod/kustomization.yaml"
    )
    (prod_smoke,) = smoke_checks_and_land(ljwx.clone, environments=["prod"])
    assert prod_smoke.verdict == "passed"
    assert prod_smoke.record.details.env == "prod" and prod_smoke.record.details.digest == api
    # dev deploys the public repository, prod its own Harbor (deployImage)
    assert f"newName: {PUBLIC}/api" in ljwx.show("apps/api/overlays/dev/kustomization.yaml")
    assert queue_errors(ljwx.show("release/queue.yaml")) == []

    # The dashboard's pipeline view: where each release is, and its lead time to prod healthy.
    build_site(ljwx.remote.new_clone("site"), tmp_path / "site")
    pipeline = json.loads((tmp_path / "site" / "data" / "summary.json").read_text())["pipeline"]
    assert pipeline["stages"] == ["dev", "prod"]
    rows = {row["service"]: row for row in pipeline["rows"]}
    dev_cell, prod_cell = rows["api"]["cells"]
    assert (dev_cell["where"], prod_cell["where"]) == ("promoted", "promoted")
    assert prod_cell["healthy_at"] and rows["api"]["lead_time_ms"] > 0
    assert rows["worker"]["cells"][1]["where"] == "no target"
    page = browser.new_page()
    try:
        page.open(serve(tmp_path / "site"))
        page.wait_for("!document.getElementById('pipeline-panel').hidden")
        cells = page.eval(
            "[...document.querySelectorAll('#pipeline tbody tr')].map(tr => "
            "[...tr.children].map(c => c.textContent))"
        )
        shown = {row[0]: row for row in cells}
        assert shown["api"][2].startswith("promoted healthy") and shown["api"][3].startswith(
            "promoted healthy"
        )
        assert shown["worker"][3] == "no target"
    finally:
        page.close()
