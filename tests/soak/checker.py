"""The soak's invariants, checked at every commit that lands on a remote, and at the end.

Per commit (both layouts unless said):
1. Requests: no id is lost or duplicated; a terminal entry (promoted, failed, superseded)
   never changes state again; no release is pinned by two commits (`Factory-Release:`).
2. Pins: each lane's pin is the digest of its newest promoted request (createdAt, then
   position), never older than one already landed, never torn (it parses, a digest by the
   grammar), always a digest put on that environment's registry.
4. Four-list layout: the queue passes the repository's validator rules (tests/support/
   queue_rules.py); an entry whose content did not change keeps its exact bytes.
5. A stage request per (upstream request, stage) at most once.
At the end (`final`): every request is terminal or pending with a stated reason (the engine's
own plan says which); the evidence chain validates (`factory evidence validate`); every
attempt, refusal, wait and verdict has its record; no record contradicts the queue; every
handoff the queue claims exists exactly once.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import yaml

from tests.soak.history import History
from tests.soak.queue_text import LOADER, QueueBlocks, split
from tests.soak.world import RepoWorld, World
from tests.support.ljwx import PUBLIC
from tests.support.queue_rules import data_errors

FOUR_LISTS = ("pending", "promoted", "failed", "superseded")
TERMINAL = ("promoted", "failed", "superseded")
DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
TRAILER = re.compile(r"^Factory-Release: (\S+)$", re.M)
ROOT = Path(__file__).resolve().parents[2]
FACTORY = str(Path(sys.executable).parent / "factory")


def plan_of(clone: Path, env: dict[str, str]) -> dict:
    """The engine's own plan for the remote head (`factory promote --dry-run --json`), every env."""
    run_env = {**os.environ, **env, "PYTHONPATH": str(ROOT)}
    run_env.pop("FACTORY_ENVS", None)
    done = subprocess.run(
        [FACTORY, "promote", "--dry-run", "--json", "--repo", str(clone)],
        cwd=ROOT,
        env=run_env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    try:
        return json.loads(done.stdout)
    except ValueError:
        return {"error": done.stderr.strip()[-300:] or f"exit {done.returncode}"}


@dataclass(frozen=True)
class Violation:
    invariant: str  # e.g. "1 lost", "2 pin", "4 validator"
    layout: str
    subject: str  # the service or release it is about
    detail: str
    commit: str | None = None
    at: float = 0.0

    def line(self) -> str:
        where = f" at {self.commit[:10]}" if self.commit else ""
        return f"[{self.invariant}] {self.layout} {self.subject}{where}: {self.detail}"

    def key(self) -> tuple[str, str]:
        return (self.invariant, self.layout)


@dataclass(frozen=True)
class Entry:
    id: str
    service: str
    env: str
    state: str
    created: datetime | None
    position: int
    digest: str | None
    upstream: str | None
    handed_off: dict
    raw: dict
    block: str
    dash: int
    claimed_by: str | None = None  # `claimed_by` (own) / `meta.factory.claimedBy` (four lists)

    @property
    def in_flight(self) -> bool:
        """Claimed: being promoted, or pinned with the attempt's record still to come."""
        return bool(self.claimed_by) and self.state in ("promoting", "promoted")

    @property
    def lane(self) -> tuple[str, str]:
        return (self.service, self.env)

    def order(self) -> tuple:
        created = self.created or datetime.min.replace(tzinfo=UTC)
        return (created, self.position)


def _moment(value: object) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def entries_of(layout: str, blocks: QueueBlocks) -> tuple[list[Entry], list[str]]:
    """The queue's entries in the engine's order, and what makes the file unreadable."""
    out: list[Entry] = []
    problems: list[str] = []
    keys = ("releases",) if layout == "own" else FOUR_LISTS
    for key in keys:
        if key not in blocks.regions:
            problems.append(f"no `{key}:` list")
    position = 0
    for key in keys:
        region = blocks.regions.get(key)
        for block, raw in blocks.entries(key):
            if not isinstance(raw, dict):
                problems.append(f"{key}: an item is not a mapping")
                continue
            if layout == "own":
                state = str(raw.get("state"))
                created = _moment(raw.get("requested_at"))
                digest = raw.get("digest")
                upstream, handed = raw.get("upstream"), raw.get("handed_off") or {}
                claimed = raw.get("claimed_by")
            else:
                meta = raw.get("meta") if isinstance(raw.get("meta"), dict) else {}
                mine = meta.get("factory") if isinstance(meta.get("factory"), dict) else {}
                claimed = mine.get("claimedBy")
                state = "promoting" if key == "pending" and claimed else key
                created = _moment(raw.get("createdAt"))
                source = raw.get("source") if isinstance(raw.get("source"), dict) else {}
                digest = source.get("digest")
                upstream, handed = mine.get("upstream"), mine.get("handedOff") or {}
            out.append(
                Entry(
                    id=str(raw.get("id")),
                    service=str(raw.get("service")),
                    env=str(raw.get("env") or "dev"),
                    state=state,
                    created=created,
                    position=position,
                    digest=digest if isinstance(digest, str) else None,
                    upstream=upstream if isinstance(upstream, str) else None,
                    handed_off=handed if isinstance(handed, dict) else {},
                    raw=raw,
                    block=block,
                    dash=region.dash if region else 0,
                    claimed_by=claimed if isinstance(claimed, str) and claimed else None,
                )
            )
            position += 1
    return out, problems


def _dedent(block: str, dash: int) -> str:
    return "\n".join(
        line[dash:] if line[:dash].strip() == "" else line for line in block.splitlines()
    )


class Blobs:
    """One `git cat-file --batch` on a bare remote: a file at a commit without a process each."""

    def __init__(self, bare: Path) -> None:
        self.proc = subprocess.Popen(
            ["git", "--git-dir", str(bare), "cat-file", "--batch"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        self._lock = threading.Lock()

    def show(self, commit: str, path: str) -> str | None:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        with self._lock:
            self.proc.stdin.write(f"{commit}:{path}\n".encode())
            self.proc.stdin.flush()
            header = self.proc.stdout.readline().decode().split()
            if len(header) < 3 or header[1] == "missing":
                return None
            size = int(header[2])
            data = self.proc.stdout.read(size)
            self.proc.stdout.read(1)  # the newline after the content
            return data.decode(errors="replace")

    def close(self) -> None:
        if self.proc.stdin:
            self.proc.stdin.close()
        self.proc.wait(timeout=10)


@dataclass
class Pin:
    digest: str | None
    release_id: str | None = None
    torn: str | None = None


def read_pin(repo: RepoWorld, service: str, env: str, text: str | None) -> Pin:
    """What a lane's pin says at a commit: a digest (or none yet), or why it is torn."""
    if text is None:
        return Pin(None, torn="the file is gone")
    try:
        data = yaml.load(text, Loader=LOADER)
    except yaml.YAMLError as exc:
        return Pin(None, torn=f"does not parse: {str(exc)[:120]}")
    if repo.layout == "own":
        if not isinstance(data, dict):
            return Pin(None, torn="not a mapping")
        image = data.get("image")
        if image is None:
            return Pin(None)
        if not isinstance(image, str) or "@" not in image:
            return Pin(None, torn=f"image {image!r} is not pinned by digest")
        digest = image.rpartition("@")[2]
        if not DIGEST.match(digest):
            return Pin(None, torn=f"image {image!r}: not a sha256 digest")
        return Pin(digest, str(data.get("release_id")))
    images = data.get("images") if isinstance(data, dict) else None
    if images is None:
        return Pin(None)
    if not isinstance(images, list):
        return Pin(None, torn="images: not a list")
    mine = [i for i in images if isinstance(i, dict) and i.get("name") == f"{PUBLIC}/{service}"]
    if len(mine) != 1:
        return Pin(None, torn=f"{len(mine)} images entries named {PUBLIC}/{service}")
    digest = mine[0].get("digest")
    if digest is None:
        return Pin(None)
    if not isinstance(digest, str) or not DIGEST.match(digest):
        return Pin(None, torn=f"digest {digest!r}: not a sha256 digest")
    if "newTag" in mine[0]:
        return Pin(None, torn="both a digest and a newTag")
    return Pin(digest)


@dataclass
class RepoChecker:
    """Follows one remote commit by commit; `violations` is what broke, `checks` what ran."""

    world: World
    repo: RepoWorld
    history: History
    on_entries: Callable[[str, list[Entry]], None] = lambda layout, entries: None
    violations: list[Violation] = field(default_factory=list)
    checks: Counter = field(default_factory=Counter)
    commits: int = 0
    last: str | None = None
    entries: dict[str, Entry] = field(default_factory=dict)
    trailers: dict[str, str] = field(default_factory=dict)
    pins: dict[tuple[str, str], Pin] = field(default_factory=dict)
    pinned_order: dict[tuple[str, str], tuple] = field(default_factory=dict)
    terminal_at: dict[str, tuple[str, str]] = field(default_factory=dict)
    full_parse_every: int = 25

    def __post_init__(self) -> None:
        self.blobs = Blobs(self.repo.bare)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._loop, name=f"check-{self.repo.layout}", daemon=True
        )

    @property
    def layout(self) -> str:
        return self.repo.layout

    def start(self) -> RepoChecker:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=120)
        self.catch_up()
        self.blobs.close()

    def _loop(self) -> None:
        while not self._stop.wait(0.3):
            try:
                self.catch_up()
            except Exception as exc:  # noqa: BLE001 - report, and keep checking
                self.history.add(f"check-{self.layout}", "checker-error", repr(exc)[:400])

    def violate(self, invariant: str, subject: str, detail: str, commit: str | None) -> None:
        violation = Violation(invariant, self.layout, subject, detail, commit, self.history.now())
        self.violations.append(violation)
        self.history.add(
            f"check-{self.layout}",
            "violation",
            violation.line(),
            layout=self.layout,
            subject=subject,
        )

    def catch_up(self) -> None:
        with self._lock:
            span = f"{self.last}..main" if self.last else "main"
            listed = subprocess.run(
                [
                    "git",
                    "--git-dir",
                    str(self.repo.bare),
                    "log",
                    "--reverse",
                    "--format=%x01%H%x02%B%x03",
                    "--name-only",
                    span,
                ],
                capture_output=True,
                text=True,
            )
            if listed.returncode != 0:
                return
            for chunk in listed.stdout.split("\x01")[1:]:
                sha, _, rest = chunk.partition("\x02")
                message, _, names = rest.partition("\x03")
                self.check_commit(sha.strip(), message, set(names.split()))
                self.last = sha.strip()

    # -- one commit -----------------------------------------------------------------------
    def check_commit(self, sha: str, message: str, changed: set[str]) -> None:
        self.commits += 1
        first = not self.entries and self.commits == 1
        text = self.blobs.show(sha, "release/queue.yaml")
        if text is None:
            self.violate("1 unreadable", "release/queue.yaml", "the queue file is gone", sha)
            return
        blocks = split(text)
        if self.layout == "ljwx" and (self.commits % self.full_parse_every == 0):
            self._check_split(blocks, sha)
        entries, problems = entries_of(self.layout, blocks)
        for problem in problems:
            self.violate("1 unreadable", "release/queue.yaml", problem, sha)
        self.checks["queue read"] += 1
        if self.layout == "ljwx":
            self._validator(blocks, sha)
        current: dict[str, Entry] = {}
        for entry in entries:
            if entry.id in current:
                self.violate("1 duplicated", entry.id, "the id is in the queue twice", sha)
            current[entry.id] = entry
        self.checks["no duplicate"] += 1
        new = [e for e in entries if e.id not in self.entries]
        self._requests(current, sha)
        self._promoted_once(message, sha)
        self._handoff(entries, sha)
        self._pins(current, changed, sha, first)
        self.entries = current
        if new:
            self.on_entries(self.layout, new)

    def _check_split(self, blocks: QueueBlocks, sha: str) -> None:
        """The block split must read as the whole file does (else the checks above lie)."""
        whole = yaml.load(blocks.text, Loader=LOADER)
        self.checks["split = whole file"] += 1
        if whole != blocks.data():
            self.violate("harness", "queue split", "the block split reads differently", sha)

    def _validator(self, blocks: QueueBlocks, sha: str) -> None:
        errors = data_errors(blocks.data())
        self.checks["validator rules"] += 1
        for error in errors[:5]:
            self.violate("4 validator", error.split(":")[0], error, sha)

    def _requests(self, current: dict[str, Entry], sha: str) -> None:
        for rid, before in self.entries.items():
            now = current.get(rid)
            if now is None:
                self.violate(
                    "1 lost",
                    f"{before.service} {rid}",
                    f"gone from the queue (was {before.state})",
                    sha,
                )
                continue
            if before.state in TERMINAL and now.state != before.state:
                self.violate(
                    "1 terminal changed",
                    f"{now.service} {rid}",
                    f"was {before.state}, now {now.state}",
                    sha,
                )
            if self.layout == "ljwx" and before.raw == now.raw and before.block != now.block:
                if _dedent(before.block, before.dash) != _dedent(now.block, now.dash):
                    self.violate(
                        "4 bytes", f"{now.service} {rid}", "unchanged entry, changed bytes", sha
                    )
        self.checks["nothing lost"] += 1
        self.checks["terminal stays"] += 1
        if self.layout == "ljwx":
            self.checks["untouched bytes"] += 1

    def _promoted_once(self, message: str, sha: str) -> None:
        for rid in TRAILER.findall(message):
            self.checks["pinned once"] += 1
            if rid in self.trailers and self.trailers[rid] != sha:
                self.violate(
                    "1 promoted twice",
                    rid,
                    f"pinned again (first by {self.trailers[rid][:10]})",
                    sha,
                )
            self.trailers.setdefault(rid, sha)

    def _handoff(self, entries: list[Entry], sha: str) -> None:
        seen = Counter((e.upstream, e.env) for e in entries if e.upstream)
        self.checks["handoff once"] += 1
        for (upstream, env), count in seen.items():
            if count > 1:
                self.violate(
                    "5 handoff",
                    str(upstream),
                    f"{count} {env} requests for one upstream request",
                    sha,
                )

    def _pins(self, current: dict[str, Entry], changed: set[str], sha: str, first: bool) -> None:
        newest: dict[tuple[str, str], Entry] = {}
        for entry in current.values():
            if entry.state == "promoted":
                best = newest.get(entry.lane)
                if best is None or entry.order() > best.order():
                    newest[entry.lane] = entry
        promoted_before = {e.id for e in self.entries.values() if e.state == "promoted"}
        touched_lanes = {
            e.lane
            for e in current.values()
            if e.state == "promoted" and e.id not in promoted_before
        }
        for service, env in self.repo.lanes():
            path = self.repo.pin_path(service, env)
            lane = (service, env)
            if not (first or path in changed or lane in touched_lanes):
                continue
            if first or path in changed:
                self.pins[lane] = read_pin(self.repo, service, env, self.blobs.show(sha, path))
            self._pin(lane, self.pins[lane], newest.get(lane), sha)

    def _pin(self, lane: tuple[str, str], pin: Pin, expected: Entry | None, sha: str) -> None:
        service, env = lane
        subject = f"{service}@{env}"
        self.checks["pin"] += 1
        if pin.torn:
            self.violate("2 torn", subject, pin.torn, sha)
            return
        if expected is None:
            if pin.digest is not None:
                self.violate(
                    "2 pin", subject, f"pinned {pin.digest[:19]} with no promoted request", sha
                )
            return
        if pin.digest != expected.digest or (pin.release_id and pin.release_id != expected.id):
            self.violate(
                "2 pin",
                f"{service} {expected.id}",
                f"{env} pin is {str(pin.digest)[:19]} ({pin.release_id}), the newest promoted "
                f"request {expected.id} is {str(expected.digest)[:19]}",
                sha,
            )
            return
        order = expected.order()
        last = self.pinned_order.get(lane)
        if last is not None and order[0] < last[0]:
            self.violate(
                "2 older", f"{service} {expected.id}", "the pin went back to an older request", sha
            )
        self.pinned_order[lane] = order
        repository = (
            self.repo.dev_repository(service)
            if env == "dev"
            else self.repo.prod_repository(service)
        )
        if not self.world.holds(env, repository, expected.digest):
            # the push that put it there may still be on its way back to the harness
            threading.Event().wait(1.0)
            if not self.world.holds(env, repository, expected.digest):
                self.violate(
                    "2 unverified",
                    subject,
                    f"{expected.digest[:19]} was never on the {env} registry",
                    sha,
                )

    # -- the end ---------------------------------------------------------------------------
    def final(
        self, clone: Path, landed_ids: list[str], env: dict[str, str], *, unfinished_ok=False
    ) -> dict[str, Counter]:
        """The end-of-soak checks on a fresh clone of the remote; returns the final tallies.

        `unfinished_ok`: the drain ran out while the runners were still landing work, so a
        request still ready to promote is unfinished, not stuck."""
        self.catch_up()
        entries = self.entries
        tallies: dict[str, Counter] = {"state": Counter(), "pending": Counter()}
        for rid in landed_ids:
            self.checks["landed request kept"] += 1
            if rid not in entries:
                self.violate(
                    "1 lost", rid, "service CI landed it, the final queue lacks it", self.last
                )
        reasons = self._pending_reasons(clone, env)
        for entry in entries.values():
            if entry.state == "promoted" and entry.in_flight:
                # pinned, its record still to come: unfinished work when the drain was cut
                # short; after a drain that finished, a pin no pass ever recorded
                tallies["state"]["pinned, record to come"] += 1
                self.checks["pin recorded"] += 1
                if not unfinished_ok:
                    self.violate(
                        "3 record",
                        f"{entry.service} {entry.id}",
                        f"pinned, still claimed by {entry.claimed_by}, and never recorded",
                        self.last,
                    )
                continue
            tallies["state"][entry.state if entry.state != "promoting" else "pending"] += 1
            if entry.state in ("pending", "promoting"):
                reason = reasons.get(entry.id)
                self.checks["pending has a reason"] += 1
                if reason is None and unfinished_ok:
                    tallies["pending"]["unfinished"] += 1
                elif reason is None:
                    self.violate(
                        "1 no reason",
                        f"{entry.service} {entry.id}",
                        "pending, and the plan gives no reason",
                        self.last,
                    )
                else:
                    tallies["pending"][reason] += 1
        self._handoffs_exactly_once(entries)
        self._evidence(clone, entries, env)
        return tallies

    def _pending_reasons(self, clone: Path, env: dict[str, str]) -> dict[str, str]:
        plan = plan_of(clone, env)
        if "error" in plan:
            self.violate("harness", "dry run", f"no plan: {plan['error']}", self.last)
            return {}
        reasons: dict[str, str] = {}
        for lane in plan["services"]:
            for waiting in lane["waiting"]:
                reason = waiting["reason"]
                reasons[waiting["id"]] = (
                    "held" if "hold" in reason else reason.split(":")[0].split(" by ")[0]
                )
        for entry in self.entries.values():
            if entry.state not in ("pending", "promoting") or entry.id in reasons:
                continue
            since = entry.raw.get("waiting_since") or (
                ((entry.raw.get("meta") or {}).get("factory") or {}).get("waitingSince")
                if isinstance(entry.raw.get("meta"), dict)
                else None
            )
            if since:
                reasons[entry.id] = "waiting for replication"
        return reasons

    def _handoffs_exactly_once(self, entries: dict[str, Entry]) -> None:
        by_upstream = defaultdict(list)
        for entry in entries.values():
            if entry.upstream:
                by_upstream[(entry.upstream, entry.env)].append(entry.id)
        for entry in entries.values():
            for env, stage in entry.handed_off.items():
                self.checks["handoff exactly once"] += 1
                queued = by_upstream.get((entry.id, env), [])
                if stage == "skipped":
                    if queued:
                        self.violate(
                            "5 handoff",
                            entry.id,
                            f"skipped for {env}, yet {queued} queued",
                            self.last,
                        )
                elif queued != [stage]:
                    self.violate(
                        "5 handoff",
                        entry.id,
                        f"handed to {env} as {stage}, queued {queued}",
                        self.last,
                    )
        for (upstream, env), ids in by_upstream.items():
            up = entries.get(upstream)
            self.checks["handoff exactly once"] += 1
            if up is None or up.handed_off.get(env) not in ids:
                self.violate(
                    "5 handoff",
                    upstream,
                    f"{env} request(s) {ids} the upstream does not name",
                    self.last,
                )

    def _evidence(self, clone: Path, entries: dict[str, Entry], env: dict[str, str]) -> None:
        run_env = {**os.environ, **env, "PYTHONPATH": str(ROOT)}
        done = subprocess.run(
            [FACTORY, "evidence", "validate", "--repo", str(clone)],
            cwd=ROOT,
            env=run_env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        self.checks["evidence validate"] += 1
        if done.returncode != 0:
            self.violate(
                "3 evidence", "evidence", (done.stdout + done.stderr).strip()[-600:], self.last
            )
        records: dict[str, dict] = {}
        for path in (clone / "evidence" / "records").glob("*.json"):
            records[path.stem] = json.loads(path.read_text())
        by_release = defaultdict(list)
        for record in records.values():
            rid = (record.get("details") or {}).get("release_id")
            if rid:
                by_release[rid].append(record)
        for entry in entries.values():
            self._records_of(entry, by_release.get(entry.id, []), records)
        for rid, recs in by_release.items():
            entry = entries.get(rid)
            if entry is None:
                continue
            for record in recs:
                self._agrees(entry, record)

    def _records_of(self, entry: Entry, recs: list[dict], records: dict[str, dict]) -> None:
        subject = f"{entry.service} {entry.id}"
        raw = entry.raw
        mine = raw if self.layout == "own" else ((raw.get("meta") or {}).get("factory") or {})
        evidence = mine.get("evidence")
        self.checks["record named"] += 1
        if evidence and evidence not in records:
            self.violate("3 record", subject, f"its evidence {evidence} does not exist", self.last)
        elif evidence and (records[evidence].get("details") or {}).get("release_id") != entry.id:
            self.violate(
                "3 record", subject, f"its evidence {evidence} is another release's", self.last
            )
        events = Counter((r.get("details") or {}).get("event") for r in recs)
        successes = [
            r
            for r in recs
            if r.get("kind") == "promotion"
            and r.get("result") == "success"
            and (r.get("details") or {}).get("event") in ("attempt", "recovered")
        ]
        self.checks["records per state"] += 1
        # a pin whose record is still to come (the pass records it when it ends, or the next
        # pass recovers it) is checked once it is recorded
        if entry.state == "promoted" and len(successes) != 1 and not entry.in_flight:
            self.violate(
                "3 record", subject, f"promoted with {len(successes)} success records", self.last
            )
        if entry.state == "failed" and not any(
            r.get("result") in ("failure", "refused") for r in recs
        ):
            self.violate("3 record", subject, "failed without a failure record", self.last)
        if entry.state == "superseded" and not any(r.get("result") == "superseded" for r in recs):
            self.violate("3 record", subject, "superseded without a record", self.last)
        waiting = mine.get("waiting_evidence") or mine.get("waitingEvidence")
        since = mine.get("waiting_since") or mine.get("waitingSince")
        if entry.state == "pending" and since and not (waiting and waiting in records):
            self.violate(
                "3 record", subject, "waiting for replication without its record", self.last
            )
        attempts = raw.get("attempts") or 0
        if entry.in_flight and isinstance(attempts, int):
            attempts -= 1  # the attempt in flight gets its record when it ends
        # `recovered`: a later pass recorded the attempt whose runner died after pinning.
        counted = sum(
            events[e]
            for e in ("attempt", "recovered", "abandoned", "superseded", "refused", "waiting")
        )
        self.checks["a record per attempt"] += 1
        if isinstance(attempts, int) and counted < attempts:
            self.violate(
                "3 record",
                subject,
                f"{attempts} attempts, {counted} attempt records ({dict(events)})",
                self.last,
            )
        smoke = mine.get("smoke_evidence") or mine.get("smokeEvidence")
        if smoke:
            self.checks["smoke verdict recorded"] += 1
            record = records.get(smoke)
            if record is None or record.get("kind") != "smoke":
                self.violate(
                    "3 record", subject, f"smoke evidence {smoke} is not a smoke record", self.last
                )
        approved = mine.get("approved_by") or mine.get("approvedBy")
        if approved:
            self.checks["approval recorded"] += 1
            if not any((r.get("details") or {}).get("event") == "approved" for r in recs):
                self.violate(
                    "3 record", subject, "approved without an `approved` record", self.last
                )

    def _agrees(self, entry: Entry, record: dict) -> None:
        """A record that says how a release ended must say what the queue says."""
        details = record.get("details") or {}
        if record.get("kind") != "promotion":
            return
        result, event = record.get("result"), details.get("event")
        self.checks["record agrees"] += 1
        said = None
        if result == "success" and event in ("attempt", "recovered"):
            said = "promoted"
        elif result == "superseded":
            said = "superseded"
        elif result in ("failure", "refused") and details.get("retryable") is False:
            said = "failed"
        if said and entry.state != said:
            self.violate(
                "3 contradiction",
                f"{entry.service} {entry.id}",
                f"record {record.get('id')} says {said} ({event}), the queue says {entry.state}",
                self.last,
            )
