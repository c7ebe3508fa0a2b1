"""Small parsers for learner answers: numbers and tensor shapes. Nothing here calls ``eval``.

Both parsers raise :class:`AnswerError` with a message meant for the learner (what was typed,
what was expected, an example), never a Python traceback.
"""

from __future__ import annotations

import math
import re

__all__ = ["AnswerError", "format_number", "parse_number", "parse_shape"]

MAX_ANSWER_CHARS = 200  # longer text is refused before any parsing
MAX_SHAPE_ENTRY_DIGITS = 9  # no tensor dimension in this course has 10 digits

_SUFFIXES = {"k": 1e3, "K": 1e3, "M": 1e6, "G": 1e9, "B": 1e9}
_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")
_THOUSANDS = re.compile(r"^[+-]?\d{1,3}(,\d{3})+(\.\d*)?$")
_NOT_FINITE = {"nan", "+nan", "-nan", "inf", "+inf", "-inf", "infinity", "+infinity", "-infinity"}


class AnswerError(ValueError):
    """The learner's text could not be read; ``str(error)`` is a friendly explanation."""


def _normalise(text: str) -> str:
    # Unicode minus, non-breaking and thin spaces, full-width digits typed by some keyboards.
    text = text.replace("\u2212", "-").replace("\u00a0", " ").replace("\u2009", " ")
    text = text.replace("\u202f", " ")
    return text.strip()


def _shorten(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def parse_number(text: object, units: str = "") -> float:
    """Read a number typed by a learner: ``2128``, ``2,128``, ``2_128``, ``-0.5``, ``3.5e6``,
    ``3.5M`` (k, M, G or B suffix), optionally followed by ``units`` (``"2128 parameters"``).

    Raises :class:`AnswerError` for empty text, words, arithmetic, NaN, infinity and numbers too
    large for a float (``1e400``).
    """
    if isinstance(text, bool):
        raise AnswerError(f"Please type a number, not {text!r}.")
    if isinstance(text, (int, float)):
        value = float(text) if not isinstance(text, int) or abs(text) < 10**300 else math.inf
        return _finite(value, str(text))
    if not isinstance(text, str):
        raise AnswerError(f"Please type a number (got a {type(text).__name__}).")
    raw = _normalise(text)
    if not raw:
        raise AnswerError("The answer box is empty: type a number, then press Check.")
    if len(raw) > MAX_ANSWER_CHARS:
        raise AnswerError(
            f"That is {len(raw):,} characters, far too long for a number. "
            "Type the value in digits (e.g. 2128 or 3.5e6)."
        )
    body = raw
    if units:
        for unit in sorted({units, units.rstrip("s")}, key=len, reverse=True):
            if unit and body.lower().endswith(unit.lower()):
                body = body[: -len(unit)].strip()
                break
    if body.lower() in _NOT_FINITE:
        raise AnswerError(f"{body!r} is not a finite number; the answer is an ordinary number.")
    scale = 1.0
    if body and body[-1] in _SUFFIXES and len(body) > 1:
        scale = _SUFFIXES[body[-1]]
        body = body[:-1].strip()
    body = body.replace("_", "").replace(" ", "")
    if _THOUSANDS.match(body):
        body = body.replace(",", "")
    if "," in body:
        raise AnswerError(
            f"I could not read {_shorten(raw)!r}: use a dot for decimals (3.5, not 3,5) and "
            "commas only between groups of three digits (2,128)."
        )
    if not _NUMBER.match(body):
        hint = ""
        if any(op in body for op in ("*", "/", "^", "(", "+", "x")):
            hint = " The box takes one number, not arithmetic: compute it first (in a code cell)."
        raise AnswerError(
            f"I could not read {_shorten(raw)!r} as a number. Type digits such as 2128, 0.25, "
            f"3.5e6 or 3.5M.{hint}"
        )
    return _finite(float(body) * scale, raw)


def _finite(value: float, raw: str) -> float:
    if math.isnan(value):
        raise AnswerError("NaN is not a number I can check; type an ordinary number.")
    if math.isinf(value) or abs(value) > 1e300:
        raise AnswerError(
            f"{_shorten(raw)!r} is too large to be an answer here (it overflows a float). "
            "Check the exponent."
        )
    return value


def parse_shape(text: object) -> tuple[int, ...]:
    """Read a shape: ``1, 24, 56, 56``, ``(1,24,56,56)``, ``[1, 24, 56, 56]``, ``1x24x56x56``,
    ``1 24 56 56`` or ``torch.Size([1, 24, 56, 56])``. Entries must be whole numbers >= 0.
    """
    if isinstance(text, (tuple, list)):
        text = ", ".join(str(v) for v in text)
    if not isinstance(text, str):
        raise AnswerError(
            f"Please type a shape such as 1, 24, 56, 56 (got a {type(text).__name__})."
        )
    raw = _normalise(text)
    if not raw:
        raise AnswerError("The answer box is empty: type a shape such as 1, 24, 56, 56.")
    if len(raw) > MAX_ANSWER_CHARS:
        raise AnswerError(f"That is {len(raw):,} characters, far too long for a shape.")
    body = raw
    if body.startswith("torch.Size"):
        body = body[len("torch.Size") :].strip()
    while len(body) >= 2 and body[0] + body[-1] in ("()", "[]"):
        body = body[1:-1].strip()
    if any(c in body for c in "()[]{}"):
        raise AnswerError(
            f"I could not read {_shorten(raw)!r}: write one flat list of sizes, e.g. "
            "(1, 24, 56, 56)."
        )
    if "," in body:
        parts = [p.strip() for p in body.split(",")]
        if len(parts) > 1 and parts[-1] == "":  # a trailing comma, as in (8,)
            parts = parts[:-1]
    else:
        parts = [p for p in re.split(r"\s*[x×*]\s*|\s+", body) if p != ""] if body else []
    if not parts:
        raise AnswerError("I found no sizes: type a shape such as 1, 24, 56, 56.")
    shape = []
    for i, part in enumerate(parts, start=1):
        if part == "":
            raise AnswerError(f"Entry {i} is empty (two commas in a row?).")
        if re.fullmatch(r"[+-]?\d+", part) is None:
            if re.fullmatch(r"[+-]?\d*\.\d*", part):
                raise AnswerError(f"Entry {i} ({_shorten(part)!r}) is not a whole number.")
            raise AnswerError(
                f"Entry {i} ({_shorten(part)!r}) is not a size: every entry must be a whole "
                "number such as 24."
            )
        if part.startswith("-"):
            raise AnswerError(f"Entry {i} ({part}) is negative; sizes are 0 or more.")
        digits = part.lstrip("+").lstrip("0") or "0"
        if len(digits) > MAX_SHAPE_ENTRY_DIGITS:
            raise AnswerError(
                f"Entry {i} ({_shorten(part)}) is implausibly large for a tensor size."
            )
        shape.append(int(digits))
    return tuple(shape)


def format_number(value: float, units: str = "") -> str:
    """``2128 -> "2,128"``, ``0.123456 -> "0.1235"``, with the units appended when given."""
    if float(value).is_integer() and abs(value) < 1e15:
        text = f"{int(value):,}"
    else:
        text = f"{value:,.4g}" if abs(value) >= 1e-3 else f"{value:.4g}"
    return f"{text} {units}".strip() if units else text
