"""The model zoo: parameter counts, tables, shapes, teaching configurations, argument errors."""

from __future__ import annotations

import inspect
import itertools
import math
from dataclasses import replace

import pytest
import torch
from optional_torchvision import needs_torchvision, tv_models
from torch import nn

from mbcourse.blocks import ConvNormAct, FusedMBConv, InvertedResidual, MBConv
from mbcourse.models import (
    EFFICIENTNET_B0_TABLE,
    EFFICIENTNET_V2_S_TABLE,
    MOBILENET_V2_TABLE,
    EfficientNet,
    EfficientNetOptions,
    HeadRow,
    MobileNetV2,
    StageRow,
    StemRow,
    efficientnet_b0,
    efficientnet_config,
    efficientnet_v2_s,
    get_model,
    list_models,
    load_torchvision_weights,
    mobilenet_v2,
    mobilenet_v2_table,
)

# torchvision's documented parameter counts (``weights.meta["num_params"]``).
TORCHVISION_PARAMS = {
    "mobilenet_v2": 3_504_872,
    "efficientnet_b0": 5_288_548,
    "efficientnet_b1": 7_794_184,
    "efficientnet_b2": 9_109_994,
    "efficientnet_b3": 12_233_232,
    "efficientnet_b4": 19_341_616,
    "efficientnet_b5": 30_389_784,
    "efficientnet_b6": 43_040_704,
    "efficientnet_b7": 66_347_960,
    "efficientnet_v2_s": 21_458_488,
    "efficientnet_v2_m": 54_139_356,
    "efficientnet_v2_l": 118_515_272,
}
# torchvision's BatchNorm settings: (eps, momentum).
NORM = {name: (1e-5, 0.1) for name in TORCHVISION_PARAMS}
NORM.update({f"efficientnet_b{i}": (1e-3, 0.01) for i in (5, 6, 7)})
NORM.update({f"efficientnet_v2_{s}": (1e-3, 0.1) for s in "sml"})


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def blocks_of(model: nn.Module) -> list[nn.Module]:
    kinds = (InvertedResidual, MBConv, FusedMBConv)
    return [m for m in model.modules() if isinstance(m, kinds)]


@pytest.fixture(scope="module", params=list(TORCHVISION_PARAMS))
def zoo_model(request: pytest.FixtureRequest) -> tuple[str, nn.Module]:
    """Each variant, built once for the tests that use it (pytest groups them by variant)."""
    torch.manual_seed(0)
    return request.param, get_model(request.param)


def test_parameter_count_equals_torchvision_docs(zoo_model: tuple[str, nn.Module]) -> None:
    name, model = zoo_model
    assert n_params(model) == TORCHVISION_PARAMS[name]


def test_norm_layers_as_torchvision(zoo_model: tuple[str, nn.Module]) -> None:
    name, model = zoo_model
    norms = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    assert norms and not any(isinstance(m, nn.GroupNorm) for m in model.modules())
    assert {(m.eps, m.momentum) for m in norms} == {NORM[name]}


def test_list_models_and_get_model() -> None:
    assert list_models(lite=False) == list(TORCHVISION_PARAMS)
    assert list_models() == [*TORCHVISION_PARAMS, *(f"efficientnet_lite{i}" for i in range(3))]
    model = get_model("efficientnet_b0", num_classes=3, width_mult=0.25, depth_mult=0.25)
    assert isinstance(model, EfficientNet) and model.classifier[1].out_features == 3
    assert isinstance(get_model("mobilenet_v2", width_mult=0.25), MobileNetV2)


def test_get_model_unknown_name_lists_valid_names() -> None:
    with pytest.raises(ValueError, match="efficientnet_b9") as info:
        get_model("efficientnet_b9")
    for name in TORCHVISION_PARAMS:
        assert name in str(info.value)


@needs_torchvision
def test_documented_counts_are_torchvisions() -> None:
    documented = {
        name: tv_models.get_model_weights(name).DEFAULT.meta["num_params"]
        for name in TORCHVISION_PARAMS
    }
    assert documented == TORCHVISION_PARAMS


@needs_torchvision
@pytest.mark.parametrize("width", [0.35, 0.5, 0.75, 1.3, 1.4])
def test_mobilenet_v2_width_multipliers_match_torchvision(width: float) -> None:
    ours = mobilenet_v2(width_mult=width)
    theirs = tv_models.mobilenet_v2(width_mult=width)
    assert n_params(ours) == n_params(theirs)
    load_torchvision_weights(ours, theirs)  # raises unless every tensor's shape agrees


# ---------------------------------------------------------------------------------- tables
def test_mobilenet_v2_table_is_the_papers_table_2() -> None:
    stem, *blocks, head = MOBILENET_V2_TABLE
    assert stem == StemRow(0, kernel=3, stride=2, resolution=224, out_channels=32)
    assert head == HeadRow(8, kernel=1, resolution=7, out_channels=1280)
    rows = [(r.expand_ratio, r.out_channels, r.layers, r.stride) for r in blocks]
    assert all(r.block is InvertedResidual and r.kernel == 3 for r in blocks)
    assert rows == [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2),
                    (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)]
    lines = mobilenet_v2_table()
    assert lines[0] == {"input": "224² × 3", "operator": "conv2d", "t": None, "c": 32,
                        "n": 1, "s": 2}
    assert lines[1]["input"] == "112² × 32" and lines[7]["input"] == "7² × 160"
    assert lines[-3] == {"input": "7² × 320", "operator": "conv2d 1x1", "t": None,
                         "c": 1280, "n": 1, "s": 1}
    assert lines[-2]["operator"] == "avgpool 7x7" and lines[-1]["c"] == "k"


def test_every_row_of_a_table_is_used_stem_and_head_included() -> None:
    stem, *blocks, head = MOBILENET_V2_TABLE
    table = (replace(stem, kernel=5, out_channels=16), *blocks, replace(head, out_channels=640))
    model = MobileNetV2(table=table, width_mult=0.5)
    assert model.features[0].conv.kernel_size == (5, 5)
    assert model.features[0].out_channels == 8  # 16 x 0.5
    assert model.features[-1].out_channels == model.last_channel == 640  # x max(1, 0.5)
    for bad in (MOBILENET_V2_TABLE[1:], MOBILENET_V2_TABLE[:-1], (stem, head), (stem, *blocks)):
        with pytest.raises(ValueError, match=r"MobileNetV2: table must be a sequence \(StemRow"):
            MobileNetV2(table=bad)
    b0 = efficientnet_config("efficientnet_b0")
    assert (b0.stem_kernel, b0.stem_stride, b0.head_kernel) == (3, 2, 1)


def test_blocks_are_built_from_rows_by_keyword() -> None:
    row = MOBILENET_V2_TABLE[2]  # t=6, c=24, n=2, s=2
    assert row.label == "bottleneck6, k3x3"
    with pytest.raises(ValueError, match="make_block: resolve the table first"):
        row.make_block(0)
    resolved = replace(row, in_channels=16)
    built = [resolved.make_block(i) for i in range(row.layers)]
    assert [(b.in_channels, b.out_channels, b.stride, b.expanded_channels) for b in built] == [
        (16, 24, 2, 96), (24, 24, 1, 144)]
    assert [(b.in_channels, b.stride) for b in mobilenet_v2().features[2:4]] == [(16, 2), (24, 1)]
    se_row = replace(EFFICIENTNET_B0_TABLE[2], in_channels=16)  # MBConv6, k3x3, 24, SE0.25
    block = se_row.make_block(1, se_ratio=se_row.se_ratio, stochastic_depth_prob=0.1)
    assert block.stochastic_depth.p == 0.1 and block.se.squeeze_channels == 6  # 24 // 4


def test_mobilenet_v2_stage_indices_follow_the_table() -> None:
    model = mobilenet_v2(width_mult=0.5)
    assert [len(ix) for ix in model.stage_indices] == [r.layers for r in MOBILENET_V2_TABLE[1:-1]]
    flat = [i for ix in model.stage_indices for i in ix]
    assert flat == list(range(1, len(model.features) - 1))
    assert [r.out_channels for r in model.table] == [8, 16, 16, 32, 48, 80, 160]  # rounded c/2
    assert [r.in_channels for r in model.table] == [16, 8, 16, 16, 32, 48, 80]
    groups = model.stage_modules()
    assert list(groups) == ["stem"] + [f"stage{i}" for i in range(1, 8)] + ["head"]
    grouped = sum(n_params(m) for m in groups.values())
    assert grouped == n_params(model.features)
    first = [m for m in groups["stage2"] if isinstance(m, InvertedResidual)]
    assert [b.stride for b in first] == [2, 1]


def test_efficientnet_b0_table_is_the_papers_table_1() -> None:
    first, *blocks, last = EFFICIENTNET_B0_TABLE
    assert (first.stage, first.operator, first.resolution, first.out_channels, first.layers) == (
        1, "Conv3x3", 224, 32, 1)
    assert (last.stage, last.operator, last.resolution, last.out_channels, last.layers) == (
        9, "Conv1x1 & Pooling & FC", 7, 1280, 1)
    assert isinstance(first, StemRow) and isinstance(last, HeadRow)
    assert first.block is last.block is ConvNormAct
    assert all(isinstance(r, StageRow) and r.block is MBConv for r in blocks)
    assert [(r.label, r.resolution, r.out_channels, r.layers) for r in blocks] == [
        ("MBConv1, k3x3, SE0.25", 112, 16, 1),
        ("MBConv6, k3x3, SE0.25", 112, 24, 2),
        ("MBConv6, k5x5, SE0.25", 56, 40, 2),
        ("MBConv6, k3x3, SE0.25", 28, 80, 3),
        ("MBConv6, k5x5, SE0.25", 14, 112, 3),
        ("MBConv6, k5x5, SE0.25", 14, 192, 4),
        ("MBConv6, k3x3, SE0.25", 7, 320, 1),
    ]
    # The stride column is the one the resolution column implies.
    rows = EFFICIENTNET_B0_TABLE
    for row, nxt in itertools.pairwise(rows):
        assert row.resolution == nxt.resolution * row.stride
    assert last.out_channels == 4 * blocks[-1].out_channels  # torchvision's head: 4 x last


def test_efficientnet_v2_s_table_is_the_papers_table_4() -> None:
    assert [(r.stage, r.label, r.stride, r.out_channels, r.layers)
            for r in EFFICIENTNET_V2_S_TABLE] == [
        (0, "Conv3x3", 2, 24, 1),
        (1, "Fused-MBConv1, k3x3", 1, 24, 2),
        (2, "Fused-MBConv4, k3x3", 2, 48, 4),
        (3, "Fused-MBConv4, k3x3", 2, 64, 4),
        (4, "MBConv4, k3x3, SE0.25", 2, 128, 6),
        (5, "MBConv6, k3x3, SE0.25", 1, 160, 9),
        (6, "MBConv6, k3x3, SE0.25", 2, 256, 15),
        (7, "Conv1x1 & Pooling & FC", None, 1280, 1),
    ]  # fmt: skip


def test_compound_scaling_is_computed_from_b0() -> None:
    b7 = efficientnet_config("efficientnet_b7")  # width 2.0, depth 3.1
    assert b7.stem_channels == 64 and b7.head_channels == 2560
    assert [s.layers for s in b7.stages] == [4, 7, 7, 10, 10, 13, 4]  # ceil(n * 3.1)
    assert b7.num_blocks == 55
    b2 = efficientnet_config("efficientnet_b2")  # width 1.1: 16 * 1.1 = 17.6 -> 16, 320 -> 352
    assert [s.out_channels for s in b2.stages] == [16, 24, 48, 88, 120, 208, 352]
    assert b2.head_channels == 1408
    for name in ("efficientnet_b1", "efficientnet_b4"):
        cfg = efficientnet_config(name)
        assert [s.in_channels for s in cfg.stages[1:]] == [s.out_channels for s in cfg.stages[:-1]]


def test_efficientnet_stage_modules_use_the_papers_stage_numbers() -> None:
    model = efficientnet_v2_s(width_mult=0.25, depth_mult=0.25)
    groups = model.stage_modules()
    assert list(groups) == ["stem", *(f"stage{i}" for i in range(1, 7)), "head"]
    assert all(isinstance(b, FusedMBConv) for b in groups["stage3"])
    assert all(isinstance(b, MBConv) for b in groups["stage4"])
    assert sum(n_params(m) for m in groups.values()) == n_params(model.features)


# ------------------------------------------------------------------------------- behaviour
@pytest.mark.parametrize("name", ["efficientnet_b0", "efficientnet_v2_s"])
def test_stochastic_depth_rate_grows_linearly(name: str) -> None:
    model = get_model(name, stochastic_depth_prob=0.3, width_mult=0.25)
    rates = [b.stochastic_depth.p for b in blocks_of(model)]
    total = model.config.num_blocks
    assert len(rates) == total
    assert rates == pytest.approx([0.3 * i / total for i in range(total)])
    steps = {round(b - a, 12) for a, b in itertools.pairwise(rates)}
    assert steps == {round(0.3 / total, 12)}


def test_output_shapes_and_feature_maps() -> None:
    with torch.no_grad():
        mnet = mobilenet_v2(num_classes=7).eval()
        assert mnet.features(torch.randn(1, 3, 224, 224)).shape == (1, 1280, 7, 7)
        x = torch.randn(2, 3, 64, 64)
        assert mnet(x).shape == (2, 7)
        b0 = efficientnet_b0(num_classes=5).eval()
        assert b0.features(x).shape == (2, 1280, 2, 2)  # downsampling 32
        assert b0(x).shape == (2, 5)
        v2 = efficientnet_v2_s(num_classes=4).eval()
        assert v2.features(x).shape == (2, 1280, 2, 2)
        assert v2(x).shape == (2, 4)


def test_classifier_and_dropout_defaults() -> None:
    assert mobilenet_v2(width_mult=0.25).classifier[0].p == 0.2
    assert efficientnet_b0(width_mult=0.25).classifier[0].p == 0.2
    b7_like = get_model("efficientnet_b7", width_mult=0.25, depth_mult=0.25)
    assert b7_like.classifier[0].p == 0.5
    assert efficientnet_v2_s(width_mult=0.25, dropout=0.1).classifier[0].p == 0.1


def test_weight_initialisation_as_torchvision() -> None:
    mnet = mobilenet_v2(num_classes=1000)
    lin = mnet.classifier[1]
    assert lin.weight.std().item() == pytest.approx(0.01, rel=0.05)
    assert torch.count_nonzero(lin.bias) == 0
    conv = mnet.features[-1].conv  # 1x1, 320 -> 1280: kaiming fan_out std sqrt(2 / 1280)
    assert conv.weight.std().item() == pytest.approx(math.sqrt(2 / 1280), rel=0.05)
    b0 = efficientnet_b0(num_classes=100)
    bound = 1 / math.sqrt(100)
    w = b0.classifier[1].weight
    assert w.abs().max().item() <= bound and w.abs().max().item() > 0.9 * bound
    assert all(torch.all(m.weight == 1) and torch.all(m.bias == 0)
               for m in b0.modules() if isinstance(m, nn.BatchNorm2d))


# ------------------------------------------------------------------ teaching configurations
SMALL = {
    "mobilenet_v2": dict(width_mult=0.25, num_classes=10, small_input=True),
    "efficientnet_b0": dict(width_mult=0.25, depth_mult=0.25, num_classes=10, small_input=True),
    "efficientnet_v2_s": dict(width_mult=0.25, depth_mult=0.25, num_classes=10,
                              small_input=True),
}


@pytest.mark.parametrize("name", list(SMALL))
def test_small_input_changes_exactly_two_strides(name: str) -> None:
    kwargs = dict(SMALL[name])
    small = get_model(name, **kwargs)
    kwargs["small_input"] = False
    plain = get_model(name, **kwargs)
    assert n_params(small) == n_params(plain)
    assert (plain.features[0].stride, small.features[0].stride) == (2, 1)  # the stem
    plain_strides = [b.stride for b in blocks_of(plain)]
    small_strides = [b.stride for b in blocks_of(small)]
    changed = [i for i, (s, t) in enumerate(zip(plain_strides, small_strides, strict=True))
               if s != t]
    assert changed == [plain_strides.index(2)]  # the first stride-2 block, nothing else
    assert small_strides[changed[0]] == 1


def test_stages_truncation() -> None:
    b0 = efficientnet_b0(stages=4, num_classes=10)
    assert [s.stage for s in b0.config.stages] == [2, 3, 4, 5]
    assert b0.config.head_channels == 4 * 80
    assert b0(torch.randn(1, 3, 32, 32)).shape == (1, 10)
    mnet = mobilenet_v2(stages=3, width_mult=0.5)
    assert len(mnet.stage_indices) == 3 and mnet.features[-1].in_channels == 16


# ------------------------------------------------------------------------- argument errors
@pytest.mark.parametrize(
    ("builder", "kwargs", "argument"),
    [
        (mobilenet_v2, {"width_mult": 0}, "width_mult"),
        (mobilenet_v2, {"num_classes": 0}, "num_classes"),
        (mobilenet_v2, {"dropout": 1.5}, "dropout"),
        (mobilenet_v2, {"stages": 8}, "stages"),
        (efficientnet_b0, {"depth_mult": -1.0}, "depth_mult"),
        (efficientnet_b0, {"stages": 0}, "stages"),
        (efficientnet_b0, {"stochastic_depth_prob": 1.0}, "stochastic_depth_prob"),
        (efficientnet_v2_s, {"num_classes": 2.5}, "num_classes"),
    ],
)
def test_bad_arguments_raise_naming_the_argument(builder, kwargs, argument) -> None:
    with pytest.raises(ValueError, match=argument):
        builder(**kwargs)


@pytest.mark.parametrize(
    ("builder", "kwargs", "argument"),
    [
        (mobilenet_v2, {"num_classes": 10}, "num_classes=10"),
        (mobilenet_v2, {"width_mult": 0.5}, "width_mult=0.5"),
        (efficientnet_b0, {"small_input": True}, "small_input=True"),
        (efficientnet_b0, {"depth_mult": 0.5}, "depth_mult=0.5"),
    ],
)
def test_pretrained_needs_the_published_architecture(builder, kwargs, argument) -> None:
    with pytest.raises(ValueError, match=argument):  # checked before any download
        builder(pretrained=True, **kwargs)


def test_one_argument_order_across_model_families() -> None:
    mnv2 = list(inspect.signature(mobilenet_v2).parameters.values())
    assert all(p.kind is inspect.Parameter.KEYWORD_ONLY for p in mnv2)
    efficientnet = list(EfficientNetOptions.__annotations__)
    shared = [p.name for p in mnv2]
    assert [name for name in efficientnet if name in shared] == shared
    for builder in (mobilenet_v2, efficientnet_b0, efficientnet_v2_s):
        with pytest.raises(TypeError, match="positional"):
            builder(10)


def test_stem_rejects_wrong_input_channels() -> None:
    with pytest.raises(ValueError, match="3 input channels"):
        mobilenet_v2(width_mult=0.25)(torch.randn(1, 1, 32, 32))
