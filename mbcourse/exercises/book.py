"""The chapters' exercises: one spec per exercise, in :mod:`mbcourse.exercises.chapters`.

Each chapter module (``ch03.py`` for chapter 3) computes its answers with ``mbcourse`` and
returns its specs, in the order the chapter shows them (``exercise("3.2")`` is the page's
"Exercise 3.2"), with the values its solutions quote. A chapter uses a few one-liners::

    from mbcourse.exercises import checkers, exercise, glue_solutions, progress

    progress(3)          # the chapter's progress line, with "Reset progress"
    glue_solutions(3)    # (a removed cell) glues the values the solutions quote; shows nothing
    exercise("3.1")      # one cell per exercise, below its ``:::{exercise}`` directive
"""

from __future__ import annotations

import functools
import html
import importlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .widgets import CodeExercise, Progress, Question, data_attr, widget_bundle

__all__ = [
    "CHAPTER_NUMBERS",
    "chapter",
    "exercise",
    "glue_solutions",
    "progress",
    "reset_progress",
    "solution_values",
    "summary",
]

CHAPTER_NUMBERS = tuple(range(10))  # chapters with exercises: chapters/chNN.py
Built = tuple[dict[str, dict[str, Any]], dict[str, Any]]  # ({label: spec}, {glue name: value})
Build = Callable[[], Built]


@dataclass
class Chapter:
    """A chapter: its number, title, notebook (``03_squeeze_excitation``) and ``build``, which
    returns ``({label: spec}, {glue name: value})`` (label: the ``:::{exercise}`` label)."""

    number: int
    title: str
    page: str
    build: Build

    @functools.cached_property
    def _built(self) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        specs, values = self.build()
        out = []
        for i, (label, spec) in enumerate(specs.items(), start=1):
            out.append({"id": f"{self.number}.{i}", "chapter": str(self.number), "label": label,
                        **spec})
        return out, dict(values)

    @property
    def specs(self) -> list[dict[str, Any]]:
        return self._built[0]

    @property
    def ids(self) -> list[str]:
        return [s["id"] for s in self.specs]

    @property
    def code_ids(self) -> list[str]:
        return [s["id"] for s in self.specs if s["kind"] == "code"]

    def info(self) -> dict[str, Any]:
        """What the page's progress line and start-page summary need."""
        return {"chapter": str(self.number), "title": self.title, "page": f"{self.page}.html",
                "ids": self.ids, "code": self.code_ids}


_CHAPTERS: dict[int, Chapter] = {}
_PROGRESS: dict[int, Progress] = {}


def define(number: int, title: str, page: str) -> Callable[[Build], Build]:
    """Decorator for a chapter module's ``build`` function."""

    def register(build: Build) -> Build:
        _CHAPTERS[number] = Chapter(number, title, page, build)
        return build

    return register


def chapter(number: int | str) -> Chapter:
    """The chapter ``number`` (its module imported on first use)."""
    text = str(number).strip() if isinstance(number, (int, str)) else ""
    if isinstance(number, bool) or not text.isdigit() or int(text) not in CHAPTER_NUMBERS:
        raise ValueError(f"chapter: no exercises for chapter {number!r}; chapters are "
                         f"{CHAPTER_NUMBERS[0]} to {CHAPTER_NUMBERS[-1]}")
    n = int(text)
    if n not in _CHAPTERS:
        importlib.import_module(f"{__package__}.chapters.ch{n:02d}")
    return _CHAPTERS[n]


def progress(number: int | str) -> Progress:
    """The progress line of a chapter (one per chapter and kernel)."""
    ch = chapter(number)
    if ch.number not in _PROGRESS:
        title = ch.title if ch.number == 0 else f"Chapter {ch.number}"
        _PROGRESS[ch.number] = Progress(title, ch.ids, page={**ch.info(), "title": title})
    return _PROGRESS[ch.number]


def exercise(number: str) -> Question:
    """Exercise ``"3.1"``, counted in its chapter's progress; displayed, its widget (notebook)
    or the page's element (the book)."""
    match = re.fullmatch(r" *([0-9]+)\.([0-9]+) *", number) if isinstance(number, str) else None
    if match is None:
        raise ValueError(f'exercise: give the exercise number as shown, e.g. "3.1", not {number!r}')
    ch = chapter(match.group(1))
    if not 1 <= int(match.group(2)) <= len(ch.ids):
        raise ValueError(f"exercise: chapter {ch.number} has exercises {ch.ids[0]} to "
                         f"{ch.ids[-1]}, not {number!r}")
    spec = ch.specs[int(match.group(2)) - 1]
    if spec["kind"] == "code":
        from . import checkers

        return CodeExercise(spec, getattr(checkers, spec["checker"]), progress(ch.number))
    return Question(spec, progress(ch.number))


def solution_values(number: int | str) -> dict[str, Any]:
    """The values a chapter's solutions quote, computed by ``mbcourse`` (glue name -> value)."""
    return dict(chapter(number)._built[1])


def glue_solutions(number: int | str) -> None:
    """Glue every value of :func:`solution_values` for the book; displays (and returns)
    nothing, so running the cell never shows an answer."""
    from mbcourse.display import glue

    for name, value in solution_values(number).items():
        glue(name, value, display=False)


def reset_progress(number: int | str | None = None) -> None:
    """Forget this kernel's answers: of one chapter, or (``None``) of every chapter."""
    numbers = list(_PROGRESS) if number is None else [chapter(number).number]
    for n in numbers:
        if n in _PROGRESS:
            _PROGRESS[n].reset()


class Summary:
    """The start page's table of every chapter's exercises: in the page, the reader's progress
    (kept by the browser) and "Reset all progress"; in a notebook, this kernel's."""

    def __init__(self) -> None:
        self.chapters = [chapter(n) for n in CHAPTER_NUMBERS]
        self._parts: dict[str, Any] = {}

    def lines(self) -> list[str]:
        def count(n: int, what: str) -> str:
            return f"{n} {what}" + ("" if n == 1 else "s")

        return [f"{c.title}: {count(len(c.ids) - len(c.code_ids), 'question')}, "
                f"{count(len(c.code_ids), 'code exercise')}" for c in self.chapters]

    def widget(self) -> Any:
        """The table with this kernel's counts and a "Reset all progress" button."""
        if not self._parts:
            import ipywidgets as widgets

            self._parts["table"] = widgets.HTML()
            self._parts["reset"] = widgets.Button(description="Reset all progress",
                                                  layout=widgets.Layout(width="auto"))
            self._parts["reset"].on_click(lambda _: (reset_progress(), self._refresh()))
            self._parts["box"] = widgets.VBox([self._parts["table"], self._parts["reset"]])
            self._refresh()
        return self._parts["box"]

    def _refresh(self) -> None:
        rows = "".join(
            f"<tr><td>{c.number}</td><td>{html.escape(c.title)}</td><td>"
            f"{html.escape(_PROGRESS[c.number].line()) if c.number in _PROGRESS else line}"
            f"</td></tr>" for c, line in zip(self.chapters, self.lines(), strict=True))
        self._parts["table"].value = f"<table>{rows}</table>"

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any]:
        bundle = widget_bundle(self.widget(), **kwargs)
        rows = "".join(
            f"<tr><td>{c.number}</td><td>{html.escape(c.title)}</td>"
            f"<td>{len(c.ids) - len(c.code_ids)}</td><td>{len(c.code_ids)}</td></tr>"
            for c in self.chapters)
        bundle["text/plain"] = "\n".join(self.lines())
        data = data_attr([c.info() for c in self.chapters])
        bundle["text/html"] = (
            f'<div class="mbc-summary" data-chapters="{data}">'
            "<table><thead><tr><th>chapter</th><th>title</th><th>questions</th>"
            f"<th>code exercises</th></tr></thead><tbody>{rows}</tbody></table></div>")
        return bundle


def summary() -> Summary:
    """The per-chapter progress summary for the start page."""
    return Summary()
