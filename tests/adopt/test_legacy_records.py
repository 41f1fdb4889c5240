"""Legacy YAML records read as `imported` bodies: problems noted, values kept as written."""

from __future__ import annotations

from pathlib import Path

from factory_assets.adopt.legacy_records import read_legacy_records
from tests.support.ljwx_legacy import EVIDENCE_SCHEMA, RECORDS

BLOB = "0" * 40


def write(root: Path, files: dict[str, str]) -> dict[str, str]:
    for path, text in files.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(text)
    return {path: BLOB for path in files}


def test_the_repository_schema_names_what_a_record_lacks(tmp_path):
    good = RECORDS["evidence/records/20260331-api-sha-0c0ffee.yaml"]
    lacking = good.replace("  deployed: ", "  deployedX: ")
    blobs = write(
        tmp_path,
        {
            "evidence/schema/evidence.schema.json": EVIDENCE_SCHEMA,
            "evidence/records/20260331-api-sha-0c0ffee.yaml": lacking,
        },
    )
    (record,) = read_legacy_records(tmp_path, blobs)
    assert record.body.result == "failure"
    assert record.body.details.problems == [
        "image: 'deployed' is a required property (evidence.schema.json)"
    ]


def test_without_the_schema_the_documented_required_fields_are_checked(tmp_path):
    text = "evidenceId: 20260401-api-sha-1\nservice: api\nsource: {repo: r}\n"
    blobs = write(tmp_path, {"evidence/records/20260401-api-sha-1.yaml": text})
    (record,) = read_legacy_records(tmp_path, blobs)
    problems = record.body.details.problems
    assert "env: missing" in problems and "source.commit: missing" in problems


def test_values_are_kept_as_written_and_ids_are_stable(tmp_path):
    text = (
        "evidenceId: 20260401-api-sha-1234e56\nservice: api\nenv: dev\n"
        "source: {repo: r, commit: 1234e56, ratio: 1.5, big: 123456789012345678901}\n"
        "deploy: {syncedAt: 2026-04-01T09:00:12Z}\n"  # unquoted: a timestamp to YAML
    )
    blobs = write(tmp_path, {"evidence/records/20260401-api-sha-1234e56.yaml": text})
    (record,) = read_legacy_records(tmp_path, blobs)
    content = record.body.details.content
    assert content["source"] == {
        "repo": "r",
        "commit": "1234e56",  # YAML 1.1, as the legacy writers: a string, never a float
        "ratio": "1.5",  # records hold no floats: kept as its text
        "big": "123456789012345678901",  # beyond exact JSON integers: its text
    }
    assert content["deploy"]["syncedAt"] == "2026-04-01T09:00:12Z"
    assert record.body.started_at == "2026-04-01T09:00:12.000000Z"
    (again,) = read_legacy_records(tmp_path, blobs)
    assert again.body.id == record.body.id  # a dry run and the real run agree


def test_a_file_that_is_not_a_mapping_keeps_its_text(tmp_path):
    blobs = write(tmp_path, {"evidence/records/20260405-x.yaml": "- just\n- a list\n"})
    (record,) = read_legacy_records(tmp_path, blobs)
    details = record.body.details
    assert details.content is None and details.content_text == "- just\n- a list\n"
    assert details.problems == ["expected a mapping, found list"]
    assert record.body.started_at.startswith("2026-04-05T00:00:00")  # the date in the name


def test_hostile_or_odd_files_are_imported_with_their_problem_never_a_crash(tmp_path):
    bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{name}: &{name} [{', '.join([f'*{prev}'] * 10)}]\n"
        for prev, name in zip("abcde", "bcdef", strict=True)
    )  # 10^6 values once expanded
    files = {
        "evidence/records/20260401-deep.yaml": "x: " + "[" * 2000 + "]" * 2000 + "\n",
        "evidence/records/20260402-bomb.yaml": bomb,
        "evidence/records/20260403-surrogate.yaml": 'evidenceId: "a\\ud800b"\n',
        "evidence/records/20260404-far.yaml": "promotedAt: '9999-12-31T23:59:59-23:59'\n",
    }
    blobs = write(tmp_path, files)
    records = {Path(r.path).stem: r.body.details for r in read_legacy_records(tmp_path, blobs)}
    deep = records["20260401-deep"]
    assert (
        deep.content is None and deep.content_text == files["evidence/records/20260401-deep.yaml"]
    )
    assert deep.problems[0].startswith("does not parse as YAML: nested deeper than 32 levels")
    assert records["20260402-bomb"].content is None
    assert "expands to more than 100000 values (YAML aliases)" in records["20260402-bomb"].problems
    surrogate = records["20260403-surrogate"]
    assert surrogate.content["evidenceId"] == "a\ufffdb"
    assert surrogate.content_text == files["evidence/records/20260403-surrogate.yaml"]
    assert "a string holds a lone surrogate escape: kept as U+FFFD in content" in surrogate.problems
    # a time whose UTC is out of range is no time: the date in the name is used
    assert records["20260404-far"].content["promotedAt"] == "9999-12-31T23:59:59-23:59"
