"""The shortest history that shows a violation: replay less, keep what still breaks.

A violation names a lane (or a release of one). The first candidate is the schedule cut down
to that lane's requests up to the violation and the faults before it, the idle time between
them squeezed out, on a world that holds only that service. It is replayed; if the same
invariant breaks again, each fault is dropped in turn (latest first) and each earlier request
after it, keeping every drop that still breaks it. Replays are real runs, so a candidate that
does not break again is simply kept; the budget bounds the whole search.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from tests.soak.checker import Violation
from tests.soak.harness import SoakReport, run_soak
from tests.soak.schedule import CLI_RUNNERS, DAEMON, Event, Schedule, shifted

SERVICE = re.compile(r"\b((?:fo|lj)-\d{3})\b")
LAYOUT_RUNNERS = {"own": ("cli-own",), "ljwx": ("cli-lj", "cli-lj-prod")}


def subject_service(violation: Violation) -> str | None:
    found = SERVICE.search(violation.subject) or SERVICE.search(violation.detail)
    return found.group(1) if found else None


def candidate(schedule: Schedule, violation: Violation, service: str) -> list[Event]:
    """The lane's requests and the faults that could touch it, up to the violation."""
    layout = violation.layout
    runners = LAYOUT_RUNNERS[layout] + ((DAEMON,) if layout == "own" else ())
    keep = []
    for event in schedule.events:
        if event.at > violation.at:
            break
        p = event.params
        if event.kind == "request":
            if p["layout"] == layout and p["service"] == service:
                keep.append(event)
        elif event.kind in ("git_race", "git_reject"):
            if p["layout"] == layout:
                keep.append(event)
        elif event.kind == "registry_404":
            if p["layout"] == layout:
                keep.append(event)
        elif event.kind in ("kill", "skew"):
            if p["runner"] in runners:
                keep.append(event)
        else:
            keep.append(event)
    first = next((e.at for e in keep if e.kind == "request"), 0.0)
    return shifted(keep, max(0.0, first - 5.0), max_gap=5.0)


def reproduces(report: SoakReport, violation: Violation) -> bool:
    return any(v.key() == violation.key() for v in report.violations)


def shrink(
    report: SoakReport,
    workdir: Path,
    out: Callable[[str], None],
    *,
    budget_seconds: float = 900.0,
) -> tuple[Schedule, SoakReport] | None:
    """The smallest schedule found that breaks the first violation's invariant again."""
    violation = report.violations[0]
    service = subject_service(violation)
    if service is None:
        out(f"shrink: {violation.invariant} names no lane; the whole schedule is the history")
        return None
    base = report.schedule
    layout = violation.layout
    config = replace(
        base.config,
        runners=tuple(
            r for r in CLI_RUNNERS if r in LAYOUT_RUNNERS[layout] and r in base.config.runners
        ),
        daemon=base.config.daemon and layout == "own",
        drain=60.0,
        check_every_commit=True,
        only_services=(service,),
    )
    started = time.monotonic()
    tries = 0

    def attempt(events: list[Event]) -> SoakReport | None:
        nonlocal tries
        if not events or time.monotonic() - started > budget_seconds:
            return None
        tries += 1
        last = max(e.at for e in events)
        schedule = Schedule(replace(config, duration=last + 10.0), tuple(events))
        out(f"shrink: replay {tries}: {len(events)} events over {last:.0f} s")
        result = run_soak(schedule, workdir / f"replay-{tries}")
        return result if reproduces(result, violation) else None

    events = candidate(base, violation, service)
    best = attempt(events)
    if best is None:
        out("shrink: the lane's history alone did not break it again: keeping the full schedule")
        return None
    # Drop faults, latest first, then earlier requests, keeping each drop that still breaks it.
    for index in range(len(events) - 1, -1, -1):
        if index >= len(events) or time.monotonic() - started > budget_seconds:
            continue
        event = events[index]
        if event.kind == "request" and index == max(
            i for i, e in enumerate(events) if e.kind == "request"
        ):
            continue  # the lane's last request stays
        trial = events[:index] + events[index + 1 :]
        again = attempt(trial)
        if again is not None:
            events, best = trial, again
    last = max(e.at for e in events)
    return Schedule(replace(config, duration=last + 10.0), tuple(events)), best


def report_violation(
    report: SoakReport, workdir: Path, out: Callable[[str], None], *, budget_seconds=900.0
) -> None:
    """Print the seed, the violation, and the shortest history that shows it (saved for replay)."""
    violation = report.violations[0]
    out(f"\nviolation with seed {report.schedule.config.seed}: {violation.line()}")
    service = subject_service(violation)
    lines = (
        report.history
        if service is None
        else [
            line
            for line in report.history
            if line.at <= violation.at + 1
            and (
                line.kind.startswith("fault")
                or line.kind == "violation"
                or (line.subject and service in line.subject)
            )
        ]
    )
    out(f"its history in the soak ({len(lines)} lines):")
    for line in lines[-80:]:
        out("  " + line.show())
    shrunk = shrink(report, workdir, out, budget_seconds=budget_seconds)
    if shrunk is None:
        path = workdir / "schedule.json"
        report.schedule.dump(path)
        out(f"replay it: python -m tests.soak --replay {path}")
        return
    schedule, replayed = shrunk
    path = workdir / "shortest.json"
    schedule.dump(path)
    out(
        f"\nshortest history found ({len(schedule.events)} scheduled events), seed {report.schedule.config.seed}:"
    )
    for event in schedule.events:
        out("  " + event.line())
    out("what happened when it was replayed:")
    for line in replayed.history:
        if line.kind in ("drain", "drained"):
            continue
        out("  " + line.show())
    out(f"replay it: python -m tests.soak --replay {path}")
