"""Chapter 11's "Run on this device" panel in headless Chromium, offline (device_panel.js).

The page is served from the build (every request elsewhere aborted). The tests press its
buttons as a reader would, with a small timing plan (1 warm-up run, 2 rounds of 1 run), and
check what it shows against Python: the page's logits for a bundled photo against Python's
ONNX Runtime on the same file, its noise rule and verdict sentences against
``mbcourse.measure.within_noise`` / ``round_spread`` and ``mbcourse.studies.on_device``, the
copied table against the table on the page. Unreadable files must end in a message, never a
spinner; multi-threaded WebAssembly must be offered where the page is cross-origin isolated.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import statistics
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from book_browser import HTML, TIMEOUT_MS, book_pages, keep_offline, missing

PAGE = "book/11_on_your_device.html"
STATIC = HTML / "_static" / "device-panel"
SMALL_PLAN = {"warmup": "1", "rounds": "2", "runs_per_round": "1"}
RUN_TIMEOUT_MS = 600_000  # 18 models on a loaded 2-core machine
IDLE_JS = "(sel) => document.querySelector(sel).getAttribute('aria-busy') === 'false'"
HEAVY = ("/_static/device-panel/models/", "/_static/vendor/onnxruntime-web/",
         "/_static/device-panel/categories.json")


@dataclass
class Tab:
    """One page in a fresh browser context, with what it requested and reported."""

    page: Any
    origin: str
    requests: list[str] = field(default_factory=list)
    offsite: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def heavy(self) -> list[str]:
        return [r for r in self.requests if any(h in r for h in HEAVY)]


@pytest.fixture(autouse=True)
def _needs_the_page() -> None:
    """Skip (or fail, with MBCOURSE_REQUIRE_BROWSER=1) when the build has no panel page."""
    if PAGE not in book_pages():
        missing(f"no {PAGE} in the build at {HTML}: build the book first (README)")


def _manifest() -> dict[str, Any]:
    return json.loads((STATIC / "manifest.json").read_text(encoding="utf-8"))


@contextlib.contextmanager
def _open(browser: Any, origin: str, theme: str = "light") -> Iterator[Tab]:
    context = browser.new_context(viewport={"width": 1280, "height": 900}, color_scheme=theme)
    context.set_default_timeout(TIMEOUT_MS)
    with contextlib.suppress(Exception):  # file:// has no permissions to grant
        context.grant_permissions(["clipboard-read", "clipboard-write"], origin=origin)
    tab = Tab(context.new_page(), origin)
    keep_offline(context, origin, tab.offsite)
    tab.page.on("request", lambda r: tab.requests.append(r.url))
    tab.page.on("pageerror", lambda err: tab.errors.append(f"uncaught: {err}"))
    tab.page.on("console", lambda m: tab.errors.append(f"console.error: {m.text}")
                if m.type == "error" else None)
    try:
        tab.page.goto(f"{origin}/{PAGE}", wait_until="load")
        yield tab
    finally:
        context.close()


def _ready(tab: Tab) -> None:
    tab.page.wait_for_selector(".mbc-device-panel[data-ready=true]")
    tab.page.wait_for_selector(".mbc-device-classify[data-ready=true]")


def _run(tab: Tab, backend: str = "wasm", only: list[str] | None = None) -> dict[str, Any]:
    """Press Run with the small plan (``only``: the boxes to leave checked); the results."""
    page = tab.page
    _ready(tab)
    for key, value in SMALL_PLAN.items():
        page.fill(f'[name="mbc-dp-{key}"]', value)
    page.select_option('[name="mbc-dp-backend"]', backend)
    if only is not None:
        for box in page.query_selector_all('[name="mbc-dp-model"]'):
            box.set_checked(box.get_attribute("value") in only)
    page.click(".mbc-dp-run")
    page.wait_for_function(IDLE_JS, arg=".mbc-device-panel", timeout=RUN_TIMEOUT_MS)
    message = page.locator(".mbc-device-panel .mbc-dp-message")
    assert message.is_hidden(), f"the run failed: {message.inner_text()}"
    return page.evaluate("() => window.mbcDevicePanel.results")


def _classify(tab: Tab, photo: str = "chelsea", precision: str = "fp32") -> dict[str, Any]:
    page = tab.page
    _ready(tab)
    page.check(f'[name="mbc-dp-photo"][value="{photo}"]')
    page.select_option('[name="mbc-dp-precision"]', precision)
    page.click(".mbc-dp-classify")
    page.wait_for_function(IDLE_JS, arg=".mbc-device-classify", timeout=RUN_TIMEOUT_MS)
    message = page.locator(".mbc-device-classify .mbc-dp-message")
    assert message.is_hidden(), f"classification failed: {message.inner_text()}"
    return page.evaluate("() => window.mbcDevicePanel.lastClassification")


def _table(tab: Tab, selector: str) -> list[list[str]]:
    return tab.page.eval_on_selector_all(
        f"{selector} tbody tr",
        "rows => rows.map((r) => Array.from(r.cells).map((c) => c.textContent))")


@pytest.fixture(scope="module")
def ran(browser: Any, server: str) -> Iterator[tuple[Tab, dict[str, Any]]]:
    """The page after one Run of every model on the wasm backend (small plan) and Copy."""
    with _open(browser, server) as tab:
        _ready(tab)
        before = tab.heavy()
        results = _run(tab)
        tab.page.click(".mbc-dp-copy")
        tab.page.wait_for_function(
            "() => /Copied|copy it by hand/.test(document.querySelector("
            "'.mbc-device-panel .mbc-dp-status').textContent)")
        results["_before_run"] = before
        results["_clipboard"] = tab.page.evaluate("() => navigator.clipboard.readText()")
        results["_textarea"] = tab.page.input_value(".mbc-dp-copy-text")
        results["_verdicts"] = tab.page.eval_on_selector_all(
            ".mbc-dp-verdict p", "ps => ps.map((p) => p.textContent)")
        results["_rows"] = _table(tab, ".mbc-dp-results")
        results["_comparisons"] = _table(tab, ".mbc-dp-comparisons")
        yield tab, results


# ------------------------------------------------------------------------------ the build


def test_build_serves_every_file_the_manifest_lists(book_html: Path) -> None:
    manifest = _manifest()
    entries = [f for n in manifest["networks"] for f in n["files"].values()]
    entries += [f for s in manifest["stages"] for f in s["files"].values()]
    entries += [*manifest["photos"], manifest["classifier"]["categories"]]
    for entry in entries:
        data = (STATIC / entry["file"]).read_bytes()
        assert len(data) == entry["bytes"], entry["file"]
        assert hashlib.sha256(data).hexdigest() == entry["sha256"], entry["file"]
    assert [n["id"] for n in manifest["networks"]] == [
        "mobilenet_v2", "efficientnet_b0", "efficientnet_lite0"]
    assert all(set(n["files"]) == {"fp32", "int8"} for n in manifest["networks"])
    assert [s["stage"] for s in manifest["stages"]] == [1, 2, 3, 4, 5, 6]
    assert all(set(s["files"]) == {"MBConv", "Fused-MBConv"} for s in manifest["stages"])
    classifier = next(n for n in manifest["networks"] if n["id"] == "efficientnet_lite0")
    assert not any(f["compact"] for f in classifier["files"].values())  # weights as they are
    for name in ("ort.wasm.min.mjs", "ort-wasm-simd-threaded.wasm", "ort.jspi.min.mjs"):
        assert (HTML / "_static" / "vendor" / "onnxruntime-web" / name).is_file(), name


def test_onnx_runtime_web_is_the_locked_version(book_html: Path) -> None:
    from book_browser import ROOT

    lock = json.loads((ROOT / "package-lock.json").read_text(encoding="utf-8"))
    version = lock["packages"]["node_modules/onnxruntime-web"]["version"]
    package = json.loads((ROOT / "package.json").read_text(encoding="utf-8"))
    assert package["dependencies"]["onnxruntime-web"] == version  # pinned exactly
    runtime = HTML / "_static" / "vendor" / "onnxruntime-web" / "ort.wasm.min.mjs"
    assert f'"{version}"' in runtime.read_text(encoding="utf-8", errors="replace")


# -------------------------------------------------------------------------- before any Run


def test_nothing_heavy_is_loaded_before_run(browser: Any, server: str) -> None:
    with _open(browser, server) as tab:
        _ready(tab)
        tab.page.wait_for_timeout(500)
        assert tab.heavy() == []
        assert tab.errors == [] and tab.offsite == []
        note = tab.page.inner_text(".mbc-dp-backend-note")
        assert "not cross-origin isolated" in note and "single-threaded" in note
        options = tab.page.eval_on_selector_all(
            '[name="mbc-dp-backend"] option', "os => os.map((o) => o.value)")
        assert options[0] == "wasm" and "wasm-threads" not in options
        device = tab.page.inner_text(".mbc-dp-device")
        assert "Chrom" in device and "logical cores" in device


def test_on_paper_only_a_note_shows(browser: Any, server: str) -> None:
    """The book's PDF prints this page: no controls and no build-machine "device" on paper."""
    with _open(browser, server) as tab:
        _ready(tab)
        tab.page.emulate_media(media="print")
        for part in (".mbc-device-panel", ".mbc-device-classify"):
            shown = tab.page.locator(f"{part} > *:visible")
            assert shown.count() == 1, part
            assert shown.first.inner_text().startswith("On paper this panel cannot run")
        tab.page.emulate_media(media="screen")
        assert tab.page.locator(".mbc-dp-print:visible").count() == 0


def test_opened_from_disk_it_says_why_it_cannot_run(browser: Any, book_html: Path) -> None:
    with _open(browser, book_html.as_uri()) as tab:
        tab.page.wait_for_function(
            "() => !document.querySelector('.mbc-device-panel .mbc-dp-message').hidden")
        assert "python -m http.server" in tab.page.inner_text(".mbc-device-panel .mbc-dp-message")
        assert tab.page.is_disabled(".mbc-dp-run") and tab.page.is_disabled(".mbc-dp-classify")
        assert tab.errors == [] and tab.offsite == []


# ------------------------------------------------------------------------------- the Run


def test_run_fills_the_table_for_every_model_on_wasm(ran: tuple[Tab, dict[str, Any]]) -> None:
    tab, results = ran
    manifest = _manifest()
    expected = 2 * len(manifest["networks"]) + 2 * len(manifest["stages"])
    assert results["_before_run"] == []
    assert len(results["rows"]) == len(results["_rows"]) == expected
    for row, cells in zip(results["rows"], results["_rows"], strict=True):
        assert row["backend"] == cells[5] == "wasm-simd, 1 thread"
        assert row["n"] == 2 and len(row["rounds_ms"]) == 2 and cells[4] == "2"
        assert row["median_ms"] > 0 and row["q1_ms"] <= row["q3_ms"]
        assert row["median_ms"] == pytest.approx(statistics.median(row["rounds_ms"]))
        assert cells[2] != "" and "–" in cells[3]
    loaded = {r.split("/models/")[-1] for r in tab.requests if "/models/" in r}
    assert len(loaded) == expected  # every file, each fetched once
    assert tab.errors == [] and tab.offsite == []


def test_verdicts_follow_the_books_noise_rule(ran: tuple[Tab, dict[str, Any]]) -> None:
    from mbcourse.measure import within_noise
    from mbcourse.studies.on_device import fusion_verdict, int8_verdict

    _, results = ran
    rows = {r["id"]: r for r in results["rows"]}
    stages, nets = [], []
    for c, cells in zip(results["comparisons"], results["_comparisons"], strict=True):
        if c["kind"] == "stage":
            a, b = rows[f"stage{c['stage']}-MBConv"], rows[f"stage{c['stage']}-Fused-MBConv"]
            stages.append({"stage": c["stage"], "ratio": c["ratio"], "spread": c["spread"]})
        else:
            net = next(n for n in _manifest()["networks"] if n["title"] == c["network"])
            a, b = rows[f"{net['id']}-fp32"], rows[f"{net['id']}-int8"]
            nets.append({"title": c["network"], "ratio": c["ratio"], "spread": c["spread"]})
        assert c["ratio"] == pytest.approx(b["median_ms"] / a["median_ms"])
        spreads = [max(r["rounds_ms"]) / min(r["rounds_ms"]) - 1 for r in (a, b)]
        assert c["spread"] == pytest.approx(max(spreads))
        assert cells[1] == f"{c['ratio']:.2f}"
        noisy = within_noise(c["ratio"], c["spread"])
        assert (cells[3] == "within the noise") == noisy
        if not noisy:
            assert cells[3].endswith("faster" if c["ratio"] < 1 else "slower")
    assert len(stages) == 6 and len(nets) == 3
    where = results["where"]
    assert "wasm-simd, 1 thread" in where and "batch 1" in where
    assert results["_verdicts"] == results["verdicts"] == [
        fusion_verdict(stages, where), int8_verdict(nets, where)]


def test_copy_results_gives_the_table(ran: tuple[Tab, dict[str, Any]]) -> None:
    _, results = ran
    text = results["_clipboard"]
    assert text == results["_textarea"]
    lines = text.splitlines()
    table = [line for line in lines if line.startswith("| ")]
    body = [[c.strip() for c in line.strip("|").split("|")] for line in table]
    assert body[0] == ["model", "variant", "median ms", "IQR ms", "runs", "backend"]
    assert body[2:2 + len(results["_rows"])] == results["_rows"]
    assert [b for b in body if len(b) == 4][2:] == results["_comparisons"]
    assert any(line.startswith("device: ") and "logical cores" in line for line in lines)
    assert any(line.startswith("backend: ONNX Runtime Web 1.") for line in lines)
    for verdict in results["verdicts"]:
        assert verdict in lines


def test_the_filled_panel_passes_axe(ran: tuple[Tab, dict[str, Any]], server: str) -> None:
    from page_views import BLOCKING, axe_report, axe_violations

    tab, _ = ran
    # The theme switches in this open page: no CSS transitions, so axe sees the colours at rest
    # (not a button half-way through fading into the dark theme).
    tab.page.add_style_tag(content="*, *::before, *::after { transition: none !important; "
                                   "animation: none !important; }")
    for theme in ("light", "dark"):
        tab.page.emulate_media(color_scheme=theme)
        tab.page.wait_for_function(
            "(t) => document.documentElement.dataset.theme === t", arg=theme)
        violations = axe_violations(tab.page, server)
        blocking = [v for v in violations if v["impact"] in BLOCKING]
        assert not blocking, f"{theme} theme, after a run:\n{axe_report(blocking)}"


# ------------------------------------------------------------------------- classification


def _python_logits(photo: str, precision: str) -> np.ndarray:
    from PIL import Image

    from mbcourse.deploy import ort_session
    from mbcourse.studies.on_device import normalise

    classifier = _manifest()["classifier"]
    pixels = np.asarray(Image.open(STATIC / "photos" / f"{photo}.png").convert("RGB"))
    x = normalise(pixels, classifier["mean"], classifier["std"])
    model = STATIC / "models" / f"{classifier['network']}-{precision}.onnx"
    session = ort_session(model, threads=1)
    return session.run(None, {session.get_inputs()[0].name: x})[0][0]


def test_page_logits_equal_python_onnx_runtime(browser: Any, server: str) -> None:
    with _open(browser, server) as tab:
        int8 = _classify(tab, "chelsea", "int8")
        fp32 = _classify(tab, "chelsea", "fp32")
        top5 = _table(tab, ".mbc-dp-top5")
        assert tab.errors == [] and tab.offsite == []
    want = _python_logits("chelsea", "fp32")
    got = np.asarray(fp32["logits"], dtype=np.float64)
    assert got.shape == want.shape == (1000,)
    assert np.abs(got - want).max() <= 1e-4
    want8 = _python_logits("chelsea", "int8")
    assert int(np.argmax(int8["logits"])) == int(np.argmax(want8))
    # The table shows the page's own five most probable classes, with their softmax.
    names = json.loads((STATIC / "categories.json").read_text(encoding="utf-8"))
    probs = np.exp(got - got.max()) / np.exp(got - got.max()).sum()
    order = np.argsort(-probs, kind="stable")[:5]
    assert [t["index"] for t in fp32["top5"]] == order.tolist()
    assert [row[1] for row in top5] == [names[i] for i in order]
    assert [row[2] for row in top5] == [f"{100 * probs[i]:.1f} %" for i in order]


def _png(width: int, height: int) -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("L", (width, height)).save(out, format="PNG")
    return out.getvalue()


def _jpeg(width: int, height: int) -> bytes:
    from PIL import Image

    out = io.BytesIO()
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (height, width, 3), dtype=np.uint8)).save(
        out, format="JPEG")
    return out.getvalue()


UNREADABLE = {
    "text renamed .jpg": ({"name": "notes.jpg", "mimeType": "image/jpeg",
                           "buffer": b"These are my notes, not a photo.\n"},
                          "could not be read as an image"),
    "0 bytes": ({"name": "empty.jpg", "mimeType": "image/jpeg", "buffer": b""},
                "is empty (0 bytes)"),
    "50 megapixels": ({"name": "huge.png", "mimeType": "image/png", "buffer": None},
                      "50.0 megapixels"),
}


def test_unreadable_files_get_a_clear_message(browser: Any, server: str) -> None:
    with _open(browser, server) as tab:
        _ready(tab)
        page = tab.page
        for case, (payload, expected) in UNREADABLE.items():
            if payload["buffer"] is None:
                payload = {**payload, "buffer": _png(10_000, 5_000)}
            page.set_input_files('.mbc-device-classify input[type="file"]', files=[payload])
            assert page.is_checked('[name="mbc-dp-photo"][value="file"]')
            page.click(".mbc-dp-classify")
            page.wait_for_function(IDLE_JS, arg=".mbc-device-classify", timeout=60_000)
            message = page.locator(".mbc-device-classify .mbc-dp-message")
            assert message.is_visible(), case
            assert expected in message.inner_text(), f"{case}: {message.inner_text()!r}"
            assert payload["name"] in message.inner_text(), case
            assert page.inner_text(".mbc-device-classify .mbc-dp-status") == "", case
            assert page.is_hidden(".mbc-dp-top5"), case
            assert page.is_enabled(".mbc-dp-classify"), case
        page.set_input_files('.mbc-device-classify input[type="file"]', files=[
            {"name": "mine.jpg", "mimeType": "image/jpeg", "buffer": _jpeg(640, 427)}])
        page.click(".mbc-dp-classify")
        page.wait_for_function(IDLE_JS, arg=".mbc-device-classify", timeout=RUN_TIMEOUT_MS)
        assert page.is_hidden(".mbc-device-classify .mbc-dp-message")
        assert len(_table(tab, ".mbc-dp-top5")) == 5
        assert "mine.jpg" in page.inner_text(".mbc-dp-top5 caption")
        assert tab.errors == [] and tab.offsite == []


def test_a_bad_timing_plan_gets_a_message(browser: Any, server: str) -> None:
    with _open(browser, server) as tab:
        _ready(tab)
        tab.page.fill('[name="mbc-dp-rounds"]', "1")
        tab.page.click(".mbc-dp-run")
        message = tab.page.locator(".mbc-device-panel .mbc-dp-message")
        message.wait_for(state="visible")
        assert "Rounds must be a whole number from 2 to 20" in message.inner_text()
        assert tab.heavy() == [] and tab.errors == []


# --------------------------------------------------------------------- cross-origin isolated


@pytest.fixture(scope="module")
def isolated_server(book_html: Path) -> Iterator[str]:
    from book_browser import serve
    from book_chromium import ISOLATION_HEADERS

    with serve(book_html, headers=ISOLATION_HEADERS) as origin:
        yield origin


def test_threads_where_the_page_is_cross_origin_isolated(
    browser: Any, isolated_server: str
) -> None:
    with _open(browser, isolated_server) as tab:
        _ready(tab)
        assert tab.page.evaluate("() => self.crossOriginIsolated") is True
        assert "multi-threaded WebAssembly is offered" in tab.page.inner_text(
            ".mbc-dp-backend-note")
        cores = tab.page.evaluate("() => navigator.hardwareConcurrency")
        results = _run(tab, "wasm-threads", only=["net:mobilenet_v2"])
        assert [r["backend"] for r in results["rows"]] == [f"wasm-simd, {cores} threads"] * 2
        assert "(cross-origin isolated)" in tab.page.input_value(".mbc-dp-copy-text")
        assert tab.errors == [] and tab.offsite == []


# ------------------------------------------------------------- the rules, JavaScript = Python

RATIOS = [0.5, 0.8, 0.9, 1 / 1.1, 0.95, 1.0, 1.04, 1.05, 1.1, 1.1000001, 1.25, 2.0, 3.7]
SPREADS = [0.0, 0.01, 0.05, 0.1, 0.25, 0.5]


def test_noise_rule_is_the_books(browser: Any, server: str) -> None:
    from mbcourse.measure import round_spread, within_noise

    @dataclass
    class Timing:
        times_ms: tuple[float, ...]

    rounds = [[1.0, 1.2, 0.9], [5.0, 5.5], [2.0, 2.0, 2.0, 2.1]]
    with _open(browser, server) as tab:
        _ready(tab)
        got = tab.page.evaluate(
            "([rs, ss]) => rs.map((r) => ss.map((s) => window.mbcDevicePanel.withinNoise(r, s)))",
            [RATIOS, SPREADS])
        spread = tab.page.evaluate("(rs) => window.mbcDevicePanel.roundSpread(...rs)", rounds)
    assert got == [[within_noise(r, s) for s in SPREADS] for r in RATIOS]
    assert spread == pytest.approx(round_spread(*(Timing(tuple(r)) for r in rounds)))


VERDICT_CASES = [
    [0.5, 0.7, 0.8, 1.01, 1.5, 2.0],
    [0.5] * 6,
    [2.0] * 6,
    [1.02] * 6,
    [0.5, 2.0, 0.5, 2.0, 1.0, 0.7],
    [1.3, 0.6],
    [0.6],
    [0.5, 0.5, 0.5, 1.0, 0.5, 0.5],
]


def test_verdict_sentences_are_the_pythons(browser: Any, server: str) -> None:
    from mbcourse.studies.on_device import fusion_verdict, int8_verdict, stage_list

    where = "Chromium 156, Linux, ONNX Runtime Web wasm-simd, 1 thread, batch 1"
    titles = ["MobileNetV2", "EfficientNet-B0", "EfficientNet-Lite0", "A", "B", "C"]
    with _open(browser, server) as tab:
        _ready(tab)
        for ratios in VERDICT_CASES:
            stages = [{"stage": i + 1, "ratio": r, "spread": 0.1} for i, r in enumerate(ratios)]
            nets = [{"title": titles[i], "ratio": r, "spread": 0.1} for i, r in enumerate(ratios)]
            js = tab.page.evaluate(
                "([s, n, w]) => [window.mbcDevicePanel.fusionVerdict(s, w), "
                "window.mbcDevicePanel.int8Verdict(n, w)]", [stages, nets, where])
            assert js == [fusion_verdict(stages, where), int8_verdict(nets, where)], ratios
        for stages in ([3], [1, 2], [1, 2, 3], [2, 4, 5], [6, 5, 4, 3], [1, 2, 3, 5, 6],
                       [1, 3, 4, 5]):
            js = tab.page.evaluate("(s) => window.mbcDevicePanel.stageList(s)", stages)
            assert js == stage_list(stages)
