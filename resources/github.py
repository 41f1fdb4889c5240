"""GitHub REST client for the issue endpoints escalation uses (plain httpx, no Dagster).

Config from the environment: GITHUB_TOKEN, GITHUB_REPOSITORY (owner/name) and GITHUB_API_URL
(default https://api.github.com; set it for GitHub Enterprise). The token is sent only as a Bearer
header to the configured API origin and never appears in a message or exception.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import httpx

from factory_assets.common import settings
from factory_assets.common.errors import FactoryError, InputError

API_VERSION = "2022-11-28"
REPOSITORY = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")
MAX_PAGES = 50  # 5,000 open issues with one label is far past any sane use; stop rather than spin


class GitHubError(FactoryError):
    """A failed API call: method, path, status and GitHub's message (never the token)."""

    def __init__(self, method: str, path: str, status: int | None, message: str) -> None:
        self.status = status
        # No answer, rate limited or a server error: asking again later may succeed.
        self.retryable = status is None or status == 429 or status >= 500
        where = f"HTTP {status}" if status is not None else "no response"
        super().__init__(f"GitHub {method} {path}: {where}: {message}")


@dataclass(frozen=True)
class GitHubConfig:
    repository: str
    token: str = field(repr=False)
    api_url: str = settings.GITHUB_API_URL.default

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> GitHubConfig | None:
        """None when GITHUB_TOKEN or GITHUB_REPOSITORY is unset (escalation then stays local)."""
        token = settings.reveal(settings.GITHUB_TOKEN.get(env))
        repository = settings.GITHUB_REPOSITORY.get(env)
        if not token or not repository:
            return None
        if not REPOSITORY.match(repository):
            raise InputError("GITHUB_REPOSITORY", "-", f"expected owner/name, got {repository!r}")
        api_url = settings.GITHUB_API_URL.get(env).rstrip("/")
        if urlsplit(api_url).scheme not in ("http", "https"):
            raise InputError("GITHUB_API_URL", "-", "expected an http(s) URL")
        return cls(repository=repository, token=token, api_url=api_url)


class GitHubClient:
    """Issues of one repository: list (paginated), create, comment, update."""

    def __init__(
        self,
        config: GitHubConfig,
        *,
        timeout: float = 15.0,
        transport: httpx.BaseTransport | None = None,
    ):
        self.config = config
        self._origin = _origin(config.api_url)
        self._http = httpx.Client(
            base_url=config.api_url,
            timeout=timeout,
            transport=transport,
            follow_redirects=False,
            headers={
                "Accept": "application/vnd.github+json",
                "Authorization": f"Bearer {config.token}",
                "X-GitHub-Api-Version": API_VERSION,
                "User-Agent": "factory-repair",
            },
        )

    def __enter__(self) -> GitHubClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    @property
    def repo_path(self) -> str:
        return f"/repos/{self.config.repository}"

    def _request(
        self, method: str, url: str, *, json: dict | None = None, params: dict | None = None
    ) -> httpx.Response:
        shown = urlsplit(url).path or url
        try:
            response = self._http.request(method, url, json=json, params=params)
        except httpx.HTTPError as exc:
            raise GitHubError(method, shown, None, type(exc).__name__) from None
        if response.status_code >= 400:
            message = _message(response).replace(self.config.token, "[REDACTED]")
            raise GitHubError(method, shown, response.status_code, message)
        return response

    def _request_json(
        self, method: str, url: str, expect: type, **kwargs: object
    ) -> tuple[httpx.Response, dict | list]:
        """`_request`, then its JSON body, which must be a `expect` (dict or list).

        A proxy's login page or a wrong GITHUB_API_URL answers 200 with something else: that
        is a GitHubError like any failed call, never a JSONDecodeError or a KeyError later.
        """
        response = self._request(method, url, **kwargs)  # type: ignore[arg-type]
        try:
            data = response.json()
        except ValueError:
            data = None
        if not isinstance(data, expect) or (
            expect is list and not all(isinstance(item, dict) for item in data)
        ):
            wanted = "a JSON array of objects" if expect is list else "a JSON object"
            shown = urlsplit(url).path or url
            raise GitHubError(method, shown, response.status_code, f"expected {wanted}")
        return response, data

    def list_open_issues(self, labels: list[str], *, per_page: int = 100) -> Iterator[dict]:
        """Open issues carrying every label in `labels`; pull requests are skipped."""
        url = f"{self.repo_path}/issues"
        params: dict | None = {"labels": ",".join(labels), "state": "open", "per_page": per_page}
        for _ in range(MAX_PAGES):
            response, items = self._request_json("GET", url, list, params=params)
            for item in items:
                if "pull_request" not in item:
                    yield item
            next_url = response.links.get("next", {}).get("url")
            if not next_url:
                return
            if _origin(next_url) != self._origin:
                raise GitHubError(
                    "GET",
                    url,
                    response.status_code,
                    "pagination left the API origin; refusing to follow",
                )
            url, params = next_url, None

    def create_issue(self, title: str, body: str, labels: list[str]) -> dict:
        return self._request_json(
            "POST",
            f"{self.repo_path}/issues",
            dict,
            json={"title": title, "body": body, "labels": labels},
        )[1]

    def add_comment(self, number: int, body: str) -> dict:
        return self._request_json(
            "POST", f"{self.repo_path}/issues/{number}/comments", dict, json={"body": body}
        )[1]

    def update_issue(self, number: int, **fields: object) -> dict:
        """PATCH an issue: `body`, `title`, `state` ("open"/"closed"), `state_reason`, `labels`."""
        return self._request_json("PATCH", f"{self.repo_path}/issues/{number}", dict, json=fields)[
            1
        ]


def _origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.scheme, parts.netloc


def _message(response: httpx.Response) -> str:
    try:
        data = response.json()
    except ValueError:
        return response.reason_phrase or "error"
    message = str(data.get("message", "error")) if isinstance(data, dict) else "error"
    return message[:300]


def client_from_env(env: Mapping[str, str] | None = None) -> GitHubClient | None:
    """A client configured from GITHUB_* (close it when done), or None when they are unset."""
    config = GitHubConfig.from_env(env)
    return GitHubClient(config) if config else None
