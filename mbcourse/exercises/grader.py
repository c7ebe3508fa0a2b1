"""The one runner behind every checker: cases run in order, the first failure explained.

A checker (:mod:`.checkers`) is a table of cases; each case calls the learner's code through
:meth:`Session.call` and raises :class:`CaseError` (what came back, what was expected, the
mistake when it is known) or returns what it verified. :func:`run_checker` turns that into one
:class:`~.verdicts.CheckResult`: never a traceback, whatever the learner's code does.

The time limit is a plain call and a wall-clock check: a call that returns later than
``time_limit`` fails the case. A call that never returns is stopped the way any cell is, with
the kernel's interrupt (■): the ``KeyboardInterrupt`` becomes feedback too. Printed output is
captured and capped. Cases run on the CPU, one thread, seeded, the global random state restored.
"""

from __future__ import annotations

import contextlib
import inspect
import io
import numbers
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

import mbcourse
from mbcourse import introspect

from .verdicts import CORRECT, INCORRECT, CheckResult

__all__ = ["DEFAULT_TIME_LIMIT", "Case", "CaseError", "Session", "run_checker", "trace"]

DEFAULT_TIME_LIMIT = 5.0  # seconds per call into learner code
MAX_OUTPUT, MAX_LINES = 1500, 15  # of the learner's printed output, kept and shown
_INTERNAL = tuple(str(Path(m.__file__).resolve().parent) for m in (torch, mbcourse, contextlib))
WEIGHTED = (nn.Conv2d, nn.BatchNorm2d, nn.Linear)
FULLY_CONNECTED = (nn.Conv2d, nn.Linear)
ACTIVATIONS = (nn.ReLU, nn.ReLU6, nn.SiLU, nn.Sigmoid, nn.Hardsigmoid, nn.Hardswish, nn.GELU,
               nn.Tanh, nn.Softmax, nn.LeakyReLU, nn.ELU, nn.Mish)


class CaseError(Exception):
    """A failed case: what we ``got``, what was ``expected``, and the ``mistake`` when known."""

    def __init__(self, got: str, expected: str | None = None, mistake: str | None = None,
                 hint: str | None = None) -> None:
        super().__init__(got)
        self.got, self.expected, self.mistake, self.hint = got, expected, mistake, hint
        self.error: BaseException | None = None  # the learner's exception, if one was raised
        self.stack: list[nn.Module] = []  # modules that had not returned when it was raised


@dataclass
class Case:
    """One check: ``label`` says the input in plain words; ``run`` returns what it verified."""

    label: str
    run: Callable[[Session], str]


class _Capped(io.StringIO):
    """Keeps the first ``MAX_OUTPUT`` characters written and counts the rest."""

    total = 0

    def write(self, s: str) -> int:
        text = str(s)
        self.total += len(text)
        room = MAX_OUTPUT - len(self.getvalue())
        if room > 0:
            super().write(text[:room])
        return len(text)


def describe_error(error: BaseException) -> str:
    """``ValueError: oops (in forward, line 7)``: the innermost frame of learner code."""
    text = (str(error).strip().splitlines() or [""])[0]
    text = text if len(text) <= 300 else text[:297] + "..."
    where = ""
    for frame in reversed(traceback.extract_tb(error.__traceback__)):
        if not frame.filename.startswith("<frozen ") and not str(
            Path(frame.filename).resolve()
        ).startswith(_INTERNAL):
            where = f" (in {frame.name}, line {frame.lineno})"
            break
    return f"{type(error).__name__}{': ' + text if text else ''}{where}"


_ERRORS: list[tuple[type[BaseException], Sequence[str], str]] = [
    (NotImplementedError, (), "The placeholder is still there: replace `raise "
     "NotImplementedError` with your code."),
    (RecursionError, (), "Your code calls itself without end (e.g. forward calls self(x) or "
     "itself)."),
    (RuntimeError, ("must match the size of tensor",), "Two tensors of different shapes were "
     "combined (added or multiplied). If that is the residual: it exists only when stride == 1 "
     "and in_channels == out_channels."),
    (RuntimeError, ("expected input", "channels"), "A layer received a tensor with the wrong "
     "number of channels: check each layer's in and out channels."),
    (RuntimeError, ("shapes cannot be multiplied",), "A Linear layer received the wrong number "
     "of features: flatten (N, C, 1, 1) to (N, C) first, and check its in and out sizes."),
    (NameError, (), "A name is not defined where it is used (a typo, a missing import, or a "
     "missing `self.`)."),
    (AttributeError, (), "A name is not defined where it is used (a typo, a missing import, or "
     "a missing `self.`)."),
]


def explain_error(error: BaseException, signature: str) -> str | None:
    """A likely cause for a common exception in learner code."""
    text = str(error)
    if isinstance(error, TypeError) and "argument" in text and any(
        w in text for w in ("positional", "keyword", "missing")
    ):
        return f"Check the signature: it must be {signature}."
    for kind, words, why in _ERRORS:
        if isinstance(error, kind) and all(w in text for w in words):
            return why
    return None


class Session:
    """What the cases of one checker run share: the signature, the time limit, the output."""

    def __init__(self, signature: str, time_limit: float) -> None:
        self.signature, self.time_limit, self.output = signature, time_limit, _Capped()

    def call(self, fn: Callable[..., Any], *args: Any, what: str) -> Any:
        """``fn(*args)``, its prints captured; an exception, an interrupt or a call slower than
        the time limit becomes a :class:`CaseError`."""
        start = time.perf_counter()
        try:
            with contextlib.redirect_stdout(self.output), contextlib.redirect_stderr(self.output):
                value = fn(*args)
        except KeyboardInterrupt:
            raise CaseError(got=f"{what} was interrupted after {time.perf_counter() - start:.1f} s",
                            mistake="An endless loop, or far more work than needed? These cases "
                            "are tiny.") from None
        except BaseException as error:  # learner code may raise anything, even SystemExit
            failure = CaseError(got=f"{what} raised {describe_error(error)}",
                                mistake=explain_error(error, self.signature))
            failure.error = error
            raise failure from None
        seconds = time.perf_counter() - start
        if seconds > self.time_limit:
            raise CaseError(got=f"{what} did not finish within {self.time_limit:g} s (it took "
                            f"{seconds:.1f} s)", mistake="An endless loop, or far more work than "
                            "needed? These cases are tiny.")
        return value


def short_repr(value: Any) -> str:
    """``'yes' (a str)``, ``42 (an int)``, shortened to one line."""
    shown = repr(value).replace("\n", " ")
    kind = type(value).__name__
    return f"{shown if len(shown) < 60 else shown[:57] + '...'} (" + (
        "an " if kind[:1].lower() in "aeiou" else "a ") + f"{kind})"


def as_count(value: Any, what: str) -> int:
    """A whole number from the learner's return value (int, integral float, 0-d tensor)."""
    if value is None:
        raise CaseError(f"{what} returned None", mistake="Did you forget `return` at the end of "
                        "the function?")
    if isinstance(value, bool):
        raise CaseError(f"{what} returned {value!r} (a bool)", mistake="Return a number.")
    if hasattr(value, "item") and hasattr(value, "shape"):
        if tuple(value.shape) != ():
            raise CaseError(f"{what} returned a tensor/array of shape {tuple(value.shape)}",
                            mistake="Return a single number (use .item() or sum(...)).")
        value = value.item()
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        v = float(value)
        if v != v or abs(v) == float("inf"):
            raise CaseError(f"{what} returned {v}", mistake="Return a finite number.")
        if v.is_integer():
            return int(v)
        raise CaseError(f"{what} returned {v:g}", mistake="A count is a whole number: use // "
                        "(integer division) rather than /, or int().")
    raise CaseError(f"{what} returned {short_repr(value)}", mistake="Return a number.")


def as_bool(value: Any, what: str) -> bool:
    """True/False from the learner's return value (bool, numpy bool, 0-d bool tensor)."""
    if isinstance(value, bool):
        return value
    if type(value).__name__ == "bool_" or (isinstance(value, Tensor) and value.dtype ==
                                           torch.bool and value.dim() == 0):
        return bool(value.item())
    mistake = "Return True or False (a comparison such as `stride == 1` is already a bool)."
    raise CaseError(f"{what} returned {short_repr(value)}",
                    mistake=("Did you forget `return`? " if value is None else "") + mistake)


def as_tensor(value: Any, what: str) -> Tensor:
    """The learner's forward output, checked to be one finite float tensor."""
    if isinstance(value, Tensor):
        if not value.is_floating_point():
            raise CaseError(f"{what} returned a {value.dtype} tensor", mistake="Return a float "
                            "tensor.")
        if not torch.isfinite(value).all():
            raise CaseError(f"{what} returned a tensor containing NaN or infinity",
                            mistake="Something divides by zero or overflows.")
        return value
    kind = type(value).__name__
    mistake = "forward must return one tensor."
    if value is None:
        mistake = "forward returned None: did you forget `return`?"
    elif isinstance(value, (tuple, list)):
        mistake = f"forward returned a {kind} of {len(value)} items; return one tensor."
    raise CaseError(f"{what} returned a {kind}", mistake=mistake)


# ---- modules: what ran, in which order, and how outputs compare -------------------------------
class Call:
    """One module entered during a forward pass (wraps :class:`mbcourse.introspect.Call`)."""

    def __init__(self, traced: introspect.Call) -> None:
        self.name, self.module, self.in_shape = traced.name, traced.module, traced.in_shape

    @property
    def weighted(self) -> bool:
        return isinstance(self.module, WEIGHTED)

    @property
    def on_pooled(self) -> bool:
        """Applied to a 1x1 (or flattened) map, as the SE layers are."""
        s = self.in_shape
        return s is not None and (len(s) == 2 or (len(s) == 4 and s[2] == s[3] == 1))


def trace(session: Session, model: nn.Module, x: Tensor, *, what: str) -> tuple[Any, list[Call]]:
    """``model(x)`` without grad, through :meth:`Session.call`, and every module it entered, in
    order (:func:`mbcourse.introspect.trace_calls`). When the forward pass raises, the
    :class:`CaseError` carries ``stack``: the modules that never returned, outermost first."""
    with introspect.trace_calls(model) as traced:
        try:
            with torch.no_grad():
                out = session.call(model, x, what=what)
        except CaseError as failure:
            failure.stack = [c.module for c in traced if not c.returned]
            raise
    return out, [Call(c) for c in traced]


def forward(session: Session, model: nn.Module, x: Tensor, *, what: str) -> Tensor:
    """``model(x)`` without grad, checked to be one finite float tensor."""
    return as_tensor(trace(session, model, x, what=what)[0], what)


def signature(module: nn.Module) -> tuple[Any, ...]:
    """What must match between a learner layer and a reference layer (Linear == 1x1 conv)."""
    if isinstance(module, nn.Linear):
        return ("conv", module.in_features, module.out_features, (1, 1), (1, 1), 1,
                module.bias is not None)
    if isinstance(module, nn.Conv2d):
        return ("conv", module.in_channels, module.out_channels, tuple(module.kernel_size),
                tuple(module.stride), module.groups, module.bias is not None)
    if isinstance(module, nn.BatchNorm2d):
        return ("bn", module.num_features, module.affine)
    return (type(module).__name__,)


def describe(module: nn.Module) -> str:
    """``"Conv2d 16→96, 1×1, no bias"``, ``"BatchNorm2d(96)"``, ``"Linear 16→4, bias"``."""
    bias = ", bias" if getattr(module, "bias", None) is not None else ", no bias"
    if isinstance(module, nn.Linear):
        return f"Linear {module.in_features}→{module.out_features}{bias}"
    if isinstance(module, nn.Conv2d):
        k, text = module.kernel_size, f"Conv2d {module.in_channels}→{module.out_channels}"
        text += f", {k[0]}×{k[1]}" + (f", stride {module.stride[0]}" if module.stride != (1, 1)
                                      else "")
        if module.groups > 1:
            depthwise = module.groups == module.in_channels == module.out_channels
            text += (" depthwise" if depthwise else "") + f" (groups={module.groups})"
        return text + bias
    if isinstance(module, nn.BatchNorm2d):
        return f"BatchNorm2d({module.num_features})"
    return type(module).__name__


def layer_list(calls: list[Call]) -> str:
    return "\n".join(f"{i + 1}. {describe(c.module)}" for i, c in enumerate(calls))


def structure_diff(mine: list[Call], ref: list[Call]) -> str | None:
    """None when the weighted layers match one to one; else where they first differ."""
    for i in range(max(len(mine), len(ref))):
        a, b = (mine[i] if i < len(mine) else None), (ref[i] if i < len(ref) else None)
        if a is None or b is None or signature(a.module) != signature(b.module):
            yours = describe(a.module) if a else "nothing (your forward ends here)"
            theirs = describe(b.module) if b else "nothing (the reference ends here)"
            return (f"layer {i + 1} with weights, in the order forward runs them: the reference "
                    f"has {theirs}, yours has {yours}")
    return None


def copy_weights(pairs: list[tuple[nn.Module, nn.Module]]) -> None:
    """Copy each reference layer's parameters (and BatchNorm statistics) into the learner's."""
    with torch.no_grad():
        for mine, ref in pairs:
            mine.weight.copy_(ref.weight.reshape(mine.weight.shape))
            if getattr(mine, "bias", None) is not None and getattr(ref, "bias", None) is not None:
                mine.bias.copy_(ref.bias)
            if isinstance(mine, nn.BatchNorm2d) and mine.running_mean is not None:
                mine.running_mean.copy_(ref.running_mean)
                mine.running_var.copy_(ref.running_var)
                mine.eps = ref.eps


def randomize(model: nn.Module, seed: int) -> nn.Module:
    """Give a reference non-trivial BatchNorm statistics and biases, so mistakes show."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                n = m.num_features
                m.weight.copy_(torch.rand(n, generator=g) * 2 + 1)
                m.bias.copy_(torch.randn(n, generator=g))
                m.running_mean.copy_(torch.randn(n, generator=g) * 0.2)
                m.running_var.copy_(torch.rand(n, generator=g) + 0.5)
            elif isinstance(m, (nn.Conv2d, nn.Linear)) and m.bias is not None:
                m.bias.copy_(torch.randn(m.bias.shape, generator=g) * 0.5)
    return model.eval()


def close(a: Tensor, b: Tensor) -> bool:
    scale = float(b.abs().max()) if b.numel() else 1.0
    return a.shape == b.shape and bool(torch.allclose(a, b, rtol=1e-4, atol=1e-5 * max(1, scale)))


def compare(got: Tensor, expected: Tensor) -> str | None:
    """None when equal up to float error; else a plain-words account of the difference."""
    if got.shape != expected.shape:
        return f"an output of shape {tuple(got.shape)} instead of {tuple(expected.shape)}"
    if close(got, expected):
        return None
    diff = (got - expected).abs()
    flat = int(diff.argmax())
    index = tuple(int(i) for i in torch.unravel_index(torch.tensor(flat), diff.shape))
    share = float((diff > 1e-4 * max(1.0, float(expected.abs().max()))).float().mean())
    return (f"outputs that differ from the reference: largest difference {float(diff.max()):.4g} "
            f"at index {index} (expected {float(expected.flatten()[flat]):.4g}, got "
            f"{float(got.flatten()[flat]):.4g}); {share:.0%} of the values differ")


def first_match(got: Tensor, variants: Sequence[tuple[str, Callable[[], Tensor]]]) -> str | None:
    """The explanation of the first known wrong variant that reproduces ``got``."""
    for why, make in variants:
        with contextlib.suppress(Exception):  # a variant that does not apply to this case
            if close(got, make()):
                return why
    return None


# ---- the runner --------------------------------------------------------------------------------
def _indent(title: str, text: str) -> str:
    return f"{title}: " + text.replace("\n", "\n" + " " * (len(title) + 2))


def run_checker(
    checker: str,
    subject: Any,
    signature: str,
    cases: Callable[[str], Sequence[Case]],
    *,
    hint: str,
    verbose: bool,
    time_limit: float,
) -> CheckResult:
    """Refuse a ``subject`` that cannot be what ``signature`` asks for (``cls(...)``: a class,
    ``fn(...)``: a function), run its cases in order, stop at the first failure; print the
    feedback (``verbose``) and return it."""
    placeholder = signature.partition("(")[0]
    name = getattr(subject, "__name__", None)
    name = name if isinstance(name, str) else type(subject).__name__
    problem = None
    if isinstance(subject, nn.Module):
        problem = (f"you passed a module instance ({type(subject).__name__}(...)); pass the "
                   f"class itself, e.g. checkers.{checker}({type(subject).__name__})")
    elif not callable(subject):
        problem = f"you passed {short_repr(subject)}, which cannot be called"
    elif placeholder == "fn" and inspect.isclass(subject):
        problem = f"you passed the class {name}; pass a function"
    if problem is not None:
        kind = "a class" if placeholder == "cls" else "a function"
        result = CheckResult(INCORRECT, f"{checker}({name}): {checker} expects {kind} "
                             f"{signature}, but {problem}.")
    else:
        session = Session(signature.replace(placeholder, name, 1), time_limit)
        result = _run(f"{checker}({name})", cases(name), session, hint)
    if verbose:
        print(("✓ " if result.passed else "✗ ") + result.message)
    return result


def _run(head: str, cases: Sequence[Case], session: Session, hint: str) -> CheckResult:
    verified: list[str] = []
    failure = None
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny tensors: one thread is faster, and immune to a busy machine
    try:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            for i, case in enumerate(cases, start=1):
                try:
                    verified.append(case.run(session))
                except CaseError as error:
                    failure = (i, case, error)
                    break
                except Exception as error:  # a checker bug must not look like a learner traceback
                    failure = (i, case, CaseError(f"the checker failed unexpectedly: "
                               f"{describe_error(error)}", mistake="This may be a bug in the "
                               "checker; please report it."))
                    break
    finally:
        torch.set_num_threads(threads)
    if failure is None:
        lines = [f"{head}: all {len(cases)} cases passed. Verified:"]
        lines += [f"  {i}. {text}" for i, text in enumerate(verified, start=1)]
    else:
        i, case, error = failure
        lines = [f"{head}: case {i} of {len(cases)} failed.", _indent("Input", case.label)]
        lines += [_indent("Expected", error.expected)] if error.expected else []
        lines.append(_indent("Got", error.got))
        lines += [_indent("Mistake", error.mistake)] if error.mistake else []
        lines.append(_indent("Hint", error.hint or hint))
        lines += ([f"Cases 1-{i - 1} passed." if i > 2 else "Case 1 passed."] if verified else [])
    out = session.output
    if out.total:
        shown = out.getvalue().rstrip().splitlines()
        cut = out.total > len(out.getvalue()) or len(shown) > MAX_LINES
        lines.append(f"Your code printed {out.total:,} characters; the start of it:" if cut
                     else "Your code printed:")
        lines += shown[:MAX_LINES] + (["..."] if cut else [])
    status = CORRECT if failure is None else INCORRECT
    return CheckResult(status, "\n".join(lines), tuple(verified))
