"""A contract-faithful Argo CD API double: a real threading HTTP server on loopback.

It serves `GET /api/v1/applications/{name}` the way argocd-server's grpc-gateway does:
- Bearer auth: no token -> 401 `no session information`, a wrong one -> 401
  `invalid session: ...` (gRPC code 16, body `{"error","code","message"}`);
- an unknown app (or one outside the given `appNamespace`) -> 403 `permission denied`
  (code 7), unless `project` is given: then 404 `... not found` (code 5)
  (GHSA-2q5c-qw9c-fmvq, argo-cd#13000);
- `refresh=normal|hard` and `appNamespace` query parameters, recorded per request.

Each app plays a scripted sequence of statuses: every GET answers the current
step and moves to the next; the last step repeats. Faults: `fail_next(n, status)`
answers 5xx, `delay` makes every answer slow.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

from factory_assets.common.clock import rfc3339, utc_now

DEFAULT_NAMESPACE = "argocd"


def app_status(
    *,
    sync: str = "Synced",
    revision: str | None = None,
    health: str = "Healthy",
    phase: str | None = "Succeeded",
    operation_revision: str | None = None,
    finished_at: str | None = None,
    reconciled_at: str | None = None,
    images: list[str] | None = None,
    message: str | None = None,
) -> dict:
    """An Application `status` as Argo CD reports it; timestamps default to now (fresh health)."""
    now = rfc3339(utc_now()).split(".")[0] + "Z"  # Argo CD writes second precision
    status: dict = {
        "sync": {
            "status": sync,
            "revision": revision,
            "comparedTo": {"source": {"path": "envs/dev"}},
        },
        "health": {"status": health},
        "reconciledAt": reconciled_at or now,
        "summary": {"images": list(images or [])},
        "sourceType": "Kustomize",
    }
    if phase is not None:
        status["operationState"] = {
            "operation": {"sync": {"revision": operation_revision or revision}},
            "phase": phase,
            "message": message
            or ("successfully synced (all tasks run)" if phase == "Succeeded" else phase),
            "startedAt": finished_at or now,
            "finishedAt": None if phase == "Running" else (finished_at or now),
            "syncResult": {"revision": operation_revision or revision, "resources": []},
        }
    return status


@dataclass
class RecordedRequest:
    at: float
    path: str
    query: dict[str, str]
    authorized: bool


@dataclass
class _App:
    name: str
    namespace: str
    project: str
    steps: list[dict]
    position: int = 0
    served: int = 0
    became: dict[int, float] = field(default_factory=dict)  # step index -> time first served

    def next_status(self) -> tuple[int, dict]:
        index = min(self.position, len(self.steps) - 1)
        self.position += 1
        self.served += 1
        self.became.setdefault(index, time.monotonic())
        return index, self.steps[index]


class ArgoCDDouble:
    """Start with `ArgoCDDouble(token=...).start()`; `.url`, `.env()`, `.stop()`."""

    def __init__(self, token: str = "argocd-test-token-0123456789") -> None:
        self.token = token
        self.delay = 0.0
        self.requests: list[RecordedRequest] = []
        self._apps: dict[str, _App] = {}
        self._faults: list[int] = []
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # --- lifecycle ---------------------------------------------------------------
    def start(self) -> ArgoCDDouble:
        double = self

        class Handler(_Handler):
            owner = double

        self._server = _QuietHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), name="argocd-double", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> ArgoCDDouble:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        assert self._server is not None, "start() the double first"
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def env(self, **extra: str) -> dict[str, str]:
        return {"ARGOCD_URL": self.url, "ARGOCD_TOKEN": self.token, **extra}

    # --- script --------------------------------------------------------------------
    def set_app(
        self,
        name: str,
        *statuses: dict,
        namespace: str = DEFAULT_NAMESPACE,
        project: str = "default",
    ) -> None:
        """Script `name`: each GET answers the next status; the last one repeats."""
        with self._lock:
            self._apps[name] = _App(name, namespace, project, [dict(s) for s in statuses])

    def replace_status(self, name: str, status: dict) -> float:
        """Switch `name` to `status` from now on; returns the monotonic time of the switch."""
        with self._lock:
            app = self._apps[name]
            app.steps = [status]
            app.position = 0
            app.became = {}
            return time.monotonic()

    def fail_next(self, count: int, status: int = 503) -> None:
        with self._lock:
            self._faults.extend([status] * count)

    def served(self, name: str) -> int:
        with self._lock:
            return self._apps[name].served

    def first_served(self, name: str, step: int) -> float | None:
        with self._lock:
            return self._apps[name].became.get(step)

    # --- serving ---------------------------------------------------------------------
    def handle(self, path: str, query: dict[str, str], auth: str | None) -> tuple[int, dict]:
        authorized = auth == f"Bearer {self.token}"
        with self._lock:
            self.requests.append(RecordedRequest(time.monotonic(), path, query, authorized))
        if self.delay:
            time.sleep(self.delay)
        if not path.startswith("/api/v1/applications/") or path.count("/") != 4:
            return 404, _grpc_error("Not Found", 5)
        if not auth:
            return 401, _grpc_error("no session information", 16)
        if not authorized:
            return 401, _grpc_error("invalid session: token signature is invalid", 16)
        with self._lock:
            if self._faults:
                status = self._faults.pop(0)
                return status, _grpc_error("error getting application: connection refused", 14)
            name = unquote(path.rsplit("/", 1)[1])
            app = self._apps.get(name)
            namespace = query.get("appNamespace")
            if app is None or (namespace and namespace != app.namespace):
                if query.get("project"):
                    return 404, _grpc_error(f'applications.argoproj.io "{name}" not found', 5)
                return 403, _grpc_error("permission denied", 7)
            if query.get("project") and query["project"] != app.project:
                return 404, _grpc_error(f'applications.argoproj.io "{name}" not found', 5)
            _, status = app.next_status()
        return 200, _application(app, status)


class _QuietHTTPServer(ThreadingHTTPServer):
    """A client giving up on a slow answer is part of the script, not a server error."""

    def handle_error(self, request: object, client_address: object) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


def _grpc_error(message: str, code: int) -> dict:
    return {"error": message, "code": code, "message": message}


def _application(app: _App, status: dict) -> dict:
    return {
        "metadata": {
            "name": app.name,
            "namespace": app.namespace,
            "uid": "6f1e2b9c-0000-4000-8000-000000000000",
            "resourceVersion": str(1000 + app.served),
        },
        "spec": {
            "project": app.project,
            "source": {
                "repoURL": "https://git.example.invalid/gitops.git",
                "path": "envs/dev",
                "targetRevision": "main",
            },
            "destination": {"server": "https://kubernetes.default.svc", "namespace": "dev"},
            "syncPolicy": {"automated": {"prune": True, "selfHeal": True}},
        },
        "status": status,
    }


class _Handler(BaseHTTPRequestHandler):
    owner: ArgoCDDouble
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body are two writes: no 40 ms delayed-ACK stall

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        parts = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        status, body = self.owner.handle(parts.path, query, self.headers.get("Authorization"))
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        try:
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up on a slow answer

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - silence the default stderr log
        return
