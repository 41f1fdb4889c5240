"""The soak's own parts, each shown to work (and to fail) on its own: the seeded schedule, the
queue split, the registry faults, the invariant checker, the shrinker's first cut."""

from __future__ import annotations

import subprocess
import time
from dataclasses import replace
from pathlib import Path

import pytest
import yaml

from resources.registry import ManifestNotFound, RegistryClient, RegistryError
from tests.soak.checker import RepoChecker, Violation
from tests.soak.history import History
from tests.soak.proxy import SoakProxy
from tests.soak.queue_text import append_pending, split
from tests.soak.schedule import (
    FAULT_KINDS,
    Event,
    Schedule,
    SoakConfig,
    make_schedule,
    shifted,
)
from tests.soak.shrink import candidate
from tests.soak.world import RepoWorld, World, _ljwx_files
from tests.support.gitrepo import make_gitops_remote
from tests.support.oci import push_image

HERE = Path(__file__).resolve().parent
EXAMPLE = HERE.parent / "support" / "ljwx_queue_example.yaml"


# -- the schedule ------------------------------------------------------------------------------


def test_the_same_seed_gives_the_same_schedule():
    config = SoakConfig(seed=7, duration=300, services=20, requests=200, faults_per_minute=30)
    first, again = make_schedule(config), make_schedule(config)
    assert first == again
    assert Schedule.from_json(first.to_json()) == first
    assert make_schedule(replace(config, seed=8)) != first
    kinds = {e.kind for e in first.faults}
    assert kinds == set(FAULT_KINDS)  # 150 faults: every kind comes up
    assert len(first.requests) == 200 and all(e.at < 300 * 0.9 for e in first.requests)


def test_shifted_keeps_order_and_squeezes_idle_time():
    events = [Event(10.0, "request"), Event(11.0, "kill"), Event(40.0, "request")]
    out = shifted(events, 5.0, max_gap=3.0)
    assert [(e.at, e.kind) for e in out] == [(0.0, "request"), (1.0, "kill"), (4.0, "request")]


def test_the_shrinkers_first_cut_is_the_lane_and_the_faults_before_the_violation():
    config = SoakConfig(seed=3, duration=120, services=8, requests=80, faults_per_minute=20)
    schedule = make_schedule(config)
    target = next(e for e in schedule.requests if e.params["layout"] == "ljwx" and e.at > 40)
    violation = Violation(
        "4 validator", "ljwx", f"{target.params['service']} x", "", at=target.at + 5
    )
    events = candidate(schedule, violation, target.params["service"])
    requests = [e for e in events if e.kind == "request"]
    assert requests and all(e.params["service"] == target.params["service"] for e in requests)
    assert all(e.params["layout"] == "ljwx" for e in requests)
    for e in events:  # nothing aimed at the other layout's runners or remote
        assert e.params.get("runner") not in ("cli-own", "daemon-own")
        assert e.params.get("layout", "ljwx") == "ljwx"
    assert events[0].at <= 5.0 and max(e.at for e in events) < violation.at


# -- the queue as blocks -----------------------------------------------------------------------


def test_the_block_split_reads_as_the_whole_file():
    text = EXAMPLE.read_text()
    assert split(text).data() == yaml.safe_load(text)
    own = "releases:\n  # a comment\n  - id: a\n    service: api\n  - id: b\n    service: web\n"
    assert split(own).data() == yaml.safe_load(own)
    appended = append_pending("pending: []\npromoted: []\n", ["- id: x\n  service: api\n"])
    assert yaml.safe_load(appended) == {"pending": [{"id": "x", "service": "api"}], "promoted": []}


# -- the registry faults -----------------------------------------------------------------------


@pytest.fixture
def proxy(registry_token):
    proxy = SoakProxy(registry_token, "dev").start()
    yield proxy
    proxy.stop()


def _client(proxy: SoakProxy, **kw) -> RegistryClient:
    return RegistryClient(proxy.url, proxy.username, proxy.password, **kw)


def test_each_window_fault_reaches_the_client_and_is_counted(proxy, unique_repo):
    digest = push_image(proxy.upstream, unique_repo, "v1", content=b"soak proxy")
    image = proxy.image(unique_repo)
    with _client(proxy) as client:
        assert client.resolve(image, digest=digest).digest == digest
        proxy.cut(1)  # half a manifest, then a close
        with pytest.raises(RegistryError, match="body"):
            client.resolve(image, digest=digest)
        proxy.missing(unique_repo.split("/")[0], 30)
        with pytest.raises(ManifestNotFound):
            client.resolve(image, digest=digest)
        proxy.clear()
        time.sleep(1.05)  # the cached token is from an earlier second now
        proxy.reauth(30)  # the cached token is refused: a new one gets through
        assert client.resolve(image, digest=digest).digest == digest
        proxy.outage(30)
        with pytest.raises(RegistryError):
            client.resolve(image, digest=digest)
    assert proxy.injected["registry_cut"] == 1
    assert proxy.injected["registry_404"] >= 1
    assert proxy.injected["registry_401"] >= 1
    assert proxy.injected["registry_outage"] >= 3  # the first try and both retries


# -- the checker: each invariant, broken on purpose ----------------------------------------------


@pytest.fixture
def checked(tmp_path):
    """A deploy repository in the four-list layout, followed by a checker (no runners)."""
    config = SoakConfig(services=4, held_every=0)
    world = World(config, tmp_path)
    repo = RepoWorld(
        layout="ljwx",
        bare=tmp_path / "ljwx" / "remote.git",
        flag=tmp_path / "flag",
        refusals=tmp_path / "refused",
        services=["lj-000", "lj-001"],
        held={},
        prefix="acme",
        dev_host="127.0.0.1:1",
        prod_host="127.0.0.1:2",
    )
    remote = make_gitops_remote(tmp_path / "ljwx", _ljwx_files(config, repo))
    checker = RepoChecker(world, repo, History())
    checker.catch_up()
    return world, remote, checker


D1 = "sha256:" + "1" * 64
D2 = "sha256:" + "2" * 64


def _entry(rid: str, service: str, digest: str, status: str = "pending", stamp: str = "") -> str:
    at = "2026-04-01T09:00:00Z"
    return (
        f"- id: {rid}\n  service: {service}\n  env: dev\n  source:\n"
        f"    ghcr: ghcr.example/acme/{service}@{digest}\n    tag: sha-1\n    digest: {digest}\n"
        f"  createdAt: '{at}'\n  status: {status}\n  attempts: 0\n  lastError: ''\n"
        f"  promotedAt: '{stamp}'\n  supersededAt: ''\n  failedAt: ''\n"
    )


def _queue(pending: str = "", promoted: str = "") -> str:
    return (
        ("pending:\n" + pending if pending else "pending: []\n")
        + ("promoted:\n" + promoted if promoted else "promoted: []\n")
        + "failed: []\nsuperseded: []\n"
    )


def _kinds(checker: RepoChecker) -> set[str]:
    checker.catch_up()
    return {v.invariant for v in checker.violations}


def test_a_clean_history_breaks_nothing(checked):
    world, remote, checker = checked
    remote.commit_and_push({"release/queue.yaml": _queue(_entry("a", "lj-000", D1))}, "ci")
    world.pushed[("dev", "acme/lj-000")].add(D1)
    overlay = remote.show("apps/lj-000/overlays/dev/kustomization.yaml").replace(
        '    newTag: "dev"\n', f"    newName: ghcr.example/acme/lj-000\n    digest: {D1}\n"
    )
    remote.commit_and_push(
        {
            "release/queue.yaml": _queue(
                promoted=_entry("a", "lj-000", D1, "promoted", "2026-04-01T09:01:00Z")
            ),
            "apps/lj-000/overlays/dev/kustomization.yaml": overlay,
        },
        "factory: pin lj-000\n\nFactory-Release: a\n",
    )
    assert _kinds(checker) == set()
    assert checker.checks["pin"] >= 1 and checker.checks["validator rules"] == 3


def test_a_lost_request_a_second_pending_entry_and_changed_bytes_are_caught(checked):
    _, remote, checker = checked
    two = _entry("a", "lj-000", D1) + _entry("b", "lj-001", D2)
    remote.commit_and_push({"release/queue.yaml": _queue(two)}, "ci")
    remote.commit_and_push({"release/queue.yaml": _queue(_entry("b", "lj-001", D2))}, "lost a")
    assert _kinds(checker) == {"1 lost"}
    requoted = _entry("b", "lj-001", D2).replace("attempts: 0", "attempts: 00")
    remote.commit_and_push({"release/queue.yaml": _queue(requoted)}, "same value, new bytes")
    assert "4 bytes" in _kinds(checker)
    twice = _entry("b", "lj-001", D2) + _entry("c", "lj-001", D1)
    remote.commit_and_push({"release/queue.yaml": _queue(twice)}, "a second pending")
    assert "4 validator" in _kinds(checker)


def test_a_pin_that_is_not_the_newest_promoted_request_is_caught(checked):
    world, remote, checker = checked
    world.pushed[("dev", "acme/lj-000")].update({D1, D2})
    overlay = remote.show("apps/lj-000/overlays/dev/kustomization.yaml").replace(
        '    newTag: "dev"\n', f"    digest: {D2}\n"
    )
    promoted = _entry("a", "lj-000", D1, "promoted", "2026-04-01T09:01:00Z")
    remote.commit_and_push(
        {
            "release/queue.yaml": _queue(promoted=promoted),
            "apps/lj-000/overlays/dev/kustomization.yaml": overlay,
        },
        "a pin of another digest",
    )
    assert _kinds(checker) == {"2 pin"}


def test_a_pin_never_on_the_registry_and_a_release_pinned_twice_are_caught(checked):
    _, remote, checker = checked
    overlay = remote.show("apps/lj-000/overlays/dev/kustomization.yaml").replace(
        '    newTag: "dev"\n', f"    digest: {D1}\n"
    )
    promoted = _entry("a", "lj-000", D1, "promoted", "2026-04-01T09:01:00Z")
    files = {
        "release/queue.yaml": _queue(promoted=promoted),
        "apps/lj-000/overlays/dev/kustomization.yaml": overlay,
    }
    remote.commit_and_push(files, "pin\n\nFactory-Release: a\n")
    remote.commit_and_push({"noise.txt": "x"}, "again\n\nFactory-Release: a\n")
    assert _kinds(checker) == {"2 unverified", "1 promoted twice"}


def test_a_second_stage_request_for_one_upstream_request_is_caught(checked):
    _, remote, checker = checked
    stage = _entry("p1", "lj-000", D1).replace("env: dev", "env: prod") + (
        "  meta:\n    factory:\n      upstream: a\n"
    )
    again = stage.replace("id: p1", "id: p2").replace("lj-000", "lj-001")
    again = again.replace("service: lj-001", "service: lj-000", 1)
    remote.commit_and_push({"release/queue.yaml": _queue(stage + again)}, "two handoffs")
    assert "5 handoff" in _kinds(checker)


def test_the_checker_follows_every_commit(checked):
    _, remote, checker = checked
    for n in range(3):
        remote.commit_and_push({"noise.txt": str(n)}, f"noise {n}")
    checker.catch_up()
    count = subprocess.run(
        ["git", "--git-dir", str(remote.bare), "rev-list", "--count", "main"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert checker.commits == int(count) and checker.checks["queue read"] == int(count)
