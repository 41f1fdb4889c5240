"""Errors that name the file, the field and what was expected; the tree of every factory error.

Every error the factory raises on purpose is a `FactoryError`. `retryable` says whether the
same operation may succeed later without anyone changing anything (a later pass, the next
poll); the promotion engine and the smoke poll read it instead of matching on types.

    FactoryError                              no   exit 1; the base: not retryable unless a subclass says
    ├── InputError                            no   a file or argument is wrong: `path: field: problem`
    │   ├── TargetError (layout.targets)      no   no usable target for (service, env)
    │   └── OverlayRefused (pins.overlay_entry)  no   the overlay cannot carry the pin
    ├── UsageError                            no   a wrong command line (exit 2)
    ├── AlreadyAdopted (adopt.detect)         no   exit 0: the repository runs with factory already
    ├── NotRecognised (adopt.detect)          no   not a layout `factory adopt` knows
    ├── GitError (resources.gitops)           yes  a git operation failed; a later pass may land it
    │   ├── RemoteBranchMissing               no   the remote has no such branch
    │   └── CasExhausted                      yes  every push lost a race within the bound
    ├── RegistryError (resources.registry)    per instance (status); the class default is no
    │   ├── RegistryAuthError                 no   401/403 after every auth attempt
    │   ├── ManifestNotFound                  yes  404: a replica may not have it yet (bounded)
    │   ├── RegistryUnavailable               yes  5xx, 429, timeouts, connection errors
    │   ├── RegistryConfigError               no   a HARBOR_* setting is missing or malformed
    │   ├── HostNotAllowed                    no   the image is not on HARBOR_URL's host
    │   ├── DigestMismatch                    no   the bytes do not hash to the digest
    │   └── InvalidReference                  no   not the distribution grammar
    ├── ArgoCDError (resources.argocd)        no
    │   ├── ArgoCDConfigError                 no   ARGOCD_URL/ARGOCD_TOKEN absent or malformed
    │   ├── ArgoCDAuthError                   no   401
    │   ├── ArgoCDPermissionDenied            no   403
    │   ├── ArgoCDAppNotFound                 no   404
    │   ├── ArgoCDUnavailable                 yes  5xx, 429, timeouts, connection errors
    │   └── ArgoCDProtocolError               no   an answer that is not an Application
    ├── GitHubError (resources.github)        per instance: yes for no response, 429 and 5xx
    ├── PublishError (site.publish)           no, or as the git failure behind it
    ├── SiteBuildError (site.build)           no   the evidence no longer matches its index
    ├── CollectError (evidence.collect)       no   records failed validation
    └── HelperProcessError (common.parallel_map)  no   a helper process died

`release.state.TransitionError` is a ValueError on purpose: an impossible state move is a
bug, never something to retry. tests/test_error_tree.py keeps this drawing and the classes
in step.
"""

from __future__ import annotations

from pathlib import Path


class FactoryError(Exception):
    """Base of every error the CLI reports as a clean message with exit 1 (see the tree above)."""

    exit_code = 1
    retryable: bool = False


class InputError(FactoryError):
    """Bad input: `path: field: what is wrong`."""

    def __init__(self, path: Path | str, field: str, problem: str) -> None:
        self.path = str(path)
        self.field = field or "-"
        self.problem = problem
        super().__init__(f"{self.path}: {self.field}: {problem}")


class UsageError(FactoryError):
    """A wrong command line: exit 2, as argparse does."""

    exit_code = 2
