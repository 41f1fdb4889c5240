"""A smoke verdict lands on the remote with its record and shows on the release; it never un-pins."""

from __future__ import annotations

import http.server
import threading

import pytest

from factory_assets.pins.pin_file import read_pin
from factory_assets.promotion.promote_pass import run_pass
from factory_assets.release.add import add_release
from factory_assets.release.queue_file import load_queue
from factory_assets.smoke.landing import smoke_checks_and_land
from resources.registry import RegistryClient
from tests.support.evidence import validate_cli
from tests.support.oci import push_image


@pytest.fixture
def unhealthy_endpoint():
    class Down(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - http.server's naming
            self.send_response(503)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Down)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/ready"
    server.shutdown()


def test_failed_smoke_is_on_the_release_and_the_pin_stays(
    registry, unique_repo, harbor_env, gitops_remote, unhealthy_endpoint
):
    harbor_env(registry)
    digest = push_image(registry, unique_repo, "1.0.0")
    gitops_remote.commit_and_push(
        {
            "envs/dev/api.yaml": f"service: api\nsmoke:\n  url: {unhealthy_endpoint}\n  timeout_seconds: 1\n  interval_seconds: 0.2\n"
        },
        "api smoke settings",
    )
    added = add_release(
        gitops_remote.new_clone("dev"),
        service="api",
        tag="1.0.0",
        image=registry.image(unique_repo),
        requested_by="dev",
        push=True,
    )
    with RegistryClient.from_env() as client:
        assert run_pass(gitops_remote.clone, registry=client).ok

    (outcome,) = smoke_checks_and_land(gitops_remote.clone)
    assert outcome.verdict in ("failed", "timeout")

    fresh = gitops_remote.new_clone("verify")
    entry = load_queue(fresh).queue.by_id(added.entry.id)
    assert entry.state == "promoted"
    assert (entry.smoke_verdict, entry.smoke_evidence) == (outcome.verdict, outcome.record.id)
    assert read_pin(fresh, "api").pin.image.endswith("@" + digest)  # not un-pinned
    assert (fresh / "evidence" / "records" / f"{outcome.record.id}.json").exists()
    assert validate_cli(fresh).returncode == 0
