"""Print one of the README's two commands: the fenced block after ``<!-- NAME -->``.

    python tools/readme_command.py book-command   # what builds the book
    python tools/readme_command.py test-command   # what runs every test

The same reading as ``.ci/run``'s ``readme_command``, so that the pages workflow builds the book
exactly as the README tells a reader to (``bash -c "$(python tools/readme_command.py ...)"``).
"""

from __future__ import annotations

import sys
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def readme_command(name: str, text: str | None = None) -> str:
    """The lines of the first fenced block after the line ``<!-- name -->`` in the README."""
    lines = (README.read_text(encoding="utf-8") if text is None else text).splitlines()
    marker = f"<!-- {name} -->"
    if marker not in lines:
        raise ValueError(f"readme_command: no line {marker!r} in {README}")
    body: list[str] = []
    inside = False
    for line in lines[lines.index(marker) + 1 :]:
        if line.startswith("```"):
            if inside:
                return "\n".join(body)
            inside = True
        elif inside:
            body.append(line)
    raise ValueError(f"readme_command: no closed ``` block after {marker!r} in {README}")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python tools/readme_command.py book-command|test-command")
    print(readme_command(sys.argv[1]))
