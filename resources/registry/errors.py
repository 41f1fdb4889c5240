"""What can go wrong talking to a registry, as precise exceptions that say whether a retry can help."""

from __future__ import annotations

from factory_assets.common.errors import FactoryError


def _rebuild_error(cls: type[RegistryError], message: str, retryable: bool, status: int | None):
    return cls(message, retryable=retryable, status=status)


class RegistryError(FactoryError):
    """A registry operation failed; `retryable` says whether trying again later can help."""

    retryable: bool = False

    def __init__(
        self, message: str, *, retryable: bool | None = None, status: int | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        if retryable is not None:
            self.retryable = retryable

    def __reduce__(self):
        return (_rebuild_error, (type(self), self.message, self.retryable, self.status))


class RegistryAuthError(RegistryError):
    """401/403 after every auth attempt: wrong credentials or missing permission."""

    retryable = False


class ManifestNotFound(RegistryError):
    """404: retryable for a bounded number of attempts (a replica may not have it yet)."""

    retryable = True


class RegistryUnavailable(RegistryError):
    """5xx, 429, timeouts and connection errors."""

    retryable = True

    def __init__(
        self,
        message: str,
        *,
        retryable: bool | None = None,
        status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, retryable=retryable, status=status)
        self.retry_after = retry_after


class RegistryConfigError(RegistryError):
    """A HARBOR_* setting is missing or malformed; `setting` names it."""

    def __init__(self, setting: str, problem: str) -> None:
        super().__init__(f"{setting}: {problem}")
        self.setting, self.problem = setting, problem

    def __reduce__(self):
        return (type(self), (self.setting, self.problem))


class HostNotAllowed(RegistryError):
    """The image's host is not HARBOR_URL's host; nothing was requested."""

    retryable = False


class DigestMismatch(RegistryError):
    """The digest asked for (or the registry's header digest) differs from the computed one."""

    retryable = False


class InvalidReference(RegistryError):
    """The repository, tag or digest does not match the distribution grammar."""

    retryable = False
