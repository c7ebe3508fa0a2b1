"""The page and the notebook judge alike: verdict and words, on the table of typed answers.

The exercises of ``exercise_table.py`` (the book's own specs) are rendered as the book renders
them into a test page with the book's own script as the build writes it (the tokenizer's table
from ``mbcourse.exercises.reading`` above ``_ext/exercises.js``), served from a fake origin
inside Chromium with every other request aborted. Each answer is typed into the page's answer
box and checked with the page's button; the notebook's judge reads exactly the text the box
held, and both must give the row's expected verdict. Option shuffles agree too. Needs Chromium
and Playwright only, not the built book.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from book_browser import TIMEOUT_MS
from exercise_table import ROWS, spec

from mbcourse.exercises import judge
from mbcourse.exercises.widgets import exercise_html, shuffled

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "_ext"))
from exercises_page import page_script  # noqa: E402

ORIGIN = "http://mbcourse.test"
NUMBERS = sorted({n for n, *_ in ROWS}, key=lambda n: [int(p) for p in n.split(".")])


def _test_page() -> str:
    blocks = "".join(f'<section id="ex-{n.replace(".", "-")}">{exercise_html(spec(n))}</section>'
                     for n in NUMBERS)
    return ('<!DOCTYPE html><html><head><meta charset="utf-8"><title>exercises</title>'
            f'<script src="exercises.js" defer></script></head><body>{blocks}</body></html>')


@pytest.fixture(scope="module")
def page(browser: Any) -> Iterator[Any]:
    errors: list[str] = []
    offsite: list[str] = []
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(TIMEOUT_MS)
    body = {"/index.html": (_test_page(), "text/html"),
            "/exercises.js": (page_script(), "text/javascript")}

    def route(route: Any) -> None:
        url = route.request.url
        path = url[len(ORIGIN):] if url.startswith(ORIGIN) else None
        if path in body:
            text, kind = body[path]
            route.fulfill(status=200, body=text, content_type=f"{kind}; charset=utf-8")
        else:
            offsite.append(url)
            route.abort()

    context.route("**/*", route)
    p = context.new_page()
    p.on("pageerror", lambda err: errors.append(f"uncaught: {err}"))
    p.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    p.goto(f"{ORIGIN}/index.html", wait_until="load")
    p.wait_for_function(f"() => document.querySelectorAll('.mbc-exercise.mbc-ready').length "
                        f"=== {len(NUMBERS)}")
    yield p
    assert errors == [], errors
    assert offsite == [], offsite
    context.close()


def _feedback(section: Any) -> tuple[str, str]:
    box = section.locator(".mbc-feedback")
    return box.get_attribute("data-status"), box.locator(".mbc-message").text_content()


def test_typed_answers_get_the_same_verdict_and_words(page: Any) -> None:
    differ = []
    typed_rows = [r for r in ROWS if spec(r[0])["kind"] != "choice"]
    assert len(typed_rows) >= 300
    for number, typed, status, says in typed_rows:
        section = page.locator(f"#ex-{number.replace('.', '-')}")
        box = section.locator("input.mbc-answer")
        box.fill(typed)
        held = box.input_value()  # what the page judges (a text box drops line breaks)
        section.locator("button.mbc-check").click()
        python = judge(spec(number), held)
        got = _feedback(section)
        if got != (python.status, python.message) or python.status != status or (
                says not in python.message):
            differ.append(f"{number} {typed!r}: expected {status} {says!r}\n  python "
                          f"{python.status}: {python.message!r}\n  page   {got[0]}: {got[1]!r}")
    assert differ == [], "\n".join(differ)


def test_choices_get_the_same_verdict_and_words(page: Any) -> None:
    differ = []
    for number in [n for n in NUMBERS if spec(n)["kind"] == "choice"]:
        s = spec(number)
        section = page.locator(f"#ex-{number.replace('.', '-')}")
        section.locator("button.mbc-check").click()  # nothing chosen yet
        if _feedback(section) != ("invalid", judge(s, None).message):
            differ.append(f"{number}: nothing chosen: {_feedback(section)}")
        for option, _, _ in s["options"]:  # through the page: choose, then Check
            section.get_by_label(option, exact=True).check()
            section.locator("button.mbc-check").click()
            expected = judge(s, option)
            if _feedback(section) != (expected.status, expected.message):
                differ.append(f"{number} {option!r}: {_feedback(section)} != {expected}")
    for number, typed, status, says in [r for r in ROWS if spec(r[0])["kind"] == "choice"]:
        got = page.evaluate("([s, a]) => window.mbcourseExercises.judge(s, a)",
                            [spec(number), typed])
        if (got["status"], got["message"]) != (status, judge(spec(number), typed).message) or (
                says not in got["message"]):
            differ.append(f"{number} {typed!r}: page {got}, expected {status} {says!r}")
    assert differ == [], "\n".join(differ)


def test_options_are_shuffled_alike_and_kept_on_reload(page: Any) -> None:
    cases = [[n, seed, key] for n in (2, 3, 4, 5, 7) for seed in ("a", "3f9c01d2e4b5a6c7", "")
             for key in ("0.3", "2.3", "9.9")]
    got = page.evaluate("cs => cs.map(([n, s, k]) => window.mbcourseExercises.shuffled(n, s, k))",
                        cases)
    assert got == [shuffled(*c) for c in cases]
    seed = page.evaluate("() => window.mbcourseExercises.readerSeed()")
    shown = page.locator("#ex-0-3 .mbc-option span").all_text_contents()
    labels = [o[0] for o in spec("0.3")["options"]]
    assert shown == [labels[i] for i in shuffled(len(labels), seed, "0.3")]
    page.reload(wait_until="load")
    page.wait_for_function("() => document.querySelectorAll('.mbc-exercise.mbc-ready').length")
    assert page.evaluate("() => window.mbcourseExercises.readerSeed()") == seed
    assert page.locator("#ex-0-3 .mbc-option span").all_text_contents() == shown


def test_the_expected_form_is_shown_before_answering(page: Any) -> None:
    for number in NUMBERS:
        s = spec(number)
        section = page.locator(f"#ex-{number.replace('.', '-')}")
        assert section.locator(".mbc-form").text_content() == s["form"]
        if s["kind"] != "choice":
            assert section.locator("input.mbc-answer").get_attribute("placeholder") == (
                s["placeholder"])
