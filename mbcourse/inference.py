"""Make a trained network faster for inference, without changing what it computes.

:func:`optimize_for_inference` returns a *copy* of a model (the input model is not touched):

1. **BatchNorm folding** (:func:`fold_batchnorm`). In eval mode a BatchNorm is a fixed affine
   map per channel, ``y = gamma * (x - mean) / sqrt(var + eps) + beta``, so it can be merged into
   the convolution before it: ``W' = W * gamma / sqrt(var + eps)`` per output channel and
   ``b' = (b - mean) * gamma / sqrt(var + eps) + beta``. PyTorch's own
   :func:`torch.nn.utils.fusion.fuse_conv_bn_eval` does the arithmetic; the BatchNorm is then
   removed. Every conv + BatchNorm pair that sits next to each other inside an ``nn.Sequential``
   is folded, which covers :class:`~mbcourse.blocks.ConvNormAct` (and torchvision's
   ``Conv2dNormActivation``) and so every conv of the networks in :mod:`mbcourse.models`.
2. **channels_last** memory format (``N, H, W, C`` in memory): the layout oneDNN (CPU) and
   cuDNN (GPU tensor cores) prefer, so convolutions skip their internal reorders. The input may
   stay in the default layout: the first convolution switches it.
3. Optionally **torch.compile** (TorchInductor). On CPU it is asked to *freeze* the weights
   (``options={"freezing": True}``), which lets it pre-pack them for oneDNN and fuse each
   convolution with its activation; freezing applies when the compiled model is called under
   ``torch.no_grad()`` or ``torch.inference_mode()``. Compilation takes tens of seconds on a
   small CPU; the first call pays for it.

Outputs equal the eager model's to float rounding (the tests hold them to 1e-4). Activations
already run in place in :mod:`mbcourse.blocks` (``ReLU6(inplace=True)``, ``SiLU(inplace=True)``,
as in torchvision), so there is nothing to gain there.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

from .introspect import check_input_shape
from .runtime import autocast, pick_device
from .validation import check_bool, check_int, check_module

__all__ = [
    "Autocast",
    "calibrate_batchnorm",
    "count_batchnorms",
    "fold_batchnorm",
    "optimize_for_inference",
]


def count_batchnorms(model: nn.Module) -> int:
    """The number of BatchNorm layers (1-D, 2-D or 3-D) left in ``model``."""
    check_module("count_batchnorms", "model", model)
    return sum(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules())


def _fold_in_sequential(seq: nn.Sequential) -> int:
    """Fold each ``Conv2d, BatchNorm2d`` neighbour pair of ``seq`` in place; return the count."""
    folded = 0
    names = list(seq._modules)
    i = 0
    while i < len(names) - 1:
        conv, norm = seq._modules[names[i]], seq._modules[names[i + 1]]
        if (
            type(conv) is nn.Conv2d
            and type(norm) is nn.BatchNorm2d
            and norm.track_running_stats
            and norm.running_mean is not None
            and conv.out_channels == norm.num_features
        ):
            seq._modules[names[i]] = fuse_conv_bn_eval(conv, norm)
            del seq._modules[names[i + 1]]  # Sequential.forward iterates over _modules
            names.pop(i + 1)
            folded += 1
        i += 1
    return folded


def fold_batchnorm(model: nn.Module) -> nn.Module:
    """An eval-mode copy of ``model`` with every BatchNorm folded into the conv before it.

    Pairs are found inside ``nn.Sequential`` containers (a ``Conv2d`` directly followed by a
    ``BatchNorm2d`` that tracks running statistics): every :class:`~mbcourse.blocks.ConvNormAct`.
    The folded conv gets a bias; the BatchNorm is removed from its container, so
    ``ConvNormAct`` keeps ``conv`` (and ``act``) but no longer has a ``norm``. A BatchNorm that
    follows no conv is left as it is (see :func:`count_batchnorms`). The copy is only valid in
    eval mode: folding uses the running statistics, not the batch's.
    Taught in chapter 6 (book/06_whole_networks.ipynb).
    """
    check_module("fold_batchnorm", "model", model)
    folded = copy.deepcopy(model).eval()
    for module in list(folded.modules()):
        if isinstance(module, nn.Sequential):
            _fold_in_sequential(module)
    return folded


def optimize_for_inference(
    model: nn.Module,
    *,
    channels_last: bool = True,
    compile: bool = False,
    compile_options: dict[str, Any] | None = None,
) -> nn.Module:
    """A faster, eval-mode copy of ``model`` that computes the same function.

    ``(N, 3, H, W) -> (N, num_classes)`` for the networks of :mod:`mbcourse.models` (any
    module works). Steps: :func:`fold_batchnorm`, then ``channels_last`` weights, then (if
    ``compile``) ``torch.compile`` with ``compile_options`` (default: ``{"freezing": True}``
    on CPU, none on CUDA). Gradients are switched off on the copy's parameters. Call the result
    under ``torch.no_grad()`` or ``torch.inference_mode()``; ``model`` itself is not modified.
    Taught in chapter 6 (book/06_whole_networks.ipynb).
    """
    func = "optimize_for_inference"
    check_module(func, "model", model)
    check_bool(func, "channels_last", channels_last)
    check_bool(func, "compile", compile)
    if compile_options is not None and not isinstance(compile_options, dict):
        raise TypeError(
            f"{func}: compile_options must be a dict of TorchInductor options or None, "
            f"got {type(compile_options).__name__}"
        )
    fast = fold_batchnorm(model)
    fast.requires_grad_(False)
    if channels_last:
        fast = fast.to(memory_format=torch.channels_last)
    if not compile:
        return fast
    if compile_options is None:
        on_cpu = all(p.device.type == "cpu" for p in fast.parameters())
        compile_options = {"freezing": True} if on_cpu else {}
    return torch.compile(fast, options=compile_options or None)


@torch.no_grad()
def calibrate_batchnorm(
    model: nn.Module,
    input_shape: Sequence[int],
    *,
    batches: int = 3,
    device: torch.device | str | None = None,
) -> nn.Module:
    """Give a freshly built ``model`` realistic BatchNorm statistics; return it in eval mode.

    Runs ``batches`` random ``input_shape`` batches (e.g. ``(4, 3, 224, 224)``) in train mode
    on ``device`` (default: :func:`~mbcourse.runtime.pick_device`; the model is moved there),
    with every BatchNorm's running statistics reset and averaged over exactly these batches
    (momentum ``None``, restored afterwards). A freshly initialised network normalises with
    mean 0 and variance 1 whatever it sees, so its activations can grow or shrink block after
    block, into denormal floats that are slow on CPUs; timing or folding such a network would
    measure the wrong thing.
    Taught in chapter 6 (book/06_whole_networks.ipynb).
    """
    func = "calibrate_batchnorm"
    check_module(func, "model", model)
    shape = check_input_shape(func, model, input_shape)
    check_int(func, "batches", batches)
    device = pick_device() if device is None else torch.device(device)
    model.to(device).train()
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    momenta = [m.momentum for m in norms]
    for module in norms:
        module.reset_running_stats()
        module.momentum = None  # cumulative average over the calibration batches
    try:
        for _ in range(batches):
            model(torch.randn(shape, device=device))
    finally:
        for module, momentum in zip(norms, momenta, strict=True):
            module.momentum = momentum
    return model.eval()


class Autocast(nn.Module):
    """Run ``module`` under ``torch.autocast(dtype)`` (:func:`mbcourse.runtime.autocast`), so a
    timing or deployment path that takes modules can run it in mixed precision:
    ``(N, ...) -> module's output``."""

    def __init__(self, module: nn.Module, dtype: torch.dtype = torch.bfloat16) -> None:
        super().__init__()
        self.module = module
        self.dtype = dtype

    def forward(self, x: Tensor) -> Tensor:
        with autocast(x.device, self.dtype):
            return self.module(x)
