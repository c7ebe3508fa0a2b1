"""The whole book as one PDF, printed from the built site by headless Chromium.

Each page of the table of contents (``_toc.yml``) is opened from a local server with every
other request aborted (offline), exactly as the browser tests open it; the page waits for
MathJax, its figures and its widgets, then:

* solutions (sphinx-exercise drop-downs) are opened;
* each exercise widget is replaced by its static text: the question, the options of a
  multiple choice, a blank line for a typed answer (no buttons); the code cell that made it is
  left out, as is the chapter's progress counter;

and Chromium prints it (A4); a page that asks the network for anything is an error. pypdf then
joins a title page with the contents (chapter titles, each a link to the page it starts on)
and the chapters, stamps page numbers and adds a bookmark per chapter. Nothing is executed
again: the PDF is made from the HTML that the build just wrote.

    python _ext/book_pdf.py [_build/html]     # by hand; the build calls make_pdf itself
"""

from __future__ import annotations

import datetime
import html
import io
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
from book_chromium import keep_offline, launch, serve

PDF_NAME = "mbcourse.pdf"
PAPER = {
    "format": "A4",
    "margin": {"top": "16mm", "bottom": "18mm", "left": "15mm", "right": "15mm"},
}
TIMEOUT_MS = 60_000  # per wait: a loaded 2-core machine is slow to typeset the longest chapter

PREPARE_JS = r"""async () => {
  const problems = [];
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) {
    await MathJax.startup.promise;
  }
  const imgs = Array.from(document.images);
  imgs.forEach((img) => { img.loading = "eager"; });
  await Promise.all(imgs.map((img) => img.complete ? null : new Promise((done) => {
    img.addEventListener("load", done, {once: true});
    img.addEventListener("error", done, {once: true});
  })));
  imgs.filter((i) => !(i.complete && i.naturalWidth > 0))
      .forEach((i) => problems.push("image not loaded: " + i.getAttribute("src")));
  // Solutions: open every drop-down (sphinx-togglebutton hides them with a class).
  document.querySelectorAll(".toggle-hidden").forEach((e) => e.classList.remove("toggle-hidden"));
  document.querySelectorAll("details").forEach((d) => { d.open = true; });
  // Widgets: their static text instead of controls.
  const views = document.querySelectorAll(
    'script[type="application/vnd.jupyter.widget-view+json"]');
  for (const script of views) {
    const area = script.previousElementSibling;
    if (!(area && area.classList.contains("widget-subarea") && area.firstElementChild)) {
      problems.push("widget not rendered: " + script.textContent.slice(0, 120));
      continue;
    }
    area.querySelectorAll("button").forEach((b) => b.remove());
    area.querySelectorAll('input[type="text"], input:not([type]), textarea').forEach((input) => {
      const blank = document.createElement("span");
      blank.className = "book-pdf-blank";
      input.replaceWith(blank);
    });
    area.querySelectorAll(".widget-html-content, .widget-htmlmath-content").forEach((c) => {
      if (!c.textContent.trim()) c.closest(".widget-inline-hbox").remove();
    });
    const output = script.closest(".cell_output");
    const cell = script.closest(".cell");
    const onlyWidgets = output && Array.from(output.children).every((child) =>
      child.matches('.widget-subarea, script[type="application/vnd.jupyter.widget-view+json"]'));
    if (cell && onlyWidgets) {
      cell.classList.add("book-pdf-widget-cell");
      // The progress counter means nothing on paper.
      const code = cell.querySelector(".cell_input pre");
      if (code && /\.widget\(\)\s*$/.test(code.textContent)) {
        cell.classList.add("book-pdf-omit");
      }
    }
  }
  const h1 = document.querySelector("article h1, main h1, h1");
  const title = h1 ? h1.textContent.replace(/#\s*$/, "").trim() : document.title;
  return {title, problems};
}"""

PRINT_CSS = """
.book-pdf-widget-cell .cell_input, .book-pdf-omit, button.toggle-button
  { display: none !important; }
.book-pdf-blank { display: inline-block; min-width: 14em; border-bottom: 1px solid #444;
                  height: 1.2em; margin: 0.2em 0; }
.widget-subarea { margin: 0.3em 0 0.8em 0; }
.widget-subarea .widget-radio-box label { display: block; }
pre { white-space: pre-wrap !important; overflow-wrap: anywhere; }
img, figure, table, .admonition, .cell_input, .cell_output { break-inside: avoid; }
h1, h2, h3, .admonition-title { break-after: avoid; }
a { color: inherit; text-decoration: none; }
"""


@dataclass
class Chapter:
    """One page of the book in the PDF."""

    path: str  # the HTML page, relative to the build, e.g. book/01_cost_of_convolution.html
    part: str | None  # the caption of its part in _toc.yml (None before the first part)
    title: str = ""
    first_page: int = 0  # 1-based page number in the PDF
    pages: int = 0


def toc_pages(source: Path) -> list[Chapter]:
    """The book's pages in the order of ``_toc.yml`` (root first, then every part's files)."""
    import yaml

    toc = yaml.safe_load((source / "_toc.yml").read_text(encoding="utf-8"))
    chapters = [Chapter(f"{toc['root']}.html", None)]

    def add(entries: list[dict[str, Any]], part: str | None) -> None:
        for entry in entries:
            if "file" in entry:
                chapters.append(Chapter(f"{Path(entry['file']).with_suffix('')}.html", part))
            add(entry.get("sections", []), part)

    for part in toc.get("parts", []):
        add(part.get("chapters", []), part.get("caption"))
    add(toc.get("chapters", []), None)
    return chapters


def _print_page(browser: Any, origin: str, chapter: Chapter) -> bytes:
    """Open one page offline, prepare it for paper, and print it with Chromium."""
    context = browser.new_context(viewport={"width": 1100, "height": 1400})
    context.set_default_timeout(TIMEOUT_MS)
    offsite = keep_offline(context, origin)
    try:
        page = context.new_page()
        page.goto(f"{origin}/{chapter.path}", wait_until="load")
        page.wait_for_function(
            """() => Array.from(document.querySelectorAll(
                'script[type="application/vnd.jupyter.widget-view+json"]')).every((s) => {
              const a = s.previousElementSibling;
              return a && a.classList.contains("widget-subarea") && a.firstElementChild;
            })"""
        )
        page.add_style_tag(content=PRINT_CSS)
        prepared = page.evaluate(PREPARE_JS)
        if prepared["problems"]:
            raise RuntimeError(f"book_pdf: {chapter.path}: " + "; ".join(prepared["problems"]))
        chapter.title = prepared["title"]
        page.emulate_media(media="print")
        printed = page.pdf(**PAPER, print_background=True)
    finally:
        context.close()
    if offsite:
        raise RuntimeError(f"book_pdf: {chapter.path} asked the network for {offsite[:5]}")
    return printed


def _front_html(title: str, subtitle: str, chapters: list[Chapter]) -> str:
    """The title page and the contents (chapter titles and first pages, grouped by part)."""
    rows = []
    part: str | None = None
    for chapter in chapters:
        if chapter.part != part and chapter.part:
            rows.append(f'<li class="part">{html.escape(chapter.part)}</li>')
        part = chapter.part
        rows.append(
            f'<li data-page="{chapter.first_page}">'
            f'<span class="t">{html.escape(chapter.title)}</span>'
            f'<span class="n">{chapter.first_page}</span></li>'
        )
    return f"""<!doctype html><html><head><meta charset="utf-8"><style>
body {{ font-family: "DejaVu Sans", "Liberation Sans", sans-serif; color: #222; }}
h1 {{ font-size: 30pt; margin: 28mm 0 4mm 0; font-weight: 500; }}
.sub {{ font-size: 12pt; color: #555; margin-bottom: 18mm; }}
h2 {{ font-size: 16pt; font-weight: 500; border-bottom: 1px solid #999; padding-bottom: 2mm; }}
ul {{ list-style: none; padding: 0; font-size: 12pt; }}
li {{ display: flex; margin: 2.2mm 0; }}
li.part {{ font-weight: bold; margin-top: 6mm; }}
.t {{ flex: 1; overflow: hidden; white-space: nowrap; }}
.t::after {{ content: "{" ." * 100}"; color: #999; }}
.n {{ padding-left: 2mm; }}
</style></head><body>
<h1>{html.escape(title)}</h1><div class="sub">{html.escape(subtitle)}</div>
<h2>Contents</h2><ul>{"".join(rows)}</ul></body></html>"""


ENTRY_BOXES_JS = """() => Array.from(document.querySelectorAll("li[data-page]")).map((li) => {
  const box = li.getBoundingClientRect();
  return {page: Number(li.dataset.page), x: box.left, y: box.top, w: box.width, h: box.height};
})"""
MM = 72 / 25.4  # PDF points per millimetre; a CSS pixel is 0.75 pt
A4_MM = (210, 297)
_MARGIN_MM = {side: float(PAPER["margin"][side].removesuffix("mm")) for side in PAPER["margin"]}
PRINTABLE_PX = (
    (A4_MM[0] - _MARGIN_MM["left"] - _MARGIN_MM["right"]) * MM / 0.75,
    (A4_MM[1] - _MARGIN_MM["top"] - _MARGIN_MM["bottom"]) * MM / 0.75,
)


def _link_contents(writer: Any, boxes: list[dict[str, float]]) -> None:
    """Make each entry of the contents a link to the page where its chapter starts."""
    from pypdf.annotations import Link

    for box in boxes:
        sheet, top = divmod(box["y"], PRINTABLE_PX[1])  # the front matter's page, y on it
        x0 = _MARGIN_MM["left"] * MM + 0.75 * box["x"]
        height = float(writer.pages[int(sheet)].mediabox.height)  # Chromium's A4: 842.88 pt
        y1 = height - _MARGIN_MM["top"] * MM - 0.75 * top
        rect = (x0, y1 - 0.75 * box["h"], x0 + 0.75 * box["w"], y1)
        link = Link(rect=rect, target_page_index=int(box["page"]) - 1)
        writer.add_annotation(page_number=int(sheet), annotation=link)


def _number_overlay(width: float, height: float, number: int) -> Any:
    """A blank page of the given size with ``number`` centred in its bottom margin."""
    from pypdf import PageObject
    from pypdf.generic import DecodedStreamObject, DictionaryObject, NameObject

    overlay = PageObject.create_blank_page(width=width, height=height)
    font = DictionaryObject(
        {
            NameObject("/Type"): NameObject("/Font"),
            NameObject("/Subtype"): NameObject("/Type1"),
            NameObject("/BaseFont"): NameObject("/Helvetica"),
            NameObject("/Encoding"): NameObject("/WinAnsiEncoding"),
        }
    )
    overlay[NameObject("/Resources")] = DictionaryObject(
        {NameObject("/Font"): DictionaryObject({NameObject("/FBookPageNo"): font})}
    )
    text = str(number)
    size = 9
    x = width / 2 - 0.556 * size * len(text) / 2  # Helvetica digits are 0.556 em wide
    stream = DecodedStreamObject()
    stream.set_data(f"BT /FBookPageNo {size} Tf 0.3 g {x:.2f} 24 Td ({text}) Tj ET".encode())
    overlay[NameObject("/Contents")] = stream
    return overlay


def make_pdf(
    html_dir: Path,
    source: Path,
    out: Path,
    title: str,
    subtitle: str,
    log: Callable[[str], None] = print,
) -> list[Chapter]:
    """Print every page of ``_toc.yml`` from ``html_dir`` into one PDF at ``out``.

    Raises ``book_chromium.ChromiumMissingError`` without Playwright or Chromium, and
    RuntimeError when a page shows unloaded images or unrendered widgets.
    """
    from pypdf import PdfReader, PdfWriter

    chapters = toc_pages(source)
    missing = [c.path for c in chapters if not (html_dir / c.path).is_file()]
    if missing:
        raise RuntimeError(f"book_pdf: pages of _toc.yml missing from {html_dir}: {missing}")
    printed: list[bytes] = []
    with serve(html_dir) as origin, launch() as browser:
        for chapter in chapters:
            printed.append(_print_page(browser, origin, chapter))
            chapter.pages = len(PdfReader(io.BytesIO(printed[-1])).pages)
            log(f"book_pdf: {chapter.path}: {chapter.pages} pages")
        # Laid out at the printed width, so that the entries' boxes are where they print.
        page = browser.new_page(viewport={"width": round(PRINTABLE_PX[0]), "height": 1000})
        page.emulate_media(media="print")
        try:

            def front() -> tuple[bytes, list[dict[str, float]]]:
                page.set_content(_front_html(title, subtitle, chapters), wait_until="load")
                return page.pdf(**PAPER), page.evaluate(ENTRY_BOXES_JS)

            front_pages = len(PdfReader(io.BytesIO(front()[0])).pages)
            number = front_pages + 1
            for chapter in chapters:
                chapter.first_page, number = number, number + chapter.pages
            front_pdf, boxes = front()
        finally:
            page.close()

    writer = PdfWriter()
    writer.append(PdfReader(io.BytesIO(front_pdf)), import_outline=False)
    parts: dict[str | None, Any] = {}
    for chapter, data in zip(chapters, printed, strict=True):
        start = len(writer.pages)
        writer.append(PdfReader(io.BytesIO(data)), import_outline=False)
        parent = None
        if chapter.part:
            if chapter.part not in parts:
                parts[chapter.part] = writer.add_outline_item(title=chapter.part, page_number=start)
            parent = parts[chapter.part]
        writer.add_outline_item(title=chapter.title, page_number=start, parent=parent)
    _link_contents(writer, boxes)
    for index, pdf_page in enumerate(writer.pages):
        if index == 0:
            continue  # the title page carries no number
        box = pdf_page.mediabox
        pdf_page.merge_page(_number_overlay(float(box.width), float(box.height), index + 1))
    writer.add_metadata({"/Title": title, "/Subject": subtitle, "/Creator": "mbcourse book_pdf"})
    writer.page_mode = "/UseOutlines"
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("wb") as handle:
        writer.write(handle)
    log(f"book_pdf: wrote {out} ({len(writer.pages)} pages, {out.stat().st_size // 1024} KiB)")
    return chapters


def _subtitle(config: dict[str, Any]) -> str:
    """``author · built on DATE · repository url`` from _config.yml."""
    url = (config.get("repository") or {}).get("url", "")
    parts = [config.get("author") or "", f"built on {datetime.date.today().isoformat()}", url]
    return " · ".join(p for p in parts if p)


if __name__ == "__main__":
    import time

    import yaml

    root = Path(__file__).resolve().parents[1]
    built = Path(sys.argv[1]) if len(sys.argv) > 1 else root / "_build" / "html"
    conf = yaml.safe_load((root / "_config.yml").read_text(encoding="utf-8"))
    t0 = time.perf_counter()
    make_pdf(built, root, built / PDF_NAME, conf.get("title", "Book"), _subtitle(conf))
    print(f"book_pdf: {time.perf_counter() - t0:.1f} s")
