"""Write the repository URL and branch from ``_config.yml`` into every chapter's Colab install cell.

A fork edits ``repository.url`` and ``repository.branch`` in ``_config.yml`` (the lines marked
FORK) and runs ``python tools/set_repository.py``; ``tests/test_book.py`` checks they agree.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import nbformat
import yaml

ROOT = Path(__file__).resolve().parents[1]
INSTALL = re.compile(r"git\+(?P<url>[^\"'@\s]+)@(?P<branch>[^\"'\s]+)")


def repository() -> tuple[str, str]:
    """``(url, branch)`` from ``_config.yml``."""
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    return config["repository"]["url"].rstrip("/"), config["repository"].get("branch", "main")


def install_target(url: str, branch: str) -> str:
    """The pip source the Colab cell installs from (``MBCOURSE_SOURCE`` overrides it there)."""
    return f"git+{url}@{branch}"


def main() -> int:
    url, branch = repository()
    changed = 0
    for path in sorted((ROOT / "book").glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        first = next(c for c in nb.cells if c.cell_type == "code")
        new = INSTALL.sub(install_target(url, branch), first.source)
        if new != first.source:
            first.source = new
            nbformat.write(nb, path)
            changed += 1
            print(f"updated {path.relative_to(ROOT)}")
    print(f"{changed} notebook(s) now install from {url}@{branch}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
