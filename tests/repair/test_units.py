"""recipes.yaml validation, YAML normalisation, index --check, fingerprints and redaction."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from factory_assets.common.errors import InputError
from factory_assets.evidence.store import append_record, new_body
from factory_assets.repair.fingerprint import fingerprint, normalize_output
from factory_assets.repair.recipes import glob_regex, load_recipes
from factory_assets.repair.redact import redact, trim_log
from factory_assets.repair.yamlnorm import normalize_text
from tests.repair.conftest import SHIPPED_RECIPES, GitOpsRepo

VALID = """\
version: 1
checks:
  - {name: a, command: "true", paths: ["x"]}
recipes:
  - {name: r, fixes: [a], command: "true", paths: ["x"]}
"""


@pytest.mark.parametrize(
    ("text", "field", "problem"),
    [
        ("version: 1\nchecks: []\n", "checks", "at least 1"),
        (VALID.replace("fixes: [a]", "fixes: [nope]"), "-", "unknown check(s) ['nope']"),
        (
            VALID.replace('paths: ["x"]}\nrecipes', "paths: []}\nrecipes"),
            "checks.0.paths",
            "at least 1",
        ),
        (VALID.replace("name: a,", "name: A B,"), "checks.0.name", "should match pattern"),
        (
            VALID.replace(
                'command: "true", paths: ["x"]}\nrecipes',
                'command: "ruff {files}", paths: ["x"]}\nrecipes',
            ),
            "checks.0",
            "only allowed with scope 'files'",
        ),
        (
            VALID + "  - {name: s, fixes: [a], command: ruff, paths: [x], scope: files}\n",
            "recipes.1",
            "needs a standalone {files}",
        ),
        (VALID.replace("version: 1", "version: 2"), "version", "Input should be 1"),
        (VALID + "extra: 1\n", "extra", "Extra inputs are not permitted"),
        ("checks: [\n", "-", "not valid YAML at line 2"),
    ],
)
def test_bad_recipes_name_file_and_field(
    tmp_path: Path, text: str, field: str, problem: str
) -> None:
    path = tmp_path / "recipes.yaml"
    path.write_text(text)
    with pytest.raises(InputError) as info:
        load_recipes(path)
    assert info.value.path == str(path) and info.value.field == field
    assert problem in info.value.problem


def test_shipped_recipes_load_and_cover_the_issue(tmp_path: Path) -> None:
    book = load_recipes(SHIPPED_RECIPES)
    assert {c.name for c in book.checks} == {
        "ruff-lint",
        "ruff-format",
        "gitops-yaml",
        "evidence-schema",
        "evidence-index",
    }
    assert book.unfixable([c.name for c in book.checks]) == []
    assert not any(r.covers(".github/workflows/ci.yml") for r in book.recipes)


def test_bad_recipes_exit_1_from_the_cli(gitops: GitOpsRepo) -> None:
    (gitops.path / "repair/recipes.yaml").write_text("version: 1\n")
    gitops.repo.git.commit("-qam", "Break recipes")
    result = gitops.run("repair")
    assert result.code == 1 and "repair/recipes.yaml: checks: Field required" in result.err


def test_globs() -> None:
    assert glob_regex("**/*.py").match("a.py") and glob_regex("**/*.py").match("a/b/c.py")
    assert not glob_regex("envs/*.yaml").match("envs/dev/x.yaml")
    assert glob_regex("envs/**/*.yaml").match("envs/x.yaml") and glob_regex(".github/**").match(
        ".github/workflows/x.yml"
    )
    assert not glob_regex("*.py").match("a/b.py")


# --- YAML normalisation -----------------------------------------------------------------------


def test_normalize_is_idempotent_and_keeps_comments_and_order() -> None:
    text = "# head\nb: 1   # one\na:\n    - x\n    -   y\n---\n# second doc\nz: {k: v}\n"
    once = normalize_text(text)
    assert once == normalize_text(once)
    assert once.index("b:") < once.index("a:") and "# one" in once and "# second doc" in once
    assert "  - x\n  - y\n" in once
    assert normalize_text("# only a comment\n") == "# only a comment\n"
    assert normalize_text("releases: []\n") == "releases: []\n"


def test_normalize_yaml_cli(gitops: GitOpsRepo) -> None:
    ok = gitops.run("repair", "normalize-yaml", "--check")
    assert ok.code == 0, ok.err
    path = gitops.path / "envs/dev/app.yaml"
    path.write_text("image:\n    repository: x   # c\n")
    check = gitops.run("repair", "normalize-yaml", "--check")
    assert check.code == 1 and "would normalize: envs/dev/app.yaml" in check.out
    assert path.read_text() == "image:\n    repository: x   # c\n", "check mode writes nothing"
    assert gitops.run("repair", "normalize-yaml", "envs/dev/app.yaml").code == 0
    assert path.read_text().startswith("image:\n  repository: x")
    assert gitops.run("repair", "normalize-yaml", "--check").code == 0
    path.write_text("image: [unclosed\n")
    bad = gitops.run("repair", "normalize-yaml", "--check")
    assert bad.code == 1 and "envs/dev/app.yaml: line 2: not valid YAML" in bad.err


def test_normalize_yaml_never_rewrites_through_a_symbolic_link(
    gitops: GitOpsRepo, tmp_path
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    victim = outside / "victim.yaml"
    victim.write_text("a:   1\nb:\n - x\n")
    (gitops.path / "envs" / "linked.yaml").symlink_to(victim)
    assert gitops.run("repair", "normalize-yaml").code == 0  # the link is not a repo file
    assert victim.read_text() == "a:   1\nb:\n - x\n"
    named = gitops.run("repair", "normalize-yaml", "envs/linked.yaml")
    assert named.code == 1 and "leads outside the repository" in named.err
    assert victim.read_text() == "a:   1\nb:\n - x\n"


def test_collect_check(gitops: GitOpsRepo) -> None:
    assert gitops.run("evidence", "collect", "--check").code == 0
    append_record(
        gitops.path,
        new_body(
            kind="smoke",
            service="app",
            result="success",
            details={"method": "none", "verdict": "skipped"},
        ),
    )
    before = (gitops.path / "evidence/index.json").read_bytes()
    stale = gitops.run("evidence", "collect", "--check")
    assert stale.code == 1 and "stale" in stale.err and "factory evidence collect" in stale.err
    assert (gitops.path / "evidence/index.json").read_bytes() == before, "check mode writes nothing"
    assert gitops.run("evidence", "collect").code == 0
    assert gitops.run("evidence", "collect", "--check").code == 0
    (gitops.path / "evidence/index.json").unlink()
    absent = gitops.run("evidence", "collect", "--check")
    assert absent.code == 0 and "not present" in absent.out, "no index kept, none to go stale"


# --- fingerprints and redaction ---------------------------------------------------------------


def test_fingerprint_ignores_what_varies_between_runs() -> None:
    a = "\x1b[31mpkg/x.py:12:5: F821 undefined name 'foo'\x1b[0m\n  --> /tmp/factory-repair-abc/checkout/pkg/x.py:12:5\n 12 | foo()\nchecked in 0.52s at 2026-01-01T00:00:00Z, commit 0123456789abcdef0123\n"
    b = "pkg/x.py:40:9: F821 undefined name 'foo'\n  --> /tmp/factory-repair-zzz/checkout/pkg/x.py:40:9\n 40 | foo()\n\nchecked in 1.9s at 2026-03-02T10:11:12Z, commit fedcba9876543210fedc\n"
    assert fingerprint("ruff-lint", a) == fingerprint("ruff-lint", b)
    assert fingerprint("ruff-lint", a) != fingerprint("ruff-format", a), "the check is part of it"
    assert fingerprint("ruff-lint", a) != fingerprint("ruff-lint", a.replace("foo", "bar")), (
        "the error is part of it"
    )
    assert fingerprint("ruff-lint", a) != fingerprint(
        "ruff-lint", a.replace("pkg/x.py", "pkg/y.py")
    ), "so is the file"
    assert "<tmp>" in normalize_output("/tmp/abc/file.txt missing")
    assert normalize_output("x", roots=("/work/repo",)) == "x"
    assert normalize_output("/work/repo/a.py: bad", roots=("/work/repo",)) == "a.py: bad"


def test_redact(monkeypatch: pytest.MonkeyPatch) -> None:
    env = {"MY_API_TOKEN": "tok-123456", "HOME": "/root", "SHORT_SECRET": "ab"}
    text = "tok-123456 /root ab Authorization: token abcdef123 password=hunter2 https://u:p@h/x GITHUB_TOKEN: ghs_abcdefghijklmnopqrstuvwxyz"
    out = redact(text, env)
    assert "tok-123456" not in out and "/root" in out and " ab " in out
    assert (
        "abcdef123" not in out
        and "hunter2" not in out
        and "u:p@" not in out
        and "ghs_abc" not in out
    )
    assert trim_log("\n".join(str(i) for i in range(500)), head=2, tail=3).splitlines() == [
        "0",
        "1",
        "... 495 line(s) omitted ...",
        "497",
        "498",
        "499",
    ]


_SCALARS = st.one_of(
    st.integers(-(10**6), 10**6),
    st.booleans(),
    st.none(),
    st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-_./:@ ", min_size=1, max_size=12)
    .map(str.strip)
    .filter(bool),
)
_KEYS = st.text(alphabet="abcdefghijklmnopqrstuvwxyz_", min_size=1, max_size=8)
_DOCS = st.recursive(
    _SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, min_size=1, max_size=4),
        st.dictionaries(_KEYS, inner, min_size=1, max_size=4),
    ),
    max_leaves=12,
).filter(lambda d: isinstance(d, dict))


@settings(max_examples=60, deadline=None)
@given(doc=_DOCS, mapping=st.integers(2, 6), offset=st.integers(0, 2))
def test_normalize_is_idempotent_and_keeps_the_data(doc: dict, mapping: int, offset: int) -> None:
    import io

    from ruamel.yaml import YAML

    writer = YAML()
    writer.indent(mapping=mapping, sequence=mapping + offset, offset=offset)
    out = io.StringIO()
    writer.dump(doc, out)
    once = normalize_text(out.getvalue())
    assert normalize_text(once) == once
    assert YAML(typ="safe").load(once) == YAML(typ="safe").load(out.getvalue())
