"""Canonical JSON (RFC 8785) and content digests of evidence records."""

from __future__ import annotations

import hashlib
from typing import Any

import orjson
import rfc8785

_EXACT_INT = 2**53  # RFC 8785 numbers are IEEE doubles: larger integers are the library's call


def canonical_bytes(value: Any) -> bytes:
    """RFC 8785 canonical form: orjson's sorted form where the two agree, else the reference
    library (floats, non-ASCII keys, integers past 2**53: a tick seals a thousand records)."""
    if _orjson_agrees(value):
        try:
            return fast_canonical_bytes(value)
        except orjson.JSONEncodeError:  # a lone surrogate: the library says what to do
            pass
    return rfc8785.dumps(value)


def _orjson_agrees(value: Any) -> bool:
    """Is `value` in the shape where sorted compact JSON is RFC 8785 (see the property test)?"""
    if value is None or isinstance(value, (str, bool)):
        return True
    if isinstance(value, int):
        return -_EXACT_INT < value < _EXACT_INT
    if isinstance(value, dict):
        return all(
            isinstance(key, str) and key.isascii() and _orjson_agrees(item)
            for key, item in value.items()
        )
    if isinstance(value, (list, tuple)):
        return all(_orjson_agrees(item) for item in value)
    return False


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
