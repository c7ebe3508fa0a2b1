"""The page's checker and the Python checker agree, verdict and words, on one table of answers.

The exercises of ``exercise_table.py`` are rendered as the book renders them
(``mbcourse.exercises.page``) into a test page with the book's own script
(``_ext/exercises.js``), served from a fake origin inside Chromium with every other request
aborted. Each answer is typed into the page's answer box (or chosen among the options) and
checked with the page's button; the Python exercise judges exactly the text the box held.
Needs Chromium and Playwright only, not the built book.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from book_browser import TIMEOUT_MS
from exercise_table import TABLE

from mbcourse.exercises.page import exercise_html, progress_html

ROOT = Path(__file__).resolve().parents[2]
ORIGIN = "http://mbcourse.test"
SCRIPT = (ROOT / "_ext" / "exercises.js").read_text(encoding="utf-8")


def _test_page() -> str:
    blocks = "".join(
        f'<section id="{kind}">{exercise_html(make().spec())}</section>'
        for kind, (make, _) in TABLE.items()
    )
    progress = progress_html("table", "Table", ["table.number"], [])
    return (
        '<!DOCTYPE html><html><head><meta charset="utf-8"><title>exercises</title>'
        '<script src="exercises.js" defer></script></head>'
        f"<body>{progress}{blocks}</body></html>"
    )


@pytest.fixture(scope="module")
def page(browser: Any) -> Iterator[Any]:
    errors: list[str] = []
    offsite: list[str] = []
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(TIMEOUT_MS)
    body = {
        "/index.html": (_test_page(), "text/html"),
        "/exercises.js": (SCRIPT, "text/javascript"),
    }

    def route(route: Any) -> None:
        url = route.request.url
        path = url[len(ORIGIN) :] if url.startswith(ORIGIN) else None
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
    p.wait_for_function("() => document.querySelectorAll('.mbc-exercise.mbc-ready').length === 5")
    yield p
    assert errors == [], errors
    assert offsite == [], offsite
    context.close()


def _feedback(section: Any) -> tuple[str, str]:
    box = section.locator(".mbc-feedback")
    return box.get_attribute("data-status"), box.locator(".mbc-message").text_content()


@pytest.mark.parametrize("kind", ["number", "tolerant", "ratio", "shape"])
def test_typed_answers_get_the_python_verdict_and_words(page: Any, kind: str) -> None:
    make, answers = TABLE[kind]
    question = make()
    section = page.locator(f"#{kind}")
    box = section.locator("input.mbc-answer")
    differ = []
    for typed in answers:
        box.fill(typed)
        held = box.input_value()  # what the page checks (a text box drops line breaks)
        section.locator("button.mbc-check").click()
        expected = question.check(held)
        got = _feedback(section)
        if got != (expected.status, expected.message):
            differ.append(
                f"{typed!r}:\n  python {expected.status}: {expected.message!r}\n"
                f"  page   {got[0]}: {got[1]!r}"
            )
    assert differ == [], "\n".join(differ)


def test_choices_get_the_python_verdict_and_words(page: Any) -> None:
    make, answers = TABLE["choice"]
    question = make()
    section = page.locator("#choice")
    # Nothing chosen yet: the page's Check says what Python says for None.
    section.locator("button.mbc-check").click()
    expected = question.check(None)
    assert _feedback(section) == (expected.status, expected.message)
    differ = []
    for option in question.options:  # through the page: choose, then Check
        section.get_by_label(option, exact=True).check()
        section.locator("button.mbc-check").click()
        expected = question.check(option)
        if _feedback(section) != (expected.status, expected.message):
            differ.append(f"{option!r}: {_feedback(section)} != {expected}")
    spec = question.spec()
    for typed in answers:  # letters, garbage, Unicode: through the page's checker function
        got = page.evaluate("([s, a]) => window.mbcourseExercises.judge(s, a)", [spec, typed])
        expected = question.check(typed)
        if (got["status"], got["message"]) != (expected.status, expected.message):
            differ.append(f"{typed!r}: page {got} != python {expected}")
    assert differ == [], "\n".join(differ)


def test_number_formatting_agrees(page: Any) -> None:
    from mbcourse.exercises.parsing import format_number, format_percent

    values = [
        0.0,
        -0.0,
        1.0,
        2128.0,
        1e15,
        1e15 + 2,
        999999999999999.9,
        0.125,
        12.25,
        9.9995,
        0.0009995,
        1e-7,
        1.5e-5,
        123.45,
        2.5,
        1e21,
        1.2345e21,
        5e-324,
        1.7976931348623157e308,
        0.1 + 0.2,
        1 / 3,
        -2 / 3,
        4.35,
        0.0478125,
        401.408,
        7.024390243902439,
    ]
    got = page.evaluate(
        "vs => vs.map(v => [window.mbcourseExercises.formatNumber(v, 'kB'),"
        " window.mbcourseExercises.formatPercent(Math.abs(v) < 1e17 ? Math.abs(v) : 0)])",
        values,
    )
    expected = [
        [format_number(v, "kB"), format_percent(abs(v) if abs(v) < 1e17 else 0)] for v in values
    ]
    assert got == expected
