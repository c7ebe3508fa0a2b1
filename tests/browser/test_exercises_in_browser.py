"""Every exercise of every chapter, answered and checked in the built book, offline.

For each chapter page (served on localhost, every other request aborted): the page shows every
exercise the package registers for the chapter, numbered per chapter ("Exercise 3.2"), with the
spec the package computes; no exercise cell shows its input and no visible code shows an answer
or a feedback string; each question reveals its hints one by one, says "Not yet." to a wrong
answer and "Solved." to the right one; the chapter's progress line follows and survives a
reload, and the start page's summary shows it; each code exercise offers the chapter in Colab;
every button's label fits; no JavaScript error.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from book_browser import HTML, SOURCE, TIMEOUT_MS, keep_offline

from mbcourse.exercises import exercise
from mbcourse.exercises.parsing import format_number
from mbcourse.exercises.registry import CHAPTER_NUMBERS, chapter

CHAPTERS = [pytest.param(n, id=chapter(n).page.split("/")[-1]) for n in CHAPTER_NUMBERS]


def _colab_url(page: str) -> str:
    """The Colab address of a page's notebook, as the launch button builds it."""
    config = yaml.safe_load((SOURCE / "_config.yml").read_text(encoding="utf-8"))
    repo = config["repository"]
    org_repo = repo["url"].split("github.com/")[-1].strip("/")
    book_path = str(repo.get("path_to_book") or "").strip("/")
    in_repo = "/".join(filter(None, [book_path, page + ".ipynb"]))
    colab = config["launch_buttons"]["colab_url"].strip("/")
    return f"{colab}/github/{org_repo}/blob/{repo['branch']}/{in_repo}"


def _wrong(spec: dict) -> str:
    if spec["kind"] == "number":
        return format_number(spec["answer"] * 3 + 7)
    if spec["kind"] == "shape":
        return ", ".join(str(v + 1) for v in spec["answer"])
    return next(label for label, _ in spec["options"] if label != spec["correct"])


def _right(spec: dict) -> str:
    if spec["kind"] == "number":
        return format_number(spec["answer"])
    if spec["kind"] == "shape":
        return "(" + ", ".join(str(v) for v in spec["answer"]) + ")"
    return spec["correct"]


@pytest.fixture
def chapter_page(browser: Any, server: str) -> Any:
    """A fresh context (empty local storage), offline but for the local server."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(TIMEOUT_MS)
    problems: list[str] = []

    keep_offline(context, server, problems, describe=lambda r: f"offsite request: {r.url}")
    page = context.new_page()
    page.on("pageerror", lambda err: problems.append(f"uncaught: {err}"))
    page.on(
        "console", lambda m: problems.append(f"console: {m.text}") if m.type == "error" else None
    )
    yield page, problems
    context.close()


def _open(page: Any, server: str, path: str, count: int) -> None:
    page.goto(f"{server}/{path}", wait_until="load")
    page.wait_for_function(
        f"() => document.querySelectorAll('.mbc-exercise.mbc-ready').length === {count}"
    )


def _progress_lines(page: Any) -> list[str]:
    return page.locator(".mbc-progress-line").all_text_contents()


@pytest.mark.parametrize("n", CHAPTERS)
def test_every_exercise_works_in_the_page(chapter_page: Any, server: str, n: int) -> None:
    page, problems = chapter_page
    ch = chapter(n)
    path = ch.page + ".html"
    if not (HTML / path).is_file():
        pytest.fail(f"{path} is not in the build")
    _open(page, server, path, len(ch.ids))
    hosts = page.locator(".mbc-exercise")
    specs = [json.loads(hosts.nth(i).get_attribute("data-spec")) for i in range(hosts.count())]
    assert [s["id"] for s in specs] == ch.ids
    for spec in specs:  # the build's answers are the package's
        assert spec == exercise(spec["id"]).spec(), spec["id"]

    # Numbered per chapter, in order, with their labels.
    titles = page.locator("div.exercise .admonition-title").all_text_contents()
    numbers = [re.search(r"Exercise (\d+\.\d+)", t).group(1) for t in titles]
    assert numbers == ch.ids, titles

    # Answers out of sight: exercise cells show no input; visible code shows no feedback text.
    assert page.locator(".cell:has(.mbc-exercise) .cell_input").count() == 0
    secrets = [w for s in specs for _, w in s.get("mistakes", [])]
    secrets += [w for s in specs if s["kind"] == "choice" for _, w in s["options"]]
    visible_code = " ".join(t for t in page.locator(".cell_input").all_inner_texts() if t.strip())
    assert [s for s in secrets if s in visible_code] == []

    questions = [s for s in specs if s["kind"] != "code"]
    total = len(questions)
    title = ch.title if n == 0 else f"Chapter {n}"
    code_note = ""
    if ch.code_ids:
        k = len(ch.code_ids)
        code_note = f" (and {k} code exercise{'s' if k > 1 else ''} to check in Jupyter or Colab)"
    line = f"{title} — solved {{}} / attempted {{}} / total {total}{code_note}"
    lines = _progress_lines(page)
    assert lines and all(x == line.format(0, 0) for x in lines), lines

    for i, spec in enumerate(specs):
        host = hosts.nth(i)
        hint = host.locator("button.mbc-hint")
        for k in range(1, len(spec["hints"]) + 1):
            hint.click()
            shown = host.locator(".mbc-hint-text").all_text_contents()
            assert len(shown) == k and shown[-1].startswith(f"Hint {k} of {len(spec['hints'])}:")
        assert hint.is_disabled() and hint.text_content() == "No more hints"
        if spec["kind"] == "code":
            colab = host.locator("button.mbc-colab")
            assert colab.is_visible() and colab.is_enabled()
            assert colab.get_attribute("title") == _colab_url(ch.page)
            assert "needs a running notebook" in host.inner_text()
            continue
        done = sum(1 for s in questions[: questions.index(spec)])

        def answer(text: str, host: Any = host, spec: dict = spec) -> tuple[str, str]:
            if spec["kind"] == "choice":
                host.get_by_label(text, exact=True).check()
            else:
                host.locator("input.mbc-answer").fill(text)
            host.locator("button.mbc-check").click()
            box = host.locator(".mbc-feedback")
            return box.get_attribute("data-status"), box.locator(".mbc-verdict").text_content()

        assert answer(_wrong(spec)) == ("incorrect", "✗ Not yet."), spec["id"]
        assert _progress_lines(page)[0] == line.format(done, done + 1)
        assert answer(_right(spec)) == ("correct", "✓ Solved."), spec["id"]
        assert _progress_lines(page)[0] == line.format(done + 1, done + 1)

    # Every button's label fits at 1280 px.
    cut = page.evaluate(
        "() => Array.from(document.querySelectorAll('.mbc-button'))"
        ".filter(b => b.scrollWidth > b.clientWidth + 1).map(b => b.textContent)"
    )
    assert cut == []

    # Progress survives a reload, and the start page sums it up.
    _open(page, server, path, len(ch.ids))
    assert all(x == line.format(total, total) for x in _progress_lines(page))
    assert page.locator(".mbc-earlier").count() == total
    start = chapter(0).page + ".html"
    _open(page, server, start, len(chapter(0).ids))
    row = page.locator(f'.mbc-summary tr[data-chapter="{n}"] td').all_text_contents()
    assert row[2] == f"{total} / {total} / {total}" and row[3] == str(len(ch.code_ids))
    assert problems == [], "\n".join(problems)


def test_start_page_explains_what_works_where(browser: Any, server: str) -> None:
    page = browser.new_page()
    try:
        page.goto(f"{server}/{chapter(0).page}.html", wait_until="load")
        text = page.inner_text("main")
        assert "Checking code needs a running notebook" not in text  # no code exercise here
        assert "cannot run" in text and "Colab" in text and "this browser" in text
        assert page.locator(".mbc-summary tbody tr").count() == len(CHAPTER_NUMBERS)
    finally:
        page.close()


def test_page_script_is_served_from_the_build() -> None:
    assert (HTML / "_static" / "mbcourse-exercises.js").read_text(encoding="utf-8") == (
        Path(__file__).resolve().parents[2] / "_ext" / "exercises.js"
    ).read_text(encoding="utf-8")
