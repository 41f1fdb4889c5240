"""OCI distribution (Harbor /v2/) client: resolve a tag or digest to a verified manifest digest.

Plain httpx, no dagster. One module per concern: `references` (the grammar, checked before any
request), `manifests` (media types, what a request proved), `transport` (TLS, rate limit,
retries, redirects), `auth` (`BearerAuth`, an httpx auth flow), `errors`, and `client`
(`RegistryClient`); `environments` picks each environment's registry (`EnvRegistries`,
`registry_for`). Import from here, but `environments` by its own path. What it guarantees:

* Digests are computed from the exact manifest bytes (`Docker-Content-Digest` is recorded, and
  must agree when present, but is never trusted on its own). Every manifest request sends all
  four manifest media types, index types first, so a multi-arch tag pins the index digest.
* Only HARBOR_URL's host is ever contacted for registry requests: an image on another host is
  refused before any request (`HostNotAllowed`), and redirects are followed only within
  HARBOR_URL's origin (scheme, host and port). The one exception is the Bearer token realm: it is
  taken from the `WWW-Authenticate` challenge of that same registry; its host must be
  HARBOR_URL's (Harbor serves tokens at /service/token) or one listed in
  HARBOR_TOKEN_REALM_HOSTS, and it must be https whenever HARBOR_URL is https, so Basic
  credentials never go to a host, or in clear text, the operator did not opt into.
* Credentials and tokens live only in request headers: they never appear in exception messages,
  `repr()`s or URLs, and every message is scrubbed of them before it is raised.
* TLS is always verified (certifi, or SSL_CERT_FILE / SSL_CERT_DIR for a private CA); plain http
  only when HARBOR_URL says http. Environment proxies and .netrc are ignored (trust_env=False).
* Polite: bounded connection pool (`max_connections`), a client-side rate limit (20 requests/s by
  default, the Kargo/Argo CD Image Updater default), bounded retries with backoff on 5xx/429 and
  transport errors, tokens cached per scope until shortly before they expire.
"""

from __future__ import annotations

import importlib

# Name -> the submodule that defines it. Each is imported on first use (PEP 562): the
# grammar (`references`) and the errors need no httpx, so a command that only checks a
# reference, like `factory release add`, starts without the HTTP stack.
_DEFINED_IN = {
    "BearerAuth": "auth",
    "Credentials": "auth",
    "RegistryClient": "client",
    "DigestMismatch": "errors",
    "HostNotAllowed": "errors",
    "InvalidReference": "errors",
    "ManifestNotFound": "errors",
    "RegistryAuthError": "errors",
    "RegistryConfigError": "errors",
    "RegistryError": "errors",
    "RegistryUnavailable": "errors",
    "DOCKER_MANIFEST": "manifests",
    "DOCKER_MANIFEST_LIST": "manifests",
    "INDEX_MEDIA_TYPES": "manifests",
    "MANIFEST_ACCEPT": "manifests",
    "MANIFEST_MEDIA_TYPES": "manifests",
    "MAX_MANIFEST_BYTES": "manifests",
    "OCI_INDEX": "manifests",
    "OCI_MANIFEST": "manifests",
    "ManifestVerification": "manifests",
    "ResolvedDigest": "manifests",
    "compute_digest": "references",
    "parse_image": "references",
    "validate_digest": "references",
    "validate_tag": "references",
    "MAX_ERROR_BODY_BYTES": "transport",
    "MAX_REDIRECTS": "transport",
    "MAX_RETRY_AFTER_SECONDS": "transport",
    "USER_AGENT": "transport",
    "requests_per_second_from_env": "transport",
}


def __getattr__(name: str) -> object:
    module = _DEFINED_IN.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value  # later lookups find it without this hook
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_DEFINED_IN})


__all__ = [
    "BearerAuth",
    "Credentials",
    "DOCKER_MANIFEST",
    "DOCKER_MANIFEST_LIST",
    "DigestMismatch",
    "HostNotAllowed",
    "INDEX_MEDIA_TYPES",
    "InvalidReference",
    "MANIFEST_ACCEPT",
    "MANIFEST_MEDIA_TYPES",
    "MAX_ERROR_BODY_BYTES",
    "MAX_MANIFEST_BYTES",
    "MAX_REDIRECTS",
    "MAX_RETRY_AFTER_SECONDS",
    "ManifestNotFound",
    "ManifestVerification",
    "OCI_INDEX",
    "OCI_MANIFEST",
    "RegistryAuthError",
    "RegistryClient",
    "RegistryConfigError",
    "RegistryError",
    "RegistryUnavailable",
    "ResolvedDigest",
    "USER_AGENT",
    "compute_digest",
    "parse_image",
    "requests_per_second_from_env",
    "validate_digest",
    "validate_tag",
]
