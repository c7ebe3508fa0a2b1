"""The book's layout at phone and desktop width, in the light and the dark theme.

Every page of the build is opened in Chromium at 390×844 (a phone) and 1280×900 (a desktop),
each in both colour themes, with every ``<details>`` open (hidden code, solutions); the probe
(``layout_probe.js``) then reports what does not fit:

* no element reaches beyond the box that holds it unless that box scrolls: not out of the text
  column, not cut off by a box that clips (the theme's inline math once did that), and the page
  itself never scrolls sideways;
* a display equation wider than the line scrolls inside its own box;
* a table wider than the column scrolls inside its own box, and its first column (the stage,
  the model, the variant: what a row is about) stays in view, on an opaque background that
  hides the cells scrolled beneath it (compared pixel for pixel with the column alone), when
  the rest is scrolled to the far right;
* code wider than its box (cells and outputs) scrolls or wraps;
* no TeX command is shown as text inside rendered math (``\\text{make\\_divisible}`` rendered
  its backslash).

``KNOWN`` lists what the pages still do wrong (issue 21's second phase empties it); an entry
that no longer fails is reported, so that the list only shrinks. Every request that is not for
the local server is aborted. The opens are shared with the other browser tests
(``page_views.py``): the layout is probed last, after the figures were clicked and, at desktop
width, two exercises answered and their hints opened, as a reader might have done.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from book_browser import book_pages
from known_problems import judge
from page_views import THEMES, VIEWPORTS, PageView

PAGES = book_pages() or [pytest.param(None, id="no-built-book")]

# What the pages still do wrong, by (check, page): each entry names what the check reports
# (a substring of the problem line) and why it is left for now. Issue 21's second phase
# empties this; the test fails on an entry that no longer matches anything.
KNOWN: dict[tuple[str, str], dict[str, str]] = {}


@pytest.fixture(scope="session")
def layout(view: Callable[[str, str, str], PageView]) -> Callable[[str, str, str], dict]:
    """``layout(page, viewport, theme)``: the probe's report (``page_views.probe_layout``), from
    the open of that combination the browser tests share."""
    return lambda page_path, viewport, theme: view(page_path, viewport, theme).layout


def _judge(check: str, page: str, problems: list[str]) -> None:
    judge(KNOWN, check, page, problems, Path(__file__).name)


def _where(item: dict) -> str:
    return f"[{item['section']}]" if item.get("section") else ""


params = pytest.mark.parametrize
combinations = [pytest.param(v, t, id=f"{v}-{t}") for v in VIEWPORTS for t in THEMES]


@params(("viewport", "theme"), combinations)
@params("page_path", PAGES)
def test_nothing_sticks_out_of_its_box(
    book_html: Path, layout: Callable, page_path: str, viewport: str, theme: str
) -> None:
    report = layout(page_path, viewport, theme)
    shown = report["theme"]
    assert shown == theme, f"asked for the {theme} theme, the page shows {shown}"
    problems = [
        f"{o['element']} {_where(o)} is {o['over']} px beyond its "
        f"{'text column' if o['overflow'] == 'column' else o['box'] + ' (clips)'}: {o['text']!r}"
        for o in report["offenders"]
    ]
    if report["pageScroll"]:
        problems.append(f"the page scrolls sideways by {report['pageScroll']} px")
    _judge(f"overflow-{viewport}", page_path, problems)


@params(("viewport", "theme"), combinations)
@params("page_path", PAGES)
def test_wide_equations_and_tables_scroll_in_their_own_box(
    book_html: Path, layout: Callable, page_path: str, viewport: str, theme: str
) -> None:
    report = layout(page_path, viewport, theme)
    problems = [
        f"display equation {_where(m)} {m['text']!r} is wider than its line and "
        f"{'scrolls in ' + m['box'] if m['scrolls'] else 'does not scroll'}"
        for m in report["math"]
        if not (m["own"] and m["scrolls"])
    ]
    for t in report["tables"]:
        if not (t["own"] and t["scrolls"]):
            problems.append(
                f"table {_where(t)} {t['head']!r} is wider than {t['box']} and "
                "does not scroll in a box of its own"
            )
        if t["hidden"]:
            problems.append(
                f"table {_where(t)} {t['head']!r}: scrolled to the right, its first "
                f"column leaves the view ({', '.join(t['hidden'][:4])})"
            )
        if t.get("bleeds"):
            problems.append(
                f"table {_where(t)} {t['head']!r}: scrolled to the right, the scrolled cells "
                "show through its fixed first column"
            )
        if t["transparent"]:
            problems.append(
                f"table {_where(t)} {t['head']!r}: the fixed first column lets the "
                f"scrolled cells show through ({', '.join(t['transparent'][:4])})"
            )
    _judge(f"scroll-{viewport}", page_path, problems)


@params(("viewport", "theme"), combinations)
@params("page_path", PAGES)
def test_wide_code_scrolls_or_wraps(
    book_html: Path, layout: Callable, page_path: str, viewport: str, theme: str
) -> None:
    report = layout(page_path, viewport, theme)
    problems = [
        f"code {c['id']} {_where(c)} is wider than its box and neither scrolls nor wraps: "
        f"{c['text']!r}"
        for c in report["code"]
        if not (c["scrolls"] or c["wraps"])
    ]
    _judge(f"code-{viewport}", page_path, problems)


@params("page_path", PAGES)
def test_no_tex_command_shows_as_text_in_math(
    book_html: Path, layout: Callable, page_path: str
) -> None:
    report = layout(page_path, "desktop", "light")
    problems = [f"{t['math']!r} renders {', '.join(t['shown'])}" for t in report["tex"]]
    _judge("tex", page_path, problems)
