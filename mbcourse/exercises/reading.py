"""Reading what a learner types: numbers (with unit words, ``≈``, ``a/b`` and ``%``) and shapes.

This tokenizer is the only judging code that exists twice: ``_ext/exercises.js`` has its twin
for the rendered book. Everything it decides with lives in :data:`PARSER` (the space
characters, the characters mapped to ASCII, the suffixes, the unit words, the patterns and
every message), which the book build writes into the page script, so both tokenizers read the
same table. Nothing here calls ``eval``.

Both readers return a dict: ``{"value": 2128.0, "unit": "params", "fraction": False}`` and
``{"shape": [1, 24, 56, 56]}``, or ``{"error": code, ...}`` whose code names a template in
``PARSER["messages"]`` and whose other keys fill it (:func:`fill`).
"""

from __future__ import annotations

import math
import numbers
import re
from typing import Any

__all__ = ["PARSER", "fill", "normalise", "quote", "read_number", "read_shape"]

_SPACES = (
    "\t\n\x0b\x0c\r \u0085\u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008"
    "\u2009\u200a\u200b\u2028\u2029\u202f\u205f\u3000\ufeff"
)
_TO_ASCII = {c: " " for c in _SPACES}
_TO_ASCII.update({c: "-" for c in "\u2212\u2012\u2013\ufe63\uff0d"})  # minus signs and dashes
_TO_ASCII.update({chr(0xFF10 + i): str(i) for i in range(10)})  # full-width digits
_TO_ASCII.update({"\uff0c": ",", "\uff0e": ".", "\uff05": "%"})

_NUM = r"((?:[0-9]{1,3}(?:[,_ ][0-9]{3})+|[0-9]+)(?:\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?"
_UNITS: dict[str, tuple[str, float, str]] = {}  # spelling -> (dimension, scale, name)
for _words, _entry in [
    ("parameters|parameter|params|param|weights|weight", ("params", 1.0, "in parameters")),
    (
        "macs|mac|madds|madd|multiply-adds|multiply-add|multiply adds|mult-adds",
        ("macs", 1.0, "in multiply-adds"),
    ),
    ("flops|flop", ("flops", 1.0, "in FLOPs")),
    ("channels|channel", ("channels", 1.0, "in channels")),
    ("%|percent", ("ratio", 0.01, "a percentage")),
    ("×|x|times", ("ratio", 1.0, "a ratio")),
]:
    _UNITS.update(dict.fromkeys(_words.split("|"), _entry))
for _word, _scale in [("bytes", 1), ("byte", 1), ("kb", 1e3), ("kilobytes", 1e3),
                      ("kilobyte", 1e3), ("mb", 1e6), ("megabytes", 1e6), ("megabyte", 1e6),
                      ("gb", 1e9), ("kib", 2**10), ("mib", 2**20), ("gib", 2**30)]:
    _UNITS[_word] = ("bytes", float(_scale), "in bytes")

PARSER: dict[str, Any] = {
    "to_ascii": _TO_ASCII,
    "max_chars": 200,
    "max_shape_digits": 9,  # no tensor dimension in this course has 10 digits
    "suffixes": {"k": 1e3, "K": 1e3, "M": 1e6, "G": 1e9, "B": 1e9},
    "units": {w: list(e) for w, e in _UNITS.items()},
    "patterns": {
        # an optional "about" mark, a number, an optional "/ number", and the rest (the tail)
        "number": rf"^(?:(?:≈|~|about|approx\.?|approximately|ca\.) *)?([+-]?){_NUM}"
        rf"(?: */ *([+-]?){_NUM})?(.*)$",
        "not_finite": r"^[+-]?(?:nan|inf|infinity)(?: |$)",
        "decimal_comma": r"^(?:(?:≈|~) *)?[+-]?[0-9]+,(?:[0-9]{1,2}|[0-9]{4,})(?![0-9])",
        "arithmetic": r"[*/^()+]|[0-9] *[x×] *[0-9]|\*\*",
        "unit_start": r"^[A-Za-z%×]",
        "size": r"^[+-]?[0-9]+$",
        "decimal": r"^[+-]?[0-9]*\.[0-9]*$",
        "shape_split": r" *[x×*] *| +",
    },
    "messages": {
        # numbers
        "empty": "The answer box is empty: type a number, then press Check.",
        "too_long": "That is {n} characters, far too long for a number. Type the value in digits "
        "(e.g. 2128 or 3.5e6).",
        "not_finite": "{quoted} is not a finite number; the answer is an ordinary number.",
        "too_large": "{quoted} is too large to be an answer here (it overflows a float). Check "
        "the exponent.",
        "decimal_comma": "I could not read {quoted}: use a dot for decimals (3.5, not 3,5) and "
        "commas only between groups of three digits (2,128).",
        "unreadable": "I could not read {quoted} as a number. Type digits such as 2128, 0.25, "
        "3.5e6 or 3.5M.",
        "arithmetic": "I could not read {quoted} as a number. Type digits such as 2128, 0.25, "
        "3.5e6 or 3.5M. The box takes one number, not arithmetic: compute it first (in a code "
        "cell).",
        "unknown_unit": "I could not read {quoted}: after the number I expected a unit word "
        "(such as parameters, MACs, FLOPs, bytes, kB or %), not {unit}.",
        "zero_division": "{quoted} divides by zero.",
        "not_text": "Please type the answer as text or a number (got {type}).",
        "wrong_unit": "That is {unit}; the question asks for {quantity}.",
        "no_fraction": "The box takes one number here, not a fraction: compute {quoted} first "
        "(in a code cell).",
        "too_high": "Too high: {pct} % above the answer.",
        "too_low": "Too low: {pct} % below the answer.",
        "far_high": "Too high: ten times the answer or more.",
        "far_low": "Too low: a tenth of the answer or less.",
        # shapes
        "shape_empty": "The answer box is empty: type a shape such as 1, 24, 56, 56.",
        "shape_too_long": "That is {n} characters, far too long for a shape.",
        "shape_text": "Please type a shape such as 1, 24, 56, 56 (got {type}).",
        "nested": "I could not read {quoted}: write one flat list of sizes, e.g. (1, 24, 56, 56).",
        "no_sizes": "I found no sizes: type a shape such as 1, 24, 56, 56.",
        "entry_empty": "Entry {i} is empty (two commas in a row?).",
        "entry_fraction": "Entry {i} ({quoted}) is not a whole number.",
        "entry_not_size": "Entry {i} ({quoted}) is not a size: every entry must be a whole "
        "number such as 24.",
        "entry_negative": "Entry {i} ({part}) is negative; sizes are 0 or more.",
        "entry_huge": "Entry {i} ({short}) is implausibly large for a tensor size.",
        "rank": "Wrong rank: your shape {shown} has {count}, but the output has {rank}.",
        "entry_high": "entry {name} = {value} is too high",
        "entry_low": "entry {name} = {value} is too low",
        "not_quite": "Not quite {shown}: {parts}.",
        "right_entries": " Right: {names}.",
        # choices
        "pick": "Pick an option first, then press Check.",
        "not_option": "{quoted} is not one of the options.",
    },
}
_P = {k: re.compile(v) for k, v in PARSER["patterns"].items()}
_MESSAGES: dict[str, str] = PARSER["messages"]


def fill(template: str, params: dict[str, Any]) -> str:
    """``template`` with each ``{name}`` replaced by ``str(params[name])``."""
    return re.sub(r"\{(\w+)\}", lambda m: str(params[m.group(1)]), template)


def normalise(text: str) -> str:
    """Spaces of every kind -> " ", minus signs -> "-", full-width digits -> ASCII; stripped."""
    return "".join(_TO_ASCII.get(c, c) for c in text).strip(" ")


def _lower(text: str) -> str:  # ASCII only, as in the page
    return re.sub("[A-Z]", lambda m: m.group(0).lower(), text)


def _short(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def quote(text: str) -> str:
    """Learner text between plain double quotes, shortened to 40 characters."""
    return f'"{_short(text)}"'


def _number(sign: str, digits: str, exponent: str | None) -> float:
    return float(sign + re.sub("[,_ ]", "", digits) + (exponent or ""))


def _unit(tail: str) -> tuple[float, str | None] | None:
    """(suffix scale, unit spelling) for the text after a number; None if it is no unit."""
    if not tail:
        return 1.0, None
    if _lower(tail) in PARSER["units"]:
        return 1.0, _lower(tail)
    scale = PARSER["suffixes"].get(tail[0])
    rest = tail[1:].strip(" ")
    if scale is not None and (not rest or _lower(rest) in PARSER["units"]):
        return scale, _lower(rest) or None
    return None


def read_number(text: object) -> dict[str, Any]:
    """Read a number: ``2128``, ``2,128``, ``2 128``, ``3.5e6``, ``3.5M``, ``≈ 8,464 params``,
    ``153/3200``, ``4.78 %``, ``401.4 kB``. See the module docstring for what it returns."""
    if isinstance(text, bool) or (not isinstance(text, (str, numbers.Real))):
        return {"error": "not_text", "type": type(text).__name__}
    if isinstance(text, numbers.Real):
        try:
            value = float(text)
        except OverflowError:
            value = math.inf
        if math.isnan(value):
            return {"error": "not_finite", "quoted": quote(str(text))}
        if not abs(value) <= 1e300:
            return {"error": "too_large", "quoted": quote(str(text))}
        return {"value": value, "unit": None, "fraction": False}
    raw = normalise(text)
    quoted = quote(raw)
    if not raw:
        return {"error": "empty"}
    if len(raw) > PARSER["max_chars"]:
        return {"error": "too_long", "n": f"{len(raw):,}"}
    if _P["not_finite"].search(_lower(raw)):
        return {"error": "not_finite", "quoted": quoted}
    match = _P["number"].match(raw)
    unit = _unit(match.group(7).strip(" ")) if match else None
    if match is None or unit is None:
        if _P["decimal_comma"].search(raw):
            return {"error": "decimal_comma", "quoted": quoted}
        tail = match.group(7).strip(" ") if match else ""
        if match and _P["unit_start"].search(tail) and not _P["arithmetic"].search(raw):
            return {"error": "unknown_unit", "quoted": quoted, "unit": quote(tail)}
        return {"error": "arithmetic" if _P["arithmetic"].search(raw) else "unreadable",
                "quoted": quoted}
    value = _number(match.group(1), match.group(2), match.group(3))
    fraction = match.group(5) is not None
    if fraction:
        denominator = _number(match.group(4), match.group(5), match.group(6))
        if math.isinf(value) or math.isinf(denominator):
            return {"error": "too_large", "quoted": quoted}
        if denominator == 0:
            return {"error": "zero_division", "quoted": quoted}
        value = value / denominator
    value = value * unit[0]
    if not abs(value) <= 1e300:
        return {"error": "too_large", "quoted": quoted}
    return {"value": value, "unit": unit[1], "fraction": fraction}


def read_shape(text: object) -> dict[str, Any]:
    """Read a shape: ``1, 24, 56, 56``, ``(1,24,56,56)``, ``[1, 24, 56, 56]``, ``1x24x56x56``,
    ``1 24 56 56`` or ``torch.Size([1, 24, 56, 56])``; entries are whole numbers >= 0."""
    if isinstance(text, (tuple, list)):
        text = ", ".join(str(v) for v in text)
    if not isinstance(text, str):
        return {"error": "shape_text", "type": type(text).__name__}
    raw = normalise(text)
    if not raw:
        return {"error": "shape_empty"}
    if len(raw) > PARSER["max_chars"]:
        return {"error": "shape_too_long", "n": f"{len(raw):,}"}
    body = raw[len("torch.Size") :].strip(" ") if raw.startswith("torch.Size") else raw
    while len(body) >= 2 and body[0] + body[-1] in ("()", "[]"):
        body = body[1:-1].strip(" ")
    if any(c in body for c in "()[]{}"):
        return {"error": "nested", "quoted": quote(raw)}
    if "," in body:
        parts = [p.strip(" ") for p in body.split(",")]
        if len(parts) > 1 and parts[-1] == "":  # a trailing comma, as in (8,)
            parts.pop()
    else:
        parts = [p for p in _P["shape_split"].split(body) if p != ""] if body else []
    if not parts:
        return {"error": "no_sizes"}
    shape = []
    for i, part in enumerate(parts, start=1):
        if part == "":
            return {"error": "entry_empty", "i": i}
        if not _P["size"].search(part):
            code = "entry_fraction" if _P["decimal"].search(part) else "entry_not_size"
            return {"error": code, "i": i, "quoted": quote(part)}
        if part.startswith("-"):
            return {"error": "entry_negative", "i": i, "part": part}
        digits = part.lstrip("+").lstrip("0") or "0"
        if len(digits) > PARSER["max_shape_digits"]:
            return {"error": "entry_huge", "i": i, "short": _short(part)}
        shape.append(int(digits))
    return {"shape": shape}
