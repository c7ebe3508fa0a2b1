"""Fixtures for the browser tests: the built book, a localhost server, Chromium, page visits."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from book_browser import (
    CHROMIUM_ARGS,
    HTML,
    SCREENSHOTS,
    Visit,
    book_pages,
    chromium_path,
    missing,
    serve,
)
from page_views import PageView, record_visit, view_page


@pytest.fixture(scope="session")
def book_html() -> Path:
    """The built book's folder (skips or fails when the book was not built)."""
    if not book_pages():
        missing(
            f"no built book at {HTML}: run `jupyter-book build . -W -n --keep-going` first "
            "(see README)"
        )
    return HTML


@pytest.fixture(scope="session")
def server(book_html: Path) -> Iterator[str]:
    """Serve the build on 127.0.0.1 (a free port); yield the origin, e.g. http://127.0.0.1:4321."""
    with serve(book_html) as origin:
        yield origin


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """Headless Chromium (Debian's) driven by Playwright."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        missing("Playwright is not installed: python -m pip install -e '.[browser]'")
    executable = chromium_path()
    if executable is None:
        missing("no Chromium found: apt-get install chromium (or set MBCOURSE_CHROMIUM)")
    playwright = sync_playwright().start()
    try:
        chromium = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
    except Exception as err:
        playwright.stop()
        missing(f"Chromium at {executable} did not start: {err}")
    yield chromium
    chromium.close()
    playwright.stop()


@pytest.fixture(scope="session")
def view(browser: Any, server: str) -> Callable[[str, str, str], PageView]:
    """``view(page_path, viewport, theme)``: the page as served on localhost, opened once per
    session for each window size ("desktop", "phone") and theme ("light", "dark") and probed for
    every test that reads it (``page_views.view_page``).

    Starts by emptying ``artifacts/screenshots/`` so that it shows this run only.
    """
    shutil.rmtree(SCREENSHOTS, ignore_errors=True)
    cache: dict[tuple[str, str, str], PageView] = {}

    def get(page_path: str, viewport: str, theme: str) -> PageView:
        key = (page_path, viewport, theme)
        if key not in cache:
            cache[key] = view_page(browser, server, *key)
        return cache[key]

    return get


@pytest.fixture(scope="session")
def visit(view: Callable[[str, str, str], PageView]) -> Callable[[str], Visit]:
    """``visit(page_path)``: what the page showed at 1280×900 in the light theme (a ``Visit``,
    with its full-page screenshot)."""
    return lambda page_path: view(page_path, "desktop", "light").visit


@pytest.fixture(scope="session")
def visit_file(browser: Any, book_html: Path) -> Callable[[str], Visit]:
    """``visit_file(page_path)``: the page opened from disk (file://), as a saved copy is."""
    origin = book_html.as_uri()
    cache: dict[str, Visit] = {}

    def get(page_path: str) -> Visit:
        if page_path not in cache:
            cache[page_path] = record_visit(browser, origin, page_path)
        return cache[page_path]

    return get
