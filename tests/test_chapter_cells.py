"""The chapters' code cells are lessons, not bookkeeping (issues 18 and 21).

* No code cell is longer than :data:`MAX_LINES` lines, except a cell that is itself the lesson
  (listed in :data:`LESSONS` with the reason).
* A cell a reader can see (no ``remove-cell`` or ``remove-input`` tag; ``hide-input`` code is
  one click away) holds no
  ``glue(...)`` call and no ``assert`` unless the assert is the lesson (:data:`LESSONS`): a
  chapter's numbers for the prose come from one package function (``mbcourse.studies.chNN``),
  glued in one hidden cell with ``mbcourse.display.glue_facts``, and their checks live in
  ``tests/``.

:data:`KNOWN` lists what the chapters still do wrong (``tests/known_problems.py``: it only
shrinks).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from known_problems import judge

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = sorted((ROOT / "book").glob("[0-9][0-9]_*.ipynb"))
MAX_LINES = 25
HIDDEN = {"remove-cell", "remove-input"}  # hide-input code is one click away: still read
GLUE = re.compile(r"^\s*(?:glue|glue_facts)\(", re.MULTILINE)
ASSERT = re.compile(r"^\s*assert\b", re.MULTILINE)

#: Cells that are themselves the lesson, by (chapter, cell id): what the cell teaches.
LESSONS: dict[tuple[str, str], str] = {}

#: What the chapters still do wrong, by (check, chapter): {cell id: what to do}.
KNOWN: dict[tuple[str, str], dict[str, str]] = {
    ('glue', '00_start_here'): {
        "cell ch00-004:": "glue in the chapter's one hidden facts cell",
    },
    ('long', '01_cost_of_convolution'): {
        "cell ch01-014-fig:": 'split it: bookkeeping into the package, the lesson short',
    },
    ('glue', '01_cost_of_convolution'): {
        "cell ch01-006:": "glue in the chapter's one hidden facts cell",
        "cell ch01-010:": "glue in the chapter's one hidden facts cell",
        "cell ch01-012:": "glue in the chapter's one hidden facts cell",
        "cell ch01-014-fig:": "glue in the chapter's one hidden facts cell",
        "cell ch01-016:": "glue in the chapter's one hidden facts cell",
    },
    ('assert', '01_cost_of_convolution'): {
        "cell ch01-006:": 'move the check into tests/ (or list the cell in LESSONS)',
        "cell ch01-010:": 'move the check into tests/ (or list the cell in LESSONS)',
        "cell ch01-016:": 'move the check into tests/ (or list the cell in LESSONS)',
        "cell ch01-031:": 'move the check into tests/ (or list the cell in LESSONS)',
    },
    ('long', '02_inverted_residuals'): {
        "cell ch02-020:": 'split it: bookkeeping into the package, the lesson short',
    },
    ('glue', '02_inverted_residuals'): {
        "cell ch02-006:": "glue in the chapter's one hidden facts cell",
        "cell ch02-008:": "glue in the chapter's one hidden facts cell",
        "cell ch02-012:": "glue in the chapter's one hidden facts cell",
        "cell ch02-016:": "glue in the chapter's one hidden facts cell",
        "cell a0cee821:": "glue in the chapter's one hidden facts cell",
    },
    ('assert', '02_inverted_residuals'): {
        "cell ch02-006:": 'move the check into tests/ (or list the cell in LESSONS)',
        "cell ch02-008:": 'move the check into tests/ (or list the cell in LESSONS)',
        "cell ch02-010:": 'move the check into tests/ (or list the cell in LESSONS)',
        "cell ch02-012:": 'move the check into tests/ (or list the cell in LESSONS)',
        "cell ch02-016:": 'move the check into tests/ (or list the cell in LESSONS)',
        "cell ch02-018:": 'move the check into tests/ (or list the cell in LESSONS)',
        "cell a0cee821:": 'move the check into tests/ (or list the cell in LESSONS)',
        "cell ch02-036:": 'move the check into tests/ (or list the cell in LESSONS)',
        "cell ch02-040:": 'move the check into tests/ (or list the cell in LESSONS)',
    },
    ('long', '03_squeeze_excitation'): {
        "cell c017:": 'split it: bookkeeping into the package, the lesson short',
        "cell 6452b9a1:": 'split it: bookkeeping into the package, the lesson short',
        "cell c019:": 'split it: bookkeeping into the package, the lesson short',
        "cell c021-fig:": 'split it: bookkeeping into the package, the lesson short',
    },
    ('glue', '03_squeeze_excitation'): {
        "cell c010-fig:": "glue in the chapter's one hidden facts cell",
        "cell c017:": "glue in the chapter's one hidden facts cell",
        "cell 6452b9a1:": "glue in the chapter's one hidden facts cell",
        "cell 144fb7a8:": "glue in the chapter's one hidden facts cell",
        "cell c019:": "glue in the chapter's one hidden facts cell",
        "cell c021-fig:": "glue in the chapter's one hidden facts cell",
    },
    ('assert', '03_squeeze_excitation'): {
        "cell c008:": 'move the check into tests/ (or list the cell in LESSONS)',
        "cell c014:": 'move the check into tests/ (or list the cell in LESSONS)',
        "cell 6452b9a1:": 'move the check into tests/ (or list the cell in LESSONS)',
        "cell 144fb7a8:": 'move the check into tests/ (or list the cell in LESSONS)',
        "cell c019:": 'move the check into tests/ (or list the cell in LESSONS)',
        "cell c036:": 'move the check into tests/ (or list the cell in LESSONS)',
    },
    ('glue', '04_mbconv'): {
        "cell 6b3c4b28:": "glue in the chapter's one hidden facts cell",
        "cell c006:": "glue in the chapter's one hidden facts cell",
        "cell c008:": "glue in the chapter's one hidden facts cell",
        "cell c014:": "glue in the chapter's one hidden facts cell",
        "cell c017:": "glue in the chapter's one hidden facts cell",
        "cell c019-fig:": "glue in the chapter's one hidden facts cell",
        "cell c021:": "glue in the chapter's one hidden facts cell",
    },
    ('assert', '04_mbconv'): {
        "cell 6b3c4b28:": 'move the check into tests/ (or list the cell in LESSONS)',
        "cell c006:": 'move the check into tests/ (or list the cell in LESSONS)',
        "cell c008:": 'move the check into tests/ (or list the cell in LESSONS)',
        "cell c010:": 'move the check into tests/ (or list the cell in LESSONS)',
        "cell c012:": 'move the check into tests/ (or list the cell in LESSONS)',
        "cell c014:": 'move the check into tests/ (or list the cell in LESSONS)',
        "cell c021:": 'move the check into tests/ (or list the cell in LESSONS)',
        "cell c037:": 'move the check into tests/ (or list the cell in LESSONS)',
    },
    ('long', '05_fused_mbconv'): {
        "cell c009:": 'split it: bookkeeping into the package, the lesson short',
        "cell c011:": 'split it: bookkeeping into the package, the lesson short',
        "cell c018:": 'split it: bookkeeping into the package, the lesson short',
        "cell c018-fig:": 'split it: bookkeeping into the package, the lesson short',
    },
    ('glue', '05_fused_mbconv'): {
        "cell c011:": "glue in the chapter's one hidden facts cell",
        "cell c012:": "glue in the chapter's one hidden facts cell",
        "cell c014:": "glue in the chapter's one hidden facts cell",
        "cell c016:": "glue in the chapter's one hidden facts cell",
        "cell c018-fig:": "glue in the chapter's one hidden facts cell",
    },
    ('assert', '05_fused_mbconv'): {
        "cell c005:": 'move the check into tests/ (or list the cell in LESSONS)',
        "cell c007:": 'move the check into tests/ (or list the cell in LESSONS)',
        "cell c009:": 'move the check into tests/ (or list the cell in LESSONS)',
        "cell c011:": 'move the check into tests/ (or list the cell in LESSONS)',
        "cell c016:": 'move the check into tests/ (or list the cell in LESSONS)',
        "cell c018-fig:": 'move the check into tests/ (or list the cell in LESSONS)',
        "cell c033:": 'move the check into tests/ (or list the cell in LESSONS)',
    },
    ('long', '06_whole_networks'): {
        "cell 68627169:": 'split it: bookkeeping into the package, the lesson short',
        "cell 6aeb703a:": 'split it: bookkeeping into the package, the lesson short',
        "cell 0128111c:": 'split it: bookkeeping into the package, the lesson short',
        "cell 67a47249:": 'split it: bookkeeping into the package, the lesson short',
        "cell 4cfe2590:": 'split it: bookkeeping into the package, the lesson short',
    },
    ('glue', '06_whole_networks'): {
        "cell d53af27c:": "glue in the chapter's one hidden facts cell",
        "cell 37cc0731:": "glue in the chapter's one hidden facts cell",
        "cell 906aaa52-fig:": "glue in the chapter's one hidden facts cell",
        "cell 6aeb703a:": "glue in the chapter's one hidden facts cell",
        "cell 8a3b39c7:": "glue in the chapter's one hidden facts cell",
        "cell 0128111c:": "glue in the chapter's one hidden facts cell",
        "cell 67a47249:": "glue in the chapter's one hidden facts cell",
        "cell 4cfe2590:": "glue in the chapter's one hidden facts cell",
        "cell 07ce7d39:": "glue in the chapter's one hidden facts cell",
    },
    ('assert', '06_whole_networks'): {
        "cell 37cc0731:": 'move the check into tests/ (or list the cell in LESSONS)',
        "cell 8a3b39c7:": 'move the check into tests/ (or list the cell in LESSONS)',
        "cell 67a47249:": 'move the check into tests/ (or list the cell in LESSONS)',
        "cell f422ed07:": 'move the check into tests/ (or list the cell in LESSONS)',
        "cell 4cfe2590:": 'move the check into tests/ (or list the cell in LESSONS)',
        "cell 07ce7d39:": 'move the check into tests/ (or list the cell in LESSONS)',
    },
    ('long', '07_experiments'): {
        "cell f17e1d65:": 'split it: bookkeeping into the package, the lesson short',
    },
    ('glue', '07_experiments'): {
        "cell 4a22796a:": "glue in the chapter's one hidden facts cell",
        "cell ea8b2d94:": "glue in the chapter's one hidden facts cell",
    },
    ('long', '08_performance'): {
        "cell 9e1c4285:": 'split it: bookkeeping into the package, the lesson short',
        "cell 37c32dba:": 'split it: bookkeeping into the package, the lesson short',
        "cell 952398c1:": 'split it: bookkeeping into the package, the lesson short',
        "cell 59f90705:": 'split it: bookkeeping into the package, the lesson short',
    },
    ('glue', '08_performance'): {
        "cell 566e66aa:": "glue in the chapter's one hidden facts cell",
        "cell 581754b3:": "glue in the chapter's one hidden facts cell",
        "cell 4e9b4ca8:": "glue in the chapter's one hidden facts cell",
    },
}


def _cells(notebook: Path) -> list[dict]:
    return [c for c in json.loads(notebook.read_text(encoding="utf-8"))["cells"]
            if c["cell_type"] == "code"]


def _problems(notebook: Path) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {"long": [], "glue": [], "assert": []}
    for cell in _cells(notebook):
        cid, source = cell.get("id", "?"), "".join(cell["source"])
        lesson = (notebook.stem, cid) in LESSONS
        lines = len(source.rstrip("\n").splitlines())
        if lines > MAX_LINES and not lesson:
            found["long"].append(f"cell {cid}: {lines} lines (at most {MAX_LINES})")
        if HIDDEN & set(cell.get("metadata", {}).get("tags", [])):
            continue
        if GLUE.search(source):
            found["glue"].append(f"cell {cid}: glue in a visible cell")
        if ASSERT.search(source) and not lesson:
            found["assert"].append(f"cell {cid}: assert in a visible cell")
    return found


@pytest.mark.parametrize("notebook", CHAPTERS, ids=[c.stem for c in CHAPTERS])
@pytest.mark.parametrize("check", ["long", "glue", "assert"])
def test_code_cells_are_short_lessons(notebook: Path, check: str) -> None:
    judge(KNOWN, check, notebook.stem, _problems(notebook)[check], "tests/test_chapter_cells.py")


def test_every_lesson_entry_names_a_cell() -> None:
    ids = {(nb.stem, c.get("id")) for nb in CHAPTERS for c in _cells(nb)}
    assert set(LESSONS) <= ids, f"LESSONS names cells that do not exist: {set(LESSONS) - ids}"
