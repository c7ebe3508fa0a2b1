"""One open of each page per window and theme, shared by the browser tests that read pages.

A page is opened once for each (window, theme): at 1280×900 (desktop) and 390×844 (phone), in
the light and the dark colour scheme. Each open does, in this order, what the tests of that
combination need, so that a probe never sees what an earlier one changed unless a reader would
have done it too:

1. desktop, light: the visit ``test_book_in_browser`` reads (errors, requests off the server,
   math, widgets, images, Colab links, local links, ids) and the page's full screenshot;
2. light: the figures' sizes as shown, and a click on each (``test_figures``), Escape after it
   (not on a page that redirects: its target is a page of its own);
3. desktop: axe-core, after a wrong answer, an unreadable one and their hints
   (``test_accessibility``);
4. every combination: the layout probe, back at the top of the page; it opens every
   ``<details>`` (``test_layout``).

Errors are recorded for the whole life of the desktop-light open, so a click or an answer that
throws fails ``test_no_javascript_errors`` too. Every request that is not for the local server
is aborted.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from book_browser import (
    HTML,
    IMAGES_JS,
    MATH_JS,
    SCREENSHOTS,
    TIMEOUT_MS,
    WIDGETS_JS,
    WIDGETS_READY_JS,
    Visit,
    keep_offline,
)

VIEWPORTS = {"phone": {"width": 390, "height": 844}, "desktop": {"width": 1280, "height": 900}}
THEMES = ("light", "dark")
AXE = "_static/vendor/axe-core/axe.min.js"
BLOCKING = ("serious", "critical")
PROBE = (Path(__file__).with_name("layout_probe.js")).read_text(encoding="utf-8")


@dataclass
class Figures:
    """The body text's size, each output image as shown, and what a click on each did
    (OPEN_JS's result, Escape pressed after it)."""

    body: float
    images: list[dict[str, Any]]
    clicks: list[dict[str, Any]]


@dataclass
class PageView:
    """What one open of a page at one window size and theme showed."""

    page: str
    viewport: str
    theme: str
    shown_theme: str | None = None  # the theme the page shows (html[data-theme])
    visit: Visit | None = None  # desktop, light
    figures: Figures | None = None  # light
    axe: list[dict[str, Any]] | None = None  # desktop: axe's violations
    layout: dict[str, Any] = field(default_factory=dict)  # layout_probe.js's report


def _stem(page_path: str) -> str:
    return page_path.replace("/", "__")[: -len(".html")]


def watch(page: Any, visit: Visit) -> None:
    """Record in ``visit.errors`` what ``page`` throws, logs as an error, or gets as 4xx/5xx."""
    page.on("pageerror", lambda err: visit.errors.append(f"uncaught: {err}"))
    page.on(
        "console",
        lambda msg: (
            visit.errors.append(f"console.error: {msg.text} @ {msg.location.get('url')}")
            if msg.type == "error"
            else None
        ),
    )
    page.on(
        "response",
        lambda r: visit.errors.append(f"HTTP {r.status}: {r.url}") if r.status >= 400 else None,
    )


def load(page: Any, origin: str, page_path: str) -> str:
    """Go to the page (following a redirect page); return the path of the page shown."""
    redirect = 'http-equiv="Refresh"' in (HTML / page_path).read_text(encoding="utf-8")
    page.goto(f"{origin}/{page_path}", wait_until="load")
    if redirect:
        page.wait_for_url(lambda url: not url.endswith("/" + page_path))
        page.wait_for_load_state("load")
    shown = page.url.split("#")[0].split("?")[0]
    return unquote(shown.removeprefix(origin + "/"))


def record(page: Any, origin: str, visit: Visit, screenshot: bool) -> None:
    """Fill ``visit`` from the loaded page: math, widgets, images, links, ids, a screenshot."""
    visit.math = page.evaluate(MATH_JS)
    try:
        page.wait_for_function(WIDGETS_READY_JS)
    except Exception as err:  # recorded below as unrendered widgets
        visit.errors.append(f"widgets did not render within {TIMEOUT_MS} ms: {err}")
    visit.widgets = page.evaluate(WIDGETS_JS)
    visit.images = page.evaluate(IMAGES_JS)
    visit.colab = page.eval_on_selector_all(
        'a[href*="colab.research.google.com"]', "els => els.map((e) => e.href)"
    )
    for href in page.eval_on_selector_all("a[href]", "els => els.map((e) => e.href)"):
        parts = urlsplit(href)
        if f"{parts.scheme}://{parts.netloc}" == origin:
            visit.links.append({"href": href, "path": parts.path, "fragment": parts.fragment})
    visit.dom_ids = set(page.eval_on_selector_all("[id]", "els => els.map((e) => e.id)"))
    if screenshot:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        visit.screenshot = SCREENSHOTS / f"{_stem(visit.page)}.png"
        page.screenshot(path=str(visit.screenshot), full_page=True)


@contextlib.contextmanager
def fresh_page(
    browser: Any, origin: str, visit: Visit, viewport: str = "desktop", theme: str = "light"
) -> Iterator[Any]:
    """A page in a fresh context (no storage) at ``viewport`` in ``theme``, every request off
    ``origin`` aborted and listed in ``visit.offsite``, its errors in ``visit.errors``; closed
    afterwards."""
    context = browser.new_context(viewport=VIEWPORTS[viewport], color_scheme=theme)
    context.set_default_timeout(TIMEOUT_MS)
    keep_offline(context, origin, visit.offsite, describe=lambda r: f"{r.resource_type} {r.url}")
    page = context.new_page()
    watch(page, visit)
    try:
        yield page
    finally:
        context.close()


def record_visit(browser: Any, origin: str, page_path: str) -> Visit:
    """One page opened at 1280×900 and recorded (``record``), without a screenshot: the build
    opened as a ``file://`` URL (a saved copy opened from disk); the served page's own record
    is taken in ``view_page``."""
    visit = Visit(page=page_path, final=page_path)
    with fresh_page(browser, origin, visit) as page:
        visit.final = load(page, origin, page_path)
        record(page, origin, visit, screenshot=False)
    return visit


# ---- figures -----------------------------------------------------------------------------------

SHOWN_JS = """() => {
  const body = document.querySelector("article.bd-article p") || document.body;
  return {
    body: parseFloat(getComputedStyle(body).fontSize),
    images: Array.from(document.querySelectorAll("div.cell_output img")).map((img) => ({
      src: img.getAttribute("src"), shown: img.getBoundingClientRect().width,
      natural: img.naturalWidth, wrapped: Boolean(img.closest("a.mbc-figure-open")),
    })),
  };
}"""

OPEN_JS = """async (index) => {
  const img = document.querySelectorAll("div.cell_output img")[index];
  const link = img.closest("a.mbc-figure-open");
  if (!link) return {opened: false, why: "not wrapped in a.mbc-figure-open"};
  const before = img.getBoundingClientRect().width;
  link.scrollIntoView();
  link.click();
  const dialog = document.querySelector("dialog.mbc-figure-dialog");
  if (!dialog || !dialog.open) return {opened: false, why: "no open dialog after the click"};
  const full = dialog.querySelector("img");
  if (!full.complete || !full.naturalWidth) {
    await new Promise((done) => full.addEventListener("load", done, {once: true}));
  }
  await new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(done)));
  const same = full.getAttribute("src") === img.src || full.src === img.src;
  return {opened: true, same, inPage: before, natural: full.naturalWidth,
          full: full.getBoundingClientRect().width, window: window.innerWidth};
}"""


def see_figures(page: Any, page_path: str, viewport: str) -> Figures:
    """Each output image's shown size, then a click on each (Escape after it); a screenshot of
    the first one opened."""
    page.evaluate("""async () => Promise.all(Array.from(document.images).map((i) =>
        i.complete ? null : new Promise((d) => { i.onload = i.onerror = d; })))""")
    data = page.evaluate(SHOWN_JS)
    clicks = []
    for index in range(len(data["images"])):
        result = page.evaluate(OPEN_JS, index)
        if result["opened"]:
            if index == 0:
                SCREENSHOTS.mkdir(parents=True, exist_ok=True)
                name = f"{_stem(page_path)}__figure-open-{viewport}.png"
                page.screenshot(path=str(SCREENSHOTS / name))
            page.keyboard.press("Escape")
            result["closed"] = not page.evaluate(
                "() => document.querySelector('dialog.mbc-figure-dialog').open"
            )
        clicks.append(result)
    return Figures(data["body"], data["images"], clicks)


# ---- axe-core ----------------------------------------------------------------------------------

RUN_AXE_JS = """async () => {
  const result = await axe.run(document, {resultTypes: ["violations"]});
  return result.violations.map((v) => ({
    id: v.id, impact: v.impact, help: v.help,
    nodes: v.nodes.map((n) => ({target: n.target.join(" "), html: n.html.slice(0, 160),
                                summary: (n.failureSummary || "").slice(0, 300)})),
  }));
}"""


def axe_violations(page: Any, origin: str) -> list[dict[str, Any]]:
    """Axe's violations on the page as it is now (the build's axe-core injected if absent)."""
    if not page.evaluate("() => Boolean(window.axe)"):
        page.add_script_tag(url=f"{origin}/{AXE}")
    return page.evaluate(RUN_AXE_JS)


def axe_report(violations: list[dict[str, Any]]) -> str:
    """Violations as lines to read: impact, rule, help, and up to four elements each."""
    lines = []
    for v in violations:
        lines.append(f"[{v['impact']}] {v['id']}: {v['help']} ({len(v['nodes'])} elements)")
        for node in v["nodes"][:4]:
            lines.append(f"    {node['target']}: {node['html']}")
            if node["summary"]:
                lines.append("      " + node["summary"].replace("\n", "\n      "))
    return "\n".join(lines)


def show_feedback(page: Any) -> None:
    """Answer the page's first number (or shape) exercise wrongly and the next with text that is
    no number, and open both hints, so that axe also judges the feedback a reader sees (verdict
    colours, hint text)."""
    exercises = page.locator(".mbc-exercise.mbc-kind-number, .mbc-exercise.mbc-kind-shape")
    for i, answer in ((0, "0"), (1, "¿?")):
        if exercises.count() > i:
            exercise = exercises.nth(i)
            exercise.locator("input").first.fill(answer)
            exercise.locator("button.mbc-check").click()
            exercise.locator("button.mbc-hint").click()


def run_axe(page: Any, origin: str, page_path: str, theme: str) -> list[dict[str, Any]]:
    """Axe's violations on the whole document, after ``show_feedback``; a full screenshot when
    one of them blocks."""
    show_feedback(page)
    violations = axe_violations(page, origin)
    if any(v["impact"] in BLOCKING for v in violations):
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        name = f"{_stem(page_path)}__axe-{theme}.png"
        page.screenshot(path=str(SCREENSHOTS / name), full_page=True)
    return violations


# ---- layout ------------------------------------------------------------------------------------

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


def first_column_covers(page: Any, index: int) -> bool:
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


def probe_layout(page: Any) -> dict[str, Any]:
    """layout_probe.js's report, each wide table's ``bleeds`` added (``first_column_covers``).

    It starts from the top of the page, as a page just opened does: scrolled down by the earlier
    probes (the theme's header then marks the page ``scrolled``), Chromium may paint a sticky
    cell's bottom border a pixel row differently from the cells scrolling beneath it, which the
    pixel comparison would count as showing through."""
    page.evaluate("() => window.scrollTo(0, 0)")
    page.wait_for_function("() => !document.body.classList.contains('scrolled')")
    report = page.evaluate(PROBE)
    for index, table in enumerate(report["tables"]):
        table["bleeds"] = table["scrolls"] and not first_column_covers(page, index)
    return report


# ---- one open ----------------------------------------------------------------------------------


def view_page(browser: Any, origin: str, page_path: str, viewport: str, theme: str) -> PageView:
    """Open ``page_path`` at ``viewport`` in ``theme`` (``fresh_page``) and run the probes of that
    combination, in the order the module's docstring gives."""
    view = PageView(page_path, viewport, theme)
    visit = Visit(page=page_path, final=page_path)
    with fresh_page(browser, origin, visit, viewport, theme) as page:
        visit.final = load(page, origin, page_path)
        if viewport == "desktop" and theme == "light":
            record(page, origin, visit, screenshot=True)
            view.visit = visit
        page.evaluate(
            "async () => { if (window.MathJax && MathJax.startup) await MathJax.startup.promise; }"
        )
        page.wait_for_function(WIDGETS_READY_JS)
        view.shown_theme = page.evaluate("() => document.documentElement.dataset.theme")
        if theme == "light" and visit.final == page_path:  # a redirect's target has its own
            view.figures = see_figures(page, page_path, viewport)
        if viewport == "desktop":
            view.axe = run_axe(page, origin, page_path, theme)
        view.layout = probe_layout(page)
    return view
