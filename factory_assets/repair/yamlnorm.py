"""Round-trip normalisation of the GitOps YAML under envs/ and release/ (comments and key order survive).

The normal form is what ruamel.yaml's round-trip dumper writes with: mappings indented by 2,
sequences by 4 with the dash at offset 2, no line wrapping, quotes as written, LF line ends,
one trailing newline. Files whose documents are empty (or hold only comments) are left alone:
the round trip would drop their comments.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

from ruamel.yaml.error import YAMLError

from factory_assets.common.errors import InputError
from factory_assets.common.files import atomic_write_text, inside, read_text_bounded
from factory_assets.common.roundtrip_yaml import gitops_yaml

DEFAULT_ROOTS = ("envs", "release")
SUFFIXES = (".yaml", ".yml")


def normalize_text(text: str, *, path: Path | str = "-") -> str:
    """The normal form of `text`; InputError (naming file and line) when it is not YAML."""
    yaml = gitops_yaml()
    try:
        docs = list(yaml.load_all(text))
    except YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        where = f"line {mark.line + 1}" if mark else "-"
        raise InputError(
            path, where, f"not valid YAML: {getattr(exc, 'problem', None) or exc}"
        ) from None
    if not docs or any(doc is None for doc in docs):
        return text
    out = io.StringIO()
    yaml.dump_all(docs, out)
    return out.getvalue()


@dataclass(frozen=True)
class NormalizeResult:
    changed: list[str]
    checked: int


def yaml_files(repo: Path, paths: list[str] | None) -> list[Path]:
    """The given files, or every *.yaml/*.yml under envs/ and release/."""
    if paths:
        return [(repo / p) for p in paths]
    found: list[Path] = []
    for root in DEFAULT_ROOTS:
        base = repo / root
        if base.is_dir() and not base.is_symlink():
            found.extend(
                p
                for p in base.rglob("*")
                # A linked file or folder may lead out of the repository: never rewrite there.
                if p.suffix in SUFFIXES and p.is_file() and inside(repo, p)
            )
    return sorted(found)


def normalize_files(repo: Path, paths: list[str] | None, *, check: bool) -> NormalizeResult:
    """Normalise (or with `check`, only report) files; returns the repo-relative paths that change."""
    changed = []
    files = yaml_files(repo, paths)
    for path in files:
        rel = path.relative_to(repo).as_posix() if path.is_relative_to(repo) else str(path)
        if not path.is_file():
            raise InputError(rel, "-", "no such file")
        if not inside(repo, path):
            raise InputError(rel, "-", "leads outside the repository (a symbolic link)")
        text = read_text_bounded(path)
        normal = normalize_text(text, path=rel)
        if normal != text:
            changed.append(rel)
            if not check:
                atomic_write_text(path, normal)
    return NormalizeResult(changed, len(files))
