"""The repair loop: check, fix what recipes can fix, guard the patch, re-check, commit once or escalate.

Recipes run in a disposable clone of HEAD; the real working tree only ever receives the final
patch, after every guard passed, as one commit by the repair identity. Attempt state that must
survive between runs lives in git (trailers on fix commits, see `gitwork.past_repairs`), issue
state in the issues themselves (see `escalate`), and every attempt is a `repair` evidence record.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import git

from factory_assets.common.clock import rfc3339, utc_now
from factory_assets.common.errors import InputError
from factory_assets.common.files import atomic_write_bytes
from factory_assets.repair import gitwork
from factory_assets.repair.commands import CommandResult, run_command, skipped
from factory_assets.repair.escalate import (
    EscalationResult,
    GreenResult,
    escalate_failure,
    note_green,
)
from factory_assets.repair.fingerprint import combined_fingerprint, fingerprint
from factory_assets.repair.guards import (
    Refusal,
    check_history,
    check_identity,
    check_patch_modes,
    check_patch_size,
    check_recipe_paths,
)
from factory_assets.repair.recipes import (
    RECIPES_FILE,
    Command,
    Guards,
    Identity,
    RecipeBook,
    load_recipes,
)
from factory_assets.repair.records import record_repair
from factory_assets.repair.redact import redact, trim_log
from resources.github import GitHubClient, GitHubError

Status = Literal["clean", "repaired", "would-repair", "failed", "refused"]
Say = Callable[[str], None]


@dataclass(frozen=True)
class RepairOptions:
    max_attempts: int = 3
    dry_run: bool = False
    base: str | None = None
    recipes_path: Path | None = None
    patch_out: Path | None = None
    escalate: bool = True
    close_after: int = 3
    labels: tuple[str, ...] = ()
    identity_name: str | None = None
    identity_email: str | None = None


@dataclass
class Attempt:
    """One pass of recipes over the failing checks (number 0: refused before any recipe ran)."""

    number: int
    failing: list[str]
    fingerprint: str
    fingerprints: list[str]
    log: str
    started_at: str = field(default_factory=lambda: rfc3339(utc_now()))
    finished_at: str = ""
    recipes: list[str] = field(default_factory=list)
    patch: gitwork.Patch | None = None
    refusal: Refusal | None = None
    passed: bool = False


@dataclass
class RepairOutcome:
    status: Status
    head: str
    checks: list[CommandResult]
    attempts: list[Attempt] = field(default_factory=list)
    commit: str | None = None
    patch: gitwork.Patch | None = None
    refusal: Refusal | None = None
    escalations: list[EscalationResult] = field(default_factory=list)
    would_escalate: list[str] = field(default_factory=list)
    greens: list[GreenResult] = field(default_factory=list)
    record_ids: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        return 0 if self.status in ("clean", "repaired", "would-repair") else 1


def effective_guards(book: RecipeBook, options: RepairOptions) -> Guards:
    """recipes.yaml guards, with the identity overridable (FACTORY_REPAIR_NAME / _EMAIL via the CLI)."""
    identity = Identity(
        name=options.identity_name or book.guards.identity.name,
        email=options.identity_email or book.guards.identity.email,
    )
    return book.guards.model_copy(update={"identity": identity})


class _Workspace:
    """The scratch clone, the file selection `--base` implies, and running commands in it."""

    def __init__(self, scratch: git.Repo, changed: set[str] | None, roots: tuple[str, ...]) -> None:
        self.scratch = scratch
        self.root = Path(scratch.working_tree_dir)
        self.changed = changed
        self.roots = roots

    def files_for(self, command: Command) -> list[str] | None:
        if command.scope == "repo":
            return None
        files = [p for p in gitwork.tracked_files(self.scratch) if command.covers(p)]
        if self.changed is not None:
            files = [p for p in files if p in self.changed]
        return files

    def run(self, command: Command) -> CommandResult:
        files = self.files_for(command)
        if files is not None and not files:
            return skipped(
                command,
                "no changed file matches its paths"
                if self.changed is not None
                else "no file matches its paths",
            )
        return run_command(command, self.root, files)

    def run_checks(
        self,
        book: RecipeBook,
        say: Say,
        previous: list[CommandResult] | None = None,
        changed: list[str] | None = None,
    ) -> list[CommandResult]:
        """Run the checks concurrently (they only read the checkout; most of their time is
        start-up). With `previous`, a passing check none of whose `paths` is in `changed` keeps
        its result: its inputs did not change."""
        before = {r.name: r for r in previous or []}
        keep = {
            c.name: before[c.name]
            for c in book.checks
            if c.name in before and before[c.name].ok and not any(map(c.covers, changed or []))
        }
        todo = [c for c in book.checks if c.name not in keep]
        with ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1)) as pool:
            fresh = dict(zip([c.name for c in todo], pool.map(self.run, todo), strict=True))
        for r in fresh.values():
            state = "ok" if r.ok and not r.skipped else f"FAILED (exit {r.returncode})"
            say(f"  check {r.name}: {f'skipped ({r.output})' if r.skipped else state}")
            if not r.ok:
                say(_indent(trim_log(redact(r.output), head=10, tail=30, max_chars=4000)))
        return [keep.get(c.name) or fresh[c.name] for c in book.checks]

    def fingerprints(self, results: list[CommandResult]) -> dict[str, str]:
        return {
            r.name: fingerprint(r.name, r.output, roots=self.roots) for r in results if not r.ok
        }


def _failing(results: list[CommandResult]) -> list[str]:
    return [r.name for r in results if not r.ok]


def _log_of(results: list[CommandResult]) -> str:
    return "\n".join(
        f"$ {r.display}\n{r.output.rstrip()}\n(exit {r.returncode})" for r in results if not r.ok
    )


def _quiet(_: str) -> None:
    pass


def _indent(text: str) -> str:
    return "\n".join(f"      {line}" for line in text.splitlines())


def run_repair(
    repo_path: Path,
    options: RepairOptions,
    *,
    client: GitHubClient | None = None,
    say: Say = _quiet,
) -> RepairOutcome:
    """Check, repair, guard, then commit once or escalate (see the module docstring). Never pushes."""
    repo = gitwork.open_repo(repo_path)
    try:
        return _run(repo, options, client, say)
    finally:
        repo.close()


def _run(
    repo: git.Repo, options: RepairOptions, client: GitHubClient | None, say: Say
) -> RepairOutcome:
    root = Path(repo.working_tree_dir)
    book = load_recipes(options.recipes_path or root / RECIPES_FILE)
    guards = effective_guards(book, options)
    head = gitwork.head_commit(repo)
    base = gitwork.resolve_base(repo, options.base) if options.base else None
    if not options.dry_run:
        dirty = gitwork.dirty_paths(repo)
        if dirty:
            raise InputError(
                root,
                "working tree",
                f"uncommitted changes in {', '.join(dirty[:5])}; commit or stash them first",
            )
    history = gitwork.past_repairs(repo, base=base, limit=guards.history_commits)
    ctx = _Context(root, options, client, say, book)

    with gitwork.scratch_clone(repo, head.hexsha) as scratch:
        ctx.roots = (str(scratch.working_tree_dir), str(root))
        ws = _Workspace(scratch, gitwork.changed_files(repo, base) if base else None, ctx.roots)
        say(
            f"checking {head.hexsha[:12]}"
            + (f" (files changed since {options.base})" if base else "")
        )
        initial = ws.run_checks(book, say)
        outcome = RepairOutcome("clean", head.hexsha, initial)
        failing = _failing(initial)
        if not failing:
            ctx.count_green(outcome)
            return outcome
        per_check = ws.fingerprints(initial)
        initial_fp = combined_fingerprint(per_check)
        refusal = check_identity(head, guards.identity)
        if refusal:
            outcome.attempts.append(
                Attempt(
                    0,
                    failing,
                    initial_fp,
                    sorted(per_check.values()),
                    _log_of(initial),
                    refusal=refusal,
                )
            )
            return ctx.finish(outcome, initial, refusal=refusal)
        unfixable = book.unfixable(failing)
        if unfixable:
            outcome.notes.append(f"no recipe fixes: {', '.join(unfixable)}")
            failed = [r for r in initial if r.name in unfixable]
            return ctx.finish(outcome, failed, note="No recipe fixes `{check}`.")

        finished = _attempt_loop(ws, ctx, guards, outcome, per_check)
        if finished:
            return finished
        patch = outcome.attempts[-1].patch
        assert patch is not None
        refusal = check_history(initial_fp, patch, history, options.max_attempts)
        if refusal:
            outcome.attempts[-1].passed = False
            outcome.attempts[-1].refusal = refusal
            return ctx.finish(outcome, initial, refusal=refusal)
        outcome.patch = patch
        if options.patch_out:
            atomic_write_bytes(options.patch_out, patch.text)
        if options.dry_run:
            outcome.status = "would-repair"
            return outcome

    recipes = [r.name for r in book.recipes if any(r.name in a.recipes for a in outcome.attempts)]
    message = gitwork.fix_message(recipes, failing, initial_fp, patch, outcome.attempts[-1].number)
    gitwork.apply_patch(repo, patch)
    identity = guards.identity
    outcome.commit = gitwork.commit_fix(repo, patch.paths, message, identity.name, identity.email)
    outcome.status = "repaired"
    say(f"committed {outcome.commit[:12]}: {message.splitlines()[0]}")
    ctx.record_attempts(outcome)
    ctx.count_green(outcome)
    return outcome


def _attempt_loop(
    ws: _Workspace,
    ctx: _Context,
    guards: Guards,
    outcome: RepairOutcome,
    per_check: dict[str, str],
) -> RepairOutcome | None:
    """Attempts until green (None: the last attempt passed) or a finished, red outcome."""
    book, say = ctx.book, ctx.say
    current = outcome.checks
    failing = _failing(current)
    head_tree = tree = gitwork.tree_of(ws.scratch, outcome.head)
    for number in range(1, ctx.options.max_attempts + 1):
        fp = combined_fingerprint(per_check)
        attempt = Attempt(number, failing, fp, sorted(per_check.values()), _log_of(current))
        outcome.attempts.append(attempt)
        start = tree
        tree = _apply_recipes(ws, book, guards, attempt, head_tree, tree, say)
        attempt.finished_at = rfc3339(utc_now())
        if attempt.refusal:
            return ctx.finish(outcome, current, refusal=attempt.refusal)
        recipes = ", ".join(attempt.recipes)
        if tree == start:  # the same fingerprint would only yield the same (empty) patch again
            outcome.notes.append(
                f"no progress: recipes {recipes} changed nothing in attempt {number}"
            )
            note = f"The recipes for `{{check}}` ({recipes}) ran but changed nothing: it needs a human."
            return ctx.finish(outcome, current, note=note)
        changed = gitwork.changed_between(ws.scratch, start, tree)
        current = outcome.checks = ws.run_checks(book, say, current, changed)
        attempt.finished_at = rfc3339(utc_now())
        failing = _failing(current)
        if not failing:
            attempt.passed = True
            return None
        per_check = ws.fingerprints(current)
        unfixable = book.unfixable(failing)
        if unfixable:
            outcome.notes.append(f"after attempt {number}, no recipe fixes: {', '.join(unfixable)}")
            return ctx.finish(
                outcome, current, note="After a repair attempt, no recipe fixes `{check}`."
            )
    outcome.notes.append(f"still failing after {ctx.options.max_attempts} attempt(s)")
    tried = ", ".join(sorted({r for a in outcome.attempts for r in a.recipes}))
    note = f"{len(outcome.attempts)} repair attempt(s) (recipes: {tried}) did not make `{{check}}` pass."
    return ctx.finish(outcome, current, note=note)


def _apply_recipes(
    ws: _Workspace,
    book: RecipeBook,
    guards: Guards,
    attempt: Attempt,
    head_tree: str,
    tree: str,
    say: Say,
) -> str:
    """Run the recipes for the attempt's failing checks, guarding each one's changes; returns the new tree."""
    for recipe in book.recipes_for(attempt.failing):
        attempt.recipes.append(recipe.name)
        result = ws.run(recipe)
        say(f"attempt {attempt.number}: recipe {recipe.name}: exit {result.returncode}")
        after = gitwork.snapshot(ws.scratch)
        attempt.refusal = check_recipe_paths(
            recipe, gitwork.changed_between(ws.scratch, tree, after), guards
        )
        tree = after
        if attempt.refusal:
            break
    attempt.patch = gitwork.build_patch(ws.scratch, head_tree, tree)
    if attempt.refusal is None:
        attempt.refusal = check_patch_modes(attempt.patch) or check_patch_size(
            attempt.patch, guards
        )
    return tree


@dataclass
class _Context:
    """What finishing a run needs: where to record, whether to write, whom to tell."""

    root: Path
    options: RepairOptions
    client: GitHubClient | None
    say: Say
    book: RecipeBook
    roots: tuple[str, ...] = ()

    def record_attempts(self, outcome: RepairOutcome) -> None:
        """One evidence record per attempt; the passing one names the fix commit."""
        for a in outcome.attempts:
            result = (
                "refused"
                if a.refusal
                else ("success" if a.passed and outcome.commit else "failure")
            )
            patch = a.patch if a.patch and not a.patch.empty else None
            outcome.record_ids.append(
                record_repair(
                    self.root,
                    result=result,
                    head=outcome.head,
                    started_at=a.started_at,
                    finished_at=a.finished_at or None,
                    log=a.log,
                    fingerprint=a.fingerprint,
                    fingerprints=a.fingerprints,
                    checks_failed=a.failing,
                    recipes=a.recipes,
                    attempt=a.number,
                    patch_digest=patch.digest if patch else None,
                    patch_lines=patch.lines if patch else 0,
                    patch_bytes=patch.size if patch else 0,
                    **({"commit": outcome.commit} if a.passed and outcome.commit else {}),
                    refused=str(a.refusal)[:4096] if a.refusal else None,
                )
            )

    def finish(
        self,
        outcome: RepairOutcome,
        failed: list[CommandResult],
        *,
        refusal: Refusal | None = None,
        note: str | None = None,
    ) -> RepairOutcome:
        """End a run that stays red: record the attempts, escalate each failing check."""
        outcome.status = "refused" if refusal else "failed"
        outcome.refusal = refusal
        if refusal:
            self.say(f"refused: {refusal}")
        targets = [r for r in failed if not r.ok]
        if self.options.dry_run:
            outcome.would_escalate = [r.name for r in targets]
            return outcome
        self.record_attempts(outcome)
        if not self.options.escalate:
            outcome.would_escalate = [r.name for r in targets]
            return outcome
        for result in targets:
            text = (
                f"Refused by the loop guard `{refusal.guard}`: {refusal.reason}"
                if refusal
                else (note or "").format(check=result.name)
            )
            escalation = escalate_failure(
                self.root,
                key=result.name,
                title=f"factory repair: check `{result.name}` fails",
                log=result.output,
                commands=[
                    f"git checkout {outcome.head}",
                    result.display,
                    "factory repair --dry-run",
                ],
                commit=outcome.head,
                client=self.client,
                labels=list(self.options.labels),
                note=text,
                close_after=self.options.close_after,
                fingerprint=fingerprint(result.name, result.output, roots=self.roots),
            )
            outcome.escalations.append(escalation)
            self.say(f"escalated {result.name} ({escalation.fingerprint}): {escalation.message}")
        return outcome

    def count_green(self, outcome: RepairOutcome) -> None:
        """A run that ends green counts toward closing the issues of the checks it ran."""
        if self.options.dry_run or not self.options.escalate or self.client is None:
            return
        ran = [r.name for r in outcome.checks if not r.skipped and r.ok]
        try:
            outcome.greens = note_green(
                self.root,
                keys=ran,
                commit=outcome.commit or outcome.head,
                client=self.client,
                close_after=self.options.close_after,
            )
        except GitHubError as exc:
            outcome.notes.append(f"could not update escalation issues: {exc}")
            return
        for green in outcome.greens:
            state = "closed" if green.closed else f"{green.green}/{self.options.close_after} green"
            self.say(f"issue #{green.issue_number} ({green.key}): {state}")
