"""Accessibility of the built book: axe-core on every page, in the light and the dark theme.

axe-core comes from the npm lock file and is served by the build itself
(``_static/vendor/axe-core/axe.min.js``, copied by ``_ext/book_html.py``; no page loads it): the
test injects it into each page after MathJax and the widgets have rendered, runs it on the whole
document and fails on any violation that axe rates *serious* or *critical*. The dark theme is
the reader's system preference (pydata-sphinx-theme's default mode is ``auto``), checked to be
in effect before axe runs. The page is the desktop open the browser tests share
(``page_views.py``): axe runs after the figures were clicked (in the light theme), and after the
page's first number exercise was answered wrongly, the next with text that is no number, and
their hints opened, so that it judges the feedback a reader sees too. Every request that is not
for the local server is aborted.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from book_browser import ROOT, book_pages
from page_views import AXE, BLOCKING, THEMES, PageView, axe_report

PAGES = book_pages() or [pytest.param(None, id="no-built-book")]


@pytest.mark.parametrize("page_path", PAGES)
def test_every_output_image_is_a_numbered_described_figure(book_html: Any, page_path: str) -> None:
    """Each image a chapter's code draws sits in a <figure> whose caption has a number, and its
    alt text describes it in words (not the file name, not empty)."""
    bs4 = pytest.importorskip("bs4")  # pydata-sphinx-theme's own dependency
    soup = bs4.BeautifulSoup((book_html / page_path).read_text(encoding="utf-8"), "html.parser")
    problems = []
    for img in soup.select("div.cell_output img"):
        src, alt = img.get("src", ""), (img.get("alt") or "").strip()
        figure = img.find_parent("figure")
        number = figure.select_one("figcaption .caption-number") if figure else None
        if figure is None or not figure.get("id"):
            problems.append(f"{src}: not in a named <figure> (mystnb figure metadata)")
        elif number is None or not re.search(r"\d", number.get_text()):
            problems.append(f"{src}: its figure has no numbered caption")
        if len(alt.split()) < 5 or Path(src).name in alt or alt.endswith((".png", ".svg")):
            problems.append(f"{src}: alt text {alt!r} does not describe the figure")
    assert not problems, f"{page_path}:\n" + "\n".join(problems)


def test_axe_is_served_by_the_build(book_html: Any) -> None:
    """The build serves the axe-core of package-lock.json (the version the checks ran with)."""
    axe = book_html / AXE
    assert axe.is_file(), f"{axe} missing: _ext/book_html.py copies it from node_modules/axe-core"
    lock = json.loads((ROOT / "package-lock.json").read_text(encoding="utf-8"))
    version = lock["packages"]["node_modules/axe-core"]["version"]
    head = axe.read_text(encoding="utf-8", errors="replace")[:200]
    assert head.startswith(f"/*! axe v{version}"), f"{axe} is not axe-core {version}: {head!r}"


@pytest.mark.parametrize("theme", THEMES)
@pytest.mark.parametrize("page_path", PAGES)
def test_no_serious_or_critical_axe_violations(
    view: Callable[[str, str, str], PageView], page_path: str, theme: str
) -> None:
    seen = view(page_path, "desktop", theme)
    assert seen.shown_theme == theme, (
        f"{page_path}: asked for the {theme} theme, the page shows {seen.shown_theme!r}"
    )
    violations = seen.axe
    blocking = [v for v in violations if v["impact"] in BLOCKING]
    assert not blocking, f"{page_path} ({theme} theme):\n{axe_report(blocking)}"
