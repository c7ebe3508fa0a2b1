"""MobileNetV3 (Large and Small): the block, its SE, the paper's tables, torchvision parity."""

from __future__ import annotations

import itertools

import pytest
import torch
from optional_torchvision import needs_torchvision, tv_models
from torch import nn

from mbcourse import costs
from mbcourse.blocks import (
    HardSigmoidSE,
    MobileNetV3Block,
    SqueezeExcitation,
    make_divisible,
    mobilenet_v3_squeeze_channels,
    record_se_gates,
)
from mbcourse.inference import calibrate_batchnorm
from mbcourse.measure import count_flops, count_parameters
from mbcourse.models import (
    MOBILENET_V3_LARGE_TABLE,
    MOBILENET_V3_SMALL_TABLE,
    BneckRow,
    HeadRow,
    MobileNetV3,
    StemRow,
    get_model,
    list_models,
    load_torchvision_weights,
    mobilenet_v3_large,
    mobilenet_v3_small,
    mobilenet_v3_table,
    torchvision_key_map,
)

NAMES = ["mobilenet_v3_large", "mobilenet_v3_small"]
# torchvision's documented counts (``weights.meta["num_params"]``) and multiply-adds
# (``weights.meta["_ops"]``, GFLOPS that are multiply-adds) at 224 x 224.
TORCHVISION_PARAMS = {"mobilenet_v3_large": 5_483_032, "mobilenet_v3_small": 2_542_856}
TORCHVISION_GMACS = {"mobilenet_v3_large": 0.217, "mobilenet_v3_small": 0.057}


def blocks_of(model: nn.Module) -> list[MobileNetV3Block]:
    return [m for m in model.modules() if isinstance(m, MobileNetV3Block)]


@pytest.fixture(scope="module", params=NAMES)
def zoo(request: pytest.FixtureRequest) -> tuple[str, MobileNetV3]:
    torch.manual_seed(0)
    return request.param, get_model(request.param).eval()


# ---------------------------------------------------------------------------------- the block
def test_block_is_the_inverted_residual_with_a_hard_sigmoid_se() -> None:
    block = MobileNetV3Block(40, 120, 40, 5, use_se=True, activation=nn.Hardswish)
    assert block.use_residual and block.expanded_channels == 120
    assert isinstance(block.expand.act, nn.Hardswish) and isinstance(block.depthwise.act,
                                                                     nn.Hardswish)
    assert block.depthwise.conv.groups == 120 and block.depthwise.conv.kernel_size == (5, 5)
    assert not hasattr(block.project, "act")  # linear bottleneck
    se = block.se
    assert isinstance(se, HardSigmoidSE) and isinstance(se, SqueezeExcitation)
    assert isinstance(se.scale_activation, nn.Hardsigmoid) and isinstance(se.activation, nn.ReLU)
    assert se.channels == 120 and se.squeeze_channels == 32  # make_divisible(120 // 4, 8)
    plain = MobileNetV3Block(16, 16, 24, 3, 2)  # no expansion (exp = in), no SE, stride 2
    assert isinstance(plain.expand, nn.Identity) and isinstance(plain.se, nn.Identity)
    assert not plain.use_residual and isinstance(plain.depthwise.act, nn.ReLU)
    x = torch.randn(2, 16, 9, 9)
    assert plain(x).shape == (2, 24, 5, 5)


def test_block_forward_is_its_parts_in_order() -> None:
    block = MobileNetV3Block(24, 72, 24, 3, use_se=True).eval()
    x = torch.randn(2, 24, 8, 8)
    with torch.no_grad():
        parts = block.project(block.se(block.depthwise(block.expand(x))))
        torch.testing.assert_close(block(x), x + parts)


def test_hard_sigmoid_se_gate_is_relu6_shifted() -> None:
    se = HardSigmoidSE(16, squeeze_channels=8).eval()
    x = torch.randn(3, 16, 5, 5)
    with torch.no_grad():
        s = se.fc2(se.activation(se.fc1(se.avgpool(x))))
        gate = torch.clamp(s + 3, 0, 6) / 6
        torch.testing.assert_close(se.gate(x), gate)
        torch.testing.assert_close(se(x), x * gate)
    with record_se_gates(se) as gates:
        se(x)
    assert gates[""].shape == (3, 16)


@pytest.mark.parametrize("expanded", [16, 64, 72, 88, 96, 120, 184, 200, 240, 288, 480, 960])
def test_squeeze_width_is_a_quarter_of_the_expanded_width_rounded_to_8(expanded: int) -> None:
    assert mobilenet_v3_squeeze_channels(expanded) == make_divisible(expanded // 4, 8)
    assert mobilenet_v3_squeeze_channels(expanded) % 8 == 0


def test_squeeze_width_differs_from_efficientnets_rule() -> None:
    # EfficientNet: max(1, C_in // 4) of the block input; MobileNetV3: of the expanded width.
    assert mobilenet_v3_squeeze_channels(16) == 8  # 16 // 4 = 4, rounded up to 8
    assert mobilenet_v3_squeeze_channels(72) == 24  # 18 -> 24: never more than 10 % down
    assert mobilenet_v3_squeeze_channels(6 * 40) == 64 != max(1, 40 // 4)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(expanded_channels=0), r"MobileNetV3Block: expanded_channels must be a positive"),
        (dict(stride=3), r"MobileNetV3Block: stride must be 1 or 2, got 3"),
        (dict(kernel_size=4), r"MobileNetV3Block: kernel_size must be a positive odd integer"),
        (dict(in_channels=2.5), r"MobileNetV3Block: in_channels must be a positive integer"),
    ],
)
def test_block_arguments_are_checked_at_construction(kwargs: dict, message: str) -> None:
    args = dict(in_channels=16, expanded_channels=64, out_channels=24) | kwargs
    with pytest.raises(ValueError, match=message):
        MobileNetV3Block(**args)


def test_use_se_must_be_a_bool() -> None:
    with pytest.raises(TypeError, match=r"MobileNetV3Block: use_se must be True or False"):
        MobileNetV3Block(16, 64, 24, use_se="yes")
    with pytest.raises(ValueError, match=r"mobilenet_v3_squeeze_channels: expanded_channels"):
        mobilenet_v3_squeeze_channels(0)


@pytest.mark.parametrize("name", NAMES)
def test_block_cost_formula_equals_the_modules(name: str) -> None:
    model = get_model(name, width_mult=0.75)
    size = 112  # the blocks' input resolution at 224 x 224, after the stride-2 stem
    for block in blocks_of(model):
        cost = costs.mobilenet_v3_block(
            block.in_channels, block.expanded_channels, block.out_channels, size,
            kernel_size=block.depthwise.conv.kernel_size[0], stride=block.stride,
            use_se=isinstance(block.se, HardSigmoidSE),
        )
        assert cost.params == count_parameters(block)
        shape = (1, block.in_channels, size, size)
        assert cost.macs == count_flops(block, shape).macs
        assert cost.out_size == (-(-size // block.stride),) * 2
        size = cost.out_size[0]


# --------------------------------------------------------------------------------- the tables
def _rows(table: tuple) -> list[BneckRow]:
    return [row for row in table if isinstance(row, BneckRow)]


def test_large_table_is_the_papers_table_1() -> None:
    stem, *rows, head = MOBILENET_V3_LARGE_TABLE
    assert stem == StemRow(0, kernel=3, stride=2, resolution=224, out_channels=16)
    assert head == HeadRow(16, kernel=1, resolution=7, out_channels=960)
    assert [(r.kernel, r.expanded_channels, r.out_channels, r.se, r.nonlinearity, r.stride)
            for r in rows] == [
        (3, 16, 16, False, "RE", 1), (3, 64, 24, False, "RE", 2), (3, 72, 24, False, "RE", 1),
        (5, 72, 40, True, "RE", 2), (5, 120, 40, True, "RE", 1), (5, 120, 40, True, "RE", 1),
        (3, 240, 80, False, "HS", 2), (3, 200, 80, False, "HS", 1),
        (3, 184, 80, False, "HS", 1), (3, 184, 80, False, "HS", 1),
        (3, 480, 112, True, "HS", 1), (3, 672, 112, True, "HS", 1),
        (5, 672, 160, True, "HS", 2), (5, 960, 160, True, "HS", 1), (5, 960, 160, True, "HS", 1),
    ]  # fmt: skip
    assert rows[3].label == "bneck, 5x5, exp 72, SE, RE"


def test_small_table_is_the_papers_table_2() -> None:
    stem, *rows, head = MOBILENET_V3_SMALL_TABLE
    assert stem == StemRow(0, kernel=3, stride=2, resolution=224, out_channels=16)
    assert head == HeadRow(12, kernel=1, resolution=7, out_channels=576)
    assert [(r.kernel, r.expanded_channels, r.out_channels, r.se, r.nonlinearity, r.stride)
            for r in rows] == [
        (3, 16, 16, True, "RE", 2), (3, 72, 24, False, "RE", 2), (3, 88, 24, False, "RE", 1),
        (5, 96, 40, True, "HS", 2), (5, 240, 40, True, "HS", 1), (5, 240, 40, True, "HS", 1),
        (5, 120, 48, True, "HS", 1), (5, 144, 48, True, "HS", 1), (5, 288, 96, True, "HS", 2),
        (5, 576, 96, True, "HS", 1), (5, 576, 96, True, "HS", 1),
    ]  # fmt: skip


@pytest.mark.parametrize("table", [MOBILENET_V3_LARGE_TABLE, MOBILENET_V3_SMALL_TABLE])
def test_resolution_column_follows_the_strides(table: tuple) -> None:
    for row, nxt in itertools.pairwise(table):
        assert row.resolution == nxt.resolution * row.stride
    assert [r.stage for r in table] == list(range(len(table)))
    assert table[-1].out_channels == 6 * table[-2].out_channels  # torchvision: 6 x last


def test_printed_table_reads_like_the_paper() -> None:
    lines = mobilenet_v3_table("mobilenet_v3_large")
    assert lines[0] == {"input": "224² × 3", "operator": "conv2d, 3x3", "exp size": None,
                        "#out": 16, "SE": None, "NL": "HS", "s": 2}
    assert lines[4] == {"input": "56² × 24", "operator": "bneck, 5x5", "exp size": 72,
                        "#out": 40, "SE": "✓", "NL": "RE", "s": 2}
    assert [line["operator"] for line in lines[-4:]] == [
        "conv2d, 1x1", "pool, 7x7", "conv2d 1x1, NBN", "conv2d 1x1, NBN"]
    assert lines[-3]["input"] == "7² × 960" and lines[-2]["#out"] == 1280
    assert lines[-1]["#out"] == "k" and len(lines) == 20
    small = mobilenet_v3_table("mobilenet_v3_small", width_mult=0.5)
    assert small[1]["#out"] == 8 and small[-2]["#out"] == 512
    with pytest.raises(ValueError, match=r"mobilenet_v3_table: unknown model 'mobilenet_v3'"):
        mobilenet_v3_table("mobilenet_v3")


def test_the_table_must_hold_bneck_rows() -> None:
    stem, *rows, head = MOBILENET_V3_SMALL_TABLE
    with pytest.raises(ValueError, match=r"MobileNetV3: table must be a sequence \(StemRow, "
                                         r"BneckRow, \.\.\., HeadRow\)"):
        MobileNetV3(table=(stem, head))
    with pytest.raises(ValueError, match="make_block: resolve the table first"):
        rows[0].make_block()


# ---------------------------------------------------------------------------- the networks
def test_parameter_counts_are_torchvisions(zoo: tuple[str, MobileNetV3]) -> None:
    name, model = zoo
    assert count_parameters(model) == TORCHVISION_PARAMS[name]


def test_multiply_adds_are_torchvisions(zoo: tuple[str, MobileNetV3]) -> None:
    name, model = zoo
    assert round(count_flops(model, 224, device="meta").macs / 1e9, 3) == TORCHVISION_GMACS[name]


def test_structure_as_torchvision(zoo: tuple[str, MobileNetV3]) -> None:
    name, model = zoo
    norms = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    assert {(m.eps, m.momentum) for m in norms} == {(1e-3, 0.01)}
    assert isinstance(model.features[0].act, nn.Hardswish)  # h-swish in the stem
    assert isinstance(model.features[-1].act, nn.Hardswish)
    assert [type(m) for m in model.classifier] == [nn.Linear, nn.Hardswish, nn.Dropout,
                                                   nn.Linear]
    assert model.classifier[0].out_features == {"mobilenet_v3_large": 1280,
                                                "mobilenet_v3_small": 1024}[name]
    # every SE sits on the expanded width and squeezes to make_divisible(C_exp // 4, 8)
    for block in blocks_of(model):
        if isinstance(block.se, HardSigmoidSE):
            assert block.se.squeeze_channels == make_divisible(block.expanded_channels // 4, 8)
    groups = model.stage_modules()
    assert list(groups) == ["stem", *(f"stage{r.stage}" for r in model.table), "head"]
    assert sum(count_parameters(m) for m in groups.values()) == count_parameters(model.features)


def test_registered_with_get_model() -> None:
    assert set(NAMES) <= set(list_models())
    assert isinstance(get_model("mobilenet_v3_small", num_classes=3), MobileNetV3)
    assert mobilenet_v3_small(num_classes=3).classifier[-1].out_features == 3


def test_small_input_changes_exactly_two_strides() -> None:
    plain = mobilenet_v3_large(width_mult=0.5)
    small = mobilenet_v3_large(width_mult=0.5, small_input=True)
    assert (plain.features[0].stride, small.features[0].stride) == (2, 1)
    before = [b.stride for b in blocks_of(plain)]
    after = [b.stride for b in blocks_of(small)]
    changed = [i for i, (s, t) in enumerate(zip(before, after, strict=True)) if s != t]
    assert changed == [before.index(2)] and after[changed[0]] == 1
    with torch.no_grad():
        assert small.eval().features(torch.randn(1, 3, 32, 32)).shape[-1] == 4  # 32 / 8


def test_stages_keep_the_first_rows() -> None:
    model = mobilenet_v3_large(stages=6, num_classes=10)
    assert len(blocks_of(model)) == 6 and model.features[-1].out_channels == 6 * 40
    assert model(torch.randn(1, 3, 32, 32)).shape == (1, 10)
    with pytest.raises(ValueError, match=r"MobileNetV3: stages must be None or an integer from "
                                         r"1 to 11"):
        mobilenet_v3_small(stages=12)


def test_wrong_input_gets_a_clear_error_at_the_entry() -> None:
    model = mobilenet_v3_small(width_mult=0.5).eval()
    with pytest.raises(ValueError, match=r"MobileNetV3: expected 3 input channels"):
        model(torch.randn(1, 1, 32, 32))


@pytest.mark.parametrize(
    ("kwargs", "argument"),
    [({"width_mult": 0}, "width_mult"), ({"num_classes": 0}, "num_classes"),
     ({"dropout": 1.5}, "dropout")],
)
def test_builder_arguments_are_checked(kwargs: dict, argument: str) -> None:
    with pytest.raises(ValueError, match=f"MobileNetV3: {argument}"):
        mobilenet_v3_large(**kwargs)


def test_pretrained_needs_the_published_architecture() -> None:
    with pytest.raises(ValueError, match=r"mobilenet_v3_small: pretrained=True .* width_mult=0.5"):
        mobilenet_v3_small(pretrained=True, width_mult=0.5)


def test_se_gates_are_recorded_in_the_network() -> None:
    model = mobilenet_v3_small(width_mult=0.5).eval()
    with record_se_gates(model) as gates, torch.no_grad():
        model(torch.randn(2, 3, 64, 64))
    with_se = [f"features.{i}.se" for i, b in enumerate(model.features)
               if isinstance(getattr(b, "se", None), HardSigmoidSE)]
    assert sorted(gates) == sorted(with_se) and len(with_se) == 9
    assert all(((g >= 0) & (g <= 1)).all() for g in gates.values())


# --------------------------------------------------------------------------- torch.fx, export
def test_symbolic_trace_and_feature_extraction() -> None:
    model = mobilenet_v3_small(width_mult=0.5, num_classes=10).eval()
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        y = model(x)
        graph = torch.fx.symbolic_trace(model)
        torch.testing.assert_close(graph(x), y)
    names = {str(node.target) for node in graph.graph.nodes if node.op == "call_module"}
    assert {"features.1.se.fc1", "features.1.se.scale_activation", "features.4.expand.act",
            "classifier.0"} <= names


def test_export_gives_the_same_outputs() -> None:
    model = mobilenet_v3_large(width_mult=0.5, stages=6, num_classes=10).eval()
    x = torch.randn(2, 3, 32, 32)
    program = torch.export.export(model, (x,))
    with torch.no_grad():
        torch.testing.assert_close(program.module()(x), model(x))


@needs_torchvision
@pytest.mark.filterwarnings("ignore:NOTE. The nodes obtained by tracing the model in eval mode")
def test_torchvision_feature_extraction() -> None:
    from torchvision.models.feature_extraction import create_feature_extractor

    model = mobilenet_v3_large(width_mult=0.5).eval()
    extractor = create_feature_extractor(model, return_nodes={"features.6": "c2",
                                                              "features.12.add": "c3"})
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        out = extractor(x)
        torch.testing.assert_close(out["c2"], model.features[:7](x))
        torch.testing.assert_close(out["c3"], model.features[:13](x))


# ------------------------------------------------------------------- parity with torchvision
@needs_torchvision
def test_documented_counts_are_torchvisions() -> None:
    for name in NAMES:
        meta = tv_models.get_model_weights(name).DEFAULT.meta
        assert meta["num_params"] == TORCHVISION_PARAMS[name]
        assert meta["_ops"] == TORCHVISION_GMACS[name]


@needs_torchvision
@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("width", [0.5, 0.75, 1.0, 1.25])
def test_outputs_equal_torchvision_with_its_weights(name: str, width: float) -> None:
    # BatchNorm statistics from data (a freshly initialised MobileNetV3 with made-up statistics
    # loses the input: two images give the same logits to 1e-8), then made-up affine
    # parameters, so that a BatchNorm tensor in the wrong place changes the output.
    torch.manual_seed(0)
    theirs = calibrate_batchnorm(tv_models.get_model(name, width_mult=width), (8, 3, 64, 64),
                                 device="cpu")
    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for m in theirs.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.weight.copy_(torch.rand(m.num_features, generator=gen) + 0.5)
                m.bias.copy_(torch.randn(m.num_features, generator=gen) * 0.1)
    torch.manual_seed(123)  # a different init: only the loaded weights can agree
    ours = get_model(name, width_mult=width).eval()
    assert count_parameters(ours) == count_parameters(theirs)
    load_torchvision_weights(ours, theirs.state_dict())
    x = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        expected = theirs(x)
        torch.testing.assert_close(ours(x), expected, rtol=1e-5, atol=1e-5)
    assert (expected[0] - expected[1]).abs().max() > 1e-2  # the output depends on the input


def test_key_rules_by_example() -> None:
    keys = torchvision_key_map(mobilenet_v3_small(width_mult=0.5))
    assert keys["features.0.conv.weight"] == "features.0.0.weight"
    assert keys["features.1.depthwise.conv.weight"] == "features.1.block.0.0.weight"  # no expand
    assert keys["features.1.se.fc1.weight"] == "features.1.block.1.fc1.weight"
    assert keys["features.1.project.norm.running_mean"] == "features.1.block.2.1.running_mean"
    assert keys["features.2.expand.conv.weight"] == "features.2.block.0.0.weight"
    assert keys["features.2.project.conv.weight"] == "features.2.block.2.0.weight"  # no SE
    assert keys["classifier.0.weight"] == "classifier.0.weight"
    assert keys["classifier.3.bias"] == "classifier.3.bias"
