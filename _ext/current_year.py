"""Sphinx extension: the footer's copyright shows the year the book was built."""

from __future__ import annotations

import datetime

from sphinx.application import Sphinx
from sphinx.config import Config


def _set_year(app: Sphinx, config: Config) -> None:
    year = datetime.date.today().year
    config.copyright = f"{year}, {config.author}" if config.author else str(year)


def setup(app: Sphinx) -> dict[str, bool]:
    app.connect("config-inited", _set_year)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
