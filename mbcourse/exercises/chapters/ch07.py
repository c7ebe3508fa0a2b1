"""Chapter 7 (Experiments: the papers' claims in miniature)."""

from __future__ import annotations

from mbcourse import costs
from mbcourse.studies.experiments import Comparison, t_critical

from ..book import Built, define
from ..verdicts import choice, number


@define(7, "Experiments: the papers' claims in miniature", "07_experiments")
def build() -> Built:
    params = costs.squeeze_excitation(96, 96 // 4).params
    c = Comparison("A", "B", 0.970, 0.007, 0.965, 0.009, 3, 3)  # Exercise 7.2's two variants
    t, df, p = abs(c.t), c.df, c.p_value
    return {
        "ch7-ex-se-params": number(params, "parameters", hints=[
            "The squeeze has C / r = 24 channels.", "fc1: C·S weights + S biases; fc2: S·C + C.",
        ], mistakes={params - 24 - 96: "You forgot the biases of fc1 (S) and fc2 (C)."}),
        "ch7-ex-noise": choice(
            ("The experiment does not show a difference", f"Right: Welch's t = {t:.1f}, df ≈ "
             f"{df:.1f}, p = {p:.2f}: not significant at the 5 % level. More seeds (or a larger "
             "test set) could still reveal a difference."),
            {"A is better than B": f"The gap, {100 * c.difference:.1f} points, is not "
             f"significant: Welch's t = {t:.1f} with df ≈ {df:.1f} gives p = {p:.2f}, far above "
             f"0.05 (|t| would have to exceed {t_critical(df):.1f}).",
             "A and B are equally good": "Not shown either: 'no detectable difference' is not "
             "'no difference'."},
            hints=["The standard error of the difference: SE = sqrt(s_A²/n_A + s_B²/n_B); "
                   "Welch's t = Δ / SE.",
                   f"With three seeds each, df ≈ {df:.0f}: p < 0.05 needs |t| above about "
                   f"{t_critical(df):.1f}, not 2."]),
    }, {"ch7_ex2_diff": round(100 * c.difference, 1), "ch7_ex2_se": round(100 * c.stderr, 2),
        "ch7_ex2_t": round(t, 1), "ch7_ex2_df": round(df, 1), "ch7_ex2_p": round(p, 2),
        "ch7_ex2_tcrit": round(t_critical(df), 2)}
