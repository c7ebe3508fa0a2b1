"""ONNX Runtime rows for the benchmark: fp32 and int8, against torchvision eager, one process.

    python benchmarks/bench_onnx.py                      # 2 threads, mobilenet_v2, efficientnet_b0
    python benchmarks/bench_onnx.py --threads 1 --rounds 9 --min-run-time 0.5
    python benchmarks/bench_onnx.py --exporter torchscript

For each network, :func:`mbcourse.deploy.onnx_benchmark_rows` times, side by side in interleaved
rounds (:func:`mbcourse.measure.compare_latency`): torchvision eager, ours eager, ours
``optimize_for_inference``, and both exported the same way (``torch.onnx.export``, dynamo
exporter by default) and run in ONNX Runtime fp32 and static int8 (QDQ, per-channel, calibrated
on random images). Ours carries torchvision's weights. "efficientnet_b0 lite" is ours with
EfficientNet-Lite's changes (:func:`mbcourse.deploy.to_lite`: ReLU6, no SE); it has no
torchvision counterpart, so its ratios are to its own eager model. Ratios are of medians
(< 1: faster); on a machine shared with other work read the "fastest" column too.

This is a benchmark, not a test: nothing here asserts a speed.
"""

from __future__ import annotations

import argparse
import datetime
import platform

import torch

from mbcourse.deploy import onnx_benchmark_rows, to_lite
from mbcourse.models import efficientnet_b0, mobilenet_v2


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--min-run-time", type=float, default=0.3)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--exporter", choices=("dynamo", "torchscript"), default="dynamo")
    parser.add_argument("--models", nargs="+", default=["mobilenet_v2", "efficientnet_b0",
                                                       "efficientnet_b0_lite"])
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    import onnxruntime
    import torchvision.models as tv

    builders = {
        "mobilenet_v2": (mobilenet_v2, tv.mobilenet_v2),
        "efficientnet_b0": (efficientnet_b0, tv.efficientnet_b0),
        "efficientnet_b0_lite": (lambda: to_lite(efficientnet_b0()), None),
    }
    print(f"# {datetime.date.today()} {platform.processor() or platform.machine()}, "
          f"torch {torch.__version__}, onnxruntime {onnxruntime.__version__}, "
          f"{args.threads} thread(s), batch 1, {args.size}x{args.size}, {args.exporter} exporter")
    print(f"{'model':<22} {'variant':<30} {'median ms':>10} {'fastest ms':>11} "
          f"{'vs tv eager':>12} {'int8/fp32':>10}")
    for name in args.models:
        rows = onnx_benchmark_rows(
            {name: builders[name]}, input_shape=(1, 3, args.size, args.size),
            threads=args.threads, rounds=args.rounds, min_run_time=args.min_run_time,
            exporter=args.exporter,
        )
        for r in rows:
            int8 = f"{r['vs_fp32']:.2f}" if r["vs_fp32"] is not None else ""
            print(f"{r['model']:<22} {r['variant']:<30} {r['median_ms']:>10.2f} "
                  f"{r['fastest_ms']:>11.2f} {r['vs_tv_eager']:>12.2f} {int8:>10}", flush=True)
        by = {r["variant"]: r for r in rows}
        if "torchvision ORT fp32" in by:
            ours, theirs = by["ours ORT fp32"], by["torchvision ORT fp32"]
            print(f"{name:<22} {'ours / torchvision, ORT fp32':<30} "
                  f"{ours['median_ms'] / theirs['median_ms']:>10.2f} "
                  f"{ours['fastest_ms'] / theirs['fastest_ms']:>11.2f}", flush=True)


if __name__ == "__main__":
    main()
