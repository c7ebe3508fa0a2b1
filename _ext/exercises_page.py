"""Sphinx extension: the exercises work in the rendered book (see ``exercises.js``).

* Serves ``exercises.js`` and ``exercises.css`` (beside this file) from ``_static/`` and loads
  them on every page: they turn the exercise cells' outputs (``mbc-exercise``, ``mbc-progress``,
  ``mbc-summary`` elements written by ``mbcourse.exercises``) into live exercises. The script
  is written with the answer tokenizer's table above it (:func:`page_script`):
  ``window.MBCOURSE_PARSER``, from ``mbcourse.exercises.reading.PARSER``, so the page reads
  answers with the very constants the notebook uses.
* Writes ``<meta name="mbcourse-colab" content="...">`` on every notebook page: the Colab
  address of the page's notebook, built from ``repository`` and ``launch_buttons`` in
  ``_config.yml`` exactly as sphinx-book-theme builds its launch button. Code exercises offer it.
* Numbers exercises per chapter: Exercise 3.2 is the second exercise of ``book/03_*.ipynb``
  (sphinx-exercise numbers them through the whole book unless the toctree is numbered, which
  would number every heading too). The chapter number is the notebook name's leading digits.
"""

from __future__ import annotations

import html
import json
import re
import shutil
from pathlib import Path
from typing import Any

from sphinx.application import Sphinx
from sphinx.environment import BuildEnvironment

HERE = Path(__file__).parent
ASSETS = {"exercises.js": "mbcourse-exercises.js", "exercises.css": "mbcourse-exercises.css"}
CHAPTER = re.compile(r"(?:^|/)([0-9]+)_[^/]*$")


def colab_url(app: Sphinx, pagename: str) -> str | None:
    """The Colab address of a page's notebook: its Colab edition (``colab_edition.py`` holds
    the rule, which the launch button follows too), or None when not on GitHub."""
    from colab_edition import page_colab_url

    return page_colab_url(app, pagename)


def add_colab_meta(
    app: Sphinx, pagename: str, templatename: str, context: dict[str, Any], doctree: Any
) -> None:
    """Give notebook pages their Colab address (for the code exercises' button)."""
    if doctree is None or not str(app.env.doc2path(pagename)).endswith(".ipynb"):
        return
    url = colab_url(app, pagename)
    if url:
        meta = f'<meta name="mbcourse-colab" content="{html.escape(url, quote=True)}" />\n'
        context["metatags"] = context.get("metatags", "") + meta


def number_per_chapter(app: Sphinx, env: BuildEnvironment) -> list[str]:
    """Exercise k of chapter c becomes c.k (sphinx-exercise reads these numbers). Runs after
    Sphinx's toctree collector has assigned its book-wide numbers (``env-get-updated``); the
    renumbered pages are returned so that they are written again, even when nothing else in them
    changed."""
    renumbered = []
    for docname, numbers in env.toc_fignumbers.items():
        match = CHAPTER.search(docname)
        exercises = numbers.get("exercise")
        if match is None or not exercises:
            continue
        chapter = int(match.group(1))
        ordered = sorted(exercises, key=lambda label: exercises[label])
        numbers["exercise"] = {label: (chapter, k) for k, label in enumerate(ordered, start=1)}
        renumbered.append(docname)
    return renumbered


def page_script() -> str:
    """``exercises.js`` with the tokenizer's table written above it (what the page loads)."""
    from mbcourse.exercises.reading import PARSER

    table = json.dumps(PARSER, ensure_ascii=False, allow_nan=False, sort_keys=True)
    return f"window.MBCOURSE_PARSER = {table};\n" + (HERE / "exercises.js").read_text("utf-8")


def copy_assets(app: Sphinx, exception: Exception | None) -> None:
    if exception is not None or app.builder.format != "html":
        return
    static = Path(app.outdir) / "_static"
    static.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(HERE / "exercises.css", static / ASSETS["exercises.css"])
    (static / ASSETS["exercises.js"]).write_text(page_script(), encoding="utf-8")


def setup(app: Sphinx) -> dict[str, Any]:
    app.add_js_file(ASSETS["exercises.js"], defer="defer")
    app.add_css_file(ASSETS["exercises.css"])
    app.connect("html-page-context", add_colab_meta)
    app.connect("env-get-updated", number_per_chapter, priority=900)  # after the collector
    app.connect("build-finished", copy_assets)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
