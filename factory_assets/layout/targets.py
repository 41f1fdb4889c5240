"""(service, env) -> Target: where the pin lives, what to verify, what to deploy.

The engine's steps take a Target and never a path, so both layouts run one code path:
a pin file (`envs/<env>/<service>.yaml`) or an overlay `images:` entry found through the
service map.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from factory_assets.common.errors import InputError
from factory_assets.layout.config import Layout, PinKind, load_layout
from factory_assets.layout.service_map import REQUIRED_KEYS, ServiceMap, load_service_map


@dataclass(frozen=True)
class Target:
    """Everything a promotion step needs to know about one (service, env)."""

    service: str
    env: str
    kind: PinKind  # as factory.yaml spells it: `pin-files` or `overlays`
    path: str  # the file the pin is written to, relative to the repository
    image_name: str | None = None  # overlay: the `images[].name` kustomize matches
    verify_image: str | None = None  # overlay: `harborImage`, the replica this env pulls
    deploy_image: str | None = None  # overlay: `deployImage`; None: the request's repository
    argocd_app: str | None = None

    @property
    def lane(self) -> tuple[str, str]:
        return (self.service, self.env)

    def verify_reference(self, requested_image: str) -> str:
        """The repository whose digest is checked on the env's registry."""
        return self.verify_image or requested_image

    def deploy_reference(self, requested_image: str) -> str:
        """The repository the overlay points at: deployImage, else the request's, else harbor."""
        return self.deploy_image or requested_image or self.verify_image or ""


class TargetError(InputError):
    """The repository names no usable target for (service, env): the request is refused."""


def pin_file_path(service: str, env: str) -> str:
    return f"envs/{env}/{service}.yaml"


@dataclass
class TargetResolver:
    """Targets of one repository tree, reading factory.yaml and the service map once."""

    repo: Path
    layout: Layout
    _map: ServiceMap | None = None

    @classmethod
    def for_tree(cls, repo: Path) -> TargetResolver:
        return cls(Path(repo), load_layout(repo))

    @property
    def service_map(self) -> ServiceMap | None:
        """The map (loaded on first use); a map that does not parse refuses the whole pass."""
        if self._map is None and self.layout.service_map:
            self._map = load_service_map(self.repo, self.layout.service_map)
        return self._map

    def target(self, service: str, env: str) -> Target:
        kind = self.layout.pin_kind(env)
        if kind is None:
            raise TargetError(
                "factory.yaml",
                "environments",
                f"no environment {env!r} (declared: {', '.join(self.layout.env_names() or [])})",
            )
        if kind == "pin-files":
            return Target(service, env, kind, pin_file_path(service, env))
        smap = self.service_map
        assert smap is not None  # LayoutFile requires a map for overlays
        found = smap.target(service, env)
        if found is None:
            raise TargetError(
                smap.path, f"services.{service}.envs.{env}", "no such target in the service map"
            )
        for key in REQUIRED_KEYS:
            if found.get(key) is None:
                raise TargetError(smap.path, f"{found.where}.{key}", "missing or empty")
        overlay = found.get("overlayPath") or ""
        if not (self.repo / overlay).is_file():
            raise TargetError(
                smap.path, f"{found.where}.overlayPath", f"overlay file not found: {overlay}"
            )
        return Target(
            service,
            env,
            kind,
            overlay,
            image_name=found.get("kustomizeImageName"),
            verify_image=found.get("harborImage"),
            deploy_image=found.get("deployImage"),
            argocd_app=found.get("argocdApp"),
        )
