"""One registry per environment: `HARBOR_URL_<ENV>`, else `HARBOR_URL`.

Each environment's cluster pulls from its own Harbor, so a digest is verified on the
registry of the environment it is promoted to. `HARBOR_USERNAME_<ENV>` and
`HARBOR_PASSWORD_<ENV>` fall back to the unsuffixed variables only when the environment's
registry is HARBOR_URL's own host: one registry's credentials never reach another host.
"""

from __future__ import annotations

import threading

import httpx

from factory_assets.common import settings
from resources.registry.client import RegistryClient
from resources.registry.errors import RegistryConfigError
from resources.registry.transport import requests_per_second_from_env


def _host(url: str) -> str | None:
    try:
        return httpx.URL(url).netloc.decode("ascii").lower() or None
    except (httpx.InvalidURL, TypeError):
        return None


def env_settings(env: str) -> tuple[str, str | None, str | None, str]:
    """(url, username, password, the variable the url came from) for `env`'s registry."""
    own_url = settings.HARBOR_URL_ENV.variable(env)
    base = settings.HARBOR_URL.get() or ""
    own = settings.HARBOR_URL_ENV.get(env) or ""
    url, source = (own, own_url) if own else (base, settings.HARBOR_URL.name)
    if not url:
        raise RegistryConfigError("HARBOR_URL", f"not set (nor {own_url})")
    username = settings.HARBOR_USERNAME_ENV.get(env)
    password = settings.reveal(settings.HARBOR_PASSWORD_ENV.get(env))
    if username is None and password is None and (not own or _host(own) == _host(base)):
        username = settings.HARBOR_USERNAME.get()
        password = settings.reveal(settings.HARBOR_PASSWORD.get())
    if (username is None) != (password is None):
        raise RegistryConfigError(
            f"{settings.HARBOR_USERNAME_ENV.variable(env)}/"
            f"{settings.HARBOR_PASSWORD_ENV.variable(env)}",
            "set both, or neither",
        )
    return url, username, password, source


class EnvRegistries:
    """Registry clients by environment, built on first use from the environment variables."""

    def __init__(self) -> None:
        self._clients: dict[str, RegistryClient] = {}
        self._lock = threading.Lock()

    def for_env(self, env: str) -> RegistryClient:
        with self._lock:
            if env not in self._clients:
                url, username, password, _ = env_settings(env)
                # Not from_env: it would fall back to HARBOR_USERNAME for another host.
                self._clients[env] = RegistryClient(
                    url,
                    username,
                    password,
                    requests_per_second=requests_per_second_from_env(),
                    token_realm_hosts=settings.HARBOR_TOKEN_REALM_HOSTS.get(),
                )
            return self._clients[env]

    def close(self) -> None:
        with self._lock:
            for client in self._clients.values():
                client.close()
            self._clients.clear()


def on_registry(image: str, host: str) -> str:
    """`image`'s repository on the registry at `host` (Harbor replication keeps the path)."""
    return f"{host}/{image.partition('/')[2]}"


def registry_for(registry: RegistryClient | EnvRegistries, env: str) -> RegistryClient:
    """The client for `env`: one per environment, or the single client a caller passed."""
    return registry.for_env(env) if isinstance(registry, EnvRegistries) else registry
