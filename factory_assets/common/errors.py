"""Errors that name the file, the field and what was expected."""

from __future__ import annotations

from pathlib import Path


class FactoryError(Exception):
    """Base of every error the CLI reports as a clean message with exit 1."""

    exit_code = 1


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
