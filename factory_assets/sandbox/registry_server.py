"""Debian's `docker-registry` on a free loopback port, open or behind htpasswd or token auth."""

from __future__ import annotations

import http.client
import secrets
import shutil
import socket
import ssl
import subprocess
import time
from pathlib import Path
from typing import Literal, Protocol

REGISTRY_BINARY = "/usr/bin/docker-registry"
HTPASSWD_BINARY = "/usr/bin/htpasswd"
LOOPBACK = "127.0.0.1"

# A Harbor robot-account shaped name: `$` and `+` must survive every layer untouched.
DEFAULT_USERNAME = "robot$factory+ci"

AuthKind = Literal["none", "basic", "token"]


def free_port() -> int:
    """Return a loopback TCP port that was free a moment ago (the caller retries on a race)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return sock.getsockname()[1]


def new_password() -> str:
    """Return a random password with shell- and URL-hostile characters, unique per server."""
    return "pw$" + secrets.token_urlsafe(18) + "+/:@%"


class RegistryEndpoint(Protocol):
    """What push helpers and clients need to talk to a registry (a server or a proxy in front)."""

    url: str
    username: str | None
    password: str | None
    auth_kind: AuthKind

    @property
    def host(self) -> str: ...

    def image(self, repository: str) -> str: ...


def endpoint_env(endpoint: RegistryEndpoint) -> dict[str, str]:
    """Return the HARBOR_* environment a client needs to reach `endpoint`."""
    env = {"HARBOR_URL": endpoint.url}
    if endpoint.auth_kind != "none":
        env["HARBOR_USERNAME"] = endpoint.username or ""
        env["HARBOR_PASSWORD"] = endpoint.password or ""
    return env


class TokenService(Protocol):
    """A Docker token-auth server the registry trusts (`auth: token` in its config)."""

    realm: str
    service: str
    issuer: str
    cert_path: Path

    def start(self) -> object: ...

    def stop(self) -> None: ...


class RegistryServer:
    """`docker-registry serve` on a free loopback port with storage under `root`.

    `auth="basic"` writes an htpasswd file; `auth="token"` needs a `token_service` that signs
    the tokens. `tls` is a (certificate, key) pair the registry serves; clients trust the
    certificate (`ca_path`).
    """

    def __init__(
        self,
        root: Path,
        auth: AuthKind = "none",
        *,
        username: str = DEFAULT_USERNAME,
        password: str | None = None,
        token_service: TokenService | None = None,
        tls: tuple[Path, Path] | None = None,
    ) -> None:
        if auth == "token" and token_service is None:
            raise ValueError("a token-auth registry needs a token_service that issues its tokens")
        self.root = root
        self.tls = tls is not None
        self._tls_pair = tls
        self.ca_path: Path | None = tls[0] if tls else None
        root.mkdir(parents=True, exist_ok=True)
        self.auth_kind: AuthKind = auth
        self.username: str | None = username if auth != "none" else None
        self.password: str | None = (password or new_password()) if auth != "none" else None
        self.token_issuer = token_service if auth == "token" else None
        self.port: int = 0
        self.url = ""
        self._process: subprocess.Popen[bytes] | None = None
        self.log_path = root / "registry.log"

    def __repr__(self) -> str:
        return f"RegistryServer(url={self.url!r}, auth={self.auth_kind!r})"

    @property
    def host(self) -> str:
        """`host:port` as it appears in image references."""
        return f"{LOOPBACK}:{self.port}"

    def image(self, repository: str) -> str:
        """Image reference without tag: `127.0.0.1:<port>/<repository>`."""
        return f"{self.host}/{repository}"

    def env(self) -> dict[str, str]:
        return endpoint_env(self)

    def connection(self, timeout: float) -> http.client.HTTPConnection:
        """A raw connection to the registry; with TLS its own certificate is not verified."""
        if self.tls:
            context = ssl.create_default_context()
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
            return http.client.HTTPSConnection(
                LOOPBACK, self.port, timeout=timeout, context=context
            )
        return http.client.HTTPConnection(LOOPBACK, self.port, timeout=timeout)

    # -- lifecycle ------------------------------------------------------------------------------
    def start(self, *, attempts: int = 5) -> RegistryServer:
        self.root.mkdir(parents=True, exist_ok=True)
        if self.token_issuer is not None:
            self.token_issuer.start()
        for _ in range(attempts):
            self.port = free_port()
            self.url = f"{'https' if self.tls else 'http'}://{self.host}"
            config = self.root / "config.yml"
            config.write_text(self._config())
            log = self.log_path.open("ab")
            self._process = subprocess.Popen(
                [REGISTRY_BINARY, "serve", str(config)],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
            log.close()
            if self._wait_ready():
                return self
            self._kill()
        raise RuntimeError(f"registry did not start; log: {self.log_path.read_text()[-2000:]}")

    def stop(self) -> None:
        self._kill()
        if self.token_issuer is not None:
            self.token_issuer.stop()

    def _kill(self) -> None:
        if self._process is not None:
            self._process.terminate()
            try:
                self._process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
            self._process = None

    def _wait_ready(self, timeout: float = 10.0) -> bool:
        deadline = time.monotonic() + timeout
        assert self._process is not None
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                return False  # exited: most likely the port was taken meanwhile
            try:
                conn = self.connection(timeout=1)
                conn.request("GET", "/v2/")
                status = conn.getresponse().status
                conn.close()
                if status in (200, 401):
                    return True
            except OSError:
                pass
            time.sleep(0.01)
        return False

    def _config(self) -> str:
        storage = self.root / "storage"
        lines = [
            "version: 0.1",
            "log:",
            "  level: warn",
            "  accesslog:",
            "    disabled: true",
            "storage:",
            "  filesystem:",
            f"    rootdirectory: {storage}",
            "  delete:",
            "    enabled: true",
            "  maintenance:",
            "    uploadpurging:",
            "      enabled: false",
            "http:",
            f"  addr: {self.host}",
            f"  secret: {secrets.token_hex(16)}",
        ]
        if self._tls_pair is not None:
            cert, key = self._tls_pair
            lines += ["  tls:", f"    certificate: {cert}", f"    key: {key}"]
        if self.auth_kind == "basic":
            lines += [
                "auth:",
                "  htpasswd:",
                "    realm: factory-test",
                f"    path: {self._write_htpasswd()}",
            ]
        elif self.auth_kind == "token":
            assert self.token_issuer is not None
            lines += [
                "auth:",
                "  token:",
                f"    realm: {self.token_issuer.realm}",
                f"    service: {self.token_issuer.service}",
                f"    issuer: {self.token_issuer.issuer}",
                f"    rootcertbundle: {self.token_issuer.cert_path}",
            ]
        return "\n".join(lines) + "\n"

    def _write_htpasswd(self) -> Path:
        assert self.username is not None and self.password is not None
        if shutil.which(HTPASSWD_BINARY) is None:
            raise RuntimeError("htpasswd (apache2-utils) is required for the basic-auth registry")
        # -C 4: the lowest bcrypt cost, because the registry checks the hash on every request.
        out = subprocess.run(
            [HTPASSWD_BINARY, "-nbB", "-C", "4", self.username, self.password],
            check=True,
            capture_output=True,
        ).stdout
        path = self.root / "htpasswd"
        path.write_bytes(out.strip() + b"\n")
        return path
