"""Which lanes this runner smoke-checks: those of its own environments (FACTORY_ENVS, then `--env`).

Each cluster runs its own smoke runner, which sees only its own Argo CD and its own in-cluster
endpoints. A lane of another environment checked from here would find no application and record
a failure for a service that is healthy where it runs: false evidence. Such lanes are not
checked, nothing is written for them, and the run says so in one line.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from factory_assets.common.errors import UsageError
from factory_assets.layout.config import DEFAULT_ENV, ENV_RE, allowed_envs, load_layout
from factory_assets.pins.lane_view import lane_services

Lane = tuple[str, str]  # (service, env)


@dataclass(frozen=True)
class SmokeScope:
    """The lanes a smoke run checks, and those it leaves to the runners of their environments."""

    lanes: tuple[Lane, ...]  # by environment, then service
    outside: tuple[tuple[str, tuple[str, ...]], ...] = ()  # (env, its services), not checked
    limit: tuple[str, ...] = ()  # this runner's environments (FACTORY_ENVS), when set
    envs: tuple[str, ...] = ()  # the environments looked in (some may have no lane)

    def not_checked_line(self) -> str | None:
        """`not checked here: prod (api, web): outside this runner's environments dev
        (FACTORY_ENVS)`, or None when every lane is this runner's."""
        if not self.outside:
            return None
        lanes = ", ".join(f"{env} ({', '.join(services)})" for env, services in self.outside)
        return (
            f"not checked here: {lanes}: outside this runner's environments "
            f"{', '.join(self.limit)} (FACTORY_ENVS)"
        )


def not_checked_here(service: str, env: str) -> str | None:
    """Why this runner does not check the lane (its env is outside FACTORY_ENVS), else None."""
    allowed = allowed_envs()
    if allowed is None or env in allowed:
        return None
    return SmokeScope((), ((env, (service,)),), tuple(sorted(allowed))).not_checked_line()


def smoke_scope(
    repo: Path, services: Sequence[str] | None = None, requested: Sequence[str] | None = None
) -> SmokeScope:
    """The lanes to check: of `requested` environments (each within FACTORY_ENVS, else a usage
    error, as `factory promote --env`), else of the declared ones within FACTORY_ENVS (the
    factory's own layout without factory.yaml: dev, or the FACTORY_ENVS ones); `services`
    limits them (default: every service with a pin file or a smoke target there)."""
    allowed = allowed_envs()
    limit = tuple(sorted(allowed)) if allowed is not None else ()
    if requested:
        for name in requested:
            if not ENV_RE.fullmatch(name):
                raise UsageError(f"--env: {name!r} is not an environment name")
            if allowed is not None and name not in allowed:
                raise UsageError(f"--env {name}: not in FACTORY_ENVS ({', '.join(limit)})")
        checked, others = list(dict.fromkeys(requested)), []
    else:
        checked, others = _default_envs(repo, allowed)

    def of(env: str) -> list[str]:
        return list(services) if services is not None else lane_services(repo, env)

    outside = []
    for env in others:
        found = lane_services(repo, env)
        names = [s for s in found if services is None or s in services]
        if names:
            outside.append((env, tuple(names)))
    lanes = tuple((name, env) for env in checked for name in of(env))
    return SmokeScope(lanes, tuple(outside), limit, tuple(checked))


def _default_envs(repo: Path, allowed: frozenset[str] | None) -> tuple[list[str], list[str]]:
    """(the environments checked, those with lanes that FACTORY_ENVS leaves out)."""
    declared = load_layout(repo).env_names()
    if declared is None:  # the factory's own layout: any environment that has pin files
        if allowed is None:
            return [DEFAULT_ENV], []
        root = Path(repo) / "envs"
        present = sorted(p.name for p in root.iterdir() if p.is_dir()) if root.is_dir() else []
        return sorted(allowed), [e for e in present if ENV_RE.fullmatch(e) and e not in allowed]
    if allowed is None:
        return declared, []
    return [e for e in declared if e in allowed], [e for e in declared if e not in allowed]


def scope_at_remote_head(repo: Path) -> SmokeScope:
    """The lanes a scheduled run checks, read at the freshly fetched remote head."""
    from resources.gitops import GitopsWriter

    return GitopsWriter(repo).snapshot(smoke_scope)
