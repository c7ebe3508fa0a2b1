"""Helpers for the tests of the chapters' studies (``tests/test_studies_chNN.py``): the figure
policy checked on a matplotlib figure, and a chapter's own solution cells run against their
checkers."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import matplotlib
import matplotlib.pyplot as plt
import nbformat
from matplotlib.figure import Figure
from matplotlib.text import Text

from mbcourse.display import FIGURE_RC, FIGURE_TEXT_PT, FIGURE_WIDTH_IN

ROOT = Path(__file__).resolve().parents[1]


@contextmanager
def book_style() -> Iterator[None]:
    """Matplotlib as a chapter's kernel draws (``mbcourse.display.FIGURE_RC``), for the block."""
    with matplotlib.rc_context(FIGURE_RC):
        yield


def figure_problems(fig: Figure, *, check_text: bool = True) -> list[str]:
    """What breaks the book's figure policy in ``fig`` (``mbcourse.display``): wider than the
    column, a visible text under 12 pt, a tick written as m×10^e; closes the figure."""
    problems = []
    width = fig.get_size_inches()[0]
    if width > FIGURE_WIDTH_IN + 1e-9:
        problems.append(f"figure {width:.2f} in wide (at most {FIGURE_WIDTH_IN})")
    fig.canvas.draw()
    for text in fig.findobj(Text):
        shown = text.get_text().strip()
        if not shown or not text.get_visible():
            continue
        if check_text and text.get_fontsize() < FIGURE_TEXT_PT - 1e-9:
            problems.append(f"{shown!r} at {text.get_fontsize():.1f} pt")
        if r"\times" in shown and "10^" in shown:
            problems.append(f"tick {shown!r} written as m×10^e")
    plt.close(fig)
    return problems


def solution_results(notebook: str, cell_id: str, namespace: dict[str, Any]) -> Any:
    """Run the code cell ``cell_id`` of ``book/<notebook>.ipynb`` in ``namespace`` and return
    the value of its last expression (a solution cell ends with its checker's call)."""
    nb = nbformat.read(ROOT / "book" / f"{notebook}.ipynb", as_version=4)
    [cell] = [c for c in nb.cells if c.get("id") == cell_id]
    tree = ast.parse(cell.source)
    last = tree.body.pop()
    if not isinstance(last, ast.Expr):
        raise AssertionError(f"{notebook} cell {cell_id} does not end with an expression")
    exec(compile(tree, f"{notebook}:{cell_id}", "exec"), namespace)
    return eval(compile(ast.Expression(last.value), f"{notebook}:{cell_id}", "eval"), namespace)
