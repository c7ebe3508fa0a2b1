"""Exercises for the chapters: one spec per exercise, checked in a notebook and in the page.

A chapter shows its exercises with one-line cells (the specs, with answers computed by
``mbcourse``, live in :mod:`mbcourse.exercises.chapters`, one module per chapter)::

    from mbcourse.exercises import exercise, glue_solutions, progress

    progress(3)          # the chapter's progress line
    exercise("3.1")      # Exercise 3.1: its widget in Jupyter/Colab, checked in the page too

In Jupyter and Colab the exercise is an ipywidget checked in Python (core widgets only, valid
for ipywidgets 7.7 and 8). In the rendered book the same exercise is checked by the page's
script (``_ext/exercises.js``) with the same rules and the same words (see :mod:`.page`), and
code exercises offer to open the chapter in Colab.

Driving an exercise from Python (e.g. a test)::

    q = exercise("3.1")
    q.check("2,128")                    # -> Feedback(correct, message, status)
    q.controls["text"].value = "2128"   # or q.controls["choice"].value = "<an option>"
    q.controls["check"].click()         # runs the same check; q.controls["feedback"].value
    q.controls["hint"].click()          # reveals the next hint in q.controls["hints"]

The classes can also be used directly (``NumericQuestion(prompt, answer=..., progress=...)``,
``ShapeQuestion``, ``MultipleChoice``, ``CodeExercise`` with :mod:`.checkers`); each displays as
widget and page element alike. The learner's own cell can call ``checkers.check_se(MySE)``: it
prints the feedback and returns a :class:`CheckResult` (``passed``, ``message``, ``cases``).

Learner input is parsed, never evaluated (see :mod:`.parsing`); learner code runs with a time
limit and captured output (see :mod:`.sandbox`).
"""

from . import checkers
from .feedback import CheckResult, Feedback
from .parsing import AnswerError, parse_number, parse_shape
from .progress import Progress
from .questions import CodeExercise, MultipleChoice, NumericQuestion, ShapeQuestion
from .registry import exercise, glue_solutions, progress, solution_values, summary

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
    "exercise",
    "glue_solutions",
    "parse_number",
    "parse_shape",
    "progress",
    "solution_values",
    "summary",
]
