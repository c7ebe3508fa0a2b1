"""What the chapters display: glued numbers, and the package's own source code.

**Glue**: myst-nb's ``glue`` in the book build, a plain display elsewhere.

The chapters put every number of their prose into the page with ``glue(name, value)``. In the
rendered book that is myst-nb's :func:`myst_nb.glue`, which stores the value for
``{glue:text}`` roles. A learner's Jupyter or Colab session has no myst-nb (it is a book-build
dependency, not the package's), so there ``glue`` shows the value as the cell's output and
stores nothing.

**Source**: :func:`show_source` renders the code of a class or function of the package as a
highlighted Python block, read from the module when the page runs, so the book shows the code
the whole course runs and cannot drift from it. A leaf module: it imports nothing from the
package.
"""

from __future__ import annotations

import dataclasses
import inspect
import textwrap
from collections.abc import Mapping
from typing import Any

from IPython.display import Markdown
from IPython.display import display as _display

try:  # the book build and the test suite have myst-nb; Colab does not
    from myst_nb import glue as _myst_glue
except ImportError:  # pragma: no cover - exercised by the learner-environment run
    _myst_glue = None

__all__ = ["HAVE_MYST_NB", "glue", "glue_facts", "show_source"]

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
