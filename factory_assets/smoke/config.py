"""The user-owned `smoke:` block of a pin file, validated into a typed config.

```yaml
smoke:
  argocd_app: api            # check Argo CD (needs ARGOCD_URL and ARGOCD_TOKEN)
  app_namespace: apps        # optional: the app's namespace (Argo CD `appNamespace`)
  project: dev               # optional: makes Argo CD answer 404, not 403, for a missing app
  refresh: normal            # normal | hard | none: ask Argo CD to re-read git while waiting
  url: https://api.dev.example/healthz   # readiness fallback, used when there is no Argo CD app
  expect: {json: build.digest, equals: digest}   # or {header: X-Image-Digest, equals: version}
  allow_redirect_hosts: [login.dev.example]      # redirects to other hosts are refused otherwise
  timeout_seconds: 600       # give up (verdict `timeout`) after this long
  interval_seconds: 5        # between two looks
  request_timeout_seconds: 30
```

`expect.equals` is `digest` (the pinned `sha256:...`; a value ending in
`@sha256:...`, i.e. an image reference, also matches), `version` (the pin's
`tag`) or any other string, compared literally.
"""

from __future__ import annotations

from typing import Literal
from urllib.parse import urlsplit

from factory_assets.common.errors import InputError
from factory_assets.common.plain_model import (
    PlainModel,
    ValidationError,
    field,
    list_of,
    literal,
    model,
    number,
    optional,
    text,
    then,
)

DEFAULT_TIMEOUT_SECONDS = (
    600.0  # Argo CD polls git every 3 min: leave room for a poll, a sync and a rollout
)
DEFAULT_INTERVAL_SECONDS = 5.0
DEFAULT_REQUEST_TIMEOUT_SECONDS = 30.0  # a GET with refresh waits for Argo CD's refresh to finish

EXPECT_KEYWORDS = ("digest", "version")


class ExpectSpec(PlainModel, extra="forbid"):
    """A value the ready endpoint must report: a JSON field or a header, equal to `equals`."""

    json_path: str | None = field(
        optional(text(min_length=1, max_length=256)), default=None, alias="json"
    )
    header: str | None = field(
        optional(text(min_length=1, max_length=256, pattern=r"^[A-Za-z0-9!#$%&'*+.^_`|~-]+$")),
        default=None,
    )
    equals: str = field(text(min_length=1, max_length=4096))

    def _cross_check(self) -> None:
        if (self.json_path is None) == (self.header is None):
            raise ValueError(
                "give exactly one of `json` (a dotted field path) or `header` (a header name)"
            )

    @property
    def source(self) -> str:
        return f"json field {self.json_path!r}" if self.json_path else f"header {self.header!r}"


def _http_url(value: str) -> str:
    check_http_url(value)
    return value


def _lowercase(hosts: list[str]) -> list[str]:
    return [host.lower() for host in hosts]


class SmokeConfig(PlainModel, extra="forbid"):
    argocd_app: str | None = field(
        optional(text(min_length=1, max_length=253, pattern=r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")),
        default=None,
    )
    app_namespace: str | None = field(optional(text(min_length=1, max_length=63)), default=None)
    project: str | None = field(optional(text(min_length=1, max_length=253)), default=None)
    refresh: Literal["normal", "hard", "none"] = field(
        literal("normal", "hard", "none"), default="normal"
    )
    url: str | None = field(optional(then(text(max_length=2048), _http_url)), default=None)
    expect: ExpectSpec | None = field(optional(model(ExpectSpec)), default=None)
    allow_redirect_hosts: list[str] = field(then(list_of(text()), _lowercase), default=[])
    timeout_seconds: float = field(number(gt=0, le=6 * 3600), default=DEFAULT_TIMEOUT_SECONDS)
    interval_seconds: float = field(number(gt=0, le=3600), default=DEFAULT_INTERVAL_SECONDS)
    request_timeout_seconds: float = field(
        number(gt=0, le=600), default=DEFAULT_REQUEST_TIMEOUT_SECONDS
    )

    @property
    def configured(self) -> bool:
        return bool(self.argocd_app or self.url)


def check_http_url(value: str) -> None:
    """Raise ValueError unless `value` is an http(s) URL with a host and no credentials."""
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError as exc:
        raise ValueError(f"not a valid URL ({exc})") from None
    if parts.scheme not in ("http", "https"):
        raise ValueError(
            f"must be an http:// or https:// URL, got scheme {parts.scheme or 'none'!r}"
        )
    if not parts.hostname:
        raise ValueError("has no host")
    if parts.username or parts.password:
        raise ValueError("must not carry credentials")


def parse_smoke_config(raw: object, *, path: str) -> SmokeConfig | None:
    """The typed config, None when the pin has no `smoke:` block; InputError names the bad field."""
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise InputError(path, "smoke", f"expected a mapping, found {type(raw).__name__}")
    try:
        return SmokeConfig.model_validate(dict(raw))
    except ValidationError as exc:
        err = exc.errors(include_url=False)[0]
        where = ".".join(["smoke", *(str(p) for p in err["loc"])])
        message = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            message = "unknown key (see factory_assets/smoke/config.py for the keys)"
        raise InputError(path, where, message) from None
