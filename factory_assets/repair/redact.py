"""Remove secrets from text that leaves the machine (issue bodies, evidence log excerpts)."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping

from factory_assets.repair.commands import SECRET_NAME

MASK = "[REDACTED]"
MIN_SECRET_LENGTH = 4  # shorter values ("1", "no") would blank out ordinary words

_PATTERNS = (
    # Authorization headers and bare schemes: `Bearer abc`, `Basic dXNlcjpw`, `token ghp_...`
    (re.compile(r"(?i)\b(bearer|basic|token)(\s+)[A-Za-z0-9._~+/=-]{6,}"), rf"\1\2{MASK}"),
    # URL userinfo: https://user:pass@host -> https://[REDACTED]@host
    (re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/\s:@]*(:[^/\s@]*)?@"), rf"\1{MASK}@"),
    # GitHub token formats, wherever they appear
    (re.compile(r"\b(gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,})\b"), MASK),
    # NAME=value / NAME: value where the name says it is a secret
    (
        re.compile(
            r"(?i)\b([A-Z0-9_]*(?:TOKEN|PASSWORD|PASSWD|SECRET|API_KEY)[A-Z0-9_]*)(\s*[=:]\s*)(\"[^\"]*\"|'[^']*'|\S+)"
        ),
        rf"\1\2{MASK}",
    ),
)


def secret_values(env: Mapping[str, str] | None = None) -> list[str]:
    """Values of env vars whose names say they are secrets, longest first."""
    env = os.environ if env is None else env
    values = {v for k, v in env.items() if SECRET_NAME.search(k) and len(v) >= MIN_SECRET_LENGTH}
    return sorted(values, key=len, reverse=True)


def redact(text: str, env: Mapping[str, str] | None = None) -> str:
    for value in secret_values(env):
        text = text.replace(value, MASK)
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def trim_log(text: str, *, head: int = 20, tail: int = 120, max_chars: int = 12000) -> str:
    """Keep the first and last lines (where errors are) and cap the size."""
    lines = text.rstrip("\n").splitlines()
    if len(lines) > head + tail:
        omitted = len(lines) - head - tail
        lines = [*lines[:head], f"... {omitted} line(s) omitted ...", *lines[-tail:]]
    out = "\n".join(lines)
    if len(out) > max_chars:
        out = out[: max_chars // 4] + "\n... (trimmed) ...\n" + out[-(max_chars * 3 // 4) :]
    return out
