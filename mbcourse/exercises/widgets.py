"""What a reader sees: the exercise as a notebook widget, and as the page's element.

Displayed, an exercise is two things at once (its MIME bundle): an ``ipywidgets`` box
(Jupyter, Colab, VS Code) and ``<div class="mbc-exercise" data-spec="...">``, which the
rendered book's script (``_ext/exercises.js``) turns into the same box, judged by the same
spec (:mod:`.verdicts`). Neither restates the question: that is the chapter's
``:::{exercise}`` directive, right above. Both show the answer box (or the options, shuffled
per reader), the expected form before any answer, Check, Hint, the feedback and a chapter
progress line with "Reset progress".

Only core widgets (``HTML``, ``Text``, ``RadioButtons``, ``Button``, ``HBox``, ``VBox``), valid
for ipywidgets 7.7 (Colab's) and 8. Every callback turns an error into a message.
"""

from __future__ import annotations

import contextlib
import getpass
import hashlib
import html
import io
import json
import os
import platform
import secrets
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from .verdicts import CORRECT, INCORRECT, INVALID, Feedback, judge

__all__ = ["CodeExercise", "Progress", "Question", "reader_seed", "shuffled", "widget_bundle"]

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
SEED_FILE = Path("~/.mbcourse/reader-seed")
_COLOURS = {CORRECT: "#1a7f37", INCORRECT: "#cf222e", INVALID: "#9a6700"}
_SYMBOLS = {CORRECT: "✓", INCORRECT: "✗", INVALID: "⚠"}
_MISSING = object()


def widget_bundle(widget: Any, **kwargs: Any) -> dict[str, Any]:
    """A widget's MIME bundle under ipywidgets 8 (``_repr_mimebundle_``) and 7.7 (Colab's, whose
    widgets only have ``_ipython_display_``; this is the bundle it displays)."""
    if hasattr(widget, "_repr_mimebundle_"):
        return dict(widget._repr_mimebundle_(**kwargs) or {})
    bundle: dict[str, Any] = {"text/plain": repr(widget)}
    if getattr(widget, "_view_name", None) is not None:
        bundle[WIDGET_VIEW] = {"version_major": 2, "version_minor": 0, "model_id": widget.model_id}
    return bundle


def reader_seed() -> str:
    """This reader's seed for shuffling options: ``$MBCOURSE_READER``, else a random one kept
    in ``~/.mbcourse/reader-seed`` (made on first use), else one derived from user and machine.
    The page keeps its own in the browser's local storage."""
    if os.environ.get("MBCOURSE_READER"):
        return os.environ["MBCOURSE_READER"]
    path = SEED_FILE.expanduser()
    with contextlib.suppress(OSError, UnicodeDecodeError):
        if not path.is_file():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(secrets.token_hex(8), encoding="ascii")
        seed = path.read_text(encoding="ascii").strip()
        if seed:
            return seed
    with contextlib.suppress(Exception):
        who = f"{getpass.getuser()}@{platform.node()}"
        return hashlib.sha256(who.encode()).hexdigest()[:16]
    return "reader"


def shuffled(n: int, seed: str, key: str) -> list[int]:
    """A permutation of ``range(n)`` fixed by ``seed`` and ``key`` (FNV-1a of ``seed:key``,
    then Fisher-Yates with a 32-bit LCG): the page computes the same one."""
    h = 2166136261
    for c in f"{seed}:{key}":
        h = ((h ^ ord(c)) * 16777619) & 0xFFFFFFFF
    order = list(range(n))
    for i in range(n - 1, 0, -1):
        h = (h * 1103515245 + 12345) & 0xFFFFFFFF
        j = h % (i + 1)
        order[i], order[j] = order[j], order[i]
    return order


def data_attr(value: Any) -> str:
    """JSON for an HTML attribute (escaped; ``<`` and ``>`` too)."""
    return html.escape(json.dumps(value, ensure_ascii=False, allow_nan=False), quote=True)


def exercise_html(spec: Mapping[str, Any]) -> str:
    """The element the page script turns into a live exercise (the answer stays in the
    attribute); without the script it says where the exercise can be checked."""
    where = (
        "Checking code needs a running notebook (Jupyter or Colab)."
        if spec["kind"] == "code"
        else "Interactive exercise: it is checked here once the page's script has loaded, or "
        "in a running notebook."
    )
    return (
        f'<div class="mbc-exercise mbc-kind-{spec["kind"]}" data-spec="{data_attr(dict(spec))}">'
        f'<div class="mbc-fallback"><em>{where}</em></div></div>'
    )


def feedback_html(result: Feedback, *, monospace: bool = False) -> str:
    """The coloured verdict and the escaped message, wrapping long lines."""
    colour = _COLOURS.get(result.status, _COLOURS[INCORRECT])
    font = "font-family: var(--jp-code-font-family, monospace); font-size: 0.9em;" * monospace
    return (
        f'<div style="white-space: pre-wrap; border-left: 4px solid {colour}; padding: 2px 8px; '
        f'{font}"><b style="color: {colour}">{_SYMBOLS.get(result.status, "")}</b> '
        f"{html.escape(result.message, quote=False)}</div>"
    )


class Progress:
    """Counts a chapter's exercises in this kernel: ``Chapter 3 — solved 1 / attempted 2 /
    total 5``. Exercises register themselves (again when their cell is re-run: their state is
    reset) and report each counted attempt; "Reset progress" forgets them all."""

    def __init__(self, title: str, keys: Sequence[str] = (), page: dict | None = None) -> None:
        if not isinstance(title, str):
            raise TypeError(f"Progress: title must be a string, got {type(title).__name__}")
        self.title, self.page = title, page
        self._keys: list[str] = list(keys)
        self._attempted: set[str] = set()
        self._solved: set[str] = set()
        self._questions: dict[str, Question] = {}
        self._parts: dict[str, Any] = {}

    def register(self, question: Question) -> None:
        """Add ``question`` (or replace the one with its key, its state forgotten)."""
        if question.key not in self._keys:
            self._keys.append(question.key)
        self._questions[question.key] = question
        self._attempted.discard(question.key)
        self._solved.discard(question.key)
        self._refresh()

    def record(self, key: str, correct: bool) -> None:
        """Note one counted attempt; a solved exercise stays solved."""
        self._attempted.add(key)
        if correct:
            self._solved.add(key)
        self._refresh()

    def reset(self) -> None:
        """Forget every attempt of this chapter, in the counts and in its exercises."""
        self._attempted.clear()
        self._solved.clear()
        for question in self._questions.values():
            question.reset()
        self._refresh()

    @property
    def total(self) -> int:
        return len(self._keys)

    @property
    def attempted(self) -> int:
        return len(self._attempted)

    @property
    def solved(self) -> int:
        return len(self._solved)

    def line(self) -> str:
        return (f"{self.title} — solved {self.solved} / attempted {self.attempted} / total "
                f"{self.total}")

    __str__ = line

    def __repr__(self) -> str:
        return f"Progress({self.line()!r})"

    def widget(self) -> Any:
        """The live line and its "Reset progress" button (built on first use)."""
        if not self._parts:
            import ipywidgets as widgets

            self._parts["line"] = widgets.HTML()
            self._parts["reset"] = widgets.Button(
                description="Reset progress", tooltip="Forget this chapter's answers",
                layout=widgets.Layout(width="auto"),
            )
            self._parts["reset"].on_click(lambda _: self.reset())
            self._parts["box"] = widgets.HBox([self._parts["line"], self._parts["reset"]])
            self._refresh()
        return self._parts["box"]

    def _refresh(self) -> None:
        if self._parts:
            self._parts["line"].value = f"<b>{html.escape(self.line())}</b>"

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any]:
        bundle = widget_bundle(self.widget(), **kwargs)
        bundle["text/plain"] = self.line()
        if self.page is not None:
            total = len(self.page["ids"]) - len(self.page["code"])
            bundle["text/html"] = (
                f'<div class="mbc-progress" data-progress="{data_attr(self.page)}"><b>'
                f"{html.escape(self.title)} — solved 0 / attempted 0 / total {total}</b></div>"
            )
        return bundle


class Question:
    """An exercise with a widget: ``check(answer)`` judges and records, ``hint()`` reveals
    the next hint; ``controls`` names the widgets (``text`` or ``choice``, ``check``, ``hint``,
    ``feedback``, ``hints``, ``form``), e.g. to drive them from a test."""

    def __init__(self, spec: Mapping[str, Any], progress: Progress | None = None) -> None:
        self.spec = dict(spec)
        self.key = str(spec.get("id", ""))
        self.kind = self.spec["kind"]
        self.progress = progress
        self._parts: dict[str, Any] = {}
        self.reset()
        if progress is not None:
            progress.register(self)

    def reset(self) -> None:
        """Forget the attempts, the feedback and the hints shown."""
        self.attempts, self.solved, self.hints_shown = 0, False, 0
        self.last_feedback: Feedback | None = None
        if self._parts:
            self._parts["feedback"].value = ""
            self._parts["hint"].disabled, self._parts["hint"].description = False, "Hint"
            self._show_hints()

    @property
    def options(self) -> list[str]:
        """A choice's options in this reader's order."""
        labels = [o[0] for o in self.spec.get("options", [])]
        return [labels[i] for i in shuffled(len(labels), reader_seed(), self.key)]

    def check(self, answer: Any) -> Feedback:
        """Judge ``answer`` and record the attempt."""
        return self._record(judge(self.spec, answer))

    def _record(self, result: Feedback) -> Feedback:
        self.last_feedback = result
        if result.counted:
            self.attempts += 1
            self.solved = self.solved or result.correct
            if self.progress is not None:
                self.progress.record(self.key, result.correct)
        if self._parts:
            self._parts["feedback"].value = feedback_html(result, monospace=self.kind == "code")
        return result

    def hint(self) -> str:
        """Reveal the next hint and return it."""
        total = len(self.spec["hints"])
        if self.hints_shown >= total:
            return "No more hints."
        self.hints_shown += 1
        self._show_hints()
        return f"Hint {self.hints_shown} of {total}: {self.spec['hints'][self.hints_shown - 1]}"

    def _show_hints(self) -> None:
        if not self._parts:
            return
        hints = self.spec["hints"]
        self._parts["hints"].value = "".join(
            f"<div><i>Hint {i} of {len(hints)}:</i> {h}</div>"
            for i, h in enumerate(hints[: self.hints_shown], start=1)
        )
        if self.hints_shown >= len(hints):
            self._parts["hint"].disabled, self._parts["hint"].description = True, "No more hints"

    # ---- the widget ----------------------------------------------------------------------
    @property
    def controls(self) -> dict[str, Any]:
        self.widget  # noqa: B018 - builds the widgets on first use
        return dict(self._parts)

    @property
    def widget(self) -> Any:
        """The exercise's ``ipywidgets.VBox`` (built on first use)."""
        if "box" not in self._parts:
            self._parts["box"] = self._build()
        return self._parts["box"]

    def _build(self) -> Any:
        import ipywidgets as widgets

        p, spec, auto = self._parts, self.spec, widgets.Layout(width="auto")
        rows = []
        if self.kind in ("number", "shape"):
            p["text"] = widgets.Text(placeholder=spec["placeholder"], continuous_update=False,
                                     layout=widgets.Layout(width="18em"))
            rows.append(widgets.HBox([p["text"], widgets.HTML(html.escape(spec.get("unit", "")))]))
        elif self.kind == "choice":
            p["choice"] = widgets.RadioButtons(options=self.options, value=None, layout=auto)
            rows.append(p["choice"])
        p["form"] = widgets.HTML(f"<small>{html.escape(spec['form'])}</small>")
        label = f"Check {spec['name']}" if self.kind == "code" else "Check"
        p["check"] = widgets.Button(description=label, button_style="primary", icon="check",
                                    tooltip="Check your answer", layout=auto)
        p["hint"] = widgets.Button(description="Hint", tooltip="Reveal the next hint", layout=auto)
        p["feedback"], p["hints"] = widgets.HTML(), widgets.HTML()
        p["check"].on_click(self._safe(self._on_check))
        p["hint"].on_click(self._safe(self.hint))
        rows += [p["form"], widgets.HBox([p["check"], p["hint"]]), p["feedback"], p["hints"]]
        self._show_hints()
        if self.last_feedback is not None:
            p["feedback"].value = feedback_html(self.last_feedback, monospace=self.kind == "code")
        return widgets.VBox(rows, layout=widgets.Layout(margin="0.5em 0"))

    def _on_check(self) -> None:
        self.check(self._parts["text" if "text" in self._parts else "choice"].value)

    def _safe(self, handler: Callable[[], Any]) -> Callable[[Any], None]:
        def callback(_button: Any = None) -> None:
            try:
                handler()
            except Exception as error:  # never a traceback in the learner's face
                self._parts["feedback"].value = feedback_html(Feedback(INVALID, (
                    "Something went wrong inside the exercise widget (not in your answer): "
                    f"{type(error).__name__}: {error}. Please report it.")))

        return callback

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any]:
        bundle = widget_bundle(self.widget, **kwargs)
        bundle["text/plain"] = f"(Exercise {self.key}: run this notebook to check your answer.)"
        bundle["text/html"] = exercise_html(self.spec)
        return bundle

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.key!r}, {self.kind})"


class CodeExercise(Question):
    """A code exercise: Check looks ``spec["name"]`` up in the notebook (``namespace``, else
    IPython's user namespace) and runs ``checker`` on it; ``check(obj)`` checks ``obj``."""

    def __init__(
        self,
        spec: Mapping[str, Any],
        checker: Callable[..., Feedback],
        progress: Progress | None = None,
        namespace: Mapping[str, Any] | None = None,
    ) -> None:
        self.checker, self.namespace = checker, namespace
        super().__init__(spec, progress)

    def _lookup(self) -> Any:
        name, namespace = self.spec["name"], self.namespace
        if namespace is None:
            from IPython import get_ipython

            shell = get_ipython()
            if shell is None:
                raise LookupError(f"Not running in a notebook, so I cannot look up {name!r}: "
                                  f"run {self.spec['call']} instead.")
            namespace = shell.user_ns
        if name not in namespace:
            raise LookupError(f"I cannot find {name!r} in this notebook. Write it in a code "
                              "cell, run that cell (Shift+Enter), then press Check again.")
        return namespace[name]

    def check(self, obj: Any = _MISSING) -> Feedback:
        """Run the checker on ``obj`` (default: the name looked up in the notebook), quietly."""
        if obj is _MISSING:
            try:
                obj = self._lookup()
            except LookupError as error:
                return self._record(Feedback(INVALID, str(error)))
        with contextlib.redirect_stdout(io.StringIO()):
            return self._record(self.checker(obj, verbose=False))

    def _on_check(self) -> None:
        self._parts["feedback"].value = feedback_html(Feedback(INVALID, (
            f"Checking {self.spec['name']}… If nothing happens within a few seconds, interrupt "
            "the kernel (■ in the toolbar; in Colab, Runtime → Interrupt execution): your code "
            "may be stuck in a loop.")))
        self.check()
