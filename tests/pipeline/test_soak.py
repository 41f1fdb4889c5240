"""soak: a stage's request is queued only after the upstream pin stayed healthy that long,
proven by smoke records; a failing verdict restarts the clock. The clock is the test's."""

from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest

from factory_assets.cli.main import main
from factory_assets.evidence.store import load_record
from factory_assets.release.queue_file import load_queue
from factory_assets.site.build import build_site
from factory_assets.smoke.landing import smoke_checks_and_land
from tests.pipeline.test_auto_rollback import START, Clock, _broken, _healthy, _release
from tests.site.conftest import browser, serve  # noqa: F401
from tests.smoke.conftest import Answer
from tests.support.evidence import validate_cli

LAYOUT = """\
environments:
  dev:  {pins: pin-files}
  prod: {pins: pin-files, after: dev, soak: 30m}
"""


@pytest.fixture
def stages(gitops_remote, registry, endpoint, unique_repo, monkeypatch, tmp_path):
    ready = endpoint.script("/ready", Answer(200, b"ok"))
    pin = f"smoke:\n  url: {ready}\n  timeout_seconds: 5\n"
    gitops_remote.commit_and_push(
        {"factory.yaml": LAYOUT, "envs/dev/api.yaml": pin, "envs/prod/api.yaml": pin},
        "dev -> prod after a 30m soak",
    )
    for name in ("FACTORY_ENVS", "HARBOR_USERNAME", "HARBOR_PASSWORD"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HARBOR_URL", registry.url)
    clock = Clock(tmp_path / "clock")
    monkeypatch.setenv("FACTORY_CLOCK_FILE", str(clock.path))
    return gitops_remote, registry, endpoint, unique_repo, clock


def _smoke_dev(remote) -> str:
    (outcome,) = smoke_checks_and_land(remote.clone, environments=["dev"])
    return outcome.kind


def _prod(remote) -> list:
    return [e for e in load_queue(remote.new_clone()).queue.entries if e.env == "prod"]


def _status(remote, capsys) -> dict:
    capsys.readouterr()
    assert main(["release", "status", "--json", "--repo", str(remote.new_clone())]) == 0
    rows = json.loads(capsys.readouterr().out)["services"]
    return next(r for r in rows if r["env"] == "prod")


def _dashboard_cell(remote, out, browser, serve) -> tuple[dict, str]:  # noqa: F811
    """The prod cell of api's pipeline row: as built, and as the page shows it."""
    build_site(remote.new_clone(), out)
    pipeline = json.loads((out / "data" / "summary.json").read_text())["pipeline"]
    (row,) = pipeline["rows"][:1]
    page = browser.new_page()
    try:
        page.open(serve(out))
        page.wait_for("!document.getElementById('pipeline-panel').hidden")
        shown = page.eval("document.querySelector('#pipeline tbody tr').children[3].textContent")
    finally:
        page.close()
    return row["cells"][1], shown


def _lane_metadata(remote, instance) -> dict:
    """The metadata of dev|api's `smoke_result` materialization (the lane in the Dagster UI)."""
    import dagster as dg

    from factory_assets.dagster_resources import GitOpsRepo
    from factory_assets.smoke.assets import smoke_result

    instance.add_dynamic_partitions("services", ["api"])
    instance.add_dynamic_partitions("envs", ["dev", "prod"])
    result = dg.materialize(
        [smoke_result],
        partition_key="dev|api",
        instance=instance,
        resources={"gitops": GitOpsRepo(path=str(remote.clone))},
    )
    (mat,) = result.asset_materializations_for_node("smoke_result")
    return {k: v.value for k, v in mat.metadata.items()}


def test_a_soak_that_completes_hands_off_with_its_proof(
    stages,
    capsys,
    browser,  # noqa: F811
    serve,  # noqa: F811
    tmp_path,
    dagster_instance,
):
    remote, registry, endpoint, repo, clock = stages
    upstream = _release(remote, registry, repo, "1.0")
    clock.at(1)
    assert _smoke_dev(remote) == "passed"
    assert _prod(remote) == []  # soaking: no prod request yet
    assert _status(remote, capsys)["soak"] == f"soaking, 0 min of 30 (dev {upstream})"
    head = remote.remote_head()
    clock.at(13)
    assert _smoke_dev(remote) == "passed"
    assert remote.remote_head() == head  # a passed check that ends nothing writes nothing
    assert _status(remote, capsys)["soak"].startswith("soaking, 12 min of 30")
    assert main(["release", "status", "--repo", str(remote.new_clone())]) == 0
    assert "soaking, 12 min of 30" in capsys.readouterr().out
    cell, shown = _dashboard_cell(remote, tmp_path / "site", browser, serve)
    assert cell["where"] == "soaking" and cell["release_id"] == upstream
    assert cell["soak"]["began_at"].startswith("2026-12-07T09:01:00")
    assert cell["soak"]["required_ms"] == 30 * 60 * 1000
    assert re.fullmatch(r"soaking soaking, \d+ min of 30", shown), shown
    assert _lane_metadata(remote, dagster_instance)["soak_prod"] == "soaking, 12 min of 30"

    clock.at(31)
    assert _smoke_dev(remote) == "passed"
    (stage,) = _prod(remote)
    assert stage.upstream == upstream
    record = load_record(remote.new_clone(), stage.evidence)
    soak = record.details.soak
    assert soak.required_ms == 30 * 60 * 1000 and soak.restarted_at is None
    assert soak.began_at.startswith("2026-12-07T09:01:00")
    assert soak.ended_at.startswith("2026-12-07T09:31:00")
    assert len(soak.records) == 2  # the check that started it and the one that ended it
    proving = [load_record(remote.new_clone(), rid) for rid in soak.records]
    assert {r.details.verdict for r in proving} == {"passed"}
    assert {r.details.release_id for r in proving} == {upstream}
    assert "soak" not in _status(remote, capsys)
    assert validate_cli(remote.new_clone()).returncode == 0


def test_a_failed_verdict_restarts_the_soak(stages, capsys):
    remote, registry, endpoint, repo, clock = stages
    _release(remote, registry, repo, "1.0")
    clock.at(1)
    assert _smoke_dev(remote) == "passed"
    _broken(endpoint)
    clock.at(10)
    assert _smoke_dev(remote) == "failed"
    _healthy(endpoint)
    clock.at(20)
    assert _smoke_dev(remote) == "passed"
    clock.at(35)  # 34 minutes since the first pass, 15 since the clock restarted
    assert _smoke_dev(remote) == "passed"
    assert _prod(remote) == []
    assert _status(remote, capsys)["soak"].startswith(
        "soaking, 15 min of 30 (clock restarted by a failed verdict at 2026-12-07 09:10 UTC)"
    )
    clock.set(START + timedelta(minutes=50))
    assert _smoke_dev(remote) == "passed"
    (stage,) = _prod(remote)
    soak = load_record(remote.new_clone(), stage.evidence).details.soak
    assert soak.began_at.startswith("2026-12-07T09:20:00")
    assert soak.restarted_at.startswith("2026-12-07T09:10:00")
