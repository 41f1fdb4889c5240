"""The fast canonical form must equal RFC 8785 for every schema-valid shape of data."""

from __future__ import annotations

import hashlib
import json

import pytest
import rfc8785
from hypothesis import example, given, settings
from hypothesis import strategies as st

from factory_assets.evidence.canonical import canonical_bytes, content_digest, fast_canonical_bytes
from factory_assets.evidence.layout import record_path
from factory_assets.evidence.store import append_record, new_body

ascii_keys = st.text(
    alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=12
)
values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**53) + 1, max_value=2**53 - 1)
    | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(ascii_keys, children, max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=400, deadline=None)
@given(st.dictionaries(ascii_keys, values, max_size=8))
def test_fast_canonical_equals_rfc8785(value):
    assert fast_canonical_bytes(value) == rfc8785.dumps(value)


def test_content_digest_excludes_integrity_and_uses_rfc8785():
    body = new_body(
        kind="pages",
        service=None,
        result="skipped",
        details={"branch": "gh-pages", "merkle_root": "a" * 64, "tree_size": 0},
    )
    record = body.model_dump(mode="json")
    expected = "sha256:" + hashlib.sha256(rfc8785.dumps(record)).hexdigest()
    assert content_digest(record) == expected
    with_integrity = {
        **record,
        "integrity": {"content_digest": expected, "sequence": 1, "prev_digest": None},
    }
    assert content_digest(with_integrity) == expected
    assert canonical_bytes(record) == fast_canonical_bytes(record)


def test_a_stored_record_is_its_rfc8785_form(tmp_path):
    """The writer's fast form, checked on a record with text JSON escapes differently."""
    body = new_body(
        kind="promotion",
        service="api",
        result="failure",
        details={"reason": 'é \u2028 \x01 \x7f "quoted" \\ tab\t line\n', "attempt": 2},
    )
    record = append_record(tmp_path, body)
    stored = record_path(tmp_path, record.id).read_bytes()
    assert stored == rfc8785.dumps(json.loads(stored)) + b"\n"


any_keys = st.text(max_size=6)
any_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**60), max_value=2**60)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(any_keys | ascii_keys, children, max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=600, deadline=None)
@given(st.dictionaries(any_keys | ascii_keys, any_values, max_size=6))
@example({"n": 2**53})
@example({"n": [2**53 - 1, -(2**53) + 1]})
@example({"f": 1e16, "é": 1})
def test_canonical_bytes_is_rfc8785_for_any_json_value(value):
    """Floats, non-ASCII keys and big integers included: the fast path never changes a digest."""
    try:
        expected = rfc8785.dumps(value)
    except Exception as exc:  # the library refuses it (e.g. an integer it cannot represent)
        with pytest.raises(type(exc)):
            canonical_bytes(value)
        return
    assert canonical_bytes(value) == expected
