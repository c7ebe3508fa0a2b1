"""Export a block or a network to ONNX, run it in ONNX Runtime, check it computes the same.

* :func:`export_onnx` writes ``model`` (in eval mode) to an ``.onnx`` file with PyTorch's
  recommended exporter, ``torch.onnx.export(..., dynamo=True)``: it captures the model with
  ``torch.export`` and translates it with ``onnxscript``, and it *refuses* a model whose
  Python control flow depends on the data (the TorchScript tracer, ``exporter="torchscript"``,
  silently bakes in the branch the example input took). The TorchScript exporter is kept as an
  option because it exports a small block about ten times faster; both graphs agree with the
  eager model to float rounding (:func:`check_equal`).
* :func:`ort_session` opens an ONNX Runtime ``InferenceSession`` on the CPU with a given number
  of threads and graph-optimisation level, and can save the offline-optimised graph it ran.
* :class:`OrtModule` wraps a session in an ``nn.Module`` (``forward``: tensor in, tensor out,
  through NumPy without copies), so that :func:`mbcourse.measure.compare_latency`, the package's
  one timing path, times it side by side with PyTorch eager in interleaved rounds. The
  tensor-to-array conversions are part of what is timed, as they are for any caller.

ONNX, ONNX Runtime and onnxscript are the optional extra ``deploy``:
``pip install "mbcourse[deploy]"``.
"""

from __future__ import annotations

import contextlib
import copy
import importlib
import io
import os
import tempfile
import warnings
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import Any, Literal

import numpy as np
import torch
from torch import Tensor, nn

from ..blocks import SamePad
from ..introspect import check_input_shape
from ..validation import check_bool, check_int, check_module, check_positive, is_int

__all__ = [
    "EXPORTERS",
    "OPSET",
    "OnnxExportError",
    "OnnxMismatchError",
    "OrtModule",
    "check_equal",
    "export_onnx",
    "ort_session",
    "require",
    "run_session",
]

EXPORTERS = ("dynamo", "torchscript")
OPSET = 18  # the dynamo exporter's default opset in torch 2.x; ONNX Runtime supports it fully
INSTALL_HINT = "pip install 'mbcourse[deploy]' (or: pip install onnx onnxruntime onnxscript)"
Exporter = Literal["dynamo", "torchscript"]


class OnnxExportError(RuntimeError):
    """The model could not be exported (e.g. data-dependent Python control flow)."""


class OnnxMismatchError(AssertionError):
    """ONNX Runtime's outputs differ from the eager model's by more than the tolerance."""


def require(package: str, func: str) -> ModuleType:
    """Import ``package`` (``onnx``, ``onnxruntime`` or ``onnxscript``) or raise an
    ``ImportError`` that names ``func`` and says what to install."""
    try:
        return importlib.import_module(package)
    except ImportError as error:
        raise ImportError(
            f"{func} needs the package {package!r}, which is not installed: {INSTALL_HINT}"
        ) from error


def _try_forward(func: str, model: nn.Module, x: Tensor) -> None:
    """Run ``model(x)`` once so that a wrong input shape fails with a clear message."""
    try:
        with torch.no_grad():
            model(x)
    except Exception as error:  # the model's own message says what it expected
        raise ValueError(
            f"{func}: {type(model).__name__} does not accept an input of shape "
            f"{tuple(x.shape)}: {error}"
        ) from error


def _freeze_same_padding(model: nn.Module, x: Tensor) -> None:
    """Replace each :class:`~mbcourse.blocks.SamePad` of ``model`` (in place) by the static
    ``nn.ZeroPad2d`` it computes for input ``x``: one constant ``Pad`` per strided conv in the
    graph, whatever the exporter (the TorchScript tracer would record the size arithmetic)."""
    sizes: dict[str, tuple[int, int]] = {}
    pads = {name: m for name, m in model.named_modules() if isinstance(m, SamePad)}
    if not pads:
        return
    handles = [
        m.register_forward_pre_hook(
            lambda _, args, name=name: sizes.__setitem__(name, tuple(args[0].shape[-2:]))
        )
        for name, m in pads.items()
    ]
    try:
        with torch.no_grad():
            model(x)
    finally:
        for handle in handles:
            handle.remove()
    for name, pad in pads.items():
        parent_name, _, child = name.rpartition(".")
        parent = model.get_submodule(parent_name) if parent_name else model
        setattr(parent, child, nn.ZeroPad2d(pad.padding_for(*sizes[name])))


def export_onnx(
    model: nn.Module,
    input_shape: Sequence[int],
    path: str | Path | None = None,
    *,
    exporter: Exporter = "dynamo",
    opset: int = OPSET,
    dynamic_batch: bool = False,
) -> Path:
    """Export an eval-mode copy of ``model`` for inputs of ``input_shape`` ``(N, C, H, W)``.

    Writes one self-contained ``.onnx`` file (weights inside) to ``path`` (default: a new
    temporary file) and returns its path. The graph has one input ``"x"`` and one output
    ``"y"``. ``dynamic_batch=True`` leaves the batch dimension free (any ``N``); otherwise
    every shape is fixed, which lets ONNX Runtime plan memory once. TensorFlow "SAME" padding
    (:class:`~mbcourse.blocks.SamePad`, EfficientNet-Lite) is exported as the constant padding
    it computes for ``input_shape``'s height and width. The dynamo exporter also folds each
    BatchNorm into the convolution before it; the TorchScript exporter leaves that to ONNX
    Runtime's graph optimiser.
    """
    func = "export_onnx"
    check_module(func, "model", model)
    shape = check_input_shape(func, model, input_shape)
    if exporter not in EXPORTERS:
        raise ValueError(f"{func}: exporter must be one of {EXPORTERS}, got {exporter!r}")
    if not is_int(opset) or not 13 <= opset <= 21:
        raise ValueError(f"{func}: opset must be an integer from 13 to 21, got {opset!r}")
    check_bool(func, "dynamic_batch", dynamic_batch)
    require("onnx", func)
    if exporter == "dynamo":
        require("onnxscript", func)
    model = copy.deepcopy(model).cpu().eval()
    x = torch.randn(shape)
    _try_forward(func, model, x)
    _freeze_same_padding(model, x)
    if path is None:
        handle, name = tempfile.mkstemp(suffix=".onnx", prefix="mbcourse_")
        os.close(handle)
        path = name
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # The exporters print progress and warn about things that do not matter here (e.g. SE's
    # ``last_gate`` attribute, kept for plotting, being assigned during tracing).
    sink = io.StringIO()
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(sink):
            warnings.simplefilter("ignore")
            if exporter == "dynamo":
                dynamic = ({0: torch.export.Dim("batch")},) if dynamic_batch else None
                program = torch.onnx.export(
                    model, (x,), dynamo=True, opset_version=opset, input_names=["x"],
                    output_names=["y"], dynamic_shapes=dynamic, external_data=False,
                    optimize=True, verbose=False,
                )
                assert program is not None
                program.save(str(path))
            else:
                axes = {"x": {0: "batch"}, "y": {0: "batch"}} if dynamic_batch else None
                torch.onnx.export(
                    model, (x,), str(path), dynamo=False, opset_version=opset,
                    input_names=["x"], output_names=["y"], dynamic_axes=axes,
                    do_constant_folding=True,
                )
    except Exception as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise OnnxExportError(
            f"{func}: could not export {type(model).__name__} with the {exporter} exporter "
            f"({first}). A model that branches on the values of its input (Python `if` on a "
            "tensor) cannot be captured as one graph: make the branch a tensor operation "
            "(torch.where) or a fixed attribute."
        ) from error
    return path


def ort_session(
    model: str | Path | bytes,
    *,
    threads: int | None = None,
    optimization: Literal["disable", "basic", "extended", "all"] = "all",
    optimized_path: str | Path | None = None,
) -> Any:
    """An ONNX Runtime CPU ``InferenceSession`` for an ``.onnx`` file (or its bytes).

    ``threads``: intra-op threads (default: ``torch.get_num_threads()``, so both engines get
    the same share of the machine); operators run one after another (one inter-op thread).
    ``optimization``: ONNX Runtime's graph-optimisation level (``"all"``: constant folding,
    Conv+BatchNorm and Conv+activation fusion, layout changes for the CPU). ``optimized_path``:
    also write the optimised graph there ("offline" optimisation: a later session can load it
    with ``optimization="disable"`` and skip the work).
    """
    func = "ort_session"
    ort = require("onnxruntime", func)
    levels = {
        "disable": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
        "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
        "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
        "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
    }
    if optimization not in levels:
        raise ValueError(f"{func}: optimization must be one of {tuple(levels)}, "
                         f"got {optimization!r}")
    threads = torch.get_num_threads() if threads is None else threads
    check_int(func, "threads", threads)
    if isinstance(model, (str, Path)):
        if not Path(model).is_file():
            raise FileNotFoundError(f"{func}: no ONNX file at {str(model)!r}")
        source: str | bytes = str(model)
    elif isinstance(model, bytes):
        source = model
    else:
        raise TypeError(f"{func}: model must be a path to an .onnx file or its bytes, "
                        f"got {type(model).__name__}")
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = levels[optimization]
    options.log_severity_level = 3  # errors only
    if optimized_path is not None:
        options.optimized_model_filepath = str(optimized_path)
    return ort.InferenceSession(source, sess_options=options,
                                providers=["CPUExecutionProvider"])


def _session(func: str, session: Any, threads: int | None = None) -> Any:
    """A session from a session, or from a path to an ``.onnx`` file."""
    if isinstance(session, (str, Path)):
        return ort_session(session, threads=threads)
    if not hasattr(session, "run") or not hasattr(session, "get_inputs"):
        raise TypeError(f"{func}: session must be an onnxruntime.InferenceSession or a path "
                        f"to an .onnx file, got {type(session).__name__}")
    return session


def _check_input_shape(func: str, session: Any, x: Tensor) -> None:
    expected = session.get_inputs()[0].shape
    if len(expected) != x.dim() or any(
        isinstance(e, int) and e != s for e, s in zip(expected, x.shape, strict=False)
    ):
        raise ValueError(
            f"{func}: the ONNX model expects an input of shape {tuple(expected)}, got "
            f"{tuple(x.shape)}; export again with that input_shape (or dynamic_batch=True "
            "for another batch size)"
        )


def run_session(session: Any, x: Tensor) -> Tensor:
    """Run a one-input session on ``x`` (``(N, C, H, W)``, CPU float32) -> its first output."""
    func = "run_session"
    session = _session(func, session)
    if not isinstance(x, Tensor):
        raise TypeError(f"{func}: x must be a torch.Tensor, got {type(x).__name__}")
    _check_input_shape(func, session, x)
    array = x.detach().cpu().float().contiguous().numpy()
    name = session.get_inputs()[0].name
    return torch.from_numpy(session.run(None, {name: array})[0])


class OrtModule(nn.Module):
    """An ONNX Runtime session as a module: ``forward(x)`` runs the session on ``x``.

    ``(N, C, H, W)`` float32 CPU tensor in, the session's first output as a tensor out. The
    conversions are views (``Tensor.numpy`` and ``torch.from_numpy`` share memory), so what a
    timer measures is the session's run plus a few microseconds. No parameters; ``.to`` and
    ``.eval`` do nothing to the session.
    """

    def __init__(self, session: Any) -> None:
        super().__init__()
        self.session = _session("OrtModule", session)
        self.input_name: str = self.session.get_inputs()[0].name
        self.input_shape = tuple(self.session.get_inputs()[0].shape)

    def forward(self, x: Tensor) -> Tensor:
        if x.device.type != "cpu" or x.dtype != torch.float32:
            raise ValueError(f"OrtModule: expected a float32 CPU tensor, got {x.dtype} on "
                             f"{x.device}")
        _check_input_shape("OrtModule", self.session, x)
        array = np.ascontiguousarray(x.numpy(force=False))
        return torch.from_numpy(self.session.run(None, {self.input_name: array})[0])

    def extra_repr(self) -> str:
        return f"input={self.input_name!r} {self.input_shape}"


def check_equal(
    model: nn.Module,
    session: Any,
    inputs: Tensor | Sequence[int],
    *,
    atol: float = 1e-4,
) -> float:
    """Run ``model`` (eval mode, CPU) and the ONNX session on the same ``inputs``; return the
    largest absolute difference of their outputs, or raise :class:`OnnxMismatchError` if it
    exceeds ``atol``. ``inputs``: a tensor, or a shape for a standard-normal one (seed 0).
    ``session``: an ``InferenceSession`` or a path to an ``.onnx`` file."""
    func = "check_equal"
    check_module(func, "model", model)
    session = _session(func, session)
    if not isinstance(inputs, Tensor):
        shape = check_input_shape(func, model, inputs, name="inputs")
        inputs = torch.randn(shape, generator=torch.Generator().manual_seed(0))
    check_positive(func, "atol", atol)
    model = copy.deepcopy(model).cpu().eval()
    with torch.no_grad():
        expected = model(inputs.cpu().float())
    got = run_session(session, inputs)
    if got.shape != expected.shape:
        raise OnnxMismatchError(f"{func}: ONNX Runtime returned shape {tuple(got.shape)}, the "
                                f"model {tuple(expected.shape)}")
    diff = float((got - expected).abs().max())
    if not diff <= atol:
        raise OnnxMismatchError(
            f"{func}: ONNX Runtime's output differs from {type(model).__name__}'s by up to "
            f"{diff:.3g}, more than atol={atol:g}"
        )
    return diff
