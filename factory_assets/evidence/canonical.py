"""Canonical JSON (RFC 8785) and content digests of evidence records."""

from __future__ import annotations

import hashlib
from typing import Any

import orjson
import rfc8785


def canonical_bytes(value: Any) -> bytes:
    """RFC 8785 canonical form, through the reference library."""
    return rfc8785.dumps(value)


def fast_canonical_bytes(value: Any) -> bytes:
    """Sorted compact JSON (orjson): equal to RFC 8785 for float-free values with ASCII keys.

    Schema-valid records satisfy both conditions (integers only, fixed ASCII
    field names), so validate and collect use this on already-validated data;
    a property test pins the equality against `canonical_bytes`.
    """
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)


def sha256_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def body_of(record: dict) -> dict:
    """The record without its integrity block: what the content digest covers."""
    return {k: v for k, v in record.items() if k != "integrity"}


def content_digest(record: dict) -> str:
    """`sha256:` + hex SHA-256 of the RFC 8785 form of the record without `integrity`."""
    return sha256_digest(canonical_bytes(body_of(record)))
