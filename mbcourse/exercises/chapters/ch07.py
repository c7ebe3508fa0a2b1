"""Chapter 7 (Experiments: the papers' claims in miniature)."""

from __future__ import annotations

from typing import Any

from mbcourse import costs
from mbcourse.studies.experiments import Comparison, t_critical

from ..questions import MultipleChoice, NumericQuestion
from ..registry import define

ch = define(7, "Experiments: the papers' claims in miniature", "book/07_experiments")


def _noise() -> Comparison:
    """Exercise 7.2's two variants: A 97.0 ± 0.7 %, B 96.5 ± 0.9 %, three seeds each."""
    return Comparison("A", "B", 0.970, 0.007, 0.965, 0.009, 3, 3)


@ch.solution_values
def values() -> dict[str, Any]:
    c = _noise()
    return {
        "ch7_ex2_diff": round(100 * c.difference, 1),
        "ch7_ex2_se": round(100 * c.stderr, 2),
        "ch7_ex2_t": round(abs(c.t), 1),
        "ch7_ex2_df": round(c.df, 1),
        "ch7_ex2_p": round(c.p_value, 2),
        "ch7_ex2_tcrit": round(t_critical(c.df), 2),
    }


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
    c = _noise()
    t, df, p = abs(c.t), c.df, c.p_value
    right = "The experiment does not show a difference"
    return MultipleChoice(
        f"A: {100 * c.mean_a:.1f} ± {100 * c.std_a:.1f} %, B: {100 * c.mean_b:.1f} ± "
        f"{100 * c.std_b:.1f} % over three seeds each. What can you conclude?",
        options={
            "A is better than B": f"The gap, {100 * c.difference:.1f} points, is not "
            f"significant: Welch's t = {t:.1f} with df ≈ {df:.1f} gives p = {p:.2f}, far above "
            f"0.05 (|t| would have to exceed {t_critical(df):.1f}).",
            right: f"Right: Welch's t = {t:.1f}, df ≈ {df:.1f}, p = {p:.2f}: not significant at "
            "the 5 % level. More seeds (or a larger test set) could still reveal a difference.",
            "A and B are equally good": "Not shown either: 'no detectable difference' is not "
            "'no difference'.",
        },
        correct=right,
        hints=[
            "The standard error of the difference: SE = sqrt(s_A²/n_A + s_B²/n_B); Welch's "
            "t = Δ / SE.",
            f"With three seeds each, df ≈ {df:.0f}: p < 0.05 needs |t| above about "
            f"{t_critical(df):.1f}, not 2.",
        ],
        **common,
    )
