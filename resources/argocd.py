"""Argo CD API client: read one Application, with precise, token-free errors.

Configured by `ARGOCD_URL` and `ARGOCD_TOKEN` (a Bearer token; an Argo CD
account or project token with `applications, get`), optionally
`ARGOCD_APP_NAMESPACE` for apps outside the control-plane namespace.
The token only ever goes into the Authorization header: it is not in any
repr, message or log line this module produces.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import quote, urlsplit

import httpx

from factory_assets.common import settings
from factory_assets.common.errors import FactoryError

Refresh = Literal["normal", "hard"]

DEFAULT_REQUEST_TIMEOUT_SECONDS = 30.0
MAX_RESPONSE_BYTES = 8 * 1024 * 1024  # an Application with its resource tree stays far below this


class ArgoCDError(FactoryError):
    """Base of every Argo CD failure; `retryable` says whether asking again may help."""

    retryable = False


class ArgoCDConfigError(ArgoCDError):
    """ARGOCD_URL or ARGOCD_TOKEN absent or malformed: nothing was sent."""


class ArgoCDAuthError(ArgoCDError):
    """401: the token is missing, expired or invalid (`invalid session`, gRPC code 16)."""


class ArgoCDPermissionDenied(ArgoCDError):
    """403 (gRPC code 7): the app does not exist, or the token may not read it.

    Argo CD answers both cases alike on purpose (GHSA-2q5c-qw9c-fmvq); pass
    `project` to get a 404 for an app that does not exist.
    """


class ArgoCDAppNotFound(ArgoCDError):
    """404 (gRPC code 5): no such app in the given project/namespace."""


class ArgoCDUnavailable(ArgoCDError):
    """5xx, 429, a timeout or a connection failure: worth retrying later."""

    retryable = True


class ArgoCDProtocolError(ArgoCDError):
    """An answer that is not an Application (another 4xx, not JSON, too large)."""


def _without_userinfo(url: str) -> str:
    """The URL as it may be shown: anything up to an `@` in its authority is dropped."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url.rpartition("@")[2]
    authority, slash, path = rest.partition("/")
    return f"{scheme}://{authority.rpartition('@')[2]}{slash}{path}"


@dataclass(frozen=True)
class ArgoCDSettings:
    url: str
    token: str = field(repr=False)
    app_namespace: str | None = None
    request_timeout_seconds: float = DEFAULT_REQUEST_TIMEOUT_SECONDS

    def __post_init__(self) -> None:
        parts = urlsplit(self.url)
        # Credentials first, and the URL is never echoed: this message can become a smoke
        # verdict, hence evidence and the published dashboard.
        if parts.username or parts.password or "@" in parts.netloc or "@" in parts.path:
            raise ArgoCDConfigError(
                "ARGOCD_URL must not carry credentials; put the token in ARGOCD_TOKEN"
            )
        shown = _without_userinfo(self.url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ArgoCDConfigError(f"ARGOCD_URL must be an http(s) URL with a host, got {shown!r}")
        try:
            port = parts.port  # urlsplit checks the port only when asked
        except ValueError:
            port = 0
        if port is not None and not 0 < port < 65536:
            raise ArgoCDConfigError(f"ARGOCD_URL has an invalid port, got {shown!r}")
        if not self.token or not self.token.strip():
            raise ArgoCDConfigError("ARGOCD_TOKEN is empty")

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> ArgoCDSettings:
        """Read ARGOCD_URL (or its alias ARGOCD_SERVER, the deploy repository's name for it),
        ARGOCD_TOKEN and ARGOCD_APP_NAMESPACE; raise ArgoCDConfigError when absent."""
        url = settings.ARGOCD_URL.get(env) or ""
        token = settings.reveal(settings.ARGOCD_TOKEN.get(env)) or ""
        missing = [
            name for name, value in (("ARGOCD_URL", url), ("ARGOCD_TOKEN", token)) if not value
        ]
        if missing:
            raise ArgoCDConfigError(f"{' and '.join(missing)} not set")
        return cls(
            url=url.rstrip("/"), token=token, app_namespace=settings.ARGOCD_APP_NAMESPACE.get(env)
        )

    def app_ui_url(self, name: str, app_namespace: str | None = None) -> str:
        """The Argo CD UI page of an app: a link for evidence, with no secret in it."""
        namespace = app_namespace or self.app_namespace
        suffix = f"?appNamespace={quote(namespace, safe='')}" if namespace else ""
        return f"{self.url.rstrip('/')}/applications/{quote(name, safe='')}{suffix}"


class ArgoCDClient:
    """A small, synchronous client over httpx for the one call the smoke check needs."""

    def __init__(
        self, settings: ArgoCDSettings, *, transport: httpx.BaseTransport | None = None
    ) -> None:
        self.settings = settings
        self._http = httpx.Client(
            base_url=settings.url.rstrip("/"),
            headers={"Authorization": f"Bearer {settings.token}", "Accept": "application/json"},
            timeout=settings.request_timeout_seconds,
            follow_redirects=False,  # a redirect would leave the API, maybe with the token
            transport=transport,
        )

    def __enter__(self) -> ArgoCDClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def __repr__(self) -> str:
        return f"ArgoCDClient(url={self.settings.url!r})"

    def get_application(
        self,
        name: str,
        refresh: Refresh | None = "normal",
        *,
        app_namespace: str | None = None,
        project: str | None = None,
        timeout_seconds: float | None = None,
    ) -> dict:
        """`GET /api/v1/applications/{name}`: the Application as a dict.

        `refresh` asks Argo CD to re-read git first (the answer then waits for
        that refresh); `timeout_seconds` bounds this one request.
        """
        if not name or "/" in name:
            raise ArgoCDConfigError(f"invalid Argo CD application name {name!r}")
        params: dict[str, str] = {}
        if refresh:
            params["refresh"] = refresh
        namespace = app_namespace or self.settings.app_namespace
        if namespace:
            params["appNamespace"] = namespace
        if project:
            params["project"] = project
        what = f"argocd app {name!r}"
        timeout = (
            self.settings.request_timeout_seconds if timeout_seconds is None else timeout_seconds
        )
        try:
            response = self._http.get(
                f"/api/v1/applications/{quote(name, safe='')}", params=params, timeout=timeout
            )
            body = response.read()
        except httpx.TimeoutException:
            raise ArgoCDUnavailable(f"{what}: no answer within {timeout:g} s") from None
        except httpx.TransportError as exc:
            raise ArgoCDUnavailable(
                f"{what}: cannot reach Argo CD ({type(exc).__name__})"
            ) from None
        if len(body) > MAX_RESPONSE_BYTES:
            raise ArgoCDProtocolError(f"{what}: answer of {len(body)} bytes is over the limit")
        status = response.status_code
        if status == 200:
            return _application_of(body, what)
        detail = _error_message(body, self.settings.token)
        if status == 401:
            raise ArgoCDAuthError(f"{what}: 401 unauthenticated: {detail} (check ARGOCD_TOKEN)")
        if status == 403:
            raise ArgoCDPermissionDenied(
                f"{what}: 403 {detail}: the app does not exist or the token may not read it"
                " (Argo CD answers both alike; set smoke.project to get 404 for a missing app)"
            )
        if status == 404:
            raise ArgoCDAppNotFound(f"{what}: 404 not found: {detail}")
        if status == 429 or status >= 500:
            raise ArgoCDUnavailable(f"{what}: {status} from Argo CD: {detail}")
        raise ArgoCDProtocolError(f"{what}: unexpected {status} from Argo CD: {detail}")


def _application_of(body: bytes, what: str) -> dict:
    try:
        data = json.loads(body)
    except ValueError:
        raise ArgoCDProtocolError(f"{what}: 200 but the body is not JSON") from None
    if not isinstance(data, dict) or not isinstance(data.get("metadata"), dict):
        raise ArgoCDProtocolError(f"{what}: 200 but the body is not an Application")
    return data


def _error_message(body: bytes, token: str) -> str:
    """Argo CD's error text (`{"error","code","message"}`), short, with the token scrubbed."""
    try:
        data = json.loads(body)
        text = str(data.get("message") or data.get("error") or "") if isinstance(data, dict) else ""
    except ValueError:
        text = body[:200].decode("utf-8", "replace")
    text = " ".join(text.split())[:300]
    if token and token in text:
        text = text.replace(token, "***")
    return text or "no error message"
