"""Deployment: ONNX export, ONNX Runtime (fp32 and static int8), what the engine really runs
(the optimized graph, its operators and their time), EfficientNet-Lite's changes, and ONNX
files sized for a web page (:mod:`.web`, chapter 11).

Needs the optional extra: ``pip install "mbcourse[deploy]"`` (onnx, onnxruntime, onnxscript).
Importing this package works without them; the functions that need them raise an
``ImportError`` that says what to install.
"""

from .engines import deployment_variants, onnx_benchmark_rows
from .graph import node_modules, operator_counts, optimized_graph, profile_operators
from .lite import count_lite_changes, to_lite
from .onnx import (
    EXPORTERS,
    OPSET,
    OnnxExportError,
    OnnxMismatchError,
    OrtModule,
    check_equal,
    export_onnx,
    ort_session,
    require,
    run_session,
)
from .quantize import (
    TensorCalibrationReader,
    depthwise_weights,
    digits_calibration,
    logit_agreement,
    quantize_int8,
)
from .web import compact_weights, export_for_web, file_entry, source_digest

__all__ = [
    "EXPORTERS",
    "OPSET",
    "OnnxExportError",
    "OnnxMismatchError",
    "OrtModule",
    "TensorCalibrationReader",
    "check_equal",
    "compact_weights",
    "count_lite_changes",
    "deployment_variants",
    "depthwise_weights",
    "digits_calibration",
    "export_for_web",
    "export_onnx",
    "file_entry",
    "logit_agreement",
    "node_modules",
    "onnx_benchmark_rows",
    "operator_counts",
    "optimized_graph",
    "ort_session",
    "profile_operators",
    "quantize_int8",
    "require",
    "run_session",
    "source_digest",
    "to_lite",
]
