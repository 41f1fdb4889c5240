"""RegistryClient against a real distribution registry: digests, multi-arch, auth, faults, hosts."""

from __future__ import annotations

import json
import pickle
import threading
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from factory_assets.dagster_resources import HarborRegistry
from resources.registry import (
    DOCKER_MANIFEST,
    DOCKER_MANIFEST_LIST,
    MANIFEST_ACCEPT,
    OCI_INDEX,
    OCI_MANIFEST,
    DigestMismatch,
    HostNotAllowed,
    InvalidReference,
    ManifestNotFound,
    RegistryAuthError,
    RegistryClient,
    RegistryConfigError,
    RegistryError,
    RegistryUnavailable,
)
from tests.support.oci import (
    delete_manifest,
    get_manifest,
    push_image,
    push_multiarch,
    sha256_digest,
)


def client_for(endpoint, **kwargs) -> RegistryClient:
    return RegistryClient(endpoint.url, endpoint.username, endpoint.password, **kwargs)


# -- resolving --------------------------------------------------------------------------------


def test_manifest_accept_lists_all_four_types_index_first():
    assert [t.strip() for t in MANIFEST_ACCEPT.split(",")] == [
        OCI_INDEX,
        DOCKER_MANIFEST_LIST,
        OCI_MANIFEST,
        DOCKER_MANIFEST,
    ]


def test_resolve_by_tag_pins_digest_of_exact_bytes(registry, unique_repo):
    pushed = push_image(registry, unique_repo, "v1")
    body = get_manifest(registry, unique_repo, "v1").content
    with client_for(registry) as client:
        resolved = client.resolve(registry.image(unique_repo), tag="v1")
    assert resolved.digest == pushed == sha256_digest(body)
    assert (resolved.reference, resolved.media_type, resolved.size) == (
        "v1",
        OCI_MANIFEST,
        len(body),
    )
    by_tag, by_pin = resolved.verifications
    assert by_tag.url.endswith(f"/v2/{unique_repo}/manifests/v1")
    assert by_pin.url.endswith(f"/v2/{unique_repo}/manifests/{pushed}")
    for check in resolved.verifications:
        assert (check.method, check.status, check.accept) == ("GET", 200, MANIFEST_ACCEPT)
        assert check.header_digest == check.computed_digest == pushed


def test_resolve_by_digest_matches_exactly(registry, unique_repo):
    pushed = push_image(registry, unique_repo, None, flavor="docker", content=b"by digest")
    with client_for(registry) as client:
        resolved = client.resolve(registry.image(unique_repo), digest=pushed)
    assert resolved.digest == resolved.reference == pushed
    assert resolved.media_type == DOCKER_MANIFEST
    assert len(resolved.verifications) == 1


def test_retagged_image_resolves_to_the_new_digest(registry, unique_repo):
    first = push_image(registry, unique_repo, "stable", content=b"one")
    second = push_image(registry, unique_repo, "stable", content=b"two")
    assert first != second
    with client_for(registry) as client:
        assert client.resolve(registry.image(unique_repo), tag="stable").digest == second
        assert client.head_digest(registry.image(unique_repo), "stable") == second


@pytest.mark.parametrize("docker", [False, True], ids=["oci-index", "docker-manifest-list"])
def test_multiarch_tag_pins_the_index_not_a_child(registry, unique_repo, docker):
    pushed = push_multiarch(registry, unique_repo, "multi", docker=docker)
    with client_for(registry) as client:
        resolved = client.resolve(registry.image(unique_repo), tag="multi")
        head = client.head_digest(registry.image(unique_repo), "multi")
    assert resolved.digest == head == pushed.index_digest
    assert resolved.media_type == (DOCKER_MANIFEST_LIST if docker else OCI_INDEX)
    assert resolved.digest not in pushed.children.values()
    # What a client with a narrow Accept would have pinned instead:
    narrow = get_manifest(registry, unique_repo, "multi", accept=DOCKER_MANIFEST)
    if docker:
        assert sha256_digest(narrow.content) == pushed.children["linux/amd64"]
    else:
        assert narrow.status_code == 404


def test_missing_tag_is_retryable_not_found_then_appears(registry, unique_repo):
    image = registry.image(unique_repo)
    with client_for(registry) as client:
        with pytest.raises(ManifestNotFound) as missing:
            client.resolve(image, tag="late")
        assert missing.value.retryable is True
        assert client.head_digest(image, "late") is None
        pushed = push_image(registry, unique_repo, "late")
        assert client.resolve(image, tag="late").digest == pushed
        assert client.head_digest(image, "late") == pushed


def test_deleted_digest_is_not_found(registry, unique_repo):
    pushed = push_image(registry, unique_repo, None, content=b"to delete")
    delete_manifest(registry, unique_repo, pushed)
    with client_for(registry) as client, pytest.raises(ManifestNotFound):
        client.resolve(registry.image(unique_repo), digest=pushed)


def test_lying_registry_body_is_a_digest_mismatch(fault_proxy, unique_repo):
    pushed = push_image(fault_proxy, unique_repo, "v1")
    forged = json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "layers": []}).encode()
    fault_proxy.fail_next(
        1,
        200,
        path=f"/manifests/{pushed}",
        headers={"Content-Type": OCI_MANIFEST, "Docker-Content-Digest": pushed},
        body=forged,
    )
    with client_for(fault_proxy) as client, pytest.raises(DigestMismatch) as mismatch:
        client.resolve(fault_proxy.image(unique_repo), digest=pushed)
    assert mismatch.value.retryable is False


# -- auth -------------------------------------------------------------------------------------


def test_basic_auth(registry_basic, unique_repo):
    pushed = push_image(registry_basic, unique_repo, "v1")
    with client_for(registry_basic) as client:
        assert client.resolve(registry_basic.image(unique_repo), tag="v1").digest == pushed


def test_basic_auth_required_and_wrong_password_rejected(registry_basic, unique_repo):
    push_image(registry_basic, unique_repo, "v1")
    image = registry_basic.image(unique_repo)
    with RegistryClient(registry_basic.url) as anonymous, pytest.raises(RegistryAuthError):
        anonymous.resolve(image, tag="v1")
    wrong = "wrong-" + registry_basic.password
    with RegistryClient(registry_basic.url, registry_basic.username, wrong) as client:
        with pytest.raises(RegistryAuthError) as denied:
            client.resolve(image, tag="v1")
    assert denied.value.retryable is False
    assert wrong not in str(denied.value) and wrong not in repr(denied.value)


def test_token_auth_caches_tokens_per_scope(registry_token, make_fault_proxy, unique_repo):
    issuer = registry_token.token_issuer
    proxy = make_fault_proxy(registry_token)
    pushed = push_image(registry_token, unique_repo, "v1")
    other_repo = unique_repo + "-other"
    push_image(registry_token, other_repo, "v1")
    before, before_other = (
        len(issuer.requests_for(unique_repo)),
        len(issuer.requests_for(other_repo)),
    )
    with client_for(proxy) as client:
        for _ in range(3):
            assert client.resolve(proxy.image(unique_repo), tag="v1").digest == pushed
            assert client.head_digest(proxy.image(unique_repo), "v1") == pushed
        assert len(issuer.requests_for(unique_repo)) == before + 1
        proxy.clear_requests()
        client.resolve(proxy.image(other_repo), tag="v1")
    # A new scope costs one token request and no 401 round trip: the realm is already known.
    assert len(issuer.requests_for(other_repo)) == before_other + 1
    assert [r.status for r in proxy.requests] == [200, 200]
    granted = issuer.requests_for(other_repo)[-1].granted
    assert granted == (f"repository:{other_repo}:pull",)


class ManualClock:
    """A monotonic clock the test moves by hand: token lifetimes pass without sleeping."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_token_refreshed_shortly_before_expiry(registry_token, unique_repo):
    push_image(registry_token, unique_repo, "v1")
    issuer = registry_token.token_issuer
    image = registry_token.image(unique_repo)
    # 300 s tokens are refreshed 30 s early: the margin is min(30 s, a tenth of the lifetime).
    assert issuer.expires_in == 300
    refresh_after = 300 - 30
    clock = ManualClock()
    issued_at = clock.now
    with client_for(registry_token, clock=clock) as client:
        client.head_digest(image, "v1")
        fetched = len(issuer.requests_for(unique_repo))
        clock.now = issued_at + refresh_after - 0.001
        client.head_digest(image, "v1")
        assert len(issuer.requests_for(unique_repo)) == fetched
        clock.now = issued_at + refresh_after
        client.head_digest(image, "v1")
        assert len(issuer.requests_for(unique_repo)) == fetched + 1
        client.head_digest(image, "v1")
        assert len(issuer.requests_for(unique_repo)) == fetched + 1


def test_concurrent_resolves_share_one_token(registry_token, unique_repo):
    pushed = push_image(registry_token, unique_repo, "v1")
    issuer = registry_token.token_issuer
    before = len(issuer.requests_for(unique_repo))
    with client_for(registry_token, max_connections=3, requests_per_second=None) as client:
        # Prime the realm so every thread takes the preemptive path at once.
        client.head_digest(registry_token.image("factory/absent"), "x")
        with ThreadPoolExecutor(8) as pool:
            digests = list(
                pool.map(
                    lambda _: client.resolve(registry_token.image(unique_repo), tag="v1").digest,
                    range(16),
                )
            )
    assert set(digests) == {pushed}
    assert len(issuer.requests_for(unique_repo)) == before + 1


def test_token_auth_wrong_password_and_no_credentials(registry_token, unique_repo):
    push_image(registry_token, unique_repo, "v1")
    image = registry_token.image(unique_repo)
    wrong = "wrong-" + registry_token.password
    with RegistryClient(registry_token.url, registry_token.username, wrong) as client:
        with pytest.raises(RegistryAuthError) as denied:
            client.resolve(image, tag="v1")
    assert wrong not in str(denied.value)
    with RegistryClient(registry_token.url) as anonymous, pytest.raises(RegistryAuthError):
        anonymous.resolve(image, tag="v1")


def test_token_service_outage_is_retried(registry_token, unique_repo):
    pushed = push_image(registry_token, unique_repo, "v1")
    registry_token.token_issuer.fail_next(1, 503)
    with client_for(registry_token, backoff=0.01) as client:
        assert client.resolve(registry_token.image(unique_repo), tag="v1").digest == pushed


def test_read_only_account_can_resolve(make_registry, unique_repo):
    server = make_registry("token")
    push_image(server, unique_repo, "v1")
    server.add_user("robot$factory+verifier", "read-only-pw")
    server.token_issuer.permissions["robot$factory+verifier"] = {"pull"}
    with RegistryClient(server.url, "robot$factory+verifier", "read-only-pw") as client:
        assert client.head_digest(server.image(unique_repo), "v1") is not None


def test_secrets_never_in_messages_or_reprs(registry_token, fault_proxy, unique_repo):
    issuer = registry_token.token_issuer
    push_image(registry_token, unique_repo, "v1")
    password = registry_token.password
    errors: list[RegistryError] = []
    with client_for(registry_token, retries=0) as client:
        client.resolve(registry_token.image(unique_repo), tag="v1")
        for call in (
            lambda: client.resolve(registry_token.image(unique_repo), tag="absent"),
            lambda: client.resolve(fault_proxy.image(unique_repo), tag="v1"),
            lambda: client.resolve(registry_token.image(unique_repo), tag="bad tag"),
        ):
            with pytest.raises(RegistryError) as caught:
                call()
            errors.append(caught.value)
        shown = [repr(client), str(client)]
    # A registry error body echoing a secret must not be echoed further.
    fault_proxy.fail_next(
        1,
        500,
        body=json.dumps({"errors": [{"code": "UNKNOWN", "message": password}]}).encode(),
    )
    with RegistryClient(fault_proxy.url, "robot$x", password, retries=0) as echoing:
        with pytest.raises(RegistryUnavailable) as caught:
            echoing.head_digest(fault_proxy.image(unique_repo), "v1")
        errors.append(caught.value)
        shown += [repr(echoing)]
    shown += [text for e in errors for text in (str(e), repr(e), repr(e.args))]
    secrets = [password, *issuer.issued_tokens]
    assert issuer.issued_tokens
    for text in shown:
        for secret in secrets:
            assert secret not in text


def test_errors_survive_pickling_with_retryable():
    error = pickle.loads(pickle.dumps(ManifestNotFound("x: not found", status=404)))
    assert (type(error), error.retryable, error.status, str(error)) == (
        ManifestNotFound,
        True,
        404,
        "x: not found",
    )


# -- faults -----------------------------------------------------------------------------------


def test_transient_5xx_is_retried_then_succeeds(fault_proxy, unique_repo):
    pushed = push_image(fault_proxy, unique_repo, "v1")
    fault_proxy.clear_requests()
    fault_proxy.fail_next(2, 500, path="/manifests/")
    with client_for(fault_proxy, backoff=0.01) as client:
        assert client.resolve(fault_proxy.image(unique_repo), tag="v1").digest == pushed
    assert [r.status for r in fault_proxy.requests] == [500, 500, 200, 200]


@pytest.mark.parametrize("status", [500, 502, 503, 429])
def test_persistent_5xx_and_429_raise_unavailable_after_bounded_retries(
    fault_proxy, unique_repo, status
):
    push_image(fault_proxy, unique_repo, "v1")
    fault_proxy.clear_requests()
    fault_proxy.fail_next(100, status, headers={"Retry-After": "0"})
    with client_for(fault_proxy, retries=2, backoff=0.01) as client:
        with pytest.raises(RegistryUnavailable) as caught:
            client.resolve(fault_proxy.image(unique_repo), tag="v1")
    assert caught.value.retryable is True and caught.value.status == status
    assert fault_proxy.request_count == 3


def test_dropped_connection_and_timeout_are_unavailable(fault_proxy, unique_repo):
    push_image(fault_proxy, unique_repo, "v1")
    image = fault_proxy.image(unique_repo)
    fault_proxy.drop_next(1)
    with client_for(fault_proxy, retries=0) as client, pytest.raises(RegistryUnavailable):
        client.head_digest(image, "v1")
    fault_proxy.delay_next(1, 1.0)
    with client_for(fault_proxy, retries=0, timeout=0.2) as client:
        with pytest.raises(RegistryUnavailable, match="timed out"):
            client.head_digest(image, "v1")


def test_injected_404_is_replication_lag_and_recovers(fault_proxy, unique_repo):
    pushed = push_image(fault_proxy, unique_repo, None)
    fault_proxy.fail_next(1, 404, path=f"/manifests/{pushed}")
    image = fault_proxy.image(unique_repo)
    with client_for(fault_proxy) as client:
        with pytest.raises(ManifestNotFound, match="MANIFEST_UNKNOWN"):
            client.resolve(image, digest=pushed)
        assert client.resolve(image, digest=pushed).digest == pushed


def test_redirects_only_within_harbor_origin(registry, make_fault_proxy, unique_repo):
    proxy = make_fault_proxy(registry)
    pushed = push_image(proxy, unique_repo, "v1")
    path = f"/v2/{unique_repo}/manifests/v1"
    proxy.fail_next(1, 307, path=path + "$", headers={"Location": f"{proxy.url}{path}?r=1"})
    with client_for(proxy) as client:
        assert client.head_digest(proxy.image(unique_repo), "v1") == pushed
        proxy.fail_next(1, 307, path=path + "$", headers={"Location": f"{registry.url}{path}"})
        with pytest.raises(RegistryError, match="redirect to another host") as refused:
            client.head_digest(proxy.image(unique_repo), "v1")
    assert refused.value.retryable is False


# -- hosts and references ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "image",
    [
        "registry.example.com/factory/app",
        "127.0.0.2:{port}/factory/app",
        "{registry_host}/factory/app",  # the real registry, but not via HARBOR_URL
        "localhost:{port}/factory/app",
    ],
)
def test_image_on_another_host_is_refused_before_any_request(
    fault_proxy, registry, image, unique_repo
):
    port = fault_proxy.host.rsplit(":", 1)[1]
    image = image.format(port=port, registry_host=registry.host)
    with client_for(fault_proxy) as client:
        with pytest.raises(HostNotAllowed) as refused:
            client.resolve(image, tag="v1")
        with pytest.raises(HostNotAllowed):
            client.head_digest(image, "v1")
    assert refused.value.retryable is False
    assert fault_proxy.request_count == 0


@pytest.mark.parametrize(
    "image",
    [
        "",
        "factory",
        "{host}",
        "{host}/",
        "{host}/Factory/App",
        "{host}/factory//app",
        "{host}/factory/app/",
        "{host}/factory/../app",
        "{host}/factory/app:v1",
        "{host}/factory/app@sha256:" + "a" * 64,
        "{host}/factory/app\n",
        "{host}/factory/-app",
        "{host}/factory/app?x=1",
        "{host}/factory/app#x",
        "{host}/factory/a%2fb",
        "bad_host:80/factory/app",
        "127.0.0.1:99999/factory/app",
        "{host}/" + "a" * 256,
    ],
)
def test_malformed_image_is_rejected_before_any_request(fault_proxy, image):
    image = image.format(host=fault_proxy.host)
    with client_for(fault_proxy) as client, pytest.raises(InvalidReference):
        client.resolve(image, tag="v1")
    assert fault_proxy.request_count == 0


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"tag": "v1", "digest": "sha256:" + "a" * 64},
        {"tag": ""},
        {"tag": "-v1"},
        {"tag": ".v1"},
        {"tag": "v" * 129},
        {"tag": "v1/../x"},
        {"tag": "v1\n"},
        {"tag": "v 1"},
        {"digest": "sha256:" + "A" * 64},
        {"digest": "sha256:" + "a" * 63},
        {"digest": "sha256:" + "a" * 64 + "\n"},
        {"digest": "md5:" + "a" * 32},
        {"digest": "sha512:" + "a" * 64},
        {"digest": "a" * 64},
    ],
)
def test_malformed_tag_or_digest_is_rejected_before_any_request(fault_proxy, kwargs):
    with client_for(fault_proxy) as client, pytest.raises(InvalidReference) as bad:
        client.resolve(fault_proxy.image("factory/app"), **kwargs)
    assert bad.value.retryable is False
    assert fault_proxy.request_count == 0


# -- configuration ----------------------------------------------------------------------------


def test_from_env(harbor_env, registry_basic, unique_repo, monkeypatch):
    pushed = push_image(registry_basic, unique_repo, "v1")
    harbor_env(registry_basic)
    with RegistryClient.from_env() as client:
        assert client.registry_host == registry_basic.host
        assert client.resolve(registry_basic.image(unique_repo), tag="v1").digest == pushed
    monkeypatch.delenv("HARBOR_PASSWORD")
    with pytest.raises(RegistryError, match="both"):
        RegistryClient.from_env()
    monkeypatch.delenv("HARBOR_URL")
    with pytest.raises(RegistryError, match="HARBOR_URL"):
        RegistryClient.from_env()


def test_harbor_resource_with_a_url_still_takes_credentials_from_the_environment(
    harbor_env, registry_basic, unique_repo, monkeypatch
):
    pushed = push_image(registry_basic, unique_repo, "v1")
    harbor_env(registry_basic)
    monkeypatch.delenv("HARBOR_URL")  # the URL comes from config, the secrets from the env
    resource = HarborRegistry(url=registry_basic.url)
    client = resource.client()
    assert client.resolve(registry_basic.image(unique_repo), tag="v1").digest == pushed
    client.close()


@pytest.mark.parametrize("rate", ["abc", "-1", "nan", "inf"])
def test_a_bad_rate_cap_names_the_variable(monkeypatch, rate):
    monkeypatch.setenv("HARBOR_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("HARBOR_REQUESTS_PER_SECOND", rate)
    with pytest.raises(RegistryConfigError) as bad:
        RegistryClient.from_env()
    assert bad.value.setting == "HARBOR_REQUESTS_PER_SECOND"
    assert pickle.loads(pickle.dumps(bad.value)).setting == "HARBOR_REQUESTS_PER_SECOND"


@pytest.mark.parametrize(
    "url",
    [
        "harbor.example.com",
        "ftp://harbor.example.com",
        "https://user:s3cr3t@harbor.example.com",
        "https://harbor.example.com/v2/",
        "https://harbor.example.com/?x=1",
    ],
)
def test_bad_harbor_url_is_rejected_without_echoing_credentials(url):
    with pytest.raises(RegistryError) as bad:
        RegistryClient(url)
    assert "s3cr3t" not in str(bad.value)


def test_https_harbor_url_default_port_matches_bare_host():
    with RegistryClient("https://Harbor.Example.com:443") as client:
        # Same host: passes the host check (called directly: resolving would leave loopback).
        client._check_host("harbor.example.com/factory/app")
        client._check_host("harbor.example.com:443/factory/app")
        with pytest.raises(HostNotAllowed):
            client.resolve("harbor.example.com:8443/factory/app", tag="v1")
        with pytest.raises(HostNotAllowed):
            client.resolve("harbor.example.org/factory/app", tag="v1")


# -- politeness and TLS -----------------------------------------------------------------------


def test_concurrency_is_bounded_by_max_connections(fault_proxy, unique_repo):
    push_image(fault_proxy, unique_repo, "v1")
    fault_proxy.clear_requests()
    fault_proxy.delay_next(12, 0.2)
    image = fault_proxy.image(unique_repo)
    with client_for(fault_proxy, max_connections=2, requests_per_second=None) as client:
        with ThreadPoolExecutor(6) as pool:
            digests = set(pool.map(lambda _: client.head_digest(image, "v1"), range(12)))
    assert len(digests) == 1 and None not in digests
    assert fault_proxy.request_count == 12
    # Counted while requests are held in the delay, when each one occupies a client
    # connection: exactly the pool's bound (6 threads, each request held 200 ms, so both
    # connections are busy together; a pool of 3 would show 3, an unbounded one about 6).
    assert fault_proxy.max_held == 2


def test_head_requests_reuse_one_connection(fault_proxy, unique_repo):
    """A tag poll HEADs every tracked tag each tick: a new TCP (and TLS) handshake per HEAD
    would cost more than the request."""
    push_image(fault_proxy, unique_repo, "v1")
    fault_proxy.clear_requests()
    image = fault_proxy.image(unique_repo)
    with client_for(fault_proxy, max_connections=2, requests_per_second=None) as client:
        digests = {client.head_digest(image, "v1") for _ in range(5)}
        assert client.head_digest(image, "absent") is None
    assert len(digests) == 1 and None not in digests
    assert [r.method for r in fault_proxy.requests] == ["HEAD"] * 6
    assert len({r.connection for r in fault_proxy.requests}) == 1


def test_tls_registry_is_verified(make_registry, unique_repo, monkeypatch):
    server = make_registry("none", tls=True)
    pushed = push_image(server, unique_repo, "v1")
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    with client_for(server) as client, pytest.raises(RegistryError, match="TLS") as untrusted:
        client.head_digest(server.image(unique_repo), "v1")
    assert untrusted.value.retryable is False
    monkeypatch.setenv("SSL_CERT_FILE", str(server.ca_path))
    with client_for(server) as client:
        assert client.resolve(server.image(unique_repo), tag="v1").digest == pushed


def test_https_registry_refuses_plain_http_token_realm(make_registry, unique_repo, monkeypatch):
    server = make_registry("token", tls=True)  # the test issuer's realm is plain http
    push_image(server, unique_repo, "v1")
    monkeypatch.setenv("SSL_CERT_FILE", str(server.ca_path))
    before = server.token_issuer.request_count
    with client_for(server) as client, pytest.raises(RegistryAuthError, match="plain-http"):
        client.head_digest(server.image(unique_repo), "v1")
    assert server.token_issuer.request_count == before


@pytest.fixture
def realm_on_another_host():
    """A registry on 127.0.0.1 whose challenge names a token realm on 127.0.0.2."""
    seen: list[str] = []

    class Collector(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:  # noqa: N802 - http.server naming
            seen.append(self.headers.get("Authorization", ""))
            self.send_response(401)
            self.send_header("Content-Length", "0")
            self.end_headers()

    collector = ThreadingHTTPServer(("127.0.0.2", 0), Collector)
    realm = f"http://127.0.0.2:{collector.server_address[1]}/token"

    class Registry(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:  # noqa: N802 - http.server naming
            self.send_response(401)
            self.send_header("WWW-Authenticate", f'Bearer realm="{realm}",service="x"')
            self.send_header("Content-Length", "0")
            self.end_headers()

        do_HEAD = do_GET  # noqa: N815 - http.server naming

    registry = ThreadingHTTPServer(("127.0.0.1", 0), Registry)
    servers = [collector, registry]
    for server in servers:
        threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"127.0.0.1:{registry.server_address[1]}", seen
    for server in servers:
        server.shutdown()
        server.server_close()


def test_credentials_never_go_to_a_token_realm_on_another_host(realm_on_another_host):
    host, seen = realm_on_another_host
    with RegistryClient(f"http://{host}", "robot$factory", "S3cr3t-pw") as client:
        with pytest.raises(RegistryAuthError, match="HARBOR_TOKEN_REALM_HOSTS"):
            client.resolve(f"{host}/team/api", tag="v1")
    assert seen == []  # nothing reached the other host
    allowed = RegistryClient(
        f"http://{host}", "robot$factory", "S3cr3t-pw", token_realm_hosts=["127.0.0.2"]
    )
    with allowed, pytest.raises(RegistryError):
        allowed.resolve(f"{host}/team/api", tag="v1")  # the realm answers 401: still an error
    assert seen and seen[0].startswith("Basic ")  # but the operator allowed that host
