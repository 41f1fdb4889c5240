"""The HTTP readiness fallback against real local HTTP servers."""

from __future__ import annotations

import httpx
import pytest

from factory_assets.smoke.check import check_service
from factory_assets.smoke.config import ExpectSpec
from factory_assets.smoke.readiness import probe_readiness, resolve_expected
from tests.smoke.conftest import Answer, digest_of, promote

FAST = {"interval_seconds": 0.02, "timeout_seconds": 3, "request_timeout_seconds": 1}
DIGEST = digest_of("api-1")


def probe(url, **kwargs):
    with httpx.Client() as client:
        return probe_readiness(client, url, **kwargs)


def expect(**spec):
    return resolve_expected(ExpectSpec.model_validate(spec), digest=DIGEST, version="1.2.3")


def test_2xx_passes(endpoint):
    assert probe(endpoint.script("/ready", Answer(204, b""))).state == "pass"


@pytest.mark.parametrize("status", [404, 500, 503])
def test_non_2xx_waits(endpoint, status):
    result = probe(endpoint.script("/ready", Answer(status, b"no")))
    assert result.state == "wait" and result.observation["http_status"] == status


def test_connection_refused_waits_as_unavailable():
    result = probe("http://127.0.0.1:9/ready", timeout_seconds=1)
    assert result.state == "wait" and result.error == "unavailable"


def test_same_host_redirect_is_followed(endpoint):
    endpoint.script("/final", Answer.json({"ok": True}))
    url = endpoint.script("/ready", Answer.redirect("/final"))
    assert probe(url).state == "pass"
    assert endpoint.hits == ["/ready", "/final"]


def test_redirect_to_another_host_is_refused_and_not_followed(endpoint, make_endpoint):
    other = make_endpoint()
    target = other.script("/elsewhere", Answer(200, b"ok")).replace("127.0.0.1", "localhost")
    result = probe(endpoint.script("/ready", Answer.redirect(target)))
    assert result.state == "fail" and "another host (localhost)" in result.reason
    assert other.hits == []  # never contacted


def test_redirect_to_an_allowed_host_is_followed(endpoint, make_endpoint):
    other = make_endpoint()
    target = other.script("/elsewhere", Answer(200, b"ok")).replace("127.0.0.1", "localhost")
    url = endpoint.script("/ready", Answer.redirect(target))
    assert probe(url, allow_redirect_hosts=["localhost"]).state == "pass"
    assert other.hits == ["/elsewhere"]


def test_redirect_to_another_scheme_is_refused(endpoint):
    result = probe(endpoint.script("/ready", Answer.redirect("file:///etc/passwd")))
    assert result.state == "fail" and "http" in result.reason


def test_redirect_loop_is_bounded(endpoint):
    result = probe(endpoint.script("/ready", Answer.redirect("/ready")))
    assert result.state == "fail" and "redirects" in result.reason


def test_expected_json_field_equal_to_the_digest(endpoint):
    url = endpoint.script("/version", Answer.json({"build": {"images": [{"digest": DIGEST}]}}))
    assert (
        probe(url, expected=expect(json="build.images.0.digest", equals="digest")).state == "pass"
    )


def test_an_image_reference_with_the_digest_matches(endpoint):
    url = endpoint.script(
        "/version", Answer.json({"image": f"registry.example.invalid/team/api@{DIGEST}"})
    )
    assert probe(url, expected=expect(json="image", equals="digest")).state == "pass"


def test_old_version_still_answering_waits(endpoint):
    url = endpoint.script("/version", Answer.json({"digest": digest_of("old")}))
    result = probe(url, expected=expect(json="digest", equals="digest"))
    assert result.state == "wait" and "expected" in result.reason


def test_missing_field_or_non_json_waits(endpoint):
    url = endpoint.script("/a", Answer.json({"other": 1}))
    assert probe(url, expected=expect(json="digest", equals="digest")).state == "wait"
    url = endpoint.script("/b", Answer(200, b"<html>"))
    result = probe(url, expected=expect(json="digest", equals="digest"))
    assert result.state == "wait" and "not JSON" in result.reason


def test_expected_header_equal_to_the_version(endpoint):
    url = endpoint.script("/ready", Answer(200, b"ok", {"X-App-Version": "1.2.3"}))
    assert probe(url, expected=expect(header="x-app-version", equals="version")).state == "pass"
    url = endpoint.script("/old", Answer(200, b"ok", {"X-App-Version": "1.2.2"}))
    assert probe(url, expected=expect(header="X-App-Version", equals="version")).state == "wait"


def test_literal_expected_value(endpoint):
    url = endpoint.script("/ready", Answer.json({"status": "ready"}))
    assert probe(url, expected=expect(json="status", equals="ready")).state == "pass"


def test_expect_needs_exactly_one_source():
    with pytest.raises(ValueError, match="exactly one"):
        ExpectSpec.model_validate({"json": "a", "header": "B", "equals": "digest"})
    with pytest.raises(ValueError, match="exactly one"):
        ExpectSpec.model_validate({"equals": "digest"})


# --- through check_service: polling, records ------------------------------------------------


def test_endpoint_becoming_ready_with_the_new_digest_passes(gitops_remote, endpoint):
    p = promote(
        gitops_remote,
        "api",
        smoke={
            "url": endpoint.url("/version"),
            "expect": {"json": "digest", "equals": "digest"},
            **FAST,
        },
    )
    endpoint.script(
        "/version",
        Answer(503, b"starting"),
        Answer(503, b"starting"),
        Answer.json({"digest": digest_of("old")}),
        Answer.json({"digest": p.digest}),
    )
    outcome = check_service(gitops_remote.clone, "api", env={})
    assert outcome.verdict == "passed" and outcome.method == "http"
    statuses = [(o.http_status, o.count) for o in outcome.record.details.observations]
    assert statuses == [(503, 2), (200, 1), (200, 1)]
    assert outcome.record.details.target == endpoint.url("/version")
    assert outcome.record.parents[0].id == p.record.id


def test_endpoint_never_ready_times_out(gitops_remote, endpoint):
    promote(
        gitops_remote, "api", smoke={"url": endpoint.url("/ready"), **FAST, "timeout_seconds": 0.3}
    )
    endpoint.script("/ready", Answer(503, b"no"))
    outcome = check_service(gitops_remote.clone, "api", env={})
    assert outcome.verdict == "timeout" and "503" in outcome.reason


def test_redirect_to_another_host_fails_the_check(gitops_remote, endpoint):
    promote(gitops_remote, "api", smoke={"url": endpoint.url("/ready"), **FAST})
    endpoint.script("/ready", Answer.redirect("http://login.example.invalid/"))
    outcome = check_service(gitops_remote.clone, "api", env={})
    assert outcome.verdict == "failed" and "login.example.invalid" in outcome.reason


def test_expect_version_without_a_tag_is_a_config_failure(gitops_remote, endpoint):
    promote(
        gitops_remote,
        "api",
        smoke={"url": endpoint.url("/ready"), "expect": {"header": "X-V", "equals": "version"}},
        tag="",
    )
    outcome = check_service(gitops_remote.clone, "api", env={})
    assert outcome.error == "config" and "no `tag`" in outcome.reason
