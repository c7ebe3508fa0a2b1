"""Chapter 7 (Experiments: the papers' claims in miniature)."""

from __future__ import annotations

from typing import Any

from mbcourse import costs

from ..questions import MultipleChoice, NumericQuestion
from ..registry import define

ch = define(7, "Experiments: the papers' claims in miniature", "book/07_experiments")


@ch.exercise("ch7-ex-se-params", "number")
def se_params(**common: Any) -> NumericQuestion:
    answer = costs.squeeze_excitation(96, 96 // 4).params
    return NumericQuestion(
        "Parameters of SqueezeExcitation(96, reduction=4)?",
        answer=answer,
        units="parameters",
        hints=[
            "The squeeze has C / r = 24 channels.",
            "fc1: C·S weights + S biases; fc2: S·C + C.",
        ],
        mistakes={answer - 24 - 96: "You forgot the biases of fc1 (S) and fc2 (C)."},
        **common,
    )


@ch.exercise("ch7-ex-noise", "choice")
def noise(**common: Any) -> MultipleChoice:
    right = "The experiment does not show a difference"
    return MultipleChoice(
        "A: 97.0 ± 0.7 %, B: 96.5 ± 0.9 % over three seeds each. What can you conclude?",
        options={
            "A is better than B": "The gap, 0.5 points, is smaller than "
            "2·SE = 2·sqrt(0.7²/3 + 0.9²/3) ≈ 1.3 points.",
            right: "Right: |Δ| < 2·SE. More seeds (or a larger test set) could still reveal one.",
            "A and B are equally good": "Not shown either: 'no detectable difference' is not "
            "'no difference'.",
        },
        correct=right,
        hints=["Compute the standard error of the difference of the means."],
        **common,
    )
