"""Exercise widgets, tested headless: build the widget, set values, click, read the feedback.
Plus the answer parsers (no eval), the sandbox (time limit, captured output) and progress."""

from __future__ import annotations

import ast
import builtins
import signal
import threading
import time
from typing import ClassVar

import pytest
import torch
from torch import nn

from mbcourse.blocks import InvertedResidual
from mbcourse.exercises import (
    AnswerError,
    CheckResult,
    CodeExercise,
    Feedback,
    MultipleChoice,
    NumericQuestion,
    Progress,
    ShapeQuestion,
    checkers,
    parse_number,
    parse_shape,
)
from mbcourse.exercises.sandbox import CappedStream, run_limited

WIDGET_MIME = "application/vnd.jupyter.widget-view+json"


def answer(question, text: str) -> str:
    """Type ``text`` in the box, press Check, return the feedback HTML."""
    controls = question.controls
    controls["text"].value = text
    controls["check"].click()
    return controls["feedback"].value


def se_question(progress: Progress | None = None, **kwargs) -> NumericQuestion:
    return NumericQuestion(
        "How many parameters does `SqueezeExcitation(64, reduction=4)` hold?",
        answer=2128,
        units="parameters",
        hints=["Two 1x1 convs with bias.", "C*S + S + S*C + C"],
        progress=progress,
        **kwargs,
    )


# --------------------------------------------------------------------------------------------
# Numeric questions
# --------------------------------------------------------------------------------------------


def test_numeric_correct_answer_through_the_widget() -> None:
    progress = Progress("Chapter 3")
    q = se_question(progress)
    assert progress.line() == "Chapter 3 — solved 0 / attempted 0 / total 1"
    html = answer(q, "2128")
    assert "Correct: 2,128 parameters." in html
    assert q.solved and q.attempts == 1
    assert progress.line() == "Chapter 3 — solved 1 / attempted 1 / total 1"
    assert "solved 1 / attempted 1 / total 1" in progress.widget().value


@pytest.mark.parametrize(
    ("typed", "says"),
    [
        ("2192", "Too high by 64 parameters (3.0% above)"),
        ("2000", "Too low by 128 parameters (6.0% below)"),
        ("2128000", "10^3 times the answer"),
        ("4256", "about twice the answer"),
        ("1064", "about half the answer"),
        ("-2128", "The sign is wrong"),
    ],
)
def test_numeric_wrong_answers_say_how_far(typed: str, says: str) -> None:
    q = se_question()
    feedback = q.check(typed)
    assert not feedback.correct and feedback.status == "incorrect"
    assert says in feedback.message
    assert "Try again" in feedback.message


@pytest.mark.parametrize(
    "typed",
    [
        "2128",
        "2,128",
        "2_128",
        " 2128 ",
        "2128 parameters",
        "2128 parameter",
        "2.128e3",
        "2.128k",
        "+2128",
        "2128.0",
        "\u22122128".replace("\u2212", ""),
    ],
)
def test_numeric_accepted_spellings(typed: str) -> None:
    assert se_question().check(typed).correct


@pytest.mark.parametrize(
    ("typed", "says"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("abc", 'could not read "abc"'),
        ("twenty", "could not read"),
        ("nan", "not a finite number"),
        ("NaN", "not a finite number"),
        ("inf", "not a finite number"),
        ("-infinity", "not a finite number"),
        ("1e400", "too large"),
        ("-1e999", "too large"),
        ("1" + "0" * 10_000, "far too long"),  # 10**10000 typed out
        ("10**10000", "not arithmetic"),
        ("64*16+16", "not arithmetic"),
        ("2^11", "not arithmetic"),
        ("3,5", "use a dot for decimals"),
        ("__import__('os').system('echo hi')", "could not read"),
        ("1e", "could not read"),
    ],
)
def test_numeric_bad_input_is_friendly_and_not_counted(typed: str, says: str) -> None:
    progress = Progress("ch")
    q = se_question(progress)
    html = answer(q, typed)
    assert says in html, html
    assert "⚠" in html and "Traceback" not in html
    assert q.controls["text"].value == typed  # the learner's text is kept
    assert q.attempts == 0 and progress.attempted == 0
    assert q.last_feedback is not None and not q.last_feedback.counted


def test_numeric_feedback_is_html_escaped() -> None:
    html = answer(se_question(), "<script>alert(1)</script>")
    assert "<script>" not in html and "&lt;script&gt;" in html


def test_numeric_tolerance_and_known_mistakes() -> None:
    q = NumericQuestion(
        "Speed-up?",
        answer=8.4,
        rel_tol=0.05,
        units="x",
        mistakes={16.0: "You compared FLOPs with multiply-adds."},
    )
    assert q.check("8.7").correct  # within 5%
    wrong = q.check("9.5")
    assert not wrong.correct and "Answers within ±0.42 x count" in wrong.message
    assert "compared FLOPs" in q.check("16").message
    exact = NumericQuestion("0.1 + 0.2?", answer=0.1 + 0.2)
    assert exact.check("0.3").correct  # float rounding never makes an exact answer wrong
    assert not exact.check("0.31").correct


def test_numeric_python_numbers_and_explanation() -> None:
    q = se_question(explanation="fc1: 64*16 + 16, fc2: 16*64 + 64.")
    assert q.check(2128).correct
    assert "fc1: 64*16" in q.check(2128.0).message
    assert not q.check(True).correct and q.check(True).status == "invalid"
    assert q.check(10**400).status == "invalid"


@pytest.mark.parametrize(
    ("kwargs", "says"),
    [
        ({"answer": float("nan")}, "answer must be a finite number"),
        ({"answer": "2128"}, "answer must be a finite number"),
        ({"answer": 10**400}, "answer must be a finite number"),
        ({"answer": None}, "answer must be a finite number"),
        ({"answer": 1, "rel_tol": -1}, "rel_tol must be"),
        ({"answer": 1, "hints": [1, 2]}, "hints must be a list of strings"),
    ],
)
def test_numeric_bad_construction(kwargs, says: str) -> None:
    with pytest.raises((ValueError, TypeError), match=says):
        NumericQuestion("Q?", **kwargs)
    with pytest.raises(ValueError, match="prompt must be a non-empty string"):
        NumericQuestion("", answer=1)


def test_numeric_accepts_tensor_answer() -> None:
    q = NumericQuestion("Params?", answer=torch.tensor(2128))
    assert q.answer == 2128 and q.check("2128").correct


# --------------------------------------------------------------------------------------------
# Hints, display, progress
# --------------------------------------------------------------------------------------------


def test_hints_are_revealed_one_at_a_time() -> None:
    q = se_question()
    c = q.controls
    assert c["hints"].value == "" and not c["hint"].disabled
    c["hint"].click()
    assert "Hint 1 of 2" in c["hints"].value and "Hint 2" not in c["hints"].value
    c["hint"].click()
    assert "Hint 2 of 2:</i> C*S + S + S*C + C" in c["hints"].value
    assert c["hint"].disabled and c["hint"].description == "No more hints"
    assert q.hint().startswith("No more hints")
    assert NumericQuestion("Q?", answer=1).controls["hint"].disabled


def test_plain_hint_without_widget() -> None:
    q = se_question()
    assert q.hint() == "Hint 1 of 2: Two 1x1 convs with bias."
    assert "Hint 1 of 2" in q.controls["hints"].value  # shown when the widget is built later


def test_displaying_an_exercise_shows_its_widget() -> None:
    q = se_question()
    bundle = q._repr_mimebundle_()
    assert bundle[WIDGET_MIME]["model_id"] == q.widget.model_id
    assert "SqueezeExcitation(64, reduction=4)" in bundle["text/plain"]
    assert "<code>SqueezeExcitation(64, reduction=4)</code>" in q.controls["prompt"].value
    progress = Progress("Chapter 3")
    assert progress._repr_mimebundle_()[WIDGET_MIME]["model_id"] == progress.widget().model_id


def test_progress_counts_each_exercise_once() -> None:
    progress = Progress("Chapter 5")
    q1 = se_question(progress)
    se_question(progress)  # the same cell run again: still one exercise
    mc = MultipleChoice("Pick", {"a": "right", "b": "wrong"}, correct="a", progress=progress)
    assert progress.total == 2
    q1.check("1")
    q1.check("2128")
    q1.check("1")  # solved stays solved
    mc.check("b")
    assert (progress.solved, progress.attempted, progress.total) == (1, 2, 2)
    assert str(progress) == "Chapter 5 — solved 1 / attempted 2 / total 2"
    with pytest.raises(TypeError, match="Progress: title must be a string"):
        Progress(3)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="progress must be a Progress"):
        se_question(progress="Chapter 5")  # type: ignore[arg-type]


def test_widget_errors_become_messages(monkeypatch: pytest.MonkeyPatch) -> None:
    q = se_question()
    c = q.controls

    def broken(_text):
        raise RuntimeError("boom")

    monkeypatch.setattr(q, "check", broken)
    c["text"].value = "2128"
    c["check"].click()  # must not raise
    assert "Something went wrong inside the exercise widget" in c["feedback"].value
    assert "boom" in c["feedback"].value
    assert c["text"].value == "2128"


# --------------------------------------------------------------------------------------------
# Shape questions
# --------------------------------------------------------------------------------------------


def shape_question(progress: Progress | None = None) -> ShapeQuestion:
    return ShapeQuestion(
        "Output shape of InvertedResidual(16, 24, stride=2) on (1, 16, 112, 112)?",
        answer=(1, 24, 56, 56),
        hints=["Stride 2 halves H and W."],
        progress=progress,
        mistakes={(1, 24, 112, 112): "The stride of 2 halves H and W."},
    )


@pytest.mark.parametrize(
    "typed",
    [
        "1, 24, 56, 56",
        "(1,24,56,56)",
        "[1, 24, 56, 56]",
        "torch.Size([1, 24, 56, 56])",
        "1x24x56x56",
        "1 × 24 × 56 × 56",
        "1 24 56 56",
        " ( 1 , 24 , 56 , 56 ) ",
        "1,24,56,56,"[:-1],
    ],
)
def test_shape_accepted_spellings(typed: str) -> None:
    q = shape_question()
    html = answer(q, typed)
    assert "Correct: (1, 24, 56, 56)." in html


def test_shape_wrong_rank_and_entries() -> None:
    q = shape_question()
    rank = q.check("24, 56, 56").message
    assert "Wrong rank" in rank and "has 3 entries" in rank and "has 4 (N, C, H, W)" in rank
    assert "leave out entry 1 (N)" in rank
    entries = q.check("1, 32, 28, 56").message
    assert "entry 2 (C) = 32 is too high" in entries
    assert "entry 3 (H) = 28 is too low" in entries
    assert "Right: entries 1 (N), 4 (W)." in entries
    assert "halves H and W" in q.check("1, 24, 112, 112").message
    assert q.attempts == 3 and not q.solved


@pytest.mark.parametrize(
    ("typed", "says"),
    [
        ("", "empty"),
        ("1, 24, 56.5, 56", 'Entry 3 ("56.5") is not a whole number'),
        ("1, C, 56, 56", 'Entry 2 ("C") is not a size'),
        ("1, -24, 56, 56", "Entry 2 (-24) is negative"),
        ("1,,24", "Entry 2 is empty"),
        ("1, 24, 1e400, 56", "Entry 3"),
        ("1, 24, nan, 56", 'Entry 3 ("nan") is not a size'),
        ("1, " + "9" * 10_000, "far too long"),
        ("1, 123456789012, 5", "implausibly large"),
        ("((1, 2), 3)", "one flat list"),
        ("[]", "no sizes"),
    ],
)
def test_shape_bad_input(typed: str, says: str) -> None:
    q = shape_question()
    html = answer(q, typed)
    assert says in html, html
    assert q.attempts == 0 and q.controls["text"].value == typed


def test_shape_for_module_and_custom_dims() -> None:
    block = InvertedResidual(16, 24, stride=2)
    block.train()
    q = ShapeQuestion.for_module("Shape?", block, (1, 16, 32, 32))
    assert q.answer == (1, 24, 16, 16) and block.training
    assert q.check("1, 24, 16, 16").correct
    flat = ShapeQuestion("Flattened?", [2, 1280], dims=("N", "features"))
    assert "entry 2 (features)" in flat.check("2, 1000").message
    with pytest.raises(ValueError, match="dims must name each"):
        ShapeQuestion("Q?", (1, 2), dims=("N",))
    with pytest.raises(ValueError, match="answer must be a non-empty sequence"):
        ShapeQuestion("Q?", ())


# --------------------------------------------------------------------------------------------
# Multiple choice
# --------------------------------------------------------------------------------------------

OPTIONS = {
    "A: linear (no activation)": "Right: ReLU in the narrow bottleneck destroys information.",
    "B: ReLU6": "ReLU6 follows the expansion and the depthwise conv, not the projection.",
    "C: SiLU": "SiLU is EfficientNet's activation, and not after the projection either.",
}


def mc_question(progress: Progress | None = None) -> MultipleChoice:
    return MultipleChoice(
        "What follows MobileNetV2's projection conv?",
        OPTIONS,
        correct="A: linear (no activation)",
        hints=["Linear bottleneck."],
        progress=progress,
    )


def test_multiple_choice_through_the_widget() -> None:
    progress = Progress("ch")
    q = mc_question(progress)
    c = q.controls
    assert c["choice"].value is None
    c["check"].click()
    assert "Pick an option first" in c["feedback"].value and q.attempts == 0
    c["choice"].value = "B: ReLU6"
    c["check"].click()
    assert "Not this one: B: ReLU6." in c["feedback"].value
    assert "not the projection" in c["feedback"].value and "SiLU is" not in c["feedback"].value
    c["choice"].value = "A: linear (no activation)"
    c["check"].click()
    html = c["feedback"].value
    assert "Correct: A: linear" in html
    for explanation in OPTIONS.values():  # every option's explanation, once answered
        assert explanation in html
    assert (progress.solved, progress.attempted) == (1, 1)


def test_multiple_choice_plain_python() -> None:
    q = mc_question()
    assert q.check("A").correct
    assert q.check(0).correct
    assert not q.check("c").correct
    assert q.check("Z").status == "invalid"
    assert q.check(7).status == "invalid"
    assert q.check("").status == "invalid"
    with pytest.raises(ValueError, match="correct='D' is not one of the options"):
        MultipleChoice("Q?", OPTIONS, correct="D")
    with pytest.raises(ValueError, match="needs an explanation"):
        MultipleChoice("Q?", {"a": "", "b": "x"}, correct="a")
    with pytest.raises(ValueError, match="at least two options"):
        MultipleChoice("Q?", {"a": "x"}, correct="a")


# --------------------------------------------------------------------------------------------
# Code exercises
# --------------------------------------------------------------------------------------------


class LearnerSE(nn.Module):
    def __init__(self, channels, reduction):
        super().__init__()
        self.fc1 = nn.Conv2d(channels, channels // reduction, 1)
        self.fc2 = nn.Conv2d(channels // reduction, channels, 1)

    def forward(self, x):
        return x * torch.sigmoid(self.fc2(torch.relu(self.fc1(x.mean((2, 3), keepdim=True)))))


class LearnerSENoSigmoid(LearnerSE):
    def forward(self, x):
        return x * self.fc2(torch.relu(self.fc1(x.mean((2, 3), keepdim=True))))


def test_code_exercise_reads_the_notebook_namespace(monkeypatch: pytest.MonkeyPatch) -> None:
    class Shell:
        user_ns: ClassVar[dict] = {}

    import IPython

    monkeypatch.setattr(IPython, "get_ipython", lambda: Shell)
    progress = Progress("Chapter 4")
    ex = CodeExercise(
        "Write MySE.",
        checker=checkers.check_se,
        name="MySE",
        hints=["Sigmoid at the end."],
        progress=progress,
    )
    c = ex.controls
    assert c["check"].description == "Check MySE"
    c["check"].click()
    assert "cannot find 'MySE'" in c["feedback"].value and ex.attempts == 0
    Shell.user_ns["MySE"] = LearnerSENoSigmoid
    c["check"].click()
    html = c["feedback"].value
    assert "case 1 of 5 failed" in html and "no sigmoid" in html
    assert "Input:" in html and "Expected:" in html and "Got:" in html
    Shell.user_ns["MySE"] = LearnerSE
    c["check"].click()
    html = c["feedback"].value
    assert "all 5 cases passed. Verified:" in html and "1. LearnerSE(16, 4)" in html
    assert (progress.solved, progress.attempted) == (1, 1) and ex.attempts == 2


def test_code_exercise_outside_a_notebook(capsys: pytest.CaptureFixture[str]) -> None:
    ex = CodeExercise("Write fn.", checker=checkers.check_conv_params, name="conv_params")
    result = ex.check()
    assert result.status == "invalid" and "Not running in a notebook" in result.message
    assert ex.check(lambda c_in, c_out, k, groups=1: c_out * c_in // groups * k * k).passed
    assert capsys.readouterr().out == ""  # quiet: the widget shows the message
    ns = {"conv_params": lambda *a: 0}
    failing = CodeExercise(
        "Write fn.", checker=checkers.check_conv_params, name="conv_params", namespace=ns
    ).check()
    assert not failing.passed and failing.counted


def test_code_exercise_with_bad_learner_code() -> None:
    def endless(c_in, c_out, k, groups=1):
        while True:
            pass

    ns = {"f": endless}
    ex = CodeExercise(
        "f",
        checker=lambda fn, verbose=True: checkers.check_conv_params(
            fn, verbose=verbose, time_limit=0.2
        ),
        name="f",
        namespace=ns,
    )
    ex.controls["check"].click()
    assert "did not finish within 0.2 s" in ex.controls["feedback"].value


def test_code_exercise_with_other_checkers() -> None:
    def broken_checker(obj):
        raise KeyError("internal")

    ex = CodeExercise("x", checker=broken_checker, name="x", namespace={"x": 1})
    result = ex.check()
    assert not result.passed and "checker itself failed" in result.message
    assert result.status == "invalid"

    def noisy_bool_checker(obj):
        print("this goes nowhere")
        return obj == 3

    ex = CodeExercise("x", checker=noisy_bool_checker, name="x", namespace={"x": 3})
    assert ex.check().passed
    assert not ex.check(4).passed
    ex = CodeExercise("x", checker=lambda obj: Feedback(True, "fine", "correct"), name="x")
    assert ex.check(1).passed and ex.check(1).message == "fine"
    with pytest.raises(ValueError, match="name must be a Python identifier"):
        CodeExercise("x", checker=checkers.check_se, name="my se")
    with pytest.raises(TypeError, match="checker must be callable"):
        CodeExercise("x", checker="check_se", name="MySE")  # type: ignore[arg-type]


def test_check_result_reads_like_feedback() -> None:
    result = CheckResult(True, "ok", ("case",), "correct")
    assert result.correct and result.counted and str(result) == "ok"


# --------------------------------------------------------------------------------------------
# Parsers: no eval anywhere
# --------------------------------------------------------------------------------------------


def test_parsers_never_evaluate(monkeypatch: pytest.MonkeyPatch) -> None:
    def forbidden(*args, **kwargs):
        raise AssertionError("learner text must not be evaluated")

    monkeypatch.setattr(builtins, "eval", forbidden)
    monkeypatch.setattr(builtins, "exec", forbidden)
    monkeypatch.setattr(ast, "literal_eval", forbidden)
    assert parse_number("3.5M") == 3.5e6
    assert parse_number("2,128 parameters", units="parameters") == 2128
    assert parse_shape("(1, 24, 56, 56)") == (1, 24, 56, 56)
    for text in ["__import__('os')", "1+1", "(1,)*4", "[x for x in ()]"]:
        with pytest.raises(AnswerError):
            parse_number(text)
        with pytest.raises(AnswerError):
            parse_shape(text)


def test_parse_shape_forms() -> None:
    assert parse_shape("(8,)") == (8,)
    assert parse_shape([1, 2]) == (1, 2)
    assert parse_shape("007, 0") == (7, 0)


# --------------------------------------------------------------------------------------------
# Sandbox: time limits and captured output
# --------------------------------------------------------------------------------------------


def spin() -> None:
    while True:
        pass


def test_time_limit_with_alarm_restores_signal_state() -> None:
    if not hasattr(signal, "setitimer"):
        pytest.skip("no setitimer on this platform")
    before = signal.getsignal(signal.SIGALRM)
    outcome = run_limited(spin, timeout=0.2)
    assert outcome.timed_out and not outcome.ok and outcome.seconds < 2
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)
    assert signal.getsignal(signal.SIGALRM) == before


def test_time_limit_with_thread_fallback() -> None:
    outcome = run_limited(spin, timeout=0.2, force_thread=True)
    assert outcome.timed_out and not outcome.still_running  # stopped by an async exception
    stuck = run_limited(lambda: time.sleep(1.5), timeout=0.1, force_thread=True)
    assert stuck.timed_out and stuck.still_running  # a C call cannot be interrupted: reported


def test_time_limit_off_the_main_thread() -> None:
    results = []
    worker = threading.Thread(target=lambda: results.append(run_limited(spin, timeout=0.2)))
    worker.start()
    worker.join(10)
    assert results and results[0].timed_out


def test_sandbox_returns_values_and_errors() -> None:
    assert run_limited(lambda: 42).value == 42
    error = run_limited(lambda: 1 / 0).error
    assert isinstance(error, ZeroDivisionError)
    assert isinstance(run_limited(lambda: exit(3)).error, SystemExit)
    assert run_limited(lambda: 7, force_thread=True).value == 7

    def interrupted():
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):  # the kernel's interrupt button keeps working
        run_limited(interrupted)


def test_capped_stream_keeps_the_start_and_counts_the_rest(
    capsys: pytest.CaptureFixture[str],
) -> None:
    stream = CappedStream(limit=10)
    outcome = run_limited(lambda: print("x" * 1000), output=stream)
    assert outcome.ok and capsys.readouterr().out == ""
    assert stream.getvalue() == "x" * 10 and stream.total == 1001 and stream.truncated


# ---- the chapters' exercises: one spec each, in the package ------------------------------------
import html as html_lib  # noqa: E402
import json  # noqa: E402
import re  # noqa: E402
from pathlib import Path  # noqa: E402

from mbcourse.exercises import exercise, glue_solutions, progress, solution_values, summary  # noqa: E402
from mbcourse.exercises.parsing import format_number  # noqa: E402
from mbcourse.exercises.registry import CHAPTER_NUMBERS, chapter  # noqa: E402

BOOK = Path(__file__).resolve().parents[1] / "book"
ALL_IDS = [i for n in CHAPTER_NUMBERS for i in chapter(n).ids]


def right_answer(spec: dict) -> object:
    """A right answer as a learner would type it."""
    if spec["kind"] == "number":
        return format_number(spec["answer"])
    if spec["kind"] == "shape":
        return ", ".join(str(v) for v in spec["answer"])
    return spec["correct"]


@pytest.mark.parametrize("number", ALL_IDS)
def test_every_chapter_exercise_takes_its_answer_and_rejects_known_mistakes(number: str) -> None:
    q = exercise(number)
    spec = q.spec()
    assert json.loads(json.dumps(spec)) == spec  # the page gets exactly this
    assert spec["id"] == number and spec["chapter"] == number.split(".")[0]
    assert q.hints, f"exercise {number} has no hints"
    if spec["kind"] == "code":
        assert spec["name"].isidentifier() and spec["checker"].startswith("check_")
        return
    result = q.check(right_answer(spec))
    assert result.correct, (number, result.message)
    if spec["kind"] == "number":
        assert q.check(str(spec["answer"])).correct
        for wrong, why in spec["mistakes"]:
            verdict = q.check(repr(wrong))
            assert not verdict.correct and why in verdict.message, (number, wrong)
    elif spec["kind"] == "shape":
        assert q.check(str(tuple(spec["answer"]))).correct
        for wrong, why in spec["mistakes"]:
            verdict = q.check(str(wrong))
            assert not verdict.correct and why in verdict.message, (number, wrong)
    else:
        for label, why in spec["options"]:
            if label != spec["correct"]:
                verdict = q.check(label)
                assert not verdict.correct and why in verdict.message


@pytest.mark.parametrize("number", ALL_IDS)
def test_every_chapter_exercise_widget_can_be_driven(number: str) -> None:
    """Build the widget and press its buttons, as the learner (and the ipywidgets 7.7 test) do."""
    q = exercise(number)
    c = q.controls
    if q.kind in ("number", "shape"):
        c["text"].value = "not an answer"
        c["check"].click()
        assert "⚠" in c["feedback"].value and q.attempts == 0
        c["text"].value = str(right_answer(q.spec()))
    elif q.kind == "choice":
        c["choice"].value = q.correct
    c["check"].click()
    if q.kind == "code":  # outside a notebook: says where to define it, not counted
        assert "⚠" in c["feedback"].value and q.attempts == 0
    else:
        assert "✓" in c["feedback"].value and q.solved
        assert progress(number.split(".")[0]).solved >= 1
    c["hint"].click()
    assert f"Hint 1 of {len(q.hints)}" in c["hints"].value
    assert c["check"].layout.width == "auto" and c["hint"].layout.width == "auto"


def test_chapter_progress_counts_every_exercise_from_the_start() -> None:
    p = progress(4)
    assert p is progress("4") and p.total == len(chapter(4).ids)
    bundle = p._repr_mimebundle_()
    assert WIDGET_MIME in bundle and 'class="mbc-progress"' in bundle["text/html"]
    data = re.search(r'data-progress="([^"]*)"', bundle["text/html"]).group(1)
    assert json.loads(html_lib.unescape(data)) == {
        "chapter": "4",
        "title": "Chapter 4",
        "ids": chapter(4).ids,
        "code": chapter(4).code_ids,
    }


def test_the_page_copy_keeps_the_answer_out_of_sight() -> None:
    q = exercise("3.1")
    bundle = q._repr_mimebundle_()
    assert WIDGET_MIME in bundle  # Jupyter and Colab show the widget
    page = bundle["text/html"]
    attribute = re.search(r'data-spec="([^"]*)"', page)
    spec = json.loads(html_lib.unescape(attribute.group(1)))
    assert spec == q.spec() and spec["answer"] == 8464
    visible = page.replace(attribute.group(0), "")
    assert "8464" not in visible and "8,464" not in visible


def test_summary_lists_every_chapter() -> None:
    s = summary()
    page = s._repr_mimebundle_()["text/html"]
    data = json.loads(html_lib.unescape(re.search(r'data-chapters="([^"]*)"', page).group(1)))
    assert [c["chapter"] for c in data] == [str(n) for n in CHAPTER_NUMBERS]
    assert all(
        c["page"].endswith(".html") and (BOOK / c["page"].replace(".html", ".ipynb")).is_file()
        for c in data
    )
    assert "Chapter" not in s.lines()[0] and s.lines()[1].endswith("1 code exercise")


def test_exercise_and_progress_refuse_bad_numbers() -> None:
    with pytest.raises(ValueError, match=r'e\.g\. "3\.1"'):
        exercise("3")
    with pytest.raises(ValueError, match=r"exercises 3\.1 to 3\.5"):
        exercise("3.9")
    with pytest.raises(ValueError, match="no exercises for chapter 42"):
        progress(42)
    with pytest.raises(TypeError):
        progress(True)


def test_solution_values_are_computed_and_glued(monkeypatch: pytest.MonkeyPatch) -> None:
    glued: dict[str, object] = {}
    import mbcourse.display

    monkeypatch.setattr(mbcourse.display, "glue", lambda k, v, display=True: glued.update({k: v}))
    assert glue_solutions(3) == glued == solution_values(3)
    assert glued["ch3_ex1_answer"] == exercise("3.1").answer


def _cells(path: Path) -> list[dict]:
    return json.loads(path.read_text(encoding="utf-8"))["cells"]


@pytest.mark.parametrize("n", CHAPTER_NUMBERS)
def test_chapter_cells_show_the_registered_exercises_in_order(n: int) -> None:
    """Below each ``:::{exercise}`` directive, one hidden one-line cell shows that exercise; no
    cell builds a question itself, so no answer or feedback string is in the notebook."""
    ch = chapter(n)
    path = BOOK / (ch.page.split("/")[-1] + ".ipynb")
    label, shown = None, []
    for cell in _cells(path):
        source = "".join(cell["source"])
        if cell["cell_type"] == "markdown":
            labels = re.findall(r":label: (ch\d+-ex-[\w-]+)", source)
            label = labels[-1] if labels else label
            continue
        assert not re.search(
            r"\b(NumericQuestion|ShapeQuestion|MultipleChoice|CodeExercise)\(", source
        ), f"{path.name}: a cell builds an exercise itself"
        match = re.fullmatch(r'exercise\("(\d+\.\d+)"\)', source.strip())
        if match:
            assert "remove-input" in cell["metadata"].get("tags", []), source
            assert ch.labels[match.group(1)] == label, (path.name, match.group(1), label)
            shown.append(match.group(1))
    assert shown == ch.ids


def test_no_visible_cell_holds_an_answer_or_feedback() -> None:
    secrets: list[str] = []
    for number in ALL_IDS:
        spec = exercise(number).spec()
        if spec["kind"] == "choice":
            secrets += [why for _, why in spec["options"]]
        secrets += [why for _, why in spec.get("mistakes", [])]
    for path in sorted(BOOK.glob("0*.ipynb")):
        for cell in _cells(path):
            tags = cell["metadata"].get("tags", [])
            if cell["cell_type"] != "code" or "remove-cell" in tags or "remove-input" in tags:
                continue
            source = "".join(cell["source"])
            leaked = [s for s in secrets if s in source]
            assert not leaked, f"{path.name}: visible cell shows {leaked}"


def test_widget_bundle_under_ipywidgets_7() -> None:
    """ipywidgets 7.7 (Colab) widgets have no _repr_mimebundle_: the bundle is built as their
    _ipython_display_ builds it."""
    from mbcourse.exercises.progress import widget_bundle

    class Widget7:
        _view_name = "VBoxView"
        model_id = "abc123"

        def __repr__(self) -> str:
            return "VBox()"

    assert widget_bundle(Widget7()) == {
        "text/plain": "VBox()",
        WIDGET_MIME: {"version_major": 2, "version_minor": 0, "model_id": "abc123"},
    }


@pytest.mark.parametrize("n", CHAPTER_NUMBERS)
def test_code_exercises_start_in_the_notebook_and_are_checked_by_the_package(n: int) -> None:
    """A code exercise's starting cell (visible) defines the name it asks for before its
    exercise cell; its solution is checked with the package's checker (``checkers.check_x``);
    no chapter defines a checker of its own."""
    ch = chapter(n)
    path = BOOK / (ch.page.split("/")[-1] + ".ipynb")
    code = [cell for cell in _cells(path) if cell["cell_type"] == "code"]
    sources = ["".join(cell["source"]) for cell in code]
    assert not any(re.search(r"^def check_\w+\(", s, re.M) for s in sources), path.name
    for number in ch.code_ids:
        q = exercise(number)
        shown = sources.index(f'exercise("{number}")')
        starts = [
            s
            for cell, s in zip(code[:shown], sources[:shown], strict=True)
            if re.search(rf"^(def|class) {q.name}\b", s, re.M)
            and "remove-input" not in cell["metadata"].get("tags", [])
        ]
        assert starts, f"{path.name}: no visible cell defines {q.name} before exercise {number}"
        checker = q.spec()["checker"]
        assert any(f"checkers.{checker}(" in s for s in sources[shown:]), (path.name, checker)
