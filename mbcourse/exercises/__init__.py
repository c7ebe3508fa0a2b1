"""Exercises for the chapters: one spec per exercise, judged in a notebook and in the page.

A chapter shows its exercises with one-line cells, each below the ``:::{exercise}`` directive
that states it (the specs, their answers computed by ``mbcourse``, live in
:mod:`mbcourse.exercises.chapters`, one module per chapter)::

    from mbcourse.exercises import checkers, exercise, glue_solutions, progress

    progress(3)          # the chapter's progress line, with "Reset progress"
    exercise("3.1")      # Exercise 3.1: its widget in Jupyter/Colab, judged in the page too

A spec holds every verdict as data (:mod:`.verdicts`); the notebook (:func:`judge`) and the
page (``_ext/exercises.js``) only read it, after reading the learner's text with the same
table (:mod:`.reading`). Driving an exercise from Python (e.g. a test)::

    q = exercise("3.1")
    q.check("8,464 params")             # -> Feedback(status, message)
    q.controls["text"].value = "8464"   # or q.controls["choice"].value = "<an option>"
    q.controls["check"].click()         # the same check; q.controls["feedback"].value

Code exercises are checked by :mod:`.checkers` (``checkers.check_se(MySE)`` prints the
feedback and returns it: ``passed``, ``message``, ``cases``), run by :mod:`.grader`.
"""

from . import checkers
from .book import exercise, glue_solutions, progress, reset_progress, solution_values, summary
from .reading import read_number, read_shape
from .verdicts import CheckResult, Feedback, choice, code, judge, number, shape
from .widgets import CodeExercise, Progress, Question

__all__ = [
    "CheckResult",
    "CodeExercise",
    "Feedback",
    "Progress",
    "Question",
    "checkers",
    "choice",
    "code",
    "exercise",
    "glue_solutions",
    "judge",
    "number",
    "progress",
    "read_number",
    "read_shape",
    "reset_progress",
    "shape",
    "solution_values",
    "summary",
]
