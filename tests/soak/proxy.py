"""The registry faults of the soak: the test FaultProxy, plus windows of trouble.

On top of `tests.support.registry.FaultProxy` (5xx, delays, drops for the next N requests):
- an outage: every connection closed unanswered for a while (longer than the retry budget);
- 401 until a token refresh: while the window is open, a Bearer token issued before it (or
  before the current second: passes are short-lived processes) is refused with the registry's
  own challenge, so only a client that fetches a new token gets through;
- 404 for the manifests under one prefix for a while (a replica that has not caught up);
- a connection cut mid-body: the manifest's headers and half its bytes, then a close.
Every injected answer is counted by kind (`injected`).
"""

from __future__ import annotations

import base64
import json
import re
import socket
import sys
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from tests.support.registry import (
    _HOP_BY_HOP,
    Fault,
    FaultProxy,
    RegistryServer,
    _read_request_body,
)


class _QuietServer(ThreadingHTTPServer):
    """A client that gave up (timed out, or was cut) is part of the script, not an error."""

    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        if not isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError, OSError)):
            super().handle_error(request, client_address)


def token_issued_at(authorization: str | None) -> int | None:
    """The `iat` claim of a Bearer JWT (unverified: the registry verifies, we only look)."""
    if not authorization or not authorization.lower().startswith("bearer "):
        return None
    try:
        claims = authorization.split(" ", 1)[1].split(".")[1]
        data = json.loads(base64.urlsafe_b64decode(claims + "=" * (-len(claims) % 4)))
        return int(data["iat"])
    except (IndexError, ValueError, KeyError, TypeError):
        return None


class SoakProxy(FaultProxy):
    """A FaultProxy with time windows of trouble; `injected` counts what it did, by kind."""

    server_class = _QuietServer

    def __init__(self, upstream: RegistryServer, name: str) -> None:
        super().__init__(upstream)
        self.name = name
        self.injected: Counter[str] = Counter()
        self._kinds: dict[int, str] = {}  # id(Fault) -> soak fault kind
        self._outage_until = 0.0
        self._reauth: tuple[int, float] | None = None  # (tokens issued before, until)
        self._missing: list[tuple[re.Pattern, float]] = []
        self._cut_next = 0
        self.forwarded = 0
        self.seen = 0

    # -- the soak's faults ------------------------------------------------------------------
    def fail(self, kind: str, count: int, status: int, delay: float = 0.0) -> None:
        fault = self.add_fault(Fault(count, status, delay, False, None, None))
        with self._lock:
            self._kinds[id(fault)] = kind

    def outage(self, seconds: float) -> None:
        with self._lock:
            self._outage_until = max(self._outage_until, time.monotonic() + seconds)

    def reauth(self, seconds: float) -> None:
        with self._lock:
            self._reauth = (int(time.time()), time.monotonic() + seconds)

    def missing(self, prefix: str, seconds: float) -> None:
        """404 for the manifests of every repository under `prefix` for a while."""
        pattern = re.compile(rf"^/v2/{re.escape(prefix)}/[^?]*/manifests/")
        with self._lock:
            self._missing.append((pattern, time.monotonic() + seconds))

    def cut(self, count: int) -> None:
        with self._lock:
            self._cut_next += count

    def clear(self) -> None:
        """End every fault at once (the drain phase runs without them)."""
        self.clear_faults()
        with self._lock:
            self._outage_until = 0.0
            self._reauth = None
            self._missing.clear()
            self._cut_next = 0

    def _take_fault(self, method: str, path: str) -> Fault | None:
        fault = super()._take_fault(method, path)
        if fault is not None:
            with self._lock:
                self.injected[self._kinds.get(id(fault), "other")] += 1
        return fault

    def _record(self, handler: BaseHTTPRequestHandler, status: int | None, faulted: bool) -> None:
        """Counted, not kept: a soak sends hundreds of thousands of requests."""
        with self._lock:
            self.seen += 1

    def _window(self, handler: BaseHTTPRequestHandler) -> str | None:
        """Which window fault applies to this request, if any (and count it)."""
        now = time.monotonic()
        with self._lock:
            if now < self._outage_until:
                kind = "registry_outage"
            elif any(p.search(handler.path) and now < until for p, until in self._missing):
                kind = "registry_404"
            elif (
                self._reauth is not None
                and now < self._reauth[1]
                and (iat := token_issued_at(handler.headers.get("Authorization"))) is not None
                and iat < max(self._reauth[0], int(time.time()))
            ):
                kind = "registry_401"
            elif self._cut_next > 0 and handler.command == "GET" and "/manifests/" in handler.path:
                self._cut_next -= 1
                kind = "registry_cut"
            else:
                return None
            self.injected[kind] += 1
            return kind

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        kind = self._window(handler)
        if kind is None:
            with self._lock:
                self.forwarded += 1
            super()._handle(handler)
            return
        body = _read_request_body(handler)
        self._record(handler, None if kind == "registry_outage" else 0, True)
        if kind == "registry_outage":
            _close(handler)
        elif kind == "registry_404":
            payload = json.dumps(
                {"errors": [{"code": "MANIFEST_UNKNOWN", "message": "manifest unknown"}]}
            ).encode()
            _answer(handler, 404, payload, {"Content-Type": "application/json"})
        elif kind == "registry_401":
            # The registry's own challenge: the request again, without the stale token.
            self._relay(handler, body, drop_auth=True)
        else:
            self._relay(handler, body, cut=True)

    def _relay(
        self, handler: BaseHTTPRequestHandler, body: bytes, *, drop_auth=False, cut=False
    ) -> None:
        headers = {k: v for k, v in handler.headers.items() if k.lower() not in _HOP_BY_HOP}
        if drop_auth:
            headers.pop("Authorization", None)
        headers["Content-Length"] = str(len(body))
        conn = self.upstream.connection(timeout=30)
        try:
            conn.request(handler.command, handler.path, body=body, headers=headers)
            response = conn.getresponse()
            payload = response.read()
        finally:
            conn.close()
        handler.send_response(response.status)
        for name, value in response.getheaders():
            if name.lower() not in _HOP_BY_HOP and name.lower() != "content-length":
                handler.send_header(name, value)
        handler.send_header("Content-Length", str(len(payload)))
        handler.end_headers()
        if handler.command == "HEAD":
            return
        if cut and response.status != 200:
            with self._lock:  # a challenge or an error, not a manifest: cut the next one
                self._cut_next += 1
                self.injected["registry_cut"] -= 1
            cut = False
        if cut and len(payload) > 1:
            handler.wfile.write(payload[: len(payload) // 2])
            handler.wfile.flush()
            _close(handler)
            return
        handler.wfile.write(payload)


def _answer(handler: BaseHTTPRequestHandler, status: int, payload: bytes, headers: dict) -> None:
    handler.send_response(status)
    for name, value in headers.items():
        handler.send_header(name, value)
    handler.send_header("Content-Length", str(len(payload)))
    handler.end_headers()
    if handler.command != "HEAD":
        handler.wfile.write(payload)


def _close(handler: BaseHTTPRequestHandler) -> None:
    handler.close_connection = True
    try:
        handler.connection.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
