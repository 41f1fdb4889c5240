"""Run a soak: start the world and the actors, play the schedule, drain, check, report.

`run_soak(schedule, workdir)` returns a `SoakReport` with the figures `make soak` prints:
requests per minute, faults by kind (scheduled and injected), invariant checks run, and the
violations (none, to pass).
"""

from __future__ import annotations

import os
import resource
import shutil
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from tests.soak.actors import (
    Approver,
    CliRunner,
    DaemonRunner,
    Injector,
    Noise,
    Replicator,
    Runner,
    ServiceCI,
    can_unshare_uts,
    clone_of,
    libfaketime,
)
from tests.soak.checker import Entry, RepoChecker, Violation, plan_of
from tests.soak.history import History, Line
from tests.soak.schedule import DAEMON, Schedule
from tests.soak.world import World

STALL_SECONDS = 90.0  # a drain where nothing lands for this long, with work left, is stuck

# runner -> (layout, FACTORY_ENVS, smoke --env, its host name)
RUNNER_SPECS = {
    "cli-own": ("own", None, [], "runner-own"),
    "cli-lj": ("ljwx", "dev,prod", ["dev"], "runner-lj-dev"),
    "cli-lj-prod": ("ljwx", "prod", ["prod"], "runner-lj-prod"),
}


@dataclass
class SoakReport:
    schedule: Schedule
    seconds: float = 0.0
    active_seconds: float = 0.0
    landed: int = 0
    not_landed: Counter = field(default_factory=Counter)
    states: Counter = field(default_factory=Counter)
    pending: Counter = field(default_factory=Counter)
    scheduled_faults: Counter = field(default_factory=Counter)
    injected: Counter = field(default_factory=Counter)
    checks: Counter = field(default_factory=Counter)
    commits: Counter = field(default_factory=Counter)
    passes: dict = field(default_factory=dict)
    violations: list[Violation] = field(default_factory=list)
    history: list[Line] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def terminal(self) -> int:
        return sum(self.states[s] for s in ("promoted", "failed", "superseded"))

    @property
    def per_minute(self) -> float:
        return self.terminal / (self.seconds / 60) if self.seconds else 0.0

    def lines(self) -> list[str]:
        c = self.schedule.config
        out = [
            f"== soak: seed {c.seed}, "
            + (
                f"services {', '.join(c.only_services)}"
                if c.only_services
                else f"{c.services} services"
            )
            + f", {len(self.schedule.requests)} requests scheduled "
            f"over {c.duration:.0f} s (+ drain), {self.seconds:.0f} s in all ==",
            f"requests   : {self.landed} landed in the queues; not landed: "
            + (", ".join(f"{n} {why}" for why, n in self.not_landed.items()) or "none"),
            "final      : " + ", ".join(f"{n} {s}" for s, n in sorted(self.states.items())),
            "pending    : "
            + (", ".join(f"{n} {why}" for why, n in sorted(self.pending.items())) or "none"),
            f"throughput : {self.per_minute:.1f} requests/min reached a terminal list "
            f"({self.terminal} in {self.seconds / 60:.1f} min); "
            f"{self.states['promoted'] / (self.seconds / 60) if self.seconds else 0:.1f} promoted/min",
            "faults     : "
            + ", ".join(
                f"{kind} {self.scheduled_faults[kind]} scheduled/{self.injected.get(kind, 0)} injected"
                for kind in sorted(self.scheduled_faults)
            ),
            "passes     : " + "; ".join(f"{k}: {v}" for k, v in sorted(self.passes.items())),
            "commits    : " + ", ".join(f"{k} {v}" for k, v in sorted(self.commits.items())),
            f"checks     : {sum(self.checks.values())} invariant checks run ("
            + ", ".join(f"{k} {v}" for k, v in sorted(self.checks.items()))
            + ")",
        ]
        out += [f"note       : {n}" for n in self.notes]
        out.append(f"violations : {len(self.violations)}")
        out += [f"  {v.line()}" for v in self.violations[:40]]
        return out


class Soak:
    """One soak's world and actors (started by `run`, stopped by `close`)."""

    def __init__(self, schedule: Schedule, workdir: Path, services: dict | None = None) -> None:
        self.schedule = schedule
        self.config = schedule.config
        self.workdir = workdir
        self.services = services
        self.history = History()
        self.world = World(self.config, workdir)
        self.runners: dict[str, Runner] = {}
        self.ci: dict[str, ServiceCI] = {}
        self.checkers: dict[str, RepoChecker] = {}
        self.report = SoakReport(schedule)
        self.drained = "not drained"

    # -- set-up --------------------------------------------------------------------------
    def start(self) -> None:
        self.world.start(self.services)
        env = self.world.runner_env()
        clones = self.workdir / "clones"
        distinct = self.config.distinct_hosts and can_unshare_uts()
        if self.config.distinct_hosts and not distinct:
            self.report.notes.append("runners share one host (no UTS namespaces here)")
        if not libfaketime():
            self.report.notes.append(
                "clock skew skipped: libfaketime (Debian `faketime`) is missing"
            )
        for name in self.config.runners:
            layout, envs, smoke, host = RUNNER_SPECS[name]
            repo = self.world.repos[layout]
            self.runners[name] = CliRunner(
                name,
                self.history,
                repo=repo,
                clone=clone_of(repo, clones / name, name),
                env=env,
                envs=envs,
                smoke_envs=smoke,
                host=host if distinct else None,
            )
        if self.config.daemon:
            repo = self.world.repos["own"]
            self.runners[DAEMON] = DaemonRunner(
                self.history,
                repo=repo,
                clone=clone_of(repo, clones / DAEMON, DAEMON),
                home=self.workdir / "dagster_home",
                env=env,
            )
        self.replicator = Replicator(self.world, self.history)
        self.approver = Approver(
            clone_of(self.world.repos["own"], clones / "approver", "approver"), env, self.history
        )
        noise = {}
        for layout, repo in self.world.repos.items():
            ci = ServiceCI(
                self.world,
                layout,
                clone_of(repo, clones / f"ci-{layout}", f"ci-{layout}"),
                self.history,
            )
            ci.on_landed = self._landed
            self.ci[layout] = ci
            noise[layout] = Noise(
                repo, clone_of(repo, clones / f"noise-{layout}", "noise"), self.history
            )
            self.checkers[layout] = RepoChecker(
                self.world, repo, self.history, on_entries=self._new_entries
            )
        self.injector = Injector(self.world, self.runners, noise, self.history)
        self.noise = noise
        for checker in self.checkers.values():
            checker.start()
        self.replicator.start()
        self.approver.start()
        for ci in self.ci.values():
            ci.start()
        for runner in self.runners.values():
            runner.start()

    # -- reactions -------------------------------------------------------------------------
    def _landed(self, landed) -> None:
        """A request reached the queue: its dev replica comes when the schedule says."""
        p = landed.event.params
        delay = p["dev_delay"]
        if delay == 0:
            return
        tag = None
        if landed.layout == "own" and p.get("by") == "tag":
            import hashlib

            tag = f"b{hashlib.sha1(p['content'].encode()).hexdigest()[:10]}"
        self.replicator.later(delay, "dev", landed.layout, landed.service, p["content"], tag=tag)

    def _new_entries(self, layout: str, entries: list[Entry]) -> None:
        """A stage request appeared: prod's replica, and (factory layout) its approver, come."""
        ci = self.ci.get(layout)
        if ci is None:
            return
        for entry in entries:
            if entry.env != "prod" or not entry.upstream or entry.digest is None:
                continue
            event = ci.by_digest.get(entry.digest)
            if event is None:
                continue
            p = event.params
            self.history.add(
                "pipeline",
                "stage-request",
                f"{entry.service} {entry.id} (from {entry.upstream})",
                layout=layout,
                subject=f"{entry.service} {entry.id} {entry.upstream}",
            )
            needs = None
            if layout == "ljwx":
                tag = (entry.raw.get("source") or {}).get("tag") or ""
                needs = tag if tag.startswith("prod-") else f"prod-{tag}"
            self.replicator.later(
                p["prod_delay"], "prod", layout, entry.service, p["content"], needs=needs
            )
            if layout == "own":
                self.approver.later(p.get("approve_delay", 0.0), entry.id, entry.service)

    # -- the run ---------------------------------------------------------------------------
    def play(self) -> None:
        """Deliver every event at its time; stop when the schedule's duration is over."""
        for event in self.schedule.events:
            wait = event.at - self.history.now()
            if wait > 0:
                time.sleep(wait)
            if event.kind == "request":
                if (
                    event.params["layout"] in self.ci
                    and event.params["service"] in self.world.repos[event.params["layout"]].services
                ):
                    self.ci[event.params["layout"]].submit(event)
            elif event.is_fault:
                self.injector.apply(event)
        rest = self.config.duration - self.history.now()
        if rest > 0:
            time.sleep(rest)
        self.report.active_seconds = self.history.now()

    def drain(self) -> None:
        """No more requests or faults: let the runners finish, until nothing is left to do."""
        for ci in self.ci.values():
            ci.stop()
        self.injector.clear()
        self.history.add("harness", "drain", "no more requests or faults")
        deadline = time.monotonic() + self.config.drain
        clones = {
            layout: clone_of(repo, self.workdir / "drain" / layout, "drain")
            for layout, repo in self.world.repos.items()
        }
        quiet, busy = 0, []
        commits, moved = None, time.monotonic()
        while quiet < 2:
            time.sleep(5.0)
            busy = [why for layout in clones for why in self._left_to_do(layout, clones[layout])]
            quiet = 0 if busy else quiet + 1
            now_commits = tuple(c.commits for c in self.checkers.values())
            if now_commits != commits:
                commits, moved = now_commits, time.monotonic()
            if busy:
                self.history.add("harness", "draining", "; ".join(busy[:6]))
            if busy and time.monotonic() - moved > STALL_SECONDS:
                self.drained = "stalled"  # work left, and nothing landed for a long while
                break
            if busy and time.monotonic() > deadline:
                self.drained = "cut short"  # the runners were still landing work
                break
        else:
            self.drained = "done"
        self.history.add(
            "harness", "drained", f"{self.drained} after {self.history.now():.0f} s: {busy[:3]}"
        )

    def _left_to_do(self, layout: str, clone: Path) -> list[str]:
        """What a runner still has to do: the engine's own plan, and handoffs smoke still owes."""
        checker = self.checkers[layout]
        repo = self.world.repos[layout]
        left = [  # being promoted, or pinned with its record still to come
            f"{layout}: {e.id} is claimed" for e in checker.entries.values() if e.in_flight
        ]
        newest: dict[str, Entry] = {}
        for entry in checker.entries.values():
            if entry.env == "dev" and entry.state == "promoted":
                if entry.service not in newest or entry.order() > newest[entry.service].order():
                    newest[entry.service] = entry
        left += [
            f"{layout}: {e.id} not handed to prod yet"
            for e in newest.values()
            if repo.has_prod(e.service)
            and "prod" not in e.handed_off
            and e.service not in repo.held.get("dev", [])
        ]
        if layout == "own" and self.approver.waiting():
            left.append(f"own: {self.approver.waiting()} approvals to come")
        if self.replicator.waiting(layout):
            left.append(f"{layout}: {self.replicator.waiting(layout)} replicas to come")
        plan = plan_of(clone, self.world.runner_env())
        for lane in plan.get("services", []):
            for key in ("promote", "finalize"):
                if lane.get(key):
                    left.append(f"{layout}: {lane['service']}@{lane['env']} {key}")
            for key in ("superseded", "abandoned", "exhausted", "refused"):
                if lane.get(key):
                    left.append(f"{layout}: {lane['service']}@{lane['env']} {key}")
        return left

    def close(self) -> None:
        """Stop every actor this soak started (also after a failed start or an interrupt)."""
        for runner in self.runners.values():
            runner.stop()
        for runner in self.runners.values():
            if isinstance(runner, CliRunner):
                runner.join(timeout=120)
                runner.kill_now()  # a pass still running after that: stopped like a pod
        for actor in (
            *self.ci.values(),
            getattr(self, "approver", None),
            getattr(self, "replicator", None),
        ):
            if actor is not None:
                actor.stop()
        for checker in self.checkers.values():
            checker.stop()

    def finish(self) -> SoakReport:
        report = self.report
        report.seconds = self.history.now()
        env = self.world.runner_env()
        for layout, checker in self.checkers.items():
            clone = clone_of(self.world.repos[layout], self.workdir / "final" / layout, "final")
            landed = [item.release_id for item in self.ci[layout].landed]
            tallies = checker.final(clone, landed, env, unfinished_ok=self.drained == "cut short")
            report.states.update(tallies["state"])
            report.pending.update(tallies["pending"])
            report.checks.update(checker.checks)
            report.commits[layout] = checker.commits
            report.violations += checker.violations
            report.landed += len(landed)
            for _, why in self.ci[layout].not_landed:
                report.not_landed[why] += 1
        for violation in self.world.reconciler.torn if self.world.reconciler else []:
            report.violations.append(
                Violation(
                    "2 torn", violation.split(":")[0], violation, "kustomize cannot render it"
                )
            )
        for name, runner in self.runners.items():
            for at, crash in getattr(runner, "crashes", []):
                layout = RUNNER_SPECS[name][0]
                report.violations.append(Violation("0 crash", layout, name, crash, at=at))
        if self.drained == "cut short" and report.pending["unfinished"]:
            report.notes.append(
                "the drain ended while the runners were still landing work: requests still "
                "ready then are counted `unfinished`, not as violations (a longer --drain finishes them)"
            )
        report.scheduled_faults.update(self.injector.scheduled)
        for proxy in self.world.proxies.values():
            report.injected.update(proxy.injected)
        report.injected["registry_timeout"] = report.injected.get("registry_timeout", 0)
        report.injected["git_reject"] = sum(r.refused_pushes() for r in self.world.repos.values())
        report.injected["git_race"] = sum(n.commits for n in self.noise.values())
        report.injected["kill"] = sum(r.kills for r in self.runners.values())
        report.injected["skew"] = sum(r.skewed_passes for r in self.runners.values())
        for name, runner in self.runners.items():
            if isinstance(runner, DaemonRunner):
                requested, launched = runner.runs()
                report.passes[name] = (
                    f"{launched} runs launched ({requested} requested), {runner.restarts} restarts"
                )
            else:
                report.passes[name] = ", ".join(
                    f"{len(took)} {what} ({sum(took) / len(took):.1f} s each)"
                    for what, took in sorted(runner.durations.items())
                )
        own, children = (
            resource.getrusage(who) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)
        )
        report.notes.append(
            f"CPU: the harness {own.ru_utime + own.ru_stime:.0f} s (checker, proxies, Argo CD, "
            f"service CI), the processes it waited for {children.ru_utime + children.ru_stime:.0f} s "
            f"(passes, git, kustomize), in {report.seconds:.0f} s on {os.cpu_count()} cores, "
            f"load {os.getloadavg()[0]:.1f}"
        )
        report.history = list(self.history.lines)
        return report


def run_soak(
    schedule: Schedule, workdir: Path, *, services: dict | None = None, keep: bool = False
) -> SoakReport:
    """Play `schedule` against a fresh world under `workdir`; always stops what it started."""
    workdir.mkdir(parents=True, exist_ok=True)
    soak = Soak(schedule, workdir, services)
    try:
        try:
            soak.start()
            soak.play()
            soak.drain()
        finally:
            soak.close()  # interrupted or not: no runner outlives the soak
        report = soak.finish()
    finally:
        soak.world.stop()
    if keep or report.violations:
        (workdir / "history.log").write_text("".join(line.show() + "\n" for line in report.history))
        schedule.dump(workdir / "schedule.json")
    else:
        shutil.rmtree(workdir, ignore_errors=True)
    return report
