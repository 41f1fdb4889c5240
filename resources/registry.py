"""OCI distribution (Harbor /v2/) client: resolve a tag or digest to a verified manifest digest.

Plain httpx, no dagster. What it guarantees:

* Digests are computed from the exact manifest bytes (`Docker-Content-Digest` is recorded, and
  must agree when present, but is never trusted on its own). Every manifest request sends all
  four manifest media types, index types first, so a multi-arch tag pins the index digest.
* Only HARBOR_URL's host is ever contacted for registry requests: an image on another host is
  refused before any request (`HostNotAllowed`), and redirects are followed only within
  HARBOR_URL's origin (scheme, host and port). The one exception is the Bearer token realm: it is
  taken from the `WWW-Authenticate` challenge of that same registry; its host must be
  HARBOR_URL's (Harbor serves tokens at /service/token) or one listed in
  HARBOR_TOKEN_REALM_HOSTS, and it must be https whenever HARBOR_URL is https, so Basic
  credentials never go to a host, or in clear text, the operator did not opt into.
* Credentials and tokens live only in request headers: they never appear in exception messages,
  `repr()`s or URLs, and every message is scrubbed of them before it is raised.
* TLS is always verified (certifi, or SSL_CERT_FILE / SSL_CERT_DIR for a private CA); plain http
  only when HARBOR_URL says http. Environment proxies and .netrc are ignored (trust_env=False).
* Polite: bounded connection pool (`max_connections`), a client-side rate limit (20 requests/s by
  default, the Kargo/Argo CD Image Updater default), bounded retries with backoff on 5xx/429 and
  transport errors, tokens cached per scope until shortly before they expire.
"""

from __future__ import annotations

import base64
import email.utils
import hashlib
import json
import re
import ssl
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import certifi
import httpx

from factory_assets.common import settings
from factory_assets.common.errors import FactoryError, InputError

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
MANIFEST_MEDIA_TYPES = (OCI_INDEX, DOCKER_MANIFEST_LIST, OCI_MANIFEST, DOCKER_MANIFEST)
INDEX_MEDIA_TYPES = (OCI_INDEX, DOCKER_MANIFEST_LIST)
MANIFEST_ACCEPT = ", ".join(MANIFEST_MEDIA_TYPES)

# distribution refuses manifests above 4 MiB; anything bigger is not a manifest we should hash.
MAX_MANIFEST_BYTES = 4 * 1024 * 1024
MAX_ERROR_BODY_BYTES = 64 * 1024
MAX_REDIRECTS = 3
MAX_RETRY_AFTER_SECONDS = 10.0
USER_AGENT = "factory-registry-client/0.1"

_COMPONENT = r"[a-z0-9]+(?:[._-][a-z0-9]+)*"
_REPOSITORY_RE = re.compile(rf"{_COMPONENT}(?:/{_COMPONENT})*")
_TAG_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,127}")
_DIGEST_RE = re.compile(r"sha256:[a-f0-9]{64}|sha512:[a-f0-9]{128}")
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_HOST_RE = re.compile(
    rf"(?:{_LABEL}(?:\.{_LABEL})*|\[[0-9A-Fa-f:.]+\])(?::(?P<port>[0-9]{{1,5}}))?"
)
_TOKEN_RE = re.compile(r"[A-Za-z0-9._~+/=-]+")
_ERROR_CODE_RE = re.compile(r"[A-Z_]{1,64}")
_AUTH_PARAM_RE = re.compile(r'([A-Za-z][A-Za-z0-9_-]*)\s*=\s*("(?:[^"\\]|\\.)*"|[^,\s]*)')
_MAX_REPOSITORY_LENGTH = 255
_DEFAULT_PORTS = {"http": 80, "https": 443}


# ----------------------------------------------------------------------------------------------
# Errors
# ----------------------------------------------------------------------------------------------


def _rebuild_error(cls: type[RegistryError], message: str, retryable: bool, status: int | None):
    return cls(message, retryable=retryable, status=status)


class RegistryError(FactoryError):
    """A registry operation failed; `retryable` says whether trying again later can help."""

    retryable: bool = False

    def __init__(
        self, message: str, *, retryable: bool | None = None, status: int | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        if retryable is not None:
            self.retryable = retryable

    def __reduce__(self):
        return (_rebuild_error, (type(self), self.message, self.retryable, self.status))


class RegistryAuthError(RegistryError):
    """401/403 after every auth attempt: wrong credentials or missing permission."""

    retryable = False


class ManifestNotFound(RegistryError):
    """404: retryable for a bounded number of attempts (a replica may not have it yet)."""

    retryable = True


class RegistryUnavailable(RegistryError):
    """5xx, 429, timeouts and connection errors."""

    retryable = True

    def __init__(
        self,
        message: str,
        *,
        retryable: bool | None = None,
        status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, retryable=retryable, status=status)
        self.retry_after = retry_after


class RegistryConfigError(RegistryError):
    """A HARBOR_* setting is missing or malformed; `setting` names it."""

    def __init__(self, setting: str, problem: str) -> None:
        super().__init__(f"{setting}: {problem}")
        self.setting, self.problem = setting, problem

    def __reduce__(self):
        return (type(self), (self.setting, self.problem))


class HostNotAllowed(RegistryError):
    """The image's host is not HARBOR_URL's host; nothing was requested."""

    retryable = False


class DigestMismatch(RegistryError):
    """The digest asked for (or the registry's header digest) differs from the computed one."""

    retryable = False


class InvalidReference(RegistryError):
    """The repository, tag or digest does not match the distribution grammar."""

    retryable = False


# ----------------------------------------------------------------------------------------------
# Results
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ManifestVerification:
    """One manifest request and what it proved (kept as evidence)."""

    url: str
    method: str
    accept: str
    status: int
    header_digest: str | None
    computed_digest: str | None
    media_type: str | None
    size: int | None


@dataclass(frozen=True)
class _Upload:
    """A request body (a manifest being PUT) and the push scope it needs."""

    body: bytes
    content_type: str


@dataclass(frozen=True)
class ResolvedDigest:
    """An image reference resolved to the digest of exact manifest bytes."""

    image: str
    reference: str
    digest: str
    media_type: str
    size: int
    verifications: tuple[ManifestVerification, ...]


# ----------------------------------------------------------------------------------------------
# Reference grammar
# ----------------------------------------------------------------------------------------------


def _show(value: object, limit: int = 80) -> str:
    """A bounded repr of untrusted input for error messages."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def parse_image(image: str) -> tuple[str, str]:
    """Split `host[:port]/path/repo` into (host, repository); no tag or digest allowed."""
    if not isinstance(image, str) or not image:
        raise InvalidReference(f"image must be a non-empty string, got {_show(image)}")
    host, sep, repository = image.partition("/")
    if not sep or not repository:
        raise InvalidReference(f"image {_show(image)} must look like host[:port]/repository")
    if "@" in repository or ":" in repository:
        raise InvalidReference(
            f"image {_show(image)} must not carry a tag or digest; pass tag= or digest="
        )
    match = _HOST_RE.fullmatch(host)
    if match is None or (match["port"] is not None and not 0 < int(match["port"]) < 65536):
        raise InvalidReference(f"image {_show(image)} has an invalid registry host")
    if len(repository) > _MAX_REPOSITORY_LENGTH or not _REPOSITORY_RE.fullmatch(repository):
        raise InvalidReference(
            f"image {_show(image)}: repository must be lowercase components "
            "[a-z0-9]+([._-][a-z0-9]+)* joined by '/'"
        )
    return host, repository


def validate_tag(tag: str) -> str:
    """Return `tag` if it matches [A-Za-z0-9_][A-Za-z0-9._-]{0,127}, else raise InvalidReference."""
    if not isinstance(tag, str) or not _TAG_RE.fullmatch(tag):
        raise InvalidReference(f"tag {_show(tag)} must match [A-Za-z0-9_][A-Za-z0-9._-]{{0,127}}")
    return tag


def validate_digest(digest: str) -> str:
    """Return `digest` if it is sha256:<64 hex> or sha512:<128 hex> (lowercase), else raise."""
    if not isinstance(digest, str) or not _DIGEST_RE.fullmatch(digest):
        raise InvalidReference(
            f"digest {_show(digest)} must be sha256:<64 lowercase hex> or sha512:<128 lowercase hex>"
        )
    return digest


def compute_digest(body: bytes, algorithm: str = "sha256") -> str:
    """`<algorithm>:<hex>` of exactly these bytes."""
    return f"{algorithm}:{hashlib.new(algorithm, body).hexdigest()}"


def _host_port(host: str, default_port: int) -> tuple[str, int]:
    """Normalize `host[:port]` (or `[v6]:port`) to (lowercase host, port)."""
    if host.startswith("["):
        name, _, rest = host[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else ""
    else:
        name, _, port = host.partition(":")
    return name.lower(), int(port) if port else default_port


def _origin(url: httpx.URL) -> tuple[str, str, int]:
    return (url.scheme, url.host.lower(), url.port or _DEFAULT_PORTS.get(url.scheme, 0))


# ----------------------------------------------------------------------------------------------
# Auth helpers
# ----------------------------------------------------------------------------------------------


class _Secret:
    """Holds a credential so that no repr, str or traceback local ever prints it."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "<redacted>"

    __str__ = __repr__


@dataclass(frozen=True)
class _Challenge:
    scheme: str  # "bearer" or "basic"
    params: dict[str, str]


def _parse_challenges(headers: list[str]) -> list[_Challenge]:
    """Parse WWW-Authenticate values into challenges (Bearer realm/service/scope, Basic realm)."""
    challenges: list[_Challenge] = []
    for value in headers:
        # A header may hold several challenges: split before each `<scheme> <param>=`.
        for part in re.split(r",?\s*(?=\b(?:Bearer|Basic)\s)", value, flags=re.IGNORECASE):
            part = part.strip()
            if not part:
                continue
            scheme, _, rest = part.partition(" ")
            params = {
                key.lower(): (raw[1:-1].replace('\\"', '"') if raw.startswith('"') else raw)
                for key, raw in _AUTH_PARAM_RE.findall(rest)
            }
            if scheme.lower() in ("bearer", "basic"):
                challenges.append(_Challenge(scheme.lower(), params))
    return challenges


@dataclass
class _CachedToken:
    value: _Secret
    refresh_at: float  # time.monotonic() after which a new token is fetched


def requests_per_second_from_env() -> float | None:
    """HARBOR_REQUESTS_PER_SECOND: the client-side cap (0 = none). The default bounds a runaway
    loop without slowing a sensor's HEADs of 1,000 tracked tags; set 20 for Kargo's politeness."""
    try:
        return settings.HARBOR_REQUESTS_PER_SECOND.get() or None
    except InputError as exc:
        raise RegistryConfigError(exc.path, exc.problem) from None


class _RateLimiter:
    """Thread-safe request pacing: at most `rate` requests/s after an initial burst of `burst`."""

    def __init__(self, rate: float | None, burst: int) -> None:
        self._interval = 1.0 / rate if rate else 0.0
        self._burst = max(1, burst)
        self._next = 0.0
        self._lock = threading.Lock()

    def acquire(self) -> None:
        if not self._interval:
            return
        with self._lock:
            now = time.monotonic()
            self._next = max(self._next, now - (self._burst - 1) * self._interval)
            wait = self._next - now
            self._next += self._interval
        if wait > 0:
            time.sleep(wait)


# ----------------------------------------------------------------------------------------------
# TLS
# ----------------------------------------------------------------------------------------------

_SSL_CONTEXTS: dict[tuple[str, str | None], ssl.SSLContext] = {}
_SSL_LOCK = threading.Lock()


def _ssl_context() -> ssl.SSLContext:
    """A verifying TLS context (certifi, or SSL_CERT_FILE/SSL_CERT_DIR for a private CA).

    Cached because loading a CA bundle costs ~40 ms and clients are built per sensor tick.
    """
    cafile = settings.SSL_CERT_FILE.get() or certifi.where()
    capath = settings.SSL_CERT_DIR.get()
    with _SSL_LOCK:
        context = _SSL_CONTEXTS.get((cafile, capath))
        if context is None:
            try:
                context = ssl.create_default_context(cafile=cafile, capath=capath)
            except (OSError, ssl.SSLError):
                raise RegistryError("SSL_CERT_FILE/SSL_CERT_DIR cannot be loaded") from None
            _SSL_CONTEXTS[(cafile, capath)] = context
        return context


def _is_tls_verification_failure(exc: BaseException) -> bool:
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLCertVerificationError):
            return True
        seen = seen.__cause__ or seen.__context__
    return "CERTIFICATE_VERIFY_FAILED" in str(exc)


# ----------------------------------------------------------------------------------------------
# Client
# ----------------------------------------------------------------------------------------------


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
    ) -> None:
        url = self._parse_base_url(base_url)
        # Hosts that may serve Bearer tokens besides HARBOR_URL's own (HARBOR_TOKEN_REALM_HOSTS).
        self._realm_hosts = {url.host, *(h.strip().lower() for h in token_realm_hosts if h.strip())}
        if (username is None) != (password is None):
            raise RegistryError("give both a registry username and password, or neither")
        self._base_url = url
        self._origin = _origin(url)
        self._username = username
        self._password = _Secret(password) if password is not None else None
        self._retries = max(0, retries)
        self._backoff = backoff
        self._limiter = _RateLimiter(requests_per_second, max_connections)
        self._http = httpx.Client(
            timeout=httpx.Timeout(timeout),
            limits=httpx.Limits(
                max_connections=max_connections, max_keepalive_connections=max_connections
            ),
            follow_redirects=False,
            verify=_ssl_context(),
            trust_env=False,  # no proxies or netrc from the environment: only HARBOR_URL
            headers={"User-Agent": USER_AGENT},
        )
        self._lock = threading.Lock()
        self._tokens: dict[str, _CachedToken] = {}
        self._token_locks: dict[str, threading.Lock] = {}
        self._bearer: _Challenge | None = None  # learned from the first challenge
        self._basic = False  # the registry asked for Basic: send it up front from now on
        self._issued: list[_Secret] = []  # every token seen, for scrubbing messages

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
        if url.scheme not in _DEFAULT_PORTS or not url.host:
            raise RegistryConfigError(
                "HARBOR_URL", "must be an http:// or https:// URL with a host"
            )
        if url.path not in ("", "/") or url.query or url.fragment:
            raise RegistryConfigError(
                "HARBOR_URL", "must be the registry root (no path, query, fragment)"
            )
        return url.copy_with(path="/")

    def __repr__(self) -> str:
        auth = "basic" if self._username is not None else "anonymous"
        return f"RegistryClient(base_url={str(self._base_url)!r}, auth={auth!r})"

    @property
    def registry_host(self) -> str:
        """`host[:port]` of HARBOR_URL as it appears in image references."""
        return self._base_url.netloc.decode("ascii")

    def close(self) -> None:
        self._http.close()

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
            if response.status_code == 404:
                return None
            self._raise_for_status(response, f"{image}:{tag}")
            header = response.headers.get("Docker-Content-Digest")
        finally:
            response.close()
        if header is None:
            # The header is optional in the OCI spec: fall back to hashing the body.
            return self._fetch_manifest(image, repository, tag).computed_digest
        if not _DIGEST_RE.fullmatch(header):
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
            "PUT", url, repository, what=what, upload=_Upload(body, verification.media_type)
        )
        try:
            if response.status_code not in (200, 201):
                self._raise_for_status(response, what)
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
                code = self._error_code(response)
                raise ManifestNotFound(
                    f"{what}: manifest not found{code} (may not be replicated yet)", status=404
                )
            self._raise_for_status(response, what)
            body = self._read_bounded(response, MAX_MANIFEST_BYTES, what)
        finally:
            response.close()
        algorithm = reference.split(":", 1)[0] if _DIGEST_RE.fullmatch(reference) else "sha256"
        computed = compute_digest(body, algorithm)
        header = response.headers.get("Docker-Content-Digest")
        media_type = self._media_type(response, body, what)
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

    @staticmethod
    def _media_type(response: httpx.Response, body: bytes, what: str) -> str:
        """The manifest media type, from Content-Type and the body's own mediaType, which must agree."""
        try:
            document = json.loads(body)
        except ValueError:
            raise RegistryError(f"{what}: manifest body is not JSON") from None
        if not isinstance(document, dict):
            raise RegistryError(f"{what}: manifest body is not a JSON object")
        header = response.headers.get("Content-Type", "").split(";", 1)[0].strip().lower()
        declared = document.get("mediaType")
        if header in MANIFEST_MEDIA_TYPES:
            if declared is not None and declared != header:
                raise RegistryError(
                    f"{what}: Content-Type {header} contradicts the manifest mediaType"
                )
            return header
        if isinstance(declared, str) and declared in MANIFEST_MEDIA_TYPES:
            return declared
        raise RegistryError(f"{what}: unsupported manifest media type {_show(header or declared)}")

    @staticmethod
    def _read_bounded(response: httpx.Response, limit: int, what: str) -> bytes:
        chunks: list[bytes] = []
        total = 0
        for chunk in response.iter_bytes():
            total += len(chunk)
            if total > limit:
                raise RegistryError(f"{what}: manifest larger than {limit} bytes")
            chunks.append(chunk)
        return b"".join(chunks)

    def _error_code(self, response: httpx.Response) -> str:
        """` (CODE)` from a distribution error body, or empty; nothing else of the body is shown."""
        try:
            body = self._read_bounded(response, MAX_ERROR_BODY_BYTES, "error body")
            code = json.loads(body)["errors"][0]["code"]
        except (RegistryError, ValueError, KeyError, IndexError, TypeError, httpx.HTTPError):
            return ""
        return f" ({code})" if isinstance(code, str) and _ERROR_CODE_RE.fullmatch(code) else ""

    def _raise_for_status(self, response: httpx.Response, what: str) -> None:
        status = response.status_code
        if status < 300:
            return
        code = self._error_code(response)
        if status in (401, 403):
            raise RegistryAuthError(f"{what}: access denied by the registry ({status}){code}")
        if status == 404:
            raise ManifestNotFound(f"{what}: not found{code}", status=404)
        raise RegistryError(f"{what}: registry answered {status}{code}", status=status)

    # -- transport, retries, redirects ----------------------------------------------------------
    def _check_host(self, image: str) -> None:
        host, _ = parse_image(image)
        default_port = _DEFAULT_PORTS[self._base_url.scheme]
        allowed = _host_port(self.registry_host, default_port)
        if _host_port(host, default_port) != allowed:
            raise HostNotAllowed(
                f"image {_show(image)} is not on the configured registry {self.registry_host}"
            )

    def _request(
        self,
        method: str,
        url: httpx.URL,
        repository: str,
        *,
        what: str,
        upload: _Upload | None = None,
    ) -> httpx.Response:
        """Send with auth; retry 5xx/429/transport errors with backoff; follow same-origin redirects."""
        attempt = 0
        while True:
            try:
                return self._scrubbed(self._follow_redirects, method, url, repository, what, upload)
            except RegistryUnavailable as exc:
                if attempt >= self._retries:
                    raise
                delay = self._backoff * (2**attempt)
                if exc.retry_after is not None:
                    delay = max(delay, min(exc.retry_after, MAX_RETRY_AFTER_SECONDS))
                time.sleep(delay)
                attempt += 1

    def _scrubbed(self, function, *args):
        """Call `function`; re-raise any RegistryError with credentials and tokens removed."""
        try:
            return function(*args)
        except RegistryError as exc:
            clean = self._redact(exc.message)
            if clean != exc.message:
                exc.message = clean
                exc.args = (clean,)
            raise

    def _redact(self, text: str) -> str:
        with self._lock:
            secrets = [s.reveal() for s in self._issued]
        if self._password is not None:
            secrets.append(self._password.reveal())
        for secret in secrets:
            if secret:
                text = text.replace(secret, "<redacted>")
        return text

    def _follow_redirects(
        self,
        method: str,
        url: httpx.URL,
        repository: str,
        what: str,
        upload: _Upload | None = None,
    ) -> httpx.Response:
        for _ in range(MAX_REDIRECTS + 1):
            response = self._authenticated(method, url, repository, what, upload)
            if response.status_code not in (301, 302, 303, 307, 308):
                return response
            location = response.headers.get("Location")
            response.close()
            if not location:
                raise RegistryError(f"{what}: redirect without a Location")
            target = url.join(location)
            if _origin(target) != self._origin:
                # Only HARBOR_URL's origin is trusted with credentials and with our traffic.
                raise RegistryError(f"{what}: refused a redirect to another host")
            url = target
        raise RegistryError(f"{what}: too many redirects")

    def _send(
        self,
        method: str,
        url: httpx.URL,
        headers: dict[str, str],
        what: str,
        upload: _Upload | None = None,
    ) -> httpx.Response:
        self._limiter.acquire()
        if upload is not None:
            headers = {**headers, "Content-Type": upload.content_type}
        request = self._http.build_request(
            method, url, headers=headers, content=upload.body if upload else None
        )
        try:
            response = self._http.send(request, stream=True)
        except httpx.TimeoutException:
            raise RegistryUnavailable(f"{what}: registry timed out") from None
        except httpx.TransportError as exc:
            if _is_tls_verification_failure(exc):
                raise RegistryError(f"{what}: TLS certificate verification failed") from None
            raise RegistryUnavailable(
                f"{what}: cannot reach the registry ({type(exc).__name__})"
            ) from None
        if response.status_code == 429 or response.status_code >= 500:
            retry_after = _retry_after(response.headers.get("Retry-After"))
            code = self._error_code(response)
            response.close()
            raise RegistryUnavailable(
                f"{what}: registry answered {response.status_code}{code}",
                status=response.status_code,
                retry_after=retry_after,
            )
        return response

    # -- auth -----------------------------------------------------------------------------------
    def _authenticated(
        self,
        method: str,
        url: httpx.URL,
        repository: str,
        what: str,
        upload: _Upload | None = None,
    ) -> httpx.Response:
        # A write asks for push in its own token scope; reads never hold more than pull.
        scope = f"repository:{repository}:{'pull,push' if upload else 'pull'}"
        headers = {"Accept": MANIFEST_ACCEPT}
        authorization = self._known_authorization(scope, what)
        if authorization:
            headers["Authorization"] = authorization
        response = self._send(method, url, headers, what, upload)
        if response.status_code != 401:
            if response.status_code == 403:
                code = self._error_code(response)
                response.close()
                raise RegistryAuthError(f"{what}: access denied (403){code}", status=403)
            return response

        challenges = _parse_challenges(response.headers.get_list("WWW-Authenticate"))
        response.close()
        bearer = next((c for c in challenges if c.scheme == "bearer"), None)
        basic = next((c for c in challenges if c.scheme == "basic"), None)
        if bearer is not None:
            with self._lock:
                # Remember realm and service only: the scope belongs to this one request.
                self._bearer = _Challenge(
                    "bearer", {k: v for k, v in bearer.params.items() if k != "scope"}
                )
            token = self._fetch_token(bearer, scope, what, force=True)
            headers["Authorization"] = f"Bearer {token.reveal()}"
        elif basic is not None and self._password is not None:
            with self._lock:
                self._basic = True
            headers["Authorization"] = self._basic_header()
        elif basic is not None:
            raise RegistryAuthError(
                f"{what}: the registry requires credentials (HARBOR_USERNAME/HARBOR_PASSWORD)",
                status=401,
            )
        else:
            raise RegistryAuthError(f"{what}: 401 without a usable challenge", status=401)

        response = self._send(method, url, headers, what, upload)
        if response.status_code in (401, 403):
            status = response.status_code
            code = self._error_code(response)
            response.close()
            raise RegistryAuthError(
                f"{what}: the registry rejected the credentials ({status}){code}", status=status
            )
        return response

    def _known_authorization(self, scope: str, what: str) -> str | None:
        """Authorization to send up front: a cached token, a fresh one, or Basic if asked before."""
        with self._lock:
            bearer, basic = self._bearer, self._basic
        if bearer is not None:
            return f"Bearer {self._fetch_token(bearer, scope, what, force=False).reveal()}"
        if basic and self._password is not None:
            return self._basic_header()
        return None

    def _basic_header(self) -> str:
        assert self._username is not None and self._password is not None
        raw = f"{self._username}:{self._password.reveal()}".encode()
        return "Basic " + base64.b64encode(raw).decode("ascii")

    def _fetch_token(self, challenge: _Challenge, scope: str, what: str, *, force: bool) -> _Secret:
        """A Bearer token for `scope`: cached until shortly before expiry, else from the realm."""
        with self._lock:
            cached = self._tokens.get(scope)
            if not force and cached and time.monotonic() < cached.refresh_at:
                return cached.value
            lock = self._token_locks.setdefault(scope, threading.Lock())
        with lock:
            with self._lock:
                latest = self._tokens.get(scope)
            # Another thread may have fetched a fresh one while we waited for the lock.
            if latest is not None and latest is not cached and time.monotonic() < latest.refresh_at:
                return latest.value
            token = self._request_token(challenge, scope, what)
            with self._lock:
                self._tokens[scope] = token
                self._issued.append(token.value)
                del self._issued[:-64]
            return token.value

    def _realm_url(self, challenge: _Challenge, what: str) -> httpx.URL:
        realm = challenge.params.get("realm", "")
        try:
            url = httpx.URL(realm)
        except httpx.InvalidURL:
            raise RegistryAuthError(f"{what}: the token realm is not a valid URL") from None
        if url.scheme not in _DEFAULT_PORTS or not url.host or url.userinfo:
            raise RegistryAuthError(f"{what}: the token realm must be an http(s) URL")
        if self._base_url.scheme == "https" and url.scheme != "https":
            raise RegistryAuthError(
                f"{what}: refusing a plain-http token realm for an https registry"
            )
        if url.host not in self._realm_hosts:
            # The challenge comes from the registry, but the credentials are the operator's:
            # they go only to HARBOR_URL's host or to a host the operator named.
            raise RegistryAuthError(
                f"{what}: refusing to send credentials to the token realm host {url.host!r}, "
                "which is not HARBOR_URL's; allow it with HARBOR_TOKEN_REALM_HOSTS"
            )
        return url

    def _request_token(self, challenge: _Challenge, scope: str, what: str) -> _CachedToken:
        realm = self._realm_url(challenge, what)
        params: list[tuple[str, str]] = []
        if "service" in challenge.params:
            params.append(("service", challenge.params["service"]))
        scopes = challenge.params.get("scope", "").split() or [scope]
        if scope not in scopes:
            scopes.append(scope)
        params += [("scope", s) for s in scopes]
        headers = {"Accept": "application/json"}
        if self._password is not None:
            headers["Authorization"] = self._basic_header()
        self._limiter.acquire()
        started = time.monotonic()
        try:
            response = self._http.get(realm.copy_merge_params(params), headers=headers)
        except httpx.TimeoutException:
            raise RegistryUnavailable(f"{what}: token service timed out") from None
        except httpx.TransportError as exc:
            if _is_tls_verification_failure(exc):
                raise RegistryAuthError(
                    f"{what}: TLS certificate verification failed for the token service"
                ) from None
            raise RegistryUnavailable(
                f"{what}: cannot reach the token service ({type(exc).__name__})"
            ) from None
        status = response.status_code
        if status in (401, 403):
            raise RegistryAuthError(
                f"{what}: the token service rejected the credentials ({status})", status=status
            )
        if status == 429 or status >= 500:
            raise RegistryUnavailable(
                f"{what}: token service answered {status}",
                status=status,
                retry_after=_retry_after(response.headers.get("Retry-After")),
            )
        if status != 200:
            raise RegistryAuthError(f"{what}: token service answered {status}", status=status)
        try:
            data: Any = response.json()
        except ValueError:
            raise RegistryAuthError(f"{what}: token service sent no JSON") from None
        value = (data.get("token") or data.get("access_token")) if isinstance(data, dict) else None
        if not isinstance(value, str) or not _TOKEN_RE.fullmatch(value):
            raise RegistryAuthError(f"{what}: token service sent no usable token")
        expires_in = data.get("expires_in")
        if not isinstance(expires_in, int) or isinstance(expires_in, bool) or expires_in <= 0:
            expires_in = 60  # the Docker token spec's default lifetime
        margin = min(30.0, expires_in * 0.1)
        return _CachedToken(_Secret(value), started + expires_in - margin)


def _retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or HTTP date), or None."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())
