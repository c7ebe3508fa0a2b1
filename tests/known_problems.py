"""Allow-lists of what the book still does wrong, shared by the tests of issue 21.

Each of ``tests/test_prose.py``, ``tests/browser/test_layout.py`` and
``tests/browser/test_figures.py`` finds problems (one line each) per check and page, and keeps a
``KNOWN`` allow-list: ``{(check, page): {substring of a problem line: what is to be done}}``.
:func:`judge` fails on a problem no entry names, and on an entry that names no problem any more
(the fix landed: remove the entry), so that a list only shrinks. An entry whose text starts
with :data:`MAY_PASS` is one that fails in some builds only (a figure of measured times), and is
never reported as fixed.
"""

from __future__ import annotations

from collections.abc import Mapping

MAY_PASS = "(may pass)"

Known = Mapping[tuple[str, str], Mapping[str, str]]


def judge(known: Known, check: str, page: str, problems: list[str], where: str) -> None:
    """Assert that ``problems`` of ``check`` on ``page`` are exactly those ``known`` lists
    (``where`` names the file that holds the list, for the message)."""
    entries = known.get((check, page), {})
    new = [p for p in problems if not any(k in p for k in entries)]
    stale = [
        k
        for k, why in entries.items()
        if not why.startswith(MAY_PASS) and not any(k in p for p in problems)
    ]
    message = []
    if new:
        message.append(f"{page}:\n  " + "\n  ".join(new))
    if stale:
        message.append(
            f"{page}: fixed, remove from KNOWN[({check!r}, {page!r})] in {where}: "
            + ", ".join(repr(k) for k in stale)
        )
    assert not message, "\n".join(message)
