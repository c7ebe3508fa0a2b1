"""The start page's download links work in the browser with the network blocked.

A reader on the start page follows the links to the PDF of the book and the notebooks zip; both
are served by the book's own site (every other request is aborted), whole and of the right kind.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from book_browser import SOURCE, keep_offline

DOWNLOADS = {"mbcourse.pdf": b"%PDF-", "mbcourse-notebooks.zip": b"PK\x03\x04"}

FETCH_JS = """async (href) => {
  const response = await fetch(href);
  const body = new Uint8Array(await response.arrayBuffer());
  return {status: response.status, size: body.length, head: Array.from(body.slice(0, 8))};
}"""


def _start_page() -> str:
    toc = yaml.safe_load((SOURCE / "_toc.yml").read_text(encoding="utf-8"))
    return f"{toc['root']}.html"


@pytest.fixture(scope="module")
def start_links(browser: Any, server: str) -> tuple[list[str], list[dict[str, Any]], list[str]]:
    """The start page's links to the downloads, what fetching each gave, and offsite requests."""
    context = browser.new_context()
    offsite = keep_offline(context, server)
    try:
        page = context.new_page()
        page.goto(f"{server}/{_start_page()}", wait_until="load")
        hrefs = page.eval_on_selector_all("a[href]", "els => els.map((e) => e.href)")
        links = [h for h in hrefs if h.split("#")[0].split("/")[-1] in DOWNLOADS]
        fetched = [page.evaluate(FETCH_JS, href) for href in links]
    finally:
        context.close()
    return links, fetched, offsite


def test_start_page_links_to_the_pdf_and_the_zip(
    start_links: tuple[list[str], list[dict[str, Any]], list[str]],
) -> None:
    links, _, _ = start_links
    assert sorted({h.split("/")[-1] for h in links}) == sorted(DOWNLOADS)


def test_downloads_arrive_whole_with_the_network_blocked(
    book_html: Path, start_links: tuple[list[str], list[dict[str, Any]], list[str]]
) -> None:
    links, fetched, offsite = start_links
    for href, got in zip(links, fetched, strict=True):
        name = href.split("/")[-1]
        assert got["status"] == 200, f"{href}: HTTP {got['status']}"
        assert got["size"] == (book_html / name).stat().st_size, f"{href}: cut short"
        assert bytes(got["head"]).startswith(DOWNLOADS[name]), f"{href}: not a {name[-3:]}"
    assert offsite == [], f"the start page asked the network for: {offsite}"
