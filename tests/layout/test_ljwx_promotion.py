"""Promotion on a repository in the ljwx-deploy layout: four-list queue, service map, overlays.

Real parts: two `docker-registry` processes as the dev and prod Harbor, a git remote, and
`kubectl kustomize` rendering each overlay (the pin is proven by the rendered image).
"""

from __future__ import annotations

import shutil
import subprocess
from datetime import datetime, timedelta

import pytest

from factory_assets.common.clock import utc_now
from factory_assets.common.errors import InputError
from factory_assets.evidence import store
from factory_assets.pins import kustomize_tool
from factory_assets.promotion import run_pass
from resources.registry.environments import EnvRegistries
from tests.support.ljwx import (
    EMPTY_QUEUE,
    HARBOR_EU,
    PUBLIC,
    LjwxRepo,
    remapped_batch,
    rendered_images,
)
from tests.support.queue_rules import queue_errors


def _push_queue(repo: LjwxRepo, pending: str) -> None:
    text = EMPTY_QUEUE.replace("pending: []\n", "pending:\n" + pending)
    assert queue_errors(text) == []
    repo.remote.commit_and_push({"release/queue.yaml": text}, "queue(ci): entries")


def _pass(repo: LjwxRepo, envs: set[str] | None, now: datetime | None = None):
    registries = EnvRegistries()
    try:
        return run_pass(repo.clone, registry=registries, envs=envs, now=now)
    finally:
        registries.close()


def _record(repo: LjwxRepo, record_id: str) -> dict:
    checkout = repo.remote.new_clone()
    return store.load_record(checkout, record_id).model_dump(mode="json")


def test_dev_runner_pins_overlays_and_never_touches_prod(ljwx: LjwxRepo):
    api = ljwx.replicate("dev", "api", "api 1")
    worker = ljwx.replicate("dev", "worker", "worker 1")
    cron = ljwx.replicate("dev", "worker-cron", "cron 1")
    prod_api = ljwx.replicate("prod", "api", "api 1")
    assert prod_api == api  # a replica has the same digest
    at = "2026-04-01T09:00:00Z"
    _push_queue(
        ljwx,
        ljwx.entry("api", "dev", api, tag="sha-4417092", git_sha="'4417092'", at=at)
        + ljwx.entry("worker", "dev", worker, tag="sha-1234e56", git_sha="1234e56", at=at)
        + ljwx.entry("worker-cron", "dev", cron, tag="sha-abcdef0", git_sha="abcdef0", at=at)
        + ljwx.entry("api", "prod", api, tag="sha-4417092", git_sha="'4417092'", at=at),
    )
    before = ljwx.remote.remote_head()
    result = _pass(ljwx, {"dev"})
    assert result.ok, result.to_dict()
    assert sorted((o.service, o.env, o.result) for o in result.outcomes) == [
        ("api", "dev", "success"),
        ("worker", "dev", "success"),
        ("worker-cron", "dev", "success"),
    ]
    text = ljwx.show("release/queue.yaml")
    assert queue_errors(text) == []
    # One pin commit for the env, whatever the number of services.
    log = subprocess.run(
        ["git", "--git-dir", str(ljwx.remote.bare), "log", "--format=%s", f"{before}..main"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    assert sum(1 for line in log if line.startswith("factory: pin")) == 1
    # The prod entry is exactly as service CI wrote it.
    assert ljwx.find("20260401T090000Z-api-sha-4417092-prod")[0] == "pending"
    assert "- id: 20260401T090000Z-api-sha-4417092-prod\n  service: api\n  env: prod\n" in text
    name, entry = ljwx.find("20260401T090000Z-worker-sha-1234e56")
    assert name == "promoted" and entry["status"] == "promoted" and entry["attempts"] == 1
    assert "gitSha: 1234e56\n" in text  # a YAML 1.2 float lookalike stays as written
    assert entry["meta"]["factory"]["evidence"]
    # The pins, proven by rendering: the deploy image is the request's public repository.
    assert rendered_images(ljwx.remote.new_clone() / "apps/api/overlays/dev") == [
        f"{PUBLIC}/api@{api}"
    ]
    assert rendered_images(ljwx.remote.new_clone() / "apps/worker/overlays/dev") == sorted(
        [f"{PUBLIC}/worker@{worker}", f"{PUBLIC}/worker-cron@{cron}"]
    )
    overlay = ljwx.show("apps/api/overlays/dev/kustomization.yaml")
    assert "  # pinned by hand during an incident\n  - name: ghcr.example/acme/api\n" in overlay
    assert 'newTag: "7.2"' in overlay and 'newTag: "dev"' not in overlay
    record = _record(ljwx, entry["meta"]["factory"]["evidence"])
    assert record["details"]["env"] == "dev"
    assert "kustomize" in record["details"]["pin_proof"]
    assert record["details"]["verification"][0]["url"].startswith(ljwx.dev.url)


def test_prod_runner_refuses_a_silent_no_op_and_an_unmapped_target(ljwx: LjwxRepo):
    api = ljwx.replicate("prod", "api", "api 2")
    web = ljwx.replicate("prod", "web", "web 2")
    batch = ljwx.replicate("prod", "batch", "batch 2")
    at = "2026-04-02T10:00:00Z"
    _push_queue(
        ljwx,
        ljwx.entry("api", "prod", api, tag="sha-0000001", git_sha="'0000001'", at=at)
        + ljwx.entry("web", "prod", web, tag="sha-0000002", git_sha="'0000002'", at=at)
        + ljwx.entry("batch", "prod", batch, tag="sha-0000003", git_sha="'0000003'", at=at)
        + ljwx.entry("ghost", "prod", batch, tag="sha-0000004", git_sha="'0000004'", at=at),
    )
    web_overlay = ljwx.show("apps/web/overlays/prod/kustomization.yaml")
    result = _pass(ljwx, {"prod"})
    by = {o.service: o for o in result.outcomes}
    assert (by["api"].result, by["batch"].result) == ("success", "success")
    assert by["web"].result == "refused" and by["ghost"].result == "refused"
    assert result.exit_code == 1
    assert queue_errors(ljwx.show("release/queue.yaml")) == []
    # api deploys from the prod Harbor (deployImage); batch from the request's repository.
    assert f"{ljwx.prod.host}/{ljwx.project}/api@{api}" in rendered_images(
        ljwx.remote.new_clone() / "apps/api/overlays/prod"
    )
    assert rendered_images(ljwx.remote.new_clone() / "apps/batch/overlays/prod") == [
        f"{PUBLIC}/batch@{batch}"
    ]
    # The wrong map name: refused, named, nothing written to the overlay.
    name, entry = ljwx.find("20260402T100000Z-web-sha-0000002-prod")
    assert name == "failed" and entry["failedAt"]
    assert "apps/web/overlays/prod/kustomization.yaml" in entry["lastError"]
    assert f"{ljwx.prod.host}/{ljwx.project}/web" in entry["lastError"]
    assert f"{PUBLIC}/web:latest" in entry["lastError"]  # what the manifests actually use
    assert ljwx.show("apps/web/overlays/prod/kustomization.yaml") == web_overlay
    record = _record(ljwx, entry["meta"]["factory"]["evidence"])
    assert record["result"] == "refused" and "matches no image" in record["details"]["error"]
    name, entry = ljwx.find("20260402T100000Z-ghost-sha-0000004-prod")
    assert name == "failed" and "services.ghost.envs.prod" in entry["lastError"]


STALE = "sha256:" + "5" * 64


def test_a_remapped_entry_is_repinned_in_place_not_shadowed(ljwx: LjwxRepo):
    # The entry is named after the Harbor image; the map names its newName. It is the pin:
    # a second entry beside it would render right but leave the first digest stale forever.
    ljwx.remote.commit_and_push(remapped_batch(STALE), "batch: the remapped shape")
    batch = ljwx.replicate("prod", "batch", "batch remapped")
    at = "2026-04-06T10:00:00Z"
    _push_queue(
        ljwx, ljwx.entry("batch", "prod", batch, tag="sha-0000020", git_sha="'0000020'", at=at)
    )
    result = _pass(ljwx, {"prod"})
    assert [o.result for o in result.outcomes] == ["success"], result.to_dict()
    overlay = ljwx.show("apps/batch/overlays/prod/kustomization.yaml")
    assert overlay == remapped_batch(batch)["apps/batch/overlays/prod/kustomization.yaml"]
    assert STALE not in overlay and overlay.count("digest:") == 1
    assert rendered_images(ljwx.remote.new_clone() / "apps/batch/overlays/prod") == [
        f"{PUBLIC}/batch@{batch}"
    ]
    _, entry = ljwx.find("20260406T100000Z-batch-sha-0000020-prod")
    record = _record(ljwx, entry["meta"]["factory"]["evidence"])
    assert f"{HARBOR_EU}/batch@{STALE}" not in record["details"]["pin_proof"]
    assert "kustomize" in record["details"]["pin_proof"]
    assert f"{PUBLIC}/batch@{batch}" in record["details"]["pin_proof"]


def test_two_entries_that_could_carry_the_pin_are_refused_by_name(ljwx: LjwxRepo):
    # What the factory used to leave: the remapped entry, and one appended after its newName.
    files = remapped_batch(STALE)
    path = "apps/batch/overlays/prod/kustomization.yaml"
    files[path] += f"  - name: {PUBLIC}/batch\n    newName: {PUBLIC}/batch\n    digest: {STALE}\n"
    ljwx.remote.commit_and_push(files, "batch: two entries for one image")
    batch = ljwx.replicate("prod", "batch", "batch ambiguous")
    at = "2026-04-07T10:00:00Z"
    _push_queue(
        ljwx, ljwx.entry("batch", "prod", batch, tag="sha-0000021", git_sha="'0000021'", at=at)
    )
    result = _pass(ljwx, {"prod"})
    assert [o.result for o in result.outcomes] == ["refused"]
    _, entry = ljwx.find("20260407T100000Z-batch-sha-0000021-prod")
    error = entry["lastError"]
    assert path in error
    assert f"images[0] (name '{HARBOR_EU}/batch')" in error
    assert f"images[2] (name '{PUBLIC}/batch')" in error
    assert "stale digest" in error
    assert ljwx.show(path) == files[path]  # nothing written


def test_a_digest_not_yet_replicated_waits_without_attempts_or_churn(ljwx: LjwxRepo):
    digest = ljwx.build("api", "api 3")  # built, but not on the dev Harbor yet
    at = "2026-04-03T10:00:00Z"
    _push_queue(
        ljwx, ljwx.entry("api", "dev", digest, tag="sha-0000005", git_sha="'0000005'", at=at)
    )
    first = _pass(ljwx, {"dev"})
    assert first.ok and [o.result for o in first.outcomes] == ["waiting"]
    name, entry = ljwx.find("20260403T100000Z-api-sha-0000005")
    assert (name, entry["attempts"]) == ("pending", 0)
    assert entry["meta"]["factory"]["waitingSince"]
    assert queue_errors(ljwx.show("release/queue.yaml")) == []
    head = ljwx.remote.remote_head()
    second = _pass(ljwx, {"dev"})
    assert second.ok and [o.result for o in second.outcomes] == ["waiting"]
    assert ljwx.remote.remote_head() == head  # no commit, no record per pass
    assert ljwx.replicate("dev", "api", "api 3") == digest
    third = _pass(ljwx, {"dev"})
    assert [o.result for o in third.outcomes] == ["success"]
    name, entry = ljwx.find("20260403T100000Z-api-sha-0000005")
    assert (name, entry["attempts"]) == ("promoted", 1)
    assert f"{PUBLIC}/api@{digest}" in rendered_images(
        ljwx.remote.new_clone() / "apps/api/overlays/dev"
    )


def test_an_unchanged_entry_keeps_its_bytes(ljwx: LjwxRepo):
    api = ljwx.replicate("dev", "api", "api 4")
    at = "2026-04-04T10:00:00Z"
    prod = ljwx.entry("api", "prod", api, tag="sha-0000006", git_sha="'0000006'", at=at)
    _push_queue(
        ljwx, ljwx.entry("api", "dev", api, tag="sha-0000006", git_sha="'0000006'", at=at) + prod
    )
    assert _pass(ljwx, {"dev"}).ok
    assert prod in ljwx.show("release/queue.yaml")


@pytest.mark.parametrize("broken", ["services: [1, 2]\n", "services:\n  api: {envs: 3}\n"])
def test_a_map_that_does_not_parse_refuses_the_pass(ljwx: LjwxRepo, broken: str):
    api = ljwx.replicate("dev", "api", "api 5")
    _push_queue(
        ljwx,
        ljwx.entry(
            "api", "dev", api, tag="sha-0000007", git_sha="'0000007'", at="2026-04-05T10:00:00Z"
        ),
    )
    ljwx.remote.commit_and_push({"release/services.yaml": broken}, "break the map")
    head = ljwx.remote.remote_head()
    with pytest.raises(InputError) as caught:
        _pass(ljwx, {"dev"})
    assert caught.value.path == "release/services.yaml" and caught.value.field.startswith(
        "services"
    )
    assert ljwx.remote.remote_head() == head
    assert ljwx.find("20260405T100000Z-api-sha-0000007")[0] == "pending"


def test_a_target_missing_a_field_or_its_overlay_is_refused_alone(ljwx: LjwxRepo):
    smap = ljwx.show("release/services.yaml")
    smap = smap.replace(
        "overlayPath: apps/batch/overlays/prod/kustomization.yaml",
        "overlayPath: apps/batch/overlays/gone/kustomization.yaml",
    )
    smap = smap.replace(f"        harborImage: {ljwx.prod.host}/{ljwx.project}/web\n", "")
    ljwx.remote.commit_and_push({"release/services.yaml": smap}, "break two targets")
    api, web, batch = (ljwx.replicate("prod", s, f"{s} 6") for s in ("api", "web", "batch"))
    at = "2026-04-09T10:00:00Z"
    _push_queue(
        ljwx,
        ljwx.entry("api", "prod", api, tag="sha-0000031", git_sha="'0000031'", at=at)
        + ljwx.entry("web", "prod", web, tag="sha-0000032", git_sha="'0000032'", at=at)
        + ljwx.entry("batch", "prod", batch, tag="sha-0000033", git_sha="'0000033'", at=at),
    )
    result = _pass(ljwx, {"prod"})
    assert {o.service: o.result for o in result.outcomes} == {
        "api": "success",
        "web": "refused",
        "batch": "refused",
    }
    _, web_entry = ljwx.find("20260409T100000Z-web-sha-0000032-prod")
    assert "services.web.envs.prod.harborImage: missing or empty" in web_entry["lastError"]
    _, batch_entry = ljwx.find("20260409T100000Z-batch-sha-0000033-prod")
    assert (
        "overlay file not found: apps/batch/overlays/gone/kustomization.yaml"
        in batch_entry["lastError"]
    )
    for entry in (web_entry, batch_entry):
        record = _record(ljwx, entry["meta"]["factory"]["evidence"])
        assert record["result"] == "refused" and record["details"]["event"] == "refused"
    assert queue_errors(ljwx.show("release/queue.yaml")) == []


def test_a_wait_past_the_replication_timeout_fails_with_a_record(ljwx: LjwxRepo, monkeypatch):
    monkeypatch.setenv("FACTORY_REPLICATION_TIMEOUT", "1")
    digest = ljwx.build("api", "api never replicated")
    at = "2026-04-10T10:00:00Z"
    _push_queue(
        ljwx, ljwx.entry("api", "dev", digest, tag="sha-0000040", git_sha="'0000040'", at=at)
    )
    start = utc_now()  # the passes' clock, given: the timeout is exact, whatever the load
    assert [o.result for o in _pass(ljwx, {"dev"}, now=start).outcomes] == ["waiting"]
    _, waiting = ljwx.find("20260410T100000Z-api-sha-0000040")
    just_before = _pass(ljwx, {"dev"}, now=start + timedelta(milliseconds=999))
    assert [o.result for o in just_before.outcomes] == ["waiting"]  # still within the timeout
    result = _pass(ljwx, {"dev"}, now=start + timedelta(seconds=1))
    assert [o.result for o in result.outcomes] == ["failure"] and result.exit_code == 1
    name, entry = ljwx.find("20260410T100000Z-api-sha-0000040")
    assert name == "failed" and "never reached this environment's registry" in entry["lastError"]
    start = _record(ljwx, waiting["meta"]["factory"]["waitingEvidence"])
    end = _record(ljwx, entry["meta"]["factory"]["evidence"])
    assert start["details"]["event"] == end["details"]["event"] == "waiting"
    assert (start["result"], end["result"]) == ("skipped", "failure")
    assert queue_errors(ljwx.show("release/queue.yaml")) == []


def test_without_kustomize_the_pin_is_checked_structurally_and_says_so(
    ljwx: LjwxRepo, monkeypatch, tmp_path
):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "git").symlink_to(shutil.which("git"))
    monkeypatch.setenv("PATH", str(bin_dir))
    monkeypatch.setattr(kustomize_tool, "INSTALLED_BESIDE", bin_dir)  # nor the package's own
    api = ljwx.replicate("dev", "api", "api no kustomize")
    at = "2026-04-11T10:00:00Z"
    _push_queue(ljwx, ljwx.entry("api", "dev", api, tag="sha-0000041", git_sha="'0000041'", at=at))
    assert [o.result for o in _pass(ljwx, {"dev"}).outcomes] == ["success"]
    _, entry = ljwx.find("20260411T100000Z-api-sha-0000041")
    record = _record(ljwx, entry["meta"]["factory"]["evidence"])
    assert record["details"]["pin_proof"].startswith(
        "structural check only: neither kubectl nor kustomize is installed"
    )
    assert f"digest: {api}" in ljwx.show("apps/api/overlays/dev/kustomization.yaml")
