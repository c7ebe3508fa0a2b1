"""What training put there: chapter 10's studies of a trained EfficientNet-Lite0.

Every function works on a trained network built from :mod:`mbcourse.blocks`
(:func:`mbcourse.models.efficientnet_lite0` with ``pretrained=True``) and real photos
(:func:`mbcourse.models.imagenet.photos`):

* :func:`stage_outputs`, :func:`plot_feature_maps`: one image through the stages;
* :func:`depthwise_kernels`, :func:`plot_depthwise_kernels`: the learned k x k filters;
* :func:`projection_negatives`: how much of each linear projection's output is negative, and
  :func:`relu_in_projection`: what a ReLU there would change (MobileNetV2's linear bottleneck);
* :func:`folded_ranges`: per-channel weight ranges before and after BatchNorm folding;
* :func:`int8_variants`, :func:`stage_sensitivity`: int8 post-training quantization in ONNX
  Runtime, per-tensor against per-channel weights, one stage at a time;
* :func:`digits_for_lite`, :func:`transfer_runs`: the pretrained network fine-tuned on the
  offline digits against the same network from scratch, with equal budgets.

``python -m mbcourse.studies.trained --threads 1`` runs the heavy part
(ten seeds of transfer learning, every stage's int8 sensitivity) and writes it with its
provenance; :func:`load_results` reads it back for the chapter.
Taught in chapter 10 (book/10_trained_network.ipynb).
"""

from __future__ import annotations

import argparse
import copy
import datetime
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.figure import Figure
from torch import Tensor, nn

from ..blocks import ConvNormAct, MBConv
from ..deploy import export_onnx, logit_agreement, ort_session, quantize_int8, run_session
from ..display import FIGURE_TEXT_PT, FIGURE_WIDTH_IN
from ..inference import fold_batchnorm
from ..introspect import capture_outputs
from ..models import efficientnet_lite0
from ..models.imagenet import PREPROCESSING, normalize, photo_views, photos
from ..runtime import describe_device, seed_everything
from ..training.data import TensorLoader, load_digits
from ..training.train import evaluate, fit
from .experiments import make_nonlinear_bottleneck, t_critical

__all__ = [
    "INT8_VARIANTS",
    "RESULTS_FILE",
    "PairedDifference",
    "block_names",
    "depthwise_kernels",
    "digits_for_lite",
    "folded_ranges",
    "int8_variants",
    "kernel_statistics",
    "load_results",
    "paired_difference",
    "plot_bottleneck",
    "plot_depthwise_kernels",
    "plot_feature_maps",
    "plot_folded_ranges",
    "plot_predictions",
    "plot_stage_sensitivity",
    "plot_transfer",
    "projection_negatives",
    "recalibrate_batchnorm",
    "relu_in_projection",
    "split_views",
    "stage_outputs",
    "stage_sensitivity",
    "transfer_runs",
]

#: The stored heavy run. It ships inside the package (package data), so that the chapter finds it
#: wherever mbcourse is installed: in Colab, in the learner environment, in the book build.
RESULTS_FILE = Path(__file__).resolve().parent / "data" / "ch10_trained.json"


# ------------------------------------------------------------------------------- the stages
@torch.no_grad()
def stage_outputs(model: nn.Module, x: Tensor) -> dict[str, Tensor]:
    """``{stem, stage2, ..., head: output}`` of one forward pass of ``x`` ``(N, 3, H, W)``."""
    with capture_outputs(model.stage_modules().items()) as outputs:
        model.eval()(x)
    return {name: out.clone() for name, out in outputs.items()}


def plot_feature_maps(outputs: dict[str, Tensor], image: np.ndarray, *, channels: int = 4
                      ) -> Figure:
    """The photo (top row), then one row per stage: its ``channels`` most active maps of the
    first image (largest mean activation), the stage's resolution and width at the left.
    The column's width (6.8 in), text at 12 pt (the book's figure policy)."""
    names = list(outputs)
    fig, axes = plt.subplots(len(names) + 1, channels,
                             figsize=(FIGURE_WIDTH_IN, 1.05 * (len(names) + 1) + 0.2),
                             squeeze=False)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
        for spine in ax.spines.values():
            spine.set_visible(False)
    axes[0, 0].imshow(image, cmap="gray" if image.ndim == 2 else None)
    axes[0, 0].set_ylabel("input", fontsize=FIGURE_TEXT_PT, rotation=0, ha="right",
                          va="center")
    for ax in axes[0, 1:]:
        ax.set_axis_off()
    for i, name in enumerate(names, start=1):
        maps = outputs[name][0]
        strongest = maps.mean((1, 2)).argsort(descending=True)[:channels]
        for j, c in enumerate(strongest.tolist()):
            axes[i, j].imshow(maps[c].numpy(), cmap="magma")
        axes[i, 0].set_ylabel(f"{name}\n{maps.shape[-1]}², {maps.shape[0]} ch",
                              fontsize=FIGURE_TEXT_PT, rotation=0, ha="right", va="center")
    fig.tight_layout(pad=0.3)
    return fig


# ------------------------------------------------------------------------ depthwise filters
def block_names(model: nn.Module) -> list[str]:
    """The names of the model's MBConv blocks, in order (``features.1.0``, ...)."""
    return [name for name, m in model.named_modules() if isinstance(m, MBConv)]


def depthwise_kernels(model: nn.Module) -> dict[str, Tensor]:
    """``{block name: (C, k, k)}`` the learned depthwise filters of every MBConv block."""
    return {name: block.depthwise.conv.weight.detach()[:, 0].clone()
            for name, block in model.named_modules() if isinstance(block, MBConv)}


def plot_depthwise_kernels(kernels: dict[str, Tensor], blocks: Sequence[str], *, n: int = 12,
                           per_row: int = 6) -> Figure:
    """``n`` filters of each listed block (``per_row`` to a row, the block's name and kernel
    size at the left of its first row), each filter scaled to its own largest absolute weight
    (red positive, blue negative); the filters with the largest norm. 6.8 in wide, 12-pt text."""
    rows_per_block = math.ceil(n / per_row)
    fig, axes = plt.subplots(len(blocks) * rows_per_block, per_row, squeeze=False,
                             figsize=(FIGURE_WIDTH_IN, 0.85 * len(blocks) * rows_per_block + 0.3))
    for ax in axes.flat:
        ax.set_axis_off()
    for b, name in enumerate(blocks):
        weights = kernels[name]
        chosen = weights.flatten(1).norm(dim=1).argsort(descending=True)[:n]
        k = weights.shape[-1]
        for index, c in enumerate(chosen.tolist()):
            w = weights[c]
            ax = axes[b * rows_per_block + index // per_row, index % per_row]
            ax.set_axis_on()
            ax.imshow(w.numpy(), cmap="RdBu_r", vmin=-w.abs().max(), vmax=w.abs().max())
            ax.set_xticks([])
            ax.set_yticks([])
        axes[b * rows_per_block, 0].set_ylabel(f"{name}\n{k}×{k}", fontsize=FIGURE_TEXT_PT,
                                               rotation=0, ha="right", va="center")
    fig.tight_layout(pad=0.3)
    return fig


def kernel_statistics(model: nn.Module) -> list[dict[str, Any]]:
    """Per MBConv block's depthwise filters: kernel size, stride, channels, ``dead`` filters
    (every weight below 1e-6 in size), ``centre`` (the median share of a live filter's squared
    weight at its centre tap: ``1 / k²`` for a flat filter, 1 for one that only scales its
    channel) and ``offset_row`` / ``offset_col`` (the mean, over live filters, of the
    energy-weighted centre of the filter, in pixels from the centre tap; negative: up / left)."""
    rows = []
    for name, block in model.named_modules():
        if not isinstance(block, MBConv):
            continue
        w = block.depthwise.conv.weight.detach()[:, 0]
        k = w.shape[-1]
        energy = w.square()
        total = energy.flatten(1).sum(1)
        live = total > 1e-12
        taps = torch.arange(k, dtype=w.dtype) - k // 2
        centre = energy[live, k // 2, k // 2] / total[live]
        row = (energy.sum(2) * taps).sum(1)[live] / total[live]
        col = (energy.sum(1) * taps).sum(1)[live] / total[live]
        rows.append({"block": name, "k": k, "stride": block.stride, "channels": w.shape[0],
                     "dead": int((w.flatten(1).abs().amax(1) < 1e-6).sum()),
                     "centre": float(centre.median()), "offset_row": float(row.mean()),
                     "offset_col": float(col.mean())})
    return rows


# ----------------------------------------------------------------------- linear bottleneck
@torch.no_grad()
def projection_negatives(model: nn.Module, x: Tensor) -> list[dict[str, Any]]:
    """Per MBConv block: the fraction of its projection's outputs (before the residual add)
    that are negative on ``x``, and the share of their squared size (``energy``) that a ReLU
    there would erase. Rows ``{"block", "residual", "negative", "energy"}``."""
    blocks = [(name, block) for name, block in model.named_modules() if isinstance(block, MBConv)]
    with capture_outputs((name, block.project) for name, block in blocks) as outputs:
        model.eval()(x)
    rows: list[dict[str, Any]] = []
    for name, block in blocks:
        out = outputs[name]
        negative = out.clamp(max=0)
        rows.append({
            "block": name, "residual": block.use_residual,
            "negative": float((out < 0).float().mean()),
            "energy": float(negative.square().sum() / out.square().sum()),
        })
    return rows


def _sequence(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """The stem, every block and the head of ``model.features``, in order, with their names."""
    stem, *stages, head = model.features
    layers = [("features.0", stem)]
    for s, stage in enumerate(stages, start=1):
        layers += [(f"features.{s}.{j}", block) for j, block in enumerate(stage)]
    return [*layers, (f"features.{len(model.features) - 1}", head)]


@torch.no_grad()
def relu_in_projection(model: nn.Module, x: Tensor) -> list[dict[str, Any]]:
    """What a ReLU after each block's projection would change, one block at a time.

    For every MBConv block, a copy with ``nn.ReLU`` appended to its projection
    (:func:`~mbcourse.studies.experiments.make_nonlinear_bottleneck`, MobileNetV2's Figure 6a)
    replaces it; the inputs of the blocks before it are reused. Rows ``{"block",
    "top1_changed"`` (fraction of images whose class changes), ``"kl"`` (mean
    KL(original || changed) of the softmax), ``"p_drop"`` (mean drop of the original top
    class's probability)``}``.
    """
    model = model.eval()
    layers = _sequence(model)

    def head(h: Tensor) -> Tensor:
        return model.classifier(torch.flatten(model.avgpool(h), 1))

    inputs: list[Tensor] = []
    h = x
    for _, layer in layers:
        inputs.append(h)
        h = layer(h)
    reference = head(h)
    top = reference.argmax(1)
    p_ref = reference.softmax(1).gather(1, top[:, None])[:, 0]
    rows = []
    for i, (name, layer) in enumerate(layers):
        if not isinstance(layer, MBConv):
            continue
        changed = copy.deepcopy(layer)
        make_nonlinear_bottleneck(changed, nn.ReLU)
        h = changed(inputs[i])
        for _, later in layers[i + 1:]:
            h = later(h)
        logits = head(h)
        scores = logit_agreement(reference, logits)
        p_new = logits.softmax(1).gather(1, top[:, None])[:, 0]
        rows.append({"block": name, "top1_changed": 1 - scores["top1"], "kl": scores["kl"],
                     "p_drop": float((p_ref - p_new).mean())})
    return rows


# ------------------------------------------------------------------------ BatchNorm folding
def _kind(name: str, module: ConvNormAct) -> str:
    part = name.rsplit(".", 1)[-1]
    if part in ("expand", "depthwise", "project"):
        return part
    return "stem" if module.in_channels == 3 else "head"


def folded_ranges(model: nn.Module) -> list[dict[str, Any]]:
    """Per conv with a BatchNorm: the largest ``|w|`` of each output channel's filter before
    and after folding the BatchNorm into it (``W * gamma / sqrt(var + eps)``), as arrays, and
    their spread ``max / median`` over channels. Rows ``{"layer", "kind", "raw", "folded",
    "raw_spread", "folded_spread"}``."""
    rows = []
    for name, m in model.named_modules():
        if not (isinstance(m, ConvNormAct) and isinstance(getattr(m, "norm", None),
                                                          nn.BatchNorm2d)):
            continue
        w = m.conv.weight.detach()
        bn = m.norm
        scale = (bn.weight / torch.sqrt(bn.running_var + bn.eps)).detach()
        raw = w.flatten(1).abs().amax(1)
        folded = (w * scale.view(-1, 1, 1, 1)).flatten(1).abs().amax(1)
        rows.append({
            "layer": name, "kind": _kind(name, m), "raw": raw.numpy(),
            "folded": folded.numpy(),
            "raw_spread": float(raw.max() / raw.median()),
            "folded_spread": float(folded.max() / folded.median()),
        })
    return rows


# -------------------------------------------------------------------------------------- int8
def split_views(images: Sequence[Any], spec: str = "efficientnet_lite0",
                **views: Any) -> tuple[Tensor, Tensor]:
    """``(calibration, evaluation)`` views of the photos: every view of
    :func:`~mbcourse.models.imagenet.photo_views`, alternately to one and the other (a view
    and its mirror image land on different sides)."""
    all_views = photo_views(images, spec, **views)
    return all_views[0::2].contiguous(), all_views[1::2].contiguous()


INT8_VARIANTS: dict[str, dict[str, bool]] = {
    "per-channel": {"per_channel": True},
    "per-tensor": {"per_channel": False},
    "per-tensor depthwise only": {"per_channel": True, "depthwise_per_channel": False},
    "per-channel depthwise only": {"per_channel": False, "depthwise_per_channel": True},
}


def int8_variants(
    fp32_path: str | Path,
    calibration: Tensor,
    evaluation: Tensor,
    folder: str | Path,
    *,
    variants: Sequence[str] = ("per-channel", "per-tensor"),
    threads: int | None = None,
) -> dict[str, dict[str, Any]]:
    """Quantize ``fp32_path`` (a dynamic-batch export) once per variant of
    :data:`INT8_VARIANTS`, calibrated on ``calibration`` (one shared calibration cache), and
    score each on ``evaluation`` against fp32 (:func:`~mbcourse.deploy.logit_agreement`).
    Returns ``{variant: {"path", "top1", "kl", "max_abs"}}`` plus ``"fp32": {"logits"}``."""
    folder = Path(folder)
    reference = run_session(ort_session(fp32_path, threads=threads), evaluation)
    cache = folder / "calibration.json"
    results: dict[str, dict[str, Any]] = {"fp32": {"logits": reference}}
    for variant in variants:
        path = quantize_int8(fp32_path, calibration, folder / f"int8_{variant.replace(' ', '_')}"
                             ".onnx", calibration_cache=cache, **INT8_VARIANTS[variant])
        logits = run_session(ort_session(path, threads=threads), evaluation)
        results[variant] = {"path": path, **logit_agreement(reference, logits)}
    return results


def stage_sensitivity(
    fp32_path: str | Path,
    model: nn.Module,
    calibration: Tensor,
    evaluation: Tensor,
    folder: str | Path,
    *,
    per_channel: bool = True,
    threads: int | None = None,
) -> list[dict[str, Any]]:
    """Quantize one stage at a time (weights per channel, or per tensor; the rest of the
    network in float) and score each against fp32 on ``evaluation``. Rows ``{"stage",
    "module", "top1", "kl"}``, in network order (stem, stage2, ..., head)."""
    folder = Path(folder)
    reference = run_session(ort_session(fp32_path, threads=threads), evaluation)
    cache = folder / "calibration.json"
    rows = []
    for i, name in enumerate(model.stage_modules()):  # stem, stage2, ..., head: features.i
        module = f"features.{i}"
        path = quantize_int8(fp32_path, calibration, folder / f"int8_{name}.onnx",
                             modules=[module], calibration_cache=cache, per_channel=per_channel)
        scores = logit_agreement(reference, run_session(ort_session(path, threads=threads),
                                                        evaluation))
        rows.append({"stage": name, "module": module, "top1": scores["top1"],
                     "kl": scores["kl"]})
        path.unlink(missing_ok=True)
    return rows


# --------------------------------------------------------------------------- transfer learning
def digits_for_lite(image_size: int = 48, seed: int = 0) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """The offline digits as EfficientNet-Lite expects its input: grey replicated to RGB on
    the 0-255 scale, normalised ``(x - 127) / 128``; ``(train_x, train_y, test_x, test_y)``
    with the course's stratified split (1,438 / 359)."""
    spec = PREPROCESSING["efficientnet_lite0"]
    train, test = load_digits(image_size=image_size, channels=3, seed=seed)
    return (normalize(train.images * 255, spec.mean, spec.std), train.labels,
            normalize(test.images * 255, spec.mean, spec.std), test.labels)


def _lite_tail(model: nn.Module, classes: int) -> nn.Module:
    """The last stage, the head and a new classifier: what fine-tuning trains."""
    return nn.Sequential(model.features[-2], model.features[-1], nn.AdaptiveAvgPool2d(1),
                         nn.Flatten(), nn.Dropout(0.2), nn.Linear(1280, classes))


@torch.no_grad()
def _trunk_features(model: nn.Module, x: Tensor, batch: int = 256) -> Tensor:
    trunk = model.features[:-2].eval()
    return torch.cat([trunk(x[i:i + batch]) for i in range(0, len(x), batch)])


@dataclass(frozen=True)
class PairedDifference:
    """``a - b`` per seed: its mean, standard deviation and 95 % confidence interval
    (Student's t with ``n - 1`` degrees of freedom)."""

    mean: float
    std: float
    n: int
    low: float
    high: float

    @property
    def excludes_zero(self) -> bool:
        return self.low > 0 or self.high < 0


def paired_difference(a: Sequence[float], b: Sequence[float]) -> PairedDifference:
    """Paired (same seeds) difference ``a - b`` with a 95 % t interval."""
    if len(a) != len(b) or len(a) < 2:
        raise ValueError("paired_difference: give two equal-length sequences of >= 2 values")
    d = [x - y for x, y in zip(a, b, strict=True)]
    mean, std = statistics.fmean(d), statistics.stdev(d)
    half = t_critical(len(d) - 1) * std / math.sqrt(len(d))
    return PairedDifference(mean, std, len(d), mean - half, mean + half)


@torch.no_grad()
def recalibrate_batchnorm(model: nn.Module, x: Tensor, batch: int = 256) -> nn.Module:
    """Recompute every BatchNorm's running statistics as the plain average over ``x`` (the
    training images), everything else in eval mode; return ``model`` in eval mode.

    TensorFlow's BatchNorm momentum (EfficientNet-Lite's 0.01 here) moves the running
    statistics 1 % per step: after a few dozen steps they still describe the data the weights
    came from (or the initialisation), not the new task. "Precise BatchNorm" replaces them."""
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    momenta = [m.momentum for m in norms]
    model.eval()
    for m in norms:
        m.reset_running_stats()
        m.momentum = None
        m.train()
    try:
        for i in range(0, len(x), batch):
            model(x[i:i + batch])
    finally:
        for m, momentum in zip(norms, momenta, strict=True):
            m.momentum = momentum
    return model.eval()


def transfer_runs(
    seeds: Sequence[int] = (0, 1, 2),
    *,
    epochs: int = 4,
    image_size: int = 48,
    lr: float = 3e-3,
    batch_size: int = 128,
    arms: Sequence[str] = ("pretrained", "scratch"),
) -> dict[str, dict[str, list[float]]]:
    """Test accuracy per seed on the digits of three ways to train Lite0 for 10 classes:

    * ``"pretrained"``: ImageNet's trunk (stem to stage 7) frozen, its last stage and head
      fine-tuned with a new classifier (what transfer learning usually means);
    * ``"random features"``: the same, on the *randomly initialised* trunk (its BatchNorm
      statistics computed on the digits, so that its features are not degenerate);
    * ``"scratch"``: the whole network from its random initialisation, every layer trained.

    Equal budgets: every arm sees the same images in the same order for ``epochs`` with the
    same optimizer (AdamW), learning rate and cosine schedule
    (:func:`~mbcourse.training.train.fit`); the seed fixes the new weights and the batch order.
    After training every arm's BatchNorm statistics are recomputed on the training images
    (:func:`recalibrate_batchnorm`). Returns ``{arm: {"accuracy": [...], "accuracy_running":
    [...]}}``, the second with the running statistics training left (momentum 0.01)."""
    xtr, ytr, xte, yte = digits_for_lite(image_size)
    results: dict[str, dict[str, list[float]]] = {
        arm: {"accuracy": [], "accuracy_running": []} for arm in arms}
    pretrained = efficientnet_lite0(pretrained=True).eval() if "pretrained" in arms else None
    cached = {}
    if pretrained is not None:
        cached = {"train": _trunk_features(pretrained, xtr),
                  "test": _trunk_features(pretrained, xte)}
    for seed in seeds:
        for arm in arms:
            seed_everything(seed)
            if arm == "pretrained":
                assert pretrained is not None
                model = _lite_tail(copy.deepcopy(pretrained), 10)
                train_x, test_x = cached["train"], cached["test"]
            elif arm == "random features":
                base = efficientnet_lite0()
                recalibrate_batchnorm(base.features[:-2], xtr)
                model = _lite_tail(base, 10)
                train_x, test_x = _trunk_features(base, xtr), _trunk_features(base, xte)
            elif arm == "scratch":
                model = efficientnet_lite0(num_classes=10)
                train_x, test_x = xtr, xte
            else:
                raise ValueError(f"transfer_runs: unknown arm {arm!r}; expected 'pretrained', "
                                 "'random features' or 'scratch'")
            history = fit(model, TensorLoader(train_x, ytr, batch_size, shuffle=True, seed=seed),
                          TensorLoader(test_x, yte, 1024), epochs=epochs, device="cpu", lr=lr)
            results[arm]["accuracy_running"].append(history[-1]["test_accuracy"])
            recalibrate_batchnorm(model, train_x)
            scores = evaluate(model, TensorLoader(test_x, yte, 1024), device="cpu")
            results[arm]["accuracy"].append(scores["accuracy"])
    return results


# ------------------------------------------------------------------------------------ figures
_RESIDUAL, _PLAIN = "tab:blue", "tab:orange"


def plot_predictions(images: dict[str, np.ndarray], top: Sequence[Sequence[tuple[str, float]]],
                     *, columns: int = 3) -> Figure:
    """Each photo with its best class and probability as the title (6.8 in wide, 12 pt)."""
    rows = math.ceil(len(images) / columns)
    fig, axes = plt.subplots(rows, columns, figsize=(FIGURE_WIDTH_IN, 2.9 * rows), squeeze=False)
    for ax in axes.flat:
        ax.set_axis_off()
    for ax, (name, image), best in zip(axes.flat, images.items(), top, strict=False):
        ax.imshow(image, cmap="gray" if image.ndim == 2 else None)
        label, p = best[0]
        ax.set_title(f"{name}\n{textwrap.shorten(label, 18, placeholder='…')} ({p:.2f})",
                     fontsize=FIGURE_TEXT_PT)
    fig.tight_layout(pad=0.4)
    return fig


def plot_bottleneck(negatives: Sequence[dict[str, Any]], relu: Sequence[dict[str, Any]]
                    ) -> Figure:
    """Top: the share of each projection's outputs that is negative. Bottom: the mean KL
    divergence of the predictions when a ReLU follows that projection (log scale). Blocks
    with a shortcut in blue, without in orange. 6.8 in wide, 12-pt text."""
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(FIGURE_WIDTH_IN, 6.6), sharex=True)
    xs = range(len(negatives))
    colours = [_RESIDUAL if r["residual"] else _PLAIN for r in negatives]
    top.bar(xs, [100 * r["negative"] for r in negatives], color=colours)
    top.axhline(50, color="k", linewidth=0.8, linestyle=":")
    top.set_ylabel("outputs < 0 (%)")
    top.set_ylim(0, 100)
    bottom.bar(xs, [r["kl"] for r in relu], color=colours)
    bottom.set_yscale("log")
    bottom.set_ylabel("KL with a ReLU\n(nats)")
    bottom.set_xticks(list(xs), [str(i + 1) if i % 2 == 0 else "" for i in xs])
    bottom.set_xlabel("MBConv block")
    handles = [plt.Rectangle((0, 0), 1, 1, color=c) for c in (_PLAIN, _RESIDUAL)]
    fig.legend(handles, ["no shortcut", "shortcut"], loc="upper center", ncol=2, frameon=False)
    fig.tight_layout(rect=(0, 0, 1, 0.94))
    return fig


def plot_folded_ranges(rows: Sequence[dict[str, Any]], layers: Sequence[str]) -> Figure:
    """Per listed layer, the int8 levels each output channel would get from one per-tensor
    scale, ``127 * range_c / max_c range_c``, channels sorted; dashed before folding."""
    fig, ax = plt.subplots(figsize=(FIGURE_WIDTH_IN, 5.6))
    by_name = {r["layer"]: r for r in rows}
    for colour, layer in zip(("tab:blue", "tab:green", "tab:purple"), layers, strict=False):
        r = by_name[layer]
        for key, style in (("folded", "-"), ("raw", "--")):
            ranges = np.sort(r[key])[::-1]
            levels = 127 * ranges / ranges.max()
            ax.plot(np.linspace(0, 1, len(levels)), levels, style, color=colour,
                    label=f"{layer} ({r['kind']}){'' if key == 'folded' else ', unfolded'}")
    ax.set_yscale("log")
    ax.set_ylim(0.5, 200)  # below one level a channel's weights all round to zero
    ax.axhline(1, color="k", linewidth=0.6, linestyle=":")
    ax.set_xlabel("output channels, sorted by range (fraction)")
    ax.set_ylabel("int8 levels (per-tensor scale)")
    ax.legend(fontsize=FIGURE_TEXT_PT, ncol=1, loc="upper center", bbox_to_anchor=(0.5, -0.2),
              frameon=False)
    fig.tight_layout()
    return fig


def plot_stage_sensitivity(stages: Sequence[dict[str, Any]]) -> Figure:
    """Mean KL divergence from fp32 when only one stage is in int8 (log scale), with the
    top-1 agreement written on each bar."""
    fig, ax = plt.subplots(figsize=(FIGURE_WIDTH_IN, 4.2))
    xs = range(len(stages))
    bars = ax.bar(xs, [r["kl"] for r in stages], color="tab:purple")
    for bar, r in zip(bars, stages, strict=True):
        ax.annotate(f"{100 * r['top1']:.0f} %", (bar.get_x() + bar.get_width() / 2,
                                               bar.get_height()),
                    ha="center", va="bottom", fontsize=FIGURE_TEXT_PT, rotation=90)
    ax.set_yscale("log")
    ax.set_xticks(list(xs), [r["stage"] for r in stages], fontsize=FIGURE_TEXT_PT, rotation=45,
                  ha="right", rotation_mode="anchor")
    ax.set_ylabel("KL from fp32, nats")
    ax.margins(y=0.25)
    fig.tight_layout()
    return fig


def plot_transfer(accuracy: dict[str, Sequence[float]]) -> Figure:
    """Test accuracy of each arm, one dot per seed, the seeds joined across arms."""
    fig, ax = plt.subplots(figsize=(FIGURE_WIDTH_IN, 3.8))
    arms = list(accuracy)
    values = np.array([accuracy[a] for a in arms]) * 100
    for seed in range(values.shape[1]):
        ax.plot(range(len(arms)), values[:, seed], color="0.75", linewidth=0.8, zorder=1)
    for i, _ in enumerate(arms):
        ax.scatter([i] * values.shape[1], values[i], zorder=2)
    ax.set_xticks(range(len(arms)), arms)
    ax.set_ylabel("test accuracy (%)")
    ax.set_ylim(0, 100)
    fig.tight_layout()
    return fig


# ------------------------------------------------------------------- the heavy run, and its file
def _provenance(command: str) -> dict[str, Any]:
    """Where a run comes from: the commit (and whether the package had uncommitted changes),
    the command, the date, the machine and the versions. Taken when the run starts."""
    import onnxruntime

    root = Path(__file__).resolve().parents[2]
    try:
        commit = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], check=True,
                                capture_output=True, text=True).stdout.strip()
        dirty = bool(subprocess.run(["git", "-C", str(root), "status", "--porcelain",
                                     "mbcourse"], check=True, capture_output=True,
                                    text=True).stdout.strip())
    except (OSError, subprocess.CalledProcessError):
        commit, dirty = "unknown", True
    return {
        "commit": commit, "dirty": dirty, "command": command,
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()} {platform.processor() or ''}".strip(),
        "cpu_count": os.cpu_count(), "device": describe_device(torch.device("cpu")),
        "python": platform.python_version(), "torch": torch.__version__,
        "onnxruntime": onnxruntime.__version__, "numpy": np.__version__,
    }


def heavy_run(*, seeds: Sequence[int] = tuple(range(10)), epochs: int = 4, image_size: int = 48,
              threads: int | None = None, log: Callable[[str], None] = print) -> dict[str, Any]:
    """Everything :data:`RESULTS_FILE` holds: the transfer-learning arms over ``seeds`` and the
    int8 variants and per-stage sensitivity of the pretrained Lite0 on the photo views."""
    start = time.perf_counter()
    log(f"transfer learning: {len(seeds)} seeds x 3 arms, {epochs} epochs, {image_size}²")
    transfer = transfer_runs(seeds, epochs=epochs, image_size=image_size,
                             arms=("pretrained", "random features", "scratch"))
    log(f"  done in {time.perf_counter() - start:.0f} s: "
        + ", ".join(f"{a} {statistics.fmean(v['accuracy']):.3f}" for a, v in transfer.items()))
    model = efficientnet_lite0(pretrained=True).eval()
    calibration, evaluation = split_views(list(photos().values()))
    with tempfile.TemporaryDirectory(prefix="mbcourse_ch10_") as tmp:
        fp32 = export_onnx(fold_batchnorm(model), (1, 3, 224, 224), Path(tmp) / "lite0.onnx",
                           exporter="torchscript", dynamic_batch=True)
        variants = int8_variants(fp32, calibration, evaluation, tmp, variants=list(INT8_VARIANTS),
                                 threads=threads)
        log(f"int8 variants done at {time.perf_counter() - start:.0f} s")
        stages = {
            granularity: stage_sensitivity(fp32, model, calibration, evaluation, tmp,
                                           per_channel=granularity == "per-channel",
                                           threads=threads)
            for granularity in ("per-channel", "per-tensor")
        }
    log(f"stage sensitivity done at {time.perf_counter() - start:.0f} s")
    return {
        "transfer": {"seeds": list(seeds), "epochs": epochs, "image_size": image_size,
                     "arms": transfer},
        "int8": {
            "calibration_views": len(calibration), "evaluation_views": len(evaluation),
            "variants": {k: {m: v[m] for m in ("top1", "kl", "max_abs")}
                         for k, v in variants.items() if k != "fp32"},
            "stages": stages,
        },
        "seconds": time.perf_counter() - start,
    }


def load_results(path: str | Path = RESULTS_FILE) -> dict[str, Any]:
    """The heavy run's results (:func:`heavy_run`) with their ``provenance``."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"load_results: no results at {path}; make them with "
                                "python -m mbcourse.studies.trained --out " + str(path))
    data = json.loads(path.read_text())
    for key in ("provenance", "transfer", "int8"):
        if key not in data:
            raise ValueError(f"load_results: {path} has no {key!r} section")
    return data


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m mbcourse.studies.trained",
                                     description="Chapter 10's heavy run (writes a JSON file).")
    parser.add_argument("--out", type=Path, default=RESULTS_FILE)
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--image-size", type=int, default=48)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    command = "python -m mbcourse.studies.trained " + " ".join(sys.argv[1:] if argv is None
                                                               else argv)
    provenance = _provenance(command.strip())
    results = heavy_run(seeds=tuple(range(args.seeds)), epochs=args.epochs,
                        image_size=args.image_size, threads=args.threads)
    results["provenance"] = provenance | {"seconds": round(results.pop("seconds"), 1),
                                          "threads": torch.get_num_threads()}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=1) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
