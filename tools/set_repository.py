"""Write the Colab install block, with the repository URL and branch of ``_config.yml``, into
every chapter's first code cell.

The block is the same in every chapter but for what it installs (``mbcourse``, or
``mbcourse[EXTRA]`` where a chapter needs an extra): in Colab, and only there, it writes the
packages Colab already has (``pip list --format=freeze``) to a constraints file, and installs
``mbcourse`` with them as constraints, so pip adds what is missing and changes none of Colab's
packages; where a new package would need another version of one of them (onnx 1.23 wants
protobuf >= 6.31.1, Colab has 5.29.6), pip picks a release that fits instead. ``MBCOURSE_SOURCE``
(any pip source) replaces the GitHub URL; the tests point it at a wheel of the checkout.

A fork edits ``repository.url`` and ``repository.branch`` in ``_config.yml`` (the lines marked
FORK) and runs ``python tools/set_repository.py``; ``tests/test_book.py`` checks that every
chapter holds exactly :func:`install_block`.
"""

from __future__ import annotations

import json
import re
import sys
import textwrap
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
INSTALL = re.compile(r"git\+(?P<url>[^\"'@\s]+)@(?P<branch>[^\"'\s]+)")
SPEC = re.compile(r'f"(?P<spec>mbcourse(?:\[[\w,-]+\])?) @ \{source\}"')
CONSTRAINTS = "/tmp/colab-packages.txt"


def repository() -> tuple[str, str]:
    """``(url, branch)`` from ``_config.yml``."""
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    return config["repository"]["url"].rstrip("/"), config["repository"].get("branch", "main")


def install_target(url: str, branch: str) -> str:
    """The pip source the Colab cell installs from (``MBCOURSE_SOURCE`` overrides it there)."""
    return f"git+{url}@{branch}"


def install_block(url: str, branch: str, spec: str = "mbcourse") -> str:
    """The first lines of a chapter's first code cell: the Colab-only install of ``spec``."""
    extra = re.search(r"\[([\w,-]+)\]", spec)
    what = f'mbcourse with its "{extra[1]}" extra' if extra else "mbcourse"
    comment = textwrap.fill(
        f"Setup. In Colab this installs {what} and what it needs that Colab lacks, with every "
        "package Colab already has pinned: pip adds packages and changes none of Colab's "
        "(torch, numpy, matplotlib, ipywidgets, protobuf, ...). Elsewhere it does nothing.",
        width=98, initial_indent="# ", subsequent_indent="# ",
    )
    return f"""\
{comment}
import os
import sys

if "google.colab" in sys.modules:
    import subprocess

    source = os.environ.get("MBCOURSE_SOURCE", "{install_target(url, branch)}")
    pip = [sys.executable, "-m", "pip"]
    with open("{CONSTRAINTS}", "w") as pins:  # Colab's packages, as pip constraints
        subprocess.run([*pip, "list", "--format=freeze"], stdout=pins, check=True)
    install = [*pip, "install", "-q", "-c", pins.name]
    subprocess.run([*install, f"{spec} @ {{source}}"], check=True)
"""


def split_first_cell(source: str) -> tuple[str, str, str]:
    """``(install part, spec, the rest)`` of a chapter's first code cell.

    The install part runs from the top through the ``if "google.colab" in sys.modules:`` block.
    """
    lines = source.split("\n")
    start = next((i for i, line in enumerate(lines) if line.startswith('if "google.colab"')), None)
    if start is None:
        raise ValueError('set_repository: the first code cell has no `if "google.colab" in '
                         "sys.modules:` block")
    end = start + 1
    while end < len(lines) and (not lines[end].strip() or lines[end].startswith((" ", "\t"))):
        end += 1
    head = "\n".join(lines[:end]).rstrip("\n") + "\n"
    found = SPEC.search(head)
    if found is None:
        raise ValueError('set_repository: the install block installs no f"mbcourse @ {source}"')
    return head, found["spec"], "\n".join(lines[end:]).lstrip("\n")


def main() -> int:
    url, branch = repository()
    changed = 0
    for path in sorted((ROOT / "book").glob("*.ipynb")):
        nb = json.loads(path.read_text(encoding="utf-8"))  # only this cell changes, byte for byte
        first = next(c for c in nb["cells"] if c["cell_type"] == "code")
        source = "".join(first["source"]) if isinstance(first["source"], list) else first["source"]
        _, spec, rest = split_first_cell(source)
        new = install_block(url, branch, spec) + ("\n" + rest if rest else "")
        if new != source:
            first["source"] = new.splitlines(keepends=True)
            path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
            changed += 1
            print(f"updated {path.relative_to(ROOT)}")
    print(f"{changed} notebook(s) now install from {url}@{branch}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
