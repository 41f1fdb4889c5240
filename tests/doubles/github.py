"""A GitHub REST API double for the issue endpoints, as a real HTTP server on loopback.

Shapes follow the GitHub REST docs (API version 2022-11-28):
- GET  /repos/{owner}/{repo}/issues?labels=a,b&state=open|closed|all&per_page=&page=
  (newest first, pull requests included as in GitHub, `Link` header with next/last/first/prev)
- POST /repos/{owner}/{repo}/issues                 {title, body, labels} -> 201
- GET  /repos/{owner}/{repo}/issues/{n}
- PATCH /repos/{owner}/{repo}/issues/{n}            {title, body, state, state_reason, labels}
- GET/POST /repos/{owner}/{repo}/issues/{n}/comments
Auth: `Authorization: Bearer <token>` (or `token <token>`); anything else is 401 "Bad credentials".
"""

from __future__ import annotations

import json
import os
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlencode, urlsplit

DOCS = "https://docs.github.com/rest"
_ISSUES = re.compile(r"^/repos/(?P<owner>[^/]+)/(?P<repo>[^/]+)/issues$")
_ISSUE = re.compile(r"^/repos/(?P<owner>[^/]+)/(?P<repo>[^/]+)/issues/(?P<number>\d+)$")
_COMMENTS = re.compile(r"^/repos/(?P<owner>[^/]+)/(?P<repo>[^/]+)/issues/(?P<number>\d+)/comments$")


def _now(tick: int) -> str:
    return f"2026-01-01T00:{tick // 60:02d}:{tick % 60:02d}Z"


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: dict | None


@dataclass
class GitHubDouble:
    """State and server. `issues` and `comments` are plain dicts tests may read or seed."""

    repository: str = "acme/gitops"
    token: str = "ghs_doubletokenvalue0123456789abcdefABCDEF"
    default_per_page: int = 30
    max_per_page: int = 100  # GitHub's cap; lower it to force pagination
    issues: dict[int, dict] = field(default_factory=dict)
    comments: dict[int, list[dict]] = field(default_factory=dict)
    requests: list[Request] = field(default_factory=list)
    fail_next: list[int] = field(default_factory=list)  # statuses to return for the next requests
    _tick: int = 0
    _next_number: int = 1
    _next_id: int = 1000
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _server: ThreadingHTTPServer | None = None
    _thread: threading.Thread | None = None

    # --- lifecycle ------------------------------------------------------------

    def start(self) -> GitHubDouble:
        double = self

        class Handler(_Handler):
            state = double

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server:
            self._server.shutdown()
            self._server.server_close()

    @property
    def url(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def env(self) -> dict[str, str]:
        return {
            "GITHUB_TOKEN": self.token,
            "GITHUB_REPOSITORY": self.repository,
            "GITHUB_API_URL": self.url,
        }

    # --- state helpers ----------------------------------------------------------

    def _stamp(self) -> str:
        self._tick += 1
        return _now(self._tick)

    def add_issue(
        self,
        title: str,
        body: str = "",
        labels: list[str] | None = None,
        *,
        pull_request: bool = False,
    ) -> dict:
        with self._lock:
            return self._create(title, body, labels or [], pull_request=pull_request)

    def _label(self, name: str) -> dict:
        return {
            "id": abs(hash(name)) % 10**8,
            "node_id": f"LA_{name}",
            "name": name,
            "color": "ededed",
            "default": False,
        }

    def _create(
        self, title: str, body: str | None, labels: list[str], *, pull_request: bool = False
    ) -> dict:
        number = self._next_number
        self._next_number += 1
        self._next_id += 1
        base = f"{self.url}/repos/{self.repository}"
        now = self._stamp()
        issue = {
            "id": self._next_id,
            "node_id": f"I_{self._next_id}",
            "url": f"{base}/issues/{number}",
            "repository_url": base,
            "comments_url": f"{base}/issues/{number}/comments",
            "html_url": f"https://github.example/{self.repository}/issues/{number}",
            "number": number,
            "state": "open",
            "state_reason": None,
            "title": title,
            "body": body,
            "user": {"login": "factory-bot", "id": 1, "type": "Bot"},
            "labels": [self._label(n) for n in labels],
            "assignees": [],
            "locked": False,
            "comments": 0,
            "created_at": now,
            "updated_at": now,
            "closed_at": None,
        }
        if pull_request:
            issue["pull_request"] = {"url": f"{base}/pulls/{number}"}
        self.issues[number] = issue
        self.comments[number] = []
        return issue

    def open_issues(self) -> list[dict]:
        return [i for i in self.issues.values() if i["state"] == "open" and "pull_request" not in i]

    # --- request handling --------------------------------------------------------

    def handle(self, req: Request) -> tuple[int, dict[str, str], object]:
        with self._lock:
            self.requests.append(req)
            if self.fail_next:
                status = self.fail_next.pop(0)
                return (
                    status,
                    {},
                    {
                        "message": "Server Error" if status >= 500 else "Error",
                        "documentation_url": DOCS,
                    },
                )
            auth = req.headers.get("authorization", "")
            scheme, _, value = auth.partition(" ")
            if scheme.lower() not in ("bearer", "token") or value != self.token:
                return 401, {}, {"message": "Bad credentials", "documentation_url": DOCS}
            if req.headers.get("x-github-api-version", "2022-11-28") != "2022-11-28":
                return 400, {}, {"message": "Unsupported API version", "documentation_url": DOCS}
            for pattern, handler in (
                (_ISSUES, self._issues),
                (_ISSUE, self._issue),
                (_COMMENTS, self._comments),
            ):
                match = pattern.match(req.path)
                if match:
                    if f"{match['owner']}/{match['repo']}" != self.repository:
                        return 404, {}, {"message": "Not Found", "documentation_url": DOCS}
                    return handler(req, match)
            return 404, {}, {"message": "Not Found", "documentation_url": DOCS}

    def _issues(self, req: Request, match: re.Match[str]) -> tuple[int, dict[str, str], object]:
        if req.method == "POST":
            body = req.body or {}
            if not isinstance(body.get("title"), str) or not body["title"]:
                return (
                    422,
                    {},
                    {
                        "message": "Validation Failed",
                        "errors": [
                            {"resource": "Issue", "field": "title", "code": "missing_field"}
                        ],
                    },
                )
            labels = [str(n) for n in body.get("labels") or []]
            return 201, {}, self._create(body["title"], body.get("body"), labels)
        if req.method != "GET":
            return 404, {}, {"message": "Not Found"}
        q = {k: v[-1] for k, v in req.query.items()}
        state = q.get("state", "open")
        wanted = [n for n in q.get("labels", "").split(",") if n]
        items = [
            i
            for i in sorted(self.issues.values(), key=lambda i: i["number"], reverse=True)
            if (state == "all" or i["state"] == state)
            and all(n in [lb["name"] for lb in i["labels"]] for n in wanted)
        ]
        per_page = max(1, min(self.max_per_page, int(q.get("per_page", self.default_per_page))))
        page = max(1, int(q.get("page", "1")))
        last = max(1, -(-len(items) // per_page))
        chunk = items[(page - 1) * per_page : page * per_page]
        links = []

        def link(p: int, rel: str) -> str:
            query = urlencode({**q, "page": p, "per_page": per_page})
            return f'<{self.url}{req.path}?{query}>; rel="{rel}"'

        if page < last:
            links += [link(page + 1, "next"), link(last, "last")]
        if page > 1:
            links += [link(1, "first"), link(page - 1, "prev")]
        return 200, ({"Link": ", ".join(links)} if links else {}), chunk

    def _issue(self, req: Request, match: re.Match[str]) -> tuple[int, dict[str, str], object]:
        issue = self.issues.get(int(match["number"]))
        if issue is None:
            return 404, {}, {"message": "Not Found", "documentation_url": DOCS}
        if req.method == "GET":
            return 200, {}, issue
        if req.method != "PATCH":
            return 404, {}, {"message": "Not Found"}
        body = req.body or {}
        if "state" in body and body["state"] not in ("open", "closed"):
            return 422, {}, {"message": "Validation Failed"}
        for key in ("title", "body"):
            if key in body:
                issue[key] = body[key]
        if "labels" in body:
            issue["labels"] = [self._label(str(n)) for n in body["labels"]]
        if body.get("state") == "closed" and issue["state"] != "closed":
            issue.update(
                state="closed",
                state_reason=body.get("state_reason", "completed"),
                closed_at=self._stamp(),
            )
        elif body.get("state") == "open":
            issue.update(state="open", state_reason="reopened", closed_at=None)
        issue["updated_at"] = self._stamp()
        return 200, {}, issue

    def _comments(self, req: Request, match: re.Match[str]) -> tuple[int, dict[str, str], object]:
        number = int(match["number"])
        if number not in self.issues:
            return 404, {}, {"message": "Not Found", "documentation_url": DOCS}
        if req.method == "GET":
            return 200, {}, self.comments[number]
        if req.method != "POST":
            return 404, {}, {"message": "Not Found"}
        text = (req.body or {}).get("body")
        if not isinstance(text, str) or not text:
            return 422, {}, {"message": "Validation Failed"}
        self._next_id += 1
        now = self._stamp()
        comment = {
            "id": self._next_id,
            "node_id": f"IC_{self._next_id}",
            "url": f"{self.url}/repos/{self.repository}/issues/comments/{self._next_id}",
            "html_url": f"{self.issues[number]['html_url']}#issuecomment-{self._next_id}",
            "issue_url": self.issues[number]["url"],
            "body": text,
            "user": {"login": "factory-bot", "id": 1, "type": "Bot"},
            "created_at": now,
            "updated_at": now,
        }
        self.comments[number].append(comment)
        self.issues[number]["comments"] += 1
        return 201, {}, comment


class _Handler(BaseHTTPRequestHandler):
    state: GitHubDouble
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: object) -> None:  # keep test output quiet
        pass

    def _serve(self) -> None:
        parts = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        body = None
        if raw:
            try:
                body = json.loads(raw)
            except ValueError:
                self._send(400, {}, {"message": "Problems parsing JSON"})
                return
        req = Request(
            self.command,
            parts.path,
            parse_qs(parts.query),
            {k.lower(): v for k, v in self.headers.items()},
            body,
        )
        status, headers, payload = self.state.handle(req)
        self._send(status, headers, payload)

    def _send(self, status: int, headers: dict[str, str], payload: object) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("X-GitHub-Api-Version-Selected", "2022-11-28")
        for key, value in headers.items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PATCH = _serve


def main(argv: list[str] | None = None) -> int:
    """Serve the double until interrupted; write its GITHUB_* settings as shell exports first."""
    import argparse
    import signal

    parser = argparse.ArgumentParser(
        prog="python -m tests.doubles.github", description=__doc__.splitlines()[0]
    )
    parser.add_argument(
        "--env-file", required=True, help="where to write `export GITHUB_...=...` lines"
    )
    args = parser.parse_args(argv)
    double = GitHubDouble().start()
    lines = "".join(f"export {k}={v}\n" for k, v in double.env().items())
    tmp = f"{args.env_file}.tmp"
    with open(tmp, "w") as fh:
        fh.write(lines)
    os.replace(tmp, args.env_file)  # readers never see a half-written file
    signal.signal(signal.SIGTERM, lambda *_: double.stop())
    try:
        double._thread.join()  # type: ignore[union-attr]
    except KeyboardInterrupt:
        double.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
