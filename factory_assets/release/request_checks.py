"""What a new request's fields are checked against, in every queue format: the registry host
images may come from (HARBOR_URL's), and the argument a bad field came from."""

from __future__ import annotations

import getpass
from urllib.parse import urlsplit

from factory_assets.common import settings
from factory_assets.common.errors import InputError
from factory_assets.common.plain_model import ValidationError

ARGS = "arguments"
_DEFAULT_PORTS = {"http": "80", "https": "443"}
# ReleaseEntry field -> the `factory release add` argument that gives it
_ARGUMENTS = {
    "tag": "--tag",
    "digest": "--digest",
    "image": "--image",
    "requested_by": "--by",
    "id": "--id",
}


def harbor_host(harbor_url: str | None = None) -> str:
    """`host[:port]` of HARBOR_URL, the only registry images may come from.

    Read with the standard library (the HTTP stack is imported only to talk to a registry),
    to the same `host[:port]` the registry client's httpx reading gives.
    """
    url = (harbor_url if harbor_url is not None else settings.HARBOR_URL.get() or "").strip()
    if not url:
        raise InputError(
            "environment", "HARBOR_URL", "not set: it names the registry every image must come from"
        )
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - a port that is not a number in range makes no URL
        netloc = parts.netloc.rpartition("@")[2]
        if any(char.isspace() or not char.isprintable() for char in url):
            raise ValueError("whitespace or control characters")
        netloc = netloc.encode("idna").decode("ascii")  # as httpx: an IDN host in its A-label
    except (ValueError, UnicodeError):
        raise InputError("environment", "HARBOR_URL", "not a valid URL") from None
    if parts.scheme not in _DEFAULT_PORTS or not parts.hostname:
        raise InputError(
            "environment", "HARBOR_URL", "must be an http:// or https:// URL with a host"
        )
    return normal_host(netloc, parts.scheme)


def normal_host(host: str, scheme: str = "https") -> str:
    host = host.lower()
    default = _DEFAULT_PORTS.get(scheme)
    return host.removesuffix(f":{default}") if default else host


def argument_error(exc: ValidationError) -> InputError:
    """The first problem of a request that does not validate, naming the argument it came from."""
    err = exc.errors(include_url=False)[0]
    loc = str(err["loc"][0]) if err["loc"] else "-"
    problem = str(err["msg"]).removeprefix("Value error, ")
    return InputError(ARGS, _ARGUMENTS.get(loc, loc), problem)


def current_user() -> str:
    try:
        return getpass.getuser() or "unknown"
    except (KeyError, OSError):
        return "unknown"
