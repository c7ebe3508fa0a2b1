"""The case runner behind every checker: call learner code safely, stop at the first failing
case and explain it in plain words (input, expected, got, the mistake or a hint)."""

from __future__ import annotations

import contextlib
import inspect
import numbers
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

import mbcourse

from .feedback import CORRECT, INCORRECT, CheckResult
from .sandbox import CappedStream, run_limited

__all__ = [
    "DEFAULT_TIME_LIMIT",
    "Case",
    "CaseError",
    "Session",
    "args_text",
    "as_bool",
    "as_count",
    "diagnose",
    "reject",
    "run_cases",
    "run_checker",
    "subject_name",
]

DEFAULT_TIME_LIMIT = 5.0  # seconds per call into learner code
MAX_SHOWN_OUTPUT = 1500  # characters of the learner's printed output kept
MAX_SHOWN_LINES = 15  # ... and lines shown
# Frames in these folders (torch, mbcourse, the standard library) are not the learner's code.
_INTERNAL = tuple(
    str(Path(m.__file__).resolve().parent) for m in (torch, mbcourse, contextlib) if m.__file__
)


class CaseError(Exception):
    """Raised by a case: what we got, what we expected, and (when we can tell) the mistake."""

    def __init__(
        self,
        got: str,
        expected: str | None = None,
        mistake: str | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(got)
        self.got = got
        self.expected = expected
        self.mistake = mistake
        self.hint = hint
        self.error: BaseException | None = None  # the learner's exception, if one was raised


@dataclass
class Case:
    """One check: ``label`` says the input in plain words; ``run`` returns what it verified."""

    label: str
    run: Callable[[Session], str]


def _where(error: BaseException) -> str:
    """' (in forward, line 7)' for the innermost frame of learner code, if any."""
    frames = traceback.extract_tb(error.__traceback__)
    for frame in reversed(frames):
        if frame.filename.startswith("<frozen "):
            continue
        try:
            path = str(Path(frame.filename).resolve())
        except (OSError, ValueError):  # pragma: no cover - odd file names
            path = frame.filename
        if not path.startswith(_INTERNAL):
            return f" (in {frame.name}, line {frame.lineno})"
    return ""


def describe_error(error: BaseException) -> str:
    text = str(error).strip().splitlines()[0] if str(error).strip() else ""
    if len(text) > 300:
        text = text[:297] + "..."
    return f"{type(error).__name__}{': ' + text if text else ''}{_where(error)}"


def explain_error(error: BaseException, signature: str) -> str | None:
    """A likely cause for common exceptions in learner code."""
    text = str(error)
    if isinstance(error, NotImplementedError):
        return "The placeholder is still there: replace `raise NotImplementedError` with your code."
    if isinstance(error, TypeError) and (
        "argument" in text and ("positional" in text or "keyword" in text or "missing" in text)
    ):
        return f"Check the signature: it must be {signature}."
    if isinstance(error, RecursionError):
        return "Your code calls itself without end (e.g. forward calls self(x) or itself)."
    if isinstance(error, RuntimeError) and "must match the size of tensor" in text:
        return (
            "Two tensors of different shapes were combined (added or multiplied). If that is the "
            "residual: it exists only when stride == 1 and in_channels == out_channels."
        )
    if isinstance(error, RuntimeError) and "expected input" in text and "channels" in text:
        return (
            "A layer received a tensor with the wrong number of channels: check each layer's "
            "in and out channels."
        )
    if isinstance(error, RuntimeError) and "shapes cannot be multiplied" in text:
        return (
            "A Linear layer received the wrong number of features: flatten (N, C, 1, 1) to "
            "(N, C) first, and check its in and out sizes."
        )
    if isinstance(error, (NameError, AttributeError)):
        return (
            "A name is not defined where it is used (a typo, a missing import, or a missing "
            "`self.`)."
        )
    return None


class Session:
    """State shared by the cases of one checker run: time limit and captured output."""

    def __init__(self, signature: str, time_limit: float) -> None:
        self.signature = signature
        self.time_limit = time_limit
        self.output = CappedStream(MAX_SHOWN_OUTPUT)

    def call(self, fn: Callable[..., Any], *args: Any, what: str, **kwargs: Any) -> Any:
        """Run learner code; a timeout or an exception becomes a :class:`CaseError`."""
        outcome = run_limited(
            lambda: fn(*args, **kwargs), timeout=self.time_limit, output=self.output
        )
        if outcome.timed_out:
            extra = (
                " It is still running in the background; if the notebook becomes slow, restart "
                "the kernel."
                if outcome.still_running
                else ""
            )
            raise CaseError(
                got=f"{what} did not finish within {self.time_limit:g} s (stopped).{extra}",
                mistake="An endless loop, or far more work than needed? These cases are tiny.",
            )
        if outcome.error is not None:
            failure = CaseError(
                got=f"{what} raised {describe_error(outcome.error)}",
                mistake=explain_error(outcome.error, self.signature),
            )
            failure.error = outcome.error
            raise failure
        return outcome.value


def as_count(value: Any, what: str) -> int:
    """A whole number from the learner's return value (int, integral float, 0-d tensor/array)."""
    if value is None:
        raise CaseError(
            got=f"{what} returned None",
            mistake="Did you forget `return` at the end of the function?",
        )
    if isinstance(value, bool):
        raise CaseError(got=f"{what} returned {value!r} (a bool)", mistake="Return a number.")
    if isinstance(value, (torch.Tensor,)) or (hasattr(value, "item") and hasattr(value, "shape")):
        if getattr(value, "shape", None) not in ((), torch.Size([])):
            raise CaseError(
                got=f"{what} returned a tensor/array of shape {tuple(value.shape)}",
                mistake="Return a single number (use .item() or sum(...)).",
            )
        value = value.item()
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        v = float(value)
        if v != v or v in (float("inf"), float("-inf")):
            raise CaseError(got=f"{what} returned {v}", mistake="Return a finite number.")
        if v.is_integer():
            return int(v)
        raise CaseError(
            got=f"{what} returned {v:g}",
            mistake="A count is a whole number: use // (integer division) rather than /, or int().",
        )
    raise CaseError(got=f"{what} returned {short_repr(value)}", mistake="Return a number.")


def as_bool(value: Any, what: str) -> bool:
    """True/False from the learner's return value (bool, numpy bool, 0-d bool tensor)."""
    if isinstance(value, bool):
        return value
    if type(value).__name__ in ("bool_", "bool") and hasattr(value, "item"):
        return bool(value.item())
    if isinstance(value, torch.Tensor) and value.dtype == torch.bool and value.dim() == 0:
        return bool(value.item())
    mistake = "Return True or False (a comparison such as `stride == 1` is already a bool)."
    if value is None:
        mistake = "Did you forget `return`? " + mistake
    raise CaseError(got=f"{what} returned {short_repr(value)}", mistake=mistake)


def short_repr(value: Any) -> str:
    """``'yes' (a str)``, ``42 (an int)``, shortened to one line."""
    shown = repr(value).replace("\n", " ")
    shown = shown if len(shown) < 60 else shown[:57] + "..."
    kind = type(value).__name__
    article = "an" if kind[:1].lower() in "aeiou" else "a"
    return f"{shown} ({article} {kind})"


def diagnose(got: float, expected: float, candidates: Sequence[tuple[float, str]]) -> str | None:
    """The explanation of the first known wrong formula that gives ``got``."""
    for value, why in candidates:
        if value != expected and value == got:
            return why
    return None


def args_text(*values: Any) -> str:
    return ", ".join(str(v) for v in values)


def reject(
    checker: str, obj: Any, signature: str, want_class: bool, verbose: bool
) -> CheckResult | None:
    """A failed CheckResult when ``obj`` cannot be what the checker needs, else None."""
    name = subject_name(obj)
    problem = None
    if isinstance(obj, torch.nn.Module):
        problem = (
            f"you passed a module instance ({type(obj).__name__}(...)); pass the class itself, "
            f"e.g. {checker}({type(obj).__name__})"
        )
    elif not callable(obj):
        problem = f"you passed {short_repr(obj)}, which cannot be called"
    elif not want_class and inspect.isclass(obj):
        problem = f"you passed the class {name}; pass a function"
    if problem is None:
        return None
    kind = "a class" if want_class else "a function"
    message = f"{checker}({name}): {checker} expects {kind} {signature}, but {problem}."
    result = CheckResult(False, message, (), INCORRECT)
    if verbose:
        print("✗ " + message)
    return result


def subject_name(obj: Any) -> str:
    name = getattr(obj, "__name__", None)
    return name if isinstance(name, str) else type(obj).__name__


def _format(title: str, text: str) -> str:
    pad = " " * (len(title) + 2)
    return f"{title}: " + text.replace("\n", "\n" + pad)


def _run_all(
    cases: Sequence[Case], session: Session, verified: list[str]
) -> tuple[int, Case, CaseError] | None:
    """Run the cases in order (seeded, the global RNG state restored); the first failure."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        for i, case in enumerate(cases, start=1):
            try:
                verified.append(case.run(session))
            except CaseError as error:
                return i, case, error
            except Exception as error:  # a checker bug must not look like a learner traceback
                return (
                    i,
                    case,
                    CaseError(
                        got=f"the checker failed unexpectedly: {describe_error(error)}",
                        mistake="This may be a bug in the checker; please report it.",
                    ),
                )
    return None


def run_cases(
    checker: str,
    subject: str,
    cases: Sequence[Case],
    session: Session,
    *,
    hint: str,
    verbose: bool,
) -> CheckResult:
    """Run ``cases`` in order, stop at the first failure, build (and print) the feedback."""
    head = f"{checker}({subject})"
    verified: list[str] = []
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny tensors: one thread is faster, and immune to a busy machine
    try:
        failure = _run_all(cases, session, verified)
    finally:
        torch.set_num_threads(threads)
    if failure is None:
        lines = [f"{head}: all {len(cases)} cases passed. Verified:"]
        lines += [f"  {i}. {text}" for i, text in enumerate(verified, start=1)]
        status = CORRECT
    else:
        i, case, error = failure
        lines = [f"{head}: case {i} of {len(cases)} failed."]
        lines.append(_format("Input", case.label))
        if error.expected:
            lines.append(_format("Expected", error.expected))
        lines.append(_format("Got", error.got))
        if error.mistake:
            lines.append(_format("Mistake", error.mistake))
        lines.append(_format("Hint", error.hint or hint))
        if verified:
            lines.append(f"Cases 1-{i - 1} passed." if i > 2 else "Case 1 passed.")
        status = INCORRECT
    out = session.output
    if out.total:
        shown = out.getvalue().rstrip().splitlines()
        cut = out.truncated or len(shown) > MAX_SHOWN_LINES
        shown = shown[:MAX_SHOWN_LINES]
        note = (
            f"Your code printed {out.total:,} characters; the start of it:"
            if cut
            else "Your code printed:"
        )
        lines += [note, *shown] + (["..."] if cut else [])
    message = "\n".join(lines)
    result = CheckResult(failure is None, message, tuple(verified), status)
    if verbose:
        print(("✓ " if result.passed else "✗ ") + message)
    return result


def run_checker(
    checker: str,
    subject: Any,
    signature: str,
    make_cases: Callable[[str], Sequence[Case]],
    *,
    hint: str,
    verbose: bool,
    time_limit: float,
) -> CheckResult:
    """A whole checker: refuse a ``subject`` that cannot be what ``signature`` asks for (a class
    for ``cls(...)``, a function for ``fn(...)``), build the cases with its name, run them."""
    placeholder = signature.partition("(")[0]
    if (bad := reject(checker, subject, signature, placeholder == "cls", verbose)) is not None:
        return bad
    name = subject_name(subject)
    session = Session(signature.replace(placeholder, name), time_limit)
    return run_cases(checker, name, make_cases(name), session, hint=hint, verbose=verbose)
