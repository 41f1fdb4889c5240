"""A throwaway DAGSTER_HOME for tests: sqlite storage in a tmp dir, telemetry off."""

from __future__ import annotations

from pathlib import Path

BASE_DAGSTER_YAML = "telemetry:\n  enabled: false\n"


def make_dagster_home(root: Path, extra_yaml: str = "") -> Path:
    """Create `root` with a dagster.yaml (telemetry off, plus `extra_yaml` verbatim) and return it."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "dagster.yaml").write_text(BASE_DAGSTER_YAML + extra_yaml)
    return root.resolve()
