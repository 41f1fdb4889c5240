"""The four-list queue codec: the shape service CI writes, read and written back faithfully."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from factory_assets.promotion import run_pass
from factory_assets.release.queue_file import load_queue, save_queue
from factory_assets.release.state import claim, mark_superseded
from resources.registry.environments import EnvRegistries
from tests.support.ljwx import EMPTY_QUEUE, LjwxRepo
from tests.support.queue_rules import queue_errors

# The validator-passing queue of the deploy repository's format notes, byte for byte as its
# PyYAML writers dump it (list items at column 0, quoted timestamps and all-digit SHAs).
EXAMPLE = Path(__file__).resolve().parents[1] / "support" / "ljwx_queue_example.yaml"
LAYOUT = "queue: {format: four-lists}\nenvironments: {dev: {}, prod: {}}\n"
D1 = "sha256:" + "1" * 64
D2 = "sha256:" + "2" * 64


def reference_example() -> str:
    """The validator-passing example queue, exactly as the repository's writers print it."""
    return EXAMPLE.read_text()


def write(tmp_path: Path, queue: str) -> Path:
    (tmp_path / "factory.yaml").write_text(LAYOUT)
    (tmp_path / "release").mkdir(exist_ok=True)
    (tmp_path / "release" / "queue.yaml").write_text(queue)
    return tmp_path / "release" / "queue.yaml"


def pyyaml_queue() -> str:
    """A queue as the repository's PyYAML writers dump it: long notes wrap, non-ASCII kept."""
    data = yaml.safe_load(reference_example())
    hand = dict(data["superseded"][0])
    hand.update(
        id="20260401T085512Z-web-sha-e2efinal143105-r2",
        lastError="superseded by hand: the release was broken in staging and nobody wanted it — 手动",
        source={**hand["source"], "tag": "sha-e2efinal143105", "gitSha": "1234e56"},
    )
    hand.pop("reason")
    hand["meta"] = {
        "manualE2E": True,
        "note": "a long note about why this entry exists and what it tested",
    }
    data["superseded"].append(hand)
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)


@pytest.mark.parametrize("text", [reference_example(), pyyaml_queue()], ids=["reference", "pyyaml"])
def test_reading_and_writing_back_keeps_every_byte(tmp_path: Path, text: str):
    path = write(tmp_path, text)
    assert queue_errors(text) == []
    doc = load_queue(tmp_path)
    assert not doc.queue.invalid
    save_queue(doc, doc.queue)
    assert path.read_text() == text


def test_fields_read_as_the_format_means_them(tmp_path: Path):
    write(tmp_path, pyyaml_queue())
    queue = load_queue(tmp_path).queue
    prod = queue.by_id("20260401T091502Z-web-sha-4417092-prod")
    assert (prod.env, prod.state, prod.image, prod.digest, prod.source_tag) == (
        "prod",
        "pending",
        "ghcr.example/acme/web",
        "sha256:2cc106c9ef98f3848ce5766cf3c6a59eb05e10b12979b6b630bc4a3d5706fef2",
        "sha-4417092",
    )
    assert prod.requested_at == datetime(2026, 4, 1, 9, 15, 2, tzinfo=UTC)
    failed = queue.by_id("20260401T070000Z-worker-sha-5e6f7a8")
    assert (failed.state, failed.attempts, failed.last_error) == (
        "failed",
        10,
        "overlay file not found: apps/worker/overlays/dev/kustomization.yaml",
    )


def test_a_change_touches_only_its_entry_and_moves_it(tmp_path: Path):
    original = pyyaml_queue()
    path = write(tmp_path, original)
    doc = load_queue(tmp_path)
    prod = doc.queue.by_id("20260401T091502Z-web-sha-4417092-prod")
    now = datetime(2026, 4, 2, 10, 0, 0, tzinfo=UTC)
    claimed = claim(prod, runner="r1", now=now, lease=timedelta(minutes=10))
    save_queue(doc, doc.queue.replace(claimed))
    text = path.read_text()
    assert queue_errors(text) == []
    data = yaml.safe_load(text)
    (entry,) = data["pending"]  # a claim stays in `pending`, status `pending`
    assert (entry["status"], entry["attempts"]) == ("pending", 1)
    assert entry["meta"]["factory"]["claimedBy"] == "r1"
    assert entry["meta"]["autoPromoteBySmoke"] is True  # what was there stays
    doc = load_queue(tmp_path)
    assert doc.queue.by_id(prod.id).state == "promoting"
    gone = mark_superseded(doc.queue.by_id(prod.id), by="x", now=now)
    save_queue(doc, doc.queue.replace(gone))
    text = path.read_text()
    assert queue_errors(text) == []
    data = yaml.safe_load(text)
    assert data["pending"] == []
    moved = data["superseded"][-1]
    assert moved["id"] == prod.id and moved["supersededAt"] == "2026-04-02T10:00:00Z"
    assert list(moved)[-1] == "reason"
    assert moved["reason"] == "replaced by newer pending release for same service+env"
    assert "meta" in moved and "claimedBy" not in moved["meta"].get("factory", {})
    # Every other entry is byte for byte what it was.
    for other in ("20260401T085940Z-web-sha-4417092", "20260401T070000Z-worker-sha-5e6f7a8"):
        block = original[original.index(f"- id: {other}") :]
        block = block[: block.index("\n- ") + 1] if "\n- " in block else block
        assert block.split("\nfailed:")[0].split("\nsuperseded:")[0] in text


def entry(rid: str, service: str, env: str, digest: str, at: str) -> str:
    text = (
        f"- id: {rid}\n  service: {service}\n  env: {env}\n  source:\n"
        f"    ghcr: ghcr.example/acme/{service}@{digest}\n    tag: sha-0000001\n"
        f"    digest: {digest}\n  createdAt: '{at}'\n  status: pending\n  attempts: 0\n"
        "  lastError: ''\n  promotedAt: ''\n  supersededAt: ''\n  failedAt: ''\n"
    )
    return text


def test_a_malformed_entry_fails_alone_and_an_older_request_is_superseded(ljwx: LjwxRepo):
    api = ljwx.replicate("dev", "api", "api bad-input")
    good = entry("good", "api", "dev", api, "2026-04-01T10:00:00Z")
    older = entry("older", "api", "dev", D1, "2026-04-01T09:00:00Z")
    bad = entry("bad", "worker", "dev", D2, "2026-04-01T09:00:00Z").replace(
        f"    digest: {D2}\n", "    digest: sha256:NOT-HEX\n"
    )
    text = EMPTY_QUEUE.replace("pending: []\n", "pending:\n" + older + bad + good)
    ljwx.remote.commit_and_push({"release/queue.yaml": text}, "queue(ci): entries")
    registries = EnvRegistries()
    try:
        result = run_pass(ljwx.clone, registry=registries, envs={"dev"})
    finally:
        registries.close()
    by_id = {o.release_id: o.result for o in result.outcomes}
    assert by_id == {"good": "success", "older": "superseded", "bad": "refused"}
    # Only the bad digest the input came with breaks a rule; every move kept the others.
    errors = queue_errors(ljwx.show("release/queue.yaml"))
    assert errors and all(e.startswith("failed[0]: source.") for e in errors), errors
    name, failed = ljwx.find("bad")
    assert name == "failed" and failed["failedAt"]
    assert "source.digest" in failed["lastError"] and failed["meta"]["factory"]["evidence"]
    name, superseded = ljwx.find("older")
    assert name == "superseded" and superseded["reason"].startswith("replaced by newer")
    assert superseded["meta"]["factory"]["supersededBy"] == "good"
