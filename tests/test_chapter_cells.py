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
