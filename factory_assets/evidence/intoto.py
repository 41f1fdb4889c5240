"""Export a promotion or smoke record as an in-toto Statement v1 about the pinned image.

The subject is the image digest the record pins or checked, so the Statement
can be attached to that image (`cosign attest --type custom --predicate ...`
takes the predicate alone) and read by supply-chain tools. The predicate is the
stored record, verbatim, with its content digest and its place in the chain,
so a reader can recompute the digest and find the record in the published tree.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from factory_assets.common.errors import InputError
from factory_assets.evidence.canonical import canonical_bytes, content_digest
from factory_assets.evidence.layout import RECORDS_DIR, record_path

STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
# A URN rather than an https URL: the predicate is defined by this project's record schema
# (evidence/schema/evidence-record.schema.json), not by a document at some host.
PREDICATE_TYPE = "urn:factory:evidence:record:v1"
EXPORTABLE_KINDS = ("promotion", "smoke")
_RECORD_ID = re.compile(r"^[0-9A-HJKMNP-TV-Z]{26}$")


def load_exportable(repo: Path, record_id: str) -> dict:
    """The stored record `record_id`, checked: a promotion or smoke record whose digest holds."""
    if not _RECORD_ID.match(record_id):
        raise InputError("ID", record_id, "expected a record id (26 Crockford base32 characters)")
    path = record_path(repo, record_id)
    where = f"{RECORDS_DIR}/{record_id}.json"
    try:
        record = json.loads(path.read_bytes())
    except FileNotFoundError:
        raise InputError(where, "-", "no such record") from None
    except ValueError as exc:
        raise InputError(where, "-", f"not JSON ({exc})") from None
    if not isinstance(record, dict) or not isinstance(record.get("integrity"), dict):
        raise InputError(where, "integrity", "expected a sealed evidence record")
    if record.get("kind") not in EXPORTABLE_KINDS:
        raise InputError(
            where,
            "kind",
            f"is {record.get('kind')!r}; only {' and '.join(EXPORTABLE_KINDS)} records are exported",
        )
    if content_digest(record) != record["integrity"].get("content_digest"):
        raise InputError(
            where,
            "integrity.content_digest",
            "does not match the content; run `factory evidence validate`",
        )
    return record


def image_subjects(record: dict, where: str) -> list[dict]:
    """ResourceDescriptors of the pinned image: the record's sha256 subjects, else its details.digest."""
    subjects = [
        {"name": s["name"], "digest": {"sha256": s["digest"]["sha256"]}}
        for s in record.get("subject") or []
        if (s.get("digest") or {}).get("sha256")
    ]
    if subjects:
        return subjects
    details = record.get("details") or {}
    digest = details.get("digest")
    if isinstance(digest, str) and digest.startswith("sha256:"):
        name = details.get("image") or record.get("service") or "image"
        return [{"name": name, "digest": {"sha256": digest.removeprefix("sha256:")}}]
    raise InputError(where, "details.digest", "no pinned image digest: nothing to attest about")


def predicate_of(record: dict) -> dict:
    """The record with its content digest and position in the chain."""
    integrity = record["integrity"]
    return {
        "record": record,
        "content_digest": integrity["content_digest"],
        "chain": {
            "sequence": integrity["sequence"],
            "prev_digest": integrity.get("prev_digest"),
            "content_digest_rule": "sha256 of the RFC 8785 form of the record without integrity",
            "tree_hash": "RFC 6962 SHA-256 over integrity.content_digest in sequence order",
        },
    }


def statement_of(record: dict) -> dict:
    where = f"{RECORDS_DIR}/{record['id']}.json"
    return {
        "_type": STATEMENT_TYPE,
        "subject": image_subjects(record, where),
        "predicateType": PREDICATE_TYPE,
        "predicate": predicate_of(record),
    }


def export_bytes(repo: Path, record_id: str, fmt: str = "in-toto") -> bytes:
    """The Statement (`in-toto`) or its predicate alone (`predicate`), as canonical JSON."""
    record = load_exportable(repo, record_id)
    statement = statement_of(record)
    value = statement if fmt == "in-toto" else statement["predicate"]
    return canonical_bytes(value) + b"\n"
