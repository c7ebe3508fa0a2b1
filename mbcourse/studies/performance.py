"""Speed experiments: MBConv against Fused-MBConv, and what inference optimisations buy.

Everything here reports *ratios* of latencies measured side by side, in the same process, with
:func:`mbcourse.measure.compare_latency` (interleaved rounds, robust to a busy machine).
Absolute milliseconds describe only the machine that produced them. Every ratio comes with the
``spread`` of its own timing rounds (:func:`mbcourse.measure.round_spread`); the plots mark the
ratios that are :func:`~mbcourse.measure.within_noise`, closer to 1 than that spread.

* :func:`fusion_sweep` times a stride-1 MBConv and a Fused-MBConv of the same width ``C`` and
  expansion across input resolutions and widths, beside their multiply-adds from
  :mod:`mbcourse.costs`: where does one regular k x k conv beat 1x1 + depthwise?
* :func:`optimization_ratios` times a network as it is and with channels-last, BatchNorm folding
  (:func:`mbcourse.inference.fold_batchnorm`), mixed precision (CUDA) and ``torch.compile``.
* :func:`machine_peaks` measures what the device can do at best on the threads in use: a large
  float32 matrix product (arithmetic) and a large copy (memory bandwidth), and their ratio,
  the *ridge point* in multiply-adds per byte.
* :func:`fusion_results` / :func:`speedup_results` turn those rows into
  :class:`~mbcourse.studies.verdicts.SpeedResult` for the sentences of
  :mod:`mbcourse.studies.verdicts`; :func:`achieved_fraction` says how far below the measured
  peak a block ran (far below: its time is per-operation overhead, not arithmetic).
* :func:`train_step_sweep` times a training step (forward and backward, mixed precision and
  channels-last or not) of MBConv against Fused-MBConv for every stage of EfficientNetV2-S at
  the feature-map sizes of the paper's training resolution (``benchmarks/gpu_sweep.py``).
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
from ..measure.timing import compare_latency, round_spread, time_interleaved, within_noise
from ..runtime import autocast, describe_device, pick_device
from .stored import read_json
from .verdicts import SpeedResult

__all__ = [
    "GPU_RESULTS_KEYS",
    "V2S_TRAIN_SIZE",
    "achieved_fraction",
    "block_pair",
    "environment",
    "fusion_results",
    "fusion_sweep",
    "load_gpu_results",
    "machine_peaks",
    "optimization_ratios",
    "plot_ratio_grid",
    "plot_speedups",
    "save_results",
    "speedup_results",
    "train_step_sweep",
    "v2s_stage_pairs",
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
    ``ratio`` (``fused_ms / mbconv_ms``: below 1, fusing pays), ``mbconv_macs`` and
    ``fused_macs`` (per image), ``mac_ratio`` and
    ``param_ratio`` (fused / MBConv, from :mod:`mbcourse.costs`), ``spread`` (the larger relative
    spread of the two blocks' round medians, :func:`~mbcourse.measure.round_spread`: a ``ratio``
    closer to 1 than that is within noise). ``dtype`` (CUDA) runs both
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
                "mbconv_macs": mb_cost.macs, "fused_macs": fused_cost.macs,
                "mac_ratio": fused_cost.macs / mb_cost.macs,
                "param_ratio": fused_cost.params / mb_cost.params,
                "spread": round_spread(timed["MBConv"], timed["Fused-MBConv"]),
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
    ``{variant: {"median_ms": ..., "speedup": eager / variant, "spread": ...}}``, where
    ``spread`` is the larger relative spread of the variant's and eager's round medians
    (:func:`~mbcourse.measure.round_spread`: a speed-up closer to 1 than that is within noise).
    Calibrate a freshly built
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
        name: {"median_ms": t.median_ms, "speedup": eager_ms / t.median_ms,
               "spread": round_spread(t, timed["eager"])}
        for name, t in timed.items()
    }


def fusion_results(rows: Sequence[Mapping[str, Any]]) -> list[SpeedResult]:
    """:func:`fusion_sweep` rows as Fused-MBConv-vs-MBConv results (``"C = 16 at 7×7"``)."""
    return [SpeedResult(f"C = {r['width']} at {r['resolution']}×{r['resolution']}",
                        float(r["ratio"]), float(r["spread"])) for r in rows]


def speedup_results(
    optimizations: Sequence[Mapping[str, Any]], variant: str
) -> list[SpeedResult]:
    """One result per model for ``variant`` (rows of :func:`optimization_ratios` with a
    ``model`` key), labelled by the model."""
    rows = [o for o in optimizations if o["variant"] == variant]
    if not rows:
        raise ValueError(f"speedup_results: no rows for variant {variant!r}")
    return [SpeedResult.from_speedup(str(o["model"]), float(o["speedup"]), float(o["spread"]))
            for o in rows]


def machine_peaks(
    *,
    device: torch.device | str | None = None,
    num_threads: int | None = None,
    rounds: int = 3,
    min_run_time: float = 0.1,
    matmul_size: int = 1024,
    copy_mib: int = 256,
) -> dict[str, Any]:
    """The device's measured ceilings on ``num_threads`` threads (CPU) or the GPU.

    ``gmacs``: multiply-adds per second (in billions) of a ``matmul_size``-square float32
    matrix product, the fastest arithmetic PyTorch offers there; ``gbytes``: bytes read plus
    written per second (in billions) by copying ``copy_mib`` MiB; ``ridge``: ``gmacs / gbytes``,
    the arithmetic intensity (multiply-adds per byte) above which an operation can be limited by
    arithmetic rather than by memory; ``spread``: the larger round spread of the two timings.
    """
    device = pick_device() if device is None else torch.device(device)
    n = matmul_size
    a, b = torch.randn(n, n, device=device), torch.randn(n, n, device=device)
    product = torch.empty(n, n, device=device)
    source = torch.randn(copy_mib * 2**18, device=device)  # float32: 4 bytes each
    target = torch.empty_like(source)
    timed = time_interleaved(
        {"matmul": lambda: torch.mm(a, b, out=product), "copy": lambda: target.copy_(source)},
        rounds=rounds, min_run_time=min_run_time, warmup=2, num_threads=num_threads,
    )
    gmacs = n**3 / (timed["matmul"].median_ms * 1e-3) / 1e9
    gbytes = 2 * source.numel() * 4 / (timed["copy"].median_ms * 1e-3) / 1e9
    threads = torch.get_num_threads() if num_threads is None else num_threads
    return {"device": describe_device(device), "device_type": device.type,
            "threads": threads if device.type == "cpu" else None,
            "gmacs": gmacs, "gbytes": gbytes, "ridge": gmacs / gbytes,
            "spread": round_spread(timed["matmul"], timed["copy"])}


def achieved_fraction(row: Mapping[str, Any], peaks: Mapping[str, Any], block: str = "mbconv"
                      ) -> float:
    """The share of the measured peak arithmetic rate (:func:`machine_peaks`) that ``block``
    (``"mbconv"`` or ``"fused"``) of a :func:`fusion_sweep` row achieved."""
    if block not in ("mbconv", "fused"):
        raise ValueError(f"achieved_fraction: block must be 'mbconv' or 'fused', got {block!r}")
    macs = float(row[f"{block}_macs"]) * int(row.get("batch_size", 1))
    rate = macs / (float(row[f"{block}_ms"]) * 1e-3) / 1e9
    return rate / float(peaks["gmacs"])


# --------------------------------------------------------------------------------------------
# Training steps of EfficientNetV2-S's stages (benchmarks/gpu_sweep.py)
# --------------------------------------------------------------------------------------------
#: EfficientNetV2-S's final training size under progressive learning (the official code,
#: google/automl efficientnetv2: train size 300, evaluation 384).
V2S_TRAIN_SIZE = 300


def v2s_stage_pairs(image_size: int = V2S_TRAIN_SIZE) -> list[dict[str, Any]]:
    """For every stage of EfficientNetV2-S: its repeated (stride-1) block as MBConv (with SE
    0.25, as in V2's MBConv stages) and as Fused-MBConv (no SE, as in V2's fused stages), with
    the stage's width, expansion and the feature-map side at ``image_size`` input."""
    from ..models.efficientnet import efficientnet_config

    config = efficientnet_config("efficientnet_v2_s")
    side = -(-image_size // config.stem_stride)
    pairs = []
    for row in config.stages:
        side = -(-side // row.stride)
        c = row.out_channels
        pairs.append({
            "stage": row.stage, "block": row.block.__name__, "channels": c,
            "expand_ratio": row.expand_ratio, "kernel": row.kernel, "resolution": side,
            "modules": {
                "MBConv": MBConv(c, c, 1, row.expand_ratio, row.kernel, se_ratio=0.25),
                "Fused-MBConv": FusedMBConv(c, c, 1, row.expand_ratio, row.kernel),
            },
        })
    return pairs


def _train_step(module: nn.Module, x: torch.Tensor, dtype: torch.dtype | None) -> Any:
    params = list(module.parameters())

    def step() -> None:
        for p in params:
            p.grad = None
        with autocast(x.device, dtype):
            out = module(x)
        out.float().square().mean().backward()

    return step


def train_step_sweep(
    *,
    image_size: int = V2S_TRAIN_SIZE,
    batch_size: int = 32,
    device: torch.device | str | None = None,
    amp_dtype: torch.dtype | None = None,
    layouts: Sequence[str] = ("contiguous", "channels_last"),
    stages: Sequence[int] | None = None,
    rounds: int = 5,
    min_run_time: float = 0.05,
    num_threads: int | None = None,
) -> list[dict[str, Any]]:
    """A training step (forward and backward of a scalar loss) of MBConv against Fused-MBConv
    for each stage of EfficientNetV2-S (:func:`v2s_stage_pairs`), in float32 and, with
    ``amp_dtype``, under that autocast, in each memory layout of ``layouts``.

    Each row: ``stage``, ``channels``, ``expand_ratio``, ``resolution``, ``batch_size``,
    ``precision``, ``layout``, ``mbconv_ms``, ``fused_ms``, ``ratio`` (fused / MBConv),
    ``spread`` (:func:`~mbcourse.measure.round_spread`), ``mac_ratio``, ``param_ratio``.
    """
    device = pick_device() if device is None else torch.device(device)
    precisions: list[tuple[str, torch.dtype | None]] = [("float32", None)]
    if amp_dtype is not None:
        precisions.append((str(amp_dtype).replace("torch.", "") + " autocast", amp_dtype))
    for layout in layouts:
        if layout not in ("contiguous", "channels_last"):
            raise ValueError(f"train_step_sweep: layouts must be 'contiguous' or "
                             f"'channels_last', got {layout!r}")
    rows = []
    for pair in v2s_stage_pairs(image_size):
        if stages is not None and pair["stage"] not in stages:
            continue
        c, side, e = pair["channels"], pair["resolution"], pair["expand_ratio"]
        mb_cost = costs.mbconv(c, c, side, 1, e, se_ratio=0.25)
        fused_cost = costs.fused_mbconv(c, c, side, 1, e)
        for layout in layouts:
            memory_format = (torch.channels_last if layout == "channels_last"
                             else torch.contiguous_format)
            x = torch.randn(batch_size, c, side, side, device=device)
            x = x.contiguous(memory_format=memory_format)
            modules = {name: m.to(device, memory_format=memory_format).train()
                       for name, m in pair["modules"].items()}
            for precision, dtype in precisions:
                steps = {name: _train_step(m, x, dtype) for name, m in modules.items()}
                timed = time_interleaved(steps, rounds=rounds, min_run_time=min_run_time,
                                         num_threads=num_threads, batch_size=batch_size)
                mb_ms = timed["MBConv"].median_ms
                fused_ms = timed["Fused-MBConv"].median_ms
                rows.append({
                    "stage": pair["stage"], "channels": c, "expand_ratio": e,
                    "resolution": side, "batch_size": batch_size, "precision": precision,
                    "layout": layout, "mbconv_ms": mb_ms, "fused_ms": fused_ms,
                    "ratio": fused_ms / mb_ms,
                    "spread": round_spread(timed["MBConv"], timed["Fused-MBConv"]),
                    "mac_ratio": fused_cost.macs / mb_cost.macs,
                    "param_ratio": fused_cost.params / mb_cost.params,
                })
    return rows


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
    results = read_json(path, "load_gpu_results")
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


#: Reference variant of :func:`optimization_ratios`: its speed-up is 1 by definition.
_REFERENCE = "eager"


def _noise_flags(
    rows: Sequence[Mapping[str, Any]], key: str, mark_noise: bool | None, func: str
) -> list[bool]:
    """Per row: is ``row[key]`` within the noise ``row["spread"]``? ``mark_noise=None`` marks
    only when ``key`` is a measured ratio and every row carries a spread (older stored
    results have none); ``True`` requires the spreads."""
    measured = key in ("ratio", "speedup")
    have = all("spread" in r for r in rows)
    if mark_noise is None:
        mark_noise = measured and have
    if not mark_noise:
        return [False] * len(rows)
    if not have:
        raise ValueError(f"{func}: mark_noise=True needs a 'spread' in every row "
                         "(fusion_sweep and optimization_ratios give one)")
    return [within_noise(float(r[key]), float(r["spread"])) for r in rows]


def _luminance(rgba: Sequence[float]) -> float:
    """Relative luminance (Rec. 709 weights) of a matplotlib colour, 0 black to 1 white."""
    red, green, blue = rgba[:3]
    return 0.2126 * red + 0.7152 * green + 0.0722 * blue


def plot_ratio_grid(
    rows: Sequence[Mapping[str, Any]],
    key: str = "ratio",
    *,
    ax: Any = None,
    title: str = "",
    label: str = "Fused-MBConv / MBConv latency",
    bound: float | None = None,
    mark_noise: bool | None = None,
) -> Any:
    """Heat map of ``rows[key]`` over width (rows) x resolution (columns), log colour scale
    from ``1 / bound`` to ``bound`` (default: the data's extreme), centred on 1 (blue: below 1,
    fusing pays; red: above), each cell annotated (white on dark cells).

    Cells whose ratio is :func:`~mbcourse.measure.within_noise` of their ``spread`` are hatched
    and the hatch is explained in a legend under the map. ``mark_noise``: ``None`` (default)
    marks when ``key`` is ``"ratio"`` and the rows carry spreads, ``False`` never, ``True``
    always (the rows must carry spreads).
    """
    import matplotlib.pyplot as plt
    from matplotlib.colors import LogNorm
    from matplotlib.patches import Patch, Rectangle
    from matplotlib.ticker import NullFormatter

    from ..viz import NOISE_LABEL

    widths, resolutions, grid = _grid(rows, key)
    flags = _noise_flags(rows, key, mark_noise, "plot_ratio_grid")
    noisy = {(widths.index(int(r["width"])), resolutions.index(int(r["resolution"])))
             for r, flag in zip(rows, flags, strict=True) if flag}
    if ax is None:
        _, ax = plt.subplots(figsize=(5.5, 4))
    if bound is None:
        logs = [abs(math.log(v)) for v in grid.flat if v > 0]
        bound = math.exp(max([*logs, 0.1]))  # symmetric around 1 on a log scale
    norm = LogNorm(vmin=1 / bound, vmax=bound)
    image = ax.imshow(grid, cmap="coolwarm", norm=norm, origin="lower", aspect="auto")
    for i in range(len(widths)):
        for j in range(len(resolutions)):
            value = grid[i, j]
            if math.isnan(value):
                continue
            fill = image.cmap(norm(value))
            ink = "white" if _luminance(fill) < 0.5 else "black"
            if (i, j) in noisy:
                ax.add_patch(Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, hatch="///",
                                       edgecolor=ink, linewidth=0, gid="within-noise"))
            box = {"boxstyle": "round,pad=0.15", "facecolor": fill, "edgecolor": "none"}
            ax.text(j, i, f"{value:.2f}", ha="center", va="center", fontsize=9, color=ink,
                    bbox=box if (i, j) in noisy else None)
    ax.set_xticks(range(len(resolutions)), [f"{r}×{r}" for r in resolutions])
    ax.set_yticks(range(len(widths)), [str(w) for w in widths])
    ax.set(xlabel="input resolution (pixels)", ylabel="block width C (channels)", title=title)
    if noisy:
        handle = Patch(facecolor="white", edgecolor="black", hatch="///",
                       label=f"{NOISE_LABEL}: {len(noisy)} of {len(rows)} cells")
        ax.legend(handles=[handle], loc="upper center", bbox_to_anchor=(0.5, -0.16),
                  fontsize=8, frameon=False)
    bar = ax.figure.colorbar(image, ax=ax, label=label)
    ticks = [t for t in (0.125, 0.25, 0.5, 1, 2, 4, 8) if 1 / bound <= t <= bound]
    bar.set_ticks(ticks, labels=[f"{t:g}" for t in ticks])
    bar.ax.yaxis.set_minor_formatter(NullFormatter())
    return ax


def plot_speedups(
    optimizations: Sequence[Mapping[str, Any]],
    *,
    ax: Any = None,
    title: str = "",
    mark_noise: bool | None = None,
) -> Any:
    """Grouped bars: speed-up over eager float32 (``speedup``) per ``variant`` and ``model``,
    eager first.

    Bars whose speed-up is :func:`~mbcourse.measure.within_noise` of their ``spread`` are
    greyed and hatched by :func:`mbcourse.viz.mark_within_noise` (eager itself never: it is
    the reference). ``mark_noise`` as in :func:`plot_ratio_grid`. The legend sits under the
    axes, so that it never covers a bar.
    """
    import matplotlib.pyplot as plt

    from ..viz import mark_within_noise

    models = list(dict.fromkeys(str(o["model"]) for o in optimizations))
    variants = list(dict.fromkeys(str(o["variant"]) for o in optimizations))
    # The reference first: the legend takes each model's colour from its first bar, which
    # is then never greyed.
    variants.sort(key=lambda v: v != _REFERENCE)
    flags = _noise_flags(optimizations, "speedup", mark_noise, "plot_speedups")
    noisy = {(str(o["model"]), str(o["variant"]))
             for o, flag in zip(optimizations, flags, strict=True)
             if flag and o["variant"] != _REFERENCE}
    if ax is None:
        _, ax = plt.subplots(figsize=(9, 3.8))
    width = 0.8 / len(models)
    bars, bar_flags = [], []
    for k, model in enumerate(models):
        values = {str(o["variant"]): float(o["speedup"]) for o in optimizations
                  if o["model"] == model}
        xs = [i + (k - (len(models) - 1) / 2) * width for i in range(len(variants))]
        bars += ax.bar(xs, [values.get(v, float("nan")) for v in variants], width, label=model)
        bar_flags += [(model, v) in noisy for v in variants]
    ax.axhline(1.0, color="black", linewidth=0.8)
    heights = [b.get_height() for b in bars if math.isfinite(b.get_height())]
    ax.set_ylim(0, 1.15 * max([*heights, 1.0]))
    ax.set_xticks(range(len(variants)), variants, rotation=20)
    ax.set(xlabel="variant", ylabel="speed-up over eager float32 (×)", title=title)
    ax.legend()
    mark_within_noise(ax, bars, bar_flags)
    # The legend goes under the axes, where it can never cover a bar.
    legend = ax.get_legend()
    labels = [t.get_text() for t in legend.get_texts()]
    ax.legend(legend.legend_handles, labels, loc="upper center", bbox_to_anchor=(0.5, -0.42),
              ncol=len(labels), frameon=False)
    return ax
