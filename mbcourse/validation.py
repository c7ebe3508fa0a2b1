"""Argument checks shared by the whole package: each error names the function, the argument and
what was expected, e.g. ``"fit: epochs must be a positive integer, got 0"``.

Every check takes ``(func, name, value, ...)`` and returns ``value`` when it passes, so it can
sit on the right of an assignment. ``bool`` is a subclass of ``int`` in Python; none of these
checks accepts ``True`` or ``False`` as a number. A leaf module: it imports only torch.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

__all__ = [
    "check_bool",
    "check_int",
    "check_module",
    "check_positive",
    "check_probability",
    "check_shape",
    "is_int",
    "is_number",
    "is_shape",
]


def is_int(value: object) -> bool:
    """True for an ``int`` that is not a ``bool``."""
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value: object) -> bool:
    """True for an ``int`` or ``float`` that is not a ``bool``."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def is_shape(value: object) -> bool:
    """True for a tensor shape: a tuple, list or ``torch.Size`` of >= 2 positive ints."""
    return (
        isinstance(value, (tuple, list, torch.Size))
        and len(value) >= 2
        and all(is_int(s) and s > 0 for s in value)
    )


def check_shape(
    func: str, name: str, value: Any, *, ndim: int | None = None
) -> tuple[int, ...]:
    """``value`` as a tuple of ints if it is a tensor shape (:func:`is_shape`; exactly ``ndim``
    entries when given), else a ``ValueError``: the one check of every ``input_shape`` argument.
    """
    if ndim is None:
        ok, expected = is_shape(value), "a sequence of positive integers such as (1, 3, 224, 224)"
    else:
        ok = is_shape(value) and len(value) == ndim
        expected = f"{ndim} positive integers" + (" (N, C, H, W)" if ndim == 4 else "")
    if not ok:
        raise ValueError(f"{func}: {name} must be {expected}, got {value!r}")
    return tuple(int(s) for s in value)


def check_module(func: str, name: str, value: Any) -> nn.Module:
    """``value`` if it is an ``nn.Module``, else a ``TypeError``."""
    if not isinstance(value, nn.Module):
        raise TypeError(f"{func}: {name} must be a torch.nn.Module, got {type(value).__name__}")
    return value


def check_int(func: str, name: str, value: Any, minimum: int = 1, *, why: str = "") -> int:
    """``value`` if it is an integer >= ``minimum``, else a ``ValueError``.

    The message says "a positive integer" for ``minimum=1``, "a non-negative integer" for 0 and
    "an integer >= minimum" otherwise; ``why`` is appended in parentheses.
    """
    if not is_int(value) or value < minimum:
        expected = {1: "a positive integer", 0: "a non-negative integer"}.get(
            minimum, f"an integer >= {minimum}"
        )
        reason = f" ({why})" if why else ""
        raise ValueError(f"{func}: {name} must be {expected}{reason}, got {value!r}")
    return value


def check_positive(func: str, name: str, value: Any, *, unit: str = "") -> float:
    """``value`` if it is a number > 0, else a ``ValueError`` ("a positive number of seconds"
    with ``unit="seconds"``)."""
    if not is_number(value) or not value > 0:
        of = f" of {unit}" if unit else ""
        raise ValueError(f"{func}: {name} must be a positive number{of}, got {value!r}")
    return value


def check_probability(func: str, name: str, value: Any, *, closed: bool) -> float:
    """``value`` if it is a number in ``[0, 1]`` (``closed``) or ``[0, 1)``, else a
    ``ValueError``."""
    ok = is_number(value) and (0.0 <= value <= 1.0 if closed else 0.0 <= value < 1.0)
    if not ok:
        interval = "[0, 1]" if closed else "[0, 1)"
        raise ValueError(f"{func}: {name} must be a number in {interval}, got {value!r}")
    return value


def check_bool(func: str, name: str, value: Any) -> bool:
    """``value`` if it is ``True`` or ``False``, else a ``TypeError``."""
    if not isinstance(value, bool):
        raise TypeError(f"{func}: {name} must be True or False, got {value!r}")
    return value
