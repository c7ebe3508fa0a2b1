"""Build every chapter's exercise widget under the installed ipywidgets and drive it through Check.

Run by ``tools/learner_env.py`` with the learner environment's Python (ipywidgets 7.7.1, as in
Colab; no pytest there). For each exercise of every chapter it displays the exercise through
IPython's formatter (what a notebook does) and requires a widget view, reads the expected form
shown before any answer, types garbage and then the right answer (a choice: the right option,
among options in this reader's order), presses Check and Hint and reads the feedback; then it
displays the chapter's progress line, presses its "Reset progress" and requires the counts
back at zero, and displays the start page's summary. Prints one line per chapter and a total;
exits non-zero with the exercise and the reason at the first failure.
"""

from __future__ import annotations

import sys

import ipywidgets
from IPython.core.interactiveshell import InteractiveShell

from mbcourse.exercises import exercise, progress, summary
from mbcourse.exercises.book import CHAPTER_NUMBERS, chapter

VIEW = "application/vnd.jupyter.widget-view+json"


def view_of(shell: InteractiveShell, obj: object) -> str:
    """The widget model id in what a notebook displays for ``obj``."""
    data, _ = shell.display_formatter.format(obj)
    if VIEW not in data:
        raise AssertionError(f"displays no widget view, only {sorted(data)}")
    return data[VIEW]["model_id"]


def right_answer(spec: dict) -> str:
    """The right answer as a learner types (or picks) it."""
    if spec["kind"] == "number":
        return repr(spec["answer"])
    if spec["kind"] == "shape":
        return ", ".join(str(v) for v in spec["answer"])
    return next(o for o, status, _ in spec["options"] if status == "correct")


def drive(shell: InteractiveShell, number: str) -> None:
    q = exercise(number)
    if view_of(shell, q) != q.widget.model_id:
        raise AssertionError("the displayed view is not the exercise's widget")
    c = q.controls
    if not c["form"].value or c["feedback"].value:
        raise AssertionError("the expected form is not shown before answering")
    if q.kind in ("number", "shape"):
        c["text"].value = "¿?"
        c["check"].click()
        if "⚠" not in c["feedback"].value or q.attempts:
            raise AssertionError(f"garbage was not refused: {c['feedback'].value}")
        c["text"].value = right_answer(q.spec)
    elif q.kind == "choice":
        if list(c["choice"].options) != q.options:
            raise AssertionError("the options are not in this reader's order")
        c["choice"].value = right_answer(q.spec)
    c["check"].click()
    if q.kind != "code" and not ("✓" in c["feedback"].value and q.solved):
        raise AssertionError(f"the right answer was not accepted: {c['feedback'].value}")
    c["hint"].click()
    if f"Hint 1 of {len(q.spec['hints'])}" not in c["hints"].value:
        raise AssertionError(f"no first hint after Hint: {c['hints'].value}")


def main() -> int:
    shell = InteractiveShell.instance()
    print(f"ipywidgets {ipywidgets.__version__}")
    count = 0
    for n in CHAPTER_NUMBERS:
        for number in chapter(n).ids:
            try:
                drive(shell, number)
            except Exception as error:
                print(f"exercise {number}: {type(error).__name__}: {error}", file=sys.stderr)
                return 1
            count += 1
        line = progress(n)
        view_of(shell, line)
        solved = line.line()
        line.widget().children[1].click()  # "Reset progress"
        if line.solved or line.attempted:
            print(f"chapter {n}: Reset progress left {line.line()}", file=sys.stderr)
            return 1
        print(f"chapter {n}: {len(chapter(n).ids)} exercises; {solved}; reset")
    view_of(shell, summary())
    print(f"{count} exercises driven through their widgets")
    return 0


if __name__ == "__main__":
    sys.exit(main())
