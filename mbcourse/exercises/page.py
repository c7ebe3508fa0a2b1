"""The rendered book's copy of an exercise: HTML elements that carry their data.

A static page has no kernel, so an exercise's widget cannot check anything there. Each exercise
therefore also displays as ``<div class="mbc-exercise" data-spec="{...}">`` (its
:meth:`~mbcourse.exercises.questions.NumericQuestion.spec` as JSON), and the book's script
``_ext/exercises.js`` turns every such element into the same exercise (input, Check, hints,
feedback), checked in the browser by the same rules with the same words (:mod:`.parsing`). The
answer is in the page's source, never on screen. Progress elements (``mbc-progress``) and the
start page's summary (``mbc-summary``) read and show what the reader solved, kept in the
browser's local storage.

In Jupyter and Colab the widget is shown instead (it comes first in the output's MIME bundle;
the book's ``_config.yml`` puts ``text/html`` first for the HTML builder).
"""

from __future__ import annotations

import html
import json
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["exercise_html", "progress_html", "summary_html"]


def _data(value: Any) -> str:
    """JSON for an HTML attribute (escaped; ``<`` and ``>`` too)."""
    return html.escape(json.dumps(value, ensure_ascii=False, allow_nan=False), quote=True)


def exercise_html(spec: Mapping[str, Any]) -> str:
    """The element the page script turns into a live exercise. Without the script it shows the
    prompt and says where the exercise can be checked; the answer stays in the attribute."""
    kind = spec.get("kind", "")
    where = (
        "Checking code needs a running notebook (Jupyter or Colab)."
        if kind == "code"
        else "Interactive exercise: it is checked here once the page's script has loaded, or in "
        "a running notebook."
    )
    return (
        f'<div class="mbc-exercise mbc-kind-{html.escape(kind)}" data-spec="{_data(dict(spec))}">'
        f'<div class="mbc-prompt">{spec.get("prompt_html", "")}</div>'
        f'<div class="mbc-fallback"><em>{where}</em></div></div>'
    )


def progress_html(chapter: str, title: str, ids: Sequence[str], code_ids: Sequence[str]) -> str:
    """The chapter's progress line: the page script fills it from local storage."""
    data = {"chapter": chapter, "title": title, "ids": list(ids), "code": list(code_ids)}
    total = len(ids) - len(code_ids)
    return (
        f'<div class="mbc-progress" data-progress="{_data(data)}">'
        f"<b>{html.escape(title)} — solved 0 / attempted 0 / total {total}</b></div>"
    )


def summary_html(chapters: Sequence[Mapping[str, Any]]) -> str:
    """The start page's table of every chapter's progress (filled by the page script).

    ``chapters``: ``{"chapter", "title", "page", "ids", "code"}`` for each chapter."""
    rows = "".join(
        f"<tr><td>{html.escape(str(c['chapter']))}</td><td>{html.escape(c['title'])}</td>"
        f"<td>{len(c['ids']) - len(c['code'])}</td><td>{len(c['code'])}</td></tr>"
        for c in chapters
    )
    return (
        f'<div class="mbc-summary" data-chapters="{_data([dict(c) for c in chapters])}">'
        "<table><thead><tr><th>chapter</th><th>title</th><th>questions</th>"
        f"<th>code exercises</th></tr></thead><tbody>{rows}</tbody></table></div>"
    )
