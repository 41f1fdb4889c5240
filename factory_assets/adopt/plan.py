"""The adoption plan: the changes the commit makes, each with its content and why, read as a review.

Each step of the adoption returns its changes (add, rewrite, suspend, move, remove; keep for
what is deliberately left alone) with the bytes each file will hold. `--dry-run` prints this
list, the real run applies exactly it (`changes.apply_changes`) and commits the same text as
its message, so the review and the history say the same thing. The decisions a reviewer must
make come first (what needs a human, the runtime per cluster, the order of the switch and the
way back); then the changes by concern, each bulk change (one file per legacy record) as one
summary line with its file list folded.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Action = Literal["add", "rewrite", "suspend", "move", "remove", "keep"]
ACTIONS: tuple[Action, ...] = ("add", "rewrite", "suspend", "move", "remove", "keep")

# Concerns in the order the plan lists their changes, with a heading each.
CONCERNS = {
    "layout": "Layout (factory.yaml)",
    "runtime": "Runtime (cluster manifests)",
    "evidence": "Evidence records",
    "schema": "Evidence schema",
    "metrics": "Derived files",
    "workflows": "Workflows",
    "unread": "Files nobody reads any more",
}

TITLE = "adopt: run this repository with factory"


@dataclass(frozen=True)
class Change:
    """One file the adoption changes (or deliberately leaves alone): what, why, and its bytes after."""

    concern: str
    action: Action
    path: str
    why: str
    content: bytes | None = None  # the file's bytes after the change (None: removed, or kept)
    to: str | None = None  # the destination of a move
    bulk: str | None = None  # the bulk change it belongs to (its summary line in Plan.bulk)

    def line(self) -> str:
        where = f"{self.path} -> {self.to}" if self.to else self.path
        return f"{self.action} {where}: {self.why}"


@dataclass
class Plan:
    changes: list[Change] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # what it found that needs a human
    clusters: list[str] = field(default_factory=list)  # the runtime per cluster (Markdown)
    order: list[str] = field(default_factory=list)  # the order of the switch, step by step
    rollback: list[str] = field(default_factory=list)  # how to undo it
    bulk: dict[str, str] = field(default_factory=dict)  # bulk change -> its one summary line

    def add(
        self,
        concern: str,
        action: Action,
        path: str,
        why: str,
        *,
        content: bytes | None = None,
        to: str | None = None,
        bulk: str | None = None,
    ) -> None:
        if concern not in CONCERNS:
            raise ValueError(f"unknown concern {concern!r}")
        if action in ("add", "rewrite", "suspend", "move") and content is None:
            raise ValueError(f"{action} {path}: the change needs the file's content")
        self.changes.append(Change(concern, action, path, why, content, to, bulk))

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for change in self.changes:
            out[change.action] = out.get(change.action, 0) + 1
        return out

    def summary(self) -> str:
        counts = self.counts()
        return ", ".join(f"{counts[a]} {a}" for a in ACTIONS if counts.get(a))

    def body(self) -> str:
        """Everything below the title, in Markdown: the decisions, then the changes."""
        out = [f"Plan: {self.summary()}."]
        out += ["", "## Needs a human", ""]
        out += [f"- {note}" for note in self.notes] or ["- nothing: no decision is left open"]
        if self.clusters:
            out += ["", "## Runtime per cluster", "", *self.clusters]
        if self.order:
            out += ["", "## Order of the switch", ""]
            out += [f"{n}. {step}" for n, step in enumerate(self.order, 1)]
        if self.rollback:
            out += ["", "## Rolling back", ""]
            out += [f"- {step}" for step in self.rollback]
        out += ["", "## What the commit changes"]
        for concern, heading in CONCERNS.items():
            changes = [c for c in self.changes if c.concern == concern]
            if changes:
                out += ["", f"### {heading}", ""]
                out += self._listed(changes)
        return "\n".join(out) + "\n"

    def _listed(self, changes: list[Change]) -> list[str]:
        """One line per change; a bulk change's files folded under its one summary line."""
        out: list[str] = []
        done: set[str] = set()
        for change in changes:
            if change.bulk is None:
                out.append(f"- {change.line()}")
                continue
            if change.bulk in done:
                continue
            done.add(change.bulk)
            members = [c for c in changes if c.bulk == change.bulk]
            out += [
                f"- {self.bulk[change.bulk]}",
                "",
                f"  <details><summary>the {len(members)} files</summary>",
                "",
                *(f"  - {c.line()}" for c in members),
                "",
                "  </details>",
                "",
            ]
        while out and out[-1] == "":
            out.pop()
        return out

    def as_markdown(self) -> str:
        """The plan as `--dry-run` prints it and `--plan-out` writes it (the pull request)."""
        return f"# {TITLE}\n\n{self.body()}"

    def commit_message(self) -> str:
        """The commit's message: the same plan, its title as the subject line."""
        return f"{TITLE}\n\n{self.body()}"
