"""ONNX Runtime Web in headless Chromium against native ONNX Runtime: same files, same run.

    python benchmarks/bench_web.py                        # MobileNetV2 and B0 fp32, 1 thread
    python benchmarks/bench_web.py --precision fp32 int8 --models mobilenet_v2 efficientnet_b0 \\
        efficientnet_lite0 --rounds 9 --runs 10
    python benchmarks/bench_web.py --json /tmp/web.json   # also write the numbers with provenance

Needs the built book (``_build/html``, or ``--html``): it times the files chapter 11's panel
serves (``_static/device-panel/models``), as a reader's browser gets them. The book is served on
127.0.0.1 and opened in headless Chromium (``_ext/book_chromium.py``, every other request
aborted); the browser side runs the panel's own code (``window.mbcDevicePanel.bench``:
WebAssembly with SIMD, one thread, the page not cross-origin isolated, as on GitHub Pages), the
native side ``onnxruntime.InferenceSession`` on the CPU with one intra-op and one inter-op
thread (``mbcourse.deploy.ort_session(threads=1)``). Both time single runs with their own clock
(``performance.now`` in the page, ``time.perf_counter`` here) around ``session.run``, input and
output copies included, in interleaved rounds (native then browser, then browser then native,
...) after warm-up runs. The browser is another process, so the package's
``measure.time_interleaved`` cannot time it; both sides use the panel's estimator instead: the
median of round medians, and the book's noise rule (``round_spread`` / ``within_noise``) on the
ratio. Chromium's main thread and ONNX Runtime's one thread share the machine with this
script's one thread; on a two-core machine that is all of it.

This is a benchmark, not a test: nothing here asserts a speed.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "_ext"))
from book_chromium import chromium_path, keep_offline, launch, serve  # noqa: E402

from mbcourse.deploy import ort_session  # noqa: E402
from mbcourse.measure import within_noise  # noqa: E402

PAGE = "book/11_on_your_device.html"


@dataclass(frozen=True)
class Rounds:
    """One engine's round medians (ms) for one file (``times_ms``, as ``round_spread`` reads)."""

    times_ms: tuple[float, ...]

    @property
    def median_ms(self) -> float:
        return statistics.median(self.times_ms)


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _chromium_version() -> str:
    path = chromium_path()
    if path is None:
        return "none"
    done = subprocess.run([path, "--version"], capture_output=True, text=True, check=False)
    return done.stdout.strip() or path


def _native_runs(session: Any, x: np.ndarray, runs: int) -> list[float]:
    name = session.get_inputs()[0].name
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        session.run(None, {name: x})
        times.append((time.perf_counter() - t0) * 1e3)
    return times


def bench(html: Path, cases: list[tuple[str, str, dict[str, Any]]], *, rounds: int, runs: int,
          warmup: int) -> list[dict[str, Any]]:
    """Time each ``(label, precision, file entry + input)`` natively and in Chromium."""
    from mbcourse.measure import round_spread

    rows = []
    with serve(html) as origin, launch() as browser:
        context = browser.new_context()
        offsite = keep_offline(context, origin)
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda err: errors.append(str(err)))
        page.goto(f"{origin}/{PAGE}", wait_until="load")
        page.wait_for_selector(".mbc-device-panel[data-ready=true]")
        for label, precision, entry in cases:
            path = html / "_static" / "device-panel" / entry["file"]
            session = ort_session(path, threads=1)
            x = np.random.default_rng(0).standard_normal(entry["input"]).astype(np.float32)
            handle = page.evaluate("([f, i]) => window.mbcDevicePanel.bench.open(f, i)",
                                   [entry["file"], entry["input"]])
            _native_runs(session, x, warmup)
            page.evaluate("([h, n]) => window.mbcDevicePanel.bench.runs(h, n)", [handle, warmup])
            native: list[float] = []
            web: list[float] = []
            for r in range(rounds):
                order = ("native", "web") if r % 2 == 0 else ("web", "native")
                for side in order:
                    if side == "native":
                        native.append(statistics.median(_native_runs(session, x, runs)))
                    else:
                        times = page.evaluate("([h, n]) => window.mbcDevicePanel.bench.runs(h, n)",
                                              [handle, runs])
                        web.append(statistics.median(times))
            page.evaluate("(h) => window.mbcDevicePanel.bench.close(h)", handle)
            a, b = Rounds(tuple(native)), Rounds(tuple(web))
            ratio, spread = b.median_ms / a.median_ms, round_spread(a, b)
            rows.append({"model": label, "precision": precision, "native_ms": a.median_ms,
                         "web_ms": b.median_ms, "ratio": ratio, "spread": spread,
                         "within_noise": within_noise(ratio, spread),
                         "native_rounds_ms": native, "web_rounds_ms": web})
            print(f"{label} {precision}: native {a.median_ms:.2f} ms, wasm-simd "
                  f"{b.median_ms:.2f} ms, ratio {ratio:.2f} (round spread {100 * spread:.0f} %)",
                  flush=True)
        context.close()
    if offsite or errors:
        raise RuntimeError(f"bench_web: offsite requests {offsite}, page errors {errors}")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--html", type=Path, default=ROOT / "_build" / "html")
    parser.add_argument("--models", nargs="+", default=["mobilenet_v2", "efficientnet_b0"])
    parser.add_argument("--precision", nargs="+", default=["fp32"], choices=["fp32", "int8"])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--runs", type=int, default=10, help="timed runs per round and engine")
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--json", type=Path, help="also write the rows and provenance here")
    args = parser.parse_args()
    manifest_path = args.html / "_static" / "device-panel" / "manifest.json"
    if not manifest_path.is_file():
        parser.error(f"no {manifest_path}: build the book first (README's book command)")
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    networks = {n["id"]: n for n in manifest["networks"]}
    unknown = [m for m in args.models if m not in networks]
    if unknown:
        parser.error(f"unknown models {unknown}; the panel has {sorted(networks)}")
    cases = [(networks[m]["title"], p, {**networks[m]["files"][p], "input": networks[m]["input"]})
             for m in args.models for p in args.precision]
    import onnxruntime

    lock = json.loads((ROOT / "package-lock.json").read_text(encoding="utf-8"))
    where = {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "cpu": _cpu_model(), "logical_cores": os.cpu_count(),
        "chromium": _chromium_version(),
        "onnxruntime_web": lock["packages"]["node_modules/onnxruntime-web"]["version"],
        "onnxruntime": onnxruntime.__version__, "python": platform.python_version(),
        "threads": 1, "batch": 1,
        "command": " ".join(["python", "benchmarks/bench_web.py", *sys.argv[1:]]),
    }
    print(f"{where['cpu']} ({where['logical_cores']} logical cores), {where['chromium']}; "
          f"ONNX Runtime Web {where['onnxruntime_web']} (WebAssembly SIMD, 1 thread) against "
          f"ONNX Runtime {where['onnxruntime']} (CPU, 1 thread), batch 1; {args.rounds} rounds "
          f"of {args.runs} runs after {args.warmup} warm-up runs", flush=True)
    rows = bench(args.html, cases, rounds=args.rounds, runs=args.runs, warmup=args.warmup)
    print()
    print("| model | precision | native ORT ms | wasm-simd ms | wasm / native | round spread |")
    print("|---|---|---:|---:|---:|---:|")
    for r in rows:
        note = " (within noise)" if r["within_noise"] else ""
        print(f"| {r['model']} | {r['precision']} | {r['native_ms']:.2f} | {r['web_ms']:.2f} | "
              f"{r['ratio']:.2f}{note} | {100 * r['spread']:.0f} % |")
    if args.json:
        args.json.write_text(json.dumps({"where": where, "rows": rows}, indent=1) + "\n")
        print(f"\nwrote {args.json}")


if __name__ == "__main__":
    main()
