"""A throwaway PostgreSQL server for tests: initdb + postgres on a free loopback port.

PostgreSQL refuses to run as root, so under root the server runs as the `postgres` user
(created by the Debian package) in a directory it owns under /tmp (pytest's tmp dirs are
private to root). Password auth (scram) is on, so a wrong DAGSTER_PG_PASSWORD fails as it
would in production. The postmaster is our child with a parent-death signal: it never
outlives the test process, even when that process is killed.
"""

from __future__ import annotations

import ctypes
import glob
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

SERVER_USER = "postgres"  # the unprivileged account that runs the server when we are root
SUPERUSER = "factory"
_PR_SET_PDEATHSIG = 1


class PostgresUnavailable(RuntimeError):
    """No PostgreSQL binaries, or the server did not come up."""


def find_bin_dir() -> Path:
    """Directory holding initdb/postgres: $PG_BIN, else the newest /usr/lib/postgresql/*/bin."""
    if os.environ.get("PG_BIN"):
        return Path(os.environ["PG_BIN"])
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4])
    )
    if not found:
        raise PostgresUnavailable(
            "PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/initdb); "
            "run scripts/install-system-deps.sh or set PG_BIN"
        )
    return Path(found[-1]).parent


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _die_with_parent() -> None:
    """preexec_fn (runs after the uid switch, which would clear it): SIGTERM when we die."""
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


@dataclass
class PostgresServer:
    """One PostgreSQL cluster: `.start()`, `.create_database(name)`, `.env(db)`, `.stop()`."""

    port: int = field(default_factory=free_port)
    password: str = field(default_factory=lambda: secrets.token_urlsafe(16))
    user: str = SUPERUSER
    host: str = "127.0.0.1"
    root: Path | None = None
    bin_dir: Path = field(default_factory=find_bin_dir)
    _proc: subprocess.Popen | None = field(default=None, repr=False)

    # -- process plumbing ----------------------------------------------------------------

    def _identity(self) -> dict:
        if os.geteuid() != 0:
            return {}
        account = pwd.getpwnam(SERVER_USER)
        return {"user": account.pw_uid, "group": account.pw_gid, "extra_groups": []}

    def _chown(self, path: Path) -> None:
        ident = self._identity()
        if ident:
            os.chown(path, ident["user"], ident["group"])

    def _run(self, *args: str) -> None:
        proc = subprocess.run(
            [str(self.bin_dir / args[0]), *args[1:]],
            capture_output=True,
            text=True,
            timeout=120,
            env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C"},
            cwd=self.root,
            **self._identity(),
        )
        if proc.returncode != 0:
            raise PostgresUnavailable(f"{args[0]} failed: {proc.stderr[-2000:]}")

    # -- lifecycle -----------------------------------------------------------------------

    def start(self, timeout: float = 30.0) -> PostgresServer:
        self.root = Path(tempfile.mkdtemp(prefix="factory-pg-"))
        self._chown(self.root)
        pwfile = self.root / "pwfile"
        pwfile.write_text(self.password + "\n")
        self._chown(pwfile)
        data = self.root / "data"
        self._run(
            "initdb",
            "-D",
            str(data),
            "-U",
            self.user,
            f"--pwfile={pwfile}",
            "--auth-local=scram-sha-256",
            "--auth-host=scram-sha-256",
            "--encoding=UTF8",
            "--no-locale",
            "--no-sync",
        )
        pwfile.unlink()
        self._proc = subprocess.Popen(
            [
                str(self.bin_dir / "postgres"),
                "-D",
                str(data),
                "-p",
                str(self.port),
                "-k",
                str(self.root),  # the unix socket stays in our directory
                "-c",
                f"listen_addresses={self.host}",
                # A test cluster: durability is not what is tested; speed is welcome.
                "-c",
                "fsync=off",
                "-c",
                "synchronous_commit=off",
                "-c",
                "full_page_writes=off",
                "-c",
                "max_connections=200",
            ],
            stdout=open(self.root / "server.log", "ab"),
            stderr=subprocess.STDOUT,
            cwd=self.root,
            env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C"},
            preexec_fn=_die_with_parent,
            **self._identity(),
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                break
            try:
                self.connect().close()
                return self
            except Exception:  # not accepting connections yet
                time.sleep(0.1)
        log = self.log()
        self.stop()
        raise PostgresUnavailable(f"PostgreSQL did not start on port {self.port}:\n{log[-3000:]}")

    def log(self) -> str:
        path = (self.root or Path("/nonexistent")) / "server.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self) -> None:
        """Fast shutdown (SIGINT), then SIGKILL after 10 s; remove the cluster's directory."""
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
        if self.root is not None:
            shutil.rmtree(self.root, ignore_errors=True)
            self.root = None

    # -- use -----------------------------------------------------------------------------

    def connect(self, dbname: str = "postgres"):
        import psycopg2  # installed with dagster-postgres

        return psycopg2.connect(
            host=self.host,
            port=self.port,
            user=self.user,
            password=self.password,
            dbname=dbname,
            connect_timeout=2,
        )

    def create_database(self, name: str) -> str:
        conn = self.connect()
        try:
            conn.autocommit = True  # CREATE DATABASE cannot run in a transaction
            with conn.cursor() as cur:
                cur.execute(f'CREATE DATABASE "{name}"')
        finally:
            conn.close()
        return name

    def env(self, dbname: str) -> dict[str, str]:
        """The DAGSTER_PG_* variables deploy/postgres/dagster.yaml reads."""
        return {
            "DAGSTER_PG_HOST": self.host,
            "DAGSTER_PG_PORT": str(self.port),
            "DAGSTER_PG_USERNAME": self.user,
            "DAGSTER_PG_PASSWORD": self.password,
            "DAGSTER_PG_DB": dbname,
        }
