"""Chapter 6 (book/06_whole_networks.ipynb): three whole networks, counted, tabled and drawn.

The chapter builds MobileNetV2, EfficientNet-B0 and EfficientNetV2-S from their papers' tables
and measures them with :mod:`mbcourse.measure`. This module holds what the chapter's cells
would otherwise do by hand:

* the **published numbers** the measurements are compared with (:data:`PUBLISHED`,
  :data:`EFFICIENTNET_TABLE_2`), quoted from torchvision's model documentation and the papers;
* **tables that read like the papers'** (:func:`architecture_table`, :func:`markdown_table`,
  :func:`scaling_table`, :func:`phi_table`, :func:`blocks_table`, ...), returned as Markdown;
* the chapter's **plots** (:func:`plot_parameters_per_stage`, :func:`plot_shares`,
  :func:`plot_memory`), drawn to the book's figure policy (:mod:`mbcourse.display`);
* the **studies** behind the prose: :func:`compound_scaling` (B0 to B7 in closed form),
  :func:`block_comparison` (the four blocks at the same widths), :func:`expansion_counts`,
  :func:`elementwise_outputs`, and :func:`fold_facts` with :func:`speed_verdict` for the timing;
* :func:`facts`, every number of the prose as one record (:class:`Ch6Facts`), glued in one
  hidden cell with ``glue_facts("ch6", facts())``; ``tests/test_studies_ch06.py`` checks it
  against the papers and against the package's own counts.

Everything static is counted on PyTorch's ``meta`` device (shapes only), so :func:`facts`
takes a few seconds on a CPU.
"""

from __future__ import annotations

import copy
import math
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

import torch
from IPython.display import Markdown
from torch import nn

from .. import costs, measure
from ..blocks import FusedMBConv, MBConv, SqueezeExcitation
from ..inference import fold_batchnorm
from ..introspect import eval_mode, trace_calls
from ..measure import ActivationMemory, FlopCount, Latency, ParamRow
from ..models import (
    EFFICIENTNET_B0_TABLE,
    EFFICIENTNET_COMPOUND_SCALING,
    EFFICIENTNET_V2_S_TABLE,
    HeadRow,
    NetworkConfig,
    StageRow,
    StemRow,
    TableRow,
    efficientnet_b0,
    efficientnet_config,
    efficientnet_v2_s,
    mobilenet_v2,
    mobilenet_v2_table,
)
from ..runtime import describe_device

__all__ = [
    "BLOCK_WIDTHS",
    "COLORS",
    "COMPOUND_COEFFICIENTS",
    "EFFICIENTNET_TABLE_2",
    "NETWORKS",
    "PUBLISHED",
    "BlockRow",
    "Ch6Facts",
    "FoldFacts",
    "Published",
    "ScalingRow",
    "architecture_table",
    "block_comparison",
    "blocks_table",
    "compound_scaling",
    "elementwise_outputs",
    "expansion_counts",
    "facts",
    "fold_facts",
    "markdown_table",
    "memory_table",
    "network_macs",
    "operations_table",
    "parameter_table",
    "phi_table",
    "plot_memory",
    "plot_parameters_per_stage",
    "plot_shares",
    "row_label",
    "scaling_table",
    "speed_verdict",
]

#: The chapter's three networks, by the name the chapter prints, and their builders.
NETWORKS: dict[str, Callable[..., nn.Module]] = {
    "MobileNetV2": mobilenet_v2,
    "EfficientNet-B0": efficientnet_b0,
    "EfficientNetV2-S": efficientnet_v2_s,
}

#: One colour per network in the chapter's figures.
COLORS: dict[str, str] = {
    "MobileNetV2": "#3182bd",
    "EfficientNet-B0": "#e6550d",
    "EfficientNetV2-S": "#31a354",
}


@dataclass(frozen=True)
class Published:
    """What torchvision's model documentation and a paper print for one network.

    ``torchvision_params``: the exact count; ``paper_params``: the paper's rounded one.
    ``size``: the evaluation resolution of torchvision's weights, at which ``torchvision_gmacs``
    (its "GFLOPS" column, multiply-adds in G) and the paper's ``paper_gmacs`` are quoted;
    ``paper_text``: the paper's number as it prints it.
    """

    torchvision_params: int
    paper_params: float
    size: int
    torchvision_gmacs: float
    paper_gmacs: float
    paper_text: str


#: MobileNetV2: Table 4 of Sandler et al. (3.4M, 300M MAdds); EfficientNet-B0: Table 2 of
#: Tan & Le 2019 (5.3M, 0.39B FLOPs); EfficientNetV2-S: Tan & Le 2021's ImageNet results (22M,
#: 8.8B FLOPs). The exact counts and "GFLOPS" are torchvision's model documentation.
PUBLISHED: dict[str, Published] = {
    "MobileNetV2": Published(3_504_872, 3.4e6, 224, 0.301, 0.300, "300M MAdds"),
    "EfficientNet-B0": Published(5_288_548, 5.3e6, 224, 0.386, 0.39, "0.39B FLOPs"),
    "EfficientNetV2-S": Published(21_458_488, 22e6, 384, 8.366, 8.8, "8.8B FLOPs"),
}

#: EfficientNet's Table 2 (and Sec. 4 for the resolutions): variant -> (input resolution,
#: parameters in millions, "FLOPs" in billions, which are multiply-adds).
EFFICIENTNET_TABLE_2: dict[str, tuple[int, float, float]] = {
    "b0": (224, 5.3, 0.39), "b1": (240, 7.8, 0.70), "b2": (260, 9.2, 1.0),
    "b3": (300, 12, 1.8), "b4": (380, 19, 4.2), "b5": (456, 30, 9.9),
    "b6": (528, 43, 19), "b7": (600, 66, 37),
}  # fmt: skip

#: Compound scaling's (alpha, beta, gamma): depth, width and resolution per step of phi
#: (EfficientNet, Sec. 3.3).
COMPOUND_COEFFICIENTS: tuple[float, float, float] = (1.2, 1.1, 1.15)

_KEYS = {"MobileNetV2": "mnv2", "EfficientNet-B0": "b0", "EfficientNetV2-S": "v2s"}


# ---- tables that read like the papers' ------------------------------------------------------


def _markdown(header: Sequence[str], rows: Sequence[Sequence[object]]) -> Markdown:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join("-" if c is None else str(c) for c in row) + " |" for row in rows]
    return Markdown("\n".join(lines))


def markdown_table(lines: Sequence[Mapping[str, object]]) -> Markdown:
    """A list of dicts with the same keys (e.g. :func:`~mbcourse.models.mobilenet_v2_table`)
    as a Markdown table: the keys are the header, ``None`` prints as "-" (as the papers do)."""
    if not lines or not all(isinstance(line, Mapping) for line in lines):
        raise ValueError("markdown_table: lines must be a non-empty sequence of mappings")
    header = list(lines[0])
    return _markdown(header, [[line.get(k) for k in header] for line in lines])


def architecture_table(table: Sequence[TableRow]) -> Markdown:
    """An EfficientNet table ``(StemRow, StageRow, ..., HeadRow)`` with its paper's columns.

    Stage, operator (``"MBConv6, k5x5, SE0.25"``), then the input resolution where the table
    stores one (EfficientNet's Table 1) or else the stride (EfficientNetV2's Table 4), then
    channels and layers.
    """
    rows = list(table)
    if not rows or not all(isinstance(r, StemRow | StageRow | HeadRow) for r in rows):
        raise ValueError("architecture_table: table must hold StemRow, StageRow and HeadRow rows")
    by_resolution = all(r.resolution is not None for r in rows)
    third = "resolution" if by_resolution else "stride"
    body = [
        [r.stage, r.label,
         f"{r.resolution} × {r.resolution}" if by_resolution else r.stride,
         r.out_channels, r.layers]
        for r in rows
    ]
    return _markdown(["stage", "operator", third, "channels", "layers"], body)


def parameter_table(params: Mapping[str, int]) -> Markdown:
    """Our parameter counts beside torchvision's and the papers' (:data:`PUBLISHED`)."""
    rows = [[name, f"{n:,}", f"{PUBLISHED[name].torchvision_params:,}",
             f"{PUBLISHED[name].paper_params / 1e6:.1f}M"] for name, n in params.items()]
    return _markdown(["network", "ours", "torchvision", "paper"], rows)


def operations_table(flops: Mapping[str, FlopCount]) -> Markdown:
    """``count_flops`` results (one per network, at its :data:`PUBLISHED` size) beside
    torchvision's "GFLOPS" and the papers' numbers."""
    rows = []
    for name, result in flops.items():
        pub = PUBLISHED[name]
        rows.append([name, result.input_shape[-1], f"{result.gflops:.3f} G",
                     f"{result.gmacs:.3f} G", f"{pub.torchvision_gmacs:.3f} G", pub.paper_text])
    header = ["network", "size", "FLOPs (FlopCounterMode)", "multiply-adds", "torchvision",
              "paper"]
    return _markdown(header, rows)


def memory_table(
    memory: Mapping[str, ActivationMemory], folded: Mapping[str, ActivationMemory]
) -> Markdown:
    """Peak activation memory per network (MB), with BatchNorm folded, and the streaming bound."""
    rows = [[name, f"{m.peak_bytes / 1e6:.1f} MB", f"{folded[name].peak_bytes / 1e6:.1f} MB",
             f"{m.streaming_bytes / 1e6:.1f} MB", f"{m.peak_bytes / m.streaming_bytes:.1f}"]
            for name, m in memory.items()]
    return _markdown(["network", "eager peak", "BatchNorm folded", "streaming bound",
                      "peak / streaming"], rows)


# ---- compound scaling: B0 to B7 ------------------------------------------------------------


def network_macs(config: NetworkConfig, size: int, num_classes: int = 1000) -> int:
    """Multiply-adds of an EfficientNet built from ``config`` at ``size x size``, in closed form
    with :mod:`mbcourse.costs`, block by block: stem, MBConv / Fused-MBConv blocks, head and
    the classifier's ``Linear``."""
    cost = costs.conv_norm_act(3, config.stem_channels, config.stem_kernel, size,
                               stride=config.stem_stride)
    block_cost = {MBConv: costs.mbconv, FusedMBConv: costs.fused_mbconv}
    for row in config.stages:
        for i in range(row.layers):
            c_in, stride = (row.in_channels, row.stride) if i == 0 else (row.out_channels, 1)
            cost = cost.then(block_cost[row.block](
                c_in, row.out_channels, cost.out_size, stride=stride,
                expand_ratio=row.expand_ratio, kernel_size=row.kernel, se_ratio=row.se_ratio))
    cost = cost.then(costs.conv_norm_act(config.stages[-1].out_channels, config.head_channels,
                                         config.head_kernel, cost.out_size))
    return cost.macs + config.head_channels * num_classes


@dataclass(frozen=True)
class ScalingRow:
    """One EfficientNet variant: torchvision's width ``w`` and depth ``d``, the paper's
    resolution, our parameter count and closed-form multiply-adds there, the paper's Table 2
    (``paper_params_m`` millions, ``paper_gflops`` "B FLOPs"), and the ``phi`` each of w, d
    and r implies alone (``w = beta^phi``, ...), with ``log2_macs``: log2(MACs / B0's)."""

    model: str
    width: float
    depth: float
    resolution: int
    params: int
    macs: int
    paper_params_m: float
    paper_gflops: float
    phi_width: float
    phi_depth: float
    phi_resolution: float
    log2_macs: float

    @property
    def deviation(self) -> float:
        """Our multiply-adds against the paper's, in percent."""
        return 100 * (self.macs / (self.paper_gflops * 1e9) - 1)


@cache
def compound_scaling() -> tuple[ScalingRow, ...]:
    """B0 to B7 as the package builds them (torchvision's multipliers), at the paper's
    resolutions: parameters counted on the ``meta`` device, multiply-adds from
    :func:`network_macs`, beside EfficientNet's Table 2."""
    from .. import models

    alpha, beta, gamma = COMPOUND_COEFFICIENTS
    rows: list[ScalingRow] = []
    b0_macs = None
    for name, (width, depth, _dropout) in EFFICIENTNET_COMPOUND_SCALING.items():
        key = name.rsplit("_", 1)[-1]
        size, paper_params, paper_flops = EFFICIENTNET_TABLE_2[key]
        with torch.device("meta"):
            params = measure.count_parameters(getattr(models, name)())
        macs = network_macs(efficientnet_config(name), size)
        b0_macs = macs if b0_macs is None else b0_macs
        rows.append(ScalingRow(
            f"B{key[1:]}", width, depth, size, params, macs, paper_params, paper_flops,
            math.log(width) / math.log(beta), math.log(depth) / math.log(alpha),
            math.log(size / 224) / math.log(gamma), math.log2(macs / b0_macs),
        ))
    return tuple(rows)


def scaling_table(rows: Sequence[ScalingRow]) -> Markdown:
    """B0-B7 as EfficientNet's Table 2 lists them, ours beside the paper's."""
    body = [[r.model, r.width, r.depth, r.resolution, f"{r.params / 1e6:.1f}M",
             f"{r.paper_params_m:g}M", f"{r.macs / 1e9:.2f}B", f"{_as_printed(r.paper_gflops)}B"]
            for r in rows]
    return _markdown(["model", "w", "d", "r", "params", "paper", "multiply-adds",
                      "paper FLOPs"], body)


def _as_printed(value: float) -> str:
    """A "B FLOPs" figure with the two significant digits Table 2 prints (0.70, 1.0, 19)."""
    return f"{value:.2f}" if value < 1 else f"{value:.1f}" if value < 10 else f"{value:.0f}"


def phi_table(rows: Sequence[ScalingRow]) -> Markdown:
    """The ``phi`` that each multiplier implies alone, beside the doublings of multiply-adds."""
    body = [[r.model, f"{r.phi_width:.1f}", f"{r.phi_depth:.1f}", f"{r.phi_resolution:.1f}",
             f"{r.log2_macs:.1f}"] for r in rows]
    return _markdown(["model", "φ from w", "φ from d", "φ from r", "log₂(MACs / B0's)"], body)


# ---- the four blocks side by side ----------------------------------------------------------


@dataclass(frozen=True)
class BlockRow:
    """One block at given widths: its conv (and SE) weights as a formula (LaTeX) and as a
    number, and its parameters (weights + BatchNorm's 2 per channel) and multiply-adds from
    :mod:`mbcourse.costs`."""

    block: str
    module: str
    formula: str
    weights: int
    params: int
    macs: int


#: The widths of the chapter's side-by-side table: those of EfficientNetV2-S's third stage
#: (Fused-MBConv4, 64 channels in and out at 28 x 28 after its first block).
BLOCK_WIDTHS: dict[str, int] = {"channels": 64, "size": 28, "expand_ratio": 4, "kernel_size": 3}


def block_comparison(
    channels: int = 64, size: int = 28, expand_ratio: float = 4, kernel_size: int = 3
) -> tuple[BlockRow, ...]:
    """Depthwise separable conv, inverted residual, MBConv (SE 0.25) and Fused-MBConv, each
    from ``channels`` to ``channels`` at ``size x size``, stride 1, expansion ``expand_ratio``
    (``E = e C`` channels inside; the SE squeezes to ``S = C / 4``)."""
    c, k, e = channels, kernel_size, expand_ratio
    wide = round(c * e)
    squeeze = max(1, c // 4)
    both = {"stride": 1, "expand_ratio": e, "kernel_size": k}
    return (
        BlockRow("depthwise separable", "DepthwiseSeparableConv",
                 r"$C k^2 + C^2$", c * k * k + c * c,
                 *_cost(costs.depthwise_separable(c, c, k, size))),
        BlockRow("inverted residual", "InvertedResidual",
                 r"$2 C E + E k^2$", 2 * c * wide + wide * k * k,
                 *_cost(costs.inverted_residual(c, c, size, **both))),
        BlockRow("MBConv, SE 0.25", "MBConv",
                 r"$2 C E + E k^2 + 2 E S + S + E$",
                 2 * c * wide + wide * k * k + 2 * wide * squeeze + squeeze + wide,
                 *_cost(costs.mbconv(c, c, size, se_ratio=0.25, **both))),
        BlockRow("Fused-MBConv", "FusedMBConv",
                 r"$C E k^2 + C E$", c * wide * k * k + c * wide,
                 *_cost(costs.fused_mbconv(c, c, size, **both))),
    )


def _cost(cost: costs.Cost) -> tuple[int, int]:
    return cost.params, cost.macs


def blocks_table(rows: Sequence[BlockRow]) -> Markdown:
    """The rows of :func:`block_comparison` as one table: formula, parameters, multiply-adds."""
    return _markdown(["block", "weights", "parameters", "multiply-adds"],
                     [[r.block, r.formula, f"{r.params:,}", f"{r.macs:,}"] for r in rows])


# ---- studies behind the prose --------------------------------------------------------------


def expansion_counts(table: Sequence[TableRow]) -> Counter[tuple[str, float]]:
    """How many blocks of a table use each ``(operator, expansion ratio)``, e.g.
    ``{("MBConv", 6): 24, ...}`` for EfficientNetV2-S."""
    counts: Counter[tuple[str, float]] = Counter()
    for row in table:
        if isinstance(row, StageRow):
            counts[row.operator, row.expand_ratio] += row.layers
    return counts


def elementwise_outputs(model: nn.Module, size: int) -> int:
    """Elements written by the operations that are not multiply-adds of a convolution: every
    BatchNorm, SiLU and sigmoid output, every SE scaling and every residual addition of one
    ``size x size`` forward pass (counted on a ``meta`` copy, from shapes)."""
    meta = model if all(p.device.type == "meta" for p in model.parameters()) else (
        copy.deepcopy(model).to("meta"))
    kinds = (nn.BatchNorm2d, nn.SiLU, nn.Sigmoid, SqueezeExcitation)
    watched = [
        (name, m) for name, m in meta.named_modules()
        if isinstance(m, kinds)
        or (isinstance(m, MBConv | FusedMBConv) and m.use_residual)  # the residual adds
    ]
    with eval_mode(meta), torch.no_grad(), trace_calls(watched) as calls:
        meta(torch.empty(1, 3, size, size, device="meta"))
    return sum(math.prod(c.out_shape) for c in calls if c.out_shape is not None)


@cache
def _meta_networks() -> dict[str, nn.Module]:
    with torch.device("meta"):
        return {name: build() for name, build in NETWORKS.items()}


@cache
def _flops(name: str, size: int) -> FlopCount:
    return measure.count_flops(_meta_networks()[name], size, device="meta")


@cache
def _memory(name: str, size: int, folded: bool) -> ActivationMemory:
    net = _meta_networks()[name]
    return measure.activation_memory(fold_batchnorm(net) if folded else net, size, device="meta")


# ---- the timing ----------------------------------------------------------------------------


def speed_verdict(ratio: float, spread: float, setting: str) -> str:
    """One sentence on "the folded copy took ``ratio`` times the eager time", for every outcome:
    faster or slower beyond the timing noise (``spread``, the rounds' relative spread), or within
    it. ``setting`` names the device, engine, batch and threads."""
    if not (isinstance(ratio, int | float) and ratio > 0 and math.isfinite(ratio)):
        raise ValueError(f"speed_verdict: ratio must be a positive number, got {ratio!r}")
    noise = f"{100 * spread:.0f} %" if spread < 1 else f"factor of {1 + spread:.1f}"
    if measure.within_noise(ratio, spread):
        return (f"On this run ({setting}) the optimized copy took {ratio:.2f} times the eager "
                f"network's time, closer to 1 than the {noise} by which one network's own "
                f"rounds differed: within the timing noise, no difference this run can show.")
    if ratio < 1:
        return (f"On this run ({setting}) the optimized copy took {ratio:.2f} times the eager "
                f"network's time, beyond the {noise} by which one network's own rounds "
                f"differed: fewer operators mean fewer passes over the activations and less "
                f"per-operator overhead, which at batch 1 is much of the cost.")
    return (f"On this run ({setting}) the optimized copy took {ratio:.2f} times the eager "
            f"network's time, slower beyond the {noise} by which one network's own rounds "
            f"differed. Fewer operators should not cost time; time it again, on a quiet "
            f"machine, before drawing a conclusion.")


@dataclass(frozen=True)
class FoldFacts:
    """The chapter's BatchNorm-folding measurement: BatchNorms before folding, the largest
    output difference (printed as ``"3e-06"``), the time ratio optimized / eager (best round
    medians), the rounds' spread, the device and the verdict sentences."""

    bn_before: int
    fold_diff: str
    speed_ratio: float
    speed_spread: float
    speed_device: str
    speed_verdict: str
    speed_summary: str


def fold_facts(
    latency: Mapping[str, Latency], *, batchnorms: int, difference: float,
    device: torch.device | str,
) -> FoldFacts:
    """Read a ``compare_latency({"eager": net, "folded + channels_last": fast}, ...)`` result:
    the ratio of the best round medians, the larger of the two spreads, and the verdict."""
    if set(latency) != {"eager", "folded + channels_last"}:
        raise ValueError("fold_facts: latency must have the keys 'eager' and "
                         f"'folded + channels_last', got {sorted(latency)}")
    eager, fast = latency["eager"], latency["folded + channels_last"]
    ratio = fast.min_ms / eager.min_ms
    spread = measure.round_spread(eager, fast)
    setting = (f"{describe_device(device)}; PyTorch eager, batch {eager.batch_size}, "
               f"{len(eager.times_ms)} interleaved rounds")
    if measure.within_noise(ratio, spread):
        summary = "less memory and, in time, no difference beyond the noise on this run"
    elif ratio < 1:
        summary = "less memory and less time"
    else:
        summary = "less memory, but on this run not less time"
    return FoldFacts(batchnorms, f"{difference:.0e}", round(ratio, 2), round(spread, 3),
                     describe_device(device), speed_verdict(ratio, spread, setting), summary)


# ---- plots ---------------------------------------------------------------------------------


def row_label(stages: Sequence[str], stage: str) -> str:
    """``"stage 1"`` ... for the block rows of a network whose stage names are ``stages``,
    counted from 1 in every network (EfficientNet-B0's Table 1 calls its first block row
    stage 2, counting the stem as stage 1); other names are kept."""
    numbers = [int(s[5:]) for s in stages if s.startswith("stage")]
    if not stage.startswith("stage") or not numbers:
        return stage
    return f"stage {int(stage[5:]) - min(numbers) + 1}"


def _stage_labels(names: Sequence[str]) -> list[str]:
    return [row_label(names, n) for n in names]


def plot_parameters_per_stage(param_stages: Mapping[str, Sequence[ParamRow]]) -> Any:
    """One horizontal bar chart per network (one per row): parameters per stage, in millions."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(param_stages), 1, figsize=(6.8, 2.9 * len(param_stages)),
                             layout="constrained")
    for ax, (name, rows) in zip(axes, param_stages.items(), strict=True):
        names = [r.name for r in rows]
        ax.barh(_stage_labels(names), [r.params / 1e6 for r in rows], color=COLORS.get(name))
        ax.invert_yaxis()
        ax.set_title(f"{name}: {sum(r.params for r in rows) / 1e6:.2f} M in all")
        ax.set_xlabel("parameters (millions)")
    return fig


def plot_shares(
    param_stages: Mapping[str, Sequence[ParamRow]], flops: Mapping[str, FlopCount]
) -> Any:
    """Each stage's share of its network's parameters (light) and multiply-adds (dark), one
    network per row, the legend above the panels."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(param_stages), 1, figsize=(6.8, 3.2 * len(param_stages)),
                             layout="constrained", sharex=True)
    for ax, (name, rows) in zip(axes, param_stages.items(), strict=True):
        macs = {r.name: r.macs for r in flops[name].stages}
        names = [r.name for r in rows]
        total_params, total_macs = sum(r.params for r in rows), sum(macs.values())
        ys = range(len(names))
        ax.barh([y - 0.2 for y in ys], [100 * r.params / total_params for r in rows],
                height=0.4, color=COLORS.get(name), alpha=0.45, label="parameters")
        ax.barh([y + 0.2 for y in ys], [100 * macs[n] / total_macs for n in names],
                height=0.4, color=COLORS.get(name), label="multiply-adds")
        ax.set_yticks(list(ys), _stage_labels(names))
        ax.invert_yaxis()
        ax.set_title(f"{name} at 224 × 224")
    axes[-1].set_xlabel("share of the network (%)")
    handles = [plt.Rectangle((0, 0), 1, 1, color="0.3", alpha=0.45),
               plt.Rectangle((0, 0), 1, 1, color="0.3")]
    fig.legend(handles, ["parameters (light)", "multiply-adds (dark)"], loc="outside upper center",
               ncols=2)
    return fig


def plot_memory(
    memory: Mapping[str, ActivationMemory],
    folded: Mapping[str, ActivationMemory],
    nets: Mapping[str, nn.Module],
) -> Any:
    """Activation memory per stage (MB, log scale, plain-number ticks), one network per row:
    eager PyTorch's peak, the same with BatchNorm folded, and the streaming bound (the largest
    block input + output of the stage)."""
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter, NullFormatter

    fig, axes = plt.subplots(len(memory), 1, figsize=(6.8, 3.0 * len(memory)),
                             layout="constrained", sharey=True)
    styles = {"eager PyTorch, peak": ("#3182bd", "o", "-"),
              "eager, BatchNorm folded": ("#e6550d", "s", "--"),
              "streaming: block input + output": ("black", "^", ":")}
    for ax, (name, result) in zip(axes, memory.items(), strict=True):
        names = [r.name for r in result.stages]
        blocks = {r.name: r for r in result.blocks}
        members = dict(measure.named_stages(nets[name]))
        series = {
            "eager PyTorch, peak": [r.peak_bytes for r in result.stages],
            "eager, BatchNorm folded": [r.peak_bytes for r in folded[name].stages],
            "streaming: block input + output": [
                max(blocks[b].boundary_bytes for b, _ in members[s]) for s in names],
        }
        for label, values in series.items():
            colour, marker, line = styles[label]
            ax.plot(range(len(names)), [v / 1e6 for v in values], color=colour, marker=marker,
                    linestyle=line, label=label)
        ax.set_yscale("log")
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        ax.yaxis.set_minor_formatter(NullFormatter())
        ax.set_xticks(range(len(names)), [n.replace("stage ", "").replace("classifier", "FC")
                                          for n in _stage_labels(names)])
        ax.set_title(f"{name} at 224 × 224")
        ax.set_ylabel("MB")
    axes[-1].set_xlabel("stage (block rows from 1; FC: pooling and classifier)")
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside upper center", ncols=1)
    return fig


# ---- every number of the prose -------------------------------------------------------------


@dataclass(frozen=True)
class Ch6Facts:
    """Every number chapter 6's prose prints (glued as ``ch6_<field>``), except the timing
    (:class:`FoldFacts`) and the exercises' answers. Percentages are rounded as printed."""

    # From a table to a network
    mnv2_table_rows: int
    mnv2_blocks: int
    # Parameters
    params_mnv2: int
    params_b0: int
    params_v2s: int
    params_mnv2_m: float
    params_b0_m: float
    params_v2s_m: float
    mnv2_classifier_share: int
    mnv2_late_share: int
    mnv2_early_share: float
    # Multiply-adds: ours, torchvision's, the papers'
    gmacs_mnv2: float
    gmacs_b0: float
    gmacs_s: float
    vs_tv_mnv2: float
    vs_tv_b0: float
    vs_tv_s: float
    vs_paper_mnv2: float
    vs_paper_b0: float
    vs_paper_s: float
    abs_paper_mnv2: float
    abs_paper_b0: float
    abs_paper_s: float
    mnv2_madds_m: float
    flops_mnv2_g: float
    gmacs_v2s_224: float
    v2s_elementwise_g: float
    v2s_elementwise_gap: int
    v2s_equiv_res: int
    # Where parameters and compute sit
    b0_first3_macs: int
    b0_first3_params: float
    b0_late_params: int
    b0_late_macs: int
    v2s_fused_macs: int
    v2s_fused_params: float
    # Compound scaling
    cs_product: float
    cs_b7_params_m: float
    cs_b7_gmacs: float
    cs_b7_ratio: int
    cs_b7_log2: float
    cs_b7_phi_w: float
    cs_b7_phi_d: float
    cs_b7_phi_r: float
    cs_close_max: float
    cs_off: str
    # What EfficientNetV2 changed: the expansion ratios of its table
    v2s_blocks: int
    v2s_fused_blocks: int
    v2s_fused_e4: int
    v2s_mbconv_blocks: int
    v2s_mbconv_e4: int
    v2s_mbconv_e6: int
    v2s_e6_share: int
    v2s_e4_blocks: int
    v2s_e4_stages: str
    v2s_e6_stages: str
    b0_blocks: int
    b0_e6_blocks: int
    b0_e6_share: int
    # The four blocks side by side
    blk_channels: int
    blk_size: int
    blk_expand: int
    blk_se_params: int
    blk_se_macs: int
    blk_fused_params_ratio: float
    blk_fused_macs_ratio: float
    blk_ir_over_ds_macs: float
    # Activation memory
    table3_kb: int
    mem_mnv2: float
    mem_mnv2_folded: float
    mem_mnv2_stream: float
    mem_ratio: float
    mem_b0: float
    mem_v2s: float
    mem_v2s_384: float
    mem_peak_block: str
    mem_peak_shape: str
    mem_peak_expanded: int
    v2s_over_b0: int
    # Exercise 6.1's solution: the head's share of MobileNetV2's multiply-adds
    ex_head_share: float


def _shares(rows: Sequence[ParamRow] | Sequence[Any], attr: str, names: Sequence[str]) -> float:
    values = {r.name: getattr(r, attr) for r in rows}
    return 100 * sum(values[n] for n in names) / sum(values.values())


def _joined(items: Sequence[str]) -> str:
    """``["a"]`` -> ``"a"``; ``["a", "b", "c"]`` -> ``"a, b and c"``; ``[]`` -> ``"none"``."""
    if not items:
        return "none"
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


@cache
def facts() -> Ch6Facts:
    """Every number of chapter 6's prose, computed from the package (see :class:`Ch6Facts`)."""
    nets = _meta_networks()
    params = {name: measure.count_parameters(net) for name, net in nets.items()}
    stages = {name: measure.parameters_per_stage(net) for name, net in nets.items()}
    at_size = {name: _flops(name, pub.size) for name, pub in PUBLISHED.items()}
    at_224 = {name: _flops(name, 224) for name in NETWORKS}
    mnv2, b0, v2s = "MobileNetV2", "EfficientNet-B0", "EfficientNetV2-S"

    ops: dict[str, float] = {}
    for name, pub in PUBLISHED.items():
        key = "s" if name == v2s else _KEYS[name]
        gmacs = at_size[name].gmacs
        ops[f"gmacs_{key}"] = round(gmacs, 3)
        ops[f"vs_tv_{key}"] = abs(100 * (gmacs / pub.torchvision_gmacs - 1))
        ops[f"vs_paper_{key}"] = round(100 * (gmacs / pub.paper_gmacs - 1), 1)
        ops[f"abs_paper_{key}"] = round(abs(100 * (gmacs / pub.paper_gmacs - 1)), 1)
    gap = PUBLISHED[v2s].paper_gmacs * 1e9 - at_size[v2s].macs
    elementwise = elementwise_outputs(nets[v2s], PUBLISHED[v2s].size)

    scaling = compound_scaling()
    b7 = scaling[-1]
    off = [r for r in scaling if abs(r.deviation) > 3]
    close = [abs(r.deviation) for r in scaling if r not in off]
    alpha, beta, gamma = COMPOUND_COEFFICIENTS

    v2 = expansion_counts(EFFICIENTNET_V2_S_TABLE)
    v1 = expansion_counts(EFFICIENTNET_B0_TABLE)
    v2_mbconv = sum(n for (op, _), n in v2.items() if op == "MBConv")
    v2_fused = sum(n for (op, _), n in v2.items() if op == "Fused-MBConv")
    v2_all, v1_all = sum(v2.values()), sum(v1.values())
    v2_rows = [r for r in EFFICIENTNET_V2_S_TABLE if isinstance(r, StageRow)]

    blocks = {r.module: r for r in block_comparison(**BLOCK_WIDTHS)}

    memory = {name: _memory(name, 224, False) for name in NETWORKS}
    m = memory[mnv2]
    peak = max(m.blocks, key=lambda r: r.peak_bytes)
    first = {r.name: r for r in m.blocks}["features.1"]
    head = {r.name: r.macs for r in at_224[mnv2].stages}["head"]

    return Ch6Facts(
        mnv2_table_rows=len(mobilenet_v2_table()),
        mnv2_blocks=sum(row.layers for row in nets[mnv2].table),
        params_mnv2=params[mnv2], params_b0=params[b0], params_v2s=params[v2s],
        params_mnv2_m=round(params[mnv2] / 1e6, 1), params_b0_m=round(params[b0] / 1e6, 1),
        params_v2s_m=round(params[v2s] / 1e6, 1),
        mnv2_classifier_share=round(_shares(stages[mnv2], "params", ["classifier"])),
        mnv2_late_share=round(_shares(stages[mnv2], "params",
                                      ["stage6", "stage7", "head", "classifier"])),
        mnv2_early_share=round(_shares(stages[mnv2], "params",
                                       ["stem", "stage1", "stage2", "stage3"]), 1),
        gmacs_mnv2=ops["gmacs_mnv2"], gmacs_b0=ops["gmacs_b0"], gmacs_s=ops["gmacs_s"],
        vs_tv_mnv2=ops["vs_tv_mnv2"], vs_tv_b0=ops["vs_tv_b0"], vs_tv_s=ops["vs_tv_s"],
        vs_paper_mnv2=ops["vs_paper_mnv2"], vs_paper_b0=ops["vs_paper_b0"],
        vs_paper_s=ops["vs_paper_s"], abs_paper_mnv2=ops["abs_paper_mnv2"],
        abs_paper_b0=ops["abs_paper_b0"], abs_paper_s=ops["abs_paper_s"],
        mnv2_madds_m=round(at_224[mnv2].macs / 1e6, 1),
        flops_mnv2_g=round(at_224[mnv2].gflops, 3),
        gmacs_v2s_224=round(at_224[v2s].gmacs, 2),
        v2s_elementwise_g=round(elementwise / 1e9, 2),
        v2s_elementwise_gap=round(100 * elementwise / gap),
        v2s_equiv_res=round(PUBLISHED[v2s].size
                            * (PUBLISHED[v2s].paper_gmacs * 1e9 / at_size[v2s].macs) ** 0.5),
        b0_first3_macs=round(_shares(at_224[b0].stages, "macs", ["stem", "stage2", "stage3"])),
        b0_first3_params=round(_shares(stages[b0], "params", ["stem", "stage2", "stage3"]), 1),
        b0_late_params=round(_shares(stages[b0], "params",
                                     ["stage7", "stage8", "head", "classifier"])),
        b0_late_macs=round(_shares(at_224[b0].stages, "macs",
                                   ["stage7", "stage8", "head", "classifier"])),
        v2s_fused_macs=round(_shares(at_224[v2s].stages, "macs",
                                     ["stage1", "stage2", "stage3"])),
        v2s_fused_params=round(_shares(stages[v2s], "params",
                                       ["stage1", "stage2", "stage3"]), 1),
        cs_product=round(alpha * beta**2 * gamma**2, 2),
        cs_b7_params_m=round(b7.params / 1e6, 1), cs_b7_gmacs=round(b7.macs / 1e9, 1),
        cs_b7_ratio=round(2**b7.log2_macs), cs_b7_log2=round(b7.log2_macs, 1),
        cs_b7_phi_w=round(b7.phi_width, 1), cs_b7_phi_d=round(b7.phi_depth, 1),
        cs_b7_phi_r=round(b7.phi_resolution, 1),
        cs_close_max=round(max(close), 1),
        cs_off=_joined([f"{r.model} ({r.deviation:+.1f} %)" for r in off]),
        v2s_blocks=v2_all, v2s_fused_blocks=v2_fused, v2s_fused_e4=v2["Fused-MBConv", 4],
        v2s_mbconv_blocks=v2_mbconv, v2s_mbconv_e4=v2["MBConv", 4],
        v2s_mbconv_e6=v2["MBConv", 6], v2s_e6_share=round(100 * v2["MBConv", 6] / v2_all),
        v2s_e4_blocks=v2["Fused-MBConv", 4] + v2["MBConv", 4],
        v2s_e4_stages=_joined([str(r.stage) for r in v2_rows if r.expand_ratio == 4]),
        v2s_e6_stages=_joined([str(r.stage) for r in v2_rows if r.expand_ratio == 6]),
        b0_blocks=v1_all, b0_e6_blocks=v1["MBConv", 6],
        b0_e6_share=round(100 * v1["MBConv", 6] / v1_all),
        blk_channels=BLOCK_WIDTHS["channels"], blk_size=BLOCK_WIDTHS["size"],
        blk_expand=BLOCK_WIDTHS["expand_ratio"],
        blk_se_params=blocks["MBConv"].params - blocks["InvertedResidual"].params,
        blk_se_macs=blocks["MBConv"].macs - blocks["InvertedResidual"].macs,
        blk_fused_params_ratio=round(blocks["FusedMBConv"].params
                                     / blocks["InvertedResidual"].params, 1),
        blk_fused_macs_ratio=round(blocks["FusedMBConv"].macs / blocks["MBConv"].macs, 1),
        blk_ir_over_ds_macs=round(blocks["InvertedResidual"].macs
                                  / blocks["DepthwiseSeparableConv"].macs, 1),
        table3_kb=round(m.elements(first.output_bytes) * 2 / 1000),
        mem_mnv2=round(m.peak_bytes / 1e6, 1),
        mem_mnv2_folded=round(_memory(mnv2, 224, True).peak_bytes / 1e6, 1),
        mem_mnv2_stream=round(m.streaming_bytes / 1e6, 1),
        mem_ratio=round(m.peak_bytes / m.streaming_bytes, 1),
        mem_b0=round(memory[b0].peak_bytes / 1e6, 1),
        mem_v2s=round(memory[v2s].peak_bytes / 1e6, 1),
        mem_v2s_384=round(_memory(v2s, 384, False).peak_bytes / 1e6, 1),
        mem_peak_block=peak.name,
        mem_peak_shape="×".join(str(s) for s in peak.input_shape[1:]),
        mem_peak_expanded=m.elements(peak.largest_bytes) // (112 * 112),
        v2s_over_b0=round(params[v2s] / params[b0]),
        ex_head_share=round(100 * head / at_224[mnv2].macs, 1),
    )
