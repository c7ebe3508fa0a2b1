"""Accessibility of the built book: axe-core on every page, in the light and the dark theme.

axe-core comes from the npm lock file and is served by the build itself
(``_static/vendor/axe-core/axe.min.js``, copied by ``_ext/book_html.py``; no page loads it): the
test injects it into each page after MathJax and the widgets have rendered, runs it on the whole
document and fails on any violation that axe rates *serious* or *critical*. The dark theme is
the reader's system preference (pydata-sphinx-theme's default mode is ``auto``), checked to be
in effect before axe runs. Every request that is not for the local server is aborted.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from book_browser import (
    HTML,
    ROOT,
    SCREENSHOTS,
    TIMEOUT_MS,
    WIDGETS_READY_JS,
    book_pages,
    keep_offline,
)

AXE = "_static/vendor/axe-core/axe.min.js"
THEMES = ("light", "dark")
BLOCKING = ("serious", "critical")
PAGES = book_pages() or [pytest.param(None, id="no-built-book")]

RUN_AXE_JS = """async () => {
  const result = await axe.run(document, {resultTypes: ["violations"]});
  return result.violations.map((v) => ({
    id: v.id, impact: v.impact, help: v.help,
    nodes: v.nodes.map((n) => ({target: n.target.join(" "), html: n.html.slice(0, 160),
                                summary: (n.failureSummary || "").slice(0, 300)})),
  }));
}"""


def _check_page(browser: Any, origin: str, page_path: str, theme: str) -> list[dict]:
    """Open ``page_path`` in ``theme``, wait for math and widgets, run axe; return violations."""
    context = browser.new_context(viewport={"width": 1280, "height": 900}, color_scheme=theme)
    context.set_default_timeout(TIMEOUT_MS)
    keep_offline(context, origin)
    page = context.new_page()
    try:
        page.goto(f"{origin}/{page_path}", wait_until="load")
        if 'http-equiv="Refresh"' in (HTML / page_path).read_text(encoding="utf-8"):
            page.wait_for_url(lambda url: not url.endswith("/" + page_path))
            page.wait_for_load_state("load")
        page.evaluate(
            "async () => { if (window.MathJax && MathJax.startup) await MathJax.startup.promise; }"
        )
        page.wait_for_function(WIDGETS_READY_JS)
        shown = page.evaluate("() => document.documentElement.dataset.theme")
        assert shown == theme, f"{page_path}: asked for the {theme} theme, the page shows {shown!r}"
        _show_feedback(page)
        if not page.evaluate("() => Boolean(window.axe)"):
            page.add_script_tag(url=f"{origin}/{AXE}")
        violations = page.evaluate(RUN_AXE_JS)
        if any(v["impact"] in BLOCKING for v in violations):
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            name = page_path.replace("/", "__")[: -len(".html")] + f"__axe-{theme}.png"
            page.screenshot(path=str(SCREENSHOTS / name), full_page=True)
        return violations
    finally:
        context.close()


def _show_feedback(page: Any) -> None:
    """Answer the page's first number exercise wrongly, then rightly in the next one, and open a
    hint, so that axe also judges the feedback a reader sees (verdict colours, hint text)."""
    exercises = page.locator(".mbc-exercise.mbc-kind-number, .mbc-exercise.mbc-kind-shape")
    for i, answer in ((0, "0"), (1, "¿?")):
        if exercises.count() > i:
            exercise = exercises.nth(i)
            exercise.locator("input").first.fill(answer)
            exercise.locator("button.mbc-check").click()
            exercise.locator("button.mbc-hint").click()


def _report(violations: list[dict]) -> str:
    lines = []
    for v in violations:
        lines.append(f"[{v['impact']}] {v['id']}: {v['help']} ({len(v['nodes'])} elements)")
        for node in v["nodes"][:4]:
            lines.append(f"    {node['target']}: {node['html']}")
            if node["summary"]:
                lines.append("      " + node["summary"].replace("\n", "\n      "))
    return "\n".join(lines)


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
    browser: Any, server: str, page_path: str, theme: str
) -> None:
    violations = _check_page(browser, server, page_path, theme)
    blocking = [v for v in violations if v["impact"] in BLOCKING]
    assert not blocking, f"{page_path} ({theme} theme):\n{_report(blocking)}"
