"""The command blocks of deploy/README.md that tests run as written."""

from __future__ import annotations

import re

from tests.deploy.conftest import DEPLOY

README = DEPLOY / "README.md"


def block_after(marker: str) -> str:
    """The fenced block right after the HTML comment naming `marker` (a test file)."""
    text = README.read_text()
    found = re.search(
        r"<!--[^>]*" + re.escape(marker) + r"[^>]*-->\s*```sh\n(.*?)```", text, re.DOTALL
    )
    assert found, f"deploy/README.md has no block marked for {marker}"
    return found.group(1)
