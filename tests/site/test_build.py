"""`build_site`: the data files a fixture evidence set produces, and what the build refuses."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from factory_assets.cli.main import main
from factory_assets.common.errors import FactoryError, InputError
from factory_assets.evidence.canonical import content_digest
from factory_assets.evidence.merkle import merkle_root
from factory_assets.site import build as build_module
from factory_assets.site.build import SiteBuildError, SiteLinks, build_site
from tests.site.conftest import LINKS
from tests.site.fixture import (
    PUBLISHED,
    PUBLISHED_WITH_EVENTS,
    XSS_NAME,
    XSS_REASON,
    write_events,
)


def _json(path: Path):
    return json.loads(path.read_bytes())


def _tree(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


def test_data_files_describe_the_published_records(built_site: Path):
    summary = _json(built_site / "data" / "summary.json")
    for name in ("index.html", "app.js", "styles.css", ".nojekyll", "data/metrics.json"):
        assert (built_site / name).is_file(), name
    (block,) = summary["blocks"]
    timeline = _json(built_site / block["timeline"]["path"])["records"]
    records = _json(built_site / block["records"]["path"])
    # The trailing pages record is left out of the checkpoint (it describes a publication).
    assert [line["seq"] for line in timeline] == list(range(1, PUBLISHED + 1))
    assert [r["integrity"]["sequence"] for r in records] == list(range(1, PUBLISHED + 1))
    # Records are published byte for byte, so their digests still verify.
    assert all(content_digest(r) == r["integrity"]["content_digest"] for r in records)
    digests = [r["integrity"]["content_digest"] for r in records]
    assert summary["checkpoint"]["root"] == merkle_root(digests).hex()
    assert summary["checkpoint"]["tree_size"] == PUBLISHED
    assert summary["checkpoint"]["head"]["id"] == records[-1]["id"]
    assert block["first_seq"] == 1 and block["last_seq"] == PUBLISHED
    assert block["services"] == ["api", "web", "worker"]
    assert summary["counts"]["kinds"] == {"promotion": 4, "repair": 1, "smoke": 4}
    assert summary["links"] == {"commit": LINKS.commit_url_template, "dagster": LINKS.dagster_url}


def test_what_runs_where_joins_the_status_rows_and_their_evidence(built_site: Path):
    rows = {row["service"]: row for row in _json(built_site / "data" / "summary.json")["services"]}
    assert set(rows) == {"api", "web", "worker"}
    api = rows["api"]
    assert api["status"]["pinned"] == "sha256:" + "c3" * 32 and api["status"]["release_id"] == "r3"
    assert (api["status"]["release"], api["status"]["state"]) == ("r5", "promoted")
    assert api["pinned"]["seq"] == 5 and api["pin_matches_evidence"] is True
    assert api["last_smoke"]["verdict"] == "passed"
    assert rows["web"]["status"]["hold"] is True
    worker = rows["worker"]
    assert worker["pinned"] is None and worker["status"]["pinned"] is None
    assert (worker["status"]["state"], worker["status"]["attempts"]) == ("pending", "2/5")
    # Markup stays data: the exact strings, to be rendered as text by the page.
    assert worker["status"]["last_error"] == XSS_REASON
    records = (built_site / "data" / "records" / "000000.json").read_text()
    assert json.dumps(XSS_REASON)[1:-1] in records


def test_what_runs_where_is_factory_release_status(evidence_repo: Path, tmp_path: Path, capsys):
    """The page's lanes are the command's, row for row (the factory's own layout: pin files
    and a `releases:` queue)."""
    summary = _json(
        build_site(evidence_repo, tmp_path / "out", links=LINKS).out_dir / "data" / "summary.json"
    )
    capsys.readouterr()
    assert main(["release", "status", "--json", "--repo", str(evidence_repo)]) == 0
    status = json.loads(capsys.readouterr().out)
    assert [row["status"] for row in summary["services"]] == status["services"]
    assert [(r["service"], r["env"]) for r in summary["services"]] == [
        ("api", "dev"),
        ("web", "dev"),
        ("worker", "dev"),
    ]


def test_timeline_names_each_event(evidence_repo: Path, tmp_path: Path):
    """A handoff, an approval and a replication wait carry what the timeline names them by,
    straight from their records (the in-browser check verifies these fields too)."""
    events = write_events(evidence_repo)
    summary = _json(
        build_site(evidence_repo, tmp_path / "out", links=LINKS).out_dir / "data" / "summary.json"
    )
    assert summary["checkpoint"]["tree_size"] == PUBLISHED_WITH_EVENTS
    lines = {
        line["seq"]: line
        for block in summary["blocks"]
        for line in _json(tmp_path / "out" / block["timeline"]["path"])["records"]
    }
    named = [
        {k: lines[r.integrity.sequence].get(k) for k in ("env", "event", "requested_by")}
        for r in events[:4]
    ]
    assert named == [
        {"env": "prod", "event": "handoff", "requested_by": "factory-pipeline"},
        {"env": "prod", "event": "approved", "requested_by": XSS_NAME},
        {"env": "prod", "event": "waiting", "requested_by": "factory-pipeline"},
        {"env": "prod", "event": "handoff", "requested_by": "factory-pipeline"},
    ]
    # A queued stage has its request time, a stage without a target none: that tells them apart.
    assert lines[events[0].integrity.sequence]["requested_at"]
    assert "requested_at" not in lines[events[3].integrity.sequence]
    # Events make no lane: api has no prod target, web's prod request is not in the queue.
    assert {(r["service"], r["env"]) for r in summary["services"]} == {
        ("api", "dev"),
        ("web", "dev"),
        ("worker", "dev"),
    }


def test_metrics_follow_the_definitions(built_site: Path):
    metrics = _json(built_site / "data" / "metrics.json")
    assert metrics["window_days"] == 90 and metrics["days"][-1] == "2026-03-03"
    tiles = metrics["tiles"]
    assert tiles["deployments"] == 3 and tiles["failed_smokes"] == 1
    assert tiles["lead_time_ms"] == {"count": 3, "median": 120_000, "p90": 240_000}
    assert tiles["restore_ms"]["median"] == 30 * 60_000
    # api r1: 3 min, web r2: 6 min, api r3: 34 min (healthy only after the restore)
    assert tiles["pinned_to_healthy_ms"] == {"count": 3, "median": 360_000, "p90": 2_040_000}
    assert metrics["series"]["deployments"][-3:] == [1, 1, 1]


def test_build_is_deterministic_and_replaces_its_output(evidence_repo: Path, tmp_path: Path):
    first = _tree(build_site(evidence_repo, tmp_path / "a", links=LINKS).out_dir)
    second = _tree(build_site(evidence_repo, tmp_path / "b", links=LINKS).out_dir)
    assert first == second
    (tmp_path / "a" / "stale.txt").write_text("old")
    build_site(evidence_repo, tmp_path / "a", links=LINKS)
    assert not (tmp_path / "a" / "stale.txt").exists()
    assert _tree(tmp_path / "a") == first


def test_blocks_split_by_sequence(evidence_repo: Path, tmp_path: Path, monkeypatch):
    monkeypatch.setattr(build_module, "BLOCK_SIZE", 4)
    summary = _json(
        build_site(evidence_repo, tmp_path / "out", links=LINKS).out_dir / "data" / "summary.json"
    )
    assert [(b["first_seq"], b["last_seq"]) for b in summary["blocks"]] == [(1, 4), (5, 8), (9, 9)]
    assert summary["blocks"][2]["kinds"] == ["repair"] and summary["blocks"][2]["services"] == []


def test_refuses_a_record_that_no_longer_matches(evidence_repo: Path, tmp_path: Path):
    build_site(evidence_repo, tmp_path / "out", links=LINKS)  # leaves nothing in the repo
    assert not (evidence_repo / "evidence" / "index.json").exists()
    record = sorted((evidence_repo / "evidence" / "records").glob("*.json"))[0]
    record.write_text(record.read_text().replace('"success"', '"failure"', 1))
    with pytest.raises(FactoryError) as caught:
        build_site(evidence_repo, tmp_path / "out2", links=LINKS)
    assert record.name in str(caught.value)
    assert not (tmp_path / "out2").exists()


def test_refuses_to_replace_a_directory_that_is_not_a_build(evidence_repo: Path, tmp_path: Path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "keep.txt").write_text("mine")
    with pytest.raises(InputError, match="not a site build"):
        build_site(evidence_repo, tmp_path / "docs", links=LINKS)
    assert (tmp_path / "docs" / "keep.txt").read_text() == "mine"


def test_bad_pins_and_queue_become_warnings(evidence_repo: Path, tmp_path: Path):
    (evidence_repo / "envs" / "dev" / "broken.yaml").write_text("service: [unclosed\n")
    summary = _json(
        build_site(evidence_repo, tmp_path / "out", links=LINKS).out_dir / "data" / "summary.json"
    )
    assert any(w.startswith("envs/dev/broken.yaml: -: not valid YAML") for w in summary["warnings"])
    rows = {row["service"]: row["status"] for row in summary["services"]}
    assert rows["broken"]["pinned"] == "(invalid pin file)" and rows["api"]["pinned"]
    (evidence_repo / "release" / "queue.yaml").write_text("releases: {not: a list}\n")
    summary = _json(
        build_site(evidence_repo, tmp_path / "out", links=LINKS).out_dir / "data" / "summary.json"
    )
    assert summary["warnings"] == [
        "what runs where: release/queue.yaml: releases: expected a list of entries, found a mapping"
    ]
    assert summary["services"] == [] and summary["checkpoint"]["tree_size"] == PUBLISHED


def test_empty_repository_builds(tmp_path: Path):
    (tmp_path / "repo").mkdir()
    summary = _json(
        build_site(tmp_path / "repo", tmp_path / "out", links=SiteLinks()).out_dir
        / "data"
        / "summary.json"
    )
    assert (
        summary["checkpoint"]["tree_size"] == 0
        and summary["blocks"] == []
        and summary["services"] == []
    )


def test_link_settings_come_from_the_environment():
    links = SiteLinks.from_env(
        {
            "FACTORY_COMMIT_URL_TEMPLATE": "https://h/c/{commit}",
            "FACTORY_DAGSTER_URL": "http://d:3000/",
        }
    )
    assert links == SiteLinks("https://h/c/{commit}", "http://d:3000")
    with pytest.raises(InputError, match="FACTORY_COMMIT_URL_TEMPLATE: -: must contain"):
        SiteLinks.from_env({"FACTORY_COMMIT_URL_TEMPLATE": "https://h/c/"})
    with pytest.raises(InputError, match="FACTORY_DAGSTER_URL: -: must be an http"):
        SiteLinks.from_env({"FACTORY_DAGSTER_URL": "javascript:alert(1)"})


def test_a_missing_record_fails_the_build(evidence_repo: Path, tmp_path: Path):
    record = sorted((evidence_repo / "evidence" / "records").glob("*.json"))[3]
    record.unlink()
    with pytest.raises(FactoryError):
        build_site(evidence_repo, tmp_path / "out", links=LINKS)
    assert not (tmp_path / "out").exists()


def test_a_record_edited_after_indexing_is_caught(evidence_repo: Path, tmp_path: Path):
    """An up-to-date committed index makes collection incremental; the build still rechecks each record."""
    from factory_assets.evidence.collect import collect_index

    collect_index(evidence_repo)
    record = sorted((evidence_repo / "evidence" / "records").glob("*.json"))[1]
    record.write_text(record.read_text().replace('"argocd"', '"http"', 1))
    with pytest.raises(SiteBuildError, match=f"{record.name}: integrity.content_digest"):
        build_site(evidence_repo, tmp_path / "out", links=LINKS)


def test_the_queue_is_read_where_factory_yaml_puts_it(tmp_path: Path):
    repo = tmp_path / "repo"
    (repo / "deploy").mkdir(parents=True)
    (repo / "factory.yaml").write_text(
        "queue: {path: deploy/queue.yaml}\nenvironments: {dev: {}}\n"
    )
    (repo / "deploy" / "queue.yaml").write_text(
        "releases:\n- {id: r1, service: api, image: registry.local/api, tag: '1.0',\n"
        "   requested_at: '2026-01-01T00:00:00Z', requested_by: ci, state: pending}\n"
    )
    summary = _json(build_site(repo, tmp_path / "a", links=LINKS).out_dir / "data" / "summary.json")
    assert [(r["service"], r["env"], r["status"]["state"]) for r in summary["services"]] == [
        ("api", "dev", "pending")
    ]
    (repo / "factory.yaml").write_text("queue: [\n")
    summary = _json(build_site(repo, tmp_path / "b", links=LINKS).out_dir / "data" / "summary.json")
    assert summary["warnings"][0].startswith("what runs where: factory.yaml: -: not valid YAML")
    assert all(str(tmp_path) not in w for w in summary["warnings"])
