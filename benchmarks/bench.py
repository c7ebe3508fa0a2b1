"""Speed of mbcourse's networks against torchvision's, measured side by side in one process.

    python benchmarks/bench.py                       # CPU, mobilenet_v2 and efficientnet_b0
    python benchmarks/bench.py --device cuda --models mobilenet_v2 efficientnet_b0 efficientnet_v2_s
    python benchmarks/bench.py --no-compile --rounds 9 --threads 1
    python benchmarks/bench.py --threads 1 --clock cpu   # a machine shared with other work

Both networks get the same weights: torchvision's randomly initialised model, its BatchNorm
statistics first calibrated on a few random batches (so activations have realistic magnitudes
and no denormal floats), copied into ours with ``load_torchvision_weights``. Each case is timed
with ``torch.utils.benchmark.Timer.blocked_autorange`` in interleaved rounds (ours, theirs,
ours, theirs, ...), so a busy patch of the machine hits both alike; the table gives the median
over rounds of each round's median, and the ratio ours / torchvision (< 1: ours is faster),
plus the ratio of the fastest blocks of runs over all rounds (the least disturbed when other
work shares the machine: on a loaded machine, read that column).

Cases (the reference is always torchvision's model, run the same way unless said otherwise):

* ``eager inference``: both in eval mode under ``torch.inference_mode``, NCHW input.
* ``eager, no input checks``: ours with :func:`mbcourse.blocks.check_input` patched out, against
  ours with the checks: what the blocks' argument checks cost.
* ``folded + channels_last``: ``optimize_for_inference(ours)`` against torchvision *eager*.
* ``+ torch.compile``: ``optimize_for_inference(ours, compile=True)`` against torchvision eager
  (``--compile-torchvision`` adds torchvision compiled the same way, channels_last, as a row).
* ``training step``: forward, cross-entropy, backward, SGD step, train mode, ``--train-batch``.
* CUDA only: ``bf16 AMP + channels_last`` inference and training step, both models alike.

This is a benchmark, not a test: nothing here asserts a speed.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import datetime
import logging
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import torch
import torchvision
from torch import nn

import mbcourse.blocks
from mbcourse.inference import optimize_for_inference
from mbcourse.models import get_model, load_torchvision_weights
from mbcourse.runtime import describe_device

logging.getLogger("torch.utils.cpp_extension").setLevel(logging.ERROR)
from torch.utils import benchmark  # noqa: E402  (after silencing its CUDA_HOME warning)

Step = Callable[[], object]


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


CLOCKS: dict[str, Callable[[], float]] = {
    "wall": time.perf_counter,  # torch.utils.benchmark's default
    "cpu": time.process_time,  # CPU time of this process: all its threads, not other processes
}


def _measure_ms(
    step: Step, threads: int, min_run_time: float, clock: str = "wall"
) -> tuple[float, float]:
    """``(median, fastest)`` block time of one ``blocked_autorange``, in ms."""
    timer = benchmark.Timer(
        stmt="step()", globals={"step": step}, num_threads=threads, timer=CLOCKS[clock]
    )
    m = timer.blocked_autorange(min_run_time=min_run_time)
    return m.median * 1e3, min(m.times) * 1e3


def side_by_side(
    ours: Step,
    ref: Step,
    *,
    rounds: int,
    threads: int,
    min_run_time: float,
    clock: str = "wall",
    warmup: int = 3,
) -> tuple[list[tuple[float, float]], list[tuple[float, float]]]:
    """Each step's ``(median, fastest)`` block time (ms) in each of ``rounds`` interleaved
    rounds (the order alternates: ours first, then theirs first, ...)."""
    for _ in range(warmup):
        ours()
        ref()
    a: list[tuple[float, float]] = []
    b: list[tuple[float, float]] = []
    for i in range(rounds):
        pair = [(ours, a), (ref, b)] if i % 2 == 0 else [(ref, b), (ours, a)]
        for step, times in pair:
            times.append(_measure_ms(step, threads, min_run_time, clock))
    return a, b


def _autocast(device: torch.device, amp: bool) -> contextlib.AbstractContextManager[object]:
    return torch.autocast(device.type, dtype=torch.bfloat16) if amp else contextlib.nullcontext()


def inference_step(model: nn.Module, x: torch.Tensor, device: torch.device,
                   amp: bool = False) -> Step:
    def step() -> None:
        with torch.inference_mode(), _autocast(device, amp):
            model(x)
        _sync(device)

    return step


def training_step(model: nn.Module, x: torch.Tensor, y: torch.Tensor, device: torch.device,
                  amp: bool = False) -> Step:
    opt = torch.optim.SGD(model.parameters(), lr=1e-4, momentum=0.9)
    loss_fn = nn.CrossEntropyLoss()

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        with _autocast(device, amp):
            loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        _sync(device)

    return step


@contextlib.contextmanager
def no_input_checks() -> Iterator[None]:
    """Patch :func:`mbcourse.blocks.check_input` out (the blocks look it up at call time)."""
    saved = mbcourse.blocks.check_input
    mbcourse.blocks.check_input = lambda *args, **kwargs: None
    try:
        yield
    finally:
        mbcourse.blocks.check_input = saved


def calibrated_pair(name: str, size: int, device: torch.device) -> tuple[nn.Module, nn.Module]:
    """torchvision's model with calibrated BatchNorm statistics, and ours with its weights."""
    torch.manual_seed(0)
    ref = getattr(torchvision.models, name)()
    ref.train()
    with torch.no_grad():
        for _ in range(3):
            ref(torch.randn(4, 3, size, size))
    ours = load_torchvision_weights(get_model(name), ref)
    return ours.to(device).eval(), ref.to(device).eval()


def bench_model(name: str, args: argparse.Namespace, device: torch.device) -> list[Row]:
    threads = args.threads or torch.get_num_threads()
    timing = {"rounds": args.rounds, "threads": threads, "min_run_time": args.min_run_time,
              "clock": args.clock}
    ours, ref = calibrated_pair(name, args.size, device)
    x = torch.randn(args.batch, 3, args.size, args.size, device=device)
    with torch.inference_mode():
        err = (ours(x) - ref(x)).abs().max().item()
    print(f"  {name}: same weights, max |ours - torchvision| = {err:.2e}", flush=True)
    rows: list[Row] = []

    def add(case: str, ours_step: Step, ref_step: Step, ref_name: str = "torchvision") -> None:
        a, b = side_by_side(ours_step, ref_step, **timing)
        row = Row(
            name, case,
            statistics.median(m for m, _ in a), statistics.median(m for m, _ in b), ref_name,
            min(f for _, f in a), min(f for _, f in b),
        )
        rows.append(row)
        print(f"    {case:<34} {row.ours_ms:9.2f} {row.ref_ms:9.2f}  {row.ratio:5.2f}"
              f"   (fastest {row.ours_best_ms:8.2f} {row.ref_best_ms:8.2f}  "
              f"{row.best_ratio:5.2f})", flush=True)

    ref_eager = inference_step(ref, x, device)
    ours_eager = inference_step(ours, x, device)
    add("eager inference", ours_eager, ref_eager)

    def unchecked() -> None:
        with no_input_checks():
            ours_eager()

    add("eager, no input checks", unchecked, ours_eager, "ours, checks on")

    fast = optimize_for_inference(ours)
    with torch.inference_mode():
        err = (fast(x) - ref(x)).abs().max().item()
    print(f"    optimized: max |fast - torchvision| = {err:.2e}", flush=True)
    add("folded + channels_last", inference_step(fast, x, device), ref_eager)

    if not args.no_compile:
        compiled = optimize_for_inference(ours, compile=True)
        step = inference_step(compiled, x, device)
        step()  # compile outside the timer
        add("folded + channels_last + compile", step, ref_eager)
        if args.compile_torchvision:
            tv_compiled = optimize_for_inference(ref, compile=True)
            tv_step = inference_step(tv_compiled, x, device)
            tv_step()
            add("  same, torchvision also optimized", step, tv_step, "torchvision optimized")

    xt = torch.randn(args.train_batch, 3, args.size, args.size, device=device)
    yt = torch.randint(0, 1000, (args.train_batch,), device=device)
    ours_t, ref_t = copy.deepcopy(ours).train(), copy.deepcopy(ref).train()
    add(f"training step (batch {args.train_batch})",
        training_step(ours_t, xt, yt, device), training_step(ref_t, xt, yt, device))

    if device.type == "cuda":
        cl = torch.channels_last
        ours_cl = copy.deepcopy(ours).to(memory_format=cl)
        ref_cl = copy.deepcopy(ref).to(memory_format=cl)
        x_cl = x.contiguous(memory_format=cl)
        add("bf16 AMP + channels_last inference",
            inference_step(ours_cl, x_cl, device, amp=True),
            inference_step(ref_cl, x_cl, device, amp=True))
        xt_cl = xt.contiguous(memory_format=cl)
        add(f"bf16 AMP + channels_last training ({args.train_batch})",
            training_step(ours_cl.train(), xt_cl, yt, device, amp=True),
            training_step(ref_cl.train(), xt_cl, yt, device, amp=True))
    return rows


def main(argv: list[str] | None = None) -> list[Row]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    parser.add_argument("--models", nargs="+", default=["mobilenet_v2", "efficientnet_b0"])
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
    if cuda:
        torch.backends.cudnn.benchmark = True

    load = os.getloadavg() if hasattr(os, "getloadavg") else (float("nan"),) * 3
    print(f"date: {datetime.datetime.now().isoformat(timespec='seconds')}")
    print(f"device: {describe_device(device)}; torch {torch.__version__}, "
          f"torchvision {torchvision.__version__}, Python {platform.python_version()}")
    print(f"CPU cores: {os.cpu_count()}, torch threads: {torch.get_num_threads()}, "
          f"load average before: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    print(f"input {args.batch}x3x{args.size}x{args.size} (training batch {args.train_batch}), "
          f"{args.rounds} rounds x blocked_autorange(min_run_time={args.min_run_time}), "
          f"{args.clock} clock")
    print(f"    {'case':<34} {'ours ms':>9} {'ref ms':>9}  ratio")
    rows: list[Row] = []
    for name in args.models:
        rows.extend(bench_model(name, args, device))

    load = os.getloadavg() if hasattr(os, "getloadavg") else (float("nan"),) * 3
    print(f"\nload average after: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}\n")
    print("| model | case | reference | ours / ref (median) | ours / ref (fastest) "
          "| ours median (ms) | ref median (ms) | ours fastest (ms) | ref fastest (ms) |")
    print("|---|---|---|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r.model} | {r.case.strip()} | {r.ref_name} | {r.ratio:.2f} | "
              f"{r.best_ratio:.2f} | {r.ours_ms:.2f} | {r.ref_ms:.2f} | {r.ours_best_ms:.2f} | "
              f"{r.ref_best_ms:.2f} |")
    return rows


if __name__ == "__main__":
    main(sys.argv[1:])
