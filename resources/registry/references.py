"""Image references (host/repository, tag, digest) checked against the distribution grammar before any request."""

from __future__ import annotations

import re

from resources.registry.errors import InvalidReference

_COMPONENT = r"[a-z0-9]+(?:[._-][a-z0-9]+)*"
_REPOSITORY_RE = re.compile(rf"{_COMPONENT}(?:/{_COMPONENT})*")
_TAG_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,127}")
DIGEST_RE = re.compile(r"sha256:[a-f0-9]{64}|sha512:[a-f0-9]{128}")
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_HOST_RE = re.compile(
    rf"(?:{_LABEL}(?:\.{_LABEL})*|\[[0-9A-Fa-f:.]+\])(?::(?P<port>[0-9]{{1,5}}))?"
)
_MAX_REPOSITORY_LENGTH = 255


def show(value: object, limit: int = 80) -> str:
    """A bounded repr of untrusted input for error messages."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def parse_image(image: str) -> tuple[str, str]:
    """Split `host[:port]/path/repo` into (host, repository); no tag or digest allowed."""
    if not isinstance(image, str) or not image:
        raise InvalidReference(f"image must be a non-empty string, got {show(image)}")
    host, sep, repository = image.partition("/")
    if not sep or not repository:
        raise InvalidReference(f"image {show(image)} must look like host[:port]/repository")
    if "@" in repository or ":" in repository:
        raise InvalidReference(
            f"image {show(image)} must not carry a tag or digest; pass tag= or digest="
        )
    match = _HOST_RE.fullmatch(host)
    if match is None or (match["port"] is not None and not 0 < int(match["port"]) < 65536):
        raise InvalidReference(f"image {show(image)} has an invalid registry host")
    if len(repository) > _MAX_REPOSITORY_LENGTH or not _REPOSITORY_RE.fullmatch(repository):
        raise InvalidReference(
            f"image {show(image)}: repository must be lowercase components "
            "[a-z0-9]+([._-][a-z0-9]+)* joined by '/'"
        )
    return host, repository


def validate_tag(tag: str) -> str:
    """Return `tag` if it matches [A-Za-z0-9_][A-Za-z0-9._-]{0,127}, else raise InvalidReference."""
    if not isinstance(tag, str) or not _TAG_RE.fullmatch(tag):
        raise InvalidReference(f"tag {show(tag)} must match [A-Za-z0-9_][A-Za-z0-9._-]{{0,127}}")
    return tag


def validate_digest(digest: str) -> str:
    """Return `digest` if it is sha256:<64 hex> or sha512:<128 hex> (lowercase), else raise."""
    if not isinstance(digest, str) or not DIGEST_RE.fullmatch(digest):
        raise InvalidReference(
            f"digest {show(digest)} must be sha256:<64 lowercase hex> or sha512:<128 lowercase hex>"
        )
    return digest


def compute_digest(body: bytes, algorithm: str = "sha256") -> str:
    """`<algorithm>:<hex>` of exactly these bytes."""
    import hashlib  # here: OpenSSL's binding is costly to load, and checking a reference needs none

    return f"{algorithm}:{hashlib.new(algorithm, body).hexdigest()}"


def host_port(host: str, default_port: int) -> tuple[str, int]:
    """Normalize `host[:port]` (or `[v6]:port`) to (lowercase host, port)."""
    if host.startswith("["):
        name, _, rest = host[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else ""
    else:
        name, _, port = host.partition(":")
    return name.lower(), int(port) if port else default_port
