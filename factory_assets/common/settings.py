"""Every environment variable the factory reads, typed, row for row as the README's tables.

This module is the only one that reads the factory's configuration from the environment
(tests/test_settings.py holds every other module to that, and this module to the README).
A value is read when it is asked for, never at import: tests set variables per test, and the
Dagster daemon's runs see the environment of the moment. A bad value is an InputError naming
the variable, never a silent fall back to the default; a secret comes back as a pydantic
`SecretStr`, so printing it, or an object holding it, shows `**********`.

    from factory_assets.common import settings
    settings.FACTORY_CLAIM_LEASE_SECONDS.get()      # 600 unless the variable says otherwise
    settings.HARBOR_URL_ENV.get("prod")             # HARBOR_URL_PROD, or None
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Generic, TypeVar

from factory_assets.common.errors import InputError

if TYPE_CHECKING:
    # Imported where a secret is read, not here: every `factory` start imports this module,
    # and pydantic (with pydantic_core) is most of what importing it would cost.
    from pydantic import SecretStr

T = TypeVar("T")
Parse = Callable[[str, str], T]  # (variable name, its text) -> value; InputError when bad


# ----------------------------------------------------------------------------------------------
# How a variable's text becomes a value
# ----------------------------------------------------------------------------------------------


def text(name: str, value: str) -> str:
    """The text as it is."""
    return value


def secret(name: str, value: str) -> SecretStr:
    """The text, shown as `**********` by repr and str; `reveal` gives it to a client."""
    from pydantic import SecretStr

    return SecretStr(value)


def names(name: str, value: str) -> tuple[str, ...]:
    """Comma-separated names: `prod, dev` -> ("prod", "dev"); empty parts are dropped."""
    return tuple(part.strip() for part in value.split(",") if part.strip())


def whole_number(minimum: int = 1) -> Parse[int]:
    """A whole number >= `minimum`: `2.5`, `ten` or one below the minimum names the variable."""

    def parse(name: str, value: str) -> int:
        try:
            number = int(value)
        except ValueError:
            raise InputError(
                name, "-", f"expected a whole number >= {minimum}, got {value!r}"
            ) from None
        if number < minimum:
            raise InputError(name, "-", f"expected a whole number >= {minimum}, got {number}")
        return number

    return parse


def number(minimum: float = 0) -> Parse[float]:
    """A finite number >= `minimum` (nan and inf are refused: they would switch a cap off)."""

    def parse(name: str, value: str) -> float:
        try:
            found = float(value)
        except ValueError:
            found = math.nan
        if not math.isfinite(found) or found < minimum:
            raise InputError(name, "-", f"expected a number >= {minimum:g}, got {value!r}")
        return found

    return parse


def reveal(value: SecretStr | None) -> str | None:
    """A secret's text for the one client that sends it (None stays None)."""
    return value.get_secret_value() if value is not None else None


# ----------------------------------------------------------------------------------------------
# Declarations
# ----------------------------------------------------------------------------------------------


def _text_of(variable: str, environ: Mapping[str, str] | None, strip: bool) -> str:
    raw = (os.environ if environ is None else environ).get(variable, "")
    return raw.strip() if strip else raw


@dataclass(frozen=True)
class Setting(Generic[T]):
    """One variable: how its text becomes a value, and the value when it is unset or empty.

    `strip` drops surrounding blanks first (a blank value is then unset); without it the
    text is kept as it is, as credentials must be. `alias` is the deploy repository's name
    for the variable: env_aliases fills this one from it where the CLI and the code location
    start, and `reads_alias` also reads it here while this one is unset. `outside` names what
    reads the variable when no Python code does (a YAML file, the image's entrypoint): it is
    declared so that this module and the README list the same variables.
    """

    name: str
    parse: Parse[T] = text
    default: T | None = None
    strip: bool = False
    alias: str | None = None
    reads_alias: bool = False
    outside: str | None = None

    @property
    def secret(self) -> bool:
        return self.parse is secret

    def get(self, environ: Mapping[str, str] | None = None) -> T | None:
        """The value now (from `environ` when given, else the process environment)."""
        variable = self.name
        found = _text_of(variable, environ, self.strip)
        if not found and self.reads_alias and self.alias:
            variable = self.alias
            found = _text_of(variable, environ, self.strip)
        return self.parse(variable, found) if found else self.default


def environ_with(values: Mapping[str, str]) -> Mapping[str, str]:
    """The process environment with `values` in place of the variables they name (a Dagster
    resource's fields, read through the same settings as the variables)."""
    from collections import ChainMap

    return ChainMap(dict(values), os.environ)


def env_suffix(env: str) -> str:
    """`prod` -> `PROD`, `eu-west` -> `EU_WEST` (the environment as a variable suffix)."""
    return env.upper().replace("-", "_")


@dataclass(frozen=True)
class EnvSetting(Generic[T]):
    """One variable per environment: `HARBOR_URL_<ENV>` is `HARBOR_URL_PROD` for `prod`."""

    name: str
    parse: Parse[T] = text
    strip: bool = False
    default: None = None  # the unsuffixed variable stands in, as its reader decides
    alias: None = None
    outside: None = None

    @property
    def secret(self) -> bool:
        return self.parse is secret

    def variable(self, env: str) -> str:
        return self.name.replace("<ENV>", env_suffix(env))

    def get(self, env: str, environ: Mapping[str, str] | None = None) -> T | None:
        """`env`'s own value now, or None when it has none."""
        variable = self.variable(env)
        found = _text_of(variable, environ, self.strip)
        return self.parse(variable, found) if found else None


# The README's "Configuration" table, row by row.
FACTORY_REPO = Setting("FACTORY_REPO")
DAGSTER_HOME = Setting("DAGSTER_HOME")
HARBOR_URL = Setting("HARBOR_URL", strip=True)
HARBOR_USERNAME = Setting("HARBOR_USERNAME", alias="HARBOR_USER")
HARBOR_PASSWORD = Setting("HARBOR_PASSWORD", secret, alias="HARBOR_PASS")
HARBOR_TOKEN_REALM_HOSTS = Setting("HARBOR_TOKEN_REALM_HOSTS", names, default=())
# The default bounds a runaway loop without slowing a sensor's HEADs of 1,000 tracked tags.
HARBOR_REQUESTS_PER_SECOND = Setting(
    "HARBOR_REQUESTS_PER_SECOND", number(minimum=0), default=1000.0, strip=True
)
SSL_CERT_FILE = Setting("SSL_CERT_FILE")
SSL_CERT_DIR = Setting("SSL_CERT_DIR")
# Read through its alias too: a smoke check run outside the CLI has always accepted it.
ARGOCD_URL = Setting("ARGOCD_URL", strip=True, alias="ARGOCD_SERVER", reads_alias=True)
ARGOCD_TOKEN = Setting("ARGOCD_TOKEN", secret, strip=True)
ARGOCD_APP_NAMESPACE = Setting("ARGOCD_APP_NAMESPACE")
GITHUB_TOKEN = Setting("GITHUB_TOKEN", secret)
GITHUB_REPOSITORY = Setting("GITHUB_REPOSITORY")
GITHUB_API_URL = Setting("GITHUB_API_URL", default="https://api.github.com")
FACTORY_RETRY_BASE_SECONDS = Setting(
    "FACTORY_RETRY_BASE_SECONDS", whole_number(), default=15, strip=True
)
FACTORY_RETRY_MAX_SECONDS = Setting(
    "FACTORY_RETRY_MAX_SECONDS", whole_number(), default=900, strip=True
)
FACTORY_CLAIM_LEASE_SECONDS = Setting(
    "FACTORY_CLAIM_LEASE_SECONDS", whole_number(), default=600, strip=True
)
FACTORY_RELEASE_RETENTION_DAYS = Setting(
    "FACTORY_RELEASE_RETENTION_DAYS", whole_number(minimum=0), default=30, strip=True
)
FACTORY_RESOLVE_CONCURRENCY = Setting(
    "FACTORY_RESOLVE_CONCURRENCY", whole_number(), default=4, strip=True
)
FACTORY_GIT_BRANCH = Setting("FACTORY_GIT_BRANCH", alias="GIT_BRANCH")
FACTORY_GIT_MAX_ATTEMPTS = Setting(
    "FACTORY_GIT_MAX_ATTEMPTS", whole_number(), default=10, strip=True
)
FACTORY_GIT_AUTHOR_NAME = Setting("FACTORY_GIT_AUTHOR_NAME")
FACTORY_GIT_AUTHOR_EMAIL = Setting("FACTORY_GIT_AUTHOR_EMAIL")
FACTORY_ESCALATE_AFTER = Setting("FACTORY_ESCALATE_AFTER", whole_number(), default=3, strip=True)
FACTORY_REPAIR_MAX_ATTEMPTS = Setting(
    "FACTORY_REPAIR_MAX_ATTEMPTS", whole_number(), default=3, strip=True
)
FACTORY_REPAIR_CLOSE_AFTER = Setting(
    "FACTORY_REPAIR_CLOSE_AFTER", whole_number(), default=3, strip=True
)
FACTORY_REPAIR_NAME = Setting("FACTORY_REPAIR_NAME")
FACTORY_REPAIR_EMAIL = Setting("FACTORY_REPAIR_EMAIL")
FACTORY_PAGES_REMOTE = Setting("FACTORY_PAGES_REMOTE")
FACTORY_PAGES_BRANCH = Setting("FACTORY_PAGES_BRANCH", default="gh-pages")
FACTORY_COMMIT_URL_TEMPLATE = Setting("FACTORY_COMMIT_URL_TEMPLATE")
FACTORY_DAGSTER_URL = Setting("FACTORY_DAGSTER_URL")
FACTORY_RUN_URL = Setting("FACTORY_RUN_URL")
_POSTGRES = "deploy/postgres/dagster.yaml"
DAGSTER_PG_HOST = Setting("DAGSTER_PG_HOST", outside=_POSTGRES)
DAGSTER_PG_PORT = Setting("DAGSTER_PG_PORT", outside=_POSTGRES)
DAGSTER_PG_USERNAME = Setting("DAGSTER_PG_USERNAME", outside=_POSTGRES)
DAGSTER_PG_PASSWORD = Setting("DAGSTER_PG_PASSWORD", secret, outside=_POSTGRES)
DAGSTER_PG_DB = Setting("DAGSTER_PG_DB", outside=_POSTGRES)
_ENTRYPOINT = "deploy/docker/entrypoint.sh"  # the container image's entrypoint
GIT_REPO_URL = Setting("GIT_REPO_URL", alias="DEPLOY_REPO_URL", outside=_ENTRYPOINT)
GIT_BRANCH = Setting("GIT_BRANCH", outside=_ENTRYPOINT)
GIT_TOKEN = Setting("GIT_TOKEN", secret, alias="DEPLOY_REPO_TOKEN", outside=_ENTRYPOINT)
FACTORY_CRASH_AT = Setting("FACTORY_CRASH_AT")  # a test hook: see promotion/crash.py
FACTORY_CLOCK_FILE = Setting("FACTORY_CLOCK_FILE", strip=True)  # a test hook: common/clock.py

# The README's "Environments and their registries" table.
FACTORY_ENVS = Setting("FACTORY_ENVS", names, strip=True, alias="ENV_ALLOWLIST")
HARBOR_URL_ENV = EnvSetting("HARBOR_URL_<ENV>", strip=True)
HARBOR_USERNAME_ENV = EnvSetting("HARBOR_USERNAME_<ENV>")
HARBOR_PASSWORD_ENV = EnvSetting("HARBOR_PASSWORD_<ENV>", secret)
SERVICE_MAP_PATH = Setting("SERVICE_MAP_PATH", strip=True)
FACTORY_REPLICATION_TIMEOUT = Setting(
    "FACTORY_REPLICATION_TIMEOUT", whole_number(), default=48 * 3600, strip=True
)
SMOKE_TARGETS = Setting("SMOKE_TARGETS", strip=True)
FACTORY_SMOKE_RECHECK_SECONDS = Setting(
    "FACTORY_SMOKE_RECHECK_SECONDS", whole_number(minimum=60), default=900, strip=True
)

Declared = Setting | EnvSetting

# Row by row, in the README's order: its first column names these variables.
ROWS: tuple[tuple[Declared, ...], ...] = (
    (FACTORY_REPO,),
    (DAGSTER_HOME,),
    (HARBOR_URL,),
    (HARBOR_USERNAME, HARBOR_PASSWORD),
    (HARBOR_TOKEN_REALM_HOSTS,),
    (HARBOR_REQUESTS_PER_SECOND,),
    (SSL_CERT_FILE, SSL_CERT_DIR),
    (ARGOCD_URL,),
    (ARGOCD_TOKEN,),
    (ARGOCD_APP_NAMESPACE,),
    (GITHUB_TOKEN,),
    (GITHUB_REPOSITORY,),
    (GITHUB_API_URL,),
    (FACTORY_RETRY_BASE_SECONDS, FACTORY_RETRY_MAX_SECONDS),
    (FACTORY_CLAIM_LEASE_SECONDS,),
    (FACTORY_RELEASE_RETENTION_DAYS,),
    (FACTORY_RESOLVE_CONCURRENCY,),
    (FACTORY_GIT_BRANCH,),
    (FACTORY_GIT_MAX_ATTEMPTS,),
    (FACTORY_GIT_AUTHOR_NAME, FACTORY_GIT_AUTHOR_EMAIL),
    (FACTORY_ESCALATE_AFTER,),
    (FACTORY_REPAIR_MAX_ATTEMPTS,),
    (FACTORY_REPAIR_CLOSE_AFTER,),
    (FACTORY_REPAIR_NAME, FACTORY_REPAIR_EMAIL),
    (FACTORY_PAGES_REMOTE, FACTORY_PAGES_BRANCH),
    (FACTORY_COMMIT_URL_TEMPLATE,),
    (FACTORY_DAGSTER_URL,),
    (FACTORY_RUN_URL,),
    (DAGSTER_PG_HOST, DAGSTER_PG_PORT, DAGSTER_PG_USERNAME, DAGSTER_PG_PASSWORD, DAGSTER_PG_DB),
    (GIT_REPO_URL, GIT_BRANCH, GIT_TOKEN),
    (FACTORY_CRASH_AT,),
    (FACTORY_CLOCK_FILE,),
    # Environments and their registries
    (FACTORY_ENVS,),
    (HARBOR_URL_ENV, HARBOR_USERNAME_ENV, HARBOR_PASSWORD_ENV),
    (SERVICE_MAP_PATH,),
    (FACTORY_REPLICATION_TIMEOUT,),
    (SMOKE_TARGETS,),
    (FACTORY_SMOKE_RECHECK_SECONDS,),
)
SETTINGS: tuple[Declared, ...] = tuple(setting for row in ROWS for setting in row)
