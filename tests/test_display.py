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


# ---- the figure policy -------------------------------------------------------------------


def _svg_of(fig: object) -> str:
    import io

    buffer = io.StringIO()
    fig.savefig(buffer, format="svg", bbox_inches="tight")  # type: ignore[attr-defined]
    return buffer.getvalue()


def test_the_figure_policy_draws_text_as_text_no_smaller_than_the_body() -> None:
    """Under FIGURE_RC a default figure fits the column and every text is >= FIGURE_TEXT_PT."""
    import re

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with matplotlib.rc_context(display.FIGURE_RC):
        fig, ax = plt.subplots()
        ax.bar(["a", "b"], [1, 2], label="bars")
        ax.set(title="title", xlabel="x", ylabel="y")
        ax.legend()
        svg = _svg_of(fig)
        plt.close(fig)
    width_pt = float(re.search(r'<svg[^>]* width="([\d.]+)pt"', svg).group(1))
    assert width_pt <= display.FIGURE_WIDTH_IN * 72
    sizes = [float(s) for s in re.findall(r"font-size: ([\d.]+)px", svg)]
    assert len(sizes) >= 7 and min(sizes) >= display.FIGURE_TEXT_PT  # ticks, labels, legend
    assert "<text" in svg and '<path id="DejaVuSans' not in svg  # text, not glyph outlines


def test_use_book_figures_sets_matplotlib_and_a_kernels_format_to_svg() -> None:
    import matplotlib
    from IPython.core.interactiveshell import InteractiveShell
    from matplotlib.figure import Figure
    from matplotlib_inline.config import InlineBackend

    shell = InteractiveShell.instance()
    try:
        with matplotlib.rc_context():
            display.use_book_figures(shell)
            for key, value in display.FIGURE_RC.items():
                expected = list(value) if isinstance(value, tuple) else value
                assert matplotlib.rcParams[key] == expected, key
        formatters = shell.display_formatter.formatters
        assert formatters["image/svg+xml"].lookup_by_type(Figure) is not None
        with pytest.raises(KeyError):
            formatters["image/png"].lookup_by_type(Figure)
        assert InlineBackend.instance().figure_formats == {"svg"}
    finally:
        InlineBackend.clear_instance()
        InteractiveShell.clear_instance()


def test_importing_display_in_a_kernel_makes_its_figures_svg(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """In a real kernel (as the book build runs a chapter), importing mbcourse.display after
    pyplot is enough: the figure comes out as SVG with 12 pt text, and not as PNG."""
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    monkeypatch.delenv("MPLBACKEND", raising=False)  # the kernel's inline backend, as in a book
    cells = [
        "import matplotlib.pyplot as plt\nfrom mbcourse.display import glue",
        "fig, ax = plt.subplots()\nax.set_title('t')",
    ]
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    nbclient.NotebookClient(nb, kernel_name="python3", timeout=120).execute()
    data = [o["data"] for o in nb.cells[1].outputs if "data" in o]
    figures = [d for d in data if "image/svg+xml" in d]
    assert len(figures) == 1 and not any("image/png" in d for d in data), data
    assert "font-size: 12px" in figures[0]["image/svg+xml"]


def test_glue_facts_glues_each_field_of_a_record_or_mapping(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from dataclasses import dataclass

    glued: list[tuple[str, object, bool]] = []
    monkeypatch.setattr(display, "glue", lambda n, v, display=True: glued.append((n, v, display)))

    @dataclass(frozen=True)
    class Facts:
        params: int
        share: float

    assert display.glue_facts("ch4", Facts(552, 0.38)) == ["ch4_params", "ch4_share"]
    assert display.glue_facts("ch4", {"blocks": 16}) == ["ch4_blocks"]
    assert glued == [("ch4_params", 552, False), ("ch4_share", 0.38, False),
                     ("ch4_blocks", 16, False)]
    with pytest.raises(TypeError, match="glue_facts: facts must be a dataclass instance"):
        display.glue_facts("ch4", 552)
    with pytest.raises(ValueError, match="glue_facts: prefix must be a non-empty string"):
        display.glue_facts("", {"a": 1})
