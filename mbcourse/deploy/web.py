"""ONNX files for a web page: what ONNX Runtime Web runs in the reader's browser (chapter 11).

* :func:`export_for_web` exports a network or a block to ONNX (fp32, and int8 when calibration
  images are given), checks the fp32 file against the eager model, and returns what a page
  needs to know of each file (name, bytes, SHA-256).
* :func:`compact_weights` stores every large weight tensor of an ONNX file as a ``Tile`` of its
  own first ``pool`` values, sliced and reshaped back to its shape (float weights then scaled
  per output channel to their original size). ONNX Runtime folds that
  subgraph into an ordinary constant when a session is created (its optimised graph is the
  same as the original's: same operators, same fused int8 kernels), so a forward pass costs
  exactly what it costs with stored weights, but the file is a few per cent of the size. The
  *values* change (they repeat with period ``pool``), so this is only for networks whose
  weights are random anyway and are there to be timed, never for trained weights.
* :func:`source_digest` names a set of exports by the package's source and the versions that
  made them, so that a build can reuse files it made before (a cache key).
"""

from __future__ import annotations

import hashlib
import json
import platform
import shutil
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from ..validation import check_int, check_module
from .onnx import Exporter, check_equal, export_onnx, ort_session, require
from .quantize import quantize_int8

__all__ = ["compact_weights", "export_for_web", "file_entry", "source_digest"]

COMPACT_POOL = 1021  # a prime: the repeat never lines up with a channel or kernel boundary
COMPACT_MIN_SIZE = 2048  # smaller tensors stay as they are (biases, scales, most depthwise)


def file_entry(path: Path, base: Path) -> dict[str, Any]:
    """``{"file": path relative to base, "bytes": size, "sha256": hex digest}`` of a file."""
    data = Path(path).read_bytes()
    return {
        "file": Path(path).relative_to(base).as_posix(),
        "bytes": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
    }


def compact_weights(
    source: str | Path,
    path: str | Path | None = None,
    *,
    pool: int = COMPACT_POOL,
    min_size: int = COMPACT_MIN_SIZE,
) -> int:
    """Rewrite the ONNX file ``source`` with each initializer of at least ``min_size`` elements
    replaced by ``Reshape(Slice(Tile(first pool values)))``: the same shape and dtype, its
    values repeating with period ``pool``, into ``path`` (default: ``source`` itself). Returns
    how many tensors it replaced; with none to replace it writes the file unchanged.

    A float32 tensor is then multiplied by one factor per output channel (axis 0), so that
    every channel keeps the root-mean-square of its original weights: activations keep their
    scale through the network (no overflow, no slow denormal floats). Int8 and uint8 tensors
    (an int8 QDQ model's weights, quantized per channel to the full int8 range) are repeated as
    they are; the model keeps its integer kernels (the ``DequantizeLinear`` of each weight
    reads a folded constant). Only for random weights that are there to be timed: trained
    weights would be destroyed.
    """
    func = "compact_weights"
    onnx = require("onnx", func)
    from onnx import helper, numpy_helper

    check_int(func, "pool", pool)
    check_int(func, "min_size", min_size)
    if pool >= min_size:
        raise ValueError(f"{func}: pool ({pool}) must be smaller than min_size ({min_size}), "
                         "or nothing gets smaller")
    source = Path(source)
    if not source.is_file():
        raise FileNotFoundError(f"{func}: no ONNX file at {str(source)!r}")
    model = onnx.load(str(source))
    graph = model.graph
    kept, nodes, replaced = [], [], 0
    for init in graph.initializer:
        values = numpy_helper.to_array(init)
        if values.size < min_size or values.dtype not in (np.float32, np.int8, np.uint8):
            kept.append(init)
            continue
        name, replaced = init.name, replaced + 1
        parts = {
            "pool": values.reshape(-1)[:pool].copy(),
            "reps": np.array([-(-values.size // pool)], dtype=np.int64),
            "start": np.array([0], dtype=np.int64),
            "end": np.array([values.size], dtype=np.int64),
            "shape": np.array(values.shape, dtype=np.int64),
        }
        out = f"{name}__tiled_shape" if values.dtype == np.float32 else name
        nodes += [
            helper.make_node("Tile", [f"{name}__pool", f"{name}__reps"], [f"{name}__tiled"]),
            helper.make_node("Slice", [f"{name}__tiled", f"{name}__start", f"{name}__end"],
                             [f"{name}__flat"]),
            helper.make_node("Reshape", [f"{name}__flat", f"{name}__shape"], [out]),
        ]
        if values.dtype == np.float32:  # each output channel keeps its own RMS (its scale)
            parts["scale"] = _rms_ratio(values, _repeat(parts["pool"], values.shape))
            nodes.append(helper.make_node("Mul", [out, f"{name}__scale"], [name]))
        kept += [numpy_helper.from_array(v, f"{name}__{k}") for k, v in parts.items()]
    path = source if path is None else Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not nodes:
        if path.resolve() != source.resolve():
            shutil.copyfile(source, path)
        return 0
    original = list(graph.node)
    del graph.initializer[:]
    graph.initializer.extend(kept)
    del graph.node[:]
    graph.node.extend(nodes + original)
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return replaced


def _repeat(pool: np.ndarray, shape: Sequence[int]) -> np.ndarray:
    """``pool`` repeated to fill ``shape`` (what the Tile, Slice and Reshape nodes compute)."""
    size = int(np.prod(shape))
    return np.tile(pool, -(-size // pool.size))[:size].reshape(shape)


def _rms_ratio(values: np.ndarray, repeated: np.ndarray) -> np.ndarray:
    """Per output channel (axis 0), RMS of ``values`` / RMS of ``repeated``, shaped to
    broadcast over the rest: ``(C, 1, ..., 1)`` float32."""
    axes = tuple(range(1, values.ndim))
    want = np.sqrt(np.mean(np.square(values, dtype=np.float64), axis=axes, keepdims=True))
    have = np.sqrt(np.mean(np.square(repeated, dtype=np.float64), axis=axes, keepdims=True))
    ratio = np.where(have > 0, want / np.where(have > 0, have, 1.0), 1.0)
    return ratio.astype(np.float32)


def _check_runs(func: str, path: Path, input_shape: Sequence[int]) -> None:
    """On a standard-normal input, every float tensor the file computes (every node's output,
    not only the last) is finite and at most 0.1 % of its values are subnormal: the compacted
    weights leave nothing that would make a CPU slow (denormal floats) or the output useless."""
    onnx = require("onnx", func)
    from onnx import shape_inference

    model = shape_inference.infer_shapes(onnx.load(str(path)))
    known = {v.name: v for v in model.graph.value_info}
    inner = [known[n.output[0]] for n in model.graph.node if n.output[0] in known
             and known[n.output[0]].type.tensor_type.elem_type == onnx.TensorProto.FLOAT]
    model.graph.output.extend(inner)
    session = ort_session(model.SerializeToString(), threads=1, optimization="disable")
    x = torch.randn(tuple(input_shape), generator=torch.Generator().manual_seed(0))
    outputs = session.run(None, {session.get_inputs()[0].name: x.numpy()})
    floats = [o for o in outputs if o.dtype == np.float32]
    if not all(np.isfinite(o).all() for o in floats):
        raise ValueError(f"{func}: {path.name} computes non-finite values on a random input")
    tiny = np.finfo(np.float32).tiny
    subnormal = sum(int(((o != 0) & (np.abs(o) < tiny)).sum()) for o in floats)
    total = sum(o.size for o in floats)
    if subnormal > 1e-3 * total:
        raise ValueError(f"{func}: {path.name} computes {subnormal} subnormal floats out of "
                         f"{total} on a random input; its timing would not be representative")


def export_for_web(
    model: nn.Module,
    input_shape: Sequence[int],
    folder: str | Path,
    name: str,
    *,
    calibration: Tensor | None = None,
    compact: bool = False,
    exporter: Exporter = "dynamo",
    base: str | Path | None = None,
    atol: float = 1e-4,
) -> dict[str, dict[str, Any]]:
    """Write ``{name}-fp32.onnx`` (and ``{name}-int8.onnx`` given ``calibration`` images,
    ``(N, C, H, W)``) into ``folder`` for inputs of ``input_shape`` ``(1, C, H, W)``.

    The fp32 file is checked against the eager model
    (:func:`~mbcourse.deploy.check_equal`, ``atol``) before anything else; ``compact`` then
    shrinks both files with :func:`compact_weights` (random weights only) and checks that
    every tensor they compute stays finite and normal (no subnormal floats, which are slow).
    Returns ``{"fp32": entry[, "int8": entry]}``, each from :func:`file_entry` (paths relative
    to ``base``, default ``folder``) plus ``"compact"`` (whether any tensor was compacted:
    small blocks have none large enough).
    """
    func = "export_for_web"
    check_module(func, "model", model)
    if not isinstance(name, str) or not name or "/" in name:
        raise ValueError(f"{func}: name must be a non-empty file stem without '/', got {name!r}")
    folder = Path(folder)
    base = folder if base is None else Path(base)
    fp32 = export_onnx(model, input_shape, folder / f"{name}-fp32.onnx", exporter=exporter)
    check_equal(model, fp32, input_shape, atol=atol)
    paths = {"fp32": fp32}
    if calibration is not None:
        paths["int8"] = quantize_int8(fp32, calibration, folder / f"{name}-int8.onnx")
    entries = {}
    for precision, path in paths.items():
        compacted = compact and compact_weights(path) > 0
        if compacted:
            _check_runs(func, path, input_shape)
        entries[precision] = {**file_entry(path, base), "compact": compacted}
    return entries


def source_digest(
    roots: Iterable[str | Path], extra: Mapping[str, Any] | None = None
) -> str:
    """A short SHA-256 of every ``*.py`` file under ``roots`` (by relative path and content),
    the versions of torch, onnx, onnxruntime and Python, and the JSON of ``extra``."""
    digest = hashlib.sha256()
    for root in roots:
        root = Path(root)
        files = [root] if root.is_file() else sorted(root.rglob("*.py"))
        for file in files:
            digest.update(file.name.encode() if root.is_file()
                          else file.relative_to(root).as_posix().encode())
            digest.update(file.read_bytes())
    versions = {"torch": torch.__version__, "python": platform.python_version()}
    for package in ("onnx", "onnxruntime", "onnxscript"):
        try:
            versions[package] = __import__(package).__version__
        except ImportError:
            versions[package] = None
    digest.update(json.dumps({"versions": versions, "extra": extra or {}},
                             sort_keys=True, default=str).encode())
    return digest.hexdigest()[:16]
