"""Loop guards and patch guards: the patch a recipe produced is data, checked before it is applied."""

from __future__ import annotations

import re
from dataclasses import dataclass

import git

from factory_assets.repair.gitwork import PastRepair, Patch
from factory_assets.repair.recipes import Guards, Identity, Recipe, matches_any


@dataclass(frozen=True)
class Refusal:
    """Why a repair was refused; `guard` is a stable name for tests and evidence."""

    guard: str
    reason: str

    def __str__(self) -> str:
        return f"{self.guard}: {self.reason}"


def authored_by_repair(commit: git.Commit, identity: Identity) -> bool:
    return (
        commit.author.name == identity.name
        or (commit.author.email or "").lower() == identity.email.lower()
    )


def check_identity(commit: git.Commit, identity: Identity) -> Refusal | None:
    if authored_by_repair(commit, identity):
        return Refusal(
            "own-commit",
            f"HEAD {commit.hexsha[:12]} is authored by the repair identity ({identity.name}); "
            "repairing it again could loop",
        )
    return None


def check_recipe_paths(recipe: Recipe, changed: list[str], guards: Guards) -> Refusal | None:
    """A recipe may change only files matching its `paths`, and never a protected file."""
    protected = [p for p in changed if matches_any(p, guards.protected_patterns)]
    if protected:
        return Refusal(
            "protected-path",
            f"recipe {recipe.name} changed protected file(s): {', '.join(protected[:10])}",
        )
    outside = [p for p in changed if not recipe.covers(p)]
    if outside:
        return Refusal(
            "path-allowlist",
            f"recipe {recipe.name} changed file(s) outside its paths {recipe.paths}: {', '.join(outside[:10])}",
        )
    return None


# Formatters and generators write regular files; a symlink or submodule in their output is a
# way around the path allowlist (and `git apply` would have to follow it).
_SPECIAL_MODE = re.compile(
    rb"^(?:new file mode|new mode|index [0-9a-f]+\.\.[0-9a-f]+) (120000|160000)$", re.M
)


def check_patch_modes(patch: Patch) -> Refusal | None:
    found = _SPECIAL_MODE.search(patch.text)
    if found:
        kind = "symlink" if found.group(1) == b"120000" else "submodule"
        return Refusal(
            "special-file", f"the patch creates a {kind}; recipes may only write regular files"
        )
    return None


def check_patch_size(patch: Patch, guards: Guards) -> Refusal | None:
    if patch.lines > guards.max_patch_lines:
        return Refusal(
            "patch-size",
            f"patch changes {patch.lines} lines, over the cap of {guards.max_patch_lines}",
        )
    if patch.size > guards.max_patch_bytes:
        return Refusal(
            "patch-size", f"patch is {patch.size} bytes, over the cap of {guards.max_patch_bytes}"
        )
    return None


def check_history(
    fingerprint: str, patch: Patch, history: list[PastRepair], max_attempts: int
) -> Refusal | None:
    """Stop when a past repair of this fingerprint made this very patch, or the attempt budget is spent."""
    same = [p for p in history if p.fingerprint == fingerprint]
    for past in same:
        if past.patch_digest == patch.digest:
            return Refusal(
                "same-patch",
                f"fingerprint {fingerprint} already produced this patch in {past.commit[:12]}; "
                "the fix did not hold, so repeating it would loop",
            )
    if len(same) >= max_attempts:
        return Refusal(
            "attempt-budget",
            f"fingerprint {fingerprint} was already repaired {len(same)} time(s) "
            f"({', '.join(p.commit[:12] for p in same)}); the budget is {max_attempts}",
        )
    return None
