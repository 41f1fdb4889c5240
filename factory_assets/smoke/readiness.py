"""HTTP readiness fallback: one look at `smoke.url`, judged as pass, wait or fail.

Ready means a 2xx answer (after same-host redirects only) and, when
`smoke.expect` is set, the JSON field or header equal to the expected value.
Anything else while the rollout may still be going (connection refused,
timeouts, non-2xx, the old version answering) is `wait`; a redirect to a
host not in `smoke.allow_redirect_hosts` is refused outright (`fail`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

import httpx

from factory_assets.smoke.argocd_verdict import image_has_digest
from factory_assets.smoke.config import ExpectSpec, check_http_url
from factory_assets.smoke.judgement import Judgement

MAX_REDIRECTS = 5
MAX_BODY_BYTES = 1024 * 1024


@dataclass(frozen=True)
class Expected:
    """The value to find, resolved from `expect.equals` against the pin."""

    spec: ExpectSpec
    value: str
    is_digest: bool

    def matches(self, seen: str) -> bool:
        return image_has_digest(seen, self.value) if self.is_digest else seen == self.value


def resolve_expected(spec: ExpectSpec, *, digest: str, version: str | None) -> Expected:
    """`digest` and `version` are keywords for the pin's digest and tag; anything else is literal."""
    if spec.equals == "digest":
        return Expected(spec, digest, is_digest=True)
    if spec.equals == "version":
        if not version:
            raise ValueError("expect.equals is `version`, but the pin has no `tag`")
        return Expected(spec, version, is_digest=False)
    return Expected(spec, spec.equals, is_digest=False)


def _origin(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    return (parts.hostname or "").lower(), parts.port or (443 if parts.scheme == "https" else 80)


def probe_readiness(
    client: httpx.Client,
    url: str,
    *,
    expected: Expected | None = None,
    allow_redirect_hosts: tuple[str, ...] | list[str] = (),
    timeout_seconds: float = 10.0,
) -> Judgement:
    """GET `url` once (following redirects by hand, same host only) and judge the answer."""
    start_host, _ = _origin(url)
    allowed = {start_host, *(h.lower() for h in allow_redirect_hosts)}
    current = url
    for _ in range(MAX_REDIRECTS + 1):
        try:
            with client.stream(
                "GET", current, timeout=timeout_seconds, follow_redirects=False
            ) as response:
                body = (
                    _read_capped(response)
                    if response.is_success and expected and expected.spec.json_path
                    else b""
                )
        except httpx.TimeoutException:
            return _wait(f"no answer from {current} within {timeout_seconds:g} s", error=True)
        except httpx.TransportError as exc:
            return _wait(f"cannot reach {current} ({type(exc).__name__})", error=True)
        except _TooLarge:
            return _wait(f"{current}: body over {MAX_BODY_BYTES} bytes", status=200)
        status = response.status_code
        if response.is_redirect:
            location = response.headers.get("location", "")
            target = urljoin(current, location)
            try:
                check_http_url(target)
            except ValueError as exc:
                return _fail(f"{current} redirects to {location!r}, which {exc}", status)
            host, _ = _origin(target)
            if host not in allowed:
                return _fail(
                    f"{current} redirects to another host ({host}); refused (allow it in smoke.allow_redirect_hosts)",
                    status,
                )
            current = target
            continue
        if not response.is_success:
            return _wait(f"{current} answered {status}", status=status)
        if expected is None:
            return Judgement(
                "pass",
                f"{current} answered {status}",
                {"http_status": status, "note": f"{current} answered {status}"},
            )
        return _judge_expected(expected, response.headers, body, status, current)
    return _fail(f"{url}: more than {MAX_REDIRECTS} redirects", None)


def _judge_expected(
    expected: Expected, headers: httpx.Headers, body: bytes, status: int, url: str
) -> Judgement:
    spec = expected.spec
    if spec.header:
        seen = headers.get(spec.header)
    else:
        seen, problem = _json_field(body, spec.json_path or "")
        if problem:
            return _wait(f"{url} answered {status} but {problem}", status=status)
    if seen is None:
        return _wait(f"{url} answered {status} without {spec.source}", status=status)
    if not expected.matches(seen):
        return _wait(f"{spec.source} is {seen[:200]!r}, expected {expected.value!r}", status=status)
    reason = f"{url} answered {status} with {spec.source} = {seen[:200]!r}"
    return Judgement("pass", reason, {"http_status": status, "note": reason})


def _json_field(body: bytes, path: str) -> tuple[str | None, str | None]:
    """The value at a dotted path (integer parts index lists) as text, or a problem."""
    try:
        value: object = json.loads(body)
    except ValueError:
        return None, "the body is not JSON"
    for part in path.split("."):
        if isinstance(value, dict) and part in value:
            value = value[part]
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return None, None
    if isinstance(value, dict | list):
        return None, f"json field {path!r} is not a scalar"
    if isinstance(value, bool):
        return ("true" if value else "false"), None
    return (None if value is None else str(value)), None


class _TooLarge(Exception):
    pass


def _read_capped(response: httpx.Response) -> bytes:
    chunks, size = [], 0
    for chunk in response.iter_bytes():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise _TooLarge
        chunks.append(chunk)
    return b"".join(chunks)


def _wait(reason: str, *, status: int | None = None, error: bool = False) -> Judgement:
    observation = {"note": reason} if status is None else {"http_status": status, "note": reason}
    return Judgement("wait", reason, observation, error="unavailable" if error else None)


def _fail(reason: str, status: int | None) -> Judgement:
    observation = {"note": reason} if status is None else {"http_status": status, "note": reason}
    return Judgement("fail", reason, observation)
