"""The adoption plan: every file added, changed, moved, removed or kept, grouped by concern, with why.

The plan is what the user reviews (`--dry-run`, `--plan-out`) and, verbatim, the message of
the one commit `factory adopt` makes, so the history says why each file changed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Action = Literal["add", "change", "move", "remove", "keep"]

# Concerns in the order the plan lists them, with a heading each.
CONCERNS = {
    "layout": "Layout (factory.yaml)",
    "evidence": "Evidence records",
    "schema": "Evidence schema",
    "metrics": "Derived files",
    "runtime": "Runtime (legacy CronJobs)",
    "workflows": "Workflows",
    "unread": "Files nobody reads any more",
}

TITLE = "adopt: run this repository with factory"


@dataclass(frozen=True)
class Change:
    """One file the adoption touches (or deliberately leaves alone), and why."""

    concern: str
    action: Action
    path: str
    why: str
    to: str | None = None  # the destination of a move

    def line(self) -> str:
        where = f"{self.path} -> {self.to}" if self.to else self.path
        return f"{self.action} {where}: {self.why}"


@dataclass
class Plan:
    changes: list[Change] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # what it found that needs a human
    order: list[str] = field(default_factory=list)  # the order of the switch, step by step
    rollback: list[str] = field(default_factory=list)  # how to undo it

    def add(self, concern: str, action: Action, path: str, why: str, to: str | None = None):
        if concern not in CONCERNS:
            raise ValueError(f"unknown concern {concern!r}")
        self.changes.append(Change(concern, action, path, why, to))

    def grouped(self) -> list[tuple[str, list[Change]]]:
        return [
            (heading, [c for c in self.changes if c.concern == concern])
            for concern, heading in CONCERNS.items()
            if any(c.concern == concern for c in self.changes)
        ]

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for change in self.changes:
            out[change.action] = out.get(change.action, 0) + 1
        return out

    def summary(self) -> str:
        counts = self.counts()
        return ", ".join(
            f"{counts[a]} {a}" for a in ("add", "change", "move", "remove", "keep") if counts.get(a)
        )

    def as_text(self) -> str:
        """The commit message: a title line, then each concern's files."""
        out = [TITLE, "", f"Plan: {self.summary()}."]
        for heading, changes in self.grouped():
            out += ["", f"{heading}:"]
            out += [f"- {c.line()}" for c in changes]
        if self.notes:
            out += ["", "Needs a human:"]
            out += [f"- {note}" for note in self.notes]
        if self.order:
            out += ["", "Order of the switch:"]
            out += [f"{n}. {step}" for n, step in enumerate(self.order, 1)]
        if self.rollback:
            out += ["", "Rolling back:"]
            out += [f"- {step}" for step in self.rollback]
        return "\n".join(out) + "\n"

    def as_markdown(self) -> str:
        out = [f"# {TITLE}", "", f"Plan: {self.summary()}."]
        for heading, changes in self.grouped():
            out += ["", f"## {heading}", "", "| action | file | why |", "| --- | --- | --- |"]
            for c in changes:
                where = f"`{c.path}` -> `{c.to}`" if c.to else f"`{c.path}`"
                out.append(f"| {c.action} | {where} | {_cell(c.why)} |")
        if self.notes:
            out += ["", "## Needs a human", ""]
            out += [f"- {note}" for note in self.notes]
        if self.order:
            out += ["", "## Order of the switch", ""]
            out += [f"{n}. {step}" for n, step in enumerate(self.order, 1)]
        if self.rollback:
            out += ["", "## Rolling back", ""]
            out += [f"- {step}" for step in self.rollback]
        return "\n".join(out) + "\n"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")
