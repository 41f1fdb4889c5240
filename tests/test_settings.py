"""One typed settings module: it mirrors the README's tables row for row, and it is the only
product code that reads the factory's configuration from the environment."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from factory_assets.common import settings
from factory_assets.common.env_aliases import ALIASES, SAME_NAME
from factory_assets.site.publish import DEFAULT_BRANCH

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
SETTINGS_MODULE = "factory_assets/common/settings.py"
PRODUCT = ("factory_assets", "resources", "sensors", "scripts")

# Product code that hands the environment to a child process, or writes it, is not reading a
# setting. Each use is named here with its reason; any other one fails the test below.
ALLOWED = {
    ("factory_assets/common/env_aliases.py", "apply_env_aliases"): (
        "writes: fills the factory's variables from the deploy repository's names, so every "
        "later read and every child process sees them (the names are settings' `alias`)"
    ),
    ("factory_assets/adopt/apply.py", "snapshot"): (
        "a git child process: the whole environment plus a scratch GIT_INDEX_FILE"
    ),
    ("resources/gitops.py", "GitopsWriter._run"): (
        "a git child process: the whole environment plus LC_ALL=C and no prompt for credentials"
    ),
    ("factory_assets/site/pages_ref.py", "local_ref_reader.git"): (
        "a git child process: the whole environment plus LC_ALL=C, so its messages parse"
    ),
    ("factory_assets/repair/commands.py", "child_env"): (
        "a repair command's child process: the whole environment less every secret"
    ),
    ("factory_assets/repair/redact.py", "secret_values"): (
        "the values of secrets under any name, only to mask them in what a repair logs"
    ),
    ("scripts/demo.py", "run"): "the demo's child processes: the environment plus its own",
    ("factory_assets/pins/overlay_entry.py", "rendered_images"): (
        "a kustomize child process: the whole environment, over Go GC defaults for a short run"
    ),
    ("factory_assets/sandbox/dagster_processes.py", "DagsterProcess.__init__"): (
        "a sandbox Dagster daemon or webserver: the environment plus the instance's own"
    ),
}
_OS_NAMES = {"environ", "environb", "getenv", "getenvb", "putenv", "unsetenv"}


# ----------------------------------------------------------------------------------------------
# The README's tables
# ----------------------------------------------------------------------------------------------


def readme_tables(header: str) -> list[list[list[str]]]:
    """Rows (as cells) of every README table whose header row is `header`."""
    tables, rows = [], None
    for line in README.read_text().splitlines():
        if line.strip() == header:
            rows = []
            tables.append(rows)
        elif rows is not None and line.startswith("|"):
            if not set(line) <= set("|- "):
                rows.append([cell.strip() for cell in line.strip().strip("|").split(" | ")])
        else:
            rows = None
    return tables


def variables_of(cell: str) -> tuple[str, ...]:
    """`A`, `B` (alias `C`) -> ("A", "B"): an alias in parentheses is not another row."""
    return tuple(re.findall(r"`([^`]+)`", re.sub(r"\(alias [^)]*\)", "", cell)))


def readme_rows() -> list[tuple[tuple[str, ...], str]]:
    """(variables, default cell) of each row of the README's variable tables, in order."""
    tables = readme_tables("| variable | what it is | default |")
    assert len(tables) == 2, "the README has its Configuration and its Environments tables"
    return [(variables_of(row[0]), row[-1]) for table in tables for row in table]


LITERAL = re.compile(r"^`([^`]+)`(?: \(.*\))?$")  # `600`, or `172800` (48 h)


def stated_defaults(cell: str, count: int) -> list[str | None]:
    """The default each of `count` variables has in the README: its literal, or None where
    the cell describes a fallback in words. `15`, `900` splits among two variables."""
    parts = cell.split(", ")
    parts = parts if len(parts) == count else [cell] * count
    return [found[1] if (found := LITERAL.match(part)) else None for part in parts]


def test_the_settings_module_lists_the_readme_rows_in_order():
    readme = [names for names, _ in readme_rows()]
    declared = [tuple(s.name for s in row) for row in settings.ROWS]
    missing = sorted(set(readme) - set(declared))
    stale = sorted(set(declared) - set(readme))
    assert not missing, f"README rows the settings module does not declare: {missing}"
    assert not stale, f"declared settings with no README row: {stale}"
    assert declared == readme


def test_each_declared_variable_is_a_module_attribute_of_its_own_name():
    for setting in settings.SETTINGS:
        attribute = setting.name.replace("<ENV>", "ENV")
        assert getattr(settings, attribute) is setting


@pytest.mark.parametrize(("names", "cell"), readme_rows(), ids=lambda v: str(v)[:40])
def test_each_readme_default_is_the_declared_one(names, cell):
    for setting, stated in zip(
        (next(s for s in settings.SETTINGS if s.name == n) for n in names),
        stated_defaults(cell, len(names)),
        strict=True,
    ):
        if stated is None:  # in words: the code falls back to something else (or nothing)
            assert not setting.default, f"{setting.name}: README gives no literal default"
        else:
            assert setting.parse(setting.name, stated) == setting.default, setting.name


def test_the_readme_alias_table_is_the_declared_aliases():
    (table,) = readme_tables("| its name | the factory's | note |")
    pairs = [
        pair
        for legacy, own, _ in table
        for pair in zip(variables_of(legacy), variables_of(own) or [None], strict=True)
    ]
    assert {legacy: own for legacy, own in pairs if own and legacy != own} == ALIASES
    assert tuple(legacy for legacy, own in pairs if legacy == own) == SAME_NAME
    assert [legacy for legacy, own in pairs if own is None] == ["HARBOR_INSECURE"]


def test_a_variable_read_outside_python_is_read_there():
    outside = [s for s in settings.SETTINGS if s.outside]
    assert outside
    for setting in outside:
        assert setting.name in (ROOT / setting.outside).read_text(), setting.name


def test_defaults_shared_with_the_code_agree():
    assert settings.FACTORY_PAGES_BRANCH.default == DEFAULT_BRANCH


# ----------------------------------------------------------------------------------------------
# The only reader
# ----------------------------------------------------------------------------------------------


class EnvironmentReads(ast.NodeVisitor):
    """Where a module touches the process environment: (line, enclosing function)."""

    def __init__(self) -> None:
        self.found: list[tuple[int, str]] = []
        self._scope: list[str] = []

    def _enter(self, node: ast.AST) -> None:
        self._scope.append(node.name)
        self.generic_visit(node)
        self._scope.pop()

    visit_FunctionDef = visit_AsyncFunctionDef = visit_ClassDef = _enter

    def _hit(self, node: ast.AST) -> None:
        self.found.append((node.lineno, ".".join(self._scope) or "<module>"))

    def visit_Attribute(self, node: ast.Attribute) -> None:
        if isinstance(node.value, ast.Name) and node.value.id == "os" and node.attr in _OS_NAMES:
            self._hit(node)
        elif node.attr == "EnvVar":  # Dagster's EnvVar reads the variable too
            self._hit(node)
        self.generic_visit(node)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        names = {alias.name for alias in node.names}
        if (node.module == "os" and names & _OS_NAMES) or "EnvVar" in names:
            self._hit(node)


def environment_reads(source: str) -> list[tuple[int, str]]:
    visitor = EnvironmentReads()
    visitor.visit(ast.parse(source))
    return visitor.found


def product_reads() -> dict[tuple[str, str], list[int]]:
    """(module path, function) -> lines, for every product module but the settings module."""
    reads: dict[tuple[str, str], list[int]] = {}
    for top in PRODUCT:
        for path in sorted((ROOT / top).rglob("*.py")):
            rel = path.relative_to(ROOT).as_posix()
            if rel == SETTINGS_MODULE:
                continue
            for line, scope in environment_reads(path.read_text()):
                reads.setdefault((rel, scope), []).append(line)
    return reads


def test_the_scan_finds_each_way_of_reading_the_environment():
    source = (
        "import os\nfrom os import getenv\nimport dagster as dg\n"
        "A = os.environ.get('X')\n"
        "def f():\n    return os.getenv('Y')\n"
        "class C:\n    def m(self):\n        return {**os.environ}\n"
        "R = dg.EnvVar('Z')\n"
    )
    found = environment_reads(source)
    assert found == [(2, "<module>"), (4, "<module>"), (6, "f"), (9, "C.m"), (10, "<module>")]


def test_only_the_settings_module_reads_the_environment():
    reads = product_reads()
    unexplained = sorted(
        f"{path}:{lines[0]} ({scope})"
        for (path, scope), lines in reads.items()
        if (path, scope) not in ALLOWED
    )
    assert not unexplained, (
        "read the variable through factory_assets/common/settings.py (and add its README "
        "row), or, for a child process's environment, add the use to ALLOWED with its reason: "
        f"{unexplained}"
    )
    stale = sorted(f"{path} ({scope})" for path, scope in set(ALLOWED) - set(reads))
    assert not stale, f"ALLOWED names uses that no longer exist: {stale}"
