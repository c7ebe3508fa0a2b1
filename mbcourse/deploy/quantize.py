"""Post-training static int8 quantization with ONNX Runtime's own tools.

:func:`quantize_int8` takes an fp32 ``.onnx`` file and a few calibration images and writes an
int8 model in the QDQ format: a ``QuantizeLinear``/``DequantizeLinear`` pair around each
quantized operator. Weights become signed int8, *per output channel* (one scale per filter)
or *per tensor* (one scale for the whole weight; ``per_channel=False``), and the depthwise
convolutions can be set apart (``depthwise_per_channel``), since their folded filters differ
most in range; activations become unsigned int8 per tensor, with ranges from the calibration
images (min/max). ``modules`` quantizes only the operators of some modules (one stage at a
time: its sensitivity), the rest stays in float.

The file is not what runs. When a session opens, ONNX Runtime's CPU provider fuses each
``DequantizeLinear -> op -> QuantizeLinear`` group into one integer kernel where it has one:
``QLinearConv``, ``QLinearAdd``, ``QLinearGlobalAveragePool``, ``QLinearSigmoid``,
``QLinearMul``, ``QGemm`` (``com.microsoft``); what it cannot fuse stays a float operator
between a dequantize and a quantize. :mod:`mbcourse.deploy.graph` writes that optimized graph,
counts its operators and profiles their time. For EfficientNet-B0 the sigmoids of SiLU and SE
*do* get integer kernels, but as two passes (``QLinearSigmoid`` then ``QLinearMul``) where the
fp32 graph has one fused SiLU kernel, and the SE's pooling runs in float: that, not a missing
kernel, keeps B0's int8 graph slow, and is why EfficientNet-Lite (ReLU6, no SE; ReLU6 is folded
into the quantized convolution's output range) gains what MobileNetV2 gains.

Calibration data: any ``(N, C, H, W)`` tensor; :func:`digits_calibration` gives images from the
*training* split of the offline digits (:func:`mbcourse.training.data.load_digits`), so the test
split stays unseen; :func:`mbcourse.models.imagenet.photo_views` gives views of real photos.
:func:`logit_agreement` scores an int8 model against fp32: top-1 agreement and the mean
Kullback-Leibler divergence of the softmax.
Taught in chapters 9 (book/09_deployment.ipynb) and 10 (book/10_trained_network.ipynb).
"""

from __future__ import annotations

import contextlib
import inspect
import io
import logging
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from ..training.data import load_digits
from ..validation import check_int
from .onnx import _check_input_shape, ort_session, require

__all__ = [
    "TensorCalibrationReader",
    "depthwise_weights",
    "digits_calibration",
    "logit_agreement",
    "quantize_int8",
]


def digits_calibration(
    n: int = 64, image_size: int = 32, channels: int = 3, seed: int = 0
) -> Tensor:
    """``n`` normalised training images of the offline digits: ``(n, channels, S, S)``."""
    check_int("digits_calibration", "n", n)
    train, _ = load_digits(image_size=image_size, channels=channels, seed=seed)
    images, _ = train.tensors()
    order = torch.randperm(images.shape[0], generator=torch.Generator().manual_seed(seed))
    return images[order[:n]].contiguous()


class TensorCalibrationReader:
    """ONNX Runtime's ``CalibrationDataReader`` over a tensor: one batch of ``batch_size``
    images per ``get_next()``, then ``None``. ``images``: ``(N, C, H, W)``."""

    def __init__(self, input_name: str, images: Tensor, batch_size: int = 1) -> None:
        if not isinstance(images, Tensor) or images.dim() != 4:
            raise ValueError("TensorCalibrationReader: images must be an (N, C, H, W) tensor, "
                             f"got {getattr(images, 'shape', type(images).__name__)}")
        self.input_name = input_name
        self.batches = [b.float().contiguous().numpy() for b in images.cpu().split(batch_size)]
        self._iter: Iterator[Any] = iter(self.batches)

    def get_next(self) -> dict[str, Any] | None:
        batch = next(self._iter, None)
        return None if batch is None else {self.input_name: batch}

    def rewind(self) -> None:
        self._iter = iter(self.batches)


def depthwise_weights(path: str | Path) -> list[str]:
    """Names of the weight tensors of the depthwise convolutions (``group`` = channels > 1)."""
    onnx = require("onnx", "depthwise_weights")
    graph = onnx.load(str(path)).graph
    shapes = {init.name: tuple(init.dims) for init in graph.initializer}
    names = []
    for node in graph.node:
        group = next((a.i for a in node.attribute if a.name == "group"), 1)
        weight = node.input[1] if node.op_type == "Conv" and len(node.input) > 1 else None
        if group > 1 and weight in shapes and shapes[weight][0] == group and shapes[weight][1] == 1:
            names.append(weight)
    return names


def _weight_overrides(prepared: Path, per_channel: bool, depthwise: bool) -> dict[str, Any]:
    """TensorQuantOverrides that give the depthwise weights the other granularity."""
    if depthwise == per_channel:
        return {}
    override = [{"axis": 0}] if depthwise else [{"symmetric": True}]  # per channel / per tensor
    return {name: override for name in depthwise_weights(prepared)}


def _nodes_of(func: str, prepared: Path, modules: Sequence[str]) -> list[str]:
    from .graph import node_modules

    owners = node_modules(prepared)
    nodes = [node for node, owner in owners.items()
             if any(owner == m or owner.startswith(m + ".") for m in modules)]
    if not nodes:
        tops = sorted({owner.split(".")[0] for owner in owners.values()})
        raise ValueError(f"{func}: no operator of the graph comes from modules {list(modules)}; "
                         f"the graph's top-level modules are {tops}")
    return nodes


def quantize_int8(
    fp32_path: str | Path,
    calibration: Tensor,
    path: str | Path | None = None,
    *,
    per_channel: bool = True,
    depthwise_per_channel: bool | None = None,
    modules: Sequence[str] | None = None,
    batch_size: int = 8,
    calibration_cache: str | Path | None = None,
) -> Path:
    """Static int8 QDQ quantization of ``fp32_path`` calibrated on ``calibration`` images.

    ``calibration``: ``(N, C, H, W)`` float tensor whose ``C, H, W`` match the model's input,
    fed in batches of the model's own batch size when that is fixed, else of ``batch_size``.
    The model is first pre-processed (shape inference and graph clean-up, as ONNX Runtime
    recommends), then quantized with ``quantize_static`` (QDQ, uint8 activations, min/max
    calibration; int8 weights per output channel when ``per_channel``, else per tensor;
    ``depthwise_per_channel`` gives the depthwise convolutions their own choice, default the
    same). ``modules`` (module names such as ``"features.3"``, from the exporter's node names)
    quantizes only their operators. ``calibration_cache``: a JSON file of activation ranges
    written by the first call and read by later ones with the same fp32 model and images (when
    this ONNX Runtime supports it; otherwise every call calibrates). Returns the int8 model's
    path (default: a new temporary file).
    """
    func = "quantize_int8"
    require("onnx", func)
    quantization = require("onnxruntime.quantization", func)
    fp32_path = Path(fp32_path)
    if not fp32_path.is_file():
        raise FileNotFoundError(f"{func}: no ONNX file at {str(fp32_path)!r}")
    if not isinstance(calibration, Tensor) or calibration.dim() != 4 or len(calibration) < 1:
        raise ValueError(f"{func}: calibration must be an (N, C, H, W) tensor of images, got "
                         f"{getattr(calibration, 'shape', type(calibration).__name__)}")
    check_int(func, "batch_size", batch_size)
    if modules is not None and (isinstance(modules, str) or not modules):
        raise ValueError(f"{func}: modules must be a non-empty list of module names such as "
                         f"['features.3'], or None for every operator; got {modules!r}")
    session = ort_session(fp32_path, threads=1, optimization="disable")
    expected = session.get_inputs()[0].shape
    batch = expected[0] if isinstance(expected[0], int) else min(batch_size, len(calibration))
    if len(calibration) % batch and isinstance(expected[0], int):
        raise ValueError(f"{func}: the model takes batches of {batch}; give a multiple of "
                         f"{batch} calibration images, got {len(calibration)}")
    _check_input_shape(func, session, calibration[:batch])
    reader = TensorCalibrationReader(session.get_inputs()[0].name, calibration, batch)
    if path is None:
        path = Path(tempfile.mkdtemp(prefix="mbcourse_")) / f"{fp32_path.stem}_int8.onnx"
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    prepared = path.with_name(path.stem + "_prep.onnx")
    from onnxruntime.quantization.shape_inference import quant_pre_process

    cache: dict[str, Any] = {}
    if calibration_cache is not None and "calibration_cache_path" in inspect.signature(
        quantization.quantize_static
    ).parameters:
        cache["calibration_cache_path"] = str(calibration_cache)
    logger = logging.getLogger()
    level = logger.level
    sink = io.StringIO()
    try:
        logger.setLevel(logging.ERROR)  # quantize_static logs advice at WARNING level
        with contextlib.redirect_stdout(sink):
            quant_pre_process(str(fp32_path), str(prepared), skip_symbolic_shape=True)
            depthwise = per_channel if depthwise_per_channel is None else depthwise_per_channel
            overrides = _weight_overrides(prepared, per_channel, depthwise)
            quantization.quantize_static(
                str(prepared), str(path), reader,
                quant_format=quantization.QuantFormat.QDQ,
                per_channel=per_channel,
                activation_type=quantization.QuantType.QUInt8,
                weight_type=quantization.QuantType.QInt8,
                calibrate_method=quantization.CalibrationMethod.MinMax,
                nodes_to_quantize=None if modules is None else _nodes_of(func, prepared, modules),
                extra_options={"TensorQuantOverrides": overrides} if overrides else None,
                **cache,
            )
    finally:
        logger.setLevel(level)
        prepared.unlink(missing_ok=True)
    return path


def logit_agreement(reference: Tensor, logits: Tensor) -> dict[str, float]:
    """How far ``logits`` (e.g. int8) are from ``reference`` (fp32), both ``(N, classes)``.

    ``top1``: the fraction of rows whose arg-max agrees; ``kl``: the mean over rows of
    ``KL(softmax(reference) || softmax(logits))`` in nats (each row clamped at 0 against
    rounding); ``max_abs``: the largest logit change.
    """
    func = "logit_agreement"
    if not (isinstance(reference, Tensor) and isinstance(logits, Tensor)
            and reference.dim() == 2 and reference.shape == logits.shape):
        raise ValueError(f"{func}: reference and logits must be tensors of one (N, classes) "
                         f"shape, got {getattr(reference, 'shape', None)} and "
                         f"{getattr(logits, 'shape', None)}")
    ref, out = reference.detach().double(), logits.detach().double()
    kl = (ref.softmax(1) * (ref.log_softmax(1) - out.log_softmax(1))).sum(1).clamp(min=0)
    return {
        "top1": float((ref.argmax(1) == out.argmax(1)).double().mean()),
        "kl": float(kl.mean()),
        "max_abs": float((ref - out).abs().max()),
    }
