"""`evidence_index` materializes through Dagster: in process and with the dagster CLI."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import dagster as dg

from factory_assets.dagster_resources import GitOpsRepo
from factory_assets.evidence.assets import evidence_index, evidence_records_valid
from tests.evidence.helpers import write_chain

ROOT = Path(__file__).resolve().parents[2]


def test_materialize_in_process_records_metadata_and_check(tmp_path: Path, dagster_home):
    write_chain(tmp_path, 3)
    result = dg.materialize(
        [evidence_index, evidence_records_valid],
        resources={"gitops": GitOpsRepo(path=str(tmp_path))},
        instance=dg.DagsterInstance.get(),
    )
    assert result.success
    (mat,) = result.asset_materializations_for_node("evidence_index")
    assert mat.metadata["record_count"].value == 3
    assert mat.metadata["tree_size"].value == 3
    (check,) = result.get_asset_check_evaluations()
    assert check.passed


def test_check_fails_on_a_tampered_record(tmp_path: Path, dagster_home):
    records = write_chain(tmp_path, 2)
    path = tmp_path / "evidence" / "records" / f"{records[0].id}.json"
    path.write_text(path.read_text().replace('"success"', '"failure"'))
    result = dg.materialize(
        [evidence_records_valid],
        resources={"gitops": GitOpsRepo(path=str(tmp_path))},
        instance=dg.DagsterInstance.get(),
        selection=dg.AssetSelection.checks(evidence_records_valid),
    )
    (check,) = result.get_asset_check_evaluations()
    assert not check.passed


def test_dagster_cli_materializes_the_index(tmp_path: Path, dagster_home):
    repo = tmp_path / "repo"
    write_chain(repo, 2)
    env = {**os.environ, "FACTORY_REPO": str(repo)}
    proc = subprocess.run(
        [
            str(ROOT / ".venv" / "bin" / "dagster"),
            "asset",
            "materialize",
            "-m",
            "factory_assets.definitions",
            "--select",
            "evidence_index",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "RUN_SUCCESS" in proc.stdout + proc.stderr
    assert (repo / "evidence" / "index.json").exists()
