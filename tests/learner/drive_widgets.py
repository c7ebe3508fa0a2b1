"""Build every exercise widget under the installed ipywidgets and drive it through Check.

Run by ``tools/learner_env.py`` with the learner environment's Python (ipywidgets 7.7.1, as in
Colab). Displays each exercise through IPython's formatter (what a notebook does), types a wrong
and a right answer, presses Check and Hint, and asserts the feedback. Prints one line per
exercise and a total; exits non-zero on the first failure.
"""

from __future__ import annotations

import ipywidgets
from IPython.core.interactiveshell import InteractiveShell

from mbcourse.exercises import MultipleChoice, NumericQuestion, Progress, ShapeQuestion

VIEW = "application/vnd.jupyter.widget-view+json"


def shown(exercise: object) -> dict:
    """The MIME bundle a notebook would display for ``exercise``."""
    data, _ = InteractiveShell.instance().display_formatter.format(exercise)
    assert VIEW in data, f"{exercise!r} displays no widget view, only {sorted(data)}"
    return data


def drive(exercise: object, wrong: object, right: object) -> None:
    controls = exercise.controls
    field = "text" if "text" in controls else "choice"
    controls[field].value = wrong
    controls["check"].click()
    assert "not yet" in controls["feedback"].value.lower() or "✗" in controls["feedback"].value, (
        controls["feedback"].value
    )
    if exercise.hints:
        controls["hint"].click()
        assert "Hint 1" in controls["hints"].value, controls["hints"].value
    controls[field].value = right
    controls["check"].click()
    assert exercise.solved, controls["feedback"].value


def main() -> None:
    print(f"ipywidgets {ipywidgets.__version__}")
    progress = Progress("Learner check")
    cases = [
        (NumericQuestion("2 + 2?", answer=4, hints=["Count."], progress=progress), "5", "4"),
        (ShapeQuestion("Shape?", answer=(1, 16, 8, 8), progress=progress), "(1, 8)",
         "1, 16, 8, 8"),
    ]
    mc = MultipleChoice("Pick B.", options={"A": "No.", "B": "Yes."}, correct="B",
                        progress=progress)
    cases.append((mc, "A", "B"))
    for exercise, wrong, right in cases:
        shown(exercise)
        drive(exercise, wrong, right)
        print(f"ok  {type(exercise).__name__}")
    shown(progress)
    print(f"{len(cases)} exercises driven")


if __name__ == "__main__":
    main()
