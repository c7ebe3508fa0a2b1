"""The built book as a reader sees it: every page in headless Chromium, offline.

Each page is loaded once (``visit``, in conftest.py) from a localhost server with every other
request aborted, and once more from disk as a saved copy (``visit_file``); the tests below read
what those visits recorded. Screenshots: ``artifacts/screenshots/``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from urllib.parse import unquote

import pytest
from book_browser import SOURCE, Visit, book_pages, colab_edition_url, file_for, ids_in

PAGES = book_pages() or [pytest.param(None, id="no-built-book")]


def _notebook_of(page: str) -> Path | None:
    """The notebook a page was built from, or None for pages written in Markdown or generated."""
    source = SOURCE / (page[: -len(".html")] + ".ipynb")
    return source if source.is_file() else None


@pytest.fixture(params=PAGES)
def seen(request: pytest.FixtureRequest, book_html: Path, visit: Callable[[str], Visit]) -> Visit:
    """The visit of one page of the build (one parameter per page)."""
    return visit(request.param)


def test_no_javascript_errors(seen: Visit) -> None:
    assert seen.errors == [], f"{seen.page}:\n" + "\n".join(seen.errors)


def test_nothing_is_requested_from_the_network(seen: Visit) -> None:
    """The page is self-contained: MathJax, widgets, fonts and images come from the build."""
    assert seen.offsite == [], f"{seen.page} asked for:\n" + "\n".join(seen.offsite)


def test_math_is_typeset(seen: Visit) -> None:
    math = seen.math
    assert math["untypeset"] == [], f"{seen.final}: math left as TeX: {math['untypeset']}"
    assert math["errors"] == [], f"{seen.final}: MathJax errors: {math['errors']}"
    assert math["raw"] == [], f"{seen.final}: raw TeX or Markdown tables in the text: {math['raw']}"
    if math["count"]:
        assert math["mathjax"], f"{seen.final}: has math but MathJax did not load"
        assert math["typeset"] >= math["count"]


def test_saved_widgets_are_rendered(seen: Visit) -> None:
    widgets = seen.widgets
    assert widgets["broken"] == [], f"{seen.final}: widgets not rendered: {widgets['broken']}"
    assert widgets["rendered"] == widgets["count"]
    if widgets["count"]:
        assert widgets["states"] >= 1, f"{seen.final}: widget views but no saved widget state"


def test_every_image_is_loaded(seen: Visit) -> None:
    assert seen.images["broken"] == [], f"{seen.final}: images not loaded: {seen.images['broken']}"


def test_colab_link_opens_this_pages_notebook(seen: Visit) -> None:
    """Notebook pages link to their own notebook in the configured repository; others to none."""
    notebook = _notebook_of(seen.final)
    if notebook is None:
        assert seen.colab == [], f"{seen.final} is not a notebook but links to Colab: {seen.colab}"
        return
    expected = colab_edition_url(notebook.relative_to(SOURCE).as_posix())
    assert seen.colab == [expected], f"{seen.final}: Colab links {seen.colab}, want {expected}"


def test_internal_links_resolve(seen: Visit) -> None:
    """Every link into the book names a file of the build, and an element id when it has #."""
    broken = []
    for link in seen.links:
        target = file_for(link["path"])
        if not target.is_file():
            broken.append(f"{link['href']} (no file {target})")
            continue
        fragment = unquote(link["fragment"])
        if not fragment:
            continue
        ids = seen.dom_ids if target == file_for(seen.final) else ids_in(target)
        if fragment not in ids:
            broken.append(f"{link['href']} (no element with id {fragment!r})")
    assert broken == [], f"{seen.final}:\n" + "\n".join(broken)


def test_every_page_has_a_screenshot(seen: Visit) -> None:
    assert seen.screenshot is not None and seen.screenshot.stat().st_size > 0


def test_saved_copy_works_from_disk(seen: Visit, visit_file: Callable[[str], Visit]) -> None:
    """Opened as a file (a saved copy, no server): no errors, no network, math and widgets."""
    local = visit_file(seen.page)
    assert local.errors == [], f"file://{seen.page}:\n" + "\n".join(local.errors)
    assert local.offsite == [], f"file://{seen.page} asked for:\n" + "\n".join(local.offsite)
    assert local.math["untypeset"] == [] and local.math["typeset"] == seen.math["typeset"]
    assert local.widgets["broken"] == [] and local.widgets["rendered"] == seen.widgets["rendered"]
    assert local.images["broken"] == []
