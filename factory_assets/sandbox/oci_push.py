"""Push small real OCI/Docker images and indexes through the OCI upload API; digests of the exact bytes sent."""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import json
import re
import tarfile
from collections.abc import Generator, Sequence
from dataclasses import dataclass
from typing import Literal

import httpx

from factory_assets.sandbox.registry_server import RegistryEndpoint

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
ALL_MANIFEST_TYPES = (OCI_INDEX, DOCKER_LIST, OCI_MANIFEST, DOCKER_MANIFEST)
FULL_ACCEPT = ", ".join(ALL_MANIFEST_TYPES)

_CONFIG_TYPE = {
    "oci": "application/vnd.oci.image.config.v1+json",
    "docker": "application/vnd.docker.container.image.v1+json",
}
_LAYER_TYPE = {
    "oci": "application/vnd.oci.image.layer.v1.tar+gzip",
    "docker": "application/vnd.docker.image.rootfs.diff.tar.gzip",
}
_MANIFEST_TYPE = {"oci": OCI_MANIFEST, "docker": DOCKER_MANIFEST}

Flavor = Literal["oci", "docker"]


class PushError(RuntimeError):
    """The registry refused a step of a push (the message has its status and answer)."""


def sha256_digest(data: bytes) -> str:
    """`sha256:<hex>` of exactly these bytes."""
    return "sha256:" + hashlib.sha256(data).hexdigest()


def canonical_json(value: object) -> bytes:
    """Stable JSON bytes, so the same inputs always give the same digest."""
    return json.dumps(value, sort_keys=True, separators=(",", ":")).encode()


class PushAuth(httpx.Auth):
    """Basic or Bearer-challenge auth for pushes; fetches a token per challenge, no caching.

    Independent of resources.registry on purpose: the tests push with it, so the client they
    test is never the one that put the images there.
    """

    def __init__(self, username: str | None, password: str | None) -> None:
        self._username = username
        self._password = password

    def __repr__(self) -> str:
        return "PushAuth(***)"

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        response = yield request
        if response.status_code != 401 or self._username is None:
            return
        challenge = response.headers.get("WWW-Authenticate", "")
        scheme, _, params = challenge.partition(" ")
        if scheme.lower() == "basic":
            raw = f"{self._username}:{self._password or ''}".encode()
            request.headers["Authorization"] = "Basic " + base64.b64encode(raw).decode("ascii")
            yield request
        elif scheme.lower() == "bearer":
            fields = dict(re.findall(r'(\w+)="([^"]*)"', params))
            query = {k: fields[k] for k in ("service", "scope") if k in fields}
            with httpx.Client(verify=False, timeout=10) as token_client:
                token_response = token_client.get(
                    fields["realm"], params=query, auth=(self._username, self._password or "")
                )
            token_response.raise_for_status()
            data = token_response.json()
            request.headers["Authorization"] = f"Bearer {data.get('token') or data['access_token']}"
            yield request


def push_auth(endpoint: RegistryEndpoint) -> httpx.Auth | None:
    """Auth a push needs for `endpoint` (None for an open registry)."""
    if endpoint.auth_kind == "none":
        return None
    return PushAuth(endpoint.username, endpoint.password)


def _client(registry: RegistryEndpoint) -> httpx.Client:
    # verify=False: loopback sandbox registries only, and it saves ~40 ms of CA loading per client.
    return httpx.Client(base_url=registry.url, auth=push_auth(registry), timeout=30, verify=False)


def _layer_tar_gz(content: bytes) -> tuple[bytes, str]:
    """Return (gzipped tar holding one file with `content`, diff_id of the uncompressed tar)."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        info = tarfile.TarInfo("content.txt")
        info.size = len(content)
        info.mtime = 0
        info.mode = 0o644
        tar.addfile(info, io.BytesIO(content))
    tar_bytes = raw.getvalue()
    return gzip.compress(tar_bytes, mtime=0), sha256_digest(tar_bytes)


def _parse_platform(platform: str) -> dict[str, str]:
    parts = platform.split("/")
    if len(parts) not in (2, 3):
        raise ValueError(f"platform must be os/arch[/variant], got {platform!r}")
    result = {"os": parts[0], "architecture": parts[1]}
    if len(parts) == 3:
        result["variant"] = parts[2]
    return result


def push_blob(client: httpx.Client, repository: str, data: bytes) -> str:
    """Upload `data` as a blob (monolithic POST + PUT ?digest=), skipping it if already present."""
    digest = sha256_digest(data)
    if client.head(f"/v2/{repository}/blobs/{digest}").status_code == 200:
        return digest
    started = client.post(f"/v2/{repository}/blobs/uploads/")
    if started.status_code != 202:
        raise PushError(f"blob upload start: {started.status_code} {started.text}")
    # Location carries upload state in its query (_state=...): add digest, keep the rest.
    location = httpx.URL(started.headers["Location"]).copy_merge_params({"digest": digest})
    finished = client.put(
        location,
        content=data,
        headers={"Content-Type": "application/octet-stream"},
    )
    if finished.status_code != 201:
        raise PushError(f"blob upload finish: {finished.status_code} {finished.text}")
    return digest


def push_manifest(
    registry: RegistryEndpoint, repository: str, reference: str, body: bytes, media_type: str
) -> str:
    """PUT `body` as a manifest under `reference` (tag or digest); return its computed digest."""
    with _client(registry) as client:
        response = client.put(
            f"/v2/{repository}/manifests/{reference}",
            content=body,
            headers={"Content-Type": media_type},
        )
    if response.status_code != 201:
        raise PushError(f"manifest put: {response.status_code} {response.text}")
    digest = sha256_digest(body)
    answered = response.headers.get("Docker-Content-Digest")
    if answered not in (None, digest):
        raise PushError(f"manifest put: the registry stored {answered}, not {digest}")
    return digest


def push_image(
    registry: RegistryEndpoint,
    repository: str,
    tag: str | None = None,
    *,
    platform: str = "linux/amd64",
    content: bytes = b"factory test image\n",
    flavor: Flavor = "oci",
) -> str:
    """Push config + one layer + manifest; tag it if `tag`, else push by digest. Return the digest."""
    layer, diff_id = _layer_tar_gz(content)
    config = canonical_json(
        {
            **_parse_platform(platform),
            "config": {},
            "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        }
    )
    with _client(registry) as client:
        config_digest = push_blob(client, repository, config)
        layer_digest = push_blob(client, repository, layer)
    manifest = canonical_json(
        {
            "schemaVersion": 2,
            "mediaType": _MANIFEST_TYPE[flavor],
            "config": {
                "mediaType": _CONFIG_TYPE[flavor],
                "digest": config_digest,
                "size": len(config),
            },
            "layers": [
                {"mediaType": _LAYER_TYPE[flavor], "digest": layer_digest, "size": len(layer)}
            ],
        }
    )
    reference = tag if tag is not None else sha256_digest(manifest)
    return push_manifest(registry, repository, reference, manifest, _MANIFEST_TYPE[flavor])


def get_manifest(
    registry: RegistryEndpoint, repository: str, reference: str, accept: str = FULL_ACCEPT
) -> httpx.Response:
    """GET a manifest with an explicit Accept header (a narrow one shows the single-arch trap)."""
    with _client(registry) as client:
        return client.get(f"/v2/{repository}/manifests/{reference}", headers={"Accept": accept})


def _descriptor(registry: RegistryEndpoint, repository: str, digest: str) -> dict:
    """Index descriptor of an already-pushed child manifest, with platform read from its config."""
    response = get_manifest(registry, repository, digest)
    if response.status_code != 200:
        raise PushError(f"child {digest}: {response.status_code} {response.text}")
    body = response.content
    if sha256_digest(body) != digest:
        raise PushError(f"child {digest}: the registry served other bytes")
    media_type = response.headers["Content-Type"]
    config_digest = json.loads(body)["config"]["digest"]
    with _client(registry) as client:
        config = client.get(f"/v2/{repository}/blobs/{config_digest}").json()
    platform = {"architecture": config["architecture"], "os": config["os"]}
    if "variant" in config:
        platform["variant"] = config["variant"]
    return {"mediaType": media_type, "digest": digest, "size": len(body), "platform": platform}


def push_index(
    registry: RegistryEndpoint,
    repository: str,
    tag: str | None,
    children: Sequence[str],
    *,
    docker: bool = False,
) -> str:
    """Push an OCI index (or a Docker manifest list if `docker`) over pushed child digests."""
    media_type = DOCKER_LIST if docker else OCI_INDEX
    body = canonical_json(
        {
            "schemaVersion": 2,
            "mediaType": media_type,
            "manifests": [_descriptor(registry, repository, child) for child in children],
        }
    )
    reference = tag if tag is not None else sha256_digest(body)
    return push_manifest(registry, repository, reference, body, media_type)


@dataclass(frozen=True)
class MultiArch:
    """A pushed multi-arch image: the index digest and each child's digest by platform."""

    index_digest: str
    children: dict[str, str]


def push_multiarch(
    registry: RegistryEndpoint,
    repository: str,
    tag: str | None,
    platforms: Sequence[str] = ("linux/amd64", "linux/arm64"),
    *,
    docker: bool = False,
    content: bytes = b"factory multi-arch\n",
) -> MultiArch:
    """Push one child per platform (untagged) and an index over them tagged `tag`."""
    flavor: Flavor = "docker" if docker else "oci"
    children = {
        platform: push_image(
            registry, repository, None, platform=platform, content=content, flavor=flavor
        )
        for platform in platforms
    }
    index = push_index(registry, repository, tag, list(children.values()), docker=docker)
    return MultiArch(index, children)


def delete_manifest(registry: RegistryEndpoint, repository: str, digest: str) -> None:
    """Delete a manifest by digest (the sandbox registries run with deletes enabled)."""
    with _client(registry) as client:
        response = client.delete(f"/v2/{repository}/manifests/{digest}")
    if response.status_code != 202:
        raise PushError(f"manifest delete: {response.status_code} {response.text}")
