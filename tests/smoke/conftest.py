"""Fixtures for smoke checks: the Argo CD double, a local HTTP endpoint, pins with promotion records."""

from __future__ import annotations

import hashlib
import json
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from factory_assets.evidence.model import EvidenceRecord
from factory_assets.evidence.store import append_record, new_body
from tests.doubles.argocd import ArgoCDDouble
from tests.support.gitrepo import GitOpsRemote


def digest_of(text: str) -> str:
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


@pytest.fixture
def argocd() -> Iterator[ArgoCDDouble]:
    with ArgoCDDouble() as double:
        yield double


# --- a scripted HTTP endpoint for the readiness fallback -------------------------------


@dataclass
class Answer:
    status: int = 200
    body: bytes = b"ok"
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, value: object, status: int = 200, **headers: str) -> Answer:
        return cls(
            status, json.dumps(value).encode(), {"Content-Type": "application/json", **headers}
        )

    @classmethod
    def redirect(cls, location: str, status: int = 302) -> Answer:
        return cls(status, b"", {"Location": location})


class QuietHTTPServer(ThreadingHTTPServer):
    """A client that stops reading (a probe that needs no body) is normal here, not an error."""

    def handle_error(self, request: object, client_address: object) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class Endpoint:
    """A real HTTP server on 127.0.0.1: each path plays its scripted answers, the last repeats."""

    def __init__(self) -> None:
        self.scripts: dict[str, list[Answer]] = {}
        self.hits: list[str] = []
        self._lock = threading.Lock()
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def do_GET(self) -> None:  # noqa: N802
                answer = endpoint._next(self.path)
                self.send_response(answer.status)
                for name, value in answer.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(answer.body)))
                self.end_headers()
                self.wfile.write(answer.body)

            def log_message(self, *args: object) -> None:
                return

        self.server = QuietHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()

    def _next(self, path: str) -> Answer:
        with self._lock:
            self.hits.append(path)
            script = self.scripts.get(path) or [Answer(404, b"not found")]
            return script.pop(0) if len(script) > 1 else script[0]

    def script(self, path: str, *answers: Answer) -> str:
        with self._lock:
            self.scripts[path] = list(answers)
        return self.url(path)

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.server.server_address[1]}{path}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def endpoint() -> Iterator[Endpoint]:
    server = Endpoint()
    yield server
    server.stop()


@pytest.fixture
def make_endpoint() -> Iterator[Callable[[], Endpoint]]:
    started: list[Endpoint] = []

    def make() -> Endpoint:
        started.append(Endpoint())
        return started[-1]

    yield make
    for server in started:
        server.stop()


# --- pins and promotion records in a real git repository ---------------------------------


def pin_yaml(
    service: str,
    image: str,
    *,
    tag: str = "1.2.3",
    release_id: str = "rel-1",
    smoke: dict | None = None,
) -> str:
    lines = [
        f"service: {service}",
        f"image: {image}",
        f"tag: {tag}",
        f"release_id: {release_id}",
        "promoted_at: '2026-11-27T16:00:00Z'",
        "track: semver",
    ]
    text = "\n".join(lines) + "\n"
    if smoke is not None:
        text += "smoke: " + json.dumps(smoke) + "\n"  # JSON is YAML: no escaping worries
    return text


@dataclass
class Promoted:
    service: str
    image: str
    digest: str
    commit: str
    record: EvidenceRecord


def promote(
    remote: GitOpsRemote,
    service: str,
    *,
    smoke: dict | None,
    version: str = "1",
    tag: str = "1.2.3",
    clone: Path | None = None,
    record: bool = True,
) -> Promoted:
    """What the promotion engine does: commit+push the pin, then append the promotion record."""
    digest = digest_of(f"{service}-{version}")
    image = f"registry.example.invalid/team/{service}@{digest}"
    commit = remote.commit_and_push(
        {
            f"envs/dev/{service}.yaml": pin_yaml(
                service, image, tag=tag, release_id=f"rel-{version}", smoke=smoke
            )
        },
        f"Pin {service} to {digest[:19]}",
        clone=clone,
    )
    body = new_body(
        kind="promotion",
        service=service,
        result="success",
        details={
            "release_id": f"rel-{version}",
            "image": f"registry.example.invalid/team/{service}",
            "tag": tag,
            "digest": digest,
            "pin": [{"path": f"envs/dev/{service}.yaml", "after": image}],
            "push": "pushed",
        },
        subject=[
            {"name": f"registry.example.invalid/team/{service}", "digest": {"sha256": digest[7:]}}
        ],
        links={"commit": commit},
    )
    promotion = append_record(clone or remote.clone, body) if record else None
    return Promoted(service, image, digest, commit, promotion)  # type: ignore[arg-type]
