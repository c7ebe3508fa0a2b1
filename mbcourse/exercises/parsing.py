"""Reading learner answers (numbers, tensor shapes) and writing numbers back. Nothing here calls
``eval``.

The page's JavaScript checker (``_ext/exercises.js``) implements exactly these rules, character
for character, so that a notebook and the rendered book give the same verdict and the same words:

* whitespace is the explicit set :data:`SPACES` (every one becomes a plain space), Unicode minus
  becomes ``-`` and full-width digits become ASCII digits; digits are ASCII ``0-9`` only;
* lengths and truncation count Unicode code points; upper/lower case is ASCII only;
* quoted learner text is shown between plain double quotes (never Python's ``repr``);
* numbers are written with :func:`format_number`, which rounds like JavaScript's
  ``toPrecision``/``toFixed`` (ties away from zero on the exact binary value).

Both parsers raise :class:`AnswerError` with a message meant for the learner (what was typed,
what was expected, an example), never a Python traceback.
"""

from __future__ import annotations

import math
import re
from decimal import ROUND_HALF_UP, Context, Decimal

__all__ = [
    "AnswerError",
    "format_number",
    "format_percent",
    "normalise",
    "parse_number",
    "parse_shape",
    "quote",
]

MAX_ANSWER_CHARS = 200  # longer text is refused before any parsing
MAX_SHAPE_ENTRY_DIGITS = 9  # no tensor dimension in this course has 10 digits
SPACES = (
    "\t\n\x0b\x0c\r \u0085\u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008"
    "\u2009\u200a\u200b\u2028\u2029\u202f\u205f\u3000\ufeff"
)

_SUFFIXES = {"k": 1e3, "K": 1e3, "M": 1e6, "G": 1e9, "B": 1e9}
_NUMBER = re.compile(r"[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?")
_THOUSANDS = re.compile(r"[+-]?[0-9]{1,3}(,[0-9]{3})+(\.[0-9]*)?")
_NOT_FINITE = {"nan", "+nan", "-nan", "inf", "+inf", "-inf", "infinity", "+infinity", "-infinity"}
_TRANSLATE = {ord(c): " " for c in SPACES}
_TRANSLATE[0x2212] = "-"  # Unicode minus
_TRANSLATE.update({0xFF10 + i: str(i) for i in range(10)})  # full-width digits
_LOWER = {ord(c): chr(ord(c) + 32) for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZ"}


class AnswerError(ValueError):
    """The learner's text could not be read; ``str(error)`` is a friendly explanation."""


def normalise(text: str) -> str:
    """Spaces of every kind -> " ", Unicode minus -> "-", full-width digits -> ASCII; stripped."""
    return text.translate(_TRANSLATE).strip(" ")


def _lower(text: str) -> str:
    return text.translate(_LOWER)


def _shorten(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def quote(text: str) -> str:
    """Learner text inside plain double quotes, shortened to 40 characters."""
    return f'"{_shorten(text)}"'


def parse_number(text: object, units: str = "") -> float:
    """Read a number typed by a learner: ``2128``, ``2,128``, ``2_128``, ``-0.5``, ``3.5e6``,
    ``3.5M`` (k, M, G or B suffix), optionally followed by ``units`` (``"2128 parameters"``,
    or the singular ``"parameter"``).

    Raises :class:`AnswerError` for empty text, words, arithmetic, NaN, infinity and numbers too
    large for a float (``1e400``).
    """
    if isinstance(text, bool):
        raise AnswerError(f"Please type a number, not {text}.")
    if isinstance(text, (int, float)):
        value = float(text) if not isinstance(text, int) or abs(text) < 10**300 else math.inf
        return _finite(value, str(text))
    if not isinstance(text, str):
        raise AnswerError(f"Please type a number (got a {type(text).__name__}).")
    raw = normalise(text)
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
            if unit and len(body) >= len(unit) and _lower(body[-len(unit) :]) == _lower(unit):
                body = body[: -len(unit)].strip(" ")
                break
    if _lower(body) in _NOT_FINITE:
        raise AnswerError(
            f"{quote(body)} is not a finite number; the answer is an ordinary number."
        )
    scale = 1.0
    if len(body) > 1 and body[-1] in _SUFFIXES:
        scale = _SUFFIXES[body[-1]]
        body = body[:-1].strip(" ")
    body = body.replace("_", "").replace(" ", "")
    if _THOUSANDS.fullmatch(body):
        body = body.replace(",", "")
    if "," in body:
        raise AnswerError(
            f"I could not read {quote(raw)}: use a dot for decimals (3.5, not 3,5) and "
            "commas only between groups of three digits (2,128)."
        )
    if not _NUMBER.fullmatch(body):
        hint = ""
        if any(op in body for op in ("*", "/", "^", "(", "+", "x")):
            hint = " The box takes one number, not arithmetic: compute it first (in a code cell)."
        raise AnswerError(
            f"I could not read {quote(raw)} as a number. Type digits such as 2128, 0.25, "
            f"3.5e6 or 3.5M.{hint}"
        )
    return _finite(float(body) * scale, raw)


def _finite(value: float, raw: str) -> float:
    if math.isnan(value):
        raise AnswerError("NaN is not a number I can check; type an ordinary number.")
    if math.isinf(value) or abs(value) > 1e300:
        raise AnswerError(
            f"{quote(raw)} is too large to be an answer here (it overflows a float). "
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
    raw = normalise(text)
    if not raw:
        raise AnswerError("The answer box is empty: type a shape such as 1, 24, 56, 56.")
    if len(raw) > MAX_ANSWER_CHARS:
        raise AnswerError(f"That is {len(raw):,} characters, far too long for a shape.")
    body = raw
    if body.startswith("torch.Size"):
        body = body[len("torch.Size") :].strip(" ")
    while len(body) >= 2 and body[0] + body[-1] in ("()", "[]"):
        body = body[1:-1].strip(" ")
    if any(c in body for c in "()[]{}"):
        raise AnswerError(
            f"I could not read {quote(raw)}: write one flat list of sizes, e.g. (1, 24, 56, 56)."
        )
    if "," in body:
        parts = [p.strip(" ") for p in body.split(",")]
        if len(parts) > 1 and parts[-1] == "":  # a trailing comma, as in (8,)
            parts = parts[:-1]
    else:
        parts = [p for p in re.split(r" *[x×*] *| +", body) if p != ""] if body else []
    if not parts:
        raise AnswerError("I found no sizes: type a shape such as 1, 24, 56, 56.")
    shape = []
    for i, part in enumerate(parts, start=1):
        if part == "":
            raise AnswerError(f"Entry {i} is empty (two commas in a row?).")
        if re.fullmatch(r"[+-]?[0-9]+", part) is None:
            if re.fullmatch(r"[+-]?[0-9]*\.[0-9]*", part):
                raise AnswerError(f"Entry {i} ({quote(part)}) is not a whole number.")
            raise AnswerError(
                f"Entry {i} ({quote(part)}) is not a size: every entry must be a whole "
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


# ---- writing numbers: the rules of JavaScript's toPrecision / toFixed ------------------------
_CONTEXT = Context(prec=60, rounding=ROUND_HALF_UP)


def _group(digits: str) -> str:
    """``"1234567" -> "1,234,567"``."""
    head = len(digits) % 3 or 3
    return ",".join([digits[:head]] + [digits[i : i + 3] for i in range(head, len(digits), 3)])


def _to_precision(value: float, precision: int) -> str:
    """JavaScript's ``value.toPrecision(precision)`` for a finite ``value > 0``."""
    exact = Decimal(value)
    exponent = exact.adjusted()
    digits = exact.scaleb(precision - 1 - exponent).quantize(Decimal(1), context=_CONTEXT)
    if digits >= 10**precision:  # rounding carried into a new power of ten
        exponent += 1
        digits = exact.scaleb(precision - 1 - exponent).quantize(Decimal(1), context=_CONTEXT)
    text = str(int(digits))
    if exponent < -6 or exponent >= precision:
        mantissa = text[0] + ("." + text[1:] if precision > 1 else "")
        return f"{mantissa}e{'+' if exponent >= 0 else '-'}{abs(exponent)}"
    if exponent >= 0:
        whole, fraction = text[: exponent + 1], text[exponent + 1 :]
        return whole + ("." + fraction if fraction else "")
    return "0." + "0" * (-exponent - 1) + text


def format_number(value: float, units: str = "") -> str:
    """``2128 -> "2,128"``, ``0.123456 -> "0.1235"``, ``1.5e-05``, ``1.235e+21``: whole numbers
    below 1e15 in full, others to 4 significant digits (trailing zeros dropped), with the units
    appended when given."""
    value = float(value)
    if value.is_integer() and abs(value) < 1e15:
        text = _group(str(int(abs(value))))
    else:
        text = _to_precision(abs(value), 4)
        mantissa, e, exponent = text.partition("e")
        if "." in mantissa:
            mantissa = mantissa.rstrip("0").rstrip(".")
        if not e and abs(value) >= 1e-3:
            whole, dot, fraction = mantissa.partition(".")
            mantissa = _group(whole) + dot + fraction
        text = mantissa + e + exponent
    if value < 0:
        text = "-" + text
    return f"{text} {units}" if units else text


def format_percent(fraction: float) -> str:
    """``0.1234 -> "12.3%"``: ``(100 * fraction).toFixed(1)`` in JavaScript (``fraction`` >= 0,
    below 1e19)."""
    exact = Decimal(100 * fraction)
    return str(exact.quantize(Decimal("0.1"), context=_CONTEXT)) + "%"
