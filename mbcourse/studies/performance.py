"""Speed experiments: MBConv against Fused-MBConv, and what inference optimisations buy.

Everything here reports *ratios* of latencies measured side by side, in the same process, with
:func:`mbcourse.measure.compare_latency` (interleaved rounds, robust to a busy machine).
Absolute milliseconds describe only the machine that produced them.

* :func:`fusion_sweep` times a stride-1 MBConv and a Fused-MBConv of the same width ``C`` and
  expansion across input resolutions and widths, beside their multiply-adds from
  :mod:`mbcourse.costs`: where does one regular k x k conv beat 1x1 + depthwise?
* :func:`optimization_ratios` times a network as it is and with channels-last, BatchNorm folding
  (:func:`mbcourse.inference.fold_batchnorm`), mixed precision (CUDA) and ``torch.compile``.
* :func:`load_gpu_results` / :func:`save_results` read and write the measurements that
  ``benchmarks/gpu_sweep.py`` makes on a GPU (``book/data/gpu_results.json``).
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import platform
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .. import costs
from ..blocks import FusedMBConv, MBConv
from ..inference import Autocast, fold_batchnorm, optimize_for_inference
from ..measure.timing import compare_latency
from ..runtime import describe_device, pick_device

__all__ = [
    "GPU_RESULTS_KEYS",
    "block_pair",
    "environment",
    "fusion_sweep",
    "load_gpu_results",
    "optimization_ratios",
    "plot_ratio_grid",
    "plot_speedups",
    "save_results",
]

GPU_RESULTS_KEYS = ("device", "device_type", "torch", "date", "fusion_sweep", "optimizations")


def block_pair(
    channels: int, expand_ratio: float = 4, kernel_size: int = 3
) -> dict[str, nn.Module]:
    """A stride-1 ``MBConv`` (without SE) and a ``FusedMBConv`` from ``channels`` to
    ``channels``: the two ways of computing an expanded k x k stage block."""
    return {
        "MBConv": MBConv(channels, channels, 1, expand_ratio, kernel_size, se_ratio=0.0),
        "Fused-MBConv": FusedMBConv(channels, channels, 1, expand_ratio, kernel_size),
    }


def fusion_sweep(
    resolutions: Sequence[int],
    widths: Sequence[int],
    *,
    batch_size: int = 1,
    expand_ratio: float = 4,
    device: torch.device | str | None = None,
    channels_last: bool = True,
    dtype: torch.dtype | None = None,
    rounds: int = 3,
    min_run_time: float = 0.02,
    num_threads: int | None = None,
) -> list[dict[str, Any]]:
    """Latency of MBConv vs Fused-MBConv for every ``(resolution, width)`` pair.

    Each row: ``resolution``, ``width``, ``mbconv_ms``, ``fused_ms`` (median over ``rounds``),
    ``ratio`` (``fused_ms / mbconv_ms``: below 1, fusing pays), ``mac_ratio`` and
    ``param_ratio`` (fused / MBConv, from :mod:`mbcourse.costs`). ``dtype`` (CUDA) runs both
    under autocast; ``channels_last`` puts the weights in that memory format.
    Taught in chapter 8 (book/08_performance.ipynb).
    """
    device = pick_device() if device is None else torch.device(device)
    rows = []
    for width in widths:
        for resolution in resolutions:
            modules = block_pair(width, expand_ratio)
            for name, module in modules.items():
                if channels_last:
                    module.to(memory_format=torch.channels_last)
                if dtype is not None:
                    modules[name] = Autocast(module, dtype)
            timed = compare_latency(
                modules, (batch_size, width, resolution, resolution), device=device,
                rounds=rounds, min_run_time=min_run_time, num_threads=num_threads,
            )
            mb_cost = costs.mbconv(width, width, resolution, 1, expand_ratio, se_ratio=0.0)
            fused_cost = costs.fused_mbconv(width, width, resolution, 1, expand_ratio)
            mb_ms, fused_ms = timed["MBConv"].median_ms, timed["Fused-MBConv"].median_ms
            rows.append({
                "resolution": resolution, "width": width, "batch_size": batch_size,
                "mbconv_ms": mb_ms, "fused_ms": fused_ms, "ratio": fused_ms / mb_ms,
                "mac_ratio": fused_cost.macs / mb_cost.macs,
                "param_ratio": fused_cost.params / mb_cost.params,
            })
    return rows


def optimization_ratios(
    model: nn.Module,
    input_shape: Sequence[int],
    *,
    device: torch.device | str | None = None,
    amp: bool = False,
    compile: bool = False,
    rounds: int = 3,
    min_run_time: float = 0.05,
    num_threads: int | None = None,
) -> dict[str, dict[str, float]]:
    """Latency of ``model`` as it is and with each inference optimisation, as ratios.

    Variants: ``eager`` (float32, default layout), ``channels_last``, ``bn_folded``
    (:func:`~mbcourse.inference.fold_batchnorm`), ``bn_folded+channels_last``
    (:func:`~mbcourse.inference.optimize_for_inference`); with ``amp``
    (CUDA) ``amp`` and ``amp+channels_last`` (bfloat16 where supported, else float16); with
    ``compile`` ``compiled`` (:func:`~mbcourse.inference.optimize_for_inference` with
    ``compile=True``: folded, channels-last, TorchInductor). Returns
    ``{variant: {"median_ms": ..., "speedup": eager / variant}}``. Calibrate a freshly built
    model's BatchNorm first (:func:`~mbcourse.inference.calibrate_batchnorm`).
    Taught in chapter 8 (book/08_performance.ipynb).
    """
    device = pick_device() if device is None else torch.device(device)
    base = model.eval().to(device)
    variants: dict[str, nn.Module] = {
        "eager": base,
        "channels_last": _channels_last_copy(base),
        "bn_folded": fold_batchnorm(base),
        "bn_folded+channels_last": optimize_for_inference(base),
    }
    if amp:
        if device.type != "cuda":
            raise ValueError(f"optimization_ratios: amp=True needs a CUDA device, got {device}")
        dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        variants["amp"] = Autocast(base, dtype)
        variants["amp+channels_last"] = Autocast(variants["channels_last"], dtype)
    if compile:
        variants["compiled"] = optimize_for_inference(base, compile=True)
    timed = compare_latency(variants, tuple(input_shape), device=device, rounds=rounds,
                            min_run_time=min_run_time, num_threads=num_threads)
    eager_ms = timed["eager"].median_ms
    return {
        name: {"median_ms": t.median_ms, "speedup": eager_ms / t.median_ms}
        for name, t in timed.items()
    }


def _channels_last_copy(model: nn.Module) -> nn.Module:
    import copy

    return copy.deepcopy(model).to(memory_format=torch.channels_last)


# --------------------------------------------------------------------------------------------
# Stored GPU measurements
# --------------------------------------------------------------------------------------------
def environment(device: torch.device | str | None = None) -> dict[str, Any]:
    """Where a measurement was made: device name and type, torch/CUDA/cuDNN versions, date."""
    device = pick_device() if device is None else torch.device(device)
    info: dict[str, Any] = {
        "device": describe_device(device),
        "device_type": device.type,
        "torch": torch.__version__,
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "python": platform.python_version(),
    }
    if device.type == "cuda":
        info["cuda"] = torch.version.cuda
        info["cudnn"] = torch.backends.cudnn.version()
        info["gpu_name"] = torch.cuda.get_device_name(device)
    return info


def save_results(path: str | Path, results: Mapping[str, Any]) -> Path:
    """Write measurement ``results`` (with :data:`GPU_RESULTS_KEYS`) as indented JSON."""
    missing = [key for key in GPU_RESULTS_KEYS if key not in results]
    if missing:
        raise ValueError(f"save_results: results lack {missing}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2) + "\n")
    return path


def load_gpu_results(path: str | Path) -> dict[str, Any] | None:
    """The measurements stored at ``path``, or ``None`` if there is no such file.

    A file that exists must hold every key of :data:`GPU_RESULTS_KEYS` and have been measured
    on a CUDA device (``device_type == "cuda"``); otherwise a ``ValueError`` says what is wrong,
    so that CPU dry runs or hand-made numbers are never shown as GPU results.
    """
    path = Path(path)
    if not path.is_file():
        return None
    try:
        results = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise ValueError(f"load_gpu_results: {path} is not valid JSON ({error})") from error
    if not isinstance(results, dict):
        raise ValueError(f"load_gpu_results: {path} must hold a JSON object")
    missing = [key for key in GPU_RESULTS_KEYS if key not in results]
    if missing:
        raise ValueError(f"load_gpu_results: {path} lacks {missing}")
    if results["device_type"] != "cuda":
        raise ValueError(
            f"load_gpu_results: {path} was measured on {results['device_type']!r}, not on a "
            "CUDA device; run benchmarks/gpu_sweep.py on a GPU"
        )
    return results


# --------------------------------------------------------------------------------------------
# Plots
# --------------------------------------------------------------------------------------------
def _grid(rows: Sequence[Mapping[str, Any]], key: str) -> tuple[list[int], list[int], Any]:
    import numpy as np

    widths = sorted({int(r["width"]) for r in rows})
    resolutions = sorted({int(r["resolution"]) for r in rows})
    grid = np.full((len(widths), len(resolutions)), np.nan)
    for r in rows:
        grid[widths.index(int(r["width"])), resolutions.index(int(r["resolution"]))] = r[key]
    return widths, resolutions, grid


def plot_ratio_grid(
    rows: Sequence[Mapping[str, Any]],
    key: str = "ratio",
    *,
    ax: Any = None,
    title: str = "",
    label: str = "Fused-MBConv / MBConv latency",
    bound: float | None = None,
) -> Any:
    """Heat map of ``rows[key]`` over width (rows) x resolution (columns), log colour scale
    from ``1 / bound`` to ``bound`` (default: the data's extreme), centred on 1 (blue: below 1,
    fusing pays; red: above), each cell annotated."""
    import matplotlib.pyplot as plt
    from matplotlib.colors import LogNorm
    from matplotlib.ticker import NullFormatter

    widths, resolutions, grid = _grid(rows, key)
    if ax is None:
        _, ax = plt.subplots(figsize=(5.5, 4))
    if bound is None:
        logs = [abs(math.log(v)) for v in grid.flat if v > 0]
        bound = math.exp(max([*logs, 0.1]))  # symmetric around 1 on a log scale
    image = ax.imshow(grid, cmap="coolwarm", norm=LogNorm(vmin=1 / bound, vmax=bound),
                      origin="lower", aspect="auto")
    for i in range(len(widths)):
        for j in range(len(resolutions)):
            ax.text(j, i, f"{grid[i, j]:.2f}", ha="center", va="center", fontsize=9)
    ax.set_xticks(range(len(resolutions)), [f"{r}×{r}" for r in resolutions])
    ax.set_yticks(range(len(widths)), [str(w) for w in widths])
    ax.set(xlabel="input resolution (pixels)", ylabel="block width C (channels)", title=title)
    bar = ax.figure.colorbar(image, ax=ax, label=label)
    ticks = [t for t in (0.125, 0.25, 0.5, 1, 2, 4, 8) if 1 / bound <= t <= bound]
    bar.set_ticks(ticks, labels=[f"{t:g}" for t in ticks])
    bar.ax.yaxis.set_minor_formatter(NullFormatter())
    return ax


def plot_speedups(
    optimizations: Sequence[Mapping[str, Any]], *, ax: Any = None, title: str = ""
) -> Any:
    """Grouped bars: speed-up over eager float32 (``speedup``) per ``variant`` and ``model``."""
    import matplotlib.pyplot as plt

    models = list(dict.fromkeys(str(o["model"]) for o in optimizations))
    variants = list(dict.fromkeys(str(o["variant"]) for o in optimizations))
    if ax is None:
        _, ax = plt.subplots(figsize=(9, 3.8))
    width = 0.8 / len(models)
    for k, model in enumerate(models):
        values = {str(o["variant"]): float(o["speedup"]) for o in optimizations
                  if o["model"] == model}
        xs = [i + (k - (len(models) - 1) / 2) * width for i in range(len(variants))]
        ax.bar(xs, [values.get(v, float("nan")) for v in variants], width, label=model)
    ax.axhline(1.0, color="black", linewidth=0.8)
    ax.set_xticks(range(len(variants)), variants, rotation=20)
    ax.set(xlabel="variant", ylabel="speed-up over eager float32 (×)", title=title)
    ax.legend()
    return ax
