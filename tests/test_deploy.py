"""mbcourse.deploy: ONNX export, ONNX Runtime equality, int8 quantization, Lite, clear errors.

onnx, onnxruntime and onnxscript are in the ``test`` extra, so these tests run (no skip);
the missing-package errors are tested by making the import fail.
"""

from __future__ import annotations

import builtins
import importlib

import pytest
import torch
from torch import nn

from mbcourse.blocks import (
    ConvNormAct,
    DepthwiseSeparableConv,
    FusedMBConv,
    InvertedResidual,
    MBConv,
    SqueezeExcitation,
    StochasticDepth,
)
from mbcourse.deploy import (
    OnnxExportError,
    OnnxMismatchError,
    OrtModule,
    TensorCalibrationReader,
    check_equal,
    count_lite_changes,
    deployment_variants,
    digits_calibration,
    export_onnx,
    ort_session,
    quantize_int8,
    run_session,
    to_lite,
)
from mbcourse.measure import compare_latency
from mbcourse.models import efficientnet_b0, efficientnet_v2_s, mobilenet_v2
from mbcourse.studies.experiments import tiny_efficientnet, tiny_mobilenet_v2
from mbcourse.training.data import TensorLoader, load_digits
from mbcourse.training.train import evaluate, fit

BLOCKS = {
    "ConvNormAct": (lambda: ConvNormAct(8, 16, 3, 2), (2, 8, 12, 12)),
    "DepthwiseSeparableConv": (lambda: DepthwiseSeparableConv(8, 16, 3, 1), (2, 8, 12, 12)),
    "InvertedResidual": (lambda: InvertedResidual(16, 16, 1, 6), (2, 16, 12, 12)),
    "SqueezeExcitation": (lambda: SqueezeExcitation(16, 4), (2, 16, 12, 12)),
    "MBConv": (lambda: MBConv(16, 24, 2, 4, 5), (2, 16, 12, 12)),
    "MBConv residual": (lambda: MBConv(16, 16, 1, 4, 3, stochastic_depth_prob=0.2),
                        (2, 16, 12, 12)),
    "FusedMBConv": (lambda: FusedMBConv(16, 24, 2, 4), (2, 16, 12, 12)),
    "FusedMBConv e=1": (lambda: FusedMBConv(16, 16, 1, 1), (2, 16, 12, 12)),
    "StochasticDepth": (lambda: StochasticDepth(0.5), (2, 16, 12, 12)),
}


@pytest.mark.parametrize("name", list(BLOCKS))
def test_every_block_exports_and_ort_matches_eager(
    name: str, tmp_path, randomise_batchnorms
) -> None:
    build, shape = BLOCKS[name]
    block = randomise_batchnorms(build())
    path = export_onnx(block, shape, tmp_path / "block.onnx")
    assert path.is_file()
    diff = check_equal(block, path, shape, atol=1e-4)
    assert diff <= 1e-4
    other = torch.randn(shape) * 3  # a second, wider input
    assert torch.allclose(run_session(ort_session(path), other), block(other), atol=1e-4)


@pytest.mark.parametrize("exporter", ["dynamo", "torchscript"])
def test_dynamic_batch_accepts_any_batch(exporter: str, tmp_path, randomise_batchnorms) -> None:
    block = randomise_batchnorms(MBConv(8, 8, 1, 4))
    path = export_onnx(block, (1, 8, 10, 10), tmp_path / "b.onnx", exporter=exporter,
                       dynamic_batch=True)
    for n in (1, 5):
        check_equal(block, path, (n, 8, 10, 10))


@pytest.mark.slow
@pytest.mark.parametrize(("build", "exporter"), [(mobilenet_v2, "dynamo"),
                                                (efficientnet_b0, "dynamo"),
                                                (efficientnet_v2_s, "torchscript")],
                         ids=lambda b: getattr(b, "__name__", b))
def test_models_export_and_match_on_small_inputs(
    build, exporter: str, tmp_path, randomise_batchnorms
) -> None:
    """The networks, at 64 x 64 to stay quick (V2-S with the faster TorchScript exporter)."""
    torch.manual_seed(0)
    model = randomise_batchnorms(build(num_classes=10))
    shape = (1, 3, 64, 64)
    path = export_onnx(model, shape, tmp_path / "m.onnx", exporter=exporter)
    session = ort_session(path, threads=1, optimized_path=tmp_path / "m_opt.onnx")
    check_equal(model, session, shape)
    # the offline-optimised graph ONNX Runtime saved runs without optimising again
    offline = ort_session(tmp_path / "m_opt.onnx", optimization="disable")
    x = torch.randn(shape)
    assert torch.allclose(run_session(offline, x), run_session(session, x), atol=1e-5)


@pytest.fixture(scope="module")
def trained_tiny() -> tuple[nn.Module, torch.Tensor, torch.Tensor]:
    """A small MobileNetV2 trained for two epochs on 16 x 16 digits, and the test split."""
    train, test = load_digits(image_size=16)
    tx, ty = train.tensors()
    torch.manual_seed(0)
    model = tiny_mobilenet_v2(repeats=1)
    fit(model, TensorLoader(tx, ty, 64, shuffle=True), TensorLoader(*test.tensors(), 512),
        epochs=3, device="cpu")
    return model.eval(), *test.tensors()


@pytest.mark.slow
def test_trained_net_matches_and_int8_stays_close(trained_tiny, tmp_path) -> None:
    model, x, y = trained_tiny
    fp32 = export_onnx(model, (1, 3, 16, 16), tmp_path / "fp32.onnx", dynamic_batch=True)
    assert check_equal(model, fp32, x[:64]) <= 1e-4
    int8 = quantize_int8(fp32, digits_calibration(64, image_size=16), tmp_path / "int8.onnx")
    import onnx

    ops = {node.op_type for node in onnx.load(str(int8)).graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= ops
    eager_acc = (model(x).argmax(1) == y).float().mean().item()
    int8_acc = (run_session(int8, x).argmax(1) == y).float().mean().item()
    assert eager_acc > 0.5  # it learned something
    assert abs(int8_acc - eager_acc) < 0.05
    assert not (tmp_path / "int8_prep.onnx").exists()


def test_quantize_with_fixed_batch_feeds_calibration_in_that_batch(
    tmp_path, randomise_batchnorms
) -> None:
    net = randomise_batchnorms(tiny_mobilenet_v2(repeats=1))
    fp32 = export_onnx(net, (4, 3, 16, 16), tmp_path / "f.onnx", exporter="torchscript")
    int8 = quantize_int8(fp32, torch.randn(8, 3, 16, 16))
    assert run_session(int8, torch.randn(4, 3, 16, 16)).shape == (4, 10)
    with pytest.raises(ValueError, match="multiple of 4"):
        quantize_int8(fp32, torch.randn(6, 3, 16, 16))
    with pytest.raises(ValueError, match=r"expects an input of shape \(4, 3, 16, 16\)"):
        quantize_int8(fp32, torch.randn(8, 3, 20, 20))


def test_calibration_reader_yields_batches_then_none() -> None:
    reader = TensorCalibrationReader("x", torch.zeros(5, 3, 4, 4), batch_size=2)
    sizes = []
    while (batch := reader.get_next()) is not None:
        sizes.append(batch["x"].shape[0])
    assert sizes == [2, 2, 1]
    reader.rewind()
    assert reader.get_next() is not None
    assert digits_calibration(10, image_size=12).shape == (10, 3, 12, 12)


def test_ort_module_runs_in_compare_latency_with_eager(tmp_path, randomise_batchnorms) -> None:
    block = randomise_batchnorms(MBConv(8, 8, 1, 4))
    variants = deployment_variants(block, (1, 8, 16, 16), calibration=torch.randn(4, 8, 16, 16),
                                   threads=1, folder=tmp_path)
    assert list(variants) == ["eager", "optimize_for_inference", "ORT fp32", "ORT int8"]
    assert isinstance(variants["ORT fp32"], OrtModule)
    timings = compare_latency(variants, (1, 8, 16, 16), device="cpu", rounds=2,
                              min_run_time=0.01, num_threads=1)
    assert all(t.median_ms > 0 for t in timings.values())


def test_to_lite_replaces_silu_and_se_only() -> None:
    net = tiny_efficientnet(se_reduction=4)
    before = count_lite_changes(net)
    assert before["silu"] > 0 and before["se"] > 0
    lite = to_lite(net)
    assert count_lite_changes(lite) == {"silu": 0, "se": 0}
    assert count_lite_changes(net) == before  # the input is not modified
    assert sum(isinstance(m, nn.ReLU6) for m in lite.modules()) == before["silu"]
    assert lite(torch.randn(2, 3, 16, 16)).shape == (2, 10)
    b0 = to_lite(efficientnet_b0())
    assert count_lite_changes(b0) == {"silu": 0, "se": 0}
    assert b0.features[0].conv.out_channels == 32  # Lite's fixed stem: B0's own
    with pytest.raises(ValueError, match=r"to_lite: .* already 'lite'"):
        to_lite(lite)
    with pytest.raises(TypeError, match=r"to_lite: model must be a torch\.nn\.Module"):
        to_lite("b0")  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------------
# Clear errors
# --------------------------------------------------------------------------------------------
class _DataDependent(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.sum() > 0:  # Python control flow on the data: not one graph
            return x * 2
        return -x


def test_untraceable_model_gets_a_clear_error(tmp_path) -> None:
    with pytest.raises(OnnxExportError, match=r"export_onnx: could not export _DataDependent.*"
                       r"torch\.where"):
        export_onnx(_DataDependent(), (1, 3, 4, 4), tmp_path / "bad.onnx")


def test_wrong_input_shape_errors_name_the_function_and_shapes(tmp_path) -> None:
    block = MBConv(16, 16, 1, 4)
    with pytest.raises(ValueError, match=r"export_onnx: MBConv does not accept an input of "
                       r"shape \(1, 3, 8, 8\).*16 input channels"):
        export_onnx(block, (1, 3, 8, 8))
    with pytest.raises(ValueError, match="export_onnx: input_shape must be"):
        export_onnx(block, (1, 16, -8, 8))
    with pytest.raises(ValueError, match="export_onnx: exporter must be one of"):
        export_onnx(block, (1, 16, 8, 8), exporter="jit")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"export_onnx: model must be a torch\.nn\.Module"):
        export_onnx("MBConv", (1, 16, 8, 8))  # type: ignore[arg-type]
    path = export_onnx(block, (1, 16, 8, 8), tmp_path / "b.onnx", exporter="torchscript")
    with pytest.raises(ValueError, match=r"run_session: the ONNX model expects an input of "
                       r"shape \(1, 16, 8, 8\), got \(1, 16, 9, 9\)"):
        run_session(path, torch.randn(1, 16, 9, 9))
    with pytest.raises(ValueError, match="OrtModule: the ONNX model expects"):
        OrtModule(path)(torch.randn(2, 16, 8, 8))
    with pytest.raises(FileNotFoundError, match="ort_session: no ONNX file"):
        ort_session(tmp_path / "missing.onnx")
    with pytest.raises(ValueError, match="ort_session: threads must be a positive integer"):
        ort_session(path, threads=0)


def test_check_equal_raises_when_outputs_differ(tmp_path, randomise_batchnorms) -> None:
    block = randomise_batchnorms(ConvNormAct(4, 4, 3))
    path = export_onnx(block, (1, 4, 6, 6), tmp_path / "c.onnx", exporter="torchscript")
    changed = randomise_batchnorms(ConvNormAct(4, 4, 3))  # other weights
    with pytest.raises(OnnxMismatchError, match=r"check_equal: .* differs .* more than atol"):
        check_equal(changed, path, (1, 4, 6, 6))


@pytest.mark.parametrize("missing", ["onnxruntime", "onnx", "onnxscript"])
def test_missing_packages_say_what_to_install(missing: str, monkeypatch, tmp_path) -> None:
    real_import = builtins.__import__

    def fake_import(name, *args, **kwargs):
        if name == missing or name.startswith(missing + "."):
            raise ImportError(f"No module named {name!r}")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", fake_import)
    monkeypatch.setattr(importlib, "import_module", lambda name, *a: fake_import(name))
    call = {
        "onnxruntime": lambda: ort_session(tmp_path / "x.onnx"),
        "onnx": lambda: export_onnx(ConvNormAct(3, 4), (1, 3, 4, 4)),
        "onnxscript": lambda: export_onnx(ConvNormAct(3, 4), (1, 3, 4, 4)),
    }[missing]
    with pytest.raises(ImportError, match=rf"needs the package '{missing}'.*mbcourse\[deploy\]"):
        call()


def test_deploy_imports_without_onnx_packages() -> None:
    """The package itself imports nothing optional at import time."""
    import sys

    import mbcourse.deploy as deploy

    assert "onnxruntime" not in {m.split(".")[0] for m in vars(deploy)}
    assert callable(deploy.export_onnx) and "mbcourse.deploy.onnx" in sys.modules


def test_evaluate_on_int8_session_via_ort_module(trained_tiny, tmp_path) -> None:
    """An OrtModule works with the package's evaluate loop (numpy in/out behind a module)."""
    model, x, y = trained_tiny
    path = export_onnx(model, (1, 3, 16, 16), tmp_path / "m.onnx", dynamic_batch=True)
    result = evaluate(OrtModule(path), TensorLoader(x, y, 128), device="cpu")
    assert 0.0 <= result["accuracy"] <= 1.0


# --------------------------------------------------------------------------------------------
# What ONNX Runtime runs: the optimized graph, operator counts, the profile, node -> module
# --------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def tiny_int8(tmp_path_factory, randomise_batchnorms) -> tuple[object, object, torch.Tensor]:
    """A small network (stride-2 depthwise convs, a residual add) in fp32 and int8 files."""
    folder = tmp_path_factory.mktemp("graph")
    torch.manual_seed(0)
    net = randomise_batchnorms(tiny_mobilenet_v2(repeats=2))
    fp32 = export_onnx(net, (1, 3, 16, 16), folder / "fp32.onnx", exporter="torchscript",
                       dynamic_batch=True)
    calibration = torch.randn(8, 3, 16, 16, generator=torch.Generator().manual_seed(1))
    return fp32, quantize_int8(fp32, calibration, folder / "int8.onnx"), calibration


def test_the_qdq_file_is_not_what_runs(tiny_int8, tmp_path) -> None:
    from mbcourse.deploy import operator_counts, optimized_graph

    fp32, int8, _ = tiny_int8
    in_file = operator_counts(int8)
    assert in_file["Conv"] > 0 and in_file["DequantizeLinear"] > in_file["Conv"]
    assert "QLinearConv" not in in_file  # the file holds float ops between Q and DQ
    runs = operator_counts(optimized_graph(int8, tmp_path / "opt.onnx"))
    assert runs.get("QLinearConv", 0) == in_file["Conv"] and "Conv" not in runs
    assert runs.get("DequantizeLinear", 0) < in_file["DequantizeLinear"]
    assert list(runs.values()) == sorted(runs.values(), reverse=True)  # most frequent first
    default = optimized_graph(fp32)
    assert default.name == "fp32_optimized.onnx" and default.is_file()
    with pytest.raises(FileNotFoundError, match="operator_counts: no ONNX file"):
        operator_counts(tmp_path / "none.onnx")


def test_profile_sums_kernel_time_per_operator(tiny_int8) -> None:
    from mbcourse.deploy import profile_operators

    _, int8, calibration = tiny_int8
    times = profile_operators(int8, calibration[:1], runs=3, warmup=1)
    assert "QLinearConv" in times and all(ms > 0 for ms in times.values())
    assert list(times.values()) == sorted(times.values(), reverse=True)
    with pytest.raises(ValueError, match=r"profile_operators: x must be an \(N, C, H, W\)"):
        profile_operators(int8, torch.zeros(3, 16, 16))


@pytest.mark.parametrize("exporter", ["dynamo", "torchscript"])
def test_node_modules_name_the_pytorch_module(
    exporter: str, tmp_path, randomise_batchnorms
) -> None:
    from mbcourse.deploy import node_modules

    net = randomise_batchnorms(tiny_mobilenet_v2(repeats=1))
    path = export_onnx(net, (1, 3, 16, 16), tmp_path / "m.onnx", exporter=exporter)
    owners = set(node_modules(path).values())
    # (the dynamo exporter folds each BatchNorm into its conv and keeps the norm's scope)
    assert {"stem", "blocks.0.depthwise", "head"} <= {o.rsplit(".", 1)[0] for o in owners}
    assert all(o == "" or o.split(".")[0] in {"stem", "blocks", "head", "pool", "classifier"}
               for o in owners)


def test_weight_granularity_per_layer_kind(tiny_int8, tmp_path) -> None:
    import onnx
    from onnx import numpy_helper

    from mbcourse.deploy import depthwise_weights

    fp32, _, calibration = tiny_int8
    depthwise = set(depthwise_weights(fp32))
    graph = onnx.load(str(fp32)).graph
    groups = [next((a.i for a in n.attribute if a.name == "group"), 1) for n in graph.node
              if n.op_type == "Conv"]
    assert len(depthwise) == sum(g > 1 for g in groups) > 0

    def scale_sizes(**kwargs: object) -> tuple[set[int], set[int]]:
        path = quantize_int8(fp32, calibration, tmp_path / "q.onnx",
                             calibration_cache=tmp_path / "cal.json", **kwargs)
        conv_weights = {n.input[1] for n in onnx.load(str(fp32)).graph.node if n.op_type == "Conv"}
        scales = {i.name.removesuffix("_scale"): numpy_helper.to_array(i).size
                  for i in onnx.load(str(path)).graph.initializer
                  if i.name.removesuffix("_scale") in conv_weights}
        dw = {n for k, n in scales.items() if k in depthwise}
        other = {n for k, n in scales.items() if k not in depthwise}
        return dw, other

    dw, other = scale_sizes(per_channel=True)
    assert min(dw) > 1 and min(other) > 1
    dw, other = scale_sizes(per_channel=True, depthwise_per_channel=False)
    assert dw == {1} and min(other) > 1
    dw, other = scale_sizes(per_channel=False, depthwise_per_channel=True)
    assert min(dw) > 1 and other == {1}
    dw, other = scale_sizes(per_channel=False)
    assert dw == {1} and other == {1}


def test_quantize_only_some_modules(tiny_int8, tmp_path) -> None:
    from mbcourse.deploy import operator_counts

    fp32, whole, calibration = tiny_int8
    part = quantize_int8(fp32, calibration, tmp_path / "part.onnx", modules=["stem"])
    assert 0 < operator_counts(part)["QuantizeLinear"] < operator_counts(whole)["QuantizeLinear"]
    with pytest.raises(ValueError, match=r"no operator of the graph comes from modules \['nope'\]"):
        quantize_int8(fp32, calibration, tmp_path / "x.onnx", modules=["nope"])
    with pytest.raises(ValueError, match="modules must be a non-empty list"):
        quantize_int8(fp32, calibration, tmp_path / "x.onnx", modules="stem")  # type: ignore[arg-type]


def test_logit_agreement() -> None:
    from mbcourse.deploy import logit_agreement

    ref = torch.tensor([[2.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    same = logit_agreement(ref, ref + 5.0)  # a constant shift changes no probability
    assert same["top1"] == 1.0 and abs(same["kl"]) < 1e-12 and same["max_abs"] == 5.0
    flipped = logit_agreement(ref, torch.tensor([[0.0, 2.0, 0.0], [0.0, 1.0, 0.0]]))
    assert flipped["top1"] == 0.5 and flipped["kl"] > 0
    with pytest.raises(ValueError, match="logit_agreement: reference and logits must be"):
        logit_agreement(ref, ref[:1])


def test_same_padding_exports_as_constant_padding(tmp_path, randomise_batchnorms) -> None:
    """TensorFlow SAME padding (EfficientNet-Lite) is frozen for the export's input size."""
    import onnx

    block = randomise_batchnorms(nn.Sequential(ConvNormAct(3, 8, 3, 2, padding="same"),
                                               MBConv(8, 8, 2, 4, 5, se_ratio=0.0,
                                                      padding="same")))
    for exporter in ("torchscript", "dynamo"):
        path = export_onnx(block, (1, 3, 15, 16), tmp_path / f"{exporter}.onnx",
                           exporter=exporter, dynamic_batch=True)
        assert "Shape" not in {n.op_type for n in onnx.load(str(path)).graph.node}
        check_equal(block, path, (2, 3, 15, 16))
    assert any(type(m).__name__ == "SamePad" for m in block.modules())  # the input is untouched
