"""The service map (`release/services.yaml` and its profiles): where each (service, env) deploys.

Shape: `services.<service>.envs.<env>` with `overlayPath`, `kustomizeImageName`,
`harborImage`, `argocdApp` and optionally `deployImage`. A map that is not that shape refuses
the whole pass; a target missing a field refuses only the requests for that target.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from factory_assets.common import roundtrip_yaml, yaml_lists
from factory_assets.common.errors import InputError

REQUIRED_KEYS = ("overlayPath", "kustomizeImageName", "harborImage")
OPTIONAL_KEYS = ("argocdApp", "deployImage")


@dataclass(frozen=True)
class MapTarget:
    """One `services.<service>.envs.<env>` entry as written (values may be missing)."""

    service: str
    env: str
    fields: dict[str, str]
    where: str  # `services.web.envs.prod`, for error messages

    def get(self, key: str) -> str | None:
        value = self.fields.get(key)
        return value if isinstance(value, str) and value.strip() else None


@dataclass(frozen=True)
class ServiceMap:
    path: str
    targets: dict[tuple[str, str], MapTarget]

    def target(self, service: str, env: str) -> MapTarget | None:
        return self.targets.get((service, env))

    def services(self) -> list[str]:
        return sorted({service for service, _ in self.targets})


def parse_service_map(data: Any, path: str) -> ServiceMap:
    """Validate the map's structure; per-target fields are checked when a target is used."""
    if not isinstance(data, dict):
        raise InputError(
            path, "-", f"expected a mapping with `services:`, found {roundtrip_yaml.kind_of(data)}"
        )
    if not isinstance(data.get("services"), dict):
        found = roundtrip_yaml.kind_of(data.get("services")) if "services" in data else "nothing"
        raise InputError(path, "services", f"expected a mapping of services, found {found}")
    targets: dict[tuple[str, str], MapTarget] = {}
    for service, body in data["services"].items():
        where = f"services.{service}"
        if not isinstance(body, dict) or not isinstance(body.get("envs"), dict):
            raise InputError(path, f"{where}.envs", "expected a mapping of environments")
        for env, fields in body["envs"].items():
            if not isinstance(fields, dict):
                raise InputError(
                    path,
                    f"{where}.envs.{env}",
                    f"expected a mapping, found {roundtrip_yaml.kind_of(fields)}",
                )
            plain = {str(k): v if isinstance(v, str) else str(v) for k, v in fields.items()}
            targets[(str(service), str(env))] = MapTarget(
                str(service), str(env), plain, f"{where}.envs.{env}"
            )
    return ServiceMap(path, targets)


def load_service_map(repo: Path, relative: str) -> ServiceMap:
    """Read the map at `relative` (the profile chosen by factory.yaml or SERVICE_MAP_PATH)."""
    path = Path(repo) / relative
    if not path.is_file():
        raise InputError(
            relative, "-", "the service map does not exist (factory.yaml: service_map)"
        )
    # Read-only here: libyaml with ruamel's YAML 1.2 reading, ten times faster than a round trip.
    text = roundtrip_yaml.read_text(path)
    return parse_service_map(yaml_lists.load(text, relative, yaml_lists.YAML12_LOADER), relative)
