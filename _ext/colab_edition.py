"""Sphinx extension: the Colab edition of every chapter, written by the book build.

A chapter's source is MyST: ``{glue:text}`` roles, ``{numref}``/``{cite}``/``{doc}`` roles,
``:::{exercise}``/``:::{solution}`` directives, cell tags such as ``remove-cell``. Jupyter Book
turns that into the page; Colab would show it raw (and run the ``remove-cell`` cells, one of
which prints every answer). At the end of an HTML build this extension writes, for every
notebook page of ``_toc.yml``, a notebook that reads like the page:

* glued values as text, formatted as myst-nb formats them (its own ``format_plain_text``);
  ``{glue:md}`` values as Markdown;
* ``{numref}`` as "Figure 4.2", ``{ref}`` as the section's title, ``{doc}`` as the chapter's
  title, each a link (to the chapter's Colab edition for ``{doc}``, to the rendered book
  otherwise); ``{cite}`` as the book's own author-year text (sphinxcontrib-bibtex's reference
  style, so "(Tan and Le, 2019)") linked to the entry of the book's bibliography;
* exercises as Markdown ("**Exercise 4.1**", numbered as in the book), followed by their widget
  cell; solutions collapsed in ``<details>`` (Colab renders it closed); a solution's code in a
  Colab form cell (``"cellView": "form"``: only its title shows until the learner opens it);
* admonitions as block quotes; ``$...$`` and ``$$...$$`` math kept as it is;
* ``remove-cell`` cells dropped; ``remove-input`` and ``hide-input`` cells kept as form cells
  (the code runs, the widget or figure shows, the code stays folded); each figure cell followed
  by its number and caption;
* no outputs (the learner runs the notebook); every code cell keeps its ``id`` and tags, so that
  ``tools/learner_env.py`` can give nbval the build's outputs of the ``nbval-check-output`` cells
  (``_build/jupyter_execute``) to compare with.

Unknown roles or directives are Sphinx warnings naming the chapter (errors under ``-W``): a new
chapter cannot publish raw MyST to Colab unnoticed.

It writes ``_build/colab/`` (the chapters at their paths in the repository, ``book/data/``,
``references.bib`` and a README): the notebooks zip packs it (``book_downloads.py``) and the
pages workflow force-pushes it to the ``notebooks`` branch, which Colab opens by GitHub address
(Colab opens notebooks from GitHub, Gists and Drive, not from an arbitrary URL such as the
published site: googlecolab/colabtools#1305). The book's Colab buttons point there
(:func:`colab_url`; ``colab_edition_branch`` in ``_config.yml``).

Why not sphinx-tojupyter (QuantEcon's builder, which also reads glue and sphinx-exercise)? It
is a second Sphinx builder, so a second pass over the book, and it pulls dask[distributed] and
nbdime into the book environment. Everything the edition needs is already there at
``build-finished``: the executed notebooks with their glue data (``_build/jupyter_execute``,
``*.glue.json``) and the Sphinx environment (figure and exercise numbers, labels, titles,
citations). So this is one small pass over the MyST sources, no second build and no new
dependency.
"""

from __future__ import annotations

import copy
import json
import re
import shutil
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

EDITION_FOLDER = "colab"  # _build/colab, beside _build/html
DEFAULT_BRANCH = "notebooks"
COLAB = "https://colab.research.google.com"
ADMONITIONS = {
    "note", "tip", "hint", "important", "warning", "caution", "attention", "danger", "error",
    "seealso", "admonition", "margin", "sidebar", "topic", "dropdown",
}
# Markdown-cell lines that are MyST syntax with nothing to show: targets, comments, block breaks.
DROPPED_LINE = re.compile(r"^\s*(\([\w.:-]+\)=\s*|%.*|\+\+\+.*)$")
FENCE = re.compile(
    r"^(?P<indent> {0,3})(?P<fence>:{3,}|`{3,}|~{3,})\{(?P<name>[\w:.-]+)\}\s*(?P<arg>.*?)\s*$"
)
CODE_FENCE = re.compile(r"^(?P<indent> {0,3})(?P<fence>`{3,}|~{3,})(?!\{)")
OPTION = re.compile(r"^:(?P<key>[\w-]+):\s*(?P<value>.*?)\s*$")
# A role, or a code span (left alone). Tried left to right, so a role inside a code span stays.
INLINE = re.compile(
    r"(?P<span>(?P<ticks>`+).+?(?P=ticks))|\{(?P<role>[A-Za-z][\w:+-]*)\}`(?P<body>[^`]*)`",
    re.DOTALL,
)
EXPLICIT = re.compile(r"^(?P<text>.*?)\s*<(?P<target>[^<>]+)>$", re.DOTALL)
DISPLAY_LABEL = re.compile(r"(\$\$)\s*\([\w.:-]+\)\s*$")  # $$ (label): MyST's equation label
# A relative link of the page (Markdown or HTML): Colab has no site around the notebook.
RELATIVE = re.compile(r"(?P<md>\]\()(?P<mdurl>[^)\s]+)(?P<mdend>[)\s])|"
                      r"(?P<attr>\b(?:href|src)=\")(?P<htmlurl>[^\"]+)\"")


class EditionError(ValueError):
    """MyST that the Colab edition cannot render (the message names the chapter and the text)."""


def colab_url(repository_url: str, branch: str, path: str, colab: str = COLAB) -> str | None:
    """The Colab address of the notebook at ``path`` on ``branch`` of a GitHub repository.

    ``colab_url("https://github.com/o/r", "notebooks", "book/04_mbconv.ipynb")`` is
    ``https://colab.research.google.com/github/o/r/blob/notebooks/book/04_mbconv.ipynb``;
    None when the repository is not on GitHub (Colab opens only GitHub's notebooks by address).
    """
    match = re.match(r"https?://github\.com/([^/]+)/([^/]+?)(?:\.git)?/?$", repository_url.strip())
    if match is None or not colab:
        return None
    owner, repo = match.group(1), match.group(2)
    return f"{colab.rstrip('/')}/github/{owner}/{repo}/blob/{branch}/{path.strip('/')}"


@dataclass
class Book:
    """What the edition needs to know about the whole book (read from the Sphinx environment)."""

    url: str = ""  # the rendered book, ending in "/", or "" (then references are plain text)
    titles: dict[str, str] = field(default_factory=dict)  # docname -> title
    colab: dict[str, str] = field(default_factory=dict)  # docname -> its Colab edition's address
    labels: dict[str, tuple[str, str, str]] = field(default_factory=dict)  # label -> doc, id, title
    numbers: dict[tuple[str, str], str] = field(default_factory=dict)  # (doc, id) -> "Figure 4.1"
    exercises: dict[str, list[str]] = field(default_factory=dict)  # docname -> ["4.1", "4.2", ...]
    # (role such as "cite:p", keys, citing docname) -> the citation in Markdown, "" if unknown
    cite: Callable[[str, list[str], str], str] | None = None

    def page(self, docname: str, anchor: str = "") -> str:
        """The address of a page of the rendered book (empty without a book address)."""
        if not self.url:
            return ""
        return f"{self.url}{docname}.html" + (f"#{anchor}" if anchor else "")


def _link(text: str, url: str) -> str:
    return f"[{text}]({url})" if url else text


@dataclass
class Chapter:
    """One chapter being converted: its name, glue data, and the state carried between cells."""

    docname: str
    book: Book
    glue: dict[str, dict[str, Any]]  # key -> {"data": {mime: value}, ...} (myst-nb's .glue.json)
    load_glue: Callable[[str], dict[str, dict[str, Any]]] = lambda docname: {}
    exercise_index: int = 0
    exercise_numbers: dict[str, str] = field(default_factory=dict)  # label -> "4.1"
    open_solution: str | None = None  # the exercise number of a solution-start not yet ended
    problems: list[str] = field(default_factory=list)

    def fail(self, message: str) -> str:
        self.problems.append(f"{self.docname}: {message}")
        return ""

    # -- glue ------------------------------------------------------------------------------
    def glued(self, doc_key: str) -> dict[str, Any] | None:
        """The glued data (``{mime: value}``) of ``key`` or ``other_doc::key``, or None."""
        if "::" in doc_key:
            other, key = doc_key.split("::", 1)
            docname = self.doc_path(other.removesuffix(".ipynb").removesuffix(".md"))
            found = self.load_glue(docname).get(key)
        else:
            found = self.glue.get(doc_key)
        return None if found is None else found.get("data", {})

    def glue_text(self, body: str) -> str:
        """``{glue:text}`key:format``` as myst-nb shows it (its own ``format_plain_text``)."""
        from myst_nb.core.variables import format_plain_text

        doc, sep, rest = body.rpartition("::")
        key, _, spec = rest.partition(":")
        data = self.glued(doc + sep + key)
        if data is None or "text/plain" not in data:
            return self.fail(f"no glued text/plain value {key!r}")
        try:
            return format_plain_text(data["text/plain"], spec)
        except Exception as err:
            return self.fail(f"glue {key!r} cannot be formatted with {spec!r}: {err}")

    def glue_markdown(self, body: str) -> str:
        """``{glue:md}`key:myst``` (or ``:commonmark``): the glued Markdown, converted too."""
        key = re.sub(r":(myst|commonmark|gfm)$", "", body)
        data = self.glued(key)
        if data is None:
            return self.fail(f"no glued value {key!r}")
        if "text/markdown" in data:
            return self.inline(data["text/markdown"].strip())
        if "text/plain" in data:
            return self.glue_text(key)
        return self.fail(f"glued value {key!r} has neither Markdown nor text")

    # -- references ------------------------------------------------------------------------
    def doc_path(self, target: str) -> str:
        base = Path(self.docname).parent
        if target.startswith("/"):
            return target.strip("/")
        parts: list[str] = []
        for part in (base / target).as_posix().split("/"):
            if part == "..":
                parts = parts[:-1]
            elif part not in ("", "."):
                parts.append(part)
        return "/".join(parts)

    def role(self, name: str, body: str) -> str:
        book = self.book
        explicit = EXPLICIT.match(body)
        text, target = (explicit["text"], explicit["target"]) if explicit else ("", body)
        if name in ("glue:text",):
            return self.glue_text(body)
        if name in ("glue", "glue:", "glue:any"):
            data = self.glued(body)
            if data is not None and "text/markdown" in data:
                return self.glue_markdown(body)
            return self.glue_text(body)
        if name == "glue:md":
            return self.glue_markdown(body)
        if name == "math":
            return f"${body}$"
        if name in ("numref", "ref", "eq"):
            label = target.strip()
            if name == "eq":
                return self.fail(f"{{eq}}`{body}`: equation numbers are not in the Colab edition")
            found = book.labels.get(label)
            if found is None:
                return self.fail(f"{{{name}}}`{body}`: no such label")
            docname, anchor, title = found
            if name == "numref":
                number = book.numbers.get((docname, anchor))
                if number is None:
                    return self.fail(f"{{numref}}`{body}`: {label!r} has no number")
                digits = number.split()[-1]
                shown = text.replace("%s", digits).replace("{number}", digits) if text else number
            else:
                shown = text or title
            return _link(shown, book.page(docname, anchor))
        if name == "doc":
            docname = self.doc_path(target.strip().removesuffix(".ipynb").removesuffix(".md"))
            if docname not in book.titles:
                return self.fail(f"{{doc}}`{body}`: no such page")
            return _link(text or book.titles[docname],
                         book.colab.get(docname) or book.page(docname))
        if name == "cite" or name.startswith("cite:"):
            if book.cite is None:
                return self.fail(f"{{{name}}}: no bibliography")
            keys = [k.strip() for k in body.split(",") if k.strip()]
            return book.cite(name, keys, self.docname) or self.fail(
                f"{{{name}}}`{body}`: unknown key"
            )
        if name in ("sup", "sub"):
            return f"<{name}>{body}</{name}>"
        if name in ("abbr",):
            return text or body
        if name == "kbd":
            return f"<kbd>{body}</kbd>"
        return self.fail(f"the role {{{name}}} is not supported by the Colab edition")

    def inline(self, text: str) -> str:
        """Every role in ``text`` replaced by what it shows (code spans are left alone)."""

        def one(match: re.Match[str]) -> str:
            if match["span"]:
                return match["span"]
            return self.role(match["role"], match["body"])

        return RELATIVE.sub(self.absolute, INLINE.sub(one, text))

    def absolute(self, match: re.Match[str]) -> str:
        """A relative link made absolute: to a chapter's Colab edition, else the book's site."""
        url = match["mdurl"] or match["htmlurl"]
        if re.match(r"^([a-z][a-z0-9+.-]*:|#|/)", url):
            new = url
        else:
            path, _, anchor = url.partition("#")
            docname = self.doc_path(re.sub(r"\.(ipynb|md|html)$", "", path))
            if docname in self.book.titles and not anchor and docname in self.book.colab:
                new = self.book.colab[docname]
            elif docname in self.book.titles:
                new = self.book.page(docname, anchor)
            elif self.book.url:
                new = urljoin(self.book.page(self.docname), url)
            else:
                new = self.fail(f"the relative link {url!r} has no address outside the book")
        if match["md"]:
            return f"{match['md']}{new}{match['mdend']}"
        return f'{match["attr"]}{new}"'

    # -- directives ------------------------------------------------------------------------
    def exercise_number(self, options: dict[str, str]) -> str:
        if "nonumber" in options:
            return ""
        numbers = self.book.exercises.get(self.docname, [])
        if self.exercise_index >= len(numbers):
            return self.fail(f"exercise {self.exercise_index + 1} has no number in the book")
        number = numbers[self.exercise_index]
        self.exercise_index += 1
        if "label" in options:
            self.exercise_numbers[options["label"]] = number
        return number

    def solution_title(self, label: str) -> str:
        number = self.exercise_numbers.get(label.strip())
        if number is None:
            return self.fail(f"solution to {label!r}: no exercise of that label before it")
        return f"Solution to Exercise {number}"

    def directive(self, name: str, arg: str, options: dict[str, str], body: list[str]) -> list[str]:
        inner = self.blocks(body)
        if name == "exercise":
            number = self.exercise_number(options)
            head = f"**Exercise {number}**" if number else "**Exercise**"
            if arg:
                head += f" ({self.inline(arg)})"
            return [head, "", *inner, ""]
        if name == "solution":
            return details(self.solution_title(arg), inner)
        if name == "solution-start":
            self.open_solution = self.solution_title(arg)
            return [*details_open(self.open_solution), *inner]
        if name == "solution-end":
            if self.open_solution is None:
                return [self.fail("solution-end without solution-start")]
            self.open_solution = None
            return ["", "</details>", ""]
        if name in ADMONITIONS:
            if name == "dropdown":
                return details(self.inline(arg) or "More", inner)
            title = self.inline(arg) if name == "admonition" else name.capitalize()
            if name == "seealso":
                title = "See also"
            if name in ("margin", "sidebar", "topic") and arg:
                title = self.inline(arg)
            quoted = [f"**{title}**", "", *inner] if title else inner
            return [f"> {line}".rstrip() for line in quoted] + [""]
        if name == "math":
            return ["$$", *body, "$$", ""]
        if name in ("code", "code-block", "code-cell", "sourcecode"):
            return [f"```{arg}", *body, "```", ""]
        if name in ("glue:md", "glue:", "glue", "glue:any"):
            return [self.glue_markdown(arg), ""]
        if name == "glue:math":
            return ["$$", self.glue_text(arg), "$$", ""]
        if name == "bibliography":
            return [_link("The references of the book", self.book.page(self.docname)), ""]
        return [self.fail(f"the directive {{{name}}} is not supported by the Colab edition")]

    def blocks(self, lines: list[str]) -> list[str]:
        """Markdown lines with every directive and role converted."""
        out: list[str] = []
        text: list[str] = []

        def flush() -> None:
            if text:
                out.extend(self.inline("\n".join(text)).split("\n"))
                text.clear()

        i = 0
        while i < len(lines):
            line = lines[i]
            fence = FENCE.match(line)
            if fence:
                flush()
                end = _closing(lines, i + 1, fence["fence"])
                options, body = _options([x[len(fence["indent"]):] for x in lines[i + 1:end]])
                out.extend(self.directive(fence["name"], fence["arg"], options, body))
                i = end + 1
                continue
            code = CODE_FENCE.match(line)
            if code:
                flush()
                end = _closing(lines, i + 1, code["fence"])
                out.extend(lines[i:end + 1])
                i = end + 1
                continue
            if not DROPPED_LINE.match(line):
                text.append(DISPLAY_LABEL.sub(r"\1", line))
            i += 1
        flush()
        return out

    def markdown(self, source: str) -> str:
        """One Markdown cell of the chapter, as Colab should show it."""
        was_open = self.open_solution
        lines = self.blocks(source.split("\n"))
        if was_open is not None:  # inside a solution that started in an earlier cell
            lines = [*details_open(f"{was_open} (continued)"), *lines]
        if self.open_solution is not None:  # close this cell's part; the next cell reopens
            lines += ["", "</details>"]
        return _tidy("\n".join(lines))


def _closing(lines: list[str], start: int, fence: str) -> int:
    """The index of the line closing a fence opened with ``fence`` (nested ones skipped)."""
    char, size, depth = fence[0], len(fence), 0
    for j in range(start, len(lines)):
        stripped = lines[j].strip()
        opening = FENCE.match(lines[j])
        if opening and opening["fence"][0] == char and len(opening["fence"]) == size:
            depth += 1
        elif stripped and set(stripped) == {char} and len(stripped) >= size:
            if depth == 0:
                return j
            depth -= 1
    return len(lines)


def _options(body: list[str]) -> tuple[dict[str, str], list[str]]:
    """A directive's ``:key: value`` lines (or its ``---`` YAML block) and the rest."""
    options: dict[str, str] = {}
    if body and body[0].strip() == "---":
        import yaml

        end = next((j for j in range(1, len(body)) if body[j].strip() == "---"), 0)
        if end:
            loaded = yaml.safe_load("\n".join(body[1:end])) or {}
            return {str(k): str(v) for k, v in loaded.items()}, body[end + 1:]
    i = 0
    while i < len(body) and (match := OPTION.match(body[i])):
        options[match["key"]] = match["value"]
        i += 1
    return options, body[i:]


def details_open(summary: str) -> list[str]:
    return ["<details>", f"<summary><b>{summary}</b> (click to open)</summary>", ""]


def details(summary: str, inner: list[str]) -> list[str]:
    return [*details_open(summary), *inner, "", "</details>", ""]


def _tidy(text: str) -> str:
    """No empty ``<details>`` (a solution's part with nothing in it), no runs of blank lines."""
    text = re.sub(r"<details>\n<summary>[^\n]*</summary>\s*</details>\n?", "", text)
    return re.sub(r"\n{3,}", "\n\n", text).strip("\n")


# -- notebooks -------------------------------------------------------------------------------

def _source(cell: dict[str, Any]) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else source


def _form(title: str, source: str) -> str:
    """Colab's form title line on top of the code (Colab shows the title, folds the code)."""
    return f"# @title {title}\n{source}"


def _markdown_cell(text: str, cell_id: str) -> dict[str, Any]:
    return {"cell_type": "markdown", "id": cell_id, "metadata": {}, "source": text}


def edition_notebook(executed: dict[str, Any], chapter: Chapter, intro: str = "") -> dict[str, Any]:
    """The Colab edition of one executed chapter (a notebook as a JSON dict, without outputs).

    Raises :class:`EditionError` listing every piece of MyST it could not render.
    """
    cells: list[dict[str, Any]] = []
    book = chapter.book
    for index, cell in enumerate(executed["cells"]):
        kind = cell["cell_type"]
        cell_id = cell.get("id") or f"cell-{index}"
        tags = list(cell.get("metadata", {}).get("tags", []))
        if kind == "raw" or "remove-cell" in tags:
            continue
        if kind == "markdown":
            text = chapter.markdown(_source(cell))
            if text:
                cells.append(_markdown_cell(text, cell_id))
            if intro and len(cells) == 1 and cells[0]["cell_type"] == "markdown":
                cells.append(_markdown_cell(intro, f"{cell_id}-colab"))  # under the title
                intro = ""
            continue
        source = _source(cell)
        metadata: dict[str, Any] = {"tags": tags} if tags else {}
        figure = cell.get("metadata", {}).get("mystnb", {}).get("figure", {})
        number = book.numbers.get((chapter.docname, figure.get("name", ""))) if figure else None
        if chapter.open_solution is not None:
            source, metadata["cellView"] = _form(chapter.open_solution, source), "form"
        elif "remove-input" in tags or "hide-input" in tags:
            title = f"Code of {number}" if number else _hidden_title(source)
            source, metadata["cellView"] = _form(title, source), "form"
        cells.append({"cell_type": "code", "execution_count": None, "id": cell_id,
                      "metadata": metadata, "outputs": [], "source": source})
        if figure:
            caption = chapter.inline(str(figure.get("caption", "")).strip())
            head = f"**{number}.**" if number else ""
            cells.append(_markdown_cell(f"{head} {caption}".strip(), f"{cell_id}-caption"))
    if intro:  # no Markdown title first: the note opens the notebook
        cells.insert(0, _markdown_cell(intro, "colab-edition"))
    if chapter.open_solution is not None:
        chapter.fail("a solution-start is never ended")
    if chapter.problems:
        raise EditionError("\n".join(chapter.problems))
    metadata = {k: copy.deepcopy(v) for k, v in executed.get("metadata", {}).items()
                if k in ("kernelspec", "language_info")}
    metadata["colab"] = {"provenance": [], "toc_visible": True}
    return {"cells": cells, "metadata": metadata, "nbformat": 4, "nbformat_minor": 5}


def _hidden_title(source: str) -> str:
    call = re.search(r"^\s*(exercise|progress)\((.*?)\)", source, flags=re.MULTILINE)
    if call and call[1] == "exercise":
        return f"Exercise {call[2].strip(chr(34) + chr(39))}: your answer"
    if call:
        return "Your progress"
    comment = re.match(r"#\s+([^@].{0,80}?)\s*$", source.split("\n", 1)[0])
    return comment[1] if comment else "Code (click to show)"


def intro_cell(project: str, book_page: str, source_url: str) -> str:
    """The note under a chapter's title: what this notebook is and where the book is."""
    book = _link(f"*{project}*", book_page)
    source = f", written by the book build from {_link('its source', source_url)}" \
        if source_url else ""
    return (
        f"> **The Colab edition** of this chapter of {book}{source}. Run the cells from the "
        "top: the first installs `mbcourse` here and changes none of Colab's own packages. The "
        "numbers in the text are those of the book's build; your run prints its own. Each "
        "exercise's solution stays folded until you open it."
    )


# -- the Sphinx side -------------------------------------------------------------------------

def book_from_env(app: Any) -> Book:
    """The book's titles, labels, numbers and citations, from the finished Sphinx build."""
    env = app.env
    config = app.config
    options = config.html_theme_options or {}
    url = str(getattr(config, "html_baseurl", "") or "").strip()
    book = Book(url=url.rstrip("/") + "/" if url else "")
    branch = config.colab_edition_branch
    colab = str((options.get("launch_buttons") or {}).get("colab_url", "") or COLAB)
    repo = str(options.get("repository_url", ""))
    prefix = str(options.get("path_to_docs", "") or "").strip("/")
    for docname in env.found_docs:
        title = env.titles.get(docname)
        book.titles[docname] = title.astext() if title is not None else docname
        if str(env.doc2path(docname)).endswith(".ipynb"):
            path = f"{prefix}/{docname}.ipynb" if prefix else f"{docname}.ipynb"
            address = colab_url(repo, branch, path, colab)
            if address:
                book.colab[docname] = address
    std = env.get_domain("std")
    for label, (docname, anchor) in std.anonlabels.items():
        title = std.labels.get(label, (None, None, ""))[2]
        book.labels[label] = (docname, anchor, title)
    formats = config.numfig_format or {}
    for docname, figtypes in env.toc_fignumbers.items():
        for figtype, numbers in figtypes.items():
            shown = [".".join(map(str, n)) for n in numbers.values()]
            if figtype == "exercise":
                book.exercises[docname] = [
                    ".".join(map(str, n)) for n in sorted(numbers.values())
                ]
            for anchor, text in zip(numbers, shown, strict=True):
                template = formats.get(figtype, f"{figtype.capitalize()} %s")
                book.numbers[(docname, anchor)] = template % text
    book.cite = _citer(app, book)
    return book


def _citer(app: Any, book: Book) -> Callable[[str, list[str], str], str] | None:
    """A function giving a citation as the book shows it, in Markdown (sphinxcontrib-bibtex's
    own reference style; each author-year a link to its entry in the book's bibliography)."""
    try:
        from docutils import nodes
        from sphinxcontrib.bibtex.style.referencing import format_references
        from sphinxcontrib.bibtex.style.template import SphinxReferenceInfo
    except ImportError:
        return None
    domain = app.env.get_domain("cite")

    def cite(role: str, keys: list[str], fromdocname: str) -> str:
        found = {c.key: c for c in domain.citations}
        if not keys or any(k not in found for k in keys):
            return ""
        references = [
            (found[k].entry, found[k].formatted_entry,
             SphinxReferenceInfo(builder=app.builder, fromdocname=fromdocname,
                                 todocname=found[k].bibliography_key.docname,
                                 citation_id=found[k].citation_id, title=None,
                                 pre_text="", post_text=""))
            for k in keys
        ]
        kind = role.split(":", 1)[1] if ":" in role else "p"
        rendered = format_references(domain.reference_style, kind, references).render(
            domain.backend
        )
        by_id = {c.citation_id: c for c in found.values()}
        parts = []
        for node in rendered:
            if isinstance(node, nodes.reference):
                target = by_id.get(str(node.get("refuri", "")).rsplit("#", 1)[-1])
                url = book.page(target.bibliography_key.docname, target.citation_id) \
                    if target else ""
                parts.append(_link(node.astext(), url))
            else:
                parts.append(node.astext())
        text = "".join(parts)
        if text.startswith("[") and text.endswith("]"):  # the page's [..] read as (..)
            text = f"({text[1:-1]})"
        return text

    return cite


def _toc_notebooks(app: Any) -> list[str]:
    """The docnames of the book's notebook pages, in the order of ``_toc.yml``."""
    env = app.env
    order = [d for d in _toc_order(env) if str(env.doc2path(d)).endswith(".ipynb")]
    return order


def _toc_order(env: Any) -> list[str]:
    seen: list[str] = []

    def walk(docname: str) -> None:
        if docname in seen:
            return
        seen.append(docname)
        for child in env.toctree_includes.get(docname, []):
            walk(child)

    walk(env.config.root_doc)
    return seen


def write_edition(app: Any, exception: Exception | None) -> None:
    """At the end of a successful HTML build: write ``_build/colab``."""
    if exception is not None or app.builder.name != "html":
        return
    from sphinx.util import logging

    logger = logging.getLogger(__name__)
    out = edition_folder(app)
    executed_root = Path(app.outdir).parent / "jupyter_execute"
    book = book_from_env(app)
    shutil.rmtree(out, ignore_errors=True)
    written = []
    options = app.config.html_theme_options or {}
    repo = str(options.get("repository_url", "")).rstrip("/")
    branch = str(options.get("repository_branch", "") or "main")

    def load_glue(docname: str) -> dict[str, dict[str, Any]]:
        path = executed_root / f"{docname}.glue.json"
        return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}

    for docname in _toc_notebooks(app):
        executed_path = executed_root / f"{docname}.ipynb"
        if not executed_path.is_file():
            logger.warning("colab_edition: no executed notebook %s", executed_path,
                           location=docname)
            continue
        executed = json.loads(executed_path.read_text(encoding="utf-8"))
        chapter = Chapter(docname, book, load_glue(docname), load_glue)
        on_github = repo.startswith("https://github.com/")
        source_url = f"{repo}/blob/{branch}/{docname}.ipynb" if on_github else ""
        intro = intro_cell(app.config.html_title or app.config.project, book.page(docname),
                           source_url)
        try:
            notebook = edition_notebook(executed, chapter, intro)
        except EditionError as err:
            for problem in str(err).splitlines():
                logger.warning("colab_edition: %s", problem, location=docname)
            continue
        target = out / f"{docname}.ipynb"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(notebook, indent=1, ensure_ascii=False) + "\n",
                          encoding="utf-8")
        written.append(target)
    source = Path(app.srcdir)
    folders = {p.parent for p in written}
    for folder in folders:
        rel = folder.relative_to(out)
        for extra in _companions(source / rel):
            dest = out / rel / extra.relative_to(source / rel)
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(extra, dest)
    (out / "README.md").write_text(_readme(app, book, written, out), encoding="utf-8")
    logger.info("colab_edition: %d notebooks in %s", len(written), out)


def _companions(folder: Path) -> Iterable[Path]:
    """What the chapters of a folder read beside them: references.bib and data/."""
    bib = folder / "references.bib"
    if bib.is_file():
        yield bib
    data = folder / "data"
    if data.is_dir():
        for path in sorted(data.rglob("*")):
            if path.is_file() and not path.name.startswith("."):
                yield path


def _readme(app: Any, book: Book, written: list[Path], out: Path) -> str:
    lines = [
        f"# {app.config.project}: the Colab edition",
        "",
        "Every chapter of the book as a notebook that reads like the rendered page (glued "
        "numbers as text, references as links, exercises with their solutions folded), "
        "written by the book build (`_ext/colab_edition.py`) from the chapters' sources. "
        "Do not edit these files: edit the chapters and build the book.",
        "",
    ]
    for path in written:
        docname = path.relative_to(out).with_suffix("").as_posix()
        address = book.colab.get(docname, "")
        lines.append(f"* {_link(book.titles.get(docname, docname), address)} (`{docname}.ipynb`)")
    return "\n".join(lines) + "\n"


def edition_folder(app: Any) -> Path:
    """Where the build writes the Colab edition: ``_build/colab``."""
    return Path(app.outdir).parent / EDITION_FOLDER


def colab_button(app: Any, pagename: str, templatename: str, context: dict[str, Any],
                 doctree: Any) -> None:
    """Point the page's Colab launch button (sphinx-book-theme's) at the Colab edition."""
    address = page_colab_url(app, pagename)
    for group in context.get("header_buttons", []):
        for button in group.get("buttons", []) if isinstance(group, dict) else []:
            if button.get("text") == "Colab" and address:
                button["url"] = address


def page_colab_url(app: Any, pagename: str) -> str | None:
    """The Colab address of a notebook page's Colab edition (None for other pages)."""
    if not str(app.env.doc2path(pagename)).endswith(".ipynb"):
        return None
    options = app.config.html_theme_options or {}
    colab = str((options.get("launch_buttons") or {}).get("colab_url", "") or "")
    prefix = str(options.get("path_to_docs", "") or "").strip("/")
    path = f"{prefix}/{pagename}.ipynb" if prefix else f"{pagename}.ipynb"
    return colab_url(str(options.get("repository_url", "")), app.config.colab_edition_branch,
                     path, colab)


def setup(app: Any) -> dict[str, Any]:
    app.add_config_value("colab_edition_branch", DEFAULT_BRANCH, "html")
    app.connect("build-finished", write_edition, priority=400)  # before book_downloads' zip
    app.connect("html-page-context", colab_button, priority=600)  # after the theme's buttons
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
