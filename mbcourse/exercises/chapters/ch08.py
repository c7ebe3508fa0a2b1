"""Chapter 8 (Performance: where fusing pays)."""

from __future__ import annotations

from typing import Any

from mbcourse import costs

from ..questions import NumericQuestion
from ..registry import define

ch = define(8, "Performance: where fusing pays", "book/08_performance")


@ch.exercise("ch8-ex-weights", "number")
def weights(**common: Any) -> NumericQuestion:
    fused = costs.conv(32, 128, 3, 1).params
    split = costs.conv(32, 128, 1, 1).params + costs.conv(128, 128, 3, 1, groups=128).params
    return NumericQuestion(
        "Weights of the fused 3×3 conv (32 → 128) ÷ weights of 1×1 expansion + 3×3 depthwise?",
        answer=fused / split,
        rel_tol=0.01,
        units="times",
        hints=["Fused: C_in · C_exp · k².", "Expansion C_in · C_exp plus depthwise C_exp · k²."],
        mistakes={split / fused: "That is the inverse: split ÷ fused. The fused conv holds more."},
        **common,
    )
