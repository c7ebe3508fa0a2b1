"""Helpers for the browser tests: where the book is, what a visit of a page records.

Prerequisites: the built book (``_build/html``, or ``MBCOURSE_BOOK_HTML``), Playwright's Python
package and a Chromium executable (Debian's ``chromium``, or ``MBCOURSE_CHROMIUM``); Playwright's
own browser download is never used. Without them the tests skip, saying why, unless
``MBCOURSE_REQUIRE_BROWSER=1`` (CI), where they fail.

The pages are opened and probed in ``page_views.py``; every request that is not for the local
server is aborted and recorded there.
"""

from __future__ import annotations

import functools
import html
import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote

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


def file_for(path: str) -> Path:
    """The build file a local URL path names (a folder means its index.html)."""
    target = HTML / unquote(path).lstrip("/")
    return target / "index.html" if path.endswith("/") or target.is_dir() else target


@functools.cache
def ids_in(file: Path) -> frozenset[str]:
    """Element ids present in an HTML file of the build (for #fragment links)."""
    text = file.read_text(encoding="utf-8", errors="replace")
    return frozenset(html.unescape(m) for m in re.findall(r'\bid="([^"]+)"', text))
