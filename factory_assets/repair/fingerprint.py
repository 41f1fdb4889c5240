"""Failure fingerprints: the same failure gives the same fingerprint across runs, machines and edits.

A fingerprint is sha256("<check>\\n<normalized output>"), first 16 hex digits. Normalization removes
what changes between runs of one failure without changing what failed:
- secrets (redacted first, so they never shape the hash), ANSI colours, trailing spaces, blank lines;
- temporary directories (`/tmp/...`, `$TMPDIR/...`) and the checkout path itself;
- line and column numbers (`file.py:12:5`, `line 12`, ruff's `12 |` gutters): an unrelated edit above
  the failure moves it without making it a different failure;
- hex strings of 12+ digits (commit shas, digests), ULIDs, UUIDs, timestamps and durations.
File names and messages stay: a different file or a different error is a different failure.
"""

from __future__ import annotations

import hashlib
import re
import tempfile

from factory_assets.repair.redact import redact

FINGERPRINT = re.compile(r"^[0-9a-f]{16}$")

_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")
_RULES = (
    (
        re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:?\d{2})?"),
        "<time>",
    ),
    (
        re.compile(
            r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b"
        ),
        "<uuid>",
    ),
    (re.compile(r"\b[0-9A-HJKMNP-TV-Z]{26}\b"), "<ulid>"),
    (re.compile(r"\b(?:sha256:)?[0-9a-f]{12,}\b"), "<hex>"),
    (re.compile(r"(:\d+)(:\d+)?(?=\b|:)"), ":<n>"),
    (re.compile(r"(?i)\b(line|column|col|row)(\s+)\d+"), r"\1\2<n>"),
    (re.compile(r"(?m)^(\s*)\d+(\s*\|)"), r"\1<n>\2"),
    (re.compile(r"\b\d+(?:\.\d+)?\s?(?:ms|s|sec|seconds)\b"), "<duration>"),
)


def _tmp_pattern(extra_roots: tuple[str, ...]) -> re.Pattern[str]:
    roots = {"/tmp", "/var/tmp", "/private/var/folders", tempfile.gettempdir(), *extra_roots}
    alternatives = "|".join(
        re.escape(r.rstrip("/")) for r in sorted(roots, key=len, reverse=True) if r
    )
    return re.compile(rf"(?:{alternatives})(?:/[^\s:'\"()\[\],]*)?")


def normalize_output(text: str, *, roots: tuple[str, ...] = ()) -> str:
    """The parts of a failure's output that identify it (see the module docstring)."""
    text = _ANSI.sub("", redact(text))
    for root in sorted(roots, key=len, reverse=True):
        if root:
            text = text.replace(root.rstrip("/") + "/", "").replace(root.rstrip("/"), ".")
    text = _tmp_pattern(roots).sub("<tmp>", text)
    for pattern, replacement in _RULES:
        text = pattern.sub(replacement, text)
    lines = (line.rstrip() for line in text.splitlines())
    return "\n".join(line for line in lines if line)


def fingerprint(check: str, output: str, *, roots: tuple[str, ...] = ()) -> str:
    normalized = normalize_output(output, roots=roots)
    return hashlib.sha256(f"{check}\n{normalized}".encode()).hexdigest()[:16]


def combined_fingerprint(per_check: dict[str, str]) -> str:
    """One fingerprint for a set of failing checks (what an attempt and its fix commit are about)."""
    if len(per_check) == 1:
        return next(iter(per_check.values()))
    lines = "".join(f"{name}:{fp}\n" for name, fp in sorted(per_check.items()))
    return hashlib.sha256(lines.encode()).hexdigest()[:16]
