"""`repair/recipes.yaml`: the checks, the recipes that fix them and the guards on their patches."""

from __future__ import annotations

import re
import shlex
from functools import cached_property
from pathlib import Path
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    model_validator,
)
from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from factory_assets.common.errors import InputError
from factory_assets.common.files import read_text_bounded

RECIPES_FILE = "repair/recipes.yaml"
FILES_TOKEN = "{files}"
# Never touched by any recipe, whatever recipes.yaml says: workflows run with write tokens.
ALWAYS_PROTECTED = (".github/**",)

Name = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")]
Glob = Annotated[str, StringConstraints(min_length=1, max_length=512)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def glob_regex(pattern: str) -> re.Pattern[str]:
    """A repo-relative glob: `*` and `?` stay inside one path segment, `**` crosses segments."""
    out, i = [], 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            out.append("[^/]")
            i += 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return re.compile("".join(out) + r"\Z")


def matches_any(path: str, patterns: tuple[re.Pattern[str], ...]) -> bool:
    return any(p.match(path) for p in patterns)


class Command(_Strict):
    """What checks and recipes share: a command, the paths it covers and how it is scoped."""

    name: Name
    command: str | list[str]
    paths: list[Glob] = Field(min_length=1)
    scope: Literal["files", "repo"] = "repo"
    timeout: Annotated[int, Field(ge=1, le=3600)] = 300

    @cached_property
    def argv(self) -> list[str]:
        return shlex.split(self.command) if isinstance(self.command, str) else list(self.command)

    @cached_property
    def path_patterns(self) -> tuple[re.Pattern[str], ...]:
        return tuple(glob_regex(p) for p in self.paths)

    def covers(self, path: str) -> bool:
        return matches_any(path, self.path_patterns)

    @model_validator(mode="after")
    def _files_token_matches_scope(self) -> Command:
        argv = shlex.split(self.command) if isinstance(self.command, str) else self.command
        if not argv:
            raise ValueError("command is empty")
        has_token = FILES_TOKEN in argv
        if self.scope == "files" and not has_token:
            raise ValueError(f"scope 'files' needs a standalone {FILES_TOKEN} argument in command")
        if self.scope == "repo" and any(FILES_TOKEN in a for a in argv):
            raise ValueError(f"{FILES_TOKEN} is only allowed with scope 'files'")
        return self


class Check(Command):
    """Exit 0 means the check passes; anything else is a failure whose output is fingerprinted."""


class Recipe(Command):
    """Fixes `fixes`; may change only files matching `paths` (and never protected ones)."""

    fixes: list[Name] = Field(min_length=1)


class Identity(_Strict):
    name: Annotated[str, StringConstraints(min_length=1, max_length=200)] = "factory-repair"
    email: Annotated[str, StringConstraints(min_length=3, max_length=200)] = (
        "factory-repair@users.noreply.github.com"
    )


class Guards(_Strict):
    identity: Identity = Identity()
    max_patch_lines: Annotated[int, Field(ge=1)] = 2000
    max_patch_bytes: Annotated[int, Field(ge=1)] = 256 * 1024
    protected: list[Glob] = []
    history_commits: Annotated[int, Field(ge=1, le=10000)] = 50

    @cached_property
    def protected_patterns(self) -> tuple[re.Pattern[str], ...]:
        return tuple(glob_regex(p) for p in (*ALWAYS_PROTECTED, *self.protected))


class RecipeBook(_Strict):
    version: Literal[1]
    guards: Guards = Guards()
    checks: list[Check] = Field(min_length=1)
    recipes: list[Recipe] = []

    @model_validator(mode="after")
    def _names_resolve(self) -> RecipeBook:
        check_names = [c.name for c in self.checks]
        if len(set(check_names)) != len(check_names):
            raise ValueError(f"duplicate check names in {check_names}")
        recipe_names = [r.name for r in self.recipes]
        if len(set(recipe_names)) != len(recipe_names):
            raise ValueError(f"duplicate recipe names in {recipe_names}")
        for i, recipe in enumerate(self.recipes):
            unknown = [name for name in recipe.fixes if name not in check_names]
            if unknown:
                raise ValueError(
                    f"recipes.{i}.fixes: unknown check(s) {unknown}; known: {check_names}"
                )
        return self

    def check(self, name: str) -> Check:
        return next(c for c in self.checks if c.name == name)

    def recipes_for(self, failing: list[str]) -> list[Recipe]:
        """Recipes that fix any of `failing`, in file order (the order they run in)."""
        return [r for r in self.recipes if any(name in failing for name in r.fixes)]

    def unfixable(self, failing: list[str]) -> list[str]:
        fixable = {name for r in self.recipes for name in r.fixes}
        return [name for name in failing if name not in fixable]


def _field(loc: tuple) -> str:
    return ".".join(str(part) for part in loc) or "-"


def load_recipes(path: Path) -> RecipeBook:
    """Read and validate recipes.yaml; InputError names the file and the field."""
    if not path.is_file():
        raise InputError(path, "-", "missing; expected the repair recipes (see repair/README.md)")
    text = read_text_bounded(path)
    try:
        data = YAML(typ="safe").load(text)
    except YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise InputError(
            path, "-", f"not valid YAML{where}: {getattr(exc, 'problem', exc)}"
        ) from None
    if not isinstance(data, dict):
        raise InputError(path, "-", "expected a mapping with version, checks and recipes")
    try:
        return RecipeBook.model_validate(data)
    except ValidationError as exc:
        err = exc.errors(include_url=False)[0]
        msg = err["msg"].removeprefix("Value error, ")
        more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        raise InputError(path, _field(err["loc"]), f"{msg}{more}") from None
