"""Argument checks shared by the model builders: each error names the function and the argument."""

from __future__ import annotations


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def check_num_classes(func: str, num_classes: object) -> None:
    if not isinstance(num_classes, int) or isinstance(num_classes, bool) or num_classes <= 0:
        raise ValueError(f"{func}: num_classes must be a positive integer, got {num_classes!r}")


def check_positive(func: str, name: str, value: object) -> None:
    if not _is_number(value) or not value > 0:
        raise ValueError(f"{func}: {name} must be a positive number, got {value!r}")


def check_probability(func: str, name: str, value: object, *, closed: bool) -> None:
    ok = _is_number(value) and (0.0 <= value <= 1.0 if closed else 0.0 <= value < 1.0)
    if not ok:
        interval = "[0, 1]" if closed else "[0, 1)"
        raise ValueError(f"{func}: {name} must be a number in {interval}, got {value!r}")


def check_stages(func: str, stages: object, available: int) -> int:
    """``stages=None`` keeps every table row; an int keeps the first ``stages`` rows."""
    if stages is None:
        return available
    if not isinstance(stages, int) or isinstance(stages, bool) or not 1 <= stages <= available:
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
