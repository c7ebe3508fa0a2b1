"""Glue for the chapters: myst-nb's ``glue`` in the book build, a plain display elsewhere.

The chapters put every number of their prose into the page with ``glue(name, value)``. In the
rendered book that is myst-nb's :func:`myst_nb.glue`, which stores the value for
``{glue:text}`` roles. A learner's Jupyter or Colab session has no myst-nb (it is a book-build
dependency, not the package's), so there ``glue`` shows the value as the cell's output and
stores nothing. A leaf module: it imports nothing from the package.
"""

from __future__ import annotations

from typing import Any

from IPython.display import display as _display

try:  # the book build and the test suite have myst-nb; Colab does not
    from myst_nb import glue as _myst_glue
except ImportError:  # pragma: no cover - exercised by the learner-environment run
    _myst_glue = None

__all__ = ["HAVE_MYST_NB", "glue"]

HAVE_MYST_NB = _myst_glue is not None


def glue(name: str, variable: Any, display: bool = True) -> None:
    """Store ``variable`` under ``name`` for the book (myst-nb), or just show it without myst-nb.

    ``display=False`` keeps the value out of the cell's output in both cases.
    """
    if not isinstance(name, str) or not name:
        raise ValueError(f"glue: name must be a non-empty string, got {name!r}")
    if _myst_glue is not None:
        _myst_glue(name, variable, display=display)
    elif display:
        _display(variable)
