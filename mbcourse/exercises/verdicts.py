"""Verdicts as data: each question's spec holds every verdict, and :func:`judge` only reads it.

A spec (JSON-ready) is written once, here, from what a chapter computes with ``mbcourse``:

* a **number** question holds bands ``[low, high, status, message]``, tried in order: the
  answer with its tolerance, each known mistake, "close, but exact" (exact counts), the
  generic mistakes (a power of ten, twice, half, the wrong sign); a value in no band is "too
  high" or "too low" by a percentage, the one thing computed when judging. It also says which
  unit words fit the question (``accept``: dimension -> the question's unit in that dimension);
* a **shape** question holds its answer, the dimension names and the known wrong shapes;
* a **choice** holds every option's full verdict;
* a **code** exercise names what to define and the checker call that checks it.

The page's script (``_ext/exercises.js``) reads the same specs with the same few lines, after
its twin of :mod:`.reading`. A spec carries no prompt: the question text is the chapter's
``:::{exercise}`` directive.
"""

from __future__ import annotations

import html
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .reading import PARSER, fill, normalise, quote, read_number, read_shape

__all__ = ["CheckResult", "Feedback", "choice", "code", "judge", "number", "shape"]

CORRECT, INCORRECT, INVALID = "correct", "incorrect", "invalid"
HUGE = 1e308  # a band's open end (JSON has no infinity)
_M: dict[str, str] = PARSER["messages"]
# unit -> (dimension -> its scale, the quantity's name, fractions allowed, the expected form)
_UNIT_KINDS: dict[str, tuple[dict[str, float], str, bool, str]] = {
    "weights": ({"params": 1.0}, "weights", False, "count"),
    "parameters": ({"params": 1.0}, "parameters", False, "count"),
    "multiply-adds": ({"macs": 1.0}, "multiply-adds", False, "count"),
    "channels": ({"channels": 1.0}, "channels", False, "count"),
    "kB": ({"bytes": 1e3}, "kilobytes", False, "size"),
    "MB": ({"bytes": 1e6}, "megabytes", False, "size"),
    "": ({"ratio": 1.0}, "a fraction", True, "fraction"),
    "times": ({"ratio": 1.0}, "a ratio", True, "ratio"),
}


@dataclass(frozen=True)
class Feedback:
    """A verdict: ``status`` "correct", "incorrect" or "invalid" (not readable, or nothing to
    check: not counted as an attempt), the ``message`` the learner sees and, from a checker,
    the ``cases`` that passed."""

    status: str
    message: str
    cases: tuple[str, ...] = field(default_factory=tuple)

    @property
    def correct(self) -> bool:
        return self.status == CORRECT

    passed = correct

    @property
    def counted(self) -> bool:
        """Whether this counts as an attempt (readable answers do, typos do not)."""
        return self.status != INVALID

    def __str__(self) -> str:
        return self.message


class CheckResult(Feedback):
    """What a checker returns (``result.passed``, ``result.message``, ``result.cases``); its
    repr is short, as the checker has printed the message already."""

    def __repr__(self) -> str:
        verdict = "passed" if self.passed else "failed"
        return f"CheckResult({verdict}, {len(self.cases)} case(s) verified)"


def text_html(text: str) -> str:
    """Escape ``text`` and render ```code``` and ``**bold**``; ``$math$`` is left for MathJax."""
    out = html.escape(text, quote=False)
    out = re.sub(r"`([^`]+)`", r"<code>\1</code>", out)
    return re.sub(r"\*\*([^*]+)\*\*", r"<b>\1</b>", out)


def show(value: float, unit: str = "") -> str:
    """``8464 -> "8,464"``, ``0.0478125 -> "0.04781"``, with the unit after it."""
    text = f"{value:,.0f}" if float(value).is_integer() and abs(value) < 1e15 else f"{value:,.4g}"
    return f"{text} {unit}".strip()


def _base(kind: str, hints: Sequence[str], form: str) -> dict[str, Any]:
    if isinstance(hints, str) or not all(isinstance(h, str) and h for h in hints) or not hints:
        raise TypeError(f"{kind} question: hints must be a non-empty list of strings, got "
                        f"{hints!r}")
    return {"kind": kind, "hints": [text_html(h) for h in hints], "form": form}


def _finite(owner: str, name: str, value: object) -> float:
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError, OverflowError):
        number = math.nan
    if isinstance(value, (bool, str)) or not math.isfinite(number) or number <= 0:
        raise ValueError(f"{owner}: {name} must be a finite number > 0, got {value!r}")
    return number


def number(
    answer: float,
    unit: str,
    *,
    hints: Sequence[str],
    mistakes: Mapping[float, str] | None = None,
    rel_tol: float = 0.0,
    explanation: str = "",
) -> dict[str, Any]:
    """A number question. ``unit`` is one of ``weights``, ``parameters``, ``multiply-adds``,
    ``channels`` (exact counts), ``kB``, ``MB``, ``times`` or ``""`` (a fraction); ``mistakes``
    maps known wrong values to what they mean. Every verdict is precomputed as a band."""
    if unit not in _UNIT_KINDS:
        raise ValueError(f"number: unit must be one of {sorted(_UNIT_KINDS)}, got {unit!r}")
    accept, quantity, fractions, form = _UNIT_KINDS[unit]
    a = _finite("number", "answer", answer)
    if not (isinstance(rel_tol, (int, float)) and 0 <= rel_tol < 0.5):
        raise ValueError(f"number: rel_tol must be in [0, 0.5), got {rel_tol!r}")
    exact = form == "count"
    if exact and (rel_tol or not a.is_integer()):
        raise ValueError(f"number: a count ({unit}) is a whole number, exact; got {answer!r}")
    within = f"within ±{100 * rel_tol:g} %"
    scale = show(next(iter(accept.values())))
    line, placeholder = {
        "count": (f"An exact count: every digit (12,800 or 12800 {unit}).", "an exact count"),
        "size": (f"A size in {unit} (1 {unit} = {scale} bytes), {within}.", f"in {unit}"),
        "fraction": (f"A fraction, e.g. 0.05, 1/20 or 5 %, {within}.", "e.g. 0.05, 1/20 or 5 %"),
        "ratio": (f"A ratio, e.g. 2.5 or 2.5×, {within}.", "e.g. 2.5"),
    }[form]
    tol = max(rel_tol * a, 1e-9 * a)
    correct = f"Correct: {show(a, unit)}." + (f"\n{explanation}" if explanation else "")
    bands: list[list[Any]] = [[a - tol, a + tol, CORRECT, correct]]
    for wrong, why in (mistakes or {}).items():
        w = float(wrong)
        if abs(w - a) <= 2 * tol:
            raise ValueError(f"number: the mistake {wrong!r} is within the answer's tolerance")
        wt = max(rel_tol / 2 * abs(w), 1e-9 * abs(w))
        bands.append([w - wt, w + wt, INCORRECT, f"Not quite ({show(w, unit)}). {why}"])
    for side, sign in (("high", 1), ("low", -1)):  # just outside the tolerance
        if rel_tol:
            lo, hi = sorted((a + sign * tol, a + sign * 2 * tol))
            bands.append([lo, hi, INCORRECT, f"Close, but too {side}: just outside the ±"
                          f"{100 * rel_tol:g} % tolerance. Try again."])
    if exact:
        for share in (0.001, 0.01):
            bands.append([a * (1 - share), a * (1 + share), INCORRECT,
                          f"Close, but the question wants the exact count: you are within "
                          f"{100 * share:g} % of it. If you rounded, type every digit; if not, "
                          "check the arithmetic."])
    generic = [(10.0**k, 0.01, f"Your answer is 10^{k} times the answer: check the units and "
                "powers of ten (k, M, G).") for k in range(-6, 7) if k]
    generic += [(2.0, 0.02, "That is about twice the answer: is something counted twice?"),
                (0.5, 0.02, "That is about half the answer: is a part missing?"),
                (-1.0, 0.01, "The sign is wrong.")]
    for factor, spread, why in generic:
        lo, hi = sorted((a * factor * (1 - spread), a * factor * (1 + spread)))
        side = "Too high" if factor > 1 else "Too low"
        bands.append([lo, hi, INCORRECT, f"{side}: {why[0].lower()}{why[1:]} Try again."])
    bands.append([-HUGE, 0.0, INCORRECT, "Too low: the answer is a positive number. Try again."])
    return {
        **_base("number", hints, line),
        "answer": a,
        "unit": unit,
        "quantity": quantity,
        "accept": accept,
        "fractions": fractions,
        "placeholder": placeholder,
        "bands": bands,
        "note": (f" (Answers {within} count.)" if rel_tol else "") + " Try again.",
    }


def shape(
    answer: Sequence[int],
    *,
    hints: Sequence[str],
    mistakes: Mapping[tuple[int, ...], str] | None = None,
    dims: Sequence[str] | None = None,
) -> dict[str, Any]:
    """A tensor shape to predict; ``dims`` names the entries (``N, C, H, W`` for 4-D)."""
    target = [int(v) for v in answer]
    if not target or any(v < 0 for v in target) or any(isinstance(v, bool) for v in answer):
        raise ValueError(f"shape: answer must be a non-empty sequence of sizes >= 0, got "
                         f"{answer!r}")
    dims = list(dims or (("N", "C", "H", "W") if len(target) == 4 else ()))
    if dims and len(dims) != len(target):
        raise ValueError(f"shape: dims must name each of the {len(target)} entries, got {dims!r}")
    names = [f"{i + 1}" + (f" ({dims[i]})" if dims else "") for i in range(len(target))]
    shown = "(" + ", ".join(map(str, target)) + ")"
    omissions = {}
    for i in range(len(target)):
        key = ",".join(map(str, target[:i] + target[i + 1 :]))
        omissions.setdefault(key, f" Did you leave out entry {names[i]}?")
    known = {",".join(map(str, m)): f"Not quite ({', '.join(map(str, m))}). {why}"
             for m, why in (mistakes or {}).items()}
    return {
        **_base("shape", hints, "A shape such as 1, 24, 56, 56 (with or without brackets; "
                "1x24x56x56 works too)."),
        "answer": target,
        "names": names,
        "rank": f"{len(target)}" + (f" ({', '.join(dims)})" if dims else ""),
        "correct": f"Correct: {shown}.",
        "mistakes": known,
        "omissions": omissions,
        "placeholder": "e.g. 1, 24, 56, 56",
    }


def choice(right: tuple[str, str], wrong: Mapping[str, str], *, hints: Sequence[str]) -> dict:
    """One right option ``(text, why)`` and the wrong ones ``{text: why}``; every option's
    verdict is written out here. The page and the notebook shuffle them per reader."""
    options = {right[0]: right[1], **wrong}
    if len(options) < 2 or len(options) != 1 + len(wrong):
        raise ValueError("choice: options must be at least two, all different")
    for text, why in options.items():
        if not (isinstance(text, str) and text and normalise(text) == text and why.strip()):
            raise ValueError(f"choice: option {text!r} must be normalised text with a reason")
    others = "\n".join(f"  • {o}: {w}" for o, w in wrong.items())
    verdicts = [[right[0], CORRECT, f"Correct: {right[0]}. {right[1]}\nWhy the others are "
                 f"wrong:\n{others}"]]
    verdicts += [[o, INCORRECT, f"Not this one: {o}.\n{w}\nTry again."] for o, w in wrong.items()]
    return {**_base("choice", hints, "Pick one option, then press Check."), "options": verdicts}


def code(checker: Any, name: str, *, hints: Sequence[str]) -> dict[str, Any]:
    """Write ``name`` in a code cell; ``checker`` (from :mod:`.checkers`) checks it."""
    if not (isinstance(name, str) and name.isidentifier()):
        raise ValueError(f"code: name must be a Python identifier such as 'MySE', got {name!r}")
    call = f"checkers.{checker.__name__}({name})"
    form = (f"Define {name} in a code cell and run it, then press Check {name}, or run "
            f"{call} in a cell.")
    return {**_base("code", hints, form), "name": name, "checker": checker.__name__,
            "call": call}


# ---- the judge: reads a spec, computes nothing but a percentage -----------------------------
def _number_verdict(spec: dict[str, Any], text: object) -> tuple[str, str]:
    read = read_number(text)
    if "error" in read:
        return INVALID, fill(_M[read["error"]], read)
    value = read["value"]
    if read["unit"] is not None:
        dim, scale, name = PARSER["units"][read["unit"]]
        if dim not in spec["accept"]:
            return INVALID, fill(_M["wrong_unit"], {"unit": name, "quantity": spec["quantity"]})
        value = value * scale / spec["accept"][dim]
    if read["fraction"] and not spec["fractions"]:
        return INVALID, fill(_M["no_fraction"], {"quoted": quote(normalise(str(text)))})
    for low, high, status, message in spec["bands"]:
        if low <= value <= high:
            return status, message
    d = (value - spec["answer"]) / spec["answer"]
    tenths = math.floor(1000 * abs(d) + 0.5)
    pct = f"{tenths // 10}.{tenths % 10}"
    key = "far_high" if d >= 9 else "too_high" if d > 0 else "far_low" if d <= -0.9 else "too_low"
    return INCORRECT, fill(_M[key], {"pct": pct}) + spec["note"]


def _shape_verdict(spec: dict[str, Any], text: object) -> tuple[str, str]:
    read = read_shape(text)
    if "error" in read:
        return INVALID, fill(_M[read["error"]], read)
    got, target = read["shape"], spec["answer"]
    key = ",".join(map(str, got))
    shown = "(" + ", ".join(map(str, got)) + ")"
    if got == target:
        return CORRECT, spec["correct"]
    if key in spec["mistakes"]:
        return INCORRECT, spec["mistakes"][key]
    if len(got) != len(target):
        count = "1 entry" if len(got) == 1 else f"{len(got)} entries"
        message = fill(_M["rank"], {"shown": shown, "count": count, "rank": spec["rank"]})
        return INCORRECT, message + spec["omissions"].get(key, "")
    parts = [fill(_M["entry_high" if g > t else "entry_low"], {"name": n, "value": g})
             for g, t, n in zip(got, target, spec["names"], strict=True) if g != t]
    right = [n for g, t, n in zip(got, target, spec["names"], strict=True) if g == t]
    message = fill(_M["not_quite"], {"shown": shown, "parts": "; ".join(parts)})
    if right:
        names = ("entry " if len(right) == 1 else "entries ") + ", ".join(right)
        message += fill(_M["right_entries"], {"names": names})
    return INCORRECT, message


def _choice_verdict(spec: dict[str, Any], text: object) -> tuple[str, str]:
    chosen = normalise(text) if isinstance(text, str) else ""
    if not chosen:
        return INVALID, _M["pick"]
    for option, status, message in spec["options"]:
        if option == chosen:
            return status, message
    return INVALID, fill(_M["not_option"], {"quoted": quote(chosen)})


def judge(spec: Mapping[str, Any], answer: object) -> Feedback:
    """The verdict on ``answer`` (text, a number, a shape list; an option's text) for ``spec``."""
    verdict = {"number": _number_verdict, "shape": _shape_verdict, "choice": _choice_verdict}
    if spec.get("kind") not in verdict:
        raise ValueError(f"judge: cannot judge a {spec.get('kind')!r} exercise from its answer")
    return Feedback(*verdict[spec["kind"]](dict(spec), answer))
