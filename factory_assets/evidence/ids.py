"""Record ids: ULIDs, so that ids sort in creation-time order."""

from __future__ import annotations

import os
import time

_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def encode_ulid(millis: int, randomness: int) -> str:
    """26 Crockford base32 chars: 48-bit millisecond time then 80 random bits."""
    value = (millis << 80) | randomness
    out = []
    for _ in range(26):
        out.append(_ALPHABET[value & 31])
        value >>= 5
    return "".join(reversed(out))


def new_record_id(millis: int | None = None) -> str:
    if millis is None:
        millis = time.time_ns() // 1_000_000
    return encode_ulid(millis, int.from_bytes(os.urandom(10), "big"))


def ulid_millis(record_id: str) -> int:
    value = 0
    for ch in record_id[:10]:
        value = value * 32 + _ALPHABET.index(ch)
    return value
