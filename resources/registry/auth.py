"""Registry auth as an httpx auth flow: a Bearer token per scope (or Basic), sent only where allowed."""

from __future__ import annotations

import base64
import re
import threading
import time
from collections.abc import Callable, Generator, Iterable
from dataclasses import dataclass
from typing import Any

import httpx

from resources.registry.errors import RegistryAuthError, RegistryUnavailable
from resources.registry.transport import (
    DEFAULT_PORTS,
    error_code,
    is_tls_verification_failure,
    retry_after,
)

_TOKEN_RE = re.compile(r"[A-Za-z0-9._~+/=-]+")
_AUTH_PARAM_RE = re.compile(r'([A-Za-z][A-Za-z0-9_-]*)\s*=\s*("(?:[^"\\]|\\.)*"|[^,\s]*)')
_ISSUED_KEPT = 64  # tokens remembered for scrubbing messages


class Secret:
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
    value: Secret
    refresh_at: float  # the clock's reading after which a new token is fetched


class Credentials:
    """HARBOR_USERNAME/HARBOR_PASSWORD and what the registry granted for them: tokens per scope.

    Shared by every request of one client (thread-safe): the first challenge teaches it the
    token realm (or that the registry wants Basic), so later requests authenticate up front.
    """

    def __init__(
        self,
        http: httpx.Client,
        registry: httpx.URL,
        username: str | None,
        password: str | None,
        *,
        realm_hosts: Iterable[str] = (),
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._http = http  # token requests share the registry's pool and rate limit
        self._https_only = registry.scheme == "https"
        # Hosts that may serve Bearer tokens besides HARBOR_URL's own (HARBOR_TOKEN_REALM_HOSTS).
        self._realm_hosts = {registry.host, *(h.strip().lower() for h in realm_hosts if h.strip())}
        self.username = username
        self._password = Secret(password) if password is not None else None
        self._lock = threading.Lock()
        self._tokens: dict[str, _CachedToken] = {}
        self._token_locks: dict[str, threading.Lock] = {}
        self._bearer: _Challenge | None = None  # learned from the first challenge
        self._basic = False  # the registry asked for Basic: send it up front from now on
        self._issued: list[Secret] = []  # every token seen, for scrubbing messages
        self._clock = clock  # monotonic seconds that token lifetimes are counted in

    def redact(self, text: str) -> str:
        """`text` with the password and every token issued to us replaced by `<redacted>`."""
        with self._lock:
            secrets = [s.reveal() for s in self._issued]
        if self._password is not None:
            secrets.append(self._password.reveal())
        for secret in secrets:
            if secret:
                text = text.replace(secret, "<redacted>")
        return text

    def known_authorization(self, scope: str, what: str) -> str | None:
        """Authorization to send up front: a cached token, a fresh one, or Basic if asked before."""
        with self._lock:
            bearer, basic = self._bearer, self._basic
        if bearer is not None:
            return f"Bearer {self._fetch_token(bearer, scope, what, force=False).reveal()}"
        if basic and self._password is not None:
            return self._basic_header()
        return None

    def answer(self, challenge_headers: list[str], scope: str, what: str) -> str:
        """Authorization that answers a 401's WWW-Authenticate challenge for `scope`."""
        challenges = _parse_challenges(challenge_headers)
        bearer = next((c for c in challenges if c.scheme == "bearer"), None)
        basic = next((c for c in challenges if c.scheme == "basic"), None)
        if bearer is not None:
            with self._lock:
                # Remember realm and service only: the scope belongs to this one request.
                self._bearer = _Challenge(
                    "bearer", {k: v for k, v in bearer.params.items() if k != "scope"}
                )
            token = self._fetch_token(bearer, scope, what, force=True)
            return f"Bearer {token.reveal()}"
        if basic is not None and self._password is not None:
            with self._lock:
                self._basic = True
            return self._basic_header()
        if basic is not None:
            raise RegistryAuthError(
                f"{what}: the registry requires credentials (HARBOR_USERNAME/HARBOR_PASSWORD)",
                status=401,
            )
        raise RegistryAuthError(f"{what}: 401 without a usable challenge", status=401)

    def _basic_header(self) -> str:
        assert self.username is not None and self._password is not None
        raw = f"{self.username}:{self._password.reveal()}".encode()
        return "Basic " + base64.b64encode(raw).decode("ascii")

    def _fetch_token(self, challenge: _Challenge, scope: str, what: str, *, force: bool) -> Secret:
        """A Bearer token for `scope`: cached until shortly before expiry, else from the realm."""
        with self._lock:
            cached = self._tokens.get(scope)
            if not force and cached and self._clock() < cached.refresh_at:
                return cached.value
            lock = self._token_locks.setdefault(scope, threading.Lock())
        with lock:
            with self._lock:
                latest = self._tokens.get(scope)
            # Another thread may have fetched a fresh one while we waited for the lock.
            if latest is not None and latest is not cached and self._clock() < latest.refresh_at:
                return latest.value
            token = self._request_token(challenge, scope, what)
            with self._lock:
                self._tokens[scope] = token
                self._issued.append(token.value)
                del self._issued[:-_ISSUED_KEPT]
            return token.value

    def _realm_url(self, challenge: _Challenge, what: str) -> httpx.URL:
        realm = challenge.params.get("realm", "")
        try:
            url = httpx.URL(realm)
        except httpx.InvalidURL:
            raise RegistryAuthError(f"{what}: the token realm is not a valid URL") from None
        if url.scheme not in DEFAULT_PORTS or not url.host or url.userinfo:
            raise RegistryAuthError(f"{what}: the token realm must be an http(s) URL")
        if self._https_only and url.scheme != "https":
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
        started = self._clock()
        try:
            response = self._http.get(realm.copy_merge_params(params), headers=headers)
        except httpx.TimeoutException:
            raise RegistryUnavailable(f"{what}: token service timed out") from None
        except httpx.TransportError as exc:
            if is_tls_verification_failure(exc):
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
                retry_after=retry_after(response.headers.get("Retry-After")),
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
        return _CachedToken(Secret(value), started + expires_in - margin)


class BearerAuth(httpx.Auth):
    """The auth flow of one registry request: what is known up front, else one answered challenge.

    A write asks for push in its own token scope; reads never hold more than pull. The flow
    fetches tokens and takes locks, so it is a `sync_auth_flow` (for httpx.Client only).
    """

    def __init__(self, credentials: Credentials, repository: str, *, push: bool, what: str):
        self._credentials = credentials
        self._scope = f"repository:{repository}:{'pull,push' if push else 'pull'}"
        self._what = what

    def __repr__(self) -> str:
        return f"BearerAuth(scope={self._scope!r})"

    def sync_auth_flow(
        self, request: httpx.Request
    ) -> Generator[httpx.Request, httpx.Response, None]:
        what = self._what
        authorization = self._credentials.known_authorization(self._scope, what)
        if authorization:
            request.headers["Authorization"] = authorization
        response = yield request
        if response.status_code == 403:
            raise RegistryAuthError(
                f"{what}: access denied (403){error_code(response)}", status=403
            )
        if response.status_code != 401:
            return
        challenges = response.headers.get_list("WWW-Authenticate")
        # Done with the 401 before the token request: its connection goes back to the pool,
        # so clients at the connection bound never wait on each other for a token. The body
        # is bounded by the transport (ChallengeBodyBound), as httpx reads it here anyway.
        response.read()
        request.headers["Authorization"] = self._credentials.answer(challenges, self._scope, what)
        response = yield request
        if response.status_code in (401, 403):
            status = response.status_code
            raise RegistryAuthError(
                f"{what}: the registry rejected the credentials ({status}){error_code(response)}",
                status=status,
            )
