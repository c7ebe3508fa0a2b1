"""Chapter 8 (Performance: where fusing pays)."""

from __future__ import annotations

from mbcourse import costs

from ..book import Built, define
from ..verdicts import number


@define(8, "Performance: where fusing pays", "08_performance")
def build() -> Built:
    fused = costs.conv(32, 128, 3, 1).params
    split = costs.conv(32, 128, 1, 1).params + costs.conv(128, 128, 3, 1, groups=128).params
    return {
        "ch8-ex-weights": number(fused / split, "times", rel_tol=0.01, hints=[
            "Fused: C_in · C_exp · k².", "Expansion C_in · C_exp plus depthwise C_exp · k²."],
            mistakes={split / fused: "That is the inverse: split ÷ fused. The fused conv holds "
                      "more."}),
    }, {}
