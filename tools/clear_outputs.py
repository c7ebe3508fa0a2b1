"""Strip outputs and execution counts from the chapters: ``python tools/clear_outputs.py``.

Notebooks are committed clean; the book build and nbval execute them.
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]


def clear(path: Path) -> bool:
    """Clear one notebook in place; True when it changed."""
    nb = nbformat.read(path, as_version=4)
    changed = False
    for cell in nb.cells:
        if cell.cell_type == "code" and (cell.outputs or cell.execution_count is not None):
            cell.outputs, cell.execution_count, changed = [], None, True
    for key in ("widgets",):
        if key in nb.metadata:
            del nb.metadata[key]
            changed = True
    if changed:
        nbformat.write(nb, path)
    return changed


def main(paths: list[str]) -> int:
    targets = [Path(p) for p in paths] or sorted((ROOT / "book").glob("*.ipynb"))
    for path in targets:
        if clear(path):
            print(f"cleared {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
