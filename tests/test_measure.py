"""mbcourse.measure: structure, parameters, FLOPs, activation memory and summaries.

Published numbers are the facts: torchvision's documented parameter counts and "GFLOPS" (which
are multiply-adds), MobileNetV2's 300M MAdds, EfficientNet-B0's 0.39B FLOPs (also multiply-adds).
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from mbcourse import costs, measure
from mbcourse.blocks import ConvNormAct, InvertedResidual, MBConv
from mbcourse.inference import fold_batchnorm
from mbcourse.models import efficientnet_b0, efficientnet_v2_s, mobilenet_v2

# name: (builder, torchvision params, torchvision "GFLOPS" (multiply-adds), its eval size)
TORCHVISION = {
    "mobilenet_v2": (mobilenet_v2, 3_504_872, 0.301, 224),
    "efficientnet_b0": (efficientnet_b0, 5_288_548, 0.386, 224),
    "efficientnet_v2_s": (efficientnet_v2_s, 21_458_488, 8.366, 384),
}


@pytest.fixture(scope="module")
def mnv2() -> nn.Module:
    return mobilenet_v2()


# ---------------------------------------------------------------------------- parameters
@pytest.mark.parametrize("name", list(TORCHVISION))
def test_parameter_counts_match_torchvision(name: str) -> None:
    builder, params, _, _ = TORCHVISION[name]
    model = builder()
    assert measure.count_parameters(model) == params
    assert sum(r.params for r in measure.parameters_per_block(model)) == params
    assert sum(r.params for r in measure.parameters_per_stage(model)) == params


def test_trainable_only_skips_frozen_parameters() -> None:
    block = ConvNormAct(4, 8)
    total = measure.count_parameters(block)
    block.conv.weight.requires_grad_(False)
    assert measure.count_parameters(block, trainable_only=True) == total - 4 * 8 * 9
    assert measure.count_parameters(block) == total


def test_block_rows_match_closed_form_costs(mnv2: nn.Module) -> None:
    rows = {r.name: r for r in measure.parameters_per_block(mnv2)}
    # features.2: the first block of row (6, 24, 2, 2), 16 -> 24 channels, stride 2
    assert rows["features.2"].type == "InvertedResidual"
    assert rows["features.2"].params == costs.inverted_residual(16, 24, 112, 2, 6).params
    assert rows["features.0"].params == costs.conv_norm_act(3, 32, 3, 224, 2).params
    assert rows["classifier.1"].params == 1280 * 1000 + 1000


def test_stages_follow_the_paper_table(mnv2: nn.Module) -> None:
    stages = measure.named_stages(mnv2)
    names = [name for name, _ in stages]
    assert names == ["stem", *(f"stage{i}" for i in range(1, 8)), "head", "classifier"]
    assert [len(members) for _, members in stages[1:8]] == [1, 2, 3, 4, 3, 3, 1]
    rows = measure.parameters_per_stage(mnv2)
    assert rows[2].type == "InvertedResidual x 2"


def test_stages_of_a_plain_sequential_are_its_children() -> None:
    net = nn.Sequential(
        nn.Sequential(ConvNormAct(3, 8), InvertedResidual(8, 8)), nn.Flatten(), nn.LazyLinear(2)
    )
    stages = measure.named_stages(net)
    assert [name for name, _ in stages] == ["0", "1", "2"]
    assert [n for n, _ in stages[0][1]] == ["0.0", "0.1"]


def test_named_blocks_of_a_block_is_itself() -> None:
    block = MBConv(8, 8)
    assert measure.named_blocks(block) == [("MBConv", block)]


# ---------------------------------------------------------------------------- FLOPs
def test_mobilenet_v2_madds_match_paper_and_torchvision(mnv2: nn.Module) -> None:
    result = measure.count_flops(mnv2, 224)
    assert result.flops == 2 * result.macs
    assert result.macs == pytest.approx(300e6, rel=0.02)  # paper, Table 4: 300M MAdds
    assert result.gmacs == pytest.approx(0.301, rel=0.005)  # torchvision's "GFLOPS"
    assert result.gflops == pytest.approx(0.602, rel=0.005)  # FlopCounterMode's own unit
    assert set(result.by_operator) == {"convolution", "addmm"}
    assert result.by_operator["addmm"] == 2 * 1280 * 1000


def test_efficientnet_b0_flops_match_paper_and_torchvision() -> None:
    result = measure.count_flops(efficientnet_b0(), 224, device="meta")
    assert result.macs == pytest.approx(0.39e9, rel=0.02)  # paper, Table 2: 0.39B FLOPs
    assert result.gmacs == pytest.approx(0.386, rel=0.005)


def test_efficientnet_v2_s_flops_match_torchvision_at_384() -> None:
    result = measure.count_flops(efficientnet_v2_s(), 384, device="meta")
    assert result.gmacs == pytest.approx(8.366, rel=0.005)
    # the paper's 8.8B (Table 7) is about 5% above every count of this architecture
    assert 0.93 < result.gmacs / 8.8 < 0.97


@pytest.mark.parametrize("name", ["mobilenet_v2", "efficientnet_b0"])
def test_flops_equal_torchvision_model(name: str) -> None:
    tv_models = pytest.importorskip("torchvision.models")
    ours = measure.count_flops(TORCHVISION[name][0](), 160, device="meta")
    theirs = measure.count_flops(getattr(tv_models, name)(), 160, device="meta")
    assert ours.flops == theirs.flops


def test_flop_rows_add_up_and_match_costs(mnv2: nn.Module) -> None:
    result = measure.count_flops(mnv2, 224, device="meta")
    assert sum(r.flops for r in result.blocks) == result.flops
    assert sum(r.flops for r in result.stages) == result.flops
    rows = {r.name: r for r in result.blocks}
    assert rows["features.2"].macs == costs.inverted_residual(16, 24, 112, 2, 6).macs
    assert rows["features.0"].macs == costs.conv_norm_act(3, 32, 3, 224, 2).macs


def test_meta_and_cpu_flops_agree(mnv2: nn.Module) -> None:
    cpu = measure.count_flops(mnv2, 96)
    assert cpu.flops == measure.count_flops(mnv2, 96, device="meta").flops


def test_count_flops_restores_training_mode() -> None:
    model = mobilenet_v2(width_mult=0.25, num_classes=10, small_input=True).train()
    model.classifier.eval()
    measure.count_flops(model, (2, 3, 32, 32))
    assert model.training and model.features[1].training and not model.classifier.training


def test_count_flops_on_device(device: torch.device) -> None:
    block = InvertedResidual(8, 16, 2, 6).to(device)
    result = measure.count_flops(block, (1, 8, 16, 16))
    assert result.macs == costs.inverted_residual(8, 16, 16, 2, 6).macs


# ---------------------------------------------------------------------------- activation memory
@pytest.mark.parametrize("inplace", [True, False])
def test_activation_memory_of_a_hand_checkable_network(inplace: bool) -> None:
    net = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1, bias=False), nn.ReLU(inplace=inplace), nn.Conv2d(8, 4, 1)
    )
    result = measure.activation_memory(net, (1, 3, 8, 8))
    floats = 4  # bytes per float32
    x, h, y = 3 * 64 * floats, 8 * 64 * floats, 4 * 64 * floats
    # in place: the input (held by the caller), the hidden tensor and the output coexist;
    # otherwise the ReLU's output is a second hidden tensor, alive together with the first.
    assert result.peak_bytes == (x + h + y if inplace else x + 2 * h)
    assert result.element_size == floats
    first = result.blocks[0]
    assert (first.input_bytes, first.output_bytes, first.largest_bytes) == (x, h, h)


def test_activation_memory_of_an_inverted_residual() -> None:
    block = InvertedResidual(8, 8, 1, 6)  # hidden 48 channels, residual
    result = measure.activation_memory(block, (1, 8, 16, 16))
    plane = 16 * 16 * 4  # one channel, float32
    (row,) = result.blocks
    assert row.largest_bytes == 48 * plane  # the expanded tensor
    assert result.streaming_bytes == row.boundary_bytes == (8 + 8) * plane
    # eager PyTorch, at the depthwise BatchNorm: input x (kept for the residual), expanded
    # tensor, depthwise conv output and its BatchNorm output: 8 + 3 * 48 channels
    assert result.peak_bytes == (8 + 3 * 48) * plane
    # folding the BatchNorms removes the extra copy: 8 + 2 * 48 channels
    assert measure.activation_memory(fold_batchnorm(block), (1, 8, 16, 16)).peak_bytes == (
        8 + 2 * 48
    ) * plane


def test_activation_memory_of_mobilenet_v2(mnv2: nn.Module) -> None:
    result = measure.activation_memory(mnv2, 224)
    rows = {r.name: r for r in result.blocks}
    # the paper's Table 3 figure for MobileNetV2: the 16 x 112 x 112 bottleneck tensor,
    # 400K at 16-bit floats (ours are float32: 4 bytes)
    assert result.elements(rows["features.1"].output_bytes) == 16 * 112 * 112
    assert result.elements(rows["features.2"].largest_bytes) == 96 * 112 * 112
    assert result.peak_bytes == max(r.peak_bytes for r in result.blocks)
    assert result.peak_bytes > 3 * result.streaming_bytes  # eager holds the expanded tensors
    assert [r.name for r in result.stages][:2] == ["stem", "stage1"]
    meta = measure.activation_memory(mnv2, 224, device="meta")
    assert abs(meta.peak_bytes - result.peak_bytes) < 4096


# ---------------------------------------------------------------------------- summary
def test_summary_rows(mnv2: nn.Module) -> None:
    stats = measure.summary(mnv2, 224, depth=2)
    assert stats.total_params == measure.count_parameters(mnv2)
    classes = [layer.class_name for layer in stats.summary_list]
    assert classes.count("InvertedResidual") == 17
    text = str(stats)
    assert "InvertedResidual" in text and "Linear" in text
    assert "Conv2d" not in text  # the convs sit at depth 3, inside the blocks
    assert "Conv2d" in str(measure.summary(mnv2, 64, depth=3))
    assert "Total mult-adds (M): 300.81" in text  # the unit itself, not "Units.MEGABYTES"


# ---------------------------------------------------------------------------- errors
@pytest.mark.parametrize("bad", [0, -3, (1, 3, 0, 4), "224", (3,), 2.5, True])
def test_bad_input_size_is_rejected(bad: object) -> None:
    with pytest.raises(ValueError, match=r"count_flops: input_size"):
        measure.count_flops(ConvNormAct(3, 4), bad)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "func",
    [measure.count_parameters, measure.parameters_per_block, measure.named_stages],
)
def test_non_module_is_rejected(func: object) -> None:
    with pytest.raises(TypeError, match=r"(model|module) must be a torch.nn.Module"):
        func("mobilenet")  # type: ignore[operator]


def test_bad_summary_depth() -> None:
    with pytest.raises(ValueError, match="summary: depth must be a non-negative integer"):
        measure.summary(ConvNormAct(3, 4), 8, depth=-1)
