"""What happened during a soak, in order: actions, faults, passes and commits, timestamped.

Every actor appends here; a violation prints the lines that led to it, and the shrinker's
replays print theirs. `counts` tallies by kind for the report.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from dataclasses import dataclass


@dataclass(frozen=True)
class Line:
    at: float  # seconds since the soak started
    actor: str
    kind: str
    text: str
    layout: str | None = None
    subject: str | None = None  # the service or release it is about, when there is one

    def show(self) -> str:
        where = f" [{self.layout}]" if self.layout else ""
        return f"{self.at:8.2f}s {self.actor:<12} {self.kind:<16}{where} {self.text}"


class History:
    """A thread-safe, append-only log of the soak."""

    def __init__(self) -> None:
        self.started = time.monotonic()
        self.lines: list[Line] = []
        self.counts: Counter[str] = Counter()
        self._lock = threading.Lock()

    def now(self) -> float:
        return time.monotonic() - self.started

    def add(
        self,
        actor: str,
        kind: str,
        text: str,
        *,
        layout: str | None = None,
        subject: str | None = None,
    ) -> Line:
        line = Line(round(self.now(), 3), actor, kind, text, layout, subject)
        with self._lock:
            self.lines.append(line)
            self.counts[kind] += 1
        return line

    def about(
        self, layout: str | None, subjects: set[str], until: float | None = None
    ) -> list[Line]:
        """The lines about these services or releases (and every fault), up to `until`."""
        with self._lock:
            lines = list(self.lines)
        out = []
        for line in lines:
            if until is not None and line.at > until:
                break
            if line.kind.startswith("fault") or (
                (layout is None or line.layout in (None, layout))
                and line.subject is not None
                and any(s in line.subject for s in subjects)
            ):
                out.append(line)
        return out

    def tail(self, count: int) -> list[Line]:
        with self._lock:
            return self.lines[-count:]
