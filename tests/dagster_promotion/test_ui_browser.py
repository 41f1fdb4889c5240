"""The Dagster UI in a real browser: headless Chromium shows lane_pin's lineage and what it pinned.

A `lane_pin` partition is materialized through dagster-webserver (as in test_webserver_ui);
then Debian's chromium opens the webserver's own pages, and the rendered text must show the
asset's lineage (digest_preview -> lane_pin -> smoke_result) and, for the `dev|api` partition's
materialization, the pinned digest and the evidence record id.
"""

from __future__ import annotations

import json
import re
import shutil
from urllib.parse import quote

import httpx
import pytest

from factory_assets.release.add import add_release
from factory_assets.release.queue_file import load_queue
from tests.dagster_promotion.test_webserver_ui import (
    ADD_PARTITION,
    LAUNCH,
    _finished,
    _up,
    graphql,
)
from tests.site.chromium import CHROMIUM, Browser, CDPError
from tests.support.dagster_daemon import free_port, start_webserver, wait_for
from tests.support.oci import push_image

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not shutil.which(CHROMIUM), reason="Debian's chromium is not installed"),
]

PARTITION = "dev|api"  # the (env, service) lane of the `api` service in dev
BODY_TEXT = "document.body ? document.body.innerText : ''"


def _shows(page, needles: list[str], timeout: float) -> str:
    """Wait until the rendered page text holds every needle; return that text."""
    expression = (
        f"(() => {{ const t = {BODY_TEXT}; "
        f"return {json.dumps(needles)}.every(n => t.includes(n)) ? t : ''; }})()"
    )
    try:
        return page.wait_for(expression, timeout=timeout, interval=0.5)
    except CDPError:
        raise AssertionError(
            f"the page never showed {needles}; it shows:\n{(page.eval(BODY_TEXT) or '')[:3000]}"
        ) from None


def test_ui_shows_the_lineage_and_the_partitions_digest_and_evidence(
    tmp_path, registry, unique_repo, harbor_env, gitops_remote
):
    env = harbor_env(registry)
    digest = push_image(registry, unique_repo, "4.2.0")
    add_release(
        gitops_remote.new_clone("dev"),
        service="api",
        tag="4.2.0",
        image=registry.image(unique_repo),
        requested_by="dev",
        push=True,
    )
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text(
        "telemetry:\n  enabled: false\n"
        "run_coordinator:\n  module: dagster._core.run_coordinator\n  class: DefaultRunCoordinator\n"
    )
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = start_webserver(
        home, {**env, "FACTORY_REPO": str(gitops_remote.clone)}, tmp_path / "web.log", port
    )
    browser = None
    try:
        with httpx.Client(base_url=base, timeout=30) as client:
            wait_for(lambda: _up(client), 90, what=lambda: f"webserver\n{server.log()[-2000:]}")
            selector = {"repositoryLocationName": "factory", "repositoryName": "__repository__"}
            graphql(client, ADD_PARTITION, {"selector": selector, "name": "services", "key": "api"})
            graphql(client, ADD_PARTITION, {"selector": selector, "name": "envs", "key": "dev"})
            params = {
                "selector": {
                    **selector,
                    "jobName": "__ASSET_JOB",
                    "assetSelection": [{"path": ["digest_preview"]}, {"path": ["lane_pin"]}],
                },
                "executionMetadata": {
                    "tags": [
                        {"key": "dagster/partition", "value": PARTITION},
                        {"key": "dagster/partition/env", "value": "dev"},
                        {"key": "dagster/partition/service", "value": "api"},
                    ]
                },
                "mode": "default",
            }
            launched = graphql(client, LAUNCH, {"params": params})["launchPipelineExecution"]
            assert launched["__typename"] == "LaunchRunSuccess", launched
            run_id = launched["run"]["runId"]
            status = wait_for(
                lambda: _finished(client, run_id),
                150,
                what=lambda: f"run {run_id}\n{server.log()[-3000:]}",
            )
            assert status == "SUCCESS", status
        (entry,) = load_queue(gitops_remote.new_clone("check")).queue.entries
        assert entry.state == "promoted" and entry.evidence
        evidence_id = entry.evidence

        browser = Browser(tmp_path / "chromium-profile")
        page = browser.new_page()
        # The asset's lineage: the upstream digest check and the downstream smoke check.
        page.navigate(f"{base}/assets/lane_pin?view=lineage&lineageScope=neighbors")
        _shows(page, ["digest_preview", "lane_pin", "smoke_result"], timeout=90)
        # The `api` partition's materialization, with the metadata the run recorded.
        page.navigate(f"{base}/assets/lane_pin?view=partitions&partition={quote(PARTITION)}")
        text = _shows(page, [digest, evidence_id], timeout=90)
        # Each value in the cell beside its own metadata label, in the run launched above.
        for label, value in (("digest", digest), ("evidence_id", evidence_id), ("Run", run_id[:8])):
            assert re.search(rf"(?m)^{label}\s+{re.escape(value)}\s", text), (label, text[:3000])
    finally:
        if browser is not None:
            browser.close()
        server.stop()
