"""Real OCI registries for tests: the sandbox's distribution on loopback, a token issuer, a fault proxy.

Everything here is a real server on 127.0.0.1: `docker-registry serve` (CNCF distribution 2.8) as a
subprocess (factory_assets.sandbox.registry_server), and threading HTTP servers for the token
issuer and the fault proxy, which only tests need. Nothing is mocked.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import ipaddress
import json
import re
import secrets
import socket
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Literal

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.x509.oid import NameOID

from factory_assets.sandbox import registry_server as sandbox
from factory_assets.sandbox.oci_push import PushAuth, push_auth
from factory_assets.sandbox.registry_server import (
    DEFAULT_USERNAME,
    LOOPBACK,
    AuthKind,
    RegistryEndpoint,
    endpoint_env,
    free_port,
    new_password,
)

__all__ = [
    "DEFAULT_USERNAME",
    "LOOPBACK",
    "AuthKind",
    "FaultProxy",
    "PushAuth",
    "RegistryEndpoint",
    "RegistryServer",
    "TokenIssuer",
    "endpoint_env",
    "free_port",
    "new_password",
    "push_auth",
]

TOKEN_SERVICE = "factory-test-registry"
TOKEN_ISSUER_NAME = "factory-test-issuer"


# --------------------------------------------------------------------------------------------
# Token issuer
# --------------------------------------------------------------------------------------------


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def libtrust_key_id(public_key: ec.EllipticCurvePublicKey) -> str:
    """Return the libtrust fingerprint distribution uses for `kid`: base32(sha256(SPKI)[:30]) in 4-groups."""
    der = public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    encoded = base64.b32encode(hashlib.sha256(der).digest()[:30]).decode("ascii").rstrip("=")
    return ":".join(encoded[i : i + 4] for i in range(0, len(encoded), 4))


@dataclass(frozen=True)
class TokenRequest:
    """One request the issuer answered (for asserting token caching)."""

    account: str | None
    service: str | None
    scopes: tuple[str, ...]
    status: int
    granted: tuple[str, ...] = ()


class TokenIssuer:
    """A Docker token-auth server: checks Basic credentials, grants the requested repository scope.

    Tokens are ES256 JWTs with an `x5c` header holding a self-signed certificate that the registry
    trusts through `rootcertbundle` (`signing="kid"` uses distribution's libtrust key id instead).
    """

    def __init__(
        self,
        root: Path,
        users: dict[str, str],
        *,
        permissions: dict[str, set[str]] | None = None,
        expires_in: int = 300,
        signing: Literal["x5c", "kid"] = "x5c",
        service: str = TOKEN_SERVICE,
        issuer: str = TOKEN_ISSUER_NAME,
    ) -> None:
        self.users = dict(users)
        self.permissions = permissions or {}
        self.expires_in = expires_in
        self.signing = signing
        self.service = service
        self.issuer = issuer
        self.requests: list[TokenRequest] = []
        self.issued_tokens: list[str] = []  # so tests can assert no token leaks anywhere
        self._lock = threading.Lock()
        self._fail_next: list[int] = []
        self._key = ec.generate_private_key(ec.SECP256R1())
        self.cert_path = root / "token-root.pem"
        self._cert = self._self_signed_cert()
        self.cert_path.write_bytes(self._cert.public_bytes(serialization.Encoding.PEM))
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ------------------------------------------------------------------------------
    def start(self) -> TokenIssuer:
        issuer = self

        class Handler(_QuietHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server naming
                issuer._handle(self)

        self._server = ThreadingHTTPServer((LOOPBACK, 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    @property
    def realm(self) -> str:
        assert self._server is not None, "issuer not started"
        return f"http://{LOOPBACK}:{self._server.server_address[1]}/token"

    # -- test controls --------------------------------------------------------------------------
    @property
    def request_count(self) -> int:
        with self._lock:
            return len(self.requests)

    def requests_for(self, repository: str) -> list[TokenRequest]:
        """Requests whose scopes name `repository` (scopes look like repository:<name>:<actions>)."""
        with self._lock:
            return [
                r
                for r in self.requests
                if any(s.startswith(f"repository:{repository}:") for s in r.scopes)
            ]

    def fail_next(self, count: int = 1, status: int = 500) -> None:
        """Answer the next `count` token requests with `status`."""
        with self._lock:
            self._fail_next.extend([status] * count)

    # -- internals ------------------------------------------------------------------------------
    def _self_signed_cert(self) -> x509.Certificate:
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "factory test token issuer")])
        now = dt.datetime.now(dt.UTC)
        return (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(self._key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(self._key, hashes.SHA256())
        )

    def _record(self, request: TokenRequest) -> None:
        with self._lock:
            self.requests.append(request)

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        parsed = urllib.parse.urlsplit(handler.path)
        query = urllib.parse.parse_qs(parsed.query)
        service = (query.get("service") or [None])[0]
        scopes = tuple(s for raw in query.get("scope", []) for s in raw.split(" ") if s)
        account = _basic_username(handler.headers.get("Authorization"))

        with self._lock:
            forced = self._fail_next.pop(0) if self._fail_next else None
        if forced is not None:
            self._record(TokenRequest(account, service, scopes, forced))
            _send_json(handler, forced, {"errors": [{"code": "UNAVAILABLE"}]})
            return
        if parsed.path != "/token":
            self._record(TokenRequest(account, service, scopes, 404))
            _send_json(handler, 404, {"errors": [{"code": "NOT_FOUND"}]})
            return
        if not self._credentials_ok(handler.headers.get("Authorization")):
            self._record(TokenRequest(account, service, scopes, 401))
            _send_json(
                handler,
                401,
                {"errors": [{"code": "UNAUTHORIZED", "message": "authentication required"}]},
                {"WWW-Authenticate": 'Basic realm="factory-test-issuer"'},
            )
            return
        if service != self.service:
            self._record(TokenRequest(account, service, scopes, 400))
            _send_json(handler, 400, {"errors": [{"code": "INVALID_SERVICE"}]})
            return

        access = self._grant(account or "", scopes)
        granted = tuple(f"{a['type']}:{a['name']}:{','.join(a['actions'])}" for a in access)
        token = self._sign(account or "", access)
        with self._lock:
            self.issued_tokens.append(token)
        self._record(TokenRequest(account, service, scopes, 200, granted))
        issued_at = dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat()
        _send_json(
            handler,
            200,
            {
                "token": token,
                "access_token": token,
                "expires_in": self.expires_in,
                "issued_at": issued_at,
            },
        )

    def _credentials_ok(self, header: str | None) -> bool:
        creds = _basic_credentials(header)
        if creds is None:
            return False
        username, password = creds
        expected = self.users.get(username)
        return expected is not None and secrets.compare_digest(expected, password)

    def _grant(self, account: str, scopes: tuple[str, ...]) -> list[dict]:
        allowed = self.permissions.get(account, {"pull", "push"})
        access = []
        for scope in scopes:
            parts = scope.split(":")
            if len(parts) < 3 or parts[0] != "repository":
                continue
            name, actions = ":".join(parts[1:-1]), parts[-1].split(",")
            granted = [a for a in actions if a in allowed or (a == "*" and "push" in allowed)]
            if granted:
                access.append({"type": "repository", "name": name, "actions": granted})
        return access

    def _sign(self, subject: str, access: list[dict]) -> str:
        now = int(time.time())
        header: dict = {"typ": "JWT", "alg": "ES256"}
        if self.signing == "x5c":
            der = self._cert.public_bytes(serialization.Encoding.DER)
            header["x5c"] = [base64.b64encode(der).decode("ascii")]
        else:
            header["kid"] = libtrust_key_id(self._key.public_key())
        claims = {
            "iss": self.issuer,
            "sub": subject,
            "aud": self.service,
            "exp": now + self.expires_in,
            "nbf": now - 1,
            "iat": now,
            "jti": secrets.token_hex(12),
            "access": access,
        }
        signing_input = (
            _b64url(json.dumps(header, separators=(",", ":")).encode())
            + "."
            + _b64url(json.dumps(claims, separators=(",", ":")).encode())
        )
        der_sig = self._key.sign(signing_input.encode("ascii"), ec.ECDSA(hashes.SHA256()))
        r, s = decode_dss_signature(der_sig)
        # JWS ES256 wants the raw 64-byte r||s, not the DER structure cryptography returns.
        raw_sig = r.to_bytes(32, "big") + s.to_bytes(32, "big")
        return signing_input + "." + _b64url(raw_sig)


def _basic_credentials(header: str | None) -> tuple[str, str] | None:
    if not header or not header.lower().startswith("basic "):
        return None
    try:
        decoded = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
    except (ValueError, UnicodeDecodeError):
        return None
    username, sep, password = decoded.partition(":")
    return (username, password) if sep else None


def _basic_username(header: str | None) -> str | None:
    creds = _basic_credentials(header)
    return creds[0] if creds else None


class _QuietHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 30

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib signature
        return


def _send_json(
    handler: BaseHTTPRequestHandler,
    status: int,
    payload: object,
    headers: dict[str, str] | None = None,
) -> None:
    body = json.dumps(payload).encode()
    handler.send_response(status)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(body)))
    for name, value in (headers or {}).items():
        handler.send_header(name, value)
    handler.end_headers()
    if handler.command != "HEAD":
        handler.wfile.write(body)


# --------------------------------------------------------------------------------------------
# Registry server
# --------------------------------------------------------------------------------------------


class RegistryServer(sandbox.RegistryServer):
    """The sandbox registry, with what only tests need: a token issuer and a self-signed TLS cert."""

    def __init__(
        self,
        root: Path,
        auth: AuthKind = "none",
        *,
        username: str = DEFAULT_USERNAME,
        password: str | None = None,
        token_expires_in: int = 300,
        token_signing: Literal["x5c", "kid"] = "x5c",
        tls: bool = False,
    ) -> None:
        root.mkdir(parents=True, exist_ok=True)
        password = (password or new_password()) if auth != "none" else None
        issuer = None
        if auth == "token":
            assert password is not None
            issuer = TokenIssuer(
                root, {username: password}, expires_in=token_expires_in, signing=token_signing
            )
        super().__init__(
            root,
            auth,
            username=username,
            password=password,
            token_service=issuer,
            tls=write_tls_pair(root) if tls else None,
        )
        self.token_issuer: TokenIssuer | None = issuer

    def add_user(self, username: str, password: str) -> None:
        """Add credentials (token variant only: htpasswd is read once at start-up)."""
        assert self.token_issuer is not None, "add_user works for the token variant only"
        self.token_issuer.users[username] = password


def write_tls_pair(root: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (SAN IP) and its key, written once and reused."""
    cert_path, key_path = root / "tls-cert.pem", root / "tls-key.pem"
    if not cert_path.exists():
        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, LOOPBACK)])
        now = dt.datetime.now(dt.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=30))
            .add_extension(
                x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(LOOPBACK))]),
                critical=False,
            )
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256())
        )
        cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        key_path.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
    return cert_path, key_path


# --------------------------------------------------------------------------------------------
# Fault-injecting reverse proxy
# --------------------------------------------------------------------------------------------

_HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailers",
    "transfer-encoding",
    "upgrade",
}

_DEFAULT_FAULT_BODIES = {
    404: {"errors": [{"code": "MANIFEST_UNKNOWN", "message": "manifest unknown (injected)"}]},
    401: {"errors": [{"code": "UNAUTHORIZED", "message": "authentication required (injected)"}]},
    429: {"errors": [{"code": "TOOMANYREQUESTS", "message": "rate limited (injected)"}]},
}


@dataclass
class Fault:
    """Apply to the next `remaining` requests matching method/path: delay, then answer or drop."""

    remaining: int
    status: int | None = 500  # None: forward to the registry after the delay
    delay: float = 0.0
    drop: bool = False
    method: str | None = None
    path: str | None = None  # regex searched in the request path (with query)
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes | None = None

    def matches(self, method: str, path: str) -> bool:
        if self.method is not None and self.method.upper() != method:
            return False
        return self.path is None or re.search(self.path, path) is not None


@dataclass(frozen=True)
class RecordedRequest:
    """A request the proxy saw, and what it answered."""

    method: str
    path: str
    headers: dict[str, str]
    status: int | None  # None when the connection was dropped
    faulted: bool
    connection: tuple = ()  # the client's address: one per TCP connection it opened


class FaultProxy:
    """A loopback reverse proxy in front of a registry that can inject 5xx, 404, delays and drops.

    It exposes the same endpoint shape as `RegistryServer` (url, host, image(), credentials), so a
    client pointed at the proxy sees the real registry except for the faults it is told to inject.
    """

    server_class: type[ThreadingHTTPServer] = ThreadingHTTPServer

    def __init__(self, upstream: RegistryServer) -> None:
        self.upstream = upstream
        self.auth_kind: AuthKind = upstream.auth_kind
        self.username = upstream.username
        self.password = upstream.password
        self.token_issuer = upstream.token_issuer
        self.requests: list[RecordedRequest] = []
        self._faults: list[Fault] = []
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self.url = ""
        self.in_flight = 0
        self.max_in_flight = 0  # the most requests the proxy was handling at once
        # The most requests held in a delay at once. A client's connection stays busy until it
        # has read the response, which comes after the delay: this count is exactly the
        # client's concurrency, where max_in_flight may also see a handler still finishing.
        self.held = 0
        self.max_held = 0

    def __repr__(self) -> str:
        return f"FaultProxy(url={self.url!r}, upstream={self.upstream.url!r})"

    @property
    def host(self) -> str:
        assert self._server is not None, "proxy not started"
        return f"{LOOPBACK}:{self._server.server_address[1]}"

    def image(self, repository: str) -> str:
        return f"{self.host}/{repository}"

    def env(self) -> dict[str, str]:
        return endpoint_env(self)

    # -- controls -------------------------------------------------------------------------------
    def add_fault(self, fault: Fault) -> Fault:
        with self._lock:
            self._faults.append(fault)
        return fault

    def fail_next(
        self,
        count: int = 1,
        status: int = 500,
        *,
        method: str | None = None,
        path: str | None = None,
        headers: dict[str, str] | None = None,
        body: bytes | None = None,
        delay: float = 0.0,
    ) -> Fault:
        """Answer the next `count` matching requests with `status` (e.g. 500, 503, 429, 404)."""
        return self.add_fault(
            Fault(count, status, delay, False, method, path, dict(headers or {}), body)
        )

    def delay_next(
        self, count: int, seconds: float, *, method: str | None = None, path: str | None = None
    ) -> Fault:
        """Hold the next `count` matching requests for `seconds`, then forward them."""
        return self.add_fault(Fault(count, None, seconds, False, method, path))

    def drop_next(
        self, count: int = 1, *, method: str | None = None, path: str | None = None
    ) -> Fault:
        """Close the connection without answering the next `count` matching requests."""
        return self.add_fault(Fault(count, None, 0.0, True, method, path))

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def clear_requests(self) -> None:
        with self._lock:
            self.requests.clear()
            self.max_in_flight = self.in_flight

    @property
    def request_count(self) -> int:
        with self._lock:
            return len(self.requests)

    # -- lifecycle ------------------------------------------------------------------------------
    def start(self) -> FaultProxy:
        proxy = self

        class Handler(_QuietHandler):
            def _any(self) -> None:
                with proxy._lock:
                    proxy.in_flight += 1
                    proxy.max_in_flight = max(proxy.max_in_flight, proxy.in_flight)
                try:
                    proxy._handle(self)
                finally:
                    with proxy._lock:
                        proxy.in_flight -= 1

            do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = _any  # noqa: N815

        self._server = self.server_class((LOOPBACK, 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True).start()
        self.url = f"http://{self.host}"
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    # -- internals ------------------------------------------------------------------------------
    def _take_fault(self, method: str, path: str) -> Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.remaining > 0 and fault.matches(method, path):
                    fault.remaining -= 1
                    return fault
        return None

    def _record(self, handler: BaseHTTPRequestHandler, status: int | None, faulted: bool) -> None:
        headers = {k.lower(): v for k, v in handler.headers.items()}
        with self._lock:
            self.requests.append(
                RecordedRequest(
                    handler.command, handler.path, headers, status, faulted, handler.client_address
                )
            )

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        method, path = handler.command, handler.path
        body = _read_request_body(handler)
        fault = self._take_fault(method, path)
        if fault is not None:
            if fault.delay:
                with self._lock:
                    self.held += 1
                    self.max_held = max(self.max_held, self.held)
                try:
                    time.sleep(fault.delay)
                finally:
                    with self._lock:
                        self.held -= 1
            if fault.drop:
                self._record(handler, None, True)
                handler.close_connection = True
                try:
                    handler.connection.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                return
            if fault.status is not None:
                self._record(handler, fault.status, True)
                payload = fault.body
                if payload is None:
                    default = _DEFAULT_FAULT_BODIES.get(
                        fault.status,
                        {"errors": [{"code": "UNKNOWN", "message": "injected fault"}]},
                    )
                    payload = json.dumps(default).encode()
                handler.send_response(fault.status)
                handler.send_header("Content-Type", "application/json")
                handler.send_header("Content-Length", str(len(payload)))
                for name, value in fault.headers.items():
                    handler.send_header(name, value)
                handler.end_headers()
                if method != "HEAD":
                    handler.wfile.write(payload)
                return
        self._forward(handler, method, path, body)

    def _forward(
        self, handler: BaseHTTPRequestHandler, method: str, path: str, body: bytes
    ) -> None:
        # The Host header is passed through so the registry builds Location URLs that point back
        # at the proxy, exactly as behind a real reverse proxy.
        headers = {k: v for k, v in handler.headers.items() if k.lower() not in _HOP_BY_HOP}
        headers["Content-Length"] = str(len(body))
        conn = self.upstream.connection(timeout=30)
        try:
            conn.request(method, path, body=body, headers=headers)
            response = conn.getresponse()
            payload = response.read()
            self._record(handler, response.status, False)
            handler.send_response(response.status)
            for name, value in response.getheaders():
                if name.lower() in _HOP_BY_HOP or name.lower() == "content-length":
                    continue
                handler.send_header(name, value)
            length = response.getheader("Content-Length") if method == "HEAD" else None
            handler.send_header("Content-Length", length or str(len(payload)))
            handler.end_headers()
            if method != "HEAD":
                handler.wfile.write(payload)
        finally:
            conn.close()


def _read_request_body(handler: BaseHTTPRequestHandler) -> bytes:
    if handler.headers.get("Transfer-Encoding", "").lower() == "chunked":
        chunks = []
        while True:
            size = int(handler.rfile.readline().split(b";")[0].strip() or b"0", 16)
            if size == 0:
                handler.rfile.readline()
                break
            chunks.append(handler.rfile.read(size))
            handler.rfile.readline()
        return b"".join(chunks)
    length = int(handler.headers.get("Content-Length") or 0)
    return handler.rfile.read(length) if length else b""
