"""A private deploy repository over HTTP: git's own `git http-backend` (CGI) behind a token check.

Every request needs the token, as a private repository on a git host does: `Authorization:
Bearer <token>`, or Basic with any user name and the token as the password (what git sends
after its credential helper answers). Without it the answer is 401 with a Basic challenge, so
git asks its credential helper, exactly as it does against a real host. Clones and pushes then
run through `git http-backend`, the smart-HTTP server git ships. Nothing is logged, no header
is kept: the server records only (method, path, authorized) per request.
"""

from __future__ import annotations

import base64
import os
import subprocess
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit


@dataclass(frozen=True)
class Seen:
    method: str
    path: str
    authorized: bool


class GitHttpServer:
    """`GitHttpServer(root, token).start()`; `.url_for(bare)`; `.seen`; `.stop()`."""

    def __init__(self, root: Path, token: str) -> None:
        self.root = Path(root)
        self.token = token
        self.seen: list[Seen] = []
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    def start(self) -> GitHttpServer:
        owner = self

        class Handler(_Handler):
            server_owner = owner

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def url_for(self, bare: Path) -> str:
        """The HTTP URL of a bare repository under `root` (no credentials in it)."""
        assert self._server is not None, "start() the server first"
        relative = Path(bare).resolve().relative_to(self.root.resolve())
        return f"http://127.0.0.1:{self._server.server_address[1]}/{relative.as_posix()}"

    def authorized(self, header: str | None) -> bool:
        if not header:
            return False
        scheme, _, value = header.partition(" ")
        if scheme.lower() == "bearer":
            return value.strip() == self.token
        if scheme.lower() == "basic":
            try:
                decoded = base64.b64decode(value.strip(), validate=True).decode()
            except (ValueError, UnicodeDecodeError):
                return False
            return decoded.partition(":")[2] == self.token
        return False

    def note(self, seen: Seen) -> None:
        with self._lock:
            self.seen.append(seen)


class _Handler(BaseHTTPRequestHandler):
    server_owner: GitHttpServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - http.server's name
        pass  # nothing about a request reaches a log

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        self._serve()

    def do_POST(self) -> None:  # noqa: N802
        self._serve()

    def _serve(self) -> None:
        owner = self.server_owner
        parts = urlsplit(self.path)
        ok = owner.authorized(self.headers.get("Authorization"))
        owner.note(Seen(self.command, parts.path, ok))
        body = self._body()
        if not ok:
            self._answer(401, {"WWW-Authenticate": 'Basic realm="deploy"'}, b"token required\n")
            return
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "GIT_PROJECT_ROOT": str(owner.root),
            "GIT_HTTP_EXPORT_ALL": "1",
            "REMOTE_USER": "deploy-bot",  # authenticated: git http-backend allows receive-pack
            "REMOTE_ADDR": self.client_address[0],
            "REQUEST_METHOD": self.command,
            "PATH_INFO": parts.path,
            "QUERY_STRING": parts.query,
            "CONTENT_TYPE": self.headers.get("Content-Type", ""),
            "CONTENT_LENGTH": str(len(body)),
        }
        if self.headers.get("Content-Encoding"):
            env["HTTP_CONTENT_ENCODING"] = self.headers["Content-Encoding"]
        if self.headers.get("Git-Protocol"):
            env["GIT_PROTOCOL"] = self.headers["Git-Protocol"]
        done = subprocess.run(
            ["git", "http-backend"], input=body, env=env, capture_output=True, timeout=120
        )
        head, payload = _split_cgi(done.stdout)
        status, headers = 200, {}
        for line in head.decode("latin-1").splitlines():
            name, _, value = line.partition(":")
            if name.lower() == "status":
                status = int(value.strip().split()[0])
            elif name:
                headers[name.strip()] = value.strip()
        if done.returncode != 0 and not head:
            status, payload = 500, b"git http-backend failed\n"
        self._answer(status, headers, payload)

    def _body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                if size == 0:
                    self.rfile.readline()
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _answer(self, status: int, headers: dict[str, str], payload: bytes) -> None:
        self.send_response(status)
        for name, value in headers.items():
            if name.lower() not in ("content-length", "transfer-encoding", "connection"):
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


def _split_cgi(out: bytes) -> tuple[bytes, bytes]:
    """A CGI answer's header block and body (the first blank line, CRLF or LF, ends the head)."""
    ends = [(out.find(sep), sep) for sep in (b"\r\n\r\n", b"\n\n") if sep in out]
    if not ends:
        return b"", out
    at, sep = min(ends)
    return out[:at], out[at + len(sep) :]
