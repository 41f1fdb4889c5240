"""Promotion against real registries: tag, digest, index, auth variants, 404 then present, 5xx, 401, host."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest

from factory_assets.common import roundtrip_yaml
from factory_assets.common.clock import utc_now
from factory_assets.evidence.validate import validate_repo
from resources.registry import MANIFEST_ACCEPT, OCI_INDEX, OCI_MANIFEST
from tests.promotion.conftest import Deploy
from tests.support.oci import push_image, push_multiarch


def record(deploy: Deploy, record_id: str) -> dict:
    return json.loads(deploy.show(f"evidence/records/{record_id}.json"))


def assert_chain_valid(deploy: Deploy) -> None:
    clone = deploy.remote.new_clone()
    count, problems = validate_repo(clone)
    assert problems == [] and count > 0


def test_tag_is_resolved_once_and_pinned_by_digest(deploy: Deploy) -> None:
    digest = deploy.push("api", "v1")
    entry = deploy.add("api", tag="v1")
    result = deploy.run()
    assert result.ok and result.exit_code == 0
    (outcome,) = result.outcomes
    assert (outcome.result, outcome.digest, outcome.tag, outcome.media_type) == (
        "success",
        digest,
        "v1",
        OCI_MANIFEST,
    )
    pin = deploy.pin("api")
    assert (
        pin["image"] == f"{deploy.image('api')}@{digest}"
        and pin["tag"] == "v1"
        and pin["release_id"] == entry.id
    )
    done = deploy.queue().by_id(entry.id)
    assert (done.state, done.digest, done.attempts, done.promoted_commit) == (
        "promoted",
        digest,
        1,
        outcome.commit,
    )
    rec = record(deploy, done.evidence)
    assert rec["result"] == "success" and rec["links"]["commit"] == outcome.commit
    details = rec["details"]
    assert details["digest"] == digest and details["event"] == "attempt"
    by_tag, by_digest = details["verification"]
    assert by_tag["accept"] == MANIFEST_ACCEPT and by_tag["url"].endswith("/manifests/v1")
    assert by_tag["computed_digest"] == digest == by_digest["computed_digest"]
    assert by_tag["header_digest"] == digest and by_tag["status"] == 200
    assert details["pin"] == [
        {"path": "envs/dev/api.yaml", "before": None, "after": f"{deploy.image('api')}@{digest}"}
    ]
    assert details["push"].startswith("pushed ")
    assert [p["id"] for p in rec["parents"]] == [entry.evidence]  # the request record
    assert_chain_valid(deploy)


def test_digest_request_is_pinned_exactly(deploy: Deploy) -> None:
    digest = deploy.push("api", None)
    deploy.add("api", digest=digest)
    (outcome,) = deploy.run().outcomes
    assert outcome.result == "success" and outcome.digest == digest and outcome.tag is None
    assert deploy.pin("api")["image"].endswith("@" + digest) and "tag" not in deploy.pin("api")


def test_multi_arch_tag_pins_the_index_digest(deploy: Deploy) -> None:
    pushed = push_multiarch(deploy.registry, f"{deploy.prefix}/api", "v2")
    deploy.add("api", tag="v2")
    (outcome,) = deploy.run().outcomes
    assert outcome.digest == pushed.index_digest and outcome.media_type == OCI_INDEX
    assert outcome.digest not in pushed.children.values()


def test_digest_that_appears_later_is_retried_then_promoted(deploy: Deploy, monkeypatch) -> None:
    monkeypatch.setenv("FACTORY_RETRY_BASE_SECONDS", "30")
    content = b"replicated later"
    digest = push_image(
        deploy.registry, f"{deploy.prefix}/elsewhere", None, content=content
    )  # same bytes, other repo
    entry = deploy.add("api", digest=digest)
    start = utc_now()  # the pass's clock, given: the back-off is exact, whatever the load
    first = deploy.run(now=start)
    (outcome,) = first.outcomes
    assert outcome.result == "retry" and first.exit_code == 1
    waiting = deploy.queue().by_id(entry.id)
    assert (waiting.state, waiting.attempts) == ("pending", 1)
    assert f"{deploy.prefix}/api@{digest}: manifest not found" in waiting.last_error, waiting
    assert waiting.next_attempt_at == start + timedelta(seconds=30)
    # still in back-off a second before: nothing attempted
    assert deploy.run(now=start + timedelta(seconds=29)).outcomes == ()
    assert push_image(deploy.registry, f"{deploy.prefix}/api", None, content=content) == digest
    second = deploy.run(now=start + timedelta(seconds=30))
    assert [o.result for o in second.outcomes] == ["success"] and second.outcomes[0].attempt == 2
    rec = record(deploy, deploy.queue().by_id(entry.id).evidence)
    assert (
        record(deploy, rec["parents"][0]["id"])["details"]["retryable"] is True
    )  # parent: the failed attempt


def test_server_errors_back_off_then_fail_after_max_attempts(
    deploy_proxy: Deploy, monkeypatch
) -> None:
    monkeypatch.setenv("FACTORY_RETRY_BASE_SECONDS", "10")
    deploy = deploy_proxy
    deploy.push("api", "v1")
    entry = deploy.add("api", tag="v1")
    deploy.registry.fail_next(1000, 503, path="/manifests/")
    now = utc_now()
    for attempt in range(1, 6):
        result = deploy.run(now=now, client_kwargs={"retries": 0})
        (outcome,) = result.outcomes
        current = deploy.queue().by_id(entry.id)
        assert current.attempts == attempt and "503" in current.last_error
        if attempt < 5:
            assert outcome.result == "retry" and current.state == "pending"
            assert current.next_attempt_at == now + timedelta(seconds=10 * 2 ** (attempt - 1))
            now = current.next_attempt_at
        else:
            assert outcome.result == "failure" and current.state == "failed"
            assert "gave up after 5 attempts" in current.last_error
    deploy.registry.clear_faults()
    assert deploy.run(now=now + timedelta(hours=1)).outcomes == ()  # failed is final


def test_basic_auth_registry_and_no_secret_anywhere(make_registry, gitops_remote) -> None:
    registry = make_registry("basic")
    deploy = Deploy(gitops_remote, registry)
    digest = deploy.push("api", "v1")
    deploy.add("api", tag="v1")
    (outcome,) = deploy.run().outcomes
    assert outcome.result == "success" and outcome.digest == digest
    assert_no_secret(deploy, registry.password)


def test_token_auth_registry(make_registry, gitops_remote) -> None:
    registry = make_registry("token")
    deploy = Deploy(gitops_remote, registry)
    digest = deploy.push("api", "v1")
    deploy.add("api", tag="v1")
    (outcome,) = deploy.run().outcomes
    assert outcome.result == "success" and outcome.digest == digest
    assert registry.token_issuer.request_count >= 1
    assert_no_secret(deploy, registry.password)


def test_unauthorized_fails_fast(make_registry, gitops_remote) -> None:
    registry = make_registry("basic")
    deploy = Deploy(gitops_remote, registry)
    deploy.push("api", "v1")
    entry = deploy.add("api", tag="v1")
    registry_password = registry.password
    registry.password = "wrong-" + registry_password
    result = deploy.run()
    (outcome,) = result.outcomes
    assert outcome.result == "failure" and result.exit_code == 1
    failed = deploy.queue().by_id(entry.id)
    assert (failed.state, failed.attempts) == ("failed", 1) and "401" in failed.last_error
    assert record(deploy, failed.evidence)["details"]["retryable"] is False
    assert_no_secret(deploy, registry.password)


def test_image_on_another_host_is_refused_without_a_request(deploy: Deploy) -> None:
    text = deploy.show("release/queue.yaml")
    data = roundtrip_yaml.loads(text, "q")
    data["releases"] = [
        {
            "id": "r-evil",
            "service": "api",
            "image": "registry.evil.example:5000/factory/api",
            "tag": "v1",
            "requested_at": "2026-01-01T00:00:00Z",
            "requested_by": "mallory",
        }
    ]
    deploy.commit({"release/queue.yaml": roundtrip_yaml.dumps(data)}, "hand-edited queue")
    result = deploy.run()
    (outcome,) = result.outcomes
    assert outcome.result == "refused" and result.exit_code == 1
    failed = deploy.queue().by_id("r-evil")
    assert failed.state == "failed" and "is not on the configured registry" in failed.last_error
    assert record(deploy, failed.evidence)["result"] == "refused"
    assert deploy.pin("api") is None


def assert_no_secret(deploy: Deploy, secret: str) -> None:
    """The password never reaches the queue, pins, evidence or commit messages."""
    clone: Path = deploy.remote.new_clone()
    for path in clone.rglob("*"):
        if path.is_file() and ".git" not in path.parts:
            assert secret not in path.read_text(errors="replace"), path
    assert secret not in deploy.git("log", "--format=%B", "main")


@pytest.fixture
def deploy_proxy(gitops_remote, fault_proxy) -> Deploy:
    return Deploy(gitops_remote, fault_proxy)
