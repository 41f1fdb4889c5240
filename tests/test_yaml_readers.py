"""The libyaml readers read as ruamel's round trip does, without importing ruamel.

`yaml_lists` writes ruamel's YAML 1.2 table of plain scalars out (so that a reader does not
import ruamel); `roundtrip_yaml.loads_for_reading` reads with libyaml and hands anything libyaml
refuses to the round trip, so that a refusal reads as it always did.
"""

from __future__ import annotations

import re
import subprocess
import sys
from datetime import datetime

import pytest

from factory_assets.common import roundtrip_yaml, yaml_lists
from factory_assets.common.errors import InputError

YAML12 = {f"tag:yaml.org,2002:{name}" for name in ("bool", "float", "int", "null", "timestamp")}
YAML12 |= {"tag:yaml.org,2002:merge"}


def test_the_yaml_12_table_is_ruamels():
    from ruamel.yaml import resolver

    theirs = sorted(
        (tag, regexp.pattern, regexp.flags, list(first))
        for versions, tag, regexp, first in resolver.implicit_resolvers
        if (1, 2) in versions and tag in YAML12
    )
    ours = sorted(
        (tag, pattern, re.compile(pattern, flags).flags, list(first))
        for tag, pattern, flags, first in yaml_lists.YAML12_RESOLVERS
    )
    assert ours == theirs


DOCUMENTS = [
    "a: 1\n",
    "a: yes\nb: on\nc: 0777\nd: 1_000\ne: 2026-01-02T00:00:00Z\nf: ~\ng: .inf\nh: 0x1F\n",
    "image: h/r@sha256:" + "ab" * 32 + "\ntag: '1.0'\nhold: false\nsmoke: {url: 'http://x/'}\n",
    "list:\n  - a\n  - {b: [1, 2]}\n",
    "",
    "# only a comment\n",
    # refused by libyaml: read round-trip, so these read (or are refused) as they always were
    "a: b: c\n",
    "a: [1, 2\n",
    "a:\n\t- x\n",
    "a: 1\na: 2\n",
    "x: &a 1\ny: *a\n",
    "- a\nb: 1\n",
    "@x: 1\n",
    "a: !custom x\n",
    "a:" + "[" * 40 + "]" * 40 + "\n",
]


def _values(value):
    """What a reader got, comparable across readers (ruamel's own types as plain values)."""
    if isinstance(value, dict):
        return {str(key): _values(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_values(item) for item in value]
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, (str, int, float)):  # ruamel's subclasses as the plain type
        return type(value).__mro__[-2](value)
    if isinstance(value, datetime):
        return roundtrip_yaml.as_utc(value)
    return repr(value)


def _outcome(read, text):
    try:
        return "read", _values(read(text, "f.yaml"))
    except InputError as exc:
        return "refused", str(exc)


@pytest.mark.parametrize("text", DOCUMENTS)
def test_reading_only_gives_what_the_round_trip_gives(text):
    fast = _outcome(roundtrip_yaml.loads_for_reading, text)
    assert fast == _outcome(roundtrip_yaml.loads, text)


def test_reading_only_imports_no_ruamel():
    code = (
        "import sys\n"
        "from factory_assets.common import roundtrip_yaml\n"
        "roundtrip_yaml.loads_for_reading('a: [1, {b: 2026-01-02T00:00:00Z}]\\n', 'f.yaml')\n"
        "assert 'ruamel' not in sys.modules, sorted(m for m in sys.modules if 'ruamel' in m)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
