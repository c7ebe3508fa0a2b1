"""Argument checks that only the model builders need; the general ones are in
:mod:`mbcourse.validation`. Each error names the function and the argument."""

from __future__ import annotations

from ..validation import is_int


def check_stages(func: str, stages: object, available: int) -> int:
    """``stages=None`` keeps every table row; an int keeps the first ``stages`` rows."""
    if stages is None:
        return available
    if not is_int(stages) or not 1 <= stages <= available:
        raise ValueError(
            f"{func}: stages must be None or an integer from 1 to {available} "
            f"(the number of block rows in the table), got {stages!r}"
        )
    return stages


def check_pretrained_config(func: str, **changed: object) -> None:
    """``pretrained=True`` needs the published architecture; ``changed`` holds the deviations."""
    bad = {name: value for name, value in changed.items() if value is not None}
    if bad:
        listing = ", ".join(f"{name}={value!r}" for name, value in bad.items())
        raise ValueError(
            f"{func}: pretrained=True loads torchvision's ImageNet weights, which exist only "
            f"for the published architecture (num_classes=1000, default width/depth, "
            f"small_input=False, all stages); got {listing}"
        )
