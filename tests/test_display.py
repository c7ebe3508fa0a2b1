"""``mbcourse.display.glue``: myst-nb's glue in the book build, a plain display without myst-nb."""

from __future__ import annotations

import pytest

from mbcourse import display


def test_glue_uses_myst_nb_when_present(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    monkeypatch.setattr(display, "_myst_glue", lambda *a, **k: calls.append((a, k)))
    monkeypatch.setattr(display, "_display", lambda value: pytest.fail("displayed directly"))
    display.glue("x", 42, display=False)
    assert calls == [(("x", 42), {"display": False})]


@pytest.mark.parametrize(("show", "expected"), [(True, [3.5]), (False, [])])
def test_glue_without_myst_nb_only_displays(
    monkeypatch: pytest.MonkeyPatch, show: bool, expected: list[float]
) -> None:
    shown = []
    monkeypatch.setattr(display, "_myst_glue", None)
    monkeypatch.setattr(display, "_display", shown.append)
    display.glue("y", 3.5, display=show)
    assert shown == expected


@pytest.mark.parametrize("name", ["", None, 3])
def test_glue_rejects_a_bad_name(name: object) -> None:
    with pytest.raises(ValueError, match="glue: name must be a non-empty string"):
        display.glue(name, 1)  # type: ignore[arg-type]
