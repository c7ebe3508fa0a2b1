"""The book's downloads: the PDF of the whole book and the notebooks zip (_ext/book_downloads.py);
the zip holds the Colab edition of the chapters (``_build/colab``, ``_ext/colab_edition.py``).

The tests of the built files need the built book (``_build/html``, or ``MBCOURSE_BOOK_HTML``);
without it they skip, saying why, except in CI (``CI=true`` or ``MBCOURSE_REQUIRE_BROWSER=1``),
where they fail. The zip's writer is also tested on its own, on a small made-up book.
"""

from __future__ import annotations

import json
import os
import re
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "_ext"))
from built_book import HTML, STRAIGHT_QUOTES, built  # noqa: E402

book_downloads = pytest.importorskip("book_downloads", reason="needs Sphinx (.[book])")
from book_pdf import PDF_NAME, toc_pages  # noqa: E402

ZIP_NAME = book_downloads.ZIP_NAME
CHAPTERS = toc_pages(ROOT)
START = CHAPTERS[0].path  # the start page, e.g. book/00_start_here.html
TEX = re.compile(  # TeX commands, $$, or $...$ around something
    r"\\(frac|times|cdot|text|mathrm|begin|left|right|sqrt|lfloor)\b|\$\$|\$[^$\s][^$]*\$"
)


def _built(name: str) -> Path:
    return built(HTML / name, "the PDF needs chromium")


def _notebook(chapter_path: str) -> Path:
    return ROOT / Path(chapter_path).with_suffix(".ipynb")


def _title(chapter_path: str) -> str:
    """The chapter's title: the first Markdown heading of its notebook (or Markdown file)."""
    source = _notebook(chapter_path)
    if source.is_file():
        cells = json.loads(source.read_text(encoding="utf-8"))["cells"]
        text = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")
    else:
        text = (ROOT / Path(chapter_path).with_suffix(".md")).read_text(encoding="utf-8")
    return re.search(r"^# (.+)$", text, flags=re.MULTILINE).group(1).strip()


def _squash(text: str) -> str:
    """One space for each run of whitespace; plain quotes; no break after a hyphen."""
    text = text.translate(STRAIGHT_QUOTES)
    return re.sub(r"-\s+", "-", re.sub(r"\s+", " ", text)).strip()


def _code_text() -> str:
    """Every code cell and stream output of the chapters, squashed: where `$` may be code."""
    parts = []
    executed = HTML.parents[0] / "jupyter_execute"
    for chapter in CHAPTERS:
        ran = executed / Path(chapter.path).with_suffix(".ipynb")
        for source in (_notebook(chapter.path), ran):
            if not source.is_file():
                continue
            for cell in json.loads(source.read_text(encoding="utf-8"))["cells"]:
                if cell["cell_type"] == "code":
                    parts.append("".join(cell["source"]))
                    for out in cell.get("outputs", []):
                        if out.get("output_type") == "stream":
                            parts.append("".join(out["text"]))
    return _squash("\n".join(parts))


@pytest.fixture(scope="module")
def pdf_pages() -> list[str]:
    """The text of every page of the PDF."""
    pypdf = pytest.importorskip("pypdf")
    reader = pypdf.PdfReader(_built(PDF_NAME))
    return [page.extract_text() or "" for page in reader.pages]


def test_pdf_has_every_chapter_in_the_contents_on_the_page_it_names(
    pdf_pages: list[str],
) -> None:
    """Page 1 lists every chapter with a page number, and that page starts the chapter."""
    contents = _squash(pdf_pages[0] + " " + (pdf_pages[1] if len(pdf_pages) > 1 else ""))
    starts = []
    for chapter in CHAPTERS:
        title = _title(chapter.path)
        found = re.search(re.escape(_squash(title)) + r"[ .]*(\d+)", contents)
        assert found, f"contents lack {title!r}: {contents[:600]}"
        first = int(found.group(1))
        starts.append(first)
        assert 1 < first <= len(pdf_pages), f"{title}: page {first} of {len(pdf_pages)}"
        assert _squash(title) in _squash(pdf_pages[first - 1]), (
            f"{title!r} not on page {first}: {pdf_pages[first - 1][:300]!r}"
        )
    assert starts == sorted(starts) and len(set(starts)) == len(starts)
    # every chapter holds at least one page; the book is more than its contents
    assert len(pdf_pages) >= starts[-1] and len(pdf_pages) > 3 * len(CHAPTERS)


def test_pdf_contents_entries_link_to_their_chapters(pdf_pages: list[str]) -> None:
    """Each entry of the contents is a link to the page where that chapter starts."""
    pypdf = pytest.importorskip("pypdf")
    reader = pypdf.PdfReader(_built(PDF_NAME))
    targets = [
        reader.get_page_number(annot.get_object()["/Dest"][0].get_object())
        for annot in reader.pages[0].get("/Annots", [])
        if annot.get_object().get("/Subtype") == "/Link"
    ]
    assert len(targets) == len(CHAPTERS)
    for chapter, target in zip(CHAPTERS, targets, strict=True):
        assert _squash(_title(chapter.path)) in _squash(pdf_pages[target])


def test_pdf_holds_every_figure() -> None:
    """As many drawings as the chapters' pages show from _images/ (the figures code drew).

    Chromium prints an SVG figure as a form XObject and a raster one (or a raster inside
    an SVG) as an image XObject, so both kinds count.
    """
    pypdf = pytest.importorskip("pypdf")
    pdf = _built(PDF_NAME)  # first: without a built book this skips (or fails in CI)
    figures = sum(
        len(re.findall(r'<img[^>]+src="[^"]*_images/', (HTML / c.path).read_text(encoding="utf-8")))
        for c in CHAPTERS
    )
    images = 0
    for page in pypdf.PdfReader(pdf).pages:
        xobjects = page.get("/Resources", {}).get("/XObject", {})
        drawn = (x.get_object().get("/Subtype") for x in xobjects.values())
        images += sum(kind in ("/Image", "/Form") for kind in drawn)
    assert figures > 0 and images >= figures


def test_pdf_pages_are_numbered(pdf_pages: list[str]) -> None:
    """Every page but the title page ends with its own number (stamped in the bottom margin)."""
    wrong = [
        (number, text.strip()[-40:])
        for number, text in enumerate(pdf_pages, start=1)
        if number > 1 and not re.search(rf"(^|\s){number}\s*$", text)
    ]
    assert wrong == [], f"pages without their number: {wrong[:5]}"


def test_pdf_bookmarks_name_every_chapter() -> None:
    pypdf = pytest.importorskip("pypdf")
    reader = pypdf.PdfReader(_built(PDF_NAME))

    def titles(items: list) -> list[str]:
        found = []
        for item in items:
            found += titles(item) if isinstance(item, list) else [item.title]
        return found

    marks = [_squash(t) for t in titles(reader.outline)]
    for chapter in CHAPTERS:
        assert _squash(_title(chapter.path)) in marks


def test_pdf_has_no_raw_tex(pdf_pages: list[str]) -> None:
    """Math is typeset: no `$...$`, `$$` or TeX commands in the text outside code cells."""
    code = _code_text()
    raw = []
    for number, text in enumerate(pdf_pages, start=1):
        for line in text.splitlines():
            if TEX.search(line) and _squash(line) not in code:
                raw.append(f"page {number}: {line.strip()[:100]}")
    assert raw == [], "raw TeX in the PDF:\n" + "\n".join(raw[:20])


def test_pdf_prints_every_solution(pdf_pages: list[str]) -> None:
    """Each solution of the chapters (a drop-down on the site) is printed, opened."""
    directives = sum(
        len(re.findall(r"\{solution(?:-start)?\}", _notebook(c.path).read_text(encoding="utf-8")))
        for c in CHAPTERS
        if _notebook(c.path).is_file()
    )
    text = _squash(" ".join(pdf_pages))
    printed = len(re.findall(r"Solution to Exercise \d+", text))
    assert directives > 0 and printed == directives


def test_notebooks_zip_holds_every_chapter_and_the_references() -> None:
    path = _built(ZIP_NAME)
    with zipfile.ZipFile(path) as archive:
        assert archive.testzip() is None
        names = set(archive.namelist())
        folder = book_downloads.ZIP_FOLDER
        for chapter in CHAPTERS:
            notebook = _notebook(chapter.path)
            if notebook.is_file():  # the zip holds the Colab edition, not the MyST source
                edition = HTML.parent / "colab" / Path(chapter.path).with_suffix(".ipynb")
                member = f"{folder}/{notebook.name}"
                assert member in names
                assert archive.read(member) == edition.read_bytes()
                assert json.loads(archive.read(member))["nbformat"] == 4
                assert "{glue:text}" not in archive.read(member).decode()
        assert f"{folder}/references.bib" in names
        readme = archive.read(f"{folder}/README.md").decode()
        assert "pip install" in readme and "mbcourse @ git+" in readme


def test_start_page_links_to_both_downloads() -> None:
    page = _built(START).read_text(encoding="utf-8")
    hrefs = re.findall(r'href="([^"]+)"', page)
    for name in (PDF_NAME, ZIP_NAME):
        linked = [h for h in hrefs if h.split("/")[-1] == name]
        assert linked, f"the start page does not link to {name}"
        for href in linked:
            assert (HTML / Path(START).parent / href).resolve() == HTML / name


def test_notebooks_zip_of_a_small_book_is_reproducible(tmp_path: Path) -> None:
    """The writer alone: chapters in toc order, references, data/, README; same bytes twice."""
    book = tmp_path / "book"
    (book / "data").mkdir(parents=True)
    (tmp_path / "_toc.yml").write_text(
        "format: jb-book\nroot: book/a\nparts:\n  - caption: P\n    chapters:\n"
        "      - file: book/b\n      - file: book/c\n",
        encoding="utf-8",
    )
    for name in ("a", "b"):
        (book / f"{name}.ipynb").write_text('{"cells": [], "nbformat": 4}', encoding="utf-8")
    (book / "c.md").write_text("# C\n", encoding="utf-8")
    (book / "references.bib").write_text("@misc{x}\n", encoding="utf-8")
    (book / "data" / "r.json").write_text("{}", encoding="utf-8")
    names = book_downloads.notebooks_zip(
        tmp_path, tmp_path / "1.zip", "https://github.com/o/r", "main"
    )
    assert names == ["README.md", "a.ipynb", "b.ipynb", "data/r.json", "references.bib"]
    # with an edition folder (the Colab edition), its notebooks go in instead of the sources
    edition = tmp_path / "colab"
    (edition / "book").mkdir(parents=True)
    (edition / "book" / "a.ipynb").write_text('{"edition": 1}', encoding="utf-8")
    (edition / "book" / "b.ipynb").write_text('{"edition": 2}', encoding="utf-8")
    book_downloads.notebooks_zip(tmp_path, tmp_path / "e.zip", "https://github.com/o/r", "main",
                                 edition)
    with zipfile.ZipFile(tmp_path / "e.zip") as archive:
        assert archive.read("mbcourse-notebooks/b.ipynb") == b'{"edition": 2}'
        assert archive.read("mbcourse-notebooks/data/r.json") == b"{}"
    book_downloads.notebooks_zip(tmp_path, tmp_path / "2.zip", "https://github.com/o/r", "main")
    assert (tmp_path / "1.zip").read_bytes() == (tmp_path / "2.zip").read_bytes()
    with zipfile.ZipFile(tmp_path / "1.zip") as archive:
        readme = archive.read("mbcourse-notebooks/README.md").decode()
    assert 'pip install "mbcourse @ git+https://github.com/o/r@main"' in readme


@pytest.mark.parametrize(
    ("env", "required"),
    [({}, False), ({"CI": "true"}, True), ({"CI": "true", "MBCOURSE_REQUIRE_PDF": "0"}, False),
     ({"MBCOURSE_REQUIRE_PDF": "1"}, True)],
)
def test_pdf_is_required_in_ci_only(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], required: bool
) -> None:
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.delenv("MBCOURSE_REQUIRE_PDF", raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    assert book_downloads.pdf_required() is required


def test_without_chromium_the_build_goes_on_unless_the_pdf_is_required(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A developer without Chromium gets the zip and a message; CI gets a clear error."""
    from types import SimpleNamespace

    from sphinx.errors import ExtensionError

    (tmp_path / "book").mkdir()
    (tmp_path / "_toc.yml").write_text("format: jb-book\nroot: book/a\n", encoding="utf-8")
    (tmp_path / "book" / "a.ipynb").write_text('{"cells": [], "nbformat": 4}', encoding="utf-8")
    out = tmp_path / "_build" / "html"
    (out / "book").mkdir(parents=True)
    (out / "book" / "a.html").write_text("<h1>A</h1>", encoding="utf-8")
    config = SimpleNamespace(html_theme_options={}, author="A", project="P")
    app = SimpleNamespace(
        builder=SimpleNamespace(name="html"), srcdir=str(tmp_path), outdir=str(out), config=config
    )
    monkeypatch.setenv("MBCOURSE_CHROMIUM", str(tmp_path / "no-such-chromium"))
    monkeypatch.setenv("MBCOURSE_REQUIRE_PDF", "0")
    book_downloads.write_downloads(app, None)
    assert (out / ZIP_NAME).is_file() and not (out / PDF_NAME).exists()
    monkeypatch.setenv("MBCOURSE_REQUIRE_PDF", "1")
    with pytest.raises(ExtensionError, match="no Chromium found"):
        book_downloads.write_downloads(app, None)
    app.builder.name = "linkcheck"  # other builders write no downloads
    (out / ZIP_NAME).unlink()
    book_downloads.write_downloads(app, None)
    assert not (out / ZIP_NAME).exists()
    # A PDF newer than every page it prints is kept: no Chromium needed, nothing printed.
    app.builder.name = "html"
    pdf = out / PDF_NAME
    pdf.write_bytes(b"%PDF-1.4 kept")
    page = out / "book" / "a.html"
    os.utime(page, (pdf.stat().st_mtime - 60, pdf.stat().st_mtime - 60))
    book_downloads.write_downloads(app, None)
    assert pdf.read_bytes() == b"%PDF-1.4 kept"
    os.utime(page, (pdf.stat().st_mtime + 60, pdf.stat().st_mtime + 60))
    with pytest.raises(ExtensionError, match="no Chromium found"):
        book_downloads.write_downloads(app, None)
