"""The registry client: resolve a tag or digest to a verified manifest digest, HEAD tags, retag."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import httpx

from factory_assets.common import settings
from resources.registry.auth import BearerAuth, Credentials
from resources.registry.errors import (
    DigestMismatch,
    HostNotAllowed,
    InvalidReference,
    ManifestNotFound,
    RegistryConfigError,
    RegistryError,
)
from resources.registry.manifests import (
    MANIFEST_ACCEPT,
    MAX_MANIFEST_BYTES,
    ManifestVerification,
    ResolvedDigest,
    manifest_media_type,
)
from resources.registry.references import (
    DIGEST_RE,
    compute_digest,
    host_port,
    parse_image,
    show,
    validate_digest,
    validate_tag,
)
from resources.registry.transport import (
    DEFAULT_PORTS,
    RegistrySession,
    Upload,
    error_code,
    raise_for_status,
    read_bounded,
    requests_per_second_from_env,
)


class RegistryClient:
    """Read-only client for one registry (HARBOR_URL): resolve digests, HEAD tags for polling."""

    def __init__(
        self,
        base_url: str,
        username: str | None = None,
        password: str | None = None,
        *,
        timeout: float = 10.0,
        max_connections: int = 20,
        retries: int = 2,
        backoff: float = 0.25,
        requests_per_second: float | None = 20.0,
        token_realm_hosts: Sequence[str] = (),
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        url = self._parse_base_url(base_url)
        if (username is None) != (password is None):
            raise RegistryError("give both a registry username and password, or neither")
        self._base_url = url
        self._session = RegistrySession(
            url,
            timeout=timeout,
            max_connections=max_connections,
            retries=retries,
            backoff=backoff,
            requests_per_second=requests_per_second,
        )
        self._credentials = Credentials(
            self._session.http, url, username, password, realm_hosts=token_realm_hosts, clock=clock
        )

    @classmethod
    def from_env(
        cls,
        base_url: str | None = None,
        username: str | None = None,
        password: str | None = None,
    ) -> RegistryClient:
        """Build from HARBOR_URL, HARBOR_USERNAME, HARBOR_PASSWORD and HARBOR_REQUESTS_PER_SECOND;
        an argument given (not empty) replaces its variable, each one on its own."""
        base_url = (base_url or settings.HARBOR_URL.get() or "").strip()
        if not base_url:
            raise RegistryConfigError("HARBOR_URL", "not set")
        username = username or settings.HARBOR_USERNAME.get()
        password = password or settings.reveal(settings.HARBOR_PASSWORD.get())
        if (username is None) != (password is None):
            raise RegistryConfigError("HARBOR_USERNAME/HARBOR_PASSWORD", "set both, or neither")
        realm_hosts = settings.HARBOR_TOKEN_REALM_HOSTS.get()
        return cls(
            base_url,
            username,
            password,
            requests_per_second=requests_per_second_from_env(),
            token_realm_hosts=realm_hosts,
        )

    @staticmethod
    def _parse_base_url(base_url: str) -> httpx.URL:
        try:
            url = httpx.URL(base_url)
        except (httpx.InvalidURL, TypeError) as exc:
            raise RegistryConfigError("HARBOR_URL", "not a valid URL") from exc
        if url.userinfo:
            # Not echoed: the URL itself carries a credential.
            raise RegistryConfigError(
                "HARBOR_URL", "must not contain credentials; use HARBOR_USERNAME"
            )
        if url.scheme not in DEFAULT_PORTS or not url.host:
            raise RegistryConfigError(
                "HARBOR_URL", "must be an http:// or https:// URL with a host"
            )
        if url.path not in ("", "/") or url.query or url.fragment:
            raise RegistryConfigError(
                "HARBOR_URL", "must be the registry root (no path, query, fragment)"
            )
        return url.copy_with(path="/")

    def __repr__(self) -> str:
        auth = "basic" if self._credentials.username is not None else "anonymous"
        return f"RegistryClient(base_url={str(self._base_url)!r}, auth={auth!r})"

    @property
    def registry_host(self) -> str:
        """`host[:port]` of HARBOR_URL as it appears in image references."""
        return self._base_url.netloc.decode("ascii")

    def close(self) -> None:
        self._session.close()

    def __enter__(self) -> RegistryClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- public operations ----------------------------------------------------------------------
    def resolve(
        self, image: str, *, tag: str | None = None, digest: str | None = None
    ) -> ResolvedDigest:
        """Resolve `image` by tag (pin the computed digest) or by digest (must match exactly)."""
        _, repository = parse_image(image)
        if (tag is None) == (digest is None):
            raise InvalidReference("give exactly one of tag= or digest=")
        if tag is not None:
            validate_tag(tag)
        if digest is not None:
            validate_digest(digest)
        self._check_host(image)

        if digest is not None:
            by_digest = self._fetch_manifest(image, repository, digest)
            self._require_digest(image, digest, by_digest)
            return self._resolved(image, digest, by_digest)

        assert tag is not None
        by_tag = self._fetch_manifest(image, repository, tag)
        pinned = by_tag.computed_digest
        assert pinned is not None
        # Prove the pin is addressable and names the same bytes before anyone deploys it.
        by_pin = self._fetch_manifest(image, repository, pinned)
        self._require_digest(image, pinned, by_pin)
        return self._resolved(image, tag, by_tag, by_pin)

    def head_digest(self, image: str, tag: str) -> str | None:
        """The registry's digest for `tag` via one HEAD (for polling); None if the tag is absent."""
        _, repository = parse_image(image)
        validate_tag(tag)
        self._check_host(image)
        url = self._manifest_url(repository, tag)
        response = self._request("HEAD", url, repository, what=f"{image}:{tag}")
        try:
            # A HEAD answer has no body, but closing it unread closes its connection too: read
            # it, so the next HEAD reuses the connection (no new TCP and TLS handshake each).
            response.read()
            if response.status_code == 404:
                return None
            raise_for_status(response, f"{image}:{tag}")
            header = response.headers.get("Docker-Content-Digest")
        finally:
            response.close()
        if header is None:
            # The header is optional in the OCI spec: fall back to hashing the body.
            return self._fetch_manifest(image, repository, tag).computed_digest
        if not DIGEST_RE.fullmatch(header):
            raise RegistryError(f"{image}:{tag}: registry sent a malformed Docker-Content-Digest")
        return header

    def tag_manifest(self, image: str, *, digest: str, tag: str) -> ManifestVerification:
        """Give the manifest `digest` the tag `tag`: PUT its exact bytes by tag (OCI push).

        What a tag-filtered replication rule needs to carry a digest to another registry. The
        bytes come from this registry and are verified first; the digest the registry answers
        must be the same, or the tag now names something else (DigestMismatch).
        """
        _, repository = parse_image(image)
        validate_tag(tag)
        validate_digest(digest)
        self._check_host(image)
        verification, body = self._get_manifest(image, repository, digest)
        self._require_digest(image, digest, verification)
        assert verification.media_type is not None
        url = self._manifest_url(repository, tag)
        what = f"{image}:{tag}"
        response = self._request(
            "PUT", url, repository, what=what, upload=Upload(body, verification.media_type)
        )
        try:
            if response.status_code not in (200, 201):
                raise_for_status(response, what)
                raise RegistryError(f"{what}: PUT answered {response.status_code}")
            answered = response.headers.get("Docker-Content-Digest")
        finally:
            response.close()
        if answered is not None and answered != digest:
            raise DigestMismatch(f"{what}: the registry tagged {answered}, not {digest}")
        return ManifestVerification(
            url=str(url),
            method="PUT",
            accept=verification.media_type,
            status=response.status_code,
            header_digest=answered,
            computed_digest=digest,
            media_type=verification.media_type,
            size=len(body),
        )

    # -- manifest fetching ----------------------------------------------------------------------
    def _manifest_url(self, repository: str, reference: str) -> httpx.URL:
        return self._base_url.join(f"/v2/{repository}/manifests/{reference}")

    def _fetch_manifest(self, image: str, repository: str, reference: str) -> ManifestVerification:
        return self._get_manifest(image, repository, reference)[0]

    def _get_manifest(
        self, image: str, repository: str, reference: str
    ) -> tuple[ManifestVerification, bytes]:
        url = self._manifest_url(repository, reference)
        what = f"{image}@{reference}" if ":" in reference else f"{image}:{reference}"
        response = self._request("GET", url, repository, what=what)
        try:
            if response.status_code == 404:
                code = error_code(response)
                raise ManifestNotFound(
                    f"{what}: manifest not found{code} (may not be replicated yet)", status=404
                )
            raise_for_status(response, what)
            body = read_bounded(response, MAX_MANIFEST_BYTES, what)
        finally:
            response.close()
        algorithm = reference.split(":", 1)[0] if DIGEST_RE.fullmatch(reference) else "sha256"
        computed = compute_digest(body, algorithm)
        header = response.headers.get("Docker-Content-Digest")
        media_type = manifest_media_type(response, body, what)
        verification = ManifestVerification(
            url=str(url),
            method="GET",
            accept=MANIFEST_ACCEPT,
            status=response.status_code,
            header_digest=header,
            computed_digest=computed,
            media_type=media_type,
            size=len(body),
        )
        if header is not None and header.split(":", 1)[0] == algorithm and header != computed:
            raise DigestMismatch(
                f"{what}: Docker-Content-Digest {header} differs from the digest of the body "
                f"{computed}"
            )
        return verification, body

    @staticmethod
    def _require_digest(image: str, expected: str, verification: ManifestVerification) -> None:
        if verification.computed_digest != expected:
            raise DigestMismatch(
                f"{image}@{expected}: the registry served bytes with digest "
                f"{verification.computed_digest}"
            )

    @staticmethod
    def _resolved(
        image: str, reference: str, first: ManifestVerification, *more: ManifestVerification
    ) -> ResolvedDigest:
        assert first.computed_digest and first.media_type and first.size is not None
        return ResolvedDigest(
            image=image,
            reference=reference,
            digest=first.computed_digest,
            media_type=first.media_type,
            size=first.size,
            verifications=(first, *more),
        )

    # -- requests -------------------------------------------------------------------------------
    def _check_host(self, image: str) -> None:
        host, _ = parse_image(image)
        default_port = DEFAULT_PORTS[self._base_url.scheme]
        allowed = host_port(self.registry_host, default_port)
        if host_port(host, default_port) != allowed:
            raise HostNotAllowed(
                f"image {show(image)} is not on the configured registry {self.registry_host}"
            )

    def _request(
        self,
        method: str,
        url: httpx.URL,
        repository: str,
        *,
        what: str,
        upload: Upload | None = None,
    ) -> httpx.Response:
        """Send through the session with this repository's auth; raise errors scrubbed of secrets."""
        auth = BearerAuth(self._credentials, repository, push=upload is not None, what=what)
        try:
            return self._session.request(
                method,
                url,
                what=what,
                auth=auth,
                headers={"Accept": MANIFEST_ACCEPT},
                upload=upload,
            )
        except RegistryError as exc:
            clean = self._credentials.redact(exc.message)
            if clean != exc.message:
                exc.message = clean
                exc.args = (clean,)
            raise
