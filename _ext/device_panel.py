"""Sphinx extension: chapter 11's "Run on this device" panel, kernel-less and offline.

* The files: at ``builder-inited`` (HTML builders), ``python -m mbcourse.studies.on_device``
  exports the panel's ONNX models, photos, category names and ``manifest.json`` from the
  package into ``_build/.device-panel/<digest>/`` and they are copied to
  ``_static/device-panel/``. The digest (:func:`mbcourse.deploy.source_digest`) covers the
  package's source and the versions of torch, onnx and onnxruntime: a rebuild that changed
  none of them reuses the files (a fresh clone, as in CI, exports them once, about a minute).
  ONNX Runtime Web itself is copied from npm by ``book_html.py``
  (``_static/vendor/onnxruntime-web/``).
* The page: ```{device-panel} timing``` and ```{device-panel} classify``` (MyST) put the two
  parts on a page; the HTML is written from the current manifest when the page is written
  (such pages are rewritten on every build), with the manifest as JSON, and the page alone
  gets ``device-panel.js`` / ``.css`` (beside this file). The script fetches nothing until
  the reader presses Run or Classify.
* ``python _ext/device_panel.py serve [FOLDER] [--port 8000]`` serves the built book
  cross-origin isolated (COOP/COEP headers), where the panel may use multi-threaded
  WebAssembly. GitHub Pages cannot send those headers: there it runs single-threaded, with SIMD.
"""

from __future__ import annotations

import argparse
import html
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent
STATIC = "device-panel"  # folder under _static/ with the panel's files
VENDOR = "vendor/onnxruntime-web"  # where book_html.py puts ONNX Runtime Web
CACHE = ".device-panel"  # under the build folder (_build/), beside html/
ASSETS = {"device_panel.js": "device-panel.js", "device_panel.css": "device-panel.css"}
PLACEHOLDER = "<!-- mbc-device-panel:{part} -->"
PARTS = ("timing", "classify")


def _megabytes(n: int) -> str:
    return f"{n / 1e6:.1f} MB"


def cache_folder(outdir: Path) -> Path:
    """``_build/.device-panel`` for an output folder ``_build/html``."""
    return Path(outdir).parent / CACHE


def make_files(outdir: Path, log: Any = print) -> dict[str, Any]:
    """Export (or reuse) the panel's files and copy them into ``outdir/_static/device-panel``;
    return the manifest (with ``"export_seconds"``: 0 when the cache served)."""
    import mbcourse
    from mbcourse.deploy import source_digest

    package = Path(mbcourse.__file__).parent
    digest = source_digest([package])  # the export is the package's: its source, its versions
    cache = cache_folder(outdir)
    ready = cache / digest
    seconds = 0.0
    if not (ready / "manifest.json").is_file():
        started = time.perf_counter()
        work = cache / f"{digest}.partial"
        shutil.rmtree(work, ignore_errors=True)
        cmd = [sys.executable, "-m", "mbcourse.studies.on_device", str(work)]
        done = subprocess.run(cmd, capture_output=True, text=True, check=False,
                              env={**os.environ, "PYTHONWARNINGS": "ignore"})
        if done.returncode != 0:
            raise RuntimeError(f"device_panel: `{' '.join(cmd)}` failed:\n"
                               f"{done.stdout[-3000:]}{done.stderr[-3000:]}")
        for old in cache.iterdir():  # keep one set of files
            if old.name != work.name:
                shutil.rmtree(old, ignore_errors=True)
        work.rename(ready)
        seconds = time.perf_counter() - started
        log(f"device_panel: exported the panel's files in {seconds:.0f} s into {ready}")
    target = Path(outdir) / "_static" / STATIC
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(ready, target)
    for source, name in ASSETS.items():
        shutil.copy2(HERE / source, target / name)
    manifest = json.loads((ready / "manifest.json").read_text(encoding="utf-8"))
    manifest["export_seconds"] = round(seconds, 1)
    return manifest


# --------------------------------------------------------------------------------------------
# The panel's HTML
# --------------------------------------------------------------------------------------------
def _e(text: Any) -> str:
    return html.escape(str(text), quote=True)


def _number_input(key: str, label: str, value: int, low: int, high: int) -> str:
    return (f'<label class="mbc-dp-number">{_e(label)} '
            f'<input type="number" name="mbc-dp-{key}" data-label="{_e(label)}" '
            f'value="{value}" min="{low}" max="{high}" step="1" inputmode="numeric"></label>')


def timing_html(manifest: dict[str, Any]) -> str:
    """The timing part: what to run, how, Run, the tables, the verdict, Copy results."""
    choices = []
    for net in manifest["networks"]:
        sizes = ", ".join(f"{p} {_megabytes(f['bytes'])}" for p, f in net["files"].items())
        weights = ("trained weights" if net["weights"] == "trained" else
                   "random weights" + (", stored compactly" if any(
                       f["compact"] for f in net["files"].values()) else ""))
        choices.append(
            f'<label><input type="checkbox" name="mbc-dp-model" value="net:{_e(net["id"])}" '
            f'checked> {_e(net["title"])}, fp32 and int8 ({sizes}; {weights})</label>')
    stage_bytes = sum(f["bytes"] for s in manifest["stages"] for f in s["files"].values())
    first, last = manifest["stages"][0]["stage"], manifest["stages"][-1]["stage"]
    choices.append(
        '<label><input type="checkbox" name="mbc-dp-model" value="stages" checked> '
        f'EfficientNetV2-S stages {first}\u2013{last}, MBConv and Fused-MBConv, at the '
        f'resolutions of a {manifest["stage_image"]} \u00d7 {manifest["stage_image"]} image '
        f'({_megabytes(stage_bytes)}; random weights, stored compactly)</label>')
    plan = manifest["timing"]
    return f"""
<div class="mbc-device-panel" aria-busy="false">
<p class="mbc-dp-print">On paper this panel cannot run: open this page of the online book (or of
the built site) in a browser to time the networks on your own device.</p>
<p><strong>This device, as the browser reports it:</strong>
<span class="mbc-dp-device">(described when the page's script runs)</span></p>
<p class="mbc-dp-backend-note"></p>
<fieldset class="mbc-dp-choose"><legend>What to time</legend>
{"".join(choices)}
</fieldset>
<fieldset class="mbc-dp-settings"><legend>How</legend>
<label class="mbc-dp-number">Backend <select name="mbc-dp-backend">
<option value="wasm" selected>WebAssembly SIMD, 1 thread</option></select></label>
{_number_input("warmup", "Warm-up runs", plan["warmup"], 0, 50)}
{_number_input("rounds", "Rounds", plan["rounds"], 2, 20)}
{_number_input("runs_per_round", "Runs per round", plan["runs_per_round"], 1, 50)}
</fieldset>
<div class="mbc-buttons">
<button type="button" class="mbc-button mbc-check mbc-dp-action mbc-dp-run">
Run on this device</button>
<button type="button" class="mbc-button mbc-dp-copy" disabled>Copy results</button>
</div>
<progress hidden aria-label="Models timed so far"></progress>
<p class="mbc-dp-status" role="status" aria-live="polite"></p>
<p class="mbc-dp-message" role="alert" hidden></p>
<div class="mbc-dp-scroll"><table class="mbc-dp-results">
<caption>Latency of each model on this device (batch 1)</caption>
<thead><tr><th scope="col">model</th><th scope="col">variant</th><th scope="col">median ms</th>
<th scope="col">IQR ms</th><th scope="col">runs</th><th scope="col">backend</th></tr></thead>
<tbody></tbody></table></div>
<div class="mbc-dp-scroll"><table class="mbc-dp-comparisons">
<caption>Each pair, timed in the same interleaved rounds</caption>
<thead><tr><th scope="col">comparison</th><th scope="col">time ratio</th>
<th scope="col">round spread</th><th scope="col">verdict</th></tr></thead>
<tbody></tbody></table></div>
<div class="mbc-dp-verdict" aria-live="polite"></div>
<label class="mbc-dp-copy-label">The results as a table to paste into an issue or a forum
<textarea class="mbc-dp-copy-text" rows="6" readonly></textarea></label>
</div>
"""


def classify_html(manifest: dict[str, Any], static: str) -> str:
    """The classification part: a bundled photo or the reader's file, fp32 or int8, top 5."""
    c = manifest["classifier"]
    net = next(n for n in manifest["networks"] if n["id"] == c["network"])
    photos = []
    for i, p in enumerate(manifest["photos"]):
        checked = " checked" if i == 0 else ""
        photos.append(
            f'<label class="mbc-dp-photo"><input type="radio" name="mbc-dp-photo" '
            f'value="{_e(p["id"])}"{checked}> <img src="{_e(static + p["file"])}" width="112" '
            f'height="112" alt="{_e(p["caption"])}, as the network sees it: the centre of the '
            f'photo at {c["size"]} by {c["size"]} pixels"> {_e(p["caption"])}</label>')
    photos.append(
        '<label class="mbc-dp-photo mbc-dp-own"><input type="radio" name="mbc-dp-photo" '
        'value="file"> Your own image (read in this browser, sent nowhere): '
        '<input type="file" accept="image/*" aria-label="Choose an image file"></label>')
    options = "".join(
        f'<option value="{_e(p)}"{" selected" if p == "fp32" else ""}>{_e(net["title"])} '
        f'{_e(p)} ({_megabytes(f["bytes"])})</option>' for p, f in net["files"].items())
    return f"""
<div class="mbc-device-classify" aria-busy="false">
<p class="mbc-dp-print">On paper this panel cannot run: open this page in a browser to classify a
photo there.</p>
<fieldset class="mbc-dp-photos"><legend>Photo</legend>
{"".join(photos)}
</fieldset>
<label class="mbc-dp-number">Network <select name="mbc-dp-precision">{options}</select></label>
<div class="mbc-buttons">
<button type="button" class="mbc-button mbc-check mbc-dp-action mbc-dp-classify">Classify</button>
</div>
<progress hidden aria-label="Classifying"></progress>
<p class="mbc-dp-status" role="status" aria-live="polite"></p>
<p class="mbc-dp-message" role="alert" hidden></p>
<table class="mbc-dp-top5" hidden><caption>Top 5</caption>
<thead><tr><th scope="col">rank</th><th scope="col">ImageNet class</th>
<th scope="col">probability</th></tr></thead><tbody></tbody></table>
</div>
"""


def manifest_script(manifest: dict[str, Any], static: str, vendor: str) -> str:
    """The manifest as page JSON, with the folders of the panel's files and of the runtime."""
    text = json.dumps(manifest).replace("</", "<\\/")
    return (f'<script type="application/json" id="mbc-dp-manifest" data-base="{_e(static)}" '
            f'data-vendor="{_e(vendor)}">{text}</script>')


# --------------------------------------------------------------------------------------------
# Sphinx
# --------------------------------------------------------------------------------------------
def setup(app: Any) -> dict[str, Any]:
    """Register the directive and the hooks."""
    from docutils import nodes
    from docutils.parsers.rst import Directive, directives
    from sphinx.errors import ExtensionError
    from sphinx.util import logging

    logger = logging.getLogger(__name__)

    class DevicePanel(Directive):
        """``{device-panel} timing`` or ``{device-panel} classify``."""

        required_arguments = 1
        has_content = False

        def run(self) -> list[Any]:
            part = directives.choice(self.arguments[0], PARTS)
            return [nodes.raw("", PLACEHOLDER.format(part=part), format="html")]

    def builder_inited(app: Any) -> None:
        if app.builder.format != "html" or app.builder.name == "linkcheck":
            return
        try:
            app.device_panel_manifest = make_files(Path(app.outdir), log=logger.info)
        except Exception as err:
            raise ExtensionError(f"device_panel: {err}") from err
        seconds = app.device_panel_manifest["export_seconds"]
        if seconds:
            logger.info("device_panel: the export added %.0f s to this build", seconds)

    def page_context(app: Any, pagename: str, templatename: str, context: dict[str, Any],
                     doctree: Any) -> None:
        body = context.get("body", "")
        if "<!-- mbc-device-panel:" not in body:
            return
        manifest = getattr(app, "device_panel_manifest", None)
        if manifest is None:
            raise ExtensionError("device_panel: the panel's files were not made")
        static = context["pathto"](f"_static/{STATIC}/", 1)
        vendor = context["pathto"](f"_static/{VENDOR}/", 1)
        parts = {"timing": timing_html(manifest), "classify": classify_html(manifest, static)}
        first = True
        for part, markup in parts.items():
            marker = PLACEHOLDER.format(part=part)
            if marker in body:
                if first:
                    markup = manifest_script(manifest, static, vendor) + markup
                    first = False
                body = body.replace(marker, markup)
        context["body"] = body
        app.add_css_file(f"{STATIC}/{ASSETS['device_panel.css']}")
        app.add_js_file(f"{STATIC}/{ASSETS['device_panel.js']}", defer="defer")

    def always_rewrite(app: Any, env: Any, added: set, changed: set, removed: set) -> list[str]:
        """Pages with the panel are read and written again on every build: their HTML holds the
        manifest of the files this build copied (sizes, digests), which may be new."""
        return [doc for doc in env.found_docs if doc not in removed
                and "{device-panel}" in Path(env.doc2path(doc)).read_text(encoding="utf-8",
                                                                          errors="replace")
                and str(env.doc2path(doc)).endswith(".md")]

    app.add_directive("device-panel", DevicePanel)
    app.connect("builder-inited", builder_inited)
    app.connect("env-get-outdated", always_rewrite)
    app.connect("html-page-context", page_context)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}


# --------------------------------------------------------------------------------------------
# Serving the book cross-origin isolated
# --------------------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> None:
    """``serve [FOLDER] [--port N]``: the built book with COOP/COEP headers until Ctrl-C."""
    sys.path.insert(0, str(HERE))
    from book_chromium import ISOLATION_HEADERS, serve

    parser = argparse.ArgumentParser(prog="python _ext/device_panel.py",
                                     description="Serve the built book cross-origin isolated.")
    sub = parser.add_subparsers(dest="command", required=True)
    serving = sub.add_parser("serve", help="serve FOLDER (default _build/html)")
    serving.add_argument("folder", nargs="?", type=Path,
                         default=HERE.parent / "_build" / "html")
    serving.add_argument("--port", type=int, default=8000)
    args = parser.parse_args(argv)
    if not (args.folder / "index.html").is_file():
        parser.error(f"no built book in {args.folder}: build it first (README)")
    with serve(args.folder, headers=ISOLATION_HEADERS, port=args.port) as origin:
        print(f"Serving {args.folder} cross-origin isolated at {origin}/ (Ctrl-C stops)")
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
