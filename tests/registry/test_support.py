"""The shared test infrastructure itself works: registries, pushes, faults, git remotes, DAGSTER_HOME."""

from __future__ import annotations

import json

import git
import httpx
import pytest

from tests.support.oci import (
    DOCKER_MANIFEST,
    FULL_ACCEPT,
    OCI_INDEX,
    get_manifest,
    push_image,
    push_multiarch,
    sha256_digest,
)
from tests.support.registry import RegistryServer


@pytest.mark.parametrize("variant", ["registry", "registry_basic", "registry_token"])
def test_push_image_round_trips_exact_bytes(request, variant, unique_repo):
    server: RegistryServer = request.getfixturevalue(variant)
    digest = push_image(server, unique_repo, "v1", content=variant.encode())
    response = get_manifest(server, unique_repo, "v1")
    assert response.status_code == 200
    assert sha256_digest(response.content) == digest
    assert response.headers["Docker-Content-Digest"] == digest


@pytest.mark.parametrize("variant", ["registry_basic", "registry_token"])
def test_auth_variants_refuse_anonymous_and_wrong_password(request, variant, unique_repo):
    server: RegistryServer = request.getfixturevalue(variant)
    assert httpx.get(f"{server.url}/v2/").status_code == 401
    if variant == "registry_basic":
        wrong = httpx.get(f"{server.url}/v2/", auth=(server.username, "nope"))
        assert wrong.status_code == 401
    else:
        realm = server.token_issuer.realm
        wrong = httpx.get(realm, params={"service": "x"}, auth=(server.username, "nope"))
        assert wrong.status_code == 401


def test_token_issuer_grants_requested_scope_and_counts(registry_token, unique_repo):
    issuer = registry_token.token_issuer
    push_image(registry_token, unique_repo, "v1")
    seen = issuer.requests_for(unique_repo)
    assert seen and all(r.status == 200 for r in seen)
    assert any(f"repository:{unique_repo}:pull,push" in r.granted for r in seen)


def test_token_signed_with_libtrust_kid_is_accepted_too(make_registry, unique_repo):
    server = make_registry("token", token_signing="kid")
    digest = push_image(server, unique_repo, "v1")
    assert get_manifest(server, unique_repo, digest).status_code == 200


def test_multiarch_index_and_narrow_accept_trap(registry, unique_repo):
    oci = push_multiarch(registry, unique_repo, "oci")
    full = get_manifest(registry, unique_repo, "oci")
    assert full.headers["Content-Type"] == OCI_INDEX
    assert sha256_digest(full.content) == oci.index_digest
    # distribution refuses an OCI index to a client that does not accept indexes
    assert get_manifest(registry, unique_repo, "oci", accept=DOCKER_MANIFEST).status_code == 404

    docker = push_multiarch(registry, unique_repo, "docker", docker=True)
    narrow = get_manifest(registry, unique_repo, "docker", accept=DOCKER_MANIFEST)
    # ... and silently swaps a Docker manifest list for its linux/amd64 child
    assert narrow.status_code == 200
    assert sha256_digest(narrow.content) == docker.children["linux/amd64"]
    assert json.loads(get_manifest(registry, unique_repo, "docker").content)["manifests"]


def test_fault_proxy_injects_then_forwards(fault_proxy, unique_repo):
    digest = push_image(fault_proxy, unique_repo, "v1")
    fault_proxy.clear_requests()
    fault_proxy.fail_next(2, 503, path=r"/manifests/")
    url = f"{fault_proxy.url}/v2/{unique_repo}/manifests/v1"
    accept = {"Accept": FULL_ACCEPT}
    assert [httpx.get(url, headers=accept).status_code for _ in range(3)] == [503, 503, 200]
    assert [r.faulted for r in fault_proxy.requests] == [True, True, False]
    fault_proxy.drop_next(1)
    with pytest.raises(httpx.TransportError):
        httpx.get(url, headers=accept)
    fault_proxy.fail_next(1, 404, method="HEAD")
    assert httpx.head(url, headers=accept).status_code == 404
    head = httpx.head(url, headers=accept)
    assert head.headers["Docker-Content-Digest"] == digest
    assert int(head.headers["Content-Length"]) > 0


def test_gitops_remote_is_seeded_and_clones_race(gitops_remote):
    remote = gitops_remote
    assert (remote.clone / "release/queue.yaml").read_text() == "releases: []\n"
    assert (remote.clone / "envs/dev/.gitkeep").exists()
    assert (remote.clone / "evidence/records/.gitkeep").exists()
    assert git.Repo(remote.bare).head.reference.name == "main"
    other = remote.new_clone()
    remote.commit_and_push({"envs/dev/a.txt": "a"}, "first")
    with pytest.raises(git.GitCommandError):
        remote.commit_and_push({"envs/dev/b.txt": "b"}, "second", clone=other)
    assert remote.remote_head() == remote.repo.head.commit.hexsha


def test_dagster_home_gives_a_working_instance(dagster_home, dagster_instance):
    import dagster as dg

    assert dagster_instance.root_directory == str(dagster_home)

    @dg.asset
    def one() -> int:
        return 1

    assert dg.materialize([one], instance=dagster_instance).success
    assert dagster_instance.get_latest_materialization_event(dg.AssetKey("one")) is not None
