"""Exercises for the chapters: live widgets (core ipywidgets only) and plain-Python checkers.

A chapter creates one :class:`Progress` and a few exercises; displaying an exercise shows its
widget (``q.widget`` is the ``ipywidgets.VBox``). Everything also works without widgets:
``q.check(text)`` returns a :class:`Feedback`, a checker returns a :class:`CheckResult`.

Example (one code cell per exercise, below its ``:::{exercise}`` directive)::

    from mbcourse.exercises import (
        CodeExercise, MultipleChoice, NumericQuestion, Progress, ShapeQuestion, checkers,
    )

    progress = Progress("Chapter 3")
    progress                                    # the live line "solved 0 / attempted 0 / total 3"

    NumericQuestion(
        "How many parameters does `SqueezeExcitation(64, reduction=4)` hold?",
        answer=2128, units="parameters",
        hints=["Two 1x1 convs with bias.", "C*S + S + S*C + C with S = C // r"],
        progress=progress,
    )

    ShapeQuestion.for_module(
        "Output shape of `InvertedResidual(16, 24, stride=2)` for x of shape (1, 16, 112, 112)?",
        InvertedResidual(16, 24, stride=2), (1, 16, 112, 112), progress=progress,
    )

    CodeExercise(
        "Write `MySE(channels, reduction)`, then press Check.",
        checker=checkers.check_se, name="MySE", hints=["..."], progress=progress,
    )

The learner's own cell can also call ``checkers.check_se(MySE)``: it prints the feedback and
returns a :class:`CheckResult` (``passed``, ``message``, ``cases``).

Learner input is parsed, never evaluated (see :mod:`.parsing`); learner code runs with a time
limit and captured output (see :mod:`.sandbox`).
"""

from . import checkers
from .feedback import CheckResult, Feedback
from .parsing import AnswerError, parse_number, parse_shape
from .progress import Progress
from .widgets import CodeExercise, MultipleChoice, NumericQuestion, ShapeQuestion

__all__ = [
    "AnswerError",
    "CheckResult",
    "CodeExercise",
    "Feedback",
    "MultipleChoice",
    "NumericQuestion",
    "Progress",
    "ShapeQuestion",
    "checkers",
    "parse_number",
    "parse_shape",
]
