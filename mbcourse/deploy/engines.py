"""One network on several engines, timed side by side with the package's one timing path.

:func:`deployment_variants` turns a trained model into the modules a reader would deploy:
PyTorch eager, :func:`mbcourse.inference.optimize_for_inference` (BatchNorm folded,
channels-last), ONNX Runtime fp32 and (given calibration images) ONNX Runtime int8, each an
``nn.Module`` so that :func:`mbcourse.measure.compare_latency` times them in interleaved rounds.
:func:`onnx_benchmark_rows` does that for the benchmark script: the package's networks and
torchvision's, exported the same way, with every ratio taken against torchvision's eager model.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from ..inference import calibrate_batchnorm, optimize_for_inference
from ..measure import compare_latency
from ..models.weights import load_torchvision_weights
from .onnx import Exporter, OrtModule, check_equal, export_onnx, ort_session
from .quantize import quantize_int8

__all__ = ["deployment_variants", "onnx_benchmark_rows"]


def deployment_variants(
    model: nn.Module,
    input_shape: Sequence[int],
    *,
    calibration: Tensor | None = None,
    threads: int | None = None,
    exporter: Exporter = "dynamo",
    folder: str | Path | None = None,
    prefix: str = "",
    atol: float = 1e-4,
) -> dict[str, nn.Module]:
    """``{"eager", "optimize_for_inference", "ORT fp32"[, "ORT int8"]}`` modules for
    ``input_shape`` ``(N, C, H, W)``. The fp32 export is checked against the eager model
    (:func:`~mbcourse.deploy.check_equal`, ``atol``) before it is returned; the int8 model is
    made only when ``calibration`` images are given. Files go to ``folder`` (default: a new
    temporary folder), named ``{prefix}fp32.onnx`` and ``{prefix}int8.onnx``.
    """
    model = model.eval()
    folder = Path(tempfile.mkdtemp(prefix="mbcourse_")) if folder is None else Path(folder)
    fp32 = export_onnx(model, input_shape, folder / f"{prefix}fp32.onnx", exporter=exporter)
    session = ort_session(fp32, threads=threads)
    check_equal(model, session, input_shape, atol=atol)
    variants: dict[str, nn.Module] = {
        "eager": model,
        "optimize_for_inference": optimize_for_inference(model),
        "ORT fp32": OrtModule(session),
    }
    if calibration is not None:
        int8 = quantize_int8(fp32, calibration, folder / f"{prefix}int8.onnx")
        variants["ORT int8"] = OrtModule(ort_session(int8, threads=threads))
    return variants


def onnx_benchmark_rows(
    builders: Mapping[str, tuple[Callable[[], nn.Module], Callable[[], nn.Module] | None]],
    *,
    input_shape: Sequence[int] = (1, 3, 224, 224),
    threads: int | None = None,
    rounds: int = 5,
    min_run_time: float = 0.2,
    calibration_images: int = 8,
    exporter: Exporter = "dynamo",
    clock: str = "wall",
) -> list[dict[str, Any]]:
    """Time each network's deployments side by side, in one process, in interleaved rounds.

    ``builders``: ``{name: (ours, torchvision's or None)}``. No weights are downloaded:
    torchvision's model gets BatchNorm statistics from random batches and ours a copy of its
    weights (:func:`~mbcourse.models.weights.load_torchvision_weights`), so both compute the
    same function. Per network, one
    :func:`~mbcourse.measure.compare_latency` call times torchvision eager, ours eager, ours
    ``optimize_for_inference`` and both models in ONNX Runtime fp32 and int8 (static QDQ,
    calibrated on random images), on ``clock`` (``"wall"`` or ``"cpu"``). Returns rows
    ``{"model", "variant", "median_ms", "fastest_ms", "vs_tv_eager", "vs_fp32"}``: ratios of
    medians to torchvision's eager model (ours eager when there is none) and of int8 to the same
    model's fp32.
    """
    shape = tuple(int(s) for s in input_shape)
    rows: list[dict[str, Any]] = []
    generator = torch.Generator().manual_seed(0)
    calibration = torch.randn((calibration_images * shape[0], *shape[1:]), generator=generator)
    for name, (ours_build, tv_build) in builders.items():
        modules: dict[str, nn.Module] = {}
        pairs = [("ours", ours_build)] + ([("torchvision", tv_build)] if tv_build else [])
        reference_model: nn.Module | None = None
        for who, build in reversed(pairs):  # torchvision's first: ours gets its weights
            torch.manual_seed(0)
            model = build()
            if reference_model is not None:
                load_torchvision_weights(model, reference_model)
            else:
                model = calibrate_batchnorm(model, (8, *shape[1:]), device="cpu")
            reference_model = model if who == "torchvision" else None
            variants = deployment_variants(model, shape, calibration=calibration,
                                           threads=threads, exporter=exporter,
                                           prefix=f"{name}_{who}_")
            for variant, module in variants.items():
                if who == "torchvision" and variant == "optimize_for_inference":
                    continue
                modules[f"{who} {variant}"] = module
        timings = compare_latency(modules, shape, device="cpu", rounds=rounds,
                                  min_run_time=min_run_time, num_threads=threads, clock=clock)
        reference = timings.get("torchvision eager", timings["ours eager"])
        for label, latency in timings.items():
            who = label.split(" ", 1)[0]
            fp32 = timings.get(f"{who} ORT fp32")
            rows.append({
                "model": name, "variant": label, "median_ms": latency.median_ms,
                "fastest_ms": latency.fastest_ms, "vs_tv_eager": latency.ratio_to(reference),
                "vs_fp32": latency.ratio_to(fp32) if label.endswith("int8") and fp32 else None,
            })
    return rows
