"""mbcourse.display: glue (myst-nb in the build, a plain display without it) and show_source."""

from __future__ import annotations

import pytest

from mbcourse import display
from mbcourse.blocks import MBConv, make_divisible
from mbcourse.display import show_source


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


def test_show_source_renders_the_modules_code_as_one_python_block() -> None:
    md = show_source(MBConv.__init__, MBConv.forward).data
    # the decorator that checks the arguments is part of the shown source
    assert md.startswith("```python\n# mbcourse.blocks.MBConv.__init__\n@check_arguments\n"
                         "def __init__(")
    assert "\n\n# mbcourse.blocks.MBConv.forward\ndef forward(self, x: Tensor) -> Tensor:\n" in md
    assert "out = self.se(out)" in md  # the real line of the module, not a copy
    assert md.endswith("\n```")
    assert "# mbcourse.blocks.make_divisible\ndef make_divisible(" in show_source(
        make_divisible
    ).data


def test_show_source_rejects_what_has_no_source() -> None:
    with pytest.raises(ValueError, match="show_source: give at least one"):
        show_source()
    with pytest.raises(TypeError, match="show_source: expected a class, function or method"):
        show_source(3)
