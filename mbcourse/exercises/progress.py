"""A per-notebook progress line: ``Chapter 3 — solved 1 / attempted 2 / total 4``."""

from __future__ import annotations

from typing import Any

__all__ = ["Progress", "widget_bundle"]

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


def widget_bundle(widget: Any, **kwargs: Any) -> dict[str, Any]:
    """A widget's MIME bundle under ipywidgets 8 (``_repr_mimebundle_``) and 7.7 (Colab's, whose
    widgets only have ``_ipython_display_``; this is the bundle it displays)."""
    if hasattr(widget, "_repr_mimebundle_"):
        return dict(widget._repr_mimebundle_(**kwargs) or {})
    bundle: dict[str, Any] = {"text/plain": repr(widget)}
    if getattr(widget, "_view_name", None) is not None:
        bundle[WIDGET_VIEW] = {"version_major": 2, "version_minor": 0, "model_id": widget.model_id}
    return bundle


class Progress:
    """Counts the exercises of one notebook. Questions register themselves (by their ``key``,
    the prompt by default, so re-running a cell does not count a question twice) and report
    each counted attempt. ``progress.widget()`` is a live ``ipywidgets.HTML`` line."""

    def __init__(self, title: str = "Progress") -> None:
        if not isinstance(title, str):
            raise TypeError(f"Progress: title must be a string, got {type(title).__name__}")
        self.title = title
        self._keys: list[str] = []
        self._attempted: set[str] = set()
        self._solved: set[str] = set()
        self._widget: Any = None

    def register(self, key: str) -> None:
        """Add an exercise (again: its state is reset, as when its cell is re-run)."""
        if key not in self._keys:
            self._keys.append(key)
        self._attempted.discard(key)
        self._solved.discard(key)
        self._refresh()

    def record(self, key: str, correct: bool) -> None:
        """Note one counted attempt; a solved exercise stays solved."""
        if key not in self._keys:
            self._keys.append(key)
        self._attempted.add(key)
        if correct:
            self._solved.add(key)
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
        """``"Chapter 3 — solved 1 / attempted 2 / total 4"``."""
        return (
            f"{self.title} — solved {self.solved} / attempted {self.attempted} / total {self.total}"
        )

    def __str__(self) -> str:
        return self.line()

    def __repr__(self) -> str:
        return f"Progress({self.line()!r})"

    def widget(self) -> Any:
        """The live progress line (one ``ipywidgets.HTML``, updated after every attempt)."""
        if self._widget is None:
            import ipywidgets as widgets

            self._widget = widgets.HTML()
            self._refresh()
        return self._widget

    def _refresh(self) -> None:
        if self._widget is not None:
            from html import escape

            self._widget.value = f"<b>{escape(self.line())}</b>"

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any]:
        bundle = widget_bundle(self.widget(), **kwargs)
        bundle["text/plain"] = self.line()
        return bundle
