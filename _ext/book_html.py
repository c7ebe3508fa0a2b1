"""Sphinx extension: the built HTML works for a reader, offline and without console errors.

* Offline: MathJax, require.js and the Jupyter widgets HTML manager come from the npm packages
  pinned in ``package.json`` / ``package-lock.json`` (``npm ci`` runs here when ``node_modules`` is
  missing or stale) and are copied into ``_static/vendor/`` of the output, with
  ``widgets_offline.js`` (beside this file). ``mathjax_path`` and ``nb_ipywidgets_js`` in
  ``_config.yml`` must point there: a missing file or a CDN URL stops the build instead of
  silently falling back to the network. axe-core (the accessibility checker of the browser
  tests) is copied the same way to ``_static/vendor/axe-core/axe.min.js``; no page loads it.
  ONNX Runtime Web goes to ``_static/vendor/onnxruntime-web/``: the CPU build (WebAssembly with
  SIMD, threads where the page is cross-origin isolated) and the WebGPU build for browsers with
  JavaScript Promise Integration; chapter 11's panel (``device_panel.js``) imports them only
  when the reader presses Run.
* "Identifier 'THEBE_JS_URL' has already been declared": Sphinx 7.4 emits an inline script that
  an extension registers after the builder started twice (once as ``None``, once as ``''``);
  sphinx-thebe's ``const THEBE_JS_URL = ...`` is such a script. Duplicates are dropped per page.
* "Got invalid theme mode: ." (pydata-sphinx-theme, on a reader's first visit): the theme's
  ``default_mode`` (``html_context``) is empty unless set; it becomes ``auto`` (follow the
  reader's system).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

from sphinx.application import Sphinx
from sphinx.config import Config
from sphinx.errors import ExtensionError
from sphinx.util import logging

logger = logging.getLogger(__name__)

VENDOR = "vendor"  # folder under _static/ that receives the copies

# npm package -> (folder inside the package, names to copy from it, folder under _static/vendor)
ASSETS: dict[str, tuple[str, tuple[str, ...], str]] = {
    "mathjax": (
        "es5",
        ("tex-mml-chtml.js", "a11y", "adaptors", "input", "output", "sre", "ui"),
        "mathjax",
    ),
    "requirejs": ("", ("require.js",), "requirejs"),
    "@jupyter-widgets/html-manager": (
        "dist",
        ("embed-amd.js", "*.woff2", "*.woff", "*.ttf", "*.eot", "*.svg"),
        "html-manager",
    ),
    # Not loaded by any page: the accessibility test (tests/browser/test_accessibility.py)
    # injects it into each page it checks, from the build like everything else.
    "axe-core": ("", ("axe.min.js",), "axe-core"),
    # Chapter 11's panel (device_panel.py / .js) imports these when the reader presses Run:
    # the WebAssembly (CPU) build, and the WebGPU build that needs JSPI (Chrome/Edge 137+).
    "onnxruntime-web": (
        "dist",
        (
            "ort.wasm.min.mjs",
            "ort-wasm-simd-threaded.mjs",
            "ort-wasm-simd-threaded.wasm",
            "ort.jspi.min.mjs",
            "ort-wasm-simd-threaded.jspi.mjs",
            "ort-wasm-simd-threaded.jspi.wasm",
        ),
        "onnxruntime-web",
    ),
}
OWN_JS = Path(__file__).with_name("widgets_offline.js")  # -> _static/vendor/widgets-offline.js


def _root(app: Sphinx) -> Path:
    """The folder holding ``package.json`` (the book's folder or one above it)."""
    for folder in (Path(app.confdir), *Path(app.confdir).parents):
        if (folder / "package.json").is_file():
            return folder
    raise ExtensionError(f"book_html: no package.json in {app.confdir} or above it")


def _stale(root: Path) -> list[str]:
    """Packages of the lock file that ``node_modules`` lacks or holds at another version."""
    lock = json.loads((root / "package-lock.json").read_text(encoding="utf-8"))
    stale = []
    for key, entry in lock["packages"].items():
        if not key.startswith("node_modules/") or entry.get("dev") or entry.get("optional"):
            continue
        installed = root / key / "package.json"
        if not installed.is_file():
            stale.append(key)
            continue
        version = json.loads(installed.read_text(encoding="utf-8")).get("version")
        if version != entry.get("version"):
            stale.append(key)
    return stale


def _npm_ci(root: Path) -> None:
    """Install the pinned packages with ``npm ci``; raise with the reason when that fails."""
    npm = shutil.which("npm")
    if npm is None:
        raise ExtensionError(
            "book_html: node_modules is missing and npm was not found; install Node.js "
            f"(18 or newer) and run `npm ci` in {root}"
        )
    logger.info("book_html: running `npm ci` in %s", root)
    cmd = [npm, "ci", "--ignore-scripts", "--no-audit", "--no-fund", "--loglevel=error"]
    done = subprocess.run(cmd, cwd=root, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise ExtensionError(f"book_html: `npm ci` failed in {root}:\n{done.stdout}{done.stderr}")


def _sources(root: Path) -> dict[Path, Path]:
    """Map each file or folder to copy (node_modules, widgets_offline.js) to _static/vendor/."""
    mapping: dict[Path, Path] = {}
    for package, (subdir, names, dest) in ASSETS.items():
        base = root / "node_modules" / package / subdir
        for name in names:
            found = sorted(base.glob(name)) if "*" in name else [base / name]
            if not found or not all(p.exists() for p in found):
                raise ExtensionError(
                    f"book_html: {base / name} not found after `npm ci` "
                    f"(package {package!r} from package.json)"
                )
            for path in found:
                mapping[path] = Path(VENDOR) / dest / path.name
    mapping[OWN_JS] = Path(VENDOR) / "widgets-offline.js"
    return mapping


def _check_config(app: Sphinx, provided: set[str]) -> None:
    """Fail unless MathJax and the widget scripts are configured to load from _static/vendor."""
    wanted = {"mathjax_path": [app.config.mathjax_path]}
    wanted["nb_ipywidgets_js"] = list(getattr(app.config, "nb_ipywidgets_js", {}) or {})
    for key, paths in wanted.items():
        for path in paths:
            if path not in provided:
                raise ExtensionError(
                    f"book_html: {key} has {path!r}; it must be one of the files this "
                    f"extension serves from _static/ (e.g. {VENDOR}/mathjax/tex-mml-chtml.js), "
                    "not a CDN"
                )
    if not wanted["nb_ipywidgets_js"]:
        raise ExtensionError("book_html: nb_ipywidgets_js must list require.js and embed-amd.js")


def copy_assets(app: Sphinx) -> None:
    """Install (when needed) and copy the vendored JavaScript into the HTML output."""
    if app.builder.format != "html":
        return
    root = _root(app)
    if _stale(root):
        _npm_ci(root)
        if missing := _stale(root):
            raise ExtensionError(f"book_html: still missing after `npm ci`: {missing}")
    mapping = _sources(root)
    _check_config(app, {dest.as_posix() for dest in mapping.values()})
    static = Path(app.outdir) / "_static"
    for source, dest in mapping.items():
        target = static / dest
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            shutil.copytree(source, target, dirs_exist_ok=True)
        else:
            shutil.copy2(source, target)
    logger.info("book_html: copied %d entries into %s", len(mapping), static / VENDOR)


def dedupe_scripts(
    app: Sphinx, pagename: str, templatename: str, context: dict[str, Any], doctree: Any
) -> None:
    """Keep the first of scripts that differ only in ``None`` versus ``''`` as file name."""
    scripts = context.get("script_files")
    if not scripts:
        return
    seen: set[tuple[Any, ...]] = set()
    kept = []
    for script in scripts:
        filename = getattr(script, "filename", script) or ""
        attributes = getattr(script, "attributes", {})
        key = (str(filename), *sorted((k, str(v)) for k, v in attributes.items()))
        if key not in seen:
            seen.add(key)
            kept.append(script)
    scripts[:] = kept


def default_theme_mode(app: Sphinx, config: Config) -> None:
    """Give pydata-sphinx-theme a valid ``default_mode`` (an html_context key) unless set."""
    if not config.html_context.get("default_mode"):
        config.html_context["default_mode"] = "auto"


def setup(app: Sphinx) -> dict[str, Any]:
    """Register the hooks; the page hook runs late so per-page scripts are deduplicated too."""
    app.connect("config-inited", default_theme_mode)
    app.connect("builder-inited", copy_assets)
    app.connect("html-page-context", dedupe_scripts, priority=900)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
