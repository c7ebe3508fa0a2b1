"""Post-training static int8 quantization with ONNX Runtime's own tools.

:func:`quantize_int8` takes an fp32 ``.onnx`` file and a few calibration images and writes an
int8 model in the QDQ format (``QuantizeLinear``/``DequantizeLinear`` pairs around each
operator, which ONNX Runtime's CPU provider fuses into integer kernels): weights as signed int8
*per output channel*, activations as unsigned int8 per tensor, with ranges from the
calibration images (min/max). Operators without an integer kernel (Sigmoid, and so SiLU and
the SE gate) run in float between a dequantize and a quantize, which is why EfficientNet's
blocks gain little from int8 on a CPU and EfficientNet-Lite (:func:`~mbcourse.deploy.lite.to_lite`)
drops SE and uses ReLU6.

Calibration data: any ``(N, C, H, W)`` tensor; :func:`digits_calibration` gives images from the
*training* split of the offline digits (:func:`mbcourse.training.data.load_digits`), so the test
split stays unseen.
"""

from __future__ import annotations

import contextlib
import io
import logging
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from ..training.data import load_digits
from ..validation import check_int
from .onnx import _check_input_shape, ort_session, require

__all__ = ["TensorCalibrationReader", "digits_calibration", "quantize_int8"]


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


def quantize_int8(
    fp32_path: str | Path,
    calibration: Tensor,
    path: str | Path | None = None,
    *,
    per_channel: bool = True,
) -> Path:
    """Static int8 QDQ quantization of ``fp32_path`` calibrated on ``calibration`` images.

    ``calibration``: ``(N, C, H, W)`` float tensor whose ``C, H, W`` match the model's input
    (the batch is fed in the model's own batch size when that is fixed). The model is first
    pre-processed (shape inference and graph clean-up, as ONNX Runtime recommends), then
    quantized with ``quantize_static`` (QDQ, int8 weights per channel when ``per_channel``,
    uint8 activations, min/max calibration). Returns the int8 model's path (default: a new
    temporary file).
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
    session = ort_session(fp32_path, threads=1, optimization="disable")
    expected = session.get_inputs()[0].shape
    batch = expected[0] if isinstance(expected[0], int) else len(calibration)
    if len(calibration) % batch:
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

    logger = logging.getLogger()
    level = logger.level
    sink = io.StringIO()
    try:
        logger.setLevel(logging.ERROR)  # quantize_static logs advice at WARNING level
        with contextlib.redirect_stdout(sink):
            quant_pre_process(str(fp32_path), str(prepared), skip_symbolic_shape=True)
            quantization.quantize_static(
                str(prepared), str(path), reader,
                quant_format=quantization.QuantFormat.QDQ,
                per_channel=per_channel,
                activation_type=quantization.QuantType.QUInt8,
                weight_type=quantization.QuantType.QInt8,
                calibrate_method=quantization.CalibrationMethod.MinMax,
            )
    finally:
        logger.setLevel(level)
        prepared.unlink(missing_ok=True)
    return path
