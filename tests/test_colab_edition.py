"""The Colab edition of the chapters (``_ext/colab_edition.py``), as Colab shows it.

* The converter alone, on small MyST pieces: glue, references, citations, exercises and
  solutions (also a solution whose code sits in its own cells), admonitions, cell tags, links,
  and a clear error for MyST it does not know.
* The edition the book build wrote (``_build/colab``; skips without it, fails in CI): one
  notebook per notebook page of ``_toc.yml``, without outputs; its Markdown, rendered as
  CommonMark (as Colab renders it), holds no MyST role or directive and every number the book's
  page shows from glue; no answer comes before its exercise (solutions folded in ``<details>``,
  solution code in Colab form cells, no ``remove-cell`` cell); its code cells are the executed
  notebook's, with their ids (the learner test gives nbval the build's outputs by id); the
  page's Colab button opens it.
"""

from __future__ import annotations

import html
import json
import re
import sys
from collections import Counter
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "_ext"))
from built_book import BUILD, STRAIGHT_QUOTES, built  # noqa: E402

EDITION = BUILD / "colab"
EXECUTED = BUILD / "jupyter_execute"

pytest.importorskip("myst_nb", reason="the converter formats glue with myst-nb's own code")
from colab_edition import Book, Chapter, EditionError, colab_url, edition_notebook  # noqa: E402


def _toc_notebooks() -> list[str]:
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text(encoding="utf-8"))
    docs = [toc["root"]] + [c["file"] for p in toc.get("parts", []) for c in p["chapters"]]
    return [d for d in docs if (ROOT / f"{d}.ipynb").is_file()]


NOTEBOOKS = _toc_notebooks()


# -- the converter alone -----------------------------------------------------------------------

def _book() -> Book:
    def cite(role: str, keys: list[str], doc: str) -> str:
        known = {"tan2019": "Tan and Le, 2019"}
        if any(k not in known for k in keys):
            return ""
        links = [f"[{known[k]}](https://b.org/book/refs.html#{k})" for k in keys]
        return "(" + "; ".join(links) + ")"

    return Book(
        url="https://b.org/",
        titles={"book/01_a": "The first chapter", "book/02_b": "The second", "book/refs": "Refs"},
        colab={"book/01_a": "https://colab/01_a.ipynb", "book/02_b": "https://colab/02_b.ipynb"},
        labels={"fig-a": ("book/01_a", "fig-a", ""), "sec-b": ("book/02_b", "sec-b", "Blocks")},
        numbers={("book/01_a", "fig-a"): "Figure 3"},
        exercises={"book/01_a": ["1.1", "1.2"]},
        cite=cite,
    )


def _chapter() -> Chapter:
    glue = {
        "n": {"data": {"text/plain": "1234567"}},
        "r": {"data": {"text/plain": "0.123456"}},
        "shape": {"data": {"text/plain": "'(1, 240, 14, 14)'"}},
        "verdict": {"data": {"text/markdown": "A **verdict** citing {cite}`tan2019`.",
                             "text/plain": "<IPython.core.display.Markdown object>"}},
    }
    return Chapter("book/01_a", _book(), glue)


def _nb(*cells: tuple[str, str, list[str]]) -> dict:
    made = []
    for i, (kind, source, tags) in enumerate(cells):
        cell = {"cell_type": kind, "id": f"c{i}", "metadata": {"tags": tags} if tags else {},
                "source": source}
        if kind == "code":
            cell.update(outputs=[{"output_type": "stream", "name": "stdout", "text": "x"}],
                        execution_count=i)
        made.append(cell)
    return {"cells": made, "metadata": {"kernelspec": {"name": "python3"}}, "nbformat": 4,
            "nbformat_minor": 5}


def test_glue_is_formatted_as_myst_nb_formats_it() -> None:
    chapter = _chapter()
    text = chapter.markdown(
        "We count {glue:text}`n:,d` and {glue:text}`r:.2f`, shape {glue:text}`shape`; "
        "{glue:md}`verdict:myst` Literal `{glue:text}`n`` stays."
    )
    assert "1,234,567" in text and "0.12," in text and "(1, 240, 14, 14)" in text
    cited = "A **verdict** citing ([Tan and Le, 2019](https://b.org/book/refs.html#tan2019))."
    assert cited in text
    assert "`{glue:text}`n``" in text  # a role inside a code span is code, left alone
    assert chapter.problems == []


def test_references_become_links_to_the_book_or_to_colab() -> None:
    chapter = _chapter()
    text = chapter.markdown(
        "See {numref}`fig-a`, {numref}`Fig. %s <fig-a>`, {ref}`sec-b`, {doc}`02_b`, "
        "{doc}`that one <02_b>` and {cite}`tan2019`; [next](02_b.ipynb), "
        '<a href="../x.pdf">pdf</a>, [web](https://e.org/) and [here](#top).'
    )
    assert "[Figure 3](https://b.org/book/01_a.html#fig-a)" in text
    assert "[Fig. 3](https://b.org/book/01_a.html#fig-a)" in text
    assert "[Blocks](https://b.org/book/02_b.html#sec-b)" in text
    assert "[The second](https://colab/02_b.ipynb)" in text
    assert "[that one](https://colab/02_b.ipynb)" in text
    assert "[next](https://colab/02_b.ipynb)" in text
    assert '<a href="https://b.org/x.pdf">' in text
    assert "[web](https://e.org/)" in text and "[here](#top)" in text
    assert "([Tan and Le, 2019](https://b.org/book/refs.html#tan2019))" in text


def test_exercises_and_solutions_fold_their_answers() -> None:
    nb = _nb(
        ("markdown", "# A\n\nText.", []),
        ("code", "glue_solutions(1)", ["remove-cell"]),
        ("markdown", ":::{exercise}\n:label: ex-a\n\nHow many?\n:::", []),
        ("code", 'exercise("1.1")', ["remove-input"]),
        ("markdown", ":::{solution} ex-a\n:class: dropdown\n\n{glue:text}`n:,d` of them.\n:::\n\n"
                     ":::{exercise} Build it\n:label: ex-b\n\nWrite the block.\n:::", []),
        ("code", "class Mine: ...", []),
        ("markdown", ":::{solution-start} ex-b\n:class: dropdown\n:::\n\nOne solution:", []),
        ("code", "class Solution: ...", []),
        ("markdown", "It passes.\n\n:::{solution-end}\n:::\n\n## Summary", []),
    )
    out = edition_notebook(nb, _chapter(), intro="> about")
    kinds = [(c["cell_type"], c["source"].splitlines()[0]) for c in out["cells"]]
    assert kinds[:3] == [("markdown", "# A"), ("markdown", "> about"),
                         ("markdown", "**Exercise 1.1**")]
    assert not any("glue_solutions" in c["source"] for c in out["cells"])  # remove-cell: gone
    widget = out["cells"][3]
    assert widget["metadata"]["cellView"] == "form" and widget["source"].startswith("# @title")
    first = out["cells"][4]["source"]
    assert first.startswith("<details>\n<summary><b>Solution to Exercise 1.1</b>")
    assert "1,234,567 of them." in first and first.index("</details>") < first.index(
        "**Exercise 1.2** (Build it)")
    start = out["cells"][6]["source"]
    assert start.startswith("<details>") and "One solution:" in start and start.endswith(
        "</details>")
    code = out["cells"][7]
    assert code["metadata"]["cellView"] == "form"
    assert code["source"] == "# @title Solution to Exercise 1.2\nclass Solution: ..."
    rest = out["cells"][8]["source"]
    assert rest.startswith("<details>\n<summary><b>Solution to Exercise 1.2 (continued)")
    assert rest.index("It passes.") < rest.index("</details>") < rest.index("## Summary")
    assert all(c.get("outputs", []) == [] for c in out["cells"])
    assert out["metadata"]["colab"]["toc_visible"] is True


def test_figures_admonitions_math_and_hidden_code() -> None:
    nb = _nb(
        ("markdown", ":::{admonition} Careful\nTwo\n\n$x$ lines\n:::\n\n$$\na = b\n$$ (eq-a)\n\n"
                     "(sec-x)=\n% a comment\n## Next", []),
        ("code", "plot()", ["hide-input"]),
        ("code", "# SENet, Table 10 (quoted)\ntable = {}", ["hide-input"]),
    )
    caption = "A {glue:text}`r:.1f` plot."
    nb["cells"][1]["metadata"]["mystnb"] = {"figure": {"name": "fig-a", "caption": caption}}
    nb["cells"][1]["metadata"]["tags"] = ["hide-input", "nbval-check-output"]
    out = edition_notebook(nb, _chapter())
    text = out["cells"][0]["source"]
    assert text.startswith("> **Careful**\n>\n> Two\n>\n> $x$ lines")
    assert "$$\na = b\n$$\n" in text and "(eq-a)" not in text
    assert "(sec-x)=" not in text and "comment" not in text and "## Next" in text
    code = out["cells"][1]
    assert code["source"] == "# @title Code of Figure 3\nplot()"
    assert code["metadata"] == {"tags": ["hide-input", "nbval-check-output"], "cellView": "form"}
    assert code["id"] == "c1"
    assert out["cells"][2]["source"] == "**Figure 3.** A 0.1 plot."
    assert out["cells"][3]["source"].startswith("# @title SENet, Table 10 (quoted)\n# SENet")


@pytest.mark.parametrize("source", [
    "An {eq}`eq-a` reference.", "A {term}`word`.", ":::{tab-set}\nx\n:::", "{glue:text}`missing`",
    "{numref}`no-such-label`", "{cite}`nobody2020`", ":::{solution} never-defined\nx\n:::",
])
def test_unknown_myst_is_an_error_naming_the_chapter(source: str) -> None:
    with pytest.raises(EditionError, match="book/01_a"):
        edition_notebook(_nb(("markdown", source, [])), _chapter())


def test_colab_url_opens_a_github_notebook_on_a_branch() -> None:
    assert colab_url("https://github.com/o/r", "notebooks", "book/a.ipynb") == (
        "https://colab.research.google.com/github/o/r/blob/notebooks/book/a.ipynb"
    )
    url = colab_url("https://github.com/o/r.git/", "main", "/a.ipynb")
    assert url is not None and url.endswith("/github/o/r/blob/main/a.ipynb")
    assert colab_url("https://gitlab.com/o/r", "notebooks", "a.ipynb") is None


# -- the edition the build wrote ---------------------------------------------------------------

def _built(path: Path) -> Path:
    return built(path, "it writes the Colab edition")


def _edition(docname: str) -> dict:
    return json.loads(_built(EDITION / f"{docname}.ipynb").read_text(encoding="utf-8"))


def _commonmark(text: str) -> str:
    from markdown_it import MarkdownIt

    return MarkdownIt("commonmark").enable("table").render(text)


MYST_LEFT_IN_HTML = {
    "role": re.compile(r"\{[A-Za-z][\w:+-]*\}<code>"),
    "colon directive": re.compile(r"(^|>|\n)\s*:{3,}"),
    "fenced directive": re.compile(r'<code class="language-\{'),
    "directive option": re.compile(r"(^|>|\n):(label|class|name|nonumber|caption|align|width):"),
    "target": re.compile(r"(^|>|\n)\([\w.:-]+\)="),
    "substitution": re.compile(r"\{\{[^}]*\}\}"),
}


@pytest.mark.parametrize("docname", NOTEBOOKS)
def test_markdown_renders_as_commonmark_without_myst(docname: str) -> None:
    nb = _edition(docname)
    left = []
    for index, cell in enumerate(nb["cells"]):
        if cell["cell_type"] != "markdown":
            continue
        rendered = _commonmark(cell["source"])
        for what, pattern in MYST_LEFT_IN_HTML.items():
            for match in pattern.finditer(rendered):
                near = rendered[max(0, match.start() - 60):match.end() + 40]
                left.append(f"cell {index}: {what}: {near!r}")
    assert left == [], "\n".join(left[:10])


@pytest.mark.parametrize("docname", NOTEBOOKS)
def test_every_glued_number_of_the_page_is_in_the_notebook(docname: str) -> None:
    page = _built(BUILD / "html" / f"{docname}.html").read_text(encoding="utf-8")
    # the page's quotes are curled, the notebook's straight: both compared straight
    shown = Counter(html.unescape(v).translate(STRAIGHT_QUOTES)
                    for v in re.findall(r'class="pasted-text">([^<]*)<', page))
    nb = _edition(docname)
    text = "\n".join(c["source"] for c in nb["cells"] if c["cell_type"] == "markdown")
    text = text.translate(STRAIGHT_QUOTES)
    missing = {v: n for v, n in shown.items() if text.count(v) < n}
    assert missing == {}, f"{docname}: glued values the page shows but the notebook lacks"
    source = (ROOT / f"{docname}.ipynb").read_text(encoding="utf-8")
    assert sum(shown.values()) >= len(re.findall(r"\{glue:text\}`", source)) > 0 or not shown
    glue_file = EXECUTED / f"{docname}.glue.json"
    glued = json.loads(glue_file.read_text(encoding="utf-8")) if glue_file.is_file() else {}
    for key in set(re.findall(r"\{glue:md\}`([\w-]+)", source)):
        value = glued[key]["data"]["text/markdown"].strip()
        if "{" not in value:
            assert value in text, f"{docname}: glued Markdown {key!r} is not in the notebook"


@pytest.mark.parametrize("docname", NOTEBOOKS)
def test_no_answer_before_its_exercise(docname: str) -> None:
    nb = _edition(docname)
    source = json.loads((ROOT / f"{docname}.ipynb").read_text(encoding="utf-8"))
    removed = ["".join(c["source"]) for c in source["cells"]
               if "remove-cell" in c.get("metadata", {}).get("tags", [])]
    seen_exercises: set[str] = set()
    solutions = 0
    for index, cell in enumerate(nb["cells"]):
        text = cell["source"]
        assert not any(r.strip() and r in text for r in removed), f"cell {index}: a remove-cell"
        if cell["cell_type"] == "code":
            assert "glue_solutions(" not in text, f"cell {index} prints the answers"
            title = re.match(r"# @title Solution to Exercise ([\d.]+)", text)
            if title:
                assert cell["metadata"].get("cellView") == "form"
                assert title[1] in seen_exercises, f"cell {index}: solution code before exercise"
            continue
        for match in re.finditer(r"\*\*Exercise ([\d.]+)\*\*|<summary><b>Solution to Exercise "
                                 r"([\d.]+)", text):
            if match[1]:
                seen_exercises.add(match[1])
            else:
                solutions += 1
                assert match[2] in seen_exercises, f"cell {index}: a solution before its exercise"
        # every solution's text sits inside a <details> block, which Colab shows folded
        outside = re.sub(r"<details>.*?</details>", "", text, flags=re.DOTALL)
        assert "Solution to Exercise" not in outside, f"cell {index}: an unfolded solution"
    expected = len(re.findall(r"\{solution(?:-start)?\}", json.dumps(source)))
    assert solutions >= expected, f"{docname}: {solutions} solutions folded of {expected}"


@pytest.mark.parametrize("docname", NOTEBOOKS)
def test_code_cells_are_the_executed_ones_with_their_ids_and_no_outputs(docname: str) -> None:
    nb = _edition(docname)
    executed = json.loads(_built(EXECUTED / f"{docname}.ipynb").read_text(encoding="utf-8"))
    ran = [c for c in executed["cells"] if c["cell_type"] == "code"
           and "remove-cell" not in c.get("metadata", {}).get("tags", [])]
    mine = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert [c["id"] for c in mine] == [c["id"] for c in ran]
    for cell, original in zip(mine, ran, strict=True):
        code = "".join(original["source"])
        assert cell["source"] in (code, *[f"# @title {t}\n{code}" for t in
                                          re.findall(r"^# @title (.*)$", cell["source"], re.M)])
        assert cell["outputs"] == [] and cell["execution_count"] is None
        tags = original.get("metadata", {}).get("tags", [])
        assert cell["metadata"].get("tags", []) == tags
        if "remove-input" in tags or "hide-input" in tags:
            assert cell["metadata"].get("cellView") == "form"
    first = mine[0]["source"]
    assert '"google.colab" in sys.modules' in first and "cellView" not in mine[0]["metadata"]


@pytest.mark.parametrize("docname", NOTEBOOKS)
def test_the_pages_colab_button_opens_the_edition(docname: str) -> None:
    page = _built(BUILD / "html" / f"{docname}.html").read_text(encoding="utf-8")
    config = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))
    branch = config["sphinx"]["config"]["colab_edition_branch"]
    expected = colab_url(config["repository"]["url"], branch, f"{docname}.ipynb",
                         config["launch_buttons"]["colab_url"])
    links = set(re.findall(r'href="(https://colab\.research\.google\.com/[^"]+)"', page))
    assert links == {expected}, f"{docname}: Colab links {links}"
    meta = re.search(r'<meta name="mbcourse-colab" content="([^"]+)"', page)
    assert meta and html.unescape(meta[1]) == expected
    assert (EDITION / f"{docname}.ipynb").is_file()


def test_the_edition_holds_every_notebook_page_and_what_they_read() -> None:
    _built(EDITION / "README.md")
    found = sorted(p.relative_to(EDITION).with_suffix("").as_posix()
                   for p in EDITION.rglob("*.ipynb"))
    assert found == sorted(NOTEBOOKS)
    assert (EDITION / "book" / "references.bib").read_bytes() == (
        ROOT / "book" / "references.bib").read_bytes()
    for data in (ROOT / "book" / "data").rglob("*"):
        if data.is_file() and not data.name.startswith("."):
            assert (EDITION / data.relative_to(ROOT)).read_bytes() == data.read_bytes()
