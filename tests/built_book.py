"""The built book, for the tests that read it: where it is, and a skip (or, in CI, a failure)
when it is not there.

``MBCOURSE_BOOK_HTML`` names the HTML folder (default ``_build/html``); the Colab edition and
the executed notebooks lie beside it (``_build/colab``, ``_build/jupyter_execute``). Without
the built file a test skips with its reason, except in CI (``CI=true`` or
``MBCOURSE_REQUIRE_BROWSER=1``), where it fails.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
HTML = Path(os.environ.get("MBCOURSE_BOOK_HTML", ROOT / "_build" / "html")).resolve()
BUILD = HTML.parent
REQUIRED = os.environ.get("CI") == "true" or os.environ.get("MBCOURSE_REQUIRE_BROWSER") == "1"


def built(path: Path, what: str = "") -> Path:
    """``path`` if the build wrote it; else skip (fail in CI), naming what builds it."""
    if not path.is_file():
        reason = f"no {path}: build the book (README's book command{'; ' + what if what else ''})"
        if REQUIRED:
            pytest.fail(reason + " (CI)", pytrace=False)
        pytest.skip(reason)
    return path


#: Sphinx's smart quotes curl the page's quotes (network's -> network’s); sources keep them
#: straight. ``text.translate(STRAIGHT_QUOTES)`` undoes it for a comparison.
STRAIGHT_QUOTES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u201c": '"', "\u201d": '"'})
