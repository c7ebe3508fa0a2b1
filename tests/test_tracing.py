"""Our networks work with the tools people build on: torch.fx, torchvision's feature extraction,
torch.export, torch.compile(fullgraph=True), TorchScript and FX quantization.

Each tool runs on MobileNetV2, EfficientNet-B0 and EfficientNetV2-S. The quick ones (fx, feature
extraction, export) use the full networks; the costly ones (dynamo, TorchScript, quantization)
use the same architectures with fewer rows and blocks (``stages``, ``depth_mult``) and half the
width: the same block classes and code paths (residuals included), a fraction of the graph.
"""

from __future__ import annotations

import copy
import importlib.util
from collections.abc import Callable

import pytest
import torch
from optional_torchvision import needs_torchvision
from torch import Tensor, nn

from mbcourse import blocks
from mbcourse.inference import calibrate_batchnorm
from mbcourse.models import efficientnet_b0, efficientnet_v2_s, mobilenet_v2

ARCHITECTURES = ["mobilenet_v2", "efficientnet_b0", "efficientnet_v2_s"]
FULL: dict[str, Callable[[], nn.Module]] = {
    "mobilenet_v2": mobilenet_v2,
    "efficientnet_b0": efficientnet_b0,
    "efficientnet_v2_s": efficientnet_v2_s,
}
SMALL: dict[str, Callable[[], nn.Module]] = {  # each still has residual blocks of every kind
    "mobilenet_v2": lambda: mobilenet_v2(num_classes=10, width_mult=0.5, stages=3),
    "efficientnet_b0": lambda: efficientnet_b0(num_classes=10, width_mult=0.5, depth_mult=0.5,
                                               stages=4),
    "efficientnet_v2_s": lambda: efficientnet_v2_s(num_classes=10, width_mult=0.5,
                                                   depth_mult=0.25, stages=4),
}
#: Node names a user would pick for feature extraction: the paths of our own modules, and the
#: residual additions and SE scalings named after the block they belong to.
READABLE_NODES = {
    "mobilenet_v2": ["check_images", "features.0.conv", "features.2.depthwise.conv",
                     "features.3.add", "features.18.act", "flatten", "classifier.1"],
    "efficientnet_b0": ["features.2.0.expand.act", "features.2.0.se.fc1", "features.2.0.se.mul",
                        "features.2.1.add", "features.8.act"],
    "efficientnet_v2_s": ["features.1.0.fused.conv", "features.1.0.add",
                          "features.4.0.se.scale_activation", "features.7.act"],
}
SHAPE = (2, 3, 32, 32)
#: torch.jit.script warns that TorchScript is deprecated (torch.export is its successor).
NO_TORCHSCRIPT_DEPRECATION = pytest.mark.filterwarnings("ignore:.*deprecated:FutureWarning")


def _built(build: Callable[[], nn.Module]) -> tuple[nn.Module, Tensor, Tensor]:
    torch.manual_seed(0)
    model = build().eval()
    x = torch.randn(SHAPE)
    with torch.no_grad():
        return model, x, model(x)


@pytest.fixture(scope="module", params=ARCHITECTURES)
def full(request: pytest.FixtureRequest) -> tuple[str, nn.Module, Tensor, Tensor]:
    """A full-size network in eval mode, an input and its eager output (built once)."""
    return (request.param, *_built(FULL[request.param]))


@pytest.fixture(scope="module", params=ARCHITECTURES)
def small(request: pytest.FixtureRequest) -> tuple[str, nn.Module, Tensor, Tensor]:
    """The same architecture with fewer, narrower blocks (see the module docstring)."""
    return (request.param, *_built(SMALL[request.param]))


# -------------------------------------------------------------------------------- torch.fx
def test_symbolic_trace_gives_the_same_outputs(full) -> None:
    _, model, x, y = full
    graph = torch.fx.symbolic_trace(model)
    torch.testing.assert_close(graph(x), y)
    targets = {node.target for node in graph.graph.nodes if node.op == "call_module"}
    assert {"features.0.conv", "classifier.1"} <= targets
    # the network's input check is one node of the graph, and still checks real inputs
    first = next(node for node in graph.graph.nodes if node.op == "call_function")
    assert first.target.__name__ == "check_images"
    with pytest.raises(ValueError, match=r"expected 3 input channels \(N, 3, H, W\), got 1"):
        graph(torch.randn(1, 1, 32, 32))


BLOCKS: dict[str, Callable[[], nn.Module]] = {
    "ConvNormAct": lambda: blocks.ConvNormAct(8, 16, 3, 2),
    "DepthwiseSeparableConv": lambda: blocks.DepthwiseSeparableConv(8, 16),
    "InvertedResidual": lambda: blocks.InvertedResidual(8, 8, 1, 6),
    "SqueezeExcitation": lambda: blocks.SqueezeExcitation(8),
    "MBConv": lambda: blocks.MBConv(8, 8, 1, 4, 5, stochastic_depth_prob=0.2),
    "FusedMBConv": lambda: blocks.FusedMBConv(8, 16, 2, 4, se_ratio=0.25),
    "FusedMBConv e=1": lambda: blocks.FusedMBConv(8, 8, 1, 1),
    "StochasticDepth": lambda: blocks.StochasticDepth(0.5),
}


@pytest.mark.parametrize("name", list(BLOCKS))
@NO_TORCHSCRIPT_DEPRECATION
def test_every_block_traces_and_scripts(name: str) -> None:
    block = BLOCKS[name]().eval()
    x = torch.randn(2, 8, 9, 9)
    with torch.no_grad():
        expected = block(x)
        torch.testing.assert_close(torch.fx.symbolic_trace(block)(x), expected)
        torch.testing.assert_close(torch.jit.script(block)(x), expected)


# -------------------------------------------------------------------- feature extraction
@needs_torchvision
@pytest.mark.filterwarnings("ignore:NOTE. The nodes obtained by tracing the model in eval mode")
def test_feature_extraction_with_readable_node_names(full) -> None:
    from torchvision.models.feature_extraction import (
        create_feature_extractor,
        get_graph_node_names,
    )

    name, model, x, _ = full
    train_nodes, eval_nodes = get_graph_node_names(model)
    assert set(READABLE_NODES[name]) <= set(eval_nodes) <= set(train_nodes)
    # stochastic depth's draws run in training only; the residual additions run in both modes
    extractor = create_feature_extractor(model, return_nodes={"features.3": "stage3",
                                                              "flatten": "pooled"})
    with torch.no_grad():
        features = extractor(x)
        torch.testing.assert_close(features["stage3"], model.features[:4](x))
        pooled = torch.flatten(model.avgpool(model.features(x)), 1)
    torch.testing.assert_close(features["pooled"], pooled)


# ----------------------------------------------------------------------------- torch.export
def test_export_gives_the_same_outputs(full) -> None:
    _, model, x, y = full
    program = torch.export.export(model, (x,))
    torch.testing.assert_close(program.module()(x), y)


def test_export_with_a_free_batch_dimension() -> None:
    model, x, _ = _built(SMALL["efficientnet_b0"])
    batch = torch.export.Dim("batch", min=1, max=64)
    program = torch.export.export(model, (x,), dynamic_shapes={"x": {0: batch}})
    other = torch.randn(5, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(program.module()(other), model(other))


# ---------------------------------------------------------------------------- torch.compile
@pytest.mark.slow
def test_compile_fullgraph_has_no_graph_break(small) -> None:
    # fullgraph=True makes dynamo raise at the first graph break. Graph breaks are dynamo's
    # business, whatever the backend; "eager" runs the captured graph without code generation,
    # which keeps this test to seconds on a small CPU (test_blocks compiles with inductor).
    _, model, x, y = small
    torch._dynamo.reset()
    compiled = torch.compile(model, fullgraph=True, backend="eager")
    with torch.no_grad():
        torch.testing.assert_close(compiled(x), y)


@pytest.mark.slow
def test_compile_fullgraph_in_training_mode() -> None:
    # training mode: BatchNorm statistics, stochastic depth's random draws, dropout
    torch.manual_seed(0)
    model = SMALL["efficientnet_b0"]().train()
    torch._dynamo.reset()
    compiled = torch.compile(model, fullgraph=True, backend="eager")
    out = compiled(torch.randn(SHAPE))
    out.sum().backward()
    assert out.shape == (2, 10) and model.classifier[1].weight.grad is not None
    assert any(isinstance(m, blocks.StochasticDepth) and m.p > 0 for m in model.modules())


# ------------------------------------------------------------------------------ TorchScript
@pytest.mark.slow
@NO_TORCHSCRIPT_DEPRECATION
def test_torchscript_gives_the_same_outputs(small) -> None:
    _, model, x, y = small
    scripted = torch.jit.script(model)
    with torch.no_grad():
        torch.testing.assert_close(scripted(x), y)


# ---------------------------------------------------------------------- FX quantization
@pytest.mark.slow
@pytest.mark.skipif(
    importlib.util.find_spec("torch.ao.quantization.quantize_fx") is None,
    reason="this torch has no torch.ao.quantization.quantize_fx",
)
@pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::UserWarning")
def test_fx_quantization_runs_and_stays_close_to_float(small) -> None:
    from torch.ao.quantization import get_default_qconfig_mapping
    from torch.ao.quantization.quantize_fx import convert_fx, prepare_fx

    name, model, x, _ = small
    engine = next((e for e in ("x86", "fbgemm", "qnnpack")
                   if e in torch.backends.quantized.supported_engines), None)
    if engine is None:
        pytest.skip("no quantized engine in this torch build")
    torch.backends.quantized.engine = engine
    torch.manual_seed(0)
    model = calibrate_batchnorm(copy.deepcopy(model), (16, *SHAPE[1:]), batches=2, device="cpu")
    with torch.no_grad():
        expected = model(x)
        prepared = prepare_fx(copy.deepcopy(model), get_default_qconfig_mapping(engine), (x,))
        prepared(torch.randn(16, *SHAPE[1:]))  # calibrate the observers
        quantized = convert_fx(prepared)
        got = quantized(x)
    float_convs = sum(isinstance(m, nn.Conv2d) for m in model.modules())
    int8_convs = sum(isinstance(m, torch.ao.nn.quantized.Conv2d) for m in quantized.modules())
    assert int8_convs == float_convs, (name, int8_convs, float_convs)  # every conv is int8
    assert got.shape == expected.shape and torch.isfinite(got).all()
    # int8 weights and activations after a random init: close to float, not equal
    similarity = torch.nn.functional.cosine_similarity(got.flatten(), expected.flatten(), dim=0)
    assert similarity > 0.7, (name, float(similarity))
