"""The four kinds of exercise: numeric, shape, multiple choice and code.

Each class works without widgets (``q.check(text)`` returns a :class:`Feedback`,
``q.hint()`` returns the next hint) and builds its ``ipywidgets`` view lazily on first access to
``.widget`` or when displayed. Displayed, an exercise is two things at once: the widget (what
Jupyter, Colab and VS Code show) and a ``text/html`` element carrying the exercise as data (its
:meth:`spec`), which the rendered book's script ``_ext/exercises.js`` turns into the same
exercise, checked in the page with the same rules and the same words (see :mod:`.page`).

Only core widgets are used (``HTML``, ``HTMLMath``, ``Text``,
``RadioButtons``, ``Button``, ``HBox``, ``VBox``), which JupyterLab, classic Notebook, VS Code and
Colab render without extensions. The text box keeps what the learner typed; every callback turns
errors into a message in the widget, never a traceback.
"""

from __future__ import annotations

import contextlib
import html
import inspect
import math
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ..validation import is_int
from .feedback import CORRECT, INCORRECT, INVALID, CheckResult, Feedback
from .parsing import (
    AnswerError,
    format_number,
    format_percent,
    normalise,
    parse_number,
    parse_shape,
    quote,
)
from .progress import Progress, widget_bundle
from .sandbox import CappedStream

__all__ = ["CodeExercise", "MultipleChoice", "NumericQuestion", "ShapeQuestion"]

_COLOURS = {CORRECT: "#1a7f37", INCORRECT: "#cf222e", INVALID: "#9a6700"}
_SYMBOLS = {CORRECT: "✓", INCORRECT: "✗", INVALID: "⚠"}
_MISSING = object()


def prompt_html(text: str) -> str:
    """Escape ``text`` and render ```code```, ``**bold**`` and line breaks; ``$math$`` is left for
    ``HTMLMath`` (MathJax)."""
    out = html.escape(text, quote=False)
    out = re.sub(r"`([^`]+)`", r"<code>\1</code>", out)
    out = re.sub(r"\*\*([^*]+)\*\*", r"<b>\1</b>", out)
    return out.replace("\n\n", "<br><br>").replace("\n", " ")


def feedback_html(result: Feedback | CheckResult, *, monospace: bool = False) -> str:
    """The coloured verdict and the escaped message, wrapping long lines."""
    colour = _COLOURS.get(result.status, _COLOURS[INCORRECT])
    symbol = _SYMBOLS.get(result.status, "")
    font = (
        "font-family: var(--jp-code-font-family, monospace); font-size: 0.9em;" if monospace else ""
    )
    return (
        f'<div style="white-space: pre-wrap; border-left: 4px solid {colour}; '
        f'padding: 2px 8px; {font}"><b style="color: {colour}">{symbol}</b> '
        f"{html.escape(result.message, quote=False)}</div>"
    )


def _check_hints(owner: str, hints: object) -> tuple[str, ...]:
    if isinstance(hints, str):
        return (hints,)
    if not isinstance(hints, Sequence) or not all(isinstance(h, str) for h in hints):
        raise TypeError(f"{owner}: hints must be a list of strings, got {hints!r}")
    return tuple(hints)


class _Exercise:
    """Prompt, hints revealed one at a time, attempts, progress and the widget scaffold.

    ``key`` names the exercise in its :class:`Progress` (and in the page's stored progress):
    the chapter exercises use their number, ``"3.1"``; the default is the class and prompt.
    """

    _check_label = "Check"
    kind = ""  # "number", "shape", "choice" or "code": the page script's name for the kind

    def __init__(
        self,
        prompt: str,
        *,
        hints: Sequence[str] = (),
        progress: Progress | None = None,
        key: str | None = None,
    ) -> None:
        owner = type(self).__name__
        if not isinstance(prompt, str) or not prompt.strip():
            raise ValueError(f"{owner}: prompt must be a non-empty string, got {prompt!r}")
        if progress is not None and not isinstance(progress, Progress):
            raise TypeError(f"{owner}: progress must be a Progress, got {type(progress).__name__}")
        self.prompt = prompt
        self.hints = _check_hints(owner, hints)
        self.progress = progress
        self.key = key if key is not None else f"{owner}: {prompt}"
        number = re.fullmatch(r"([0-9]+)\.[0-9]+", self.key)
        self.chapter = str(int(number.group(1))) if number else None
        self.hints_shown = 0
        self.attempts = 0
        self.solved = False
        self.last_feedback: Feedback | CheckResult | None = None
        self._widget: Any = None
        self._parts: dict[str, Any] = {}
        if progress is not None:
            progress.register(self.key)

    # ---- plain-Python API ----------------------------------------------------------------
    def hint(self) -> str:
        """Reveal the next hint and return it (all of them, numbered, once exhausted)."""
        if not self.hints:
            return "There are no hints for this exercise."
        if self.hints_shown < len(self.hints):
            self.hints_shown += 1
            self._show_hints()
            return (
                f"Hint {self.hints_shown} of {len(self.hints)}: {self.hints[self.hints_shown - 1]}"
            )
        return "No more hints: " + " | ".join(self.hints)

    def _record(self, result: Feedback | CheckResult) -> None:
        self.last_feedback = result
        if result.counted:
            self.attempts += 1
            self.solved = self.solved or result.correct
            if self.progress is not None:
                self.progress.record(self.key, result.correct)

    # ---- widget --------------------------------------------------------------------------
    @property
    def widget(self) -> Any:
        """The ``ipywidgets.VBox`` for this exercise (built on first use)."""
        if self._widget is None:
            self._widget = self._build()
        return self._widget

    @property
    def controls(self) -> dict[str, Any]:
        """The named widgets (``"prompt"``, ``"check"``, ``"hint"``, ``"feedback"``, ``"hints"``,
        and ``"text"`` or ``"choice"``), e.g. to drive the widget from a test."""
        self.widget  # noqa: B018 - builds the widgets on first use
        return dict(self._parts)

    def _input_widget(self) -> Any:  # pragma: no cover - overridden
        raise NotImplementedError

    def _read_input(self) -> object:  # pragma: no cover - overridden
        raise NotImplementedError

    def _build(self) -> Any:
        import ipywidgets as widgets

        parts = self._parts
        parts["prompt"] = widgets.HTMLMath(value=prompt_html(self.prompt))
        parts["check"] = widgets.Button(
            description=self._check_label,
            button_style="primary",
            icon="check",
            tooltip="Check your answer",
            layout=widgets.Layout(width="auto"),  # the label is never cut off
        )
        parts["hint"] = widgets.Button(
            description="Hint",
            disabled=not self.hints,
            tooltip="Reveal the next hint" if self.hints else "No hints for this exercise",
            layout=widgets.Layout(width="auto"),
        )
        parts["feedback"] = widgets.HTML(value="")
        parts["hints"] = widgets.HTML(value="")
        parts["check"].on_click(self._safe(self._on_check))
        parts["hint"].on_click(self._safe(self._on_hint))
        rows = [parts["prompt"]]
        input_widget = self._input_widget()
        if input_widget is not None:
            rows.append(input_widget)
        rows += [
            widgets.HBox([parts["check"], parts["hint"]]),
            parts["feedback"],
            parts["hints"],
        ]
        self._show_hints()
        if self.last_feedback is not None:
            self._show_feedback(self.last_feedback)
        return widgets.VBox(rows, layout=widgets.Layout(margin="0.5em 0"))

    def _safe(self, handler: Callable[[], None]) -> Callable[[Any], None]:
        def callback(_button: Any = None) -> None:
            try:
                handler()
            except Exception as error:  # never a traceback in the learner's face
                self._parts["feedback"].value = feedback_html(
                    Feedback(
                        False,
                        "Something went wrong inside the exercise widget (not in your answer): "
                        f"{type(error).__name__}: {error}. Please report it.",
                        INVALID,
                    )
                )

        return callback

    def _on_check(self) -> None:
        self._show_feedback(self.check(self._read_input()))

    def _on_hint(self) -> None:
        self.hint()
        self._show_hints()

    def _show_feedback(self, result: Feedback | CheckResult) -> None:
        if "feedback" in self._parts:
            self._parts["feedback"].value = feedback_html(
                result, monospace=isinstance(result, CheckResult)
            )

    def _show_hints(self) -> None:
        if "hints" not in self._parts:
            return
        shown = self.hints[: self.hints_shown]
        self._parts["hints"].value = "".join(
            f"<div><i>Hint {i} of {len(self.hints)}:</i> {prompt_html(h)}</div>"
            for i, h in enumerate(shown, start=1)
        )
        if self.hints_shown >= len(self.hints):
            self._parts["hint"].disabled = True
            if self.hints:
                self._parts["hint"].description = "No more hints"

    def check(self, answer: Any) -> Feedback | CheckResult:  # pragma: no cover - overridden
        raise NotImplementedError

    # ---- the page's copy --------------------------------------------------------------------
    def spec(self) -> dict[str, Any]:
        """Everything the page script needs to show and check this exercise (JSON-ready):
        ``id``, ``chapter``, ``kind``, ``prompt_html``, ``hints`` (plain) and ``hints_html``,
        plus the kind's own fields (answer, tolerance, known mistakes, options, ...)."""
        return {
            "id": self.key,
            "chapter": self.chapter,
            "kind": self.kind,
            "prompt_html": prompt_html(self.prompt),
            "hints": list(self.hints),
            "hints_html": [prompt_html(h) for h in self.hints],
            "check_label": self._check_label,
        }

    # ---- display -------------------------------------------------------------------------
    def _plain_text(self) -> str:
        return f"{self.prompt}\n(Interactive exercise: run this notebook to check your answer.)"

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any]:
        from .page import exercise_html

        bundle = widget_bundle(self.widget, **kwargs)
        bundle["text/plain"] = self._plain_text()
        bundle["text/html"] = exercise_html(self.spec())
        return bundle

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.prompt!r})"


# --------------------------------------------------------------------------------------------
class _TextAnswer(_Exercise):
    _placeholder = "your answer"
    _units = ""

    def _input_widget(self) -> Any:
        import ipywidgets as widgets

        self._parts["text"] = widgets.Text(
            value="",
            placeholder=self._placeholder,
            continuous_update=False,
            layout=widgets.Layout(width="18em"),
        )
        items = [self._parts["text"]]
        if self._units:
            items.append(widgets.HTML(value=f"&nbsp;{html.escape(self._units)}"))
        return widgets.HBox(items)

    def _read_input(self) -> object:
        return self._parts["text"].value


def _explained(message: str, explanation: str | None) -> str:
    return f"{message}\n{explanation}" if explanation else message


class NumericQuestion(_TextAnswer):
    """A number to type, accepted within ``max(rel_tol * |answer|, abs_tol)``.

    Wrong answers are told whether they are too high or too low and by how much (and when they
    are off by a power of ten or a factor of two). ``mistakes`` maps known wrong values to an
    explanation (``{4160: "You counted the bias of..."}``); ``explanation`` is shown once solved.
    """

    _placeholder = "a number, e.g. 2128 or 3.5e6"
    kind = "number"

    def __init__(
        self,
        prompt: str,
        answer: float,
        *,
        rel_tol: float = 0.0,
        abs_tol: float = 0.0,
        units: str = "",
        hints: Sequence[str] = (),
        progress: Progress | None = None,
        mistakes: Mapping[float, str] | None = None,
        explanation: str | None = None,
        key: str | None = None,
    ) -> None:
        owner = "NumericQuestion"
        try:  # ints, floats, numpy and torch scalars: anything that is a finite float
            converted = float(answer)  # type: ignore[arg-type]
        except (TypeError, ValueError, OverflowError):
            converted = math.nan
        if isinstance(answer, (bool, str)) or not math.isfinite(converted):
            raise ValueError(f"{owner}: answer must be a finite number, got {answer!r}")
        if not isinstance(answer, (int, float)):
            answer = int(converted) if converted.is_integer() else converted
        for name, tol in (("rel_tol", rel_tol), ("abs_tol", abs_tol)):
            if not isinstance(tol, (int, float)) or not tol >= 0 or not math.isfinite(tol):
                raise ValueError(f"{owner}: {name} must be a finite number >= 0, got {tol!r}")
        if not isinstance(units, str):
            raise TypeError(f"{owner}: units must be a string, got {type(units).__name__}")
        super().__init__(prompt, hints=hints, progress=progress, key=key)
        self.answer = answer
        self.rel_tol = float(rel_tol)
        self.abs_tol = float(abs_tol)
        self.units = units
        self._units = units
        self.mistakes = {float(k): str(v) for k, v in (mistakes or {}).items()}
        self.explanation = explanation

    @property
    def tolerance(self) -> float:
        """The accepted distance ``max(rel_tol * |answer|, abs_tol)`` (0: exact)."""
        return max(self.rel_tol * abs(self.answer), self.abs_tol)

    def _near(self, value: float, target: float) -> bool:
        # float rounding (e.g. 0.1 + 0.2) never makes an exact answer wrong
        return abs(value - target) <= max(self.tolerance, 1e-9 * abs(target), 1e-12)

    def check(self, answer: Any) -> Feedback:
        """Judge the learner's text (or number) and record the attempt."""
        try:
            value = parse_number(answer, self.units)
        except AnswerError as error:
            result = Feedback(False, str(error), INVALID)
        else:
            result = self._judge(value)
        self._record(result)
        return result

    def _judge(self, value: float) -> Feedback:
        target = float(self.answer)
        shown = format_number(value, self.units)
        if self._near(value, target):
            return Feedback(True, _explained(f"Correct: {shown}.", self.explanation), CORRECT)
        for wrong, why in self.mistakes.items():
            if self._near(value, wrong):
                return Feedback(False, f"Not quite ({shown}). {why}", INCORRECT)
        diff = value - target
        side = "high" if diff > 0 else "low"
        message = f"Too {side} by {format_number(abs(diff), self.units)}"
        if target != 0 and abs(diff) / abs(target) < 100:
            where = "above" if diff > 0 else "below"
            message += f" ({format_percent(abs(diff) / abs(target))} {where})"
        message += "."
        message += _factor_note(value, target)
        if self.tolerance > 0:
            message += f" (Answers within ±{format_number(self.tolerance, self.units)} count.)"
        return Feedback(False, message + " Try again.", INCORRECT)

    def spec(self) -> dict[str, Any]:
        """The page's copy: answer, tolerance, units, known mistakes and explanation."""
        return {
            **super().spec(),
            "answer": float(self.answer),
            "tolerance": self.tolerance,
            "units": self.units,
            "mistakes": [[value, why] for value, why in self.mistakes.items()],
            "explanation": self.explanation,
            "placeholder": self._placeholder,
        }


def _isclose(a: float, b: float, rel_tol: float) -> bool:
    """``math.isclose`` without ``abs_tol``, written out as the page script computes it."""
    return abs(a - b) <= rel_tol * max(abs(a), abs(b))


def _factor_note(value: float, target: float) -> str:
    if target == 0 or value == 0:
        return ""
    ratio = value / target
    if ratio < 0:
        return " The sign is wrong." if _isclose(-ratio, 1, 0.01) else ""
    power = math.log10(ratio)
    if abs(power - round(power)) < 0.005 and round(power) != 0:
        return (
            f" Your answer is 10^{round(power)} times the answer: check the units and powers of "
            "ten (k, M, G)."
        )
    if _isclose(ratio, 2, 0.02):
        return " That is about twice the answer: is something counted twice?"
    if _isclose(ratio, 0.5, 0.02):
        return " That is about half the answer: is a part missing?"
    return ""


class ShapeQuestion(_TextAnswer):
    """Predict a tensor shape. Accepts ``1, 24, 56, 56``, ``(1,24,56,56)``, ``[1, 24, 56, 56]``,
    ``1x24x56x56`` or ``torch.Size([...])``. Feedback names a wrong rank and each wrong entry by
    position (and its dimension name: ``dims`` defaults to ``N, C, H, W`` for 4-D answers)."""

    _placeholder = "e.g. 1, 24, 56, 56"
    kind = "shape"

    def __init__(
        self,
        prompt: str,
        answer: Sequence[int],
        *,
        hints: Sequence[str] = (),
        progress: Progress | None = None,
        dims: Sequence[str] | None = None,
        mistakes: Mapping[tuple[int, ...], str] | None = None,
        explanation: str | None = None,
        key: str | None = None,
    ) -> None:
        owner = "ShapeQuestion"
        try:
            shape = tuple(int(v) for v in answer)
        except (TypeError, ValueError):
            shape = ()
        if not shape or any(v < 0 for v in shape) or any(isinstance(v, bool) for v in answer):
            raise ValueError(
                f"{owner}: answer must be a non-empty sequence of sizes >= 0, got {answer!r}"
            )
        if dims is None:
            dims = ("N", "C", "H", "W") if len(shape) == 4 else ()
        dims = tuple(dims)
        if dims and len(dims) != len(shape):
            raise ValueError(
                f"{owner}: dims must name each of the {len(shape)} dimensions, got {dims!r}"
            )
        super().__init__(prompt, hints=hints, progress=progress, key=key)
        self.answer = shape
        self.dims = dims
        self.mistakes = {tuple(int(v) for v in k): str(v) for k, v in (mistakes or {}).items()}
        self.explanation = explanation

    @classmethod
    def for_module(
        cls,
        prompt: str,
        module: Any,
        input_shape: Sequence[int],
        **kwargs: Any,
    ) -> ShapeQuestion:
        """A question whose answer is ``module(torch.zeros(input_shape)).shape`` (eval mode)."""
        import torch

        was_training = module.training
        module.eval()
        try:
            with torch.no_grad():
                out = module(torch.zeros(tuple(input_shape)))
        finally:
            module.train(was_training)
        return cls(prompt, tuple(out.shape), **kwargs)

    def _name(self, i: int) -> str:
        return f"{i + 1} ({self.dims[i]})" if self.dims else f"{i + 1}"

    def check(self, answer: Any) -> Feedback:
        """Judge the learner's shape text and record the attempt."""
        try:
            shape = parse_shape(answer)
        except AnswerError as error:
            result = Feedback(False, str(error), INVALID)
        else:
            result = self._judge(shape)
        self._record(result)
        return result

    def _judge(self, shape: tuple[int, ...]) -> Feedback:
        target = self.answer
        shown = "(" + ", ".join(str(v) for v in shape) + ")"
        if shape == target:
            return Feedback(True, _explained(f"Correct: {shown}.", self.explanation), CORRECT)
        if shape in self.mistakes:
            return Feedback(False, f"Not quite {shown}. {self.mistakes[shape]}", INCORRECT)
        if len(shape) != len(target):
            names = f" ({', '.join(self.dims)})" if self.dims else ""
            message = (
                f"Wrong rank: your shape {shown} has {len(shape)} "
                f"{'entry' if len(shape) == 1 else 'entries'}, but the output has "
                f"{len(target)}{names}."
            )
            if len(shape) == len(target) - 1:
                for i in range(len(target)):
                    if target[:i] + target[i + 1 :] == shape:
                        label = f" ({self.dims[i]})" if self.dims else ""
                        message += f" Did you leave out entry {i + 1}{label}?"
                        break
            return Feedback(False, message, INCORRECT)
        wrong = [i for i in range(len(target)) if shape[i] != target[i]]
        right = [i for i in range(len(target)) if shape[i] == target[i]]
        parts = [
            f"entry {self._name(i)} = {shape[i]} is too {'high' if shape[i] > target[i] else 'low'}"
            for i in wrong
        ]
        message = f"Not quite {shown}: " + "; ".join(parts) + "."
        if right:
            message += " Right: entr" + ("y " if len(right) == 1 else "ies ")
            message += ", ".join(self._name(i) for i in right) + "."
        return Feedback(False, message, INCORRECT)

    def spec(self) -> dict[str, Any]:
        """The page's copy: the shape, the dimension names, known mistakes and explanation."""
        return {
            **super().spec(),
            "answer": list(self.answer),
            "dims": list(self.dims),
            "mistakes": [[list(shape), why] for shape, why in self.mistakes.items()],
            "explanation": self.explanation,
            "placeholder": self._placeholder,
        }


class MultipleChoice(_Exercise):
    """Choose one option. ``options`` maps each option's text to its explanation; the chosen
    option's explanation is shown after every answer, all of them once solved."""

    kind = "choice"

    def __init__(
        self,
        prompt: str,
        options: Mapping[str, str],
        correct: str,
        *,
        hints: Sequence[str] = (),
        progress: Progress | None = None,
        key: str | None = None,
    ) -> None:
        owner = "MultipleChoice"
        if not isinstance(options, Mapping) or len(options) < 2:
            raise ValueError(f"{owner}: options must map at least two options to explanations")
        for text, why in options.items():
            if not isinstance(text, str) or not text.strip():
                raise ValueError(f"{owner}: every option must be a non-empty string, got {text!r}")
            if not isinstance(why, str) or not why.strip():
                raise ValueError(
                    f"{owner}: option {text!r} needs an explanation (a non-empty string)"
                )
        for text in options:
            if normalise(text) != text:
                raise ValueError(
                    f"{owner}: option {text!r} must not start or end with spaces, nor hold a "
                    "Unicode minus or full-width digits (answers are compared after normalising)"
                )
        if correct not in options:
            raise ValueError(
                f"{owner}: correct={correct!r} is not one of the options {list(options)}"
            )
        super().__init__(prompt, hints=hints, progress=progress, key=key)
        self.options = dict(options)
        self.correct = correct

    def _resolve(self, choice: Any) -> str:
        labels = list(self.options)
        if choice is None or (isinstance(choice, str) and not normalise(choice)):
            raise AnswerError("Pick an option first, then press Check.")
        if isinstance(choice, str):
            text = normalise(choice)
            if text in self.options:
                return text
            if re.fullmatch(r"[A-Za-z]", text) and ord(text.upper()) - 65 < len(labels):
                return labels[ord(text.upper()) - 65]
            raise AnswerError(f"{quote(text)} is not one of the options.")
        if is_int(choice) and 0 <= choice < len(labels):
            return labels[choice]
        raise AnswerError(f"{choice} is not one of the options.")

    def check(self, choice: Any) -> Feedback:
        """Judge a choice: the option's text, its letter (``"A"``) or its 0-based index."""
        try:
            label = self._resolve(choice)
        except AnswerError as error:
            result = Feedback(False, str(error), INVALID)
        else:
            if label == self.correct:
                lines = [f"Correct: {label}. {self.options[label]}"]
                others = [o for o in self.options if o != label]
                lines += ["Why the others are wrong:"] + [
                    f"  • {o}: {self.options[o]}" for o in others
                ]
                result = Feedback(True, "\n".join(lines), CORRECT)
            else:
                result = Feedback(
                    False, f"Not this one: {label}.\n{self.options[label]}\nTry again.", INCORRECT
                )
        self._record(result)
        return result

    def spec(self) -> dict[str, Any]:
        """The page's copy: the options with their explanations, and the right one."""
        return {
            **super().spec(),
            "options": [[label, why] for label, why in self.options.items()],
            "correct": self.correct,
        }

    def _input_widget(self) -> Any:
        import ipywidgets as widgets

        self._parts["choice"] = widgets.RadioButtons(
            options=list(self.options),
            value=None,
            layout=widgets.Layout(width="auto"),
        )
        return self._parts["choice"]

    def _read_input(self) -> object:
        return self._parts["choice"].value


class CodeExercise(_Exercise):
    """Write a function or class in a code cell, then press Check.

    The Check button looks ``name`` up in the notebook's namespace (``namespace`` if given, else
    ``IPython.get_ipython().user_ns``) and runs ``checker(obj)`` (one of
    :mod:`mbcourse.exercises.checkers`, or any function returning a :class:`CheckResult`).
    ``check(obj)`` does the same in plain Python. In the rendered book (no Python) the page
    shows the exercise and its hints and a button that opens the chapter in Colab.
    """

    kind = "code"

    def __init__(
        self,
        prompt: str,
        checker: Callable[..., Any],
        name: str,
        *,
        hints: Sequence[str] = (),
        progress: Progress | None = None,
        namespace: Mapping[str, Any] | None = None,
        key: str | None = None,
    ) -> None:
        owner = "CodeExercise"
        if not callable(checker):
            raise TypeError(
                f"{owner}: checker must be callable (e.g. checkers.check_se), got {checker!r}"
            )
        if not isinstance(name, str) or not name.isidentifier():
            raise ValueError(
                f"{owner}: name must be a Python identifier such as 'MySE', got {name!r}"
            )
        super().__init__(prompt, hints=hints, progress=progress, key=key)
        self.checker = checker
        self.name = name
        self.namespace = namespace
        self._check_label = f"Check {name}"

    def _lookup(self) -> Any:
        namespace = self.namespace
        if namespace is None:
            from IPython import get_ipython  # IPython comes with ipywidgets

            shell = get_ipython()
            if shell is None:
                raise LookupError(
                    f"Not running in a notebook, so I cannot look up {self.name!r}: "
                    f"call .check({self.name}) with your object instead."
                )
            namespace = shell.user_ns
        if self.name not in namespace:
            raise LookupError(
                f"I cannot find {self.name!r} in this notebook. Write it in a code cell, run "
                "that cell (Shift+Enter), then press Check again."
            )
        return namespace[self.name]

    def check(self, obj: Any = _MISSING) -> CheckResult:
        """Run the checker on ``obj`` (default: ``name`` looked up in the notebook)."""
        if obj is _MISSING:
            try:
                obj = self._lookup()
            except LookupError as error:
                result = CheckResult(False, str(error), status=INVALID)
                self._record(result)
                return result
        result = _run_checker(self.checker, obj)
        self._record(result)
        return result

    def _input_widget(self) -> Any:
        return None

    def _read_input(self) -> object:
        return _MISSING

    def spec(self) -> dict[str, Any]:
        """The page's copy: the name to define and the checker that a notebook runs."""
        checker = getattr(self.checker, "__name__", "the checker")
        return {**super().spec(), "name": self.name, "checker": checker}

    def _plain_text(self) -> str:
        checker = getattr(self.checker, "__name__", "the checker")
        return (
            f"{self.prompt}\n(Interactive exercise: define {self.name} in a code cell, then press "
            f"Check, or call {checker}({self.name}).)"
        )


def _run_checker(checker: Callable[..., Any], obj: Any) -> CheckResult:
    """Call a checker quietly and normalise what it returns; its own failures are reported."""
    try:
        params = inspect.signature(checker).parameters
        quiet = "verbose" in params or any(p.kind is p.VAR_KEYWORD for p in params.values())
    except (TypeError, ValueError):
        quiet = False
    try:
        if quiet:
            raw = checker(obj, verbose=False)
        else:
            with contextlib.redirect_stdout(CappedStream()):
                raw = checker(obj)
    except Exception as error:
        return CheckResult(
            False,
            f"The checker itself failed ({type(error).__name__}: {error}); this is a bug in the "
            "exercise, not necessarily in your code. Please report it.",
            status=INVALID,
        )
    if isinstance(raw, CheckResult):
        return raw
    if isinstance(raw, Feedback):
        return CheckResult(raw.correct, raw.message, status=raw.status)
    if isinstance(raw, bool):
        return CheckResult(
            raw,
            "All checks passed." if raw else "Not yet: the check failed.",
            status=CORRECT if raw else INCORRECT,
        )
    return CheckResult(
        False, f"The checker returned {type(raw).__name__}, not a CheckResult.", status=INVALID
    )
