"""Sphinx extension: the book's two downloads, written into the HTML build when it finishes.

* ``mbcourse-notebooks.zip``: every chapter of ``_toc.yml`` as a notebook, the Colab edition
  that ``colab_edition.py`` wrote into ``_build/colab`` just before (it reads like the book:
  glued numbers as text, solutions folded; without outputs), ``references.bib``, the chapters'
  ``data/`` folder and a README saying how to install ``mbcourse`` for them: for readers who
  use their own Jupyter. Without that edition (the extension not loaded) the chapters' sources
  go in instead, and the log says so.
* ``mbcourse.pdf``: the whole book printed from the built pages by headless Chromium
  (``book_pdf.py``), with the figures, the typeset math, the exercises (widgets as their static
  text) and their solutions, a table of contents, bookmarks and page numbers.

Both go to the root of the build (``_build/html/``), next to ``index.html``; the start page
links to them. No Chromium or Playwright: the PDF is left out with a message, so that a
developer's build still works, unless ``MBCOURSE_REQUIRE_PDF=1`` or ``CI=true`` (and not
``MBCOURSE_REQUIRE_PDF=0``), where the build fails instead. Only the ``html`` builder writes
them (not ``linkcheck``). A PDF newer than every page it prints (and than these extensions)
is kept, so a rebuild that changed nothing does not print again.
"""

from __future__ import annotations

import datetime
import os
import sys
import time
import zipfile
from pathlib import Path
from typing import Any

from sphinx.application import Sphinx
from sphinx.errors import ExtensionError
from sphinx.util import logging

sys.path.insert(0, str(Path(__file__).parent))
from book_chromium import ChromiumMissingError
from book_pdf import PDF_NAME, make_pdf, toc_pages
from colab_edition import EDITION_FOLDER

logger = logging.getLogger(__name__)

ZIP_NAME = "mbcourse-notebooks.zip"
ZIP_FOLDER = "mbcourse-notebooks"  # everything in the zip sits in this folder
ZIP_DATE = (2020, 1, 1, 0, 0, 0)  # fixed, so that the same sources give the same zip


def pdf_required() -> bool:
    """Whether a build without the PDF must fail (CI, the pages workflow)."""
    flag = os.environ.get("MBCOURSE_REQUIRE_PDF")
    if flag is not None:
        return flag == "1"
    return os.environ.get("CI") == "true"


def _readme(repo_url: str, branch: str) -> str:
    install = f'python -m pip install "mbcourse @ git+{repo_url}@{branch}"'
    return f"""# The notebooks of the mbcourse book

Every chapter as a Jupyter notebook, without outputs, written from the book as it was built:
the text reads like the book's pages (its numbers, references and exercises; each solution
folded until you open it), and running them produces the figures and numbers on your machine.
They import the small package `mbcourse`; install it into the environment of your Jupyter (a
virtual environment is best), then open the chapters:

```bash
{install}
python -m pip install jupyterlab
jupyter lab
```

Without an NVIDIA GPU, install PyTorch's CPU build before `mbcourse` (pip's default torch wheel
brings the CUDA libraries, about 6 GB):
`python -m pip install torch torchvision --index-url https://download.pytorch.org/whl/cpu`.

Run each notebook from this folder: chapter 8 reads `data/`. `references.bib` holds the works
the chapters cite. The rendered book, with every output, is at the site this zip came from,
and its source at {repo_url}.
"""


def notebooks_zip(
    source: Path, out: Path, repo_url: str, branch: str, edition: Path | None = None
) -> list[str]:
    """Write the zip of the chapters (+ references.bib, data/, README.md); return its names.

    The chapters come from ``edition`` (a folder laid out like ``source``: ``_build/colab``)
    when given, else from ``source`` itself.
    """
    files: dict[str, Path] = {}
    for chapter in toc_pages(source):
        notebook = (edition or source) / Path(chapter.path).with_suffix(".ipynb")
        if notebook.is_file():
            files[notebook.name] = notebook
    if not files:
        raise ExtensionError(
            f"book_downloads: no chapter notebooks found under {edition or source}"
        )
    book = source / Path(toc_pages(source)[0].path).parent
    bib = book / "references.bib"
    if bib.is_file():
        files["references.bib"] = bib
    for extra in sorted((book / "data").rglob("*")) if (book / "data").is_dir() else []:
        if extra.is_file() and not extra.name.startswith("."):
            files[extra.relative_to(book).as_posix()] = extra
    out.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:

        def add(name: str, data: bytes) -> None:
            info = zipfile.ZipInfo(f"{ZIP_FOLDER}/{name}", date_time=ZIP_DATE)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, data)

        add("README.md", _readme(repo_url, branch).encode())
        for name in sorted(files):
            add(name, files[name].read_bytes())
    return ["README.md", *sorted(files)]


def _subtitle(app: Sphinx) -> str:
    theme = app.config.html_theme_options or {}
    parts = [
        app.config.author or "",
        f"built on {datetime.date.today().isoformat()}",
        theme.get("repository_url", ""),
    ]
    return " · ".join(p for p in parts if p)


def write_downloads(app: Sphinx, exception: Exception | None) -> None:
    """At the end of a successful HTML build: the notebooks zip, then the PDF."""
    if exception is not None or app.builder.name != "html":
        return
    source, outdir = Path(app.srcdir), Path(app.outdir)
    theme = app.config.html_theme_options or {}
    repo_url = theme.get("repository_url") or "https://github.com/mbcourse/mbcourse"
    edition: Path | None = outdir.parent / EDITION_FOLDER
    if not (edition / Path(toc_pages(source)[0].path).with_suffix(".ipynb")).is_file():
        logger.info("book_downloads: no Colab edition in %s; the zip holds the sources", edition)
        edition = None
    names = notebooks_zip(
        source, outdir / ZIP_NAME, repo_url, theme.get("repository_branch") or "main", edition
    )
    logger.info("book_downloads: %s (%d files)", outdir / ZIP_NAME, len(names))
    pdf = outdir / PDF_NAME
    inputs = [outdir / c.path for c in toc_pages(source)]
    inputs += sorted(Path(__file__).parent.glob("*.py"))
    if pdf.is_file() and all(
        p.is_file() and p.stat().st_mtime < pdf.stat().st_mtime for p in inputs
    ):
        logger.info("book_downloads: %s is newer than every page it prints; kept", pdf)
        return
    started = time.perf_counter()
    try:
        make_pdf(
            outdir,
            source,
            pdf,
            app.config.project,
            _subtitle(app),
            log=logger.info,
        )
    except ChromiumMissingError as err:
        if pdf_required():
            raise ExtensionError(
                f"book_downloads: cannot print the PDF: {err} (MBCOURSE_REQUIRE_PDF/CI)"
            ) from err
        logger.info(
            "book_downloads: no PDF in this build: %s. The start page's PDF link is broken "
            "until you install it and build again.",
            err,
        )
        return
    except RuntimeError as err:
        raise ExtensionError(str(err)) from err
    logger.info("book_downloads: PDF printed in %.0f s", time.perf_counter() - started)


def setup(app: Sphinx) -> dict[str, Any]:
    """Register the build-finished hook."""
    app.connect("build-finished", write_downloads)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
