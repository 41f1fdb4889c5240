"""The deploy repository's own variable names, accepted as aliases of the factory's.

Its CronJobs and Secret set `HARBOR_USER`, `DEPLOY_REPO_URL`, `ENV_ALLOWLIST`, ...; a runner
moved over from them keeps working with the same Secret. An alias only fills a variable
the factory's own name leaves unset; both set to different values is an error, never a
silent choice. Values are never printed: messages name variables only.
"""

from __future__ import annotations

import os
from collections.abc import MutableMapping

from factory_assets.common import settings
from factory_assets.common.errors import InputError

# legacy name -> the factory's name, as each setting declares it
ALIASES = {s.alias: s.name for s in settings.SETTINGS if s.alias}
# ARGOCD_TOKEN is the same name in both; listed so the README table is complete.
SAME_NAME = ("ARGOCD_TOKEN",)
_OFF = ("", "0", "false", "no", "off")


def apply_env_aliases(environ: MutableMapping[str, str] | None = None) -> list[str]:
    """Fill the factory's variables from their legacy aliases; returns the aliases used.

    `HARBOR_INSECURE` is refused: the factory never turns TLS verification off.
    """
    env = os.environ if environ is None else environ
    insecure = env.get("HARBOR_INSECURE", "").strip().lower()
    if insecure not in _OFF:
        raise InputError(
            "HARBOR_INSECURE",
            "-",
            "is not supported: the factory always verifies TLS; give the registry's CA "
            "bundle with SSL_CERT_FILE (or SSL_CERT_DIR) and unset HARBOR_INSECURE",
        )
    used = []
    for legacy, own in ALIASES.items():
        value = env.get(legacy, "")
        if not value.strip():
            continue
        current = env.get(own, "")
        if current.strip() and current != value:
            raise InputError(
                legacy,
                "-",
                f"is set and differs from {own}; set only one of them ({legacy} is its "
                "legacy name)",
            )
        env[own] = value
        used.append(legacy)
    return used
