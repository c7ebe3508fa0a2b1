"""mbcourse.display.show_source: the package's own code, rendered for the chapters."""

from __future__ import annotations

import pytest

from mbcourse.blocks import MBConv, make_divisible
from mbcourse.display import show_source


def test_show_source_renders_the_modules_code_as_one_python_block() -> None:
    md = show_source(MBConv.__init__, MBConv.forward).data
    assert md.startswith("```python\n# mbcourse.blocks.MBConv.__init__\ndef __init__(")
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
