"""Each violation the soak found, replayed step by step from the seed's history: regular,
deterministic tests that failed before the fix they name.

The history lines quoted are the soak's own (`python -m tests.soak --seed N ...`).
"""

from __future__ import annotations

import json
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

from factory_assets.promotion import run_pass
from factory_assets.release.add import add_release
from factory_assets.smoke.landing import smoke_checks_and_land
from resources.registry import RegistryClient
from resources.registry.environments import EnvRegistries
from tests.smoke.conftest import Answer
from tests.soak.proxy import SoakProxy
from tests.support.ljwx import LjwxRepo
from tests.support.oci import push_image
from tests.support.queue_rules import queue_errors

PIPELINE = """\
queue: {path: release/queue.yaml, format: four-lists}
service_map: release/services.yaml
smoke_targets: scripts/smoke/targets.json
environments:
  dev: {pins: overlays}
  prod: {pins: overlays, after: dev, retag: prod-}
"""


def _pass(repo: LjwxRepo, envs: set[str]):
    registries = EnvRegistries()
    try:
        return run_pass(repo.clone, registry=registries, envs=envs)
    finally:
        registries.close()


def _pipeline(repo: LjwxRepo, endpoint) -> None:
    ok = Answer(200, b'{"status":"ok"}')
    targets = {
        "targets": [
            {
                "service": "api",
                "environment": e,
                "argocd_app": "",
                "endpoint": endpoint.script(f"/api-{e}", ok),
            }
            for e in ("dev", "prod")
        ]
    }
    repo.remote.commit_and_push(
        {"factory.yaml": PIPELINE, "scripts/smoke/targets.json": json.dumps(targets)}, "pipeline"
    )


def _request(repo: LjwxRepo, content: str, sha: str, at: str) -> str:
    """Service CI appends a dev request for a build its dev Harbor already has."""
    digest = repo.replicate("dev", "api", content)
    text = repo.show("release/queue.yaml")
    entry = repo.entry("api", "dev", digest, tag=f"sha-{sha}", git_sha=sha, at=at)
    if "pending: []\n" in text:
        text = text.replace("pending: []\n", "pending:\n" + entry)
    else:
        text = text.replace("promoted:", entry + "promoted:", 1)
    repo.remote.commit_and_push({"release/queue.yaml": text}, f"queue(api): sha-{sha}")
    return digest


def _pending(repo: LjwxRepo, env: str) -> list[dict]:
    return [e for e in repo.queue()["pending"] if e["env"] == env]


def test_a_second_handoff_supersedes_the_waiting_stage_request(ljwx: LjwxRepo, endpoint):
    """Seed 4 (3 min, 40 services, 300 requests), lane lj-001:

        40.77s pipeline  stage-request lj-001 ...-329a4f4-prod (from ...-329a4f4)
        68.52s cli-lj-prod outcome lj-001@prod ...-329a4f4-prod retry (registry answered 500)
        95.41s cli-lj    outcome lj-001@dev ...-8692332 success
       120.51s check-ljwx violation [4 validator] pending: a second pending entry for ('lj-001', 'prod')

    The dev smoke of a newer release queued its prod request beside the older one that was
    still pending (in back-off), so the queue broke the repository's validator (one pending
    entry per service and env) until the next pass superseded the older one. The handoff
    now supersedes it in the same commit, with its record, as the legacy promoter did.
    """
    _pipeline(ljwx, endpoint)
    _request(ljwx, "api one", "4417092", "2026-04-13T10:00:00Z")
    assert _pass(ljwx, {"dev"}).ok
    smoke_checks_and_land(ljwx.clone, environments=["dev"])
    (first,) = _pending(ljwx, "prod")  # waits: the prod Harbor has no replica

    _request(ljwx, "api two", "5e6f7a8", "2026-04-13T10:05:00Z")
    assert _pass(ljwx, {"dev"}).ok
    smoke_checks_and_land(ljwx.clone, environments=["dev"])

    text = ljwx.show("release/queue.yaml")
    assert queue_errors(text) == []
    (second,) = _pending(ljwx, "prod")
    assert second["id"] != first["id"] and "-5e6f7a8" in second["id"]
    where, older = ljwx.find(first["id"])
    assert where == "superseded" and older["meta"]["factory"]["supersededBy"] == second["id"]
    record = json.loads(ljwx.show(f"evidence/records/{older['meta']['factory']['evidence']}.json"))
    assert record["result"] == "superseded" and record["details"]["release_id"] == first["id"]


def test_a_handoff_waits_while_the_stage_request_is_being_promoted(ljwx: LjwxRepo, endpoint):
    """The same lane, when the older prod request is claimed by a prod runner at that moment:
    the newer request is not queued beside it (two pending entries), and not lost either: the
    next smoke check of the dev pin queues it once the claim is over."""
    _pipeline(ljwx, endpoint)
    _request(ljwx, "api one", "4417092", "2026-04-13T10:00:00Z")
    assert _pass(ljwx, {"dev"}).ok
    smoke_checks_and_land(ljwx.clone, environments=["dev"])
    (first,) = _pending(ljwx, "prod")
    text = ljwx.show("release/queue.yaml")
    claim = (
        "  meta:\n    factory:\n      claimedBy: prod-runner:1:0a1b2c3d\n"
        "      claimExpiresAt: '2999-01-01T00:00:00.000000Z'\n"
    )
    marker = f"- id: {first['id']}\n"
    head, _, tail = text.partition(marker)
    block_end = tail.index("promoted:")
    block = tail[:block_end]
    if "  meta:\n" in block:
        block = block.replace("  meta:\n    factory:\n", claim, 1)
    else:
        block += claim
    ljwx.remote.commit_and_push(
        {"release/queue.yaml": head + marker + block + tail[block_end:]}, "claim"
    )

    _request(ljwx, "api two", "5e6f7a8", "2026-04-13T10:05:00Z")
    assert _pass(ljwx, {"dev"}).ok
    smoke_checks_and_land(ljwx.clone, environments=["dev"])
    assert queue_errors(ljwx.show("release/queue.yaml")) == []
    assert [e["id"] for e in _pending(ljwx, "prod")] == [first["id"]]
    _, dev = ljwx.find(next(e["id"] for e in ljwx.queue()["promoted"] if "-5e6f7a8" in e["id"]))
    assert "prod" not in (dev["meta"]["factory"].get("handedOff") or {})

    ljwx.remote.commit_and_push(  # the prod runner's claim ends (its pass gave up)
        {
            "release/queue.yaml": ljwx.show("release/queue.yaml").replace(
                claim, "  meta:\n    factory:\n"
            )
        },
        "released",
    )
    smoke_checks_and_land(ljwx.clone, environments=["dev"])
    assert queue_errors(ljwx.show("release/queue.yaml")) == []
    (second,) = _pending(ljwx, "prod")
    assert "-5e6f7a8" in second["id"]
    assert ljwx.find(first["id"])[0] == "superseded"


def test_a_manifest_cut_mid_body_is_a_retry_not_a_crash(gitops_remote, registry, unique_repo):
    """Seed 11 (1.5 min, 12 services, 90 requests, 40 faults a minute):

        16.59s schedule    fault-registry_cut registry_cut count=... env=prod
        18.50s cli-lj-prod crash  promote died: httpx.RemoteProtocolError: peer closed
               connection without sending complete message body (in read_bounded)

    The registry client turned every transport failure into a RegistryError except one: a
    connection lost while reading the manifest's body. It escaped as httpx's own exception,
    so the whole pass died (every lane it had claimed was abandoned later, an attempt each).
    It is a retryable registry error now: this release is retried, the pass goes on.
    """
    proxy = SoakProxy(registry, "dev").start()
    try:
        digest = push_image(registry, unique_repo, "v1", content=b"cut mid-body")
        entry = add_release(
            gitops_remote.clone,
            service="api",
            digest=digest,
            image=proxy.image(unique_repo),
            push=True,
            harbor_url=proxy.url,
        ).entry
        proxy.cut(1)
        with RegistryClient(proxy.url) as client:
            (outcome,) = run_pass(gitops_remote.clone, registry=client).outcomes
            assert proxy.injected["registry_cut"] == 1
            assert outcome.result == "retry" and "body" in (outcome.error or "")
            later = datetime.now(UTC) + timedelta(minutes=20)  # after the back-off
            (done,) = run_pass(gitops_remote.clone, registry=client, now=later).outcomes
        assert done.result == "success" and done.release_id == entry.id
    finally:
        proxy.stop()


def test_a_run_left_behind_by_a_killed_daemon_frees_its_slot(tmp_path):
    """Seed 1, the default soak (10 min, 200 services, 2,000 requests):

        daemon-own fault-kill kill -9 the daemon's process group (1 run workers)
        (restarted) ... 658 promotion runs QUEUED, 1 STARTED, none launched again

    A daemon killed with its pod (or by the OOM killer) leaves the run it had launched
    STARTED for ever: the one-machine run launcher cannot see that the run's process is
    gone, so the run keeps its place in the run queue and its service's slot. Each kill took
    one more slot, until the daemon launched no promotion at all. The shipped instance
    settings bound a run's time now, so run monitoring fails such a run and frees its slot.
    Here: the shipped deploy/dagster.yaml, a STARTED run whose worker died two hours ago, one
    pass of Dagster's run monitoring.
    """
    import logging
    import shutil
    import time
    import uuid

    import dagster as dg
    from dagster._core.events import DagsterEvent, DagsterEventType
    from dagster._core.events.log import EventLogEntry
    from dagster._daemon.monitoring.run_monitoring import monitor_started_run

    root = Path(__file__).resolve().parents[2]
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(root / "deploy" / "dagster.yaml", home / "dagster.yaml")
    with dg.DagsterInstance.from_config(str(home)) as instance:
        run = instance.add_run(
            dg.DagsterRun(
                job_name="promote_service",
                run_id=str(uuid.uuid4()),
                status=dg.DagsterRunStatus.NOT_STARTED,
                tags={"factory/service": "api", "factory/env": "dev"},
            )
        )
        started = DagsterEvent(DagsterEventType.RUN_START.value, job_name="promote_service")
        instance.handle_new_event(
            EventLogEntry(
                error_info=None,
                level=logging.DEBUG,
                user_message="",
                run_id=run.run_id,
                timestamp=time.time() - 2 * 3600,  # its worker died with the daemon, long ago
                dagster_event=started,
            )
        )
        record = instance.get_run_record_by_id(run.run_id)
        assert record.dagster_run.status == dg.DagsterRunStatus.STARTED
        monitor_started_run(instance, None, record, logging.getLogger("soak"))
        after = instance.get_run_by_id(run.run_id)
    assert after.status == dg.DagsterRunStatus.FAILURE  # the slot is free again


OWN_QUEUE = """\
releases:
  - id: 01M95CDVDVE3KV84N2YMG7C4WQ
    service: fo-078
    env: dev
    image: 127.0.0.1:5000/own/fo-078
    tag: bed568df7cc
    digest: sha256:04e4adacbd95ca2911292e77cea799962ec6b1622984fef5ec538c04fb5b913c
    requested_at: '2026-12-06T09:54:40.699373Z'
    requested_by: service-ci
    state: promoted
    attempts: 1
    max_attempts: 5
    evidence: 01M95CDW0DZMMQZ90M347TWWQ5
    finished_at: '2026-12-06T09:59:49.364361Z'
    smoke_verdict: passed
    smoke_evidence: 01M95CTB72X57P1DPJ9SBPGRK3
    claimed_by: vm:26648:fab5ed2f
    claim_expires_at: '2026-12-06T10:00:19.364361Z'
"""


def test_an_own_layout_pin_whose_record_is_to_come_is_in_flight_not_unrecorded(tmp_path):
    """Seed 1, the default soak (10 min, 200 services, 2,000 requests), on a loaded machine:

        811.50s pipeline  stage-request [own] fo-078 01M95CTE9M... (from 01M95CDVDVE3...)
        906.89s cli-own   smoke  [own] fo-078: passed ...; no promotion record of fo-078
        938.77s check-own violation [3 record] own fo-078 01M95CDVDVE3...: promoted with 0
                success records; 1 attempts, 0 attempt records ({'requested': 1, None: 1})

    The daemon's run pinned fo-078 (`factory: pin fo-078`) and had not written its record
    when the drain was cut short: the entry was still `claimed_by` that run (the queue above,
    as the remote had it), and the next pass would have recovered it. The checker looked for
    the claim under the four-list spelling (`meta.factory.claimedBy`) only, so on the factory's
    own layout a pin in flight read as a pin that would never get its record.
    """
    from tests.soak.checker import RepoChecker, entries_of
    from tests.soak.history import History
    from tests.soak.queue_text import split
    from tests.soak.schedule import SoakConfig
    from tests.soak.world import RepoWorld, World

    bare = tmp_path / "own.git"
    subprocess.run(["git", "init", "-q", "--bare", str(bare)], check=True)
    repo = RepoWorld(
        layout="own",
        bare=bare,
        flag=tmp_path / "flag",
        refusals=tmp_path / "refused",
        services=["fo-078"],
        held={},
        prefix="own",
        dev_host="127.0.0.1:1",
        prod_host="127.0.0.1:2",
    )
    checker = RepoChecker(World(SoakConfig(services=1, held_every=0), tmp_path), repo, History())
    try:
        (entry,), problems = entries_of("own", split(OWN_QUEUE))
        assert problems == [] and entry.in_flight
        requested = {"kind": "promotion", "details": {"release_id": entry.id, "event": "requested"}}
        smoke = {"kind": "smoke", "details": {"release_id": entry.id}}
        records = {"01M95CDW0DZMMQZ90M347TWWQ5": requested, "01M95CTB72X57P1DPJ9SBPGRK3": smoke}
        checker._records_of(entry, [requested, smoke], records)
        assert checker.violations == []
        # once no claim is left, the same records are a pin that was never recorded
        (done,), _ = entries_of("own", split(OWN_QUEUE.replace("    claimed_by: vm", "    by: vm")))
        checker._records_of(done, [requested, smoke], records)
        assert [v.detail for v in checker.violations] == [
            "promoted with 0 success records",
            "1 attempts, 0 attempt records ({'requested': 1, None: 1})",
        ]
    finally:
        checker.blobs.close()
