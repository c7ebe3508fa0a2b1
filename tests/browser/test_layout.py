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
the local server is aborted.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from book_browser import book_pages, opened
from known_problems import judge

PROBE = (Path(__file__).with_name("layout_probe.js")).read_text(encoding="utf-8")
VIEWPORTS = {"phone": {"width": 390, "height": 844}, "desktop": {"width": 1280, "height": 900}}
THEMES = ("light", "dark")
PAGES = book_pages() or [pytest.param(None, id="no-built-book")]

# What the pages still do wrong, by (check, page): each entry names what the check reports
# (a substring of the problem line) and why it is left for now. Issue 21's second phase
# empties this; the test fails on an entry that no longer matches anything.
KNOWN: dict[tuple[str, str], dict[str, str]] = {}


def _open(browser: Any, origin: str, page_path: str, viewport: str, theme: str) -> dict:
    with opened(browser, origin, page_path, VIEWPORTS[viewport], theme) as page:
        report = page.evaluate(PROBE)
        for index, table in enumerate(report["tables"]):
            table["bleeds"] = table["scrolls"] and not _first_column_covers(page, index)
        return report


FIRST_COLUMN_JS = """([index, hide]) => {
  const table = document.querySelector(`table[data-mbc-wide="${index}"]`);
  let box = table.parentElement;
  while (box && !/auto|scroll/.test(getComputedStyle(box).overflowX)) box = box.parentElement;
  if (hide === null) {
    box.scrollIntoView({block: "start"});
    box.scrollLeft = box.scrollWidth;
  }
  table.querySelectorAll("tr > :not(:first-child)").forEach((cell) => {
    cell.style.visibility = hide ? "hidden" : "";
  });
  const b = box.getBoundingClientRect();
  const right = Math.max(...Array.from(table.querySelectorAll("tr > :first-child"),
                                       (c) => c.getBoundingClientRect().right));
  const top = Math.max(b.top, 0), bottom = Math.min(b.bottom, window.innerHeight);
  // Up to 2 px short of the column's right edge: the next cell's border begins there.
  return {x: b.left, y: top, width: Math.max(1, right - b.left - 2),
          height: Math.max(1, bottom - top)};
}"""


def _first_column_covers(page: Any, index: int) -> bool:
    """Scrolled to the far right, does the fixed first column hide what scrolls beneath it? The
    first column is photographed as it is and with every other cell hidden: the two must be the
    same picture (a collapsed table border once let the next column's text show at its left
    edge)."""
    from PIL import Image, ImageChops  # matplotlib's dependency

    clip = page.evaluate(FIRST_COLUMN_JS, [index, None])
    shown = page.screenshot(clip=clip)
    page.evaluate(FIRST_COLUMN_JS, [index, True])
    alone = page.screenshot(clip=clip)
    page.evaluate(FIRST_COLUMN_JS, [index, False])
    pictures = [Image.open(io.BytesIO(png)).convert("L") for png in (shown, alone)]
    # Anti-aliased row edges at fractional positions may differ by a few grey levels; text
    # showing through differs by far more.
    return ImageChops.difference(*pictures).point(lambda v: 255 if v > 24 else 0).getbbox() is None


@pytest.fixture(scope="session")
def layout(browser: Any, server: str) -> Callable[[str, str, str], dict]:
    """``layout(page, viewport, theme)``: the probe's report, one visit per combination."""
    cache: dict[tuple[str, str, str], dict] = {}

    def get(page_path: str, viewport: str, theme: str) -> dict:
        key = (page_path, viewport, theme)
        if key not in cache:
            cache[key] = _open(browser, server, page_path, viewport, theme)
        return cache[key]

    return get


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
