"""The error tree drawn in factory_assets/common/errors.py is the real one, retryable included."""

from __future__ import annotations

import importlib
import pkgutil
import re
import tomllib
from pathlib import Path

from factory_assets.common import errors
from factory_assets.common.errors import FactoryError

PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"

LINE = re.compile(
    r"^(?P<indent>[ │├└─]*)(?P<name>[A-Z]\w+)(?: \([\w.]+\))?\s+(?P<verdict>yes|no|per instance)"
)


def drawn() -> dict[str, tuple[str | None, str]]:
    """Class name -> (parent name in the drawing, yes | no | per instance)."""
    tree: dict[str, tuple[str | None, str]] = {}
    stack: list[tuple[int, str]] = []
    doc = errors.__doc__ or ""
    for line in doc.splitlines():
        match = LINE.match(line.removeprefix("    "))
        if not match or (match["name"] != "FactoryError" and not match["indent"]):
            continue
        depth = len(match["indent"])
        while stack and stack[-1][0] >= depth:
            stack.pop()
        tree[match["name"]] = (stack[-1][1] if stack else None, match["verdict"])
        stack.append((depth, match["name"]))
    return tree


def product_packages() -> tuple[str, ...]:
    """The top-level packages the wheel ships, read from pyproject so a new one is not missed."""
    find = tomllib.loads(PYPROJECT.read_text())["tool"]["setuptools"]["packages"]["find"]
    return tuple(sorted({pattern.removesuffix("*") for pattern in find["include"]}))


def every_error() -> set[type]:
    """Every FactoryError subclass of the product: each of its modules is imported first."""
    names = product_packages()
    for name in names:
        package = importlib.import_module(name)
        for module in pkgutil.walk_packages(package.__path__, name + "."):
            importlib.import_module(module.name)
    found, todo = set(), [FactoryError]
    while todo:
        cls = todo.pop()
        for sub in cls.__subclasses__():
            if sub.__module__.split(".")[0] in names:
                found.add(sub)
                todo.append(sub)
    return found


def test_the_scan_covers_every_product_package():
    assert product_packages() == ("factory_assets", "resources", "sensors")


def test_every_factory_error_is_drawn_under_its_real_parent():
    tree = drawn()
    classes = every_error()
    assert {c.__name__ for c in classes} == set(tree) - {"FactoryError"}
    for cls in classes:
        parent, _ = tree[cls.__name__]
        assert cls.__bases__[0].__name__ == parent, cls


def test_every_factory_error_says_whether_it_is_retryable_as_drawn():
    tree = drawn()
    for cls in every_error() | {FactoryError}:
        assert isinstance(cls.retryable, bool), cls
        verdict = tree[cls.__name__][1]
        if verdict != "per instance":
            assert cls.retryable is (verdict == "yes"), (cls, verdict)
