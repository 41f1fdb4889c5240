"""HTTP to HARBOR_URL's origin only: verified TLS, a rate limit, bounded retries, same-origin redirects."""

from __future__ import annotations

import email.utils
import json
import re
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import certifi
import httpx

from factory_assets.common import settings
from factory_assets.common.errors import InputError
from resources.registry.errors import (
    ManifestNotFound,
    RegistryAuthError,
    RegistryConfigError,
    RegistryError,
    RegistryUnavailable,
)

MAX_ERROR_BODY_BYTES = 64 * 1024
MAX_REDIRECTS = 3
MAX_RETRY_AFTER_SECONDS = 10.0
USER_AGENT = "factory-registry-client/0.1"
DEFAULT_PORTS = {"http": 80, "https": 443}
_ERROR_CODE_RE = re.compile(r"[A-Z_]{1,64}")
_REDIRECT_STATUSES = (301, 302, 303, 307, 308)


# -- rate limit ---------------------------------------------------------------------------------


def requests_per_second_from_env() -> float | None:
    """HARBOR_REQUESTS_PER_SECOND: the client-side cap (0 = none). The default bounds a runaway
    loop without slowing a sensor's HEADs of 1,000 tracked tags; set 20 for Kargo's politeness."""
    try:
        return settings.HARBOR_REQUESTS_PER_SECOND.get() or None
    except InputError as exc:
        raise RegistryConfigError(exc.path, exc.problem) from None


class RateLimiter:
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


class PacedTransport(httpx.HTTPTransport):
    """httpx's transport, with every request it sends (token requests too) paced by one limiter."""

    def __init__(self, limiter: RateLimiter, **kwargs) -> None:
        super().__init__(**kwargs)
        self._limiter = limiter

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self._limiter.acquire()
        response = super().handle_request(request)
        if response.status_code == 401:  # httpx's auth flow reads it whole: bound it here
            response.stream = ChallengeBodyBound(response.stream, MAX_ERROR_BODY_BYTES)
        return response


class ChallengeBodyBound(httpx.SyncByteStream):
    """A 401's body cut at `limit` bytes: a registry (or a proxy) cannot make us hold more.
    A longer body is not drained; closing it closes its connection instead."""

    def __init__(self, stream: httpx.SyncByteStream, limit: int) -> None:
        self._stream = stream
        self._limit = limit

    def __iter__(self):
        total = 0
        for chunk in self._stream:
            room = self._limit - total
            if len(chunk) > room:
                if room > 0:
                    yield chunk[:room]
                return
            total += len(chunk)
            yield chunk

    def close(self) -> None:
        self._stream.close()


# -- TLS ----------------------------------------------------------------------------------------

_SSL_CONTEXTS: dict[tuple[str, str | None], ssl.SSLContext] = {}
_SSL_LOCK = threading.Lock()


def ssl_context() -> ssl.SSLContext:
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


def is_tls_verification_failure(exc: BaseException) -> bool:
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLCertVerificationError):
            return True
        seen = seen.__cause__ or seen.__context__
    return "CERTIFICATE_VERIFY_FAILED" in str(exc)


def http_client(
    *, timeout: float, max_connections: int, requests_per_second: float | None
) -> httpx.Client:
    """One bounded, paced, TLS-verifying connection pool that ignores proxies and .netrc."""
    return httpx.Client(
        transport=PacedTransport(
            RateLimiter(requests_per_second, max_connections),
            verify=ssl_context(),
            limits=httpx.Limits(
                max_connections=max_connections, max_keepalive_connections=max_connections
            ),
            trust_env=False,
        ),
        timeout=httpx.Timeout(timeout),
        follow_redirects=False,
        trust_env=False,  # no proxies or netrc from the environment: only HARBOR_URL
        headers={"User-Agent": USER_AGENT},
    )


# -- answers ------------------------------------------------------------------------------------


def origin(url: httpx.URL) -> tuple[str, str, int]:
    """(scheme, host, port): what a redirect must keep to be followed with our credentials."""
    return (url.scheme, url.host.lower(), url.port or DEFAULT_PORTS.get(url.scheme, 0))


def read_bounded(response: httpx.Response, limit: int, what: str) -> bytes:
    """The body, refused once it passes `limit` bytes (a registry cannot make us hold more).

    A connection lost (or timed out) while the body arrives is as transient as one lost
    before the answer: a RegistryUnavailable, never httpx's own exception."""
    chunks: list[bytes] = []
    total = 0
    try:
        for chunk in response.iter_bytes():
            total += len(chunk)
            if total > limit:
                raise RegistryError(f"{what}: manifest larger than {limit} bytes")
            chunks.append(chunk)
    except httpx.TimeoutException:
        raise RegistryUnavailable(f"{what}: registry timed out sending the body") from None
    except httpx.TransportError as exc:
        raise RegistryUnavailable(
            f"{what}: connection lost while reading the body ({type(exc).__name__})"
        ) from None
    return b"".join(chunks)


def error_code(response: httpx.Response) -> str:
    """` (CODE)` from a distribution error body, or empty; nothing else of the body is shown."""
    try:
        body = read_bounded(response, MAX_ERROR_BODY_BYTES, "error body")
        code = json.loads(body)["errors"][0]["code"]
    except (RegistryError, ValueError, KeyError, IndexError, TypeError, httpx.HTTPError):
        return ""
    return f" ({code})" if isinstance(code, str) and _ERROR_CODE_RE.fullmatch(code) else ""


def raise_for_status(response: httpx.Response, what: str) -> None:
    """The precise RegistryError for a status of 300 or more; nothing below."""
    status = response.status_code
    if status < 300:
        return
    code = error_code(response)
    if status in (401, 403):
        raise RegistryAuthError(f"{what}: access denied by the registry ({status}){code}")
    if status == 404:
        raise ManifestNotFound(f"{what}: not found{code}", status=404)
    raise RegistryError(f"{what}: registry answered {status}{code}", status=status)


def retry_after(value: str | None) -> float | None:
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


# -- requests -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Upload:
    """A request body (a manifest being PUT) and its content type."""

    body: bytes
    content_type: str


class RegistrySession:
    """Requests to one registry origin: transient failures retried with backoff, redirects kept
    within the origin, every transport failure turned into a RegistryError."""

    def __init__(
        self,
        base_url: httpx.URL,
        *,
        timeout: float,
        max_connections: int,
        retries: int,
        backoff: float,
        requests_per_second: float | None,
    ) -> None:
        self._origin = origin(base_url)
        self._retries = max(0, retries)
        self._backoff = backoff
        self.http = http_client(
            timeout=timeout,
            max_connections=max_connections,
            requests_per_second=requests_per_second,
        )

    def close(self) -> None:
        self.http.close()

    def request(
        self,
        method: str,
        url: httpx.URL,
        *,
        what: str,
        auth: httpx.Auth,
        headers: dict[str, str],
        upload: Upload | None = None,
    ) -> httpx.Response:
        """Send with `auth`; retry 5xx/429/transport errors with backoff; follow same-origin redirects."""
        if upload is not None:
            headers = {**headers, "Content-Type": upload.content_type}

        def build(target: httpx.URL) -> httpx.Request:
            return self.http.build_request(
                method, target, headers=headers, content=upload.body if upload else None
            )

        attempt = 0
        while True:
            try:
                return self._follow_redirects(build, url, what, auth)
            except RegistryUnavailable as exc:
                if attempt >= self._retries:
                    raise
                delay = self._backoff * (2**attempt)
                if exc.retry_after is not None:
                    delay = max(delay, min(exc.retry_after, MAX_RETRY_AFTER_SECONDS))
                time.sleep(delay)
                attempt += 1

    def _follow_redirects(
        self,
        build: Callable[[httpx.URL], httpx.Request],
        url: httpx.URL,
        what: str,
        auth: httpx.Auth,
    ) -> httpx.Response:
        for _ in range(MAX_REDIRECTS + 1):
            response = self._send(build(url), what, auth)
            if response.status_code not in _REDIRECT_STATUSES:
                return response
            location = response.headers.get("Location")
            response.close()
            if not location:
                raise RegistryError(f"{what}: redirect without a Location")
            target = url.join(location)
            if origin(target) != self._origin:
                # Only HARBOR_URL's origin is trusted with credentials and with our traffic.
                raise RegistryError(f"{what}: refused a redirect to another host")
            url = target
        raise RegistryError(f"{what}: too many redirects")

    def _send(self, request: httpx.Request, what: str, auth: httpx.Auth) -> httpx.Response:
        try:
            response = self.http.send(request, auth=auth, stream=True)
        except httpx.TimeoutException:
            raise RegistryUnavailable(f"{what}: registry timed out") from None
        except httpx.TransportError as exc:
            if is_tls_verification_failure(exc):
                raise RegistryError(f"{what}: TLS certificate verification failed") from None
            raise RegistryUnavailable(
                f"{what}: cannot reach the registry ({type(exc).__name__})"
            ) from None
        if response.status_code == 429 or response.status_code >= 500:
            delay = retry_after(response.headers.get("Retry-After"))
            code = error_code(response)
            response.close()
            raise RegistryUnavailable(
                f"{what}: registry answered {response.status_code}{code}",
                status=response.status_code,
                retry_after=delay,
            )
        return response
