"""Every exercise of every chapter, answered and checked in the built book, offline.

For each chapter page (served on localhost, every other request aborted): the page shows every
exercise the package registers for the chapter, numbered per chapter ("Exercise 3.2"), with the
spec the package computes and no restated question; no exercise cell shows its input and no
visible code shows an answer or a feedback string; each question says its expected form before
any answer, reveals its hints one by one, says "Not yet." to a wrong answer and "Solved." to
the right one; options come in this reader's order, kept on reload; the chapter's progress line
follows, survives a reload, is summed up on the start page, and "Reset progress" (the chapter)
and "Reset all progress" (the start page) forget it; each code exercise offers the chapter in
Colab and the checker call to run; every button's label fits; no JavaScript error.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from book_browser import HTML, TIMEOUT_MS, colab_edition_url, keep_offline, missing

from mbcourse.exercises.book import CHAPTER_NUMBERS, chapter
from mbcourse.exercises.widgets import shuffled

CHAPTERS = [pytest.param(n, id=chapter(n).page) for n in CHAPTER_NUMBERS]


def _colab_url(page: str) -> str | None:
    """The Colab address of a page's notebook, as the launch button gives it (Colab edition)."""
    return colab_edition_url(f"book/{page}.ipynb")


def _right(spec: dict) -> str:
    if spec["kind"] == "number":
        return repr(spec["answer"])
    if spec["kind"] == "shape":
        return "(" + ", ".join(map(str, spec["answer"])) + ")"
    return next(o for o, status, _ in spec["options"] if status == "correct")


def _wrong(spec: dict) -> str:
    if spec["kind"] == "number":
        return repr(spec["answer"] * 3 + 7)
    if spec["kind"] == "shape":
        return ", ".join(str(v + 1) for v in spec["answer"])
    return next(o for o, status, _ in spec["options"] if status != "correct")


@pytest.fixture
def chapter_page(browser: Any, server: str) -> Any:
    """A fresh context (empty local storage), offline but for the local server."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(TIMEOUT_MS)
    problems: list[str] = []
    keep_offline(context, server, problems, describe=lambda r: f"offsite request: {r.url}")
    page = context.new_page()
    page.on("pageerror", lambda err: problems.append(f"uncaught: {err}"))
    page.on("console", lambda m: problems.append(f"console: {m.text}")
            if m.type == "error" else None)
    yield page, problems
    context.close()


def _open(page: Any, server: str, path: str, count: int) -> None:
    page.goto(f"{server}/{path}", wait_until="load")
    page.wait_for_function(
        f"() => document.querySelectorAll('.mbc-exercise.mbc-ready').length === {count}")


def _lines(page: Any) -> list[str]:
    return page.locator(".mbc-progress-line").all_text_contents()


@pytest.mark.parametrize("n", CHAPTERS)
def test_every_exercise_works_in_the_page(chapter_page: Any, server: str, n: int) -> None:
    page, problems = chapter_page
    ch = chapter(n)
    path = f"book/{ch.page}.html"
    if not (HTML / path).is_file():
        pytest.fail(f"{path} is not in the build")
    _open(page, server, path, len(ch.ids))
    hosts = page.locator(".mbc-exercise")
    specs = [json.loads(hosts.nth(i).get_attribute("data-spec")) for i in range(hosts.count())]
    assert specs == ch.specs  # the build's answers are the package's

    titles = page.locator("div.exercise .admonition-title").all_text_contents()
    assert [re.search(r"Exercise (\d+\.\d+)", t).group(1) for t in titles] == ch.ids, titles
    # The question is the directive's: the exercise element below it does not restate it.
    for i, title in enumerate(titles):
        question = page.locator("div.exercise").nth(i).inner_text().replace(title, "").strip()
        assert question and question[:60] not in hosts.nth(i).inner_text()

    assert page.locator(".cell:has(.mbc-exercise) .cell_input").count() == 0
    secrets = [b[3].split(". ", 1)[-1] for s in specs if s["kind"] == "number"
               for b in s["bands"][1:] if b[3].startswith("Not quite")]
    secrets += [m for s in specs if s["kind"] == "choice" for _, _, m in s["options"]]
    visible = " ".join(t for t in page.locator(".cell_input").all_inner_texts() if t.strip())
    assert [s for s in secrets if s in visible] == []

    questions = [s for s in specs if s["kind"] != "code"]
    total, k = len(questions), len(ch.code_ids)
    title = ch.title if n == 0 else f"Chapter {n}"
    note = f" (and {k} code exercise{'s' if k > 1 else ''} to check in Jupyter or Colab)" * bool(k)
    line = f"{title} — solved {{}} / attempted {{}} / total {total}{note}"
    assert _lines(page) and all(x == line.format(0, 0) for x in _lines(page)), _lines(page)

    seed = page.evaluate("() => window.mbcourseExercises.readerSeed()")
    orders = {}
    for i, spec in enumerate(specs):
        host = hosts.nth(i)
        if spec["kind"] != "code":  # the expected form, before any answer
            assert host.locator(".mbc-form").inner_text() == spec["form"]
            assert not host.locator(".mbc-feedback").is_visible()
        hint = host.locator("button.mbc-hint")
        for j in range(1, len(spec["hints"]) + 1):
            hint.click()
            shown = host.locator(".mbc-hint-text").all_text_contents()
            assert len(shown) == j and shown[-1].startswith(f"Hint {j} of {len(spec['hints'])}:")
        assert hint.is_disabled() and hint.text_content() == "No more hints"
        if spec["kind"] == "code":
            colab = host.locator("button.mbc-colab")
            assert colab.is_visible() and colab.is_enabled()
            assert colab.get_attribute("title") == _colab_url(ch.page)
            assert "needs a running notebook" in host.inner_text() and spec["call"] in (
                host.inner_text())
            continue
        if spec["kind"] == "choice":
            labels = [o[0] for o in spec["options"]]
            orders[spec["id"]] = host.locator(".mbc-option span").all_text_contents()
            assert orders[spec["id"]] == [labels[j] for j in shuffled(len(labels), seed,
                                                                      spec["id"])]
        else:
            assert host.locator("input.mbc-answer").get_attribute("placeholder") == (
                spec["placeholder"])
        done = questions.index(spec)

        def answer(text: str, host: Any = host, spec: dict = spec) -> tuple[str, str]:
            if spec["kind"] == "choice":
                host.get_by_label(text, exact=True).check()
            else:
                host.locator("input.mbc-answer").fill(text)
            host.locator("button.mbc-check").click()
            box = host.locator(".mbc-feedback")
            return box.get_attribute("data-status"), box.locator(".mbc-verdict").text_content()

        assert answer(_wrong(spec)) == ("incorrect", "✗ Not yet."), spec["id"]
        assert _lines(page)[0] == line.format(done, done + 1)
        assert answer(_right(spec)) == ("correct", "✓ Solved."), spec["id"]
        assert _lines(page)[0] == line.format(done + 1, done + 1)

    cut = page.evaluate("() => Array.from(document.querySelectorAll('.mbc-button'))"
                        ".filter(b => b.scrollWidth > b.clientWidth + 1).map(b => b.textContent)")
    assert cut == []

    # Progress and the options' order survive a reload; the start page sums it up.
    _open(page, server, path, len(ch.ids))
    assert all(x == line.format(total, total) for x in _lines(page))
    assert page.locator(".mbc-earlier").count() == total
    for i, spec in enumerate(specs):
        if spec["kind"] == "choice":
            assert hosts.nth(i).locator(".mbc-option span").all_text_contents() == orders[
                spec["id"]]
    start = f"book/{chapter(0).page}.html"
    _open(page, server, start, len(chapter(0).ids))
    row = page.locator(f'.mbc-summary tr[data-chapter="{n}"] td').all_text_contents()
    assert row[2] == f"{total} / {total} / {total}" and row[3] == str(len(ch.code_ids))

    # "Reset progress" forgets this chapter; "Reset all progress" (the start page) all of it.
    _open(page, server, path, len(ch.ids))
    page.locator(".mbc-progress button.mbc-reset").first.click()
    assert all(x == line.format(0, 0) for x in _lines(page))
    assert page.locator(".mbc-earlier").count() == 0
    hosts.nth(0).locator("button.mbc-hint").click()  # re-rendered exercises still work
    if n != 0:
        first = next(i for i, s in enumerate(specs) if s["kind"] != "code")
        host = hosts.nth(first)
        if specs[first]["kind"] == "choice":
            host.get_by_label(_right(specs[first]), exact=True).check()
        else:
            host.locator("input.mbc-answer").fill(_right(specs[first]))
        host.locator("button.mbc-check").click()
        _open(page, server, start, len(chapter(0).ids))
        page.locator(".mbc-summary button.mbc-reset").click()
        row = page.locator(f'.mbc-summary tr[data-chapter="{n}"] td').all_text_contents()
        assert row[2] == f"0 / 0 / {total}"
    assert problems == [], "\n".join(problems)


def test_start_page_explains_what_works_where(browser: Any, server: str) -> None:
    page = browser.new_page()
    try:
        page.goto(f"{server}/book/{chapter(0).page}.html", wait_until="load")
        text = page.inner_text("main")
        assert "Checking code needs a running notebook" not in text  # no code exercise here
        assert "cannot run" in text and "Colab" in text and "this browser" in text
        assert "Reset all progress" in text
        assert page.locator(".mbc-summary tbody tr").count() == len(CHAPTER_NUMBERS)
    finally:
        page.close()


def test_page_script_is_served_from_the_build() -> None:
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "_ext"))
    from exercises_page import page_script

    script = HTML / "_static" / "mbcourse-exercises.js"
    if not script.is_file():
        missing(f"no {script}: build the book (README's book command)")
    served = script.read_text(encoding="utf-8")
    assert served == page_script() and served.startswith("window.MBCOURSE_PARSER = {")
