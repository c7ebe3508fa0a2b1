"""What the chapters display: glued numbers, the package's own source code, and figures.

**Glue**: myst-nb's ``glue`` in the book build, a plain display elsewhere.

The chapters put every number of their prose into the page with ``glue(name, value)``. In the
rendered book that is myst-nb's :func:`myst_nb.glue`, which stores the value for
``{glue:text}`` roles. A learner's Jupyter or Colab session has no myst-nb (it is a book-build
dependency, not the package's), so there ``glue`` shows the value as the cell's output and
stores nothing.

**Source**: :func:`show_source` renders the code of a class or function of the package as a
highlighted Python block, read from the module when the page runs, so the book shows the code
the whole course runs and cannot drift from it.

**Figures**: the book's figure policy. Every figure is drawn for the book's text column, so that
shown at the column's width its smallest text is as large as the body text (on a phone it keeps
that size and scrolls sideways in its own box, ``_static/mbcourse.css``):

* the column at a 1280 px wide window is 672 CSS px, 7 inches at 96 px per inch; a figure is at
  most :data:`FIGURE_WIDTH_IN` wide (``figure.figsize``'s default width);
* no text in a figure is smaller than :data:`FIGURE_TEXT_PT` = 12 pt, which is 16 CSS px (the
  body text) at the drawn size: ``font.size`` is 12 and every other size (ticks, legends, axis
  labels) follows it; a smaller ``fontsize=`` breaks the rule;
* figures are SVG with their text kept as text (``svg.fonttype: none``), so that the browser
  test (``tests/browser/test_figures.py``) reads every label's size from the build, and so that
  they stay sharp when a reader opens one full size (``_static/mbcourse-layout.js``).

:func:`use_book_figures` applies it (matplotlib's rcParams and the notebook's inline format);
importing this module applies it once inside a notebook kernel (the book build, Jupyter, Colab,
nbval), since every chapter imports ``glue`` from here before it draws. A leaf module: it
imports nothing from the package.
"""

from __future__ import annotations

import dataclasses
import inspect
import textwrap
import warnings
from collections.abc import Mapping
from typing import Any, Final

from IPython.display import Markdown
from IPython.display import display as _display

try:  # the book build and the test suite have myst-nb; Colab does not
    from myst_nb import glue as _myst_glue
except ImportError:  # pragma: no cover - exercised by the learner-environment run
    _myst_glue = None

__all__ = [
    "FIGURE_RC",
    "FIGURE_TEXT_PT",
    "FIGURE_WIDTH_IN",
    "HAVE_MYST_NB",
    "glue",
    "glue_facts",
    "show_source",
    "use_book_figures",
]

HAVE_MYST_NB = _myst_glue is not None

FIGURE_TEXT_PT: Final = 12.0
"""Smallest text in a figure, in points: 16 CSS px (the body text) at the drawn size."""

FIGURE_WIDTH_IN: Final = 6.8
"""Default and largest figure width, in inches: the column is 7 in (672 CSS px) at 1280 px."""

FIGURE_RC: Final[dict[str, Any]] = {
    "figure.figsize": (FIGURE_WIDTH_IN, 4.2),
    "font.size": FIGURE_TEXT_PT,  # ticks, legends, labels: "medium" = font.size; titles larger
    "svg.fonttype": "none",  # text stays <text>: sharp, and its size readable by the tests
    "svg.hashsalt": "mbcourse",  # the same ids in every build (stable files)
}
"""The matplotlib settings of the figure policy (see the module's docstring)."""


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


def glue_facts(prefix: str, facts: Any) -> list[str]:
    """Glue every field of ``facts`` (a dataclass instance or a mapping) as ``{prefix}_{field}``,
    without displaying anything; returns the names glued.

    A chapter's numbers for its prose come from one package function returning a small record
    (``mbcourse.studies.chNN.facts()``), glued in one hidden cell::

        glue_facts("ch4", ch04.facts())   # {glue:text}`ch4_se_params` in the prose
    """
    if not isinstance(prefix, str) or not prefix:
        raise ValueError(f"glue_facts: prefix must be a non-empty string, got {prefix!r}")
    if dataclasses.is_dataclass(facts) and not isinstance(facts, type):
        items = {f.name: getattr(facts, f.name) for f in dataclasses.fields(facts)}
    elif isinstance(facts, Mapping):
        items = dict(facts)
    else:
        raise TypeError(
            f"glue_facts: facts must be a dataclass instance or a mapping, got "
            f"{type(facts).__name__}"
        )
    names = []
    for field, value in items.items():
        name = f"{prefix}_{field}"
        glue(name, value, display=False)
        names.append(name)
    return names


def show_source(*objects: Any) -> Markdown:
    """The source of each class, function or method in ``objects`` as one ``python`` code block.

    Each piece starts with a comment naming where it lives (``# mbcourse.blocks.MBConv.forward``)
    and is read with :func:`inspect.getsource`; pieces are separated by a blank line. The result
    is an :class:`IPython.display.Markdown` object: the last expression of a notebook cell shows
    it highlighted in Jupyter, Colab and the built book (myst-nb renders Markdown outputs).
    """
    if not objects:
        raise ValueError("show_source: give at least one class, function or method")
    pieces = []
    for obj in objects:
        try:
            source = textwrap.dedent(inspect.getsource(obj)).rstrip("\n")
        except (TypeError, OSError) as error:
            raise TypeError(
                f"show_source: expected a class, function or method defined in a source file, "
                f"got {obj!r} ({error})"
            ) from None
        where = f"{getattr(obj, '__module__', '?')}.{getattr(obj, '__qualname__', '?')}"
        pieces.append(f"# {where}\n{source}")
    body = "\n\n".join(pieces)
    fence = "`" * max(3, _longest_backtick_run(body) + 1)
    return Markdown(f"{fence}python\n{body}\n{fence}")


def _longest_backtick_run(text: str) -> int:
    longest = run = 0
    for char in text:
        run = run + 1 if char == "`" else 0
        longest = max(longest, run)
    return longest


def use_book_figures(shell: Any = None) -> None:
    """Apply the figure policy: :data:`FIGURE_RC` to matplotlib, and SVG as the notebook's figure
    format when ``shell`` (default: the running IPython, if any) is a kernel with the inline
    backend. Idempotent."""
    import matplotlib

    matplotlib.rcParams.update(FIGURE_RC)
    if shell is None:
        shell = _ipython_kernel()
    if shell is None:
        return
    try:
        from IPython.core.pylabtools import select_figure_formats
        from matplotlib_inline.config import InlineBackend
    except ImportError:  # pragma: no cover - every Jupyter and Colab kernel has both
        return
    config = InlineBackend.instance(parent=shell)
    # What `%config InlineBackend.figure_formats = {"svg"}` sets: read when pyplot is imported
    # later (configure_inline_support); selected below for a pyplot imported before. (Setting
    # it runs matplotlib-inline's own old-style trait handler, which warns about itself.)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        config.figure_formats = {"svg"}
    select_figure_formats(shell, {"svg"}, **config.print_figure_kwargs)


def _ipython_kernel() -> Any:
    """The running IPython shell when it is a notebook kernel (has ``kernel``), else None."""
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython comes with the package's dependencies
        return None
    shell = get_ipython()
    return shell if getattr(shell, "kernel", None) is not None else None


if _ipython_kernel() is not None:
    try:
        use_book_figures()
    except Exception as error:  # pragma: no cover - a learner's odd kernel draws as it always did
        warnings.warn(f"mbcourse.display: the book's figure style was not applied ({error})",
                      stacklevel=1)
