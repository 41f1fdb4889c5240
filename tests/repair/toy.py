"""A toy recipe book with Python one-file checks: fast, and every guard is easy to trip."""

from __future__ import annotations

from pathlib import Path

from tests.repair.conftest import GitOpsRepo, make_repo

CHECK_GREETING = """\
import pathlib, sys
text = pathlib.Path("greeting.txt").read_text().strip()
if text != "hello":
    print(f"greeting.txt:1:1: expected 'hello', found {text!r}")
    sys.exit(1)
"""

# tools/fix.py MODE: how the toy recipe "fixes" greeting.txt
FIX = """\
import pathlib, sys
mode = sys.argv[1]
p = pathlib.Path("greeting.txt")
if mode == "good":
    p.write_text("hello\\n")
elif mode == "append":  # never fixes it, but changes something every attempt
    p.write_text(p.read_text() + "x\\n")
elif mode == "noop":
    pass
elif mode == "stray":  # fixes it, and also touches a file outside the recipe's paths
    p.write_text("hello\\n")
    pathlib.Path("notes.txt").write_text("scribbled\\n")
elif mode == "workflow":  # fixes it, and also writes a workflow (protected)
    p.write_text("hello\\n")
    wf = pathlib.Path(".github/workflows/evil.yml")
    wf.parent.mkdir(parents=True, exist_ok=True)
    wf.write_text("on: push\\n")
elif mode == "symlink":  # fixes it, and links a file into .github (a way around the allowlist)
    p.write_text("hello\\n")
    pathlib.Path("greeting-link.txt").symlink_to(".github/workflows/ci.yml")
elif mode == "big":
    p.write_text("hello\\n")
    pathlib.Path("big.txt").write_text("".join(f"line {i}\\n" for i in range(200)))
"""

CHECK_BROKEN = """\
import sys
print("Traceback (most recent call last):")
print('  File "/tmp/build-1234/app.py", line 12, in <module>')
print("RuntimeError: the build is broken in a way no recipe can fix")
sys.exit(1)
"""


def toy_recipes(
    mode: str = "good", *, paths: str = '["greeting.txt"]', extra: str = "", max_lines: int = 50
) -> str:
    return f"""\
version: 1
guards:
  max_patch_lines: {max_lines}
checks:
  - name: greeting
    command: ["{{python}}", "tools/check_greeting.py"]
    paths: ["greeting.txt"]
{extra}
recipes:
  - name: fix-greeting
    fixes: [greeting]
    command: ["{{python}}", "tools/fix.py", "{mode}"]
    paths: {paths}
"""


UNFIXABLE_CHECK = """\
  - name: build
    command: ["{python}", "tools/check_broken.py"]
    paths: ["tools/check_broken.py"]
"""


def make_toy(tmp: Path, recipes: str) -> GitOpsRepo:
    gitops = make_repo(tmp / "toy", recipes=recipes)
    gitops.commit(
        {
            "greeting.txt": "hello\n",
            "tools/check_greeting.py": CHECK_GREETING,
            "tools/fix.py": FIX,
            "tools/check_broken.py": "print('fine')\n",
        },
        "Toy checks",
    )
    return gitops


def break_greeting(gitops: GitOpsRepo, text: str = "bye", **kwargs) -> str:
    return gitops.commit({"greeting.txt": f"{text}\n"}, f"Say {text}", **kwargs)


def break_build(gitops: GitOpsRepo, marker: str = "") -> str:
    return gitops.commit({"tools/check_broken.py": CHECK_BROKEN + marker}, "Break the build")
