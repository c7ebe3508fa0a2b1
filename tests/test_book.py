"""The book's source: clean notebooks, the Colab cell, the table of contents, the config."""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path

import nbformat
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "book").glob("*.ipynb"))

spec = importlib.util.spec_from_file_location("set_repository", ROOT / "tools/set_repository.py")
set_repository = importlib.util.module_from_spec(spec)
sys.modules["set_repository"] = set_repository
spec.loader.exec_module(set_repository)


def _toc_files() -> list[str]:
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [toc["root"]]
    for part in toc.get("parts", []):
        files += [chapter["file"] for chapter in part["chapters"]]
    return files


def test_there_are_chapters() -> None:
    assert len(NOTEBOOKS) >= 7


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_committed_without_outputs(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, path.name
    assert nb.metadata["kernelspec"]["name"] == "python3"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_first_code_cell_installs_only_in_colab_from_the_configured_repository(path: Path) -> None:
    """The one install block (tools/set_repository.py), for mbcourse or mbcourse[EXTRA]: in
    Colab only, from the configured repository, with Colab's packages as pip constraints."""
    nb = nbformat.read(path, as_version=4)
    first = next(c for c in nb.cells if c.cell_type == "code").source
    url, branch = set_repository.repository()
    head, spec, _ = set_repository.split_first_cell(first)
    assert head == set_repository.install_block(url, branch, spec)
    assert re.fullmatch(r"mbcourse(\[[\w-]+(,[\w-]+)*\])?", spec)
    assert '"google.colab" in sys.modules' in head and "--format=freeze" in head
    assert set_repository.install_target(url, branch) in head
    assert "pick_device" in first and "seed_everything" in first


def test_install_block_is_generic_over_extras() -> None:
    plain = set_repository.install_block("https://github.com/o/r", "main")
    extra = set_repository.install_block("https://github.com/o/r", "main", "mbcourse[pretrained]")
    assert 'f"mbcourse @ {source}"' in plain and 'f"mbcourse[pretrained] @ {source}"' in extra
    assert '"pretrained" extra' in extra and "git+https://github.com/o/r@main" in extra
    assert all(len(line) <= 100 for line in (plain + extra).splitlines())
    head, spec, rest = set_repository.split_first_cell(extra + "\nimport torch\n")
    assert (head, spec, rest) == (extra, "mbcourse[pretrained]", "import torch\n")
    compile(extra, "<install block>", "exec")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_chapters_need_no_book_or_test_tools(path: Path) -> None:
    """A learner's Colab has none of the book's build or test tools: chapters must not import them
    (``glue`` comes from ``mbcourse.display``)."""
    nb = nbformat.read(path, as_version=4)
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    for tool in ("myst_nb", "sphinx", "jupyter_book", "nbval", "pytest"):
        assert f"import {tool}" not in code and f"from {tool}" not in code, (path.name, tool)


# Colab ships its own builds of these; an upper bound (or a lower bound above Colab's) would make
# pip replace them inside a learner's session.
COLAB_OWNS = {"torch": None, "torchvision": None, "numpy": None, "matplotlib": None,
              "ipywidgets": (7, 7)}


def test_requirements_leave_colabs_packages_alone() -> None:
    tomllib = pytest.importorskip("tomllib" if sys.version_info >= (3, 11) else "tomli")
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    requirements = list(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        requirements += extra
    seen = set()
    for requirement in requirements:
        name = re.match(r"[A-Za-z0-9_.-]+", requirement).group(0).lower()
        if name not in COLAB_OWNS:
            continue
        seen.add(name)
        assert "<" not in requirement and "==" not in requirement and "~=" not in requirement, (
            requirement
        )
        floor = COLAB_OWNS[name]
        if floor is not None:
            low = re.search(r">=\s*([0-9.]+)", requirement)
            assert low and tuple(int(p) for p in low.group(1).split(".")[:2]) <= floor, requirement
    assert {"torch", "ipywidgets"} <= seen


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_every_chapter_is_in_the_table_of_contents(path: Path) -> None:
    assert f"book/{path.stem}" in _toc_files()


def test_table_of_contents_points_at_existing_files() -> None:
    for entry in _toc_files():
        assert any((ROOT / f"{entry}{ext}").exists() for ext in (".ipynb", ".md")), entry


def test_config_has_launch_buttons_bibliography_and_exercises() -> None:
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    assert config["launch_buttons"]["colab_url"].startswith("https://colab.research.google.com")
    assert config["repository"]["url"].startswith("https://")
    assert config["execute"]["execute_notebooks"] == "force"
    assert config["execute"]["timeout"] > 0
    assert "sphinx_exercise" in config["sphinx"]["extra_extensions"]
    assert config["bibtex_bibfiles"] == ["book/references.bib"]


def test_bibliography_parses_and_every_citation_has_an_entry() -> None:
    pybtex = pytest.importorskip("pybtex.database", reason="pybtex comes with the book extra")
    keys = set(pybtex.parse_file(str(ROOT / "book/references.bib")).entries)
    cited = set()
    for path in NOTEBOOKS:
        for cell in nbformat.read(path, as_version=4).cells:
            for group in re.findall(r"\{cite(?::\w+)?\}`([^`]+)`", cell.source):
                cited.update(k.strip() for k in group.split(","))
    assert cited and cited <= keys, sorted(cited - keys)


def test_bibliography_has_the_papers_of_the_design() -> None:
    bib = (ROOT / "book/references.bib").read_text()
    for arxiv in ("1801.04381", "1709.01507", "1905.11946", "2104.00298", "1704.04861",
                  "1512.03385", "1603.09382"):
        assert arxiv in bib
