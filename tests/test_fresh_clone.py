"""The README's test command passes on a fresh clone, before any book is built.

The working tree's files as git sees them (tracked, and untracked ones that are not ignored)
are copied into a temporary folder: a fresh clone, without ``_build``, ``node_modules`` or
anything else a build leaves. There the pytest part of the README's test command runs on every
test file that reads the built book (tests/browser, and each file naming ``_build``,
``jupyter_execute`` or the book's HTML), without the variables that turn a missing book into a
failure (``CI``, ``MBCOURSE_REQUIRE_*``). Each of those tests must pass or skip with its reason;
none may fail or error. The rest of the suite reads no build, so it is left out, and so are the
tests marked ``slow`` (they train or compile, and read no build: checked below): this costs
seconds, not a second run of everything.
"""

from __future__ import annotations

import ast
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
from readme_command import readme_command  # noqa: E402

READS_THE_BUILD = re.compile(r"\b_build\b|jupyter_execute|book_html|BOOK_HTML|built_book")
STRICT = ("CI", "MBCOURSE_REQUIRE_BROWSER", "MBCOURSE_REQUIRE_PDF", "MBCOURSE_LEARNER_ENV",
          "MBCOURSE_BOOK_HTML")


def _tree_files() -> list[str]:
    done = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT, capture_output=True, check=False,
    )
    if done.returncode != 0:
        pytest.skip(f"not a git checkout: {done.stderr.decode().strip()}")
    return [name for name in done.stdout.decode().split("\0") if name]


def _pytest_part() -> list[str]:
    """The README test command's pytest invocation, with this interpreter."""
    command = readme_command("test-command").split("&&")[-1].strip()
    words = shlex.split(command)
    assert words[:3] == ["python", "-m", "pytest"], f"unexpected test command: {command}"
    return [sys.executable, *words[1:]]


@pytest.mark.skipif(os.environ.get("MBCOURSE_FRESH_CLONE") == "1", reason="already in the clone")
def test_readme_test_command_passes_on_a_fresh_clone_without_a_book(tmp_path: Path) -> None:
    clone = tmp_path / "clone"
    for name in _tree_files():
        source = ROOT / name
        if source.is_file():
            target = clone / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    assert not (clone / "_build").exists()
    selected = sorted(
        path.relative_to(clone).as_posix()
        for path in (clone / "tests").rglob("test_*.py")
        if path.name != Path(__file__).name
        and ("browser" in path.parts or READS_THE_BUILD.search(path.read_text(encoding="utf-8")))
    )
    assert "tests/test_downloads.py" in selected and any("browser" in s for s in selected)
    env = {k: v for k, v in os.environ.items() if k not in STRICT}
    env.update(MBCOURSE_FRESH_CLONE="1", PYTHONPATH=str(clone))
    done = subprocess.run(
        [*_pytest_part(), "-p", "no:cacheprovider", "-q", "-m", "not slow", *selected],
        cwd=clone, env=env, capture_output=True, text=True, timeout=900, check=False,
    )
    tail = "\n".join(done.stdout.splitlines()[-40:])
    assert done.returncode == 0, f"on a fresh clone (exit {done.returncode}):\n{tail}"
    summary = done.stdout.strip().splitlines()[-1]
    assert "skipped" in summary and "failed" not in summary and "error" not in summary, summary


def _slow_tests(path: Path) -> list[tuple[str, str, str]]:
    """``(name, decorators, signature and body)`` of each ``@pytest.mark.slow`` test in a file."""
    text = path.read_text(encoding="utf-8")
    found = []
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.FunctionDef) and any(
            ast.unparse(d) == "pytest.mark.slow" for d in node.decorator_list
        ):
            decorators = "\n".join(
                ast.get_source_segment(text, d) or "" for d in node.decorator_list
            )
            found.append((node.name, decorators, ast.get_source_segment(text, node) or ""))
    return found


def test_the_slow_tests_left_out_of_the_clone_read_no_build() -> None:
    """The clone's run leaves out ``slow`` tests: none of them may read the built book, unless a
    variable the clone unsets (``STRICT``) already skips it there."""
    slow, reading = 0, []
    for path in sorted((ROOT / "tests").rglob("test_*.py")):
        for name, decorators, code in _slow_tests(path):
            slow += 1
            gated = any(variable in decorators for variable in STRICT)
            if not gated and (READS_THE_BUILD.search(code) or re.search(r"\bvisit", code)):
                reading.append(f"{path.name}::{name}")
    assert slow >= 10, f"found only {slow} slow tests: is the marker still pytest.mark.slow?"
    assert not reading, f"slow tests that read the build, left out of the clone: {reading}"
