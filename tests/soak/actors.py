"""Everything that acts during a soak: the runners, service CI, Harbor's replication, the
approver, and the fault injector that the schedule drives.

Runners are real processes: `factory promote` / `factory smoke` passes (each CLI runner in its
own UTS namespace, so it is another host whose claims are judged by the lease alone) and a
`dagster-daemon`. A kill is `kill -9` of the pass (or of its whole process group) at any
moment; a skewed clock is libfaketime preloaded into the pass (FAKETIME=+Ns/-Ns).
"""

from __future__ import annotations

import glob
import hashlib
import heapq
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tests.soak.history import History
from tests.soak.queue_text import append_pending, split
from tests.soak.schedule import DAEMON, NEVER, Event
from tests.soak.world import RepoWorld, World
from tests.support.gitrepo import configure_identity
from tests.support.ljwx import pending_entry

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
FACTORY = str(BIN / "factory")


def libfaketime() -> str | None:
    """Debian's libfaketime (package `faketime`), if installed."""
    found = sorted(glob.glob("/usr/lib/*/faketime/libfaketime.so.1"))
    return found[0] if found else None


def can_unshare_uts() -> bool:
    """A UTS namespace needs root (CAP_SYS_ADMIN) and util-linux's unshare."""
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        return False
    probe = subprocess.run(["unshare", "--uts", "true"], capture_output=True)
    return probe.returncode == 0


def _git(cwd: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=check)


def clone_of(repo: RepoWorld, target: Path, name: str) -> Path:
    """A working clone of the repository's remote, with its own identity."""
    subprocess.run(
        ["git", "clone", "-q", "-b", "main", str(repo.bare), str(target)],
        check=True,
        capture_output=True,
    )
    import git

    handle = git.Repo(target)
    configure_identity(handle, (name, f"{name}@soak.invalid"))
    handle.close()
    return target


# -- runners -------------------------------------------------------------------------------


@dataclass
class Armed:
    """A kill waiting for its moment: `after` seconds into the runner's next process."""

    after: float
    how: str


class Runner:
    """One runner: the process it runs now, and the faults armed against it."""

    def __init__(self, name: str, history: History) -> None:
        self.name = name
        self.history = history
        self.stop_event = threading.Event()
        self.proc: subprocess.Popen | None = None
        self.started_at = 0.0
        self.kills = 0
        self.skewed_passes = 0
        self.passes = 0
        self._lock = threading.Lock()
        self._armed: list[Armed] = []
        self._skew: list[int] = []  # seconds, one per skewed pass to come

    def arm_kill(self, after: float, how: str) -> None:
        with self._lock:
            self._armed.append(Armed(after, how))
        self._arm_timer()

    def arm_skew(self, seconds: int, passes: int) -> None:
        with self._lock:
            self._skew = [seconds] * passes

    def _arm_timer(self) -> None:
        """Kill the running process `after` seconds from now, or the next one after it starts."""
        with self._lock:
            if self.proc is None or self.proc.poll() is not None or not self._armed:
                return
            armed = self._armed.pop(0)
            proc = self.proc
        threading.Timer(armed.after, self._kill, args=(proc, armed.how)).start()

    def _kill(self, proc: subprocess.Popen, how: str) -> None:
        if proc.poll() is not None:
            with self._lock:  # it finished first: the next one gets it, at once
                self._armed.insert(0, Armed(0.05, how))
            return
        try:
            if how == "group":
                os.killpg(proc.pid, signal.SIGKILL)
            else:
                proc.send_signal(signal.SIGKILL)  # not once it is reaped (its pid may be reused)
        except ProcessLookupError:
            return
        self.kills += 1
        self.history.add(
            self.name,
            "fault-kill",
            f"kill -9 ({how}) pid {proc.pid}, {time.monotonic() - self.started_at:.2f}s into its pass",
        )

    def next_skew(self) -> int | None:
        with self._lock:
            return self._skew.pop(0) if self._skew else None

    def stop(self) -> None:
        self.stop_event.set()


class CliRunner(Runner):
    """A loop of `factory promote` passes with a `factory smoke` pass every few."""

    def __init__(
        self,
        name: str,
        history: History,
        *,
        repo: RepoWorld,
        clone: Path,
        env: dict[str, str],
        envs: str | None,
        smoke_envs: list[str],
        host: str | None,
        pause: float = 0.5,
        smoke_every: int = 3,
    ) -> None:
        super().__init__(name, history)
        self.repo, self.clone, self.env = repo, clone, env
        self.envs, self.smoke_envs, self.host = envs, smoke_envs, host
        self.pause, self.smoke_every = pause, smoke_every
        self.faketime = libfaketime()
        self.thread = threading.Thread(target=self._loop, name=name, daemon=True)
        self.outcomes: dict[str, int] = {}
        self.crashes: list[tuple[float, str]] = []  # (when, the exception's last line)
        self.durations: dict[str, list[float]] = {}  # promote/smoke -> seconds per pass
        self._said: dict[str, tuple] = {}  # release -> the last outcome said of it

    def start(self) -> CliRunner:
        self.thread.start()
        return self

    def join(self, timeout: float) -> None:
        if self.thread.ident is not None:  # started
            self.thread.join(timeout)

    def kill_now(self) -> None:
        """Stop the pass running now, if any, with everything it started."""
        with self._lock:
            proc = self.proc
        if proc is not None and proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                return
            self.history.add(self.name, "stopped", "its pass outlived the soak: killed")
        self.join(timeout=30)

    def _command(self, args: list[str]) -> list[str]:
        if self.host is None:
            return args
        return ["unshare", "--uts", "sh", "-c", 'hostname "$0" && exec "$@"', self.host, *args]

    def _loop(self) -> None:
        iteration = 0
        while not self.stop_event.is_set():
            iteration += 1
            if iteration % self.smoke_every == 0:
                self._smoke()
            else:
                self._promote()
            self.stop_event.wait(self.pause)

    def _environment(self) -> tuple[dict[str, str], str]:
        env = {**os.environ, **self.env, "FACTORY_REPO": str(self.clone), "PYTHONPATH": str(ROOT)}
        for name in ("HARBOR_URL", "HARBOR_USERNAME", "HARBOR_PASSWORD", "FACTORY_ENVS"):
            env.pop(name, None)
        if self.envs:
            env["FACTORY_ENVS"] = self.envs
        env["FACTORY_GIT_AUTHOR_NAME"] = self.name
        note = ""
        skew = self.next_skew()
        if skew is not None and self.faketime:
            env["LD_PRELOAD"] = self.faketime
            env["FAKETIME"] = f"{skew:+d}s"
            env["FAKETIME_DONT_FAKE_MONOTONIC"] = "1"
            self.skewed_passes += 1
            note = f" clock {skew:+d}s"
            self.history.add(self.name, "fault-skew", f"this pass runs with its clock {skew:+d}s")
        elif skew is not None:
            self.history.add(self.name, "fault-skipped", "skew: libfaketime is not installed")
        return env, note

    def _run(self, args: list[str], what: str) -> tuple[int | None, str]:
        env, note = self._environment()
        with self._lock:
            if self.stop_event.is_set():
                return None, ""
            self.proc = subprocess.Popen(
                self._command(args),
                cwd=ROOT,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                start_new_session=True,
            )
            self.started_at = time.monotonic()
            proc = self.proc
        self.passes += 1
        self._arm_timer()
        try:
            out, err = proc.communicate(timeout=300)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            out, err = proc.communicate()
            self.history.add(self.name, "stuck", f"{what} ran 300 s: killed")
        with self._lock:
            self.proc = None
        code = proc.returncode
        self.durations.setdefault(what, []).append(time.monotonic() - self.started_at)
        if code is not None and code < 0:
            self.history.add(
                self.name, what, f"killed (signal {-code}){note}", layout=self.repo.layout
            )
            return code, ""
        if "Traceback (most recent call last)" in err:
            # The engine promises an outcome for every per-release problem, never a crash.
            lines = [ln for ln in err.strip().splitlines() if ln.strip()]
            ours = [ln.strip() for ln in lines if str(ROOT) in ln and "/.venv/" not in ln]
            where = ours[-1].removeprefix(f'File "{ROOT}/') if ours else "?"
            self.crashes.append((self.history.now(), f"{what}: {lines[-1][:300]} ({where})"))
            self.history.add(
                self.name,
                "crash",
                f"{what} died: {lines[-1][:300]}; in: "
                + " <- ".join(o.removeprefix(f'File "{ROOT}/') for o in reversed(ours[-4:])),
                layout=self.repo.layout,
            )
        elif code not in (0, 1):
            self.history.add(
                self.name,
                f"{what}-error",
                f"exit {code}{note}: {err.strip()[-600:]}",
                layout=self.repo.layout,
            )
        return code, out

    def _promote(self) -> None:
        code, out = self._run([FACTORY, "promote", "--json"], "promote")
        if code not in (0, 1) or not out.strip():
            return
        try:
            result = json.loads(out)
        except ValueError:
            self.history.add(self.name, "promote-error", f"not JSON: {out[-300:]}")
            return
        for outcome in result.get("outcomes", []):
            self.outcomes[outcome["result"]] = self.outcomes.get(outcome["result"], 0) + 1
            if outcome["result"] == "retry" and not outcome.get("attempted", True):
                continue  # busy elsewhere: no news
            said = (outcome["result"], outcome.get("error"))
            if outcome["result"] == "waiting" and self._said.get(outcome["release_id"]) == said:
                continue  # still waiting, as this runner said last time
            self._said[outcome["release_id"]] = said
            self.history.add(
                self.name,
                "outcome",
                f"{outcome['service']}@{outcome.get('env', 'dev')} {outcome['release_id']} "
                f"{outcome['result']}"
                + (f" {outcome.get('digest') or ''}" if outcome["result"] == "success" else "")
                + (f" ({outcome['error'][:160]})" if outcome.get("error") else ""),
                layout=self.repo.layout,
                subject=f"{outcome['service']} {outcome['release_id']}",
            )
        if result.get("error"):
            self.history.add(
                self.name, "pass-error", result["error"][:400], layout=self.repo.layout
            )

    def _smoke(self) -> None:
        args = [FACTORY, "smoke", "--timeout", "20"]
        for env in self.smoke_envs:
            args += ["--env", env]
        code, out = self._run(args, "smoke")
        if code is None or code < 0:
            return
        for line in out.splitlines():
            lane, sep, rest = line.partition(": ")
            if sep and "[" in rest and "unchanged since" not in rest:
                self.history.add(
                    self.name,
                    "smoke",
                    line[:240],
                    layout=self.repo.layout,
                    subject=lane.split("@")[0],
                )


DAGSTER_YAML = """\
telemetry:
  enabled: false
concurrency:
  runs:
    max_concurrent_runs: 1
    tag_concurrency_limits:
      - key: factory/service
        value:
          applyLimitPerUniqueValue: true
        limit: 1
sensors:
  use_threads: true
  num_workers: 1
run_monitoring:
  enabled: true
  start_timeout_seconds: 60
  poll_interval_seconds: 5
  max_runtime_seconds: 120  # deploy/dagster.yaml's hour, at the soak's pace
"""


class DaemonRunner(Runner):
    """A real `dagster-daemon` on the factory's layout (dev): its sensors request a run per ready lane."""

    def __init__(self, history: History, *, repo: RepoWorld, clone: Path, home: Path, env: dict):
        super().__init__(DAEMON, history)
        self.repo, self.clone, self.home, self.env = repo, clone, home, env
        self.process = None
        self.restarts = 0
        self._restart = threading.Lock()

    def start(self) -> DaemonRunner:
        from factory_assets.sandbox.dagster_processes import start_daemon

        self.home.mkdir(parents=True, exist_ok=True)
        (self.home / "dagster.yaml").write_text(DAGSTER_YAML)
        env = {k: v for k, v in self.env.items()}
        env["FACTORY_REPO"] = str(self.clone)
        env["FACTORY_GIT_AUTHOR_NAME"] = self.name
        # dev only: a run per ready lane is a process each, and the machine has two cores
        env["FACTORY_ENVS"] = "dev"
        self.process = start_daemon(self.home, env, self.home / f"daemon-{self.restarts}.log")
        with self._lock:
            self.proc = self.process.proc
            self.started_at = time.monotonic()
        return self

    def arm_kill(self, after: float, how: str) -> None:
        threading.Timer(after, self._kill_now, args=(how,)).start()

    def _run_workers(self) -> list[int]:
        assert self.process is not None
        pgid = self.process.proc.pid
        found = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                if os.getpgid(int(entry.name)) != pgid:
                    continue
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            except (OSError, ProcessLookupError):
                continue
            if "execute_run" in cmdline or "api execute" in cmdline:
                found.append(int(entry.name))
        return found

    def _kill_now(self, how: str) -> None:
        with self._restart:  # never while `stop` stops it: no daemon outlives the soak
            if not self.stop_event.is_set() and self.process is not None:
                self._kill_locked(how)

    def _kill_locked(self, how: str) -> None:
        workers = self._run_workers()
        if how == "process" and workers:
            pid = max(workers)
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                return
            self.kills += 1
            self.history.add(self.name, "fault-kill", f"kill -9 run worker pid {pid}")
            return
        # The whole daemon and everything it started, then a fresh start (a pod restarted).
        try:
            os.killpg(self.process.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.process.proc.wait(timeout=10)
        self.process._log.close()
        self.kills += 1
        self.history.add(
            self.name,
            "fault-kill",
            f"kill -9 the daemon's process group ({len(workers)} run workers)",
        )
        self.restarts += 1
        self.start()

    def stop(self) -> None:
        super().stop()
        with self._restart:
            if self.process is not None:
                self.process.stop(timeout=20)

    def runs(self) -> tuple[int, int]:
        """(runs its sensor requested, runs the queue launched), over every restart."""
        logs = [p.read_text(errors="replace") for p in self.home.glob("daemon-*.log")]
        requested = sum(log.count("Launching run for release_queue_sensor") for log in logs)
        launched = sum(int(n) for log in logs for n in re.findall(r"Launched (\d+) runs", log))
        return requested, launched


# -- service CI, replication, approval, noise ---------------------------------------------------


def git_sha_of(content: str) -> str:
    return hashlib.sha1(content.encode()).hexdigest()[:7]


@dataclass
class Landed:
    """A request that reached the remote: what the checker expects to see from then on."""

    layout: str
    release_id: str
    service: str
    digest: str
    event: Event
    at: float


class ServiceCI:
    """Appends release requests, batched every `interval` seconds, through its own clone.

    The factory's layout: the `factory release add --push` path (entries plus `requested`
    records). The deploy repository's: the block its service CI appends, in PyYAML style; its
    PR gate allows one pending entry per (service, env), so a request for a lane that has one
    waits here (only the newest build of a lane waits; older ones never reach the queue).
    """

    def __init__(self, world: World, layout: str, clone: Path, history: History, interval=0.7):
        self.world, self.layout, self.clone, self.history = world, layout, clone, history
        self.repo = world.repos[layout]
        self.interval = interval
        self.inbox: list[Event] = []
        self.backlog: dict[str, tuple[Event, str]] = {}  # ljwx: lane -> newest build, its digest
        self.landed: list[Landed] = []
        self.not_landed: list[tuple[Event, str]] = []
        self.by_digest: dict[str, Event] = {}
        self.on_landed = lambda landed: None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._last_stamp: dict[str, datetime] = {}
        self.thread = threading.Thread(target=self._loop, name=f"ci-{layout}", daemon=True)
        self.commits = 0
        self.push_failures = 0

    def start(self) -> ServiceCI:
        self.thread.start()
        return self

    def submit(self, event: Event) -> None:
        with self._lock:
            self.inbox.append(event)

    def stop(self) -> None:
        self._stop.set()
        if self.thread.ident is not None:  # started
            self.thread.join(timeout=60)
        with self._lock:
            for event, _ in self.backlog.values():
                self.not_landed.append((event, "the gate still had a pending entry for its lane"))
            self.backlog.clear()
            for event in self.inbox:
                self.not_landed.append((event, "not appended before the soak ended"))
            self.inbox.clear()

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            with self._lock:
                batch, self.inbox = self.inbox, []
            if batch or self.backlog:
                try:
                    self._append(batch)
                except Exception as exc:  # noqa: BLE001 - the CI keeps going; the history says why
                    self.history.add(
                        f"ci-{self.layout}", "ci-error", repr(exc)[:400], layout=self.layout
                    )
                    landed = {id(item.event) for item in self.landed}
                    self.not_landed += [
                        (e, "service CI failed") for e in batch if id(e) not in landed
                    ]

    def _build(self, event: Event) -> str:
        """Build the image; the env's Harbor has it now, later (replication) or never."""
        p = event.params
        service, content = p["service"], p["content"]
        if self.layout == "own":
            tag = (
                f"b{hashlib.sha1(content.encode()).hexdigest()[:10]}"
                if p.get("by") == "tag"
                else None
            )
            if p["dev_delay"] == 0:
                digest = self.world.push("dev", self.repo.dev_repository(service), content, tag)
            else:
                digest = self.world.push("dev", self.repo.build_repository(service), content)
            return digest
        digest = self.world.push("dev", self.repo.build_repository(service), content)
        if p["dev_delay"] == 0:
            self.world.push("dev", self.repo.dev_repository(service), content)
        return digest

    def _append(self, batch: list[Event]) -> None:
        built = []
        for event in batch:
            digest = self._build(event)
            self.by_digest[digest] = event
            built.append((event, digest))
        if self.layout == "own":
            self._append_own(built)
        else:
            self._append_ljwx(built)

    # The factory's own layout: `factory release add --push`, batched.
    def _append_own(self, built: list[tuple[Event, str]]) -> None:
        if not built:
            return
        from factory_assets.release.add import append_entries, build_entry
        from resources.gitops import GitError, GitopsWriter

        entries = []
        for event, digest in built:
            p = event.params
            tag = (
                f"b{hashlib.sha1(p['content'].encode()).hexdigest()[:10]}"
                if p.get("by") == "tag"
                else None
            )
            entries.append(
                build_entry(
                    self.clone,
                    service=p["service"],
                    tag=tag,
                    digest=None if tag else digest,
                    image=self.repo.image(p["service"]),
                    requested_by="service-ci",
                    harbor_url=self.world.proxies["dev"].url,
                )
            )
        writer = GitopsWriter(self.clone)
        try:
            txn = writer.transact(
                lambda tree: append_entries(tree, entries, record=True),
                message="ci: request " + ", ".join(f"{e.service} {e.id}" for e in entries) + "\n",
                step="add_release",
            )
        except GitError as exc:
            self.push_failures += 1
            self.history.add("ci-own", "ci-push-refused", str(exc)[:200], layout="own")
            with self._lock:  # the same requests, next time
                self.inbox[:0] = [event for event, _ in built]
            return
        self.commits += 1
        for (event, digest), entry in zip(built, entries, strict=True):
            self._landed(event, entry.id, digest, txn.commit)

    # The deploy repository: its service CI's PyYAML block, one pending entry per lane.
    def _stamp(self, lane: str) -> datetime:
        now = datetime.now(UTC).replace(microsecond=0)
        last = self._last_stamp.get(lane)
        if last is not None and now <= last:
            now = last + timedelta(seconds=1)  # createdAt decides the order: never a tie
        self._last_stamp[lane] = now
        return now

    def _block(self, event: Event, digest: str) -> tuple[str, str]:
        p = event.params
        service = p["service"]
        sha = git_sha_of(p["content"])
        at = self._stamp(f"{service}/dev")
        stamp = at.strftime("%Y-%m-%dT%H:%M:%SZ")
        release_id = f"{at:%Y%m%dT%H%M%SZ}-{service}-sha-{sha}"
        git_sha = f"'{sha}'" if sha.isdigit() else sha
        block = pending_entry(service, "dev", digest, tag=f"sha-{sha}", git_sha=git_sha, at=stamp)
        return release_id, block

    def _append_ljwx(self, built: list[tuple[Event, str]]) -> None:
        for event, digest in built:
            lane = event.params["service"]
            older = self.backlog.get(lane)
            if older is not None:
                self.not_landed.append((older[0], "a newer build of its lane came first"))
            self.backlog[lane] = (event, digest)
        if not self.backlog:
            return
        for _ in range(10):
            _git(self.clone, "fetch", "-q", "origin", "main")
            _git(self.clone, "reset", "-q", "--hard", "origin/main")
            path = self.clone / "release" / "queue.yaml"
            text = path.read_text()
            blocks = split(text)
            pending = {
                entry.get("service")
                for _, entry in blocks.entries("pending")
                if isinstance(entry, dict) and entry.get("env", "dev") == "dev"
            }
            ready = [(lane, item) for lane, item in self.backlog.items() if lane not in pending]
            if not ready:
                return
            new = []
            for lane, (event, digest) in ready:
                release_id, block = self._block(event, digest)
                new.append((lane, event, digest, release_id, block))
            path.write_text(append_pending(text, [b for *_, b in new]))
            message = "\n".join(f"queue({lane}): {rid}" for lane, _, _, rid, _ in new)
            _git(self.clone, "commit", "-qam", message)
            pushed = _git(self.clone, "push", "-q", "origin", "HEAD:main", check=False)
            if pushed.returncode == 0:
                self.commits += 1
                head = _git(self.clone, "rev-parse", "HEAD").stdout.strip()
                for lane, event, digest, release_id, _ in new:
                    del self.backlog[lane]
                    self._landed(event, release_id, digest, head)
                return
            self.push_failures += 1
            if "pre-receive hook declined" in pushed.stderr:
                self.history.add(
                    "ci-ljwx", "ci-push-refused", "the remote refuses pushes", layout="ljwx"
                )
                return
            time.sleep(random.uniform(0.05, 0.3))

    def _landed(self, event: Event, release_id: str, digest: str, commit: str | None) -> None:
        landed = Landed(
            self.layout, release_id, event.params["service"], digest, event, self.history.now()
        )
        self.landed.append(landed)
        self.history.add(
            f"ci-{self.layout}",
            "request",
            f"{event.params['service']} {release_id} {digest[:19]} (commit {str(commit)[:10]})",
            layout=self.layout,
            subject=f"{event.params['service']} {release_id}",
        )
        self.on_landed(landed)


@dataclass(order=True)
class Replica:
    """One replication to come: `content` onto `env`'s registry at `when` (monotonic)."""

    when: float
    number: int
    env: str = field(compare=False)
    layout: str = field(compare=False)
    service: str = field(compare=False)
    content: str = field(compare=False)
    tag: str | None = field(default=None, compare=False)  # pushed with this tag
    needs: str | None = field(default=None, compare=False)  # copied once dev has this tag


class Replicator:
    """Harbor's replication: puts a digest on an env's registry when the schedule says.

    A prod replica in the deploy repository's layout is copied only once the dev Harbor has
    its `prod-*` tag (the replication rule filters on it), as there."""

    def __init__(self, world: World, history: History) -> None:
        self.world, self.history = world, history
        self._heap: list[Replica] = []
        self._lock = threading.Lock()
        self._counter = 0
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._loop, name="replicator", daemon=True)
        self.done = 0

    def start(self) -> Replicator:
        self.thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self.thread.ident is not None:
            self.thread.join(timeout=10)

    def waiting(self, layout: str) -> int:
        with self._lock:
            return sum(1 for job in self._heap if job.layout == layout)

    def later(
        self,
        delay: float,
        env: str,
        layout: str,
        service: str,
        content: str,
        *,
        tag: str | None = None,
        needs: str | None = None,
    ) -> None:
        if delay == NEVER:
            self.history.add(
                "harbor",
                "replica-never",
                f"{env} {service}: this replica never comes",
                layout=layout,
                subject=service,
            )
            return
        with self._lock:
            self._counter += 1
            heapq.heappush(
                self._heap,
                Replica(
                    time.monotonic() + delay,
                    self._counter,
                    env,
                    layout,
                    service,
                    content,
                    tag,
                    needs,
                ),
            )

    def _loop(self) -> None:
        while not self._stop.wait(0.2):
            now = time.monotonic()
            due = []
            with self._lock:
                while self._heap and self._heap[0].when <= now:
                    due.append(heapq.heappop(self._heap))
            for job in due:
                self._replicate(job, now)

    def _replicate(self, job: Replica, now: float) -> None:
        repo = self.world.repos[job.layout]
        if (
            job.needs
            and self.world.has_tag("dev", repo.dev_repository(job.service), job.needs) is None
        ):
            with self._lock:  # not tagged yet: the rule has nothing to copy; look again soon
                self._counter += 1
                heapq.heappush(self._heap, replace(job, when=now + 2.0, number=self._counter))
            return
        repository = (
            repo.dev_repository(job.service)
            if job.env == "dev"
            else repo.prod_repository(job.service)
        )
        try:
            digest = self.world.push(job.env, repository, job.content, job.tag)
        except Exception as exc:  # noqa: BLE001 - said in the history; the entry keeps waiting
            self.history.add("harbor", "replica-error", repr(exc)[:200], layout=job.layout)
            return
        self.done += 1
        self.history.add(
            "harbor",
            "replica",
            f"{job.env} {job.service} {digest[:19]}",
            layout=job.layout,
            subject=job.service,
        )


class Approver:
    """A person who approves prod requests on the factory's layout, with the CLI."""

    def __init__(self, clone: Path, env: dict[str, str], history: History) -> None:
        self.clone, self.env, self.history = clone, env, history
        self._heap: list[tuple[float, str]] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self.approved = 0
        self.thread = threading.Thread(target=self._loop, name="approver", daemon=True)

    def start(self) -> Approver:
        self.thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self.thread.ident is not None:
            self.thread.join(timeout=60)

    def waiting(self) -> int:
        with self._lock:
            return len(self._heap)

    def later(self, delay: float, release_id: str, service: str) -> None:
        if delay == NEVER:
            self.history.add(
                "approver",
                "approve-never",
                f"{release_id} stays unapproved",
                layout="own",
                subject=f"{service} {release_id}",
            )
            return
        with self._lock:
            heapq.heappush(self._heap, (time.monotonic() + delay, release_id, service))

    def _loop(self) -> None:
        while not self._stop.wait(0.3):
            with self._lock:
                due = self._heap and self._heap[0][0] <= time.monotonic()
                item = heapq.heappop(self._heap) if due else None
            if item is None:
                continue
            _, release_id, service = item
            env = {**os.environ, **self.env, "PYTHONPATH": str(ROOT)}
            done = subprocess.run(
                [
                    FACTORY,
                    "release",
                    "approve",
                    release_id,
                    "--by",
                    "soak-approver",
                    "--push",
                    "--repo",
                    str(self.clone),
                ],
                cwd=ROOT,
                env=env,
                capture_output=True,
                text=True,
                timeout=120,
            )
            if done.returncode == 0:
                self.approved += 1
                self.history.add(
                    "approver",
                    "approve",
                    release_id,
                    layout="own",
                    subject=f"{service} {release_id}",
                )
            elif "refused" in done.stderr or "pre-receive" in done.stderr:
                with self._lock:  # the remote refuses pushes for now: again in a while
                    heapq.heappush(self._heap, (time.monotonic() + 3, release_id, service))
            else:
                self.history.add(
                    "approver",
                    "approve-failed",
                    f"{release_id}: {done.stderr.strip()[-200:]}",
                    layout="own",
                    subject=f"{service} {release_id}",
                )


class Noise:
    """Another writer of the branch: a burst of commits that makes the runners lose races."""

    def __init__(self, repo: RepoWorld, clone: Path, history: History) -> None:
        self.repo, self.clone, self.history = repo, clone, history
        self.commits = 0
        self._lock = threading.Lock()

    def burst(self, commits: int) -> None:
        threading.Thread(target=self._burst, args=(commits,), daemon=True).start()

    def _burst(self, commits: int) -> None:
        with self._lock:
            for _ in range(commits):
                for _attempt in range(5):
                    _git(self.clone, "fetch", "-q", "origin", "main")
                    _git(self.clone, "reset", "-q", "--hard", "origin/main")
                    note = self.clone / "noise" / "races.txt"
                    note.parent.mkdir(exist_ok=True)
                    self.commits += 1
                    note.write_text(f"push race {self.commits}\n")
                    _git(self.clone, "add", "noise")
                    _git(self.clone, "commit", "-qm", f"noise: push race {self.commits}")
                    if (
                        _git(
                            self.clone, "push", "-q", "origin", "HEAD:main", check=False
                        ).returncode
                        == 0
                    ):
                        break
                    time.sleep(0.05)


@dataclass
class Injector:
    """Applies each scheduled fault to the part it targets."""

    world: World
    runners: dict[str, Runner]
    noise: dict[str, Noise]
    history: History
    scheduled: dict[str, int] = field(default_factory=dict)
    timers: list[threading.Timer] = field(default_factory=list)

    def apply(self, event: Event) -> None:
        p = event.params
        self.scheduled[event.kind] = self.scheduled.get(event.kind, 0) + 1
        self.history.add("schedule", f"fault-{event.kind}", event.line())
        kind = event.kind
        if kind == "registry_5xx":
            self.world.proxies[p["env"]].fail(kind, p["count"], p["status"])
        elif kind == "registry_timeout":
            self.world.proxies[p["env"]].fail(kind, p["count"], 503, delay=11.0)
        elif kind == "registry_401":
            self.world.proxies[p["env"]].reauth(p["seconds"])
        elif kind == "registry_404":  # the env's replica of one layout's images lags behind
            self.world.proxies[p["env"]].missing(self.world.repos[p["layout"]].prefix, p["seconds"])
        elif kind == "registry_cut":
            self.world.proxies[p["env"]].cut(p["count"])
        elif kind == "registry_outage":
            self.world.proxies[p["env"]].outage(p["seconds"])
        elif kind == "git_race":
            self.noise[p["layout"]].burst(p["commits"])
        elif kind == "git_reject":
            flag = self.world.repos[p["layout"]].flag
            flag.touch()
            timer = threading.Timer(p["seconds"], lambda: flag.unlink(missing_ok=True))
            timer.start()
            self.timers.append(timer)
        elif kind == "kill":
            runner = self.runners.get(p["runner"])
            if runner is not None:
                runner.arm_kill(p["after"], p["how"])
        elif kind == "skew":
            runner = self.runners.get(p["runner"])
            if runner is not None:
                runner.arm_skew(p["seconds"], p["passes"])

    def clear(self) -> None:
        """No more faults: the drain runs clean."""
        for timer in self.timers:
            timer.cancel()
        for repo in self.world.repos.values():
            repo.flag.unlink(missing_ok=True)
        for proxy in self.world.proxies.values():
            proxy.clear()
        for runner in self.runners.values():
            with runner._lock:
                runner._armed.clear()
                runner._skew.clear()
