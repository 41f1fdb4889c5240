"""Real git remotes for tests: the sandbox's scratch GitOps remote (one implementation)."""

from factory_assets.sandbox.gitops_remote import (
    SEED_FILES,
    GitOpsRemote,
    configure_identity,
    make_gitops_remote,
    write_files,
)

__all__ = [
    "SEED_FILES",
    "GitOpsRemote",
    "configure_identity",
    "make_gitops_remote",
    "write_files",
]
