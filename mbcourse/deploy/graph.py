"""What ONNX Runtime really runs: the optimized graph, its operators, and where the time goes.

An ONNX *file* is not what the engine executes. When a session opens, ONNX Runtime rewrites the
graph for its CPU kernels: it fuses a convolution with its activation, changes the layout to
blocks of channels (``com.microsoft.nchwc``), fuses ``x * sigmoid(x)`` into one kernel and, in
an int8 QDQ model, replaces each ``DequantizeLinear -> op -> QuantizeLinear`` group by one
integer kernel (``QLinearConv``, ``QLinearAdd``, ``QLinearSigmoid``, ``QLinearMul``, ...;
``com.microsoft``) where it has one. A QDQ file stores *every* quantized operator as a float
operator between a dequantize and a quantize, the convolutions included, so counting float
operators in the file proves nothing about what stays in float.

* :func:`optimized_graph` writes the graph a session runs
  (``SessionOptions.optimized_model_filepath``);
* :func:`operator_counts` counts the operators of any ``.onnx`` file by type;
* :func:`profile_operators` runs a session with ONNX Runtime's profiler and sums the kernel time
  per operator type (milliseconds per run);
* :func:`node_modules` maps each node of an exported graph to the PyTorch module it came from
  (``features.3.0.depthwise.conv``), for both exporters.

Taught in chapters 9 (book/09_deployment.ipynb) and 10 (book/10_trained_network.ipynb).
"""

from __future__ import annotations

import json
import os
import tempfile
from collections import Counter
from pathlib import Path

import numpy as np
from torch import Tensor

from ..validation import check_int
from .onnx import ort_session, require, session_options

__all__ = ["node_modules", "operator_counts", "optimized_graph", "profile_operators"]


def _path(func: str, path: str | Path) -> Path:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{func}: no ONNX file at {str(path)!r}")
    return path


def operator_counts(path: str | Path) -> dict[str, int]:
    """``{operator type: count}`` of the nodes in an ``.onnx`` file, most frequent first.

    The operator's domain is left out (``QLinearConv`` is ``com.microsoft``, a layout-changed
    ``Conv`` ``com.microsoft.nchwc``): the name says what runs.
    """
    onnx = require("onnx", "operator_counts")
    graph = onnx.load(str(_path("operator_counts", path))).graph
    return dict(Counter(node.op_type for node in graph.node).most_common())


def optimized_graph(
    path: str | Path, out: str | Path | None = None, *, threads: int = 1
) -> Path:
    """Open a session on ``path`` with every graph optimisation and save the graph it runs.

    Returns the written file (default: next to ``path``, ``<stem>_optimized.onnx``). The
    optimised graph holds the engine's own operators (fused, int8, re-laid-out) and is valid
    only for this build of ONNX Runtime on this kind of CPU.
    """
    path = _path("optimized_graph", path)
    out = path.with_name(f"{path.stem}_optimized.onnx") if out is None else Path(out)
    ort_session(path, threads=threads, optimization="all", optimized_path=out)
    return out


def profile_operators(
    path: str | Path, x: Tensor, *, runs: int = 20, warmup: int = 3, threads: int = 1
) -> dict[str, float]:
    """Milliseconds per run spent in each operator type, from ONNX Runtime's profiler.

    Runs a session on ``x`` (the model's input, ``(N, C, H, W)``) ``warmup`` + ``runs`` times
    and sums the kernel time of each operator type over the last ``runs``; most expensive
    first. The profile file is deleted afterwards. Kernel times only: their sum is a little
    below the session's latency (the gaps between kernels are not in it).
    """
    func = "profile_operators"
    ort = require("onnxruntime", func)
    path = _path(func, path)
    if not isinstance(x, Tensor) or x.dim() != 4:
        raise ValueError(f"{func}: x must be an (N, C, H, W) tensor, got "
                         f"{getattr(x, 'shape', type(x).__name__)}")
    check_int(func, "threads", threads)
    options = session_options(threads)
    options.enable_profiling = True
    options.profile_file_prefix = os.path.join(tempfile.mkdtemp(prefix="mbcourse_"), "ort")
    session = ort.InferenceSession(str(path), sess_options=options,
                                   providers=["CPUExecutionProvider"])
    feed = {session.get_inputs()[0].name: np.ascontiguousarray(x.detach().float().numpy())}
    for _ in range(warmup + runs):
        session.run(None, feed)
    file = Path(session.end_profiling())
    try:
        events = json.loads(file.read_text())
    finally:
        file.unlink(missing_ok=True)
    starts = sorted(e["ts"] for e in events if e.get("name") == "model_run")
    since = starts[warmup] if len(starts) > warmup else 0
    totals: Counter[str] = Counter()
    for event in events:
        if (event.get("cat") == "Node" and event.get("name", "").endswith("_kernel_time")
                and event["ts"] >= since):
            totals[event["args"]["op_name"]] += event["dur"] / 1e3 / runs
    return dict(totals.most_common())


def _scope_from_name(name: str) -> str:
    """``/features/features.3/features.3.0/depthwise/conv/Conv`` -> ``features.3.0.depthwise.conv``
    (the TorchScript exporter's node names)."""
    path = ""
    for part in name.strip("/").split("/")[:-1]:
        path = part if not path or part.startswith(path + ".") else f"{path}.{part}"
    return path


def node_modules(path: str | Path) -> dict[str, str]:
    """``{node name: the PyTorch module it came from}`` for every node of an exported graph.

    Reads the dynamo exporter's ``pkg.torch.onnx.name_scopes`` metadata, or else the
    TorchScript exporter's scoped node names; ``""`` for a node outside every module.
    """
    onnx = require("onnx", "node_modules")
    graph = onnx.load(str(_path("node_modules", path))).graph
    modules: dict[str, str] = {}
    for node in graph.node:
        meta = {p.key: p.value for p in node.metadata_props}
        if "pkg.torch.onnx.name_scopes" in meta:
            scopes = json.loads(meta["pkg.torch.onnx.name_scopes"].replace("'", '"'))
            modules[node.name] = scopes[-2] if len(scopes) > 1 else ""
        else:
            modules[node.name] = _scope_from_name(node.name)
    return modules
