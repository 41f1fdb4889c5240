"""release/queue.yaml: round trip, structural errors, hostile YAML, per-entry problems."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from factory_assets.common import yaml_lists
from factory_assets.common.errors import InputError
from factory_assets.release.model import ReleaseEntry
from factory_assets.release.queue_file import load_queue, save_queue

IMAGE = "127.0.0.1:5000/factory/api"
DIGEST = "sha256:" + "a" * 64


def write_queue(repo: Path, text: str) -> Path:
    path = repo / "release" / "queue.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


HAND_WRITTEN = f"""\
# Release requests. Humans add entries here too.
releases:
  # the first release of api
  - id: r1   # keep this comment
    service: api
    image: {IMAGE}
    tag: "v1"
    requested_at: 2026-01-01T00:00:00Z
    requested_by: alice
  - id: r2
    service: web
    image: 127.0.0.1:5000/factory/web
    digest: {DIGEST}
    requested_at: 2026-01-02T00:00:00Z
    requested_by: bob
"""


def test_missing_queue_is_empty(tmp_path: Path) -> None:
    doc = load_queue(tmp_path)
    assert doc.queue.entries == ()


def test_round_trip_keeps_comments_quotes_and_order(tmp_path: Path) -> None:
    path = write_queue(tmp_path, HAND_WRITTEN)
    doc = load_queue(tmp_path)
    r1, r2 = doc.queue.entries
    assert (r1.tag, r2.digest, r1.requested_at) == ("v1", DIGEST, datetime(2026, 1, 1, tzinfo=UTC))
    changed = r1.model_copy(update={"state": "failed", "last_error": "boom", "attempts": 5})
    save_queue(doc, doc.queue.replace(changed))
    text = path.read_text()
    assert text.startswith("# Release requests. Humans add entries here too.\n")
    assert "# the first release of api" in text
    assert "- id: r1   # keep this comment" in text
    assert 'tag: "v1"' in text  # quoting the user chose survives
    assert "requested_at: 2026-01-01T00:00:00Z" in text  # unchanged timestamps keep their form
    assert text.index("id: r1") < text.index("id: r2")
    again = load_queue(tmp_path).queue
    assert again.by_id("r1") == changed and again.by_id("r2") == r2


def test_an_entry_nobody_changed_keeps_its_exact_text(tmp_path: Path) -> None:
    """Quoted timestamps and fields left at their default are not rewritten."""
    untouched = (
        """\
  - id: r9
    service: web
    image: 127.0.0.1:5000/factory/web
    digest: sha256:"""
        + "b" * 64
        + """
    requested_at: '2026-09-02T00:00:00Z'
    requested_by: carol
"""
    )
    path = write_queue(tmp_path, HAND_WRITTEN + untouched)
    doc = load_queue(tmp_path)
    r1 = doc.queue.by_id("r1")
    save_queue(doc, doc.queue.replace(r1.model_copy(update={"attempts": 1})))
    text = path.read_text()
    assert text.endswith(untouched), text  # no '.000000Z', no `max_attempts: 5` added
    assert load_queue(tmp_path).queue.by_id("r9") == doc.queue.by_id("r9")


@pytest.mark.parametrize("dropped", ["r1", "r2"])
def test_a_comment_about_the_next_entry_survives_compaction(tmp_path: Path, dropped: str) -> None:
    note = "  # HOTFIX r3: do not delete, see INC-42\n"
    r3 = """\
  - id: r3
    service: api
    image: 127.0.0.1:5000/factory/api
    tag: v3
    requested_at: 2026-01-03T00:00:00Z
    requested_by: dan
"""
    path = write_queue(tmp_path, HAND_WRITTEN + note + r3)
    doc = load_queue(tmp_path)
    if dropped == "r1":  # the comment sits after r2: dropping r1 must not disturb it
        path.write_text(HAND_WRITTEN.replace("  - id: r2", note + "  - id: r2") + r3)
        doc = load_queue(tmp_path)
        note_before = "r2"
    else:
        note_before = "r3"
    kept = tuple(e for e in doc.queue.entries if e.id != dropped)
    save_queue(doc, doc.queue.model_copy(update={"entries": kept}))
    text = path.read_text()
    assert f"id: {dropped}\n" not in text  # it is gone
    assert note in text and text.index(note) < text.index(f"- id: {note_before}"), text
    assert load_queue(tmp_path).queue.entries == kept


def test_saved_queue_reloads_equal_and_drops_compacted(tmp_path: Path) -> None:
    write_queue(tmp_path, HAND_WRITTEN)
    doc = load_queue(tmp_path)
    new = ReleaseEntry(
        id="r3",
        service="api",
        image=IMAGE,
        tag="v2",
        requested_at=datetime.now(UTC),
        requested_by="c",
    )
    queue = doc.queue.append(new)
    queue = queue.model_copy(update={"entries": tuple(e for e in queue.entries if e.id != "r2")})
    save_queue(doc, queue)
    assert load_queue(tmp_path).queue.entries == queue.entries


@pytest.mark.parametrize(
    ("text", "field", "needle"),
    [
        ("- a\n- b\n", "-", "expected a mapping with a `releases:` list, found a list"),
        ("just a string\n", "-", "found a str"),
        ("releases: {a: 1}\n", "releases", "expected a list of entries"),
        ("releases: []\nextra: 1\n", "extra", "unknown top-level key"),
        ("releases:\n  - 3\n", "releases[0]", "expected a mapping"),
        ("releases:\n  - service: api\n", "releases[0].id", "missing"),
    ],
)
def test_structural_problems_reject_the_file(
    tmp_path: Path, text: str, field: str, needle: str
) -> None:
    path = write_queue(tmp_path, text)
    with pytest.raises(InputError) as info:
        load_queue(tmp_path)
    assert info.value.path == str(path)
    assert info.value.field == field
    assert needle in info.value.problem


def test_duplicate_ids_name_both_positions(tmp_path: Path) -> None:
    entry = f"  - id: same\n    service: api\n    image: {IMAGE}\n    tag: v1\n    requested_at: 2026-01-01T00:00:00Z\n    requested_by: a\n"
    write_queue(tmp_path, "releases:\n" + entry + entry)
    with pytest.raises(
        InputError, match=r"releases\[1\]\.id: duplicate id 'same' \(also releases\[0\]\)"
    ):
        load_queue(tmp_path)


def test_yaml_duplicate_keys_are_refused(tmp_path: Path) -> None:
    write_queue(tmp_path, "releases: []\nreleases: []\n")
    with pytest.raises(InputError, match="not valid YAML"):
        load_queue(tmp_path)


def test_billion_laughs_is_refused_before_expansion(tmp_path: Path) -> None:
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for level in "bcdefghi":
        prev = chr(ord(level) - 1)
        lines.append(f"{level}: &{level} [" + ",".join([f"*{prev}"] * 9) + "]")
    write_queue(tmp_path, "\n".join(lines) + "\nreleases: []\n")
    with pytest.raises(InputError, match="YAML aliases are not allowed"):
        load_queue(tmp_path)


def test_deep_nesting_is_refused(tmp_path: Path) -> None:
    write_queue(tmp_path, "releases: " + "[" * 5000 + "]" * 5000 + "\n")
    with pytest.raises(InputError, match="nested deeper than"):
        load_queue(tmp_path)


def test_file_over_one_mebibyte_is_refused_unread(tmp_path: Path) -> None:
    write_queue(tmp_path, "releases: []\n# " + "x" * (1024 * 1024) + "\n")
    with pytest.raises(InputError, match="over the 1048576-byte limit"):
        load_queue(tmp_path)


@pytest.mark.parametrize(
    ("patch", "field", "needle"),
    [
        ({"tag": "bad tag"}, "tag", "must match"),
        ({"tag": None, "digest": "sha256:abc"}, "digest", "sha256"),
        ({"digest": DIGEST}, "", "exactly one of tag or digest"),
        ({"service": "../x"}, "service", "not a service name"),
        ({"service": "Api"}, "service", "not a service name"),
        ({"image": "127.0.0.1:5000/factory/api:v1"}, "image", "tag or digest"),
        ({"state": "done"}, "state", "Input should be"),
        ({"requested_at": "yesterday"}, "requested_at", "datetime"),
        ({"surprise": 1}, "surprise", "unknown field"),
    ],
)
def test_bad_entry_fields_become_invalid_entries(
    tmp_path: Path, patch: dict, field: str, needle: str
) -> None:
    fields = {
        "id": "r9",
        "service": "api",
        "image": IMAGE,
        "tag": "v1",
        "requested_at": "2026-01-01T00:00:00Z",
        "requested_by": "a",
    } | patch
    body = "".join(
        f"    {k}: {v!r}\n".replace("'", '"') for k, v in fields.items() if v is not None
    )
    write_queue(tmp_path, HAND_WRITTEN + "  - " + body.lstrip())
    queue = load_queue(tmp_path).queue
    assert [e.id for e in queue.entries] == ["r1", "r2"]  # the good ones still load
    (bad,) = queue.invalid
    assert bad.id == "r9" and bad.position == 2
    assert bad.field == "releases[2] (id r9)" + (f".{field}" if field else "")
    assert needle in bad.problem


def test_appending_keeps_every_existing_byte(tmp_path: Path) -> None:
    """New entries are spliced in after the last one: the owner's text above is untouched."""
    path = write_queue(tmp_path, HAND_WRITTEN + "  # about what comes next\n")
    doc = load_queue(tmp_path)
    new = [
        ReleaseEntry(
            id=f"n{i}",
            service="api",
            image=IMAGE,
            tag=tag,
            requested_at=datetime(2026, 5, 1, tzinfo=UTC),
            requested_by="harbor",
        )
        for i, tag in enumerate(["v2", "on", "1e5"])
    ]
    queue = doc.queue
    for entry in new:
        queue = queue.append(entry)
    save_queue(doc, queue)
    text = path.read_text()
    assert text.startswith(HAND_WRITTEN + "  # about what comes next\n  - id: n0\n"), text
    assert load_queue(tmp_path).queue.entries == queue.entries


def test_plain_values_are_read_as_yaml_1_2(tmp_path: Path) -> None:
    """As the file has always been read: `on` and `1:20` are strings, not a bool and 80."""
    write_queue(
        tmp_path,
        HAND_WRITTEN.replace('tag: "v1"', "tag: on").replace("by: alice", "by: 1:20"),
    )
    r1 = load_queue(tmp_path).queue.by_id("r1")
    assert (r1.tag, r1.requested_by) == ("on", "1:20")


def test_dropping_every_entry_leaves_an_empty_list_and_the_comments(tmp_path: Path) -> None:
    path = write_queue(tmp_path, HAND_WRITTEN + "  # the end\n")
    doc = load_queue(tmp_path)
    save_queue(doc, doc.queue.model_copy(update={"entries": ()}))
    text = path.read_text()
    assert text == (
        "# Release requests. Humans add entries here too.\n"
        "releases: []\n"
        "  # the first release of api\n"
        "  # the end\n"
    )
    assert load_queue(tmp_path).queue.entries == ()


def test_new_entries_are_written_without_aliases() -> None:
    """The readers refuse aliases, so a value two new entries share is written out twice."""
    shared = {"prod": "r-1"}
    text = yaml_lists.block_items([{"id": "a", "x": shared}, {"id": "b", "x": shared}], 2)
    assert "&" not in text and "*" not in text
    assert yaml_lists.load("releases:\n" + text, "queue") == {
        "releases": [{"id": "a", "x": shared}, {"id": "b", "x": shared}]
    }


def test_reload_after_save_sees_an_edit_made_since(tmp_path: Path) -> None:
    """The pass reuses the parse of what it just saved; another writer's change is never hidden."""
    path = write_queue(tmp_path, HAND_WRITTEN)
    doc = load_queue(tmp_path)
    r1 = doc.queue.entries[0]
    save_queue(doc, doc.queue.replace(r1.model_copy(update={"attempts": 1})))
    again = load_queue(tmp_path)
    assert again.queue.by_id("r1").attempts == 1
    assert again is not doc and again.queue == load_queue(tmp_path).queue
    # Someone else edits the file: same size, same path, only a value differs.
    path.write_text(path.read_text().replace("requested_by: bob", "requested_by: eve"))
    assert load_queue(tmp_path).queue.by_id("r2").requested_by == "eve"
    four = tmp_path / "four"
    (four / "release").mkdir(parents=True)
    (four / "factory.yaml").write_text(
        "queue: {path: release/queue.yaml, format: four-lists}\n"
        "service_map: release/services.yaml\nenvironments:\n  dev: {pins: overlays}\n"
    )
    (four / "release/queue.yaml").write_text(
        "pending:\n- id: p1\n  service: api\n  env: dev\n  source:\n"
        f"    ghcr: ghcr.io/acme/api@{DIGEST}\n    tag: sha-1\n    digest: {DIGEST}\n"
        "    gitSha: abc\n  createdAt: '2026-01-01T00:00:00Z'\n  status: pending\n"
        "  attempts: 0\n  lastError: ''\npromoted: []\nfailed: []\nsuperseded: []\n"
    )
    doc = load_queue(four)
    save_queue(doc, doc.queue.replace(doc.queue.entries[0].model_copy(update={"attempts": 2})))
    assert load_queue(four).queue.entries[0].attempts == 2
    text = (four / "release/queue.yaml").read_text()
    (four / "release/queue.yaml").write_text(text.replace("attempts: 2", "attempts: 3"))
    assert load_queue(four).queue.entries[0].attempts == 3
