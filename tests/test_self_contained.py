"""The repository carries what its tests and scripts need: nothing points outside it.

A user's clone has nothing beside it (no developers' reading notes in a sibling folder); a test
that read such a file would pass on a developer's machine and fail for every user. Docs count
too: a reader of TEST.md has only the clone. `.ci/run` runs the suite from a clone
with nothing beside it; this catches the reference before it is ever run.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUTSIDE = re.compile(
    r"""\.\./shared|parents\[\d+\]\s*/\s*["']shared["']|["']shared["']\s*/\s*["']reference["']"""
)


def tracked_sources() -> list[Path]:
    listed = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True
    ).stdout.decode()
    return [ROOT / name for name in listed.split("\0") if name]


def test_no_file_points_outside_the_repository():
    offenders = []
    for path in tracked_sources():
        if path.resolve() == Path(__file__).resolve() or not path.is_file():
            continue
        try:
            text = path.read_text()
        except UnicodeDecodeError:
            continue
        offenders += [
            f"{path.relative_to(ROOT)}:{n}: {line.strip()}"
            for n, line in enumerate(text.splitlines(), 1)
            if OUTSIDE.search(line)
        ]
    assert offenders == []


def test_ci_runs_the_suite_from_a_clone_with_nothing_beside_it():
    script = (ROOT / ".ci" / "run").read_text()
    clone = script.index("git clone")
    assert "mktemp -d" in script[:clone]
    assert script.index("make test") > script.index('cd "$scratch/factory"') > clone
