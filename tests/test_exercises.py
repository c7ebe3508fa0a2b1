"""The exercises: specs that hold every verdict, the judge that reads them, the widgets, the
chapters' cells. Headless: widgets are built, set and clicked without a browser."""

from __future__ import annotations

import ast
import builtins
import html as html_lib
import json
import re
import sys
from pathlib import Path
from typing import Any, ClassVar

import pytest

from mbcourse.exercises import (
    CodeExercise,
    Feedback,
    Progress,
    Question,
    checkers,
    choice,
    exercise,
    glue_solutions,
    judge,
    number,
    progress,
    read_number,
    read_shape,
    reset_progress,
    shape,
    solution_values,
    summary,
)
from mbcourse.exercises.book import CHAPTER_NUMBERS, chapter
from mbcourse.exercises.widgets import WIDGET_VIEW, shuffled, widget_bundle

ROOT = Path(__file__).resolve().parents[1]
BOOK = ROOT / "book"
sys.path.insert(0, str(ROOT / "tests" / "browser"))
from exercise_table import ROWS, spec  # noqa: E402

ALL_IDS = [i for n in CHAPTER_NUMBERS for i in chapter(n).ids]
# The book's 40 exercises: number, label, kind. Adding or removing one is a decision.
EXERCISES = [
    ("0.1", "ch0-ex-weights", "number"), ("0.2", "ch0-ex-shape", "shape"),
    ("0.3", "ch0-ex-flops", "choice"), ("1.1", "ch1-ex-weights", "number"),
    ("1.2", "ch1-ex-shape", "shape"), ("1.3", "ch1-ex-ratio", "number"),
    ("1.4", "ch1-ex-limit", "choice"), ("1.5", "ch1-ex-code", "code"),
    ("2.1", "ch2-ex-macs", "number"), ("2.2", "ch2-ex-shape", "shape"),
    ("2.3", "ch2-ex-residual", "choice"), ("2.4", "ch2-ex-linear", "choice"),
    ("2.5", "ch2-ex-rule", "code"), ("2.6", "ch2-ex-block", "code"),
    ("3.1", "ch3-ex-params", "number"), ("3.2", "ch3-ex-shape", "shape"),
    ("3.3", "ch3-ex-table10", "choice"), ("3.4", "ch3-ex-effnet", "number"),
    ("3.5", "ch3-ex-code", "code"), ("4.1", "ch4-ex-shape", "shape"),
    ("4.2", "ch4-ex-squeeze", "number"), ("4.3", "ch4-ex-eval", "choice"),
    ("4.4", "ch4-ex-rate", "number"), ("4.5", "ch4-ex-code", "code"),
    ("5.1", "ch5-ex-weights", "number"), ("5.2", "ch5-ex-claim", "choice"),
    ("5.3", "ch5-ex-shape", "shape"), ("5.4", "ch5-ex-why", "choice"),
    ("5.5", "ch5-ex-code", "code"), ("6.1", "ch6-ex-head", "number"),
    ("6.2", "ch6-ex-convention", "choice"), ("6.3", "ch6-ex-table3", "number"),
    ("6.4", "ch6-ex-shape", "shape"), ("7.1", "ch7-ex-se-params", "number"),
    ("7.2", "ch7-ex-noise", "choice"), ("8.1", "ch8-ex-weights", "number"),
    ("9.1", "ch9-ex-size", "number"), ("9.2", "ch9-ex-why-int8", "choice"),
    ("9.3", "ch9-ex-engine", "choice"), ("9.4", "ch9-ex-lite", "code"),
]


@pytest.fixture(autouse=True)
def _reader(monkeypatch: pytest.MonkeyPatch) -> None:
    """A fixed reader seed: no seed file is written by the tests."""
    monkeypatch.setenv("MBCOURSE_READER", "test-reader")


def specs() -> list[dict[str, Any]]:
    return [s for n in CHAPTER_NUMBERS for s in chapter(n).specs]


def right_answer(s: dict[str, Any]) -> str:
    if s["kind"] == "number":
        return repr(s["answer"])
    if s["kind"] == "shape":
        return ", ".join(map(str, s["answer"]))
    return next(o for o, status, _ in s["options"] if status == "correct")


# ---- the book's 40 exercises, and every targeted message of the old code ---------------------
def test_the_books_40_exercises() -> None:
    assert [(s["id"], s["label"], s["kind"]) for s in specs()] == EXERCISES


def _literals(paths: list[Path]) -> set[str]:
    """String literals (f-string fields as {}) of ``paths``, whitespace folded."""
    out = set()
    for path in paths:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        parts = {id(v) for n in ast.walk(tree) if isinstance(n, ast.JoinedStr) for v in n.values}
        for node in ast.walk(tree):
            if id(node) in parts:
                continue
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                text = node.value
            elif isinstance(node, ast.JoinedStr):
                text = "".join(v.value if isinstance(v, ast.Constant) else "{}"
                               for v in node.values)
            else:
                continue
            out.add(" ".join(re.sub(r"\{[^{}]*\}", "{}", text).split()))
    return out


def test_no_targeted_message_is_lost() -> None:
    """Every hint, known mistake, option and checker message of the old exercises (dumped from
    the old code in tests/exercise_messages_before.json) is still there."""
    before = json.loads((ROOT / "tests" / "exercise_messages_before.json").read_text("utf-8"))
    assert [tuple(e) for e in before["ids"]] == EXERCISES
    now = {s["id"]: json.dumps(s, ensure_ascii=False) for s in specs()}
    from mbcourse.exercises.verdicts import text_html

    for number_, texts in before["questions"].items():
        spec_text = html_lib.unescape(now[number_])
        lost = [t for t in texts if json.dumps(t, ensure_ascii=False)[1:-1] not in spec_text
                and json.dumps(text_html(t), ensure_ascii=False)[1:-1] not in now[number_]]
        assert lost == [], number_
    source = " | ".join(_literals(sorted((ROOT / "mbcourse" / "exercises").rglob("*.py"))))

    def kept(message: str) -> bool:  # whole, or (a format split otherwise) every piece of it
        pieces = [p.strip(" :") for p in message.split("{}")]
        return message in source or all(p in source for p in pieces if len(p) >= 4)

    assert [m for m in before["checkers"] if not kept(m)] == []


# ---- the table of typed answers (the page is held to the same table) -------------------------
def test_table_is_large_and_holds_issue_19s_inputs() -> None:
    typed = {(n, t) for n, t, _, _ in ROWS}
    assert len(ROWS) >= 300 and len(typed) == len(ROWS)
    quoted = [("2.1", "10.99M"), ("2.1", "11M"), ("2.1", "1.1e7"), ("2.1", "10,988,544 MACs"),
              ("3.1", "8,464 weights"), ("3.1", "8,464 params"), ("2.1", "≈ 10,988,544"),
              ("1.3", "153/3200"), ("1.3", "1/20.9"), ("1.3", "4.78%"), ("2.1", "3,4 M")]
    assert set(quoted) <= typed


@pytest.mark.parametrize(("number", "typed", "status", "says"), ROWS)
def test_every_typed_answer_gets_its_verdict(number: str, typed: Any, status: str, says: str):
    verdict = judge(spec(number), typed)
    assert (verdict.status, says in verdict.message) == (status, True), verdict.message


@pytest.mark.parametrize(
    ("typed", "says"),
    [
        ("10.99M", "exact count: you are within 0.1 % of it"),
        ("11M", "exact count: you are within 1 % of it"),
        ("1.1e7", "exact count: you are within 1 % of it"),
        ("10,988,544 MACs", "Correct"),
        ("≈ 10,988,544", "Correct"),
        ("10,988,544 bytes", "That is in bytes; the question asks for multiply-adds."),
        ("3,4 M", "use a dot for decimals"),
    ],
)
def test_issue_19_counts_in_a_notebook(typed: str, says: str) -> None:
    message = exercise("2.1").check(typed).message
    assert (says in message and "0.0%" not in message and "decimals" not in message) or (
        typed == "3,4 M")


def test_issue_19_fractions_and_unit_words_in_a_notebook() -> None:
    for typed in ("153/3200", "1/20.9", "4.78%", "4.78 %", "0.0478"):
        assert exercise("1.3").check(typed).correct, typed
    for typed in ("8,464 weights", "8,464 params", "8464 parameters"):
        result = exercise("3.1").check(typed)
        assert result.correct and "decimals" not in result.message, typed
    assert exercise("0.1").check(
        "864 bytes").message == "That is in bytes; the question asks for weights."


# ---- the expected form, said before answering ----------------------------------------------
@pytest.mark.parametrize("number", [s["id"] for s in specs() if s["kind"] != "code"])
def test_the_expected_form_is_said_before_answering(number: str) -> None:
    q = exercise(number)
    c = q.controls
    assert q.spec["form"] in html_lib.unescape(c["form"].value) and q.last_feedback is None
    if q.kind == "number":
        form = {"weights": "exact count", "parameters": "exact count", "channels": "exact count",
                "multiply-adds": "exact count", "": "fraction, e.g. 0.05, 1/20 or 5 %",
                "kB": "within ±1 %", "MB": "within ±2 %", "times": "within ±1 %"}[q.spec["unit"]]
        assert form in q.spec["form"] and c["text"].placeholder == q.spec["placeholder"]
        assert "2128" not in q.spec["placeholder"]
        if q.spec["unit"] == "":
            assert "1/20" in q.spec["placeholder"]


def test_no_widget_restates_the_question() -> None:
    """The question text lives once, in the chapter's directive: no widget shows it."""
    for n in CHAPTER_NUMBERS:
        ch = chapter(n)
        directives = _directives(BOOK / f"{ch.page}.ipynb")
        for number_ in ch.ids:
            q = exercise(number_)
            shown = " ".join(str(getattr(w, "value", "")) for w in q.controls.values())
            shown += json.dumps(q.spec, ensure_ascii=False)
            text = directives[q.spec["label"]]
            sentences = [s for s in re.split(r"(?<=[.?!])\s+", text) if len(s) > 40]
            assert sentences and not [s for s in sentences if s in shown], number_


# ---- the judge and the readers -------------------------------------------------------------
@pytest.mark.parametrize(
    "answer",
    [None, b"8464", bytearray(b"1"), object(), True, 10**400, float("nan"), float("inf"),
     -float("inf"), 1e999, "8" * 100_000, " " * 100_000, "\u0968\u0967", "\u22128464",
     ["8464"], {"a": 1}, 8464.0000001, complex(1, 2)],
    ids=lambda a: type(a).__name__,
)
def test_bad_input_in_a_notebook_gets_feedback(answer: Any) -> None:
    for number_ in ("3.1", "1.3", "0.2", "0.3"):
        result = exercise(number_).check(answer)
        assert isinstance(result, Feedback) and result.message
        assert "Traceback" not in result.message


def test_readers_never_evaluate(monkeypatch: pytest.MonkeyPatch) -> None:
    def forbidden(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("learner text must not be evaluated")

    for name in ("eval", "exec", "compile"):
        monkeypatch.setattr(builtins, name, forbidden)
    monkeypatch.setattr(ast, "literal_eval", forbidden)
    assert read_number("3.5M")["value"] == 3.5e6
    assert read_number("2,128 parameters") == {"value": 2128.0, "unit": "parameters",
                                               "fraction": False}
    assert read_shape("(1, 24, 56, 56)") == {"shape": [1, 24, 56, 56]}
    for text in ["__import__('os')", "1+1", "(1,)*4", "[x for x in ()]"]:
        assert "error" in read_number(text) and "error" in read_shape(text)


def test_feedback_is_html_escaped_in_the_widget() -> None:
    q = exercise("3.1")
    q.controls["text"].value = "<script>alert(1)</script>"
    q.controls["check"].click()
    assert "<script>" not in q.controls["feedback"].value
    assert "&lt;script&gt;" in q.controls["feedback"].value


@pytest.mark.parametrize(
    ("build", "says"),
    [
        (lambda: number(float("nan"), "weights", hints=["h"]), "answer must be a finite number"),
        (lambda: number(0, "weights", hints=["h"]), "answer must be a finite number > 0"),
        (lambda: number("8", "weights", hints=["h"]), "answer must be a finite number"),
        (lambda: number(8.5, "weights", hints=["h"]), "a count (weights) is a whole number"),
        (lambda: number(8, "apples", hints=["h"]), "unit must be one of"),
        (lambda: number(1.0, "", hints=["h"], rel_tol=0.7), "rel_tol must be in"),
        (lambda: number(1.0, "", hints=["h"], rel_tol=0.01, mistakes={1.001: "x"}), "within"),
        (lambda: number(8, "weights", hints=[]), "hints must be a non-empty list"),
        (lambda: number(8, "weights", hints="one"), "hints must be a non-empty list"),
        (lambda: shape((), hints=["h"]), "answer must be a non-empty sequence"),
        (lambda: shape((1, 2), hints=["h"], dims=("N",)), "dims must name each"),
        (lambda: choice(("a", "x"), {}, hints=["h"]), "at least two"),
        (lambda: choice((" a", "x"), {"b": "y"}, hints=["h"]), "normalised text"),
    ],
)
def test_bad_specs_are_refused_with_a_clear_error(build: Any, says: str) -> None:
    with pytest.raises((ValueError, TypeError), match=re.escape(says)):
        build()


def test_judge_refuses_what_it_cannot_judge() -> None:
    with pytest.raises(ValueError, match="judge: cannot judge a 'code' exercise"):
        judge(spec("3.5"), "MySE")


# ---- multiple choice: shuffled per reader, the same in the page ------------------------------
def test_options_are_shuffled_per_reader_and_stable(monkeypatch: pytest.MonkeyPatch) -> None:
    choices = [s["id"] for s in specs() if s["kind"] == "choice"]
    firsts = []
    for seed in [f"reader-{k}" for k in range(40)]:
        monkeypatch.setenv("MBCOURSE_READER", seed)
        for number_ in choices:
            q = exercise(number_)
            assert q.options == exercise(number_).options  # a re-run keeps the order
            assert q.controls["choice"].options == tuple(q.options)
            firsts.append(q.options[0] == right_answer(q.spec))
    # the right option comes first about once in every three or four, not in 9 of 12
    assert 0.15 < sum(firsts) / len(firsts) < 0.45
    assert shuffled(4, "seed", "2.3") == [1, 3, 2, 0]  # the page computes the same (parity test)


def test_reader_seed_is_kept_in_a_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from mbcourse.exercises import widgets

    monkeypatch.delenv("MBCOURSE_READER")
    monkeypatch.setattr(widgets, "SEED_FILE", tmp_path / "seed")
    first = widgets.reader_seed()
    assert first == widgets.reader_seed() == (tmp_path / "seed").read_text().strip()
    monkeypatch.setattr(widgets, "SEED_FILE", Path("/proc/no/such/dir/seed"))
    assert widgets.reader_seed()  # unwritable: derived from the user and machine


# ---- widgets, hints, progress and reset -------------------------------------------------------
@pytest.mark.parametrize("number", ALL_IDS)
def test_every_exercise_widget_can_be_driven(number: str) -> None:
    q = exercise(number)
    c = q.controls
    if q.kind in ("number", "shape"):
        c["text"].value = "not an answer"
        c["check"].click()
        assert "⚠" in c["feedback"].value and q.attempts == 0
        c["text"].value = right_answer(q.spec)
    elif q.kind == "choice":
        c["choice"].value = right_answer(q.spec)
    c["check"].click()
    if q.kind == "code":  # outside a notebook: says which call to run, not counted
        assert "⚠" in c["feedback"].value and q.attempts == 0
        assert html_lib.escape(q.spec["call"]) in c["feedback"].value
    else:
        assert "✓" in c["feedback"].value and q.solved
        assert progress(number.split(".")[0]).solved >= 1
    for k in range(1, len(q.spec["hints"]) + 1):
        c["hint"].click()
        assert f"Hint {k} of {len(q.spec['hints'])}" in c["hints"].value
    assert c["hint"].disabled and c["hint"].description == "No more hints"
    assert c["check"].layout.width == "auto" and c["hint"].layout.width == "auto"


def test_progress_counts_and_resets() -> None:
    p = progress(3)
    assert p is progress("3") and p.total == 5
    p.reset()
    q = exercise("3.1")
    q.check("1")
    q.check("8464")
    q.check("1")  # solved stays solved
    exercise("3.3").check("Parameters do not depend on r")
    assert (p.solved, p.attempted) == (1, 2)
    assert str(p) == "Chapter 3 — solved 1 / attempted 2 / total 5"
    p.widget().children[1].click()  # "Reset progress"
    assert (p.solved, p.attempted) == (0, 0) and q.attempts == 0 and q.last_feedback is None
    assert "solved 0 / attempted 0" in p.widget().children[0].value
    q.check("8464")
    progress(1)
    exercise("1.1").check("8768")
    s = summary()
    s.widget().children[1].click()  # "Reset all progress"
    assert (progress(3).solved, progress(1).solved) == (0, 0)
    reset_progress(3)
    with pytest.raises(ValueError, match="no exercises for chapter 42"):
        reset_progress(42)


def test_rerunning_a_cell_forgets_that_exercise_only() -> None:
    reset_progress()
    exercise("4.2").check("28")
    exercise("4.1").check("1, 240, 28, 28")  # a known mistake
    assert progress(4).solved == 1
    exercise("4.2")  # the cell run again
    assert (progress(4).solved, progress(4).attempted) == (0, 1)


def test_page_copies_keep_answers_out_of_sight() -> None:
    q = exercise("3.1")
    bundle = q._repr_mimebundle_()
    assert bundle[WIDGET_VIEW]["model_id"] == q.widget.model_id  # Jupyter and Colab: the widget
    page = bundle["text/html"]
    attribute = re.search(r'data-spec="([^"]*)"', page)
    assert json.loads(html_lib.unescape(attribute.group(1))) == q.spec
    visible = page.replace(attribute.group(0), "")
    assert "8464" not in visible and "8,464" not in visible
    line = progress(4)._repr_mimebundle_()
    data = json.loads(html_lib.unescape(re.search(r'data-progress="([^"]*)"',
                                                  line["text/html"]).group(1)))
    assert data == {**chapter(4).info(), "title": "Chapter 4"} and WIDGET_VIEW in line


def test_summary_lists_every_chapter() -> None:
    bundle = summary()._repr_mimebundle_()
    data = json.loads(html_lib.unescape(re.search(r'data-chapters="([^"]*)"',
                                                  bundle["text/html"]).group(1)))
    assert [c["chapter"] for c in data] == [str(n) for n in CHAPTER_NUMBERS]
    assert all((BOOK / c["page"].replace(".html", ".ipynb")).is_file() for c in data)
    assert bundle["text/plain"].splitlines()[1].endswith("1 code exercise")
    assert WIDGET_VIEW in bundle
    assert summary().widget().children[1].description == "Reset all progress"


def test_widget_errors_become_messages(monkeypatch: pytest.MonkeyPatch) -> None:
    q = exercise("3.1")
    c = q.controls

    def broken(_answer: Any) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(q, "check", broken)
    c["text"].value = "8464"
    c["check"].click()  # must not raise
    assert "Something went wrong inside the exercise widget" in c["feedback"].value
    assert "boom" in c["feedback"].value and c["text"].value == "8464"


def test_widget_bundle_under_ipywidgets_7() -> None:
    """ipywidgets 7.7 (Colab) widgets have no _repr_mimebundle_: the bundle is built as their
    _ipython_display_ builds it."""

    class Widget7:
        _view_name = "VBoxView"
        model_id = "abc123"

        def __repr__(self) -> str:
            return "VBox()"

    assert widget_bundle(Widget7()) == {
        "text/plain": "VBox()",
        WIDGET_VIEW: {"version_major": 2, "version_minor": 0, "model_id": "abc123"},
    }


def test_exercise_and_progress_refuse_bad_numbers() -> None:
    with pytest.raises(ValueError, match=r'e\.g\. "3\.1"'):
        exercise("3")
    with pytest.raises(ValueError, match=r"exercises 3\.1 to 3\.5"):
        exercise("3.9")
    with pytest.raises(ValueError, match="no exercises for chapter 42"):
        progress(42)
    with pytest.raises(ValueError, match="no exercises for chapter True"):
        progress(True)
    with pytest.raises(TypeError, match="Progress: title must be a string"):
        Progress(3)  # type: ignore[arg-type]


def test_glue_solutions_glues_and_shows_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    import mbcourse.display

    glued: dict[str, Any] = {}
    monkeypatch.setattr(mbcourse.display, "glue",
                        lambda k, v, display=True: glued.update({k: v}) if not display else 1 / 0)
    assert glue_solutions(3) is None  # a cell ending in it shows no answer
    assert glued == solution_values(3) and glued["ch3_ex1_answer"] == exercise("3.1").spec["answer"]


# ---- code exercises -----------------------------------------------------------------------------
class Shell:
    user_ns: ClassVar[dict[str, Any]] = {}


def test_code_exercise_reads_the_notebook_namespace(monkeypatch: pytest.MonkeyPatch) -> None:
    import IPython
    import torch
    from torch import nn

    class LearnerSE(nn.Module):
        def __init__(self, channels: int, reduction: int) -> None:
            super().__init__()
            self.fc1 = nn.Conv2d(channels, channels // reduction, 1)
            self.fc2 = nn.Conv2d(channels // reduction, channels, 1)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x * torch.sigmoid(self.fc2(torch.relu(self.fc1(x.mean((2, 3), keepdim=True)))))

    class NoSigmoid(LearnerSE):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x * self.fc2(torch.relu(self.fc1(x.mean((2, 3), keepdim=True))))

    monkeypatch.setattr(IPython, "get_ipython", lambda: Shell)
    reset_progress(3)
    ex = exercise("3.5")
    c = ex.controls
    assert c["check"].description == "Check MySE"
    c["check"].click()
    assert "cannot find 'MySE'" in c["feedback"].value and ex.attempts == 0
    Shell.user_ns["MySE"] = NoSigmoid
    c["check"].click()
    assert "case 1 of 5 failed" in c["feedback"].value and "no sigmoid" in c["feedback"].value
    Shell.user_ns["MySE"] = LearnerSE
    c["check"].click()
    assert "all 5 cases passed. Verified:" in c["feedback"].value
    assert (progress(3).solved, progress(3).attempted) == (1, 1) and ex.attempts == 2


def test_code_exercise_with_other_checkers(capsys: pytest.CaptureFixture[str]) -> None:
    s = {"id": "x.1", "kind": "code", "name": "f", "call": "checkers.check_conv_params(f)",
         "hints": ["h"], "form": "Define f."}
    ex = CodeExercise(s, checkers.check_conv_params, namespace={"f": lambda *a: 0})
    assert not ex.check().passed and ex.check().counted
    assert ex.check(lambda c_in, c_out, k, groups=1: c_out * c_in // groups * k * k).passed
    assert capsys.readouterr().out == ""  # quiet: the widget shows the message
    outside = CodeExercise(s, checkers.check_conv_params).check()
    assert outside.status == "invalid" and "run checkers.check_conv_params(f)" in outside.message
    with pytest.raises(ValueError, match="name must be a Python identifier"):
        from mbcourse.exercises import code

        code(checkers.check_se, "my se", hints=["h"])
    assert isinstance(Question(spec("3.1")).check("8464"), Feedback)


# ---- the chapters' cells -------------------------------------------------------------------------
def _cells(path: Path) -> list[dict[str, Any]]:
    return json.loads(path.read_text(encoding="utf-8"))["cells"]


def _directives(path: Path) -> dict[str, str]:
    """Each ``:::{exercise}`` directive's label -> its text."""
    out = {}
    for cell in _cells(path):
        source = "".join(cell["source"])
        for label, text in re.findall(r":label: (ch\d+-ex-[\w-]+)\n(.*?)\n:::", source, re.S):
            out[label] = " ".join(text.split())
    return out


@pytest.mark.parametrize("n", CHAPTER_NUMBERS)
def test_chapter_cells_show_the_registered_exercises_in_order(n: int) -> None:
    """Below each ``:::{exercise}`` directive, one hidden one-line cell shows that exercise; no
    cell builds a question itself, so no answer or feedback string is in the notebook."""
    ch = chapter(n)
    path = BOOK / f"{ch.page}.ipynb"
    labels = {s["id"]: s["label"] for s in ch.specs}
    label, shown = None, []
    for cell in _cells(path):
        source = "".join(cell["source"])
        if cell["cell_type"] == "markdown":
            found = re.findall(r":label: (ch\d+-ex-[\w-]+)", source)
            label = found[-1] if found else label
            continue
        assert not re.search(r"\b(number|shape|choice|code)\(", source) or "exercise(" not in source
        match = re.fullmatch(r'exercise\("(\d+\.\d+)"\)', source.strip())
        if match:
            assert "remove-input" in cell["metadata"].get("tags", []), source
            assert labels[match.group(1)] == label, (path.name, match.group(1), label)
            shown.append(match.group(1))
    assert shown == ch.ids


def test_no_visible_cell_holds_an_answer_or_feedback() -> None:
    secrets = [b[3] for s in specs() if s["kind"] == "number" for b in s["bands"][1:]
               if b[3].startswith("Not quite")]
    secrets += [m for s in specs() if s["kind"] == "choice" for _, _, m in s["options"]]
    secrets += [m for s in specs() if s["kind"] == "shape" for m in s["mistakes"].values()]
    for path in sorted(BOOK.glob("0*.ipynb")):
        for cell in _cells(path):
            tags = cell["metadata"].get("tags", [])
            if cell["cell_type"] != "code" or "remove-cell" in tags or "remove-input" in tags:
                continue
            source = "".join(cell["source"])
            assert [s for s in secrets if s.split(". ", 1)[-1] in source] == [], path.name


def _imports(path: Path) -> str:
    """Every top-level import statement of a chapter's code cells, in order."""
    lines = []
    for cell in _cells(path):
        if cell["cell_type"] == "code":
            tree = ast.parse("".join(cell["source"]))
            lines += [ast.unparse(n) for n in tree.body
                      if isinstance(n, (ast.Import, ast.ImportFrom))]
    return "\n".join(lines)


CODE = [s["id"] for s in specs() if s["kind"] == "code"]


@pytest.mark.parametrize("number", CODE)
def test_every_recommended_call_runs_in_the_chapters_namespace(number: str) -> None:
    """The calls the feedback recommends (the form line, the message outside a notebook, the
    refusal of an instance) run as written after the chapter's imports and its starting cell:
    ``check_mbconv_forward(MyMBConv)`` raising ``NameError`` cannot happen again."""
    ch = chapter(number.split(".")[0])
    path = BOOK / f"{ch.page}.ipynb"
    q = exercise(number)
    name = q.spec["name"]
    namespace: dict[str, Any] = {}
    exec(_imports(path), namespace)  # the chapter's own import statements
    start = next("".join(c["source"]) for c in _cells(path) if c["cell_type"] == "code"
                 and re.search(rf"^(def|class) {name}\b", "".join(c["source"]), re.M))
    exec(start, namespace)  # the chapter's starting cell for the exercise
    said = [q.spec["form"], CodeExercise(q.spec, q.checker).check().message]
    if name[0].isupper():  # a class: an instance is refused, with the call to run instead
        cls = namespace[name]
        said.append(q.checker(cls.__new__(cls), verbose=False).message)
    calls = {m for text in said for m in re.findall(r"checkers\.check_\w+\(\w+\)", text)}
    assert calls, said
    for call in calls:
        result = eval(call, namespace)  # the recommended call, as written
        assert isinstance(result, Feedback) and "NameError" not in result.message, call


@pytest.mark.parametrize("n", CHAPTER_NUMBERS)
def test_code_exercises_start_in_the_notebook_and_are_checked_by_the_package(n: int) -> None:
    """A code exercise's starting cell (visible) defines the name it asks for before its
    exercise cell; its solution is checked with the package's checker; no chapter defines a
    checker of its own."""
    ch = chapter(n)
    code_cells = [c for c in _cells(BOOK / f"{ch.page}.ipynb") if c["cell_type"] == "code"]
    sources = ["".join(c["source"]) for c in code_cells]
    assert not any(re.search(r"^def check_\w+\(", s, re.M) for s in sources)
    for number_ in ch.code_ids:
        s = exercise(number_).spec
        shown = sources.index(f'exercise("{number_}")')
        assert any(re.search(rf"^(def|class) {s['name']}\b", src, re.M)
                   and "remove-input" not in cell["metadata"].get("tags", [])
                   for cell, src in zip(code_cells[:shown], sources[:shown], strict=True))
        assert any(f"checkers.{s['checker']}(" in src for src in sources[shown:])
