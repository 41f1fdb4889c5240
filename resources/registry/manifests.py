"""Manifest media types and the record of each manifest request, kept as evidence of what a pin proved."""

from __future__ import annotations

import json
from dataclasses import dataclass

import httpx

from resources.registry.errors import RegistryError
from resources.registry.references import show

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
MANIFEST_MEDIA_TYPES = (OCI_INDEX, DOCKER_MANIFEST_LIST, OCI_MANIFEST, DOCKER_MANIFEST)
INDEX_MEDIA_TYPES = (OCI_INDEX, DOCKER_MANIFEST_LIST)
MANIFEST_ACCEPT = ", ".join(MANIFEST_MEDIA_TYPES)

# distribution refuses manifests above 4 MiB; anything bigger is not a manifest we should hash.
MAX_MANIFEST_BYTES = 4 * 1024 * 1024


@dataclass(frozen=True)
class ManifestVerification:
    """One manifest request and what it proved (kept as evidence)."""

    url: str
    method: str
    accept: str
    status: int
    header_digest: str | None
    computed_digest: str | None
    media_type: str | None
    size: int | None


@dataclass(frozen=True)
class ResolvedDigest:
    """An image reference resolved to the digest of exact manifest bytes."""

    image: str
    reference: str
    digest: str
    media_type: str
    size: int
    verifications: tuple[ManifestVerification, ...]


def manifest_media_type(response: httpx.Response, body: bytes, what: str) -> str:
    """The manifest media type, from Content-Type and the body's own mediaType, which must agree."""
    try:
        document = json.loads(body)
    except ValueError:
        raise RegistryError(f"{what}: manifest body is not JSON") from None
    if not isinstance(document, dict):
        raise RegistryError(f"{what}: manifest body is not a JSON object")
    header = response.headers.get("Content-Type", "").split(";", 1)[0].strip().lower()
    declared = document.get("mediaType")
    if header in MANIFEST_MEDIA_TYPES:
        if declared is not None and declared != header:
            raise RegistryError(f"{what}: Content-Type {header} contradicts the manifest mediaType")
        return header
    if isinstance(declared, str) and declared in MANIFEST_MEDIA_TYPES:
        return declared
    raise RegistryError(f"{what}: unsupported manifest media type {show(header or declared)}")
