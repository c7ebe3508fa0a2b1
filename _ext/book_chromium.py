"""The one headless Chromium of the project: which executable, with which flags, serving what.

Used by the book's PDF (``book_pdf.py``, at build time) and meant to be the single source of
the browser tests' ``chromium_path`` / ``CHROMIUM_ARGS`` as well. It is Debian's ``chromium``
(or ``MBCOURSE_CHROMIUM``), driven by Playwright; Playwright's own browser download is never
used. Needs no pytest, so that the book command (``.[book]``) can import it.
"""

from __future__ import annotations

import contextlib
import functools
import os
import shutil
import threading
from collections.abc import Callable, Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium_path() -> str | None:
    """Chromium to drive: MBCOURSE_CHROMIUM, else the first of the usual names on PATH."""
    if env := os.environ.get("MBCOURSE_CHROMIUM"):
        return env if Path(env).is_file() else None
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if found := shutil.which(name):
            return found
    return None


def keep_offline(
    context: Any,
    origin: str,
    offsite: list[str] | None = None,
    *,
    describe: Callable[[Any], str] = lambda request: request.url,
) -> list[str]:
    """Route every request of a Playwright ``context``: those for ``origin`` (the local server,
    or a ``file://`` folder) go through, every other one is aborted and listed in ``offsite``
    (as ``describe(request)``). Returns ``offsite``."""
    offsite = [] if offsite is None else offsite

    def route(route: Any) -> None:
        url = route.request.url
        if url == origin or url.startswith(origin + "/"):
            route.continue_()
        else:
            offsite.append(describe(route.request))
            route.abort()

    context.route("**/*", route)
    return offsite


#: Response headers that make a page cross-origin isolated (``self.crossOriginIsolated``), which
#: multi-threaded WebAssembly needs (SharedArrayBuffer); GitHub Pages cannot send them.
ISOLATION_HEADERS = {
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Embedder-Policy": "require-corp",
}


class _QuietHandler(SimpleHTTPRequestHandler):
    extra_headers: ClassVar[dict[str, str]] = {}  # set per server by serve()
    # Module scripts need a JavaScript type; WebAssembly compiles while it streams with its own.
    extensions_map: ClassVar[dict[str, str]] = {
        **SimpleHTTPRequestHandler.extensions_map,
        ".mjs": "text/javascript",
        ".wasm": "application/wasm",
    }

    def end_headers(self) -> None:
        for name, value in self.extra_headers.items():
            self.send_header(name, value)
        super().end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        """No request log on the console."""


@contextlib.contextmanager
def serve(
    folder: Path, *, headers: dict[str, str] | None = None, port: int = 0
) -> Iterator[str]:
    """Serve ``folder`` on 127.0.0.1 (``port``, default a free one), sending ``headers`` with
    every response (e.g. :data:`ISOLATION_HEADERS`); yield the origin, e.g.
    http://127.0.0.1:4321."""
    handler_class = type("_Handler", (_QuietHandler,), {"extra_headers": dict(headers or {})})
    handler = functools.partial(handler_class, directory=str(folder))
    httpd = ThreadingHTTPServer(("127.0.0.1", port), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_port}"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


class ChromiumMissingError(RuntimeError):
    """Playwright or a Chromium executable is not available (the message says which)."""


@contextlib.contextmanager
def launch() -> Iterator[Any]:
    """Headless Chromium (Playwright's ``Browser``); ChromiumMissingError when it cannot start."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as err:
        raise ChromiumMissingError(
            "Playwright is not installed: python -m pip install -e '.[book]'"
        ) from err
    executable = chromium_path()
    if executable is None:
        raise ChromiumMissingError(
            "no Chromium found: apt-get install chromium (or set MBCOURSE_CHROMIUM)"
        )
    playwright = sync_playwright().start()
    try:
        try:
            browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        except Exception as err:
            raise ChromiumMissingError(f"Chromium at {executable} did not start: {err}") from err
        try:
            yield browser
        finally:
            browser.close()
    finally:
        playwright.stop()
