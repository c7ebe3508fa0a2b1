"""Helpers for the browser tests: where the book is, and one recorded visit of a page.

Prerequisites: the built book (``_build/html``, or ``MBCOURSE_BOOK_HTML``), Playwright's Python
package and a Chromium executable (Debian's ``chromium``, or ``MBCOURSE_CHROMIUM``); Playwright's
own browser download is never used. Without them the tests skip, saying why, unless
``MBCOURSE_REQUIRE_BROWSER=1`` (CI), where they fail.

Every request that is not for the local server is aborted and recorded. Each visit saves a
full-page screenshot under ``artifacts/screenshots/``.
"""

from __future__ import annotations

import contextlib
import functools
import html
import os
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "_ext"))  # the project's one Chromium setup, shared with the PDF

from book_chromium import (  # noqa: E402, F401 (re-exported)
    CHROMIUM_ARGS,
    chromium_path,
    keep_offline,
    serve,
)

HTML = Path(os.environ.get("MBCOURSE_BOOK_HTML", ROOT / "_build" / "html")).resolve()
SOURCE = HTML.parents[1]  # the book's folder: <book>/_build/html
SCREENSHOTS = ROOT / "artifacts" / "screenshots"
REQUIRE = os.environ.get("MBCOURSE_REQUIRE_BROWSER") == "1"
TIMEOUT_MS = 20_000  # per wait (MathJax, widgets, images); generous for a loaded 2-core machine


def colab_edition_url(in_book: str) -> str | None:
    """The Colab address the book's buttons must give for ``in_book`` (``book/04_mbconv.ipynb``):
    the notebook of that name in the Colab edition's branch (``_ext/colab_edition.py``)."""
    import yaml
    from colab_edition import colab_url

    config = yaml.safe_load((SOURCE / "_config.yml").read_text(encoding="utf-8"))
    branch = config["sphinx"]["config"]["colab_edition_branch"]
    return colab_url(config["repository"]["url"], branch, in_book,
                     config["launch_buttons"]["colab_url"])


def missing(reason: str) -> None:
    """Skip for want of a prerequisite, or fail when MBCOURSE_REQUIRE_BROWSER=1."""
    if REQUIRE:
        pytest.fail(f"{reason} (MBCOURSE_REQUIRE_BROWSER=1)", pytrace=False)
    pytest.skip(reason)


def book_pages() -> list[str]:
    """Every HTML page of the build (paths relative to it), not those in _static and the like."""
    if not (HTML / "index.html").is_file():
        return []
    pages = (p.relative_to(HTML) for p in HTML.rglob("*.html"))
    return sorted(p.as_posix() for p in pages if not any(s.startswith("_") for s in p.parts))


@dataclass
class Visit:
    """What one page showed in the browser."""

    page: str  # path relative to the build, e.g. book/01_cost_of_convolution.html
    final: str  # the page shown after any redirect (index.html redirects to the first chapter)
    errors: list[str] = field(default_factory=list)  # uncaught exceptions, console errors, 4xx
    offsite: list[str] = field(default_factory=list)  # requests not for the local server
    math: dict[str, Any] = field(default_factory=dict)
    widgets: dict[str, Any] = field(default_factory=dict)
    images: dict[str, Any] = field(default_factory=dict)
    colab: list[str] = field(default_factory=list)  # hrefs of the Colab launch links
    links: list[dict[str, str]] = field(default_factory=list)  # local links: href, path, fragment
    dom_ids: set[str] = field(default_factory=set)
    screenshot: Path | None = None


MATH_JS = r"""async () => {
  const nodes = Array.from(document.querySelectorAll(".math"));
  if (nodes.length && window.MathJax && MathJax.startup && MathJax.startup.promise) {
    await MathJax.startup.promise;
  }
  const untypeset = nodes
    .filter((n) => !n.querySelector("mjx-container"))
    .map((n) => n.textContent.trim().slice(0, 80));
  const errors = nodes
    .filter((n) => n.querySelector("mjx-merror"))
    .map((n) => n.querySelector("mjx-merror").textContent.slice(0, 80));
  // Raw TeX delimiters or Markdown table rows ("|---|") left in the text a reader sees
  // (code and rendered math excluded).
  const skip = "pre, code, script, style, textarea, mjx-container, .highlight";
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  const raw = [];
  for (let t = walker.nextNode(); t; t = walker.nextNode()) {
    if (t.parentElement && t.parentElement.closest(skip)) continue;
    const m = t.textContent.match(
      /\\\(|\\\[|\$\$|\\begin\{|\$[^$\s][^$]*\$|\|\s*:?(?:-{3,}|[—–]+):?\s*\|/);
    if (m) raw.push(t.textContent.trim().slice(0, 80));
  }
  return {
    count: nodes.length,
    typeset: document.querySelectorAll(".math mjx-container").length,
    mathjax: Boolean(window.MathJax && MathJax.version),
    untypeset, errors, raw,
  };
}"""

WIDGETS_READY_JS = """() => Array.from(document.querySelectorAll(
    'script[type="application/vnd.jupyter.widget-view+json"]')).every((s) => {
  const area = s.previousElementSibling;
  return area && area.classList.contains("widget-subarea") && area.firstElementChild;
})"""

WIDGETS_JS = """() => {
  const views = Array.from(document.querySelectorAll(
    'script[type="application/vnd.jupyter.widget-view+json"]'));
  const states = document.querySelectorAll(
    'script[type="application/vnd.jupyter.widget-state+json"]').length;
  const broken = [];
  let rendered = 0;
  for (const s of views) {
    const id = JSON.parse(s.textContent).model_id;
    const area = s.previousElementSibling;
    const shown = area && area.classList.contains("widget-subarea") && area.firstElementChild;
    const box = shown ? area.firstElementChild.getBoundingClientRect() : null;
    const failed = shown && /Error displaying widget/.test(area.textContent);
    if (shown && box.width > 0 && box.height > 0 && !failed) rendered += 1;
    else broken.push(id + (failed ? ": " + area.textContent.trim().slice(0, 120) : ""));
  }
  return {count: views.length, states, rendered, broken};
}"""

IMAGES_JS = """async () => {
  const imgs = Array.from(document.images);
  imgs.forEach((img) => { img.loading = "eager"; });
  await Promise.all(imgs.map((img) => img.complete ? null : new Promise((done) => {
    img.addEventListener("load", done, {once: true});
    img.addEventListener("error", done, {once: true});
  })));
  return {
    count: imgs.length,
    broken: imgs.filter((i) => !(i.complete && i.naturalWidth > 0))
                .map((i) => i.getAttribute("src")),
  };
}"""


@contextlib.contextmanager
def opened(
    browser: Any, origin: str, page_path: str, viewport: dict[str, int], theme: str = "light"
) -> Iterator[Any]:
    """The page in a fresh context (no storage) at ``viewport`` in the ``theme`` colour scheme,
    every request off ``origin`` aborted, loaded (through a redirect page) with its saved
    widgets rendered; closed afterwards."""
    context = browser.new_context(viewport=viewport, color_scheme=theme)
    context.set_default_timeout(TIMEOUT_MS)
    keep_offline(context, origin)
    page = context.new_page()
    try:
        page.goto(f"{origin}/{page_path}", wait_until="load")
        if 'http-equiv="Refresh"' in (HTML / page_path).read_text(encoding="utf-8"):
            page.wait_for_url(lambda url: not url.endswith("/" + page_path))
            page.wait_for_load_state("load")
        page.wait_for_function(WIDGETS_READY_JS)
        yield page
    finally:
        context.close()


def file_for(path: str) -> Path:
    """The build file a local URL path names (a folder means its index.html)."""
    target = HTML / unquote(path).lstrip("/")
    return target / "index.html" if path.endswith("/") or target.is_dir() else target


@functools.cache
def ids_in(file: Path) -> frozenset[str]:
    """Element ids present in an HTML file of the build (for #fragment links)."""
    text = file.read_text(encoding="utf-8", errors="replace")
    return frozenset(html.unescape(m) for m in re.findall(r'\bid="([^"]+)"', text))


def record_visit(browser: Any, origin: str, page_path: str, screenshot: bool = True) -> Visit:
    """Open one page in a fresh context (no storage), wait for math and widgets, and record.

    ``origin`` is the local server (``http://127.0.0.1:PORT``) or the build as ``file://`` URL
    (a saved copy opened from disk); requests elsewhere are aborted and listed in ``offsite``.
    """
    visit = Visit(page=page_path, final=page_path)
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(TIMEOUT_MS)

    keep_offline(context, origin, visit.offsite, describe=lambda r: f"{r.resource_type} {r.url}")
    page = context.new_page()
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
    try:
        redirect = 'http-equiv="Refresh"' in (HTML / page_path).read_text(encoding="utf-8")
        page.goto(f"{origin}/{page_path}", wait_until="load")
        if redirect:
            page.wait_for_url(lambda url: not url.endswith("/" + page_path))
            page.wait_for_load_state("load")
        shown = page.url.split("#")[0].split("?")[0]
        visit.final = unquote(shown.removeprefix(origin + "/"))
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
        hrefs = page.eval_on_selector_all("a[href]", "els => els.map((e) => e.href)")
        for href in hrefs:
            parts = urlsplit(href)
            if f"{parts.scheme}://{parts.netloc}" == origin:
                visit.links.append({"href": href, "path": parts.path, "fragment": parts.fragment})
        visit.dom_ids = set(page.eval_on_selector_all("[id]", "els => els.map((e) => e.id)"))
        if screenshot:
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            name = page_path.replace("/", "__")[: -len(".html")] + ".png"
            visit.screenshot = SCREENSHOTS / name
            page.screenshot(path=str(visit.screenshot), full_page=True)
    finally:
        context.close()
    return visit
