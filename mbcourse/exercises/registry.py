"""One spec per exercise, per chapter: what a chapter's one-line exercise cells show.

Each chapter's exercises live in :mod:`mbcourse.exercises.chapters` (``ch03.py`` for chapter 3),
registered in the order the chapter shows them, so ``exercise("3.2")`` is the page's
"Exercise 3.2". Their answers are computed by ``mbcourse`` when the exercise is built (never
typed), with known wrong answers and hints beside them. A chapter uses three one-liners::

    from mbcourse.exercises import exercise, glue_solutions, progress

    progress(3)          # the chapter's progress line (a widget; the page keeps it in storage)
    glue_solutions(3)    # (a removed cell) the values the solutions quote, as glue
    exercise("3.1")      # one cell per exercise, below its ``:::{exercise}`` directive
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .page import progress_html, summary_html
from .progress import Progress
from .questions import CodeExercise, _Exercise

__all__ = [
    "CHAPTER_NUMBERS",
    "Chapter",
    "ChapterProgress",
    "chapter",
    "exercise",
    "glue_solutions",
    "progress",
    "solution_values",
    "summary",
]

CHAPTER_NUMBERS = tuple(range(10))  # chapters with exercises: mbcourse/exercises/chapters/chNN.py
Builder = Callable[..., _Exercise]


@dataclass
class Chapter:
    """A chapter's exercises, in order: ``(label, kind, builder)`` where ``label`` is the
    ``:::{exercise}`` label in the notebook and ``builder(**common)`` makes the exercise."""

    number: int
    title: str
    page: str  # the notebook's path without suffix, e.g. "book/03_squeeze_excitation"
    entries: list[tuple[str, str, Builder]] = field(default_factory=list)
    values: Callable[[], dict[str, Any]] | None = None

    def exercise(self, label: str, kind: str) -> Callable[[Builder], Builder]:
        """Decorator: register the next exercise (``kind``: number, shape, choice or code)."""
        if kind not in ("number", "shape", "choice", "code"):
            raise ValueError(f"Chapter.exercise: kind must be number/shape/choice/code, got {kind}")

        def register(builder: Builder) -> Builder:
            self.entries.append((label, kind, builder))
            return builder

        return register

    def solution_values(self, fn: Callable[[], dict[str, Any]]) -> Callable[[], dict[str, Any]]:
        """Decorator: the values the chapter's solutions quote (glue name -> value)."""
        self.values = fn
        return fn

    @property
    def ids(self) -> list[str]:
        return [f"{self.number}.{i}" for i in range(1, len(self.entries) + 1)]

    @property
    def code_ids(self) -> list[str]:
        return [i for i, (_, kind, _) in zip(self.ids, self.entries, strict=True) if kind == "code"]

    @property
    def labels(self) -> dict[str, str]:
        """Exercise number -> its ``:::{exercise}`` label."""
        return {i: label for i, (label, _, _) in zip(self.ids, self.entries, strict=True)}

    def info(self) -> dict[str, Any]:
        """What the start page's summary needs."""
        return {
            "chapter": str(self.number),
            "title": self.title,
            "page": self.page.split("/")[-1] + ".html",
            "ids": self.ids,
            "code": self.code_ids,
        }


_CHAPTERS: dict[int, Chapter] = {}
_PROGRESS: dict[int, ChapterProgress] = {}


def define(number: int, title: str, page: str) -> Chapter:
    """Create the registry entry of a chapter (called once by its ``chNN`` module)."""
    _CHAPTERS[number] = Chapter(number, title, page)
    return _CHAPTERS[number]


def _number(value: object, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise TypeError(f"{what}: chapter must be a number such as 3, got {value!r}")
    if isinstance(value, str) and not value.strip().isdigit():
        raise ValueError(f"{what}: chapter must be a number such as 3, got {value!r}")
    number = int(value)
    if number not in CHAPTER_NUMBERS:
        raise ValueError(f"{what}: no exercises for chapter {number}; chapters {CHAPTER_NUMBERS}")
    return number


def chapter(number: int | str) -> Chapter:
    """The registry entry of a chapter (its module is imported on first use)."""
    number = _number(number, "chapter")
    if number not in _CHAPTERS:
        importlib.import_module(f"{__package__}.chapters.ch{number:02d}")
    return _CHAPTERS[number]


class ChapterProgress(Progress):
    """A chapter's :class:`Progress`, with every exercise of the chapter counted from the start;
    displayed, it is the live line in a notebook and ``mbc-progress`` in the page."""

    def __init__(self, ch: Chapter) -> None:
        super().__init__(f"Chapter {ch.number}" if ch.number else ch.title)
        self.chapter = ch
        for key in ch.ids:
            self.register(key)

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any]:
        bundle = super()._repr_mimebundle_(**kwargs)
        ch = self.chapter
        bundle["text/html"] = progress_html(str(ch.number), self.title, ch.ids, ch.code_ids)
        return bundle


def progress(number: int | str) -> ChapterProgress:
    """The progress line of a chapter (one per chapter and kernel)."""
    ch = chapter(number)
    if ch.number not in _PROGRESS:
        _PROGRESS[ch.number] = ChapterProgress(ch)
    return _PROGRESS[ch.number]


def exercise(number: str) -> _Exercise:
    """Exercise ``"3.1"``: built now (answers computed by ``mbcourse``), counted in the
    chapter's progress. Displaying it shows the widget (notebook) or the page's exercise."""
    match = re.fullmatch(r"\s*([0-9]+)\.([0-9]+)\s*", number) if isinstance(number, str) else None
    if match is None:
        raise ValueError(f'exercise: give the exercise number as shown, e.g. "3.1", not {number!r}')
    ch = chapter(match.group(1))
    index = int(match.group(2))
    if not 1 <= index <= len(ch.entries):
        raise ValueError(
            f"exercise: chapter {ch.number} has exercises {ch.ids[0]} to {ch.ids[-1]}, "
            f"not {number!r}"
        )
    label, kind, builder = ch.entries[index - 1]
    built = builder(key=f"{ch.number}.{index}", progress=progress(ch.number))
    if built.kind != kind:
        raise TypeError(
            f"exercise {number} ({label}) should be {kind}, its builder gave {built.kind}"
        )
    return built


def solution_values(number: int | str) -> dict[str, Any]:
    """The values a chapter's solutions quote, computed by ``mbcourse`` (glue name -> value)."""
    ch = chapter(number)
    return dict(ch.values()) if ch.values is not None else {}


def glue_solutions(number: int | str) -> dict[str, Any]:
    """Glue every value of :func:`solution_values` (not displayed) and return them."""
    from mbcourse.display import glue

    values = solution_values(number)
    for name, value in values.items():
        glue(name, value, display=False)
    return values


class Summary:
    """The start page's table of every chapter's exercises and, in the page, the reader's
    progress (kept by the browser). In a notebook it lists the chapters' exercise counts."""

    def __init__(self) -> None:
        self.chapters = [chapter(n) for n in CHAPTER_NUMBERS]

    def lines(self) -> list[str]:
        def count(n: int, what: str) -> str:
            return f"{n} {what}" + ("" if n == 1 else "s")

        return [
            f"{c.title}: {count(len(c.ids) - len(c.code_ids), 'question')}, "
            f"{count(len(c.code_ids), 'code exercise')}"
            for c in self.chapters
        ]

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any]:
        return {
            "text/plain": "\n".join(self.lines()),
            "text/html": summary_html([c.info() for c in self.chapters]),
        }


def summary() -> Summary:
    """The per-chapter progress summary for the start page."""
    return Summary()


def code_exercise_names(number: int | str) -> list[str]:
    """Names a chapter's code exercises ask for (for tests)."""
    ch = chapter(number)
    names = []
    for i in ch.code_ids:
        built = exercise(i)
        assert isinstance(built, CodeExercise)
        names.append(built.name)
    return names
