"""Blocks: shapes, residual rule, SE gate, stochastic depth, devices, AMP, compile."""

from __future__ import annotations

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
    make_divisible,
    record_se_gates,
)

RESIDUAL_BLOCKS = [InvertedResidual, MBConv, FusedMBConv]


def _ceil_half(n: int) -> int:
    return (n + 1) // 2


# ---------------------------------------------------------------------------- shapes
@pytest.mark.parametrize("block", [*RESIDUAL_BLOCKS, DepthwiseSeparableConv])
@pytest.mark.parametrize("stride", [1, 2])
@pytest.mark.parametrize("size", [(16, 16), (15, 9), (1, 1), (7, 33)])
def test_output_shape(block: type[nn.Module], stride: int, size: tuple[int, int]) -> None:
    m = block(8, 12, stride=stride).eval()
    y = m(torch.randn(2, 8, *size))
    h, w = size
    expected = (h, w) if stride == 1 else (_ceil_half(h), _ceil_half(w))
    assert y.shape == (2, 12, *expected)


@pytest.mark.parametrize("kernel_size", [1, 3, 5, 7])
def test_conv_norm_act_same_padding(kernel_size: int) -> None:
    m = ConvNormAct(4, 6, kernel_size)
    assert m(torch.randn(1, 4, 11, 10)).shape == (1, 6, 11, 10)
    assert m.conv.padding == ((kernel_size - 1) // 2,) * 2
    assert m.conv.bias is None  # BatchNorm supplies the shift


def test_activation_without_inplace_argument() -> None:
    m = ConvNormAct(4, 4, activation=nn.Sigmoid)  # nn.Sigmoid takes no ``inplace``
    assert isinstance(m.act, nn.Sigmoid)
    assert "p=0.2, mode=row" in repr(StochasticDepth(0.2))


def test_conv_norm_act_linear_has_no_activation() -> None:
    assert [type(c) for c in ConvNormAct(4, 4, activation=None)] == [nn.Conv2d, nn.BatchNorm2d]
    assert isinstance(ConvNormAct(4, 4, activation=nn.SiLU).act, nn.SiLU)


# ---------------------------------------------------------------------------- residual rule
@pytest.mark.parametrize("block", RESIDUAL_BLOCKS)
@pytest.mark.parametrize(
    ("cin", "cout", "stride", "residual"),
    [(16, 16, 1, True), (16, 16, 2, False), (16, 24, 1, False), (16, 24, 2, False)],
)
def test_residual_exactly_when_stride_1_and_equal_channels(
    block: type[nn.Module], cin: int, cout: int, stride: int, residual: bool
) -> None:
    m = block(cin, cout, stride=stride).eval()
    assert m.use_residual is residual
    x = torch.randn(1, cin, 8, 8)
    # Zero the last BatchNorm's scale and shift: the branch then outputs 0, so the block's
    # output is x itself with a residual and 0 without one.
    last_norm = [mod for mod in m.modules() if isinstance(mod, nn.BatchNorm2d)][-1]
    nn.init.zeros_(last_norm.weight)
    nn.init.zeros_(last_norm.bias)
    y = m(x)
    if residual:
        torch.testing.assert_close(y, x)
    else:
        assert torch.count_nonzero(y) == 0


def test_inverted_residual_structure_follows_the_paper() -> None:
    m = InvertedResidual(24, 32, stride=2, expand_ratio=6)
    assert m.expanded_channels == 144
    assert m.expand.conv.kernel_size == (1, 1) and isinstance(m.expand.act, nn.ReLU6)
    assert m.depthwise.conv.groups == 144 and m.depthwise.conv.stride == (2, 2)
    assert isinstance(m.depthwise.act, nn.ReLU6)
    assert not hasattr(m.project, "act")  # linear bottleneck
    # t = 1: no expansion (MobileNetV2's first bottleneck)
    assert isinstance(InvertedResidual(32, 16, expand_ratio=1).expand, nn.Identity)
    # the expanded width is round(C_in * t), not rounded to a multiple of 8
    assert InvertedResidual(10, 10, expand_ratio=2.5).expanded_channels == 25


def test_linear_bottleneck_output_can_be_negative() -> None:
    m = InvertedResidual(8, 12).eval()
    assert (m(torch.randn(4, 8, 6, 6)) < 0).any()


def test_mbconv_structure() -> None:
    m = MBConv(40, 80, stride=2, expand_ratio=6, kernel_size=5)
    assert m.expanded_channels == 240
    assert isinstance(m.expand.act, nn.SiLU) and isinstance(m.depthwise.act, nn.SiLU)
    assert m.depthwise.conv.kernel_size == (5, 5)
    assert isinstance(m.se, SqueezeExcitation)
    assert m.se.squeeze_channels == 10  # max(1, C_in // 4), from the block input
    assert isinstance(m.se.activation, nn.SiLU)
    names = [name for name, _ in m.named_children()]
    assert names.index("se") == names.index("depthwise") + 1  # SE between dw and project
    assert names.index("project") == names.index("se") + 1
    assert isinstance(MBConv(32, 16, expand_ratio=1).expand, nn.Identity)
    assert isinstance(MBConv(32, 16, se_ratio=0).se, nn.Identity)
    assert MBConv(2, 2, se_ratio=0.25).se.squeeze_channels == 1  # max(1, ...)


def test_fused_mbconv_structure() -> None:
    m = FusedMBConv(24, 48, stride=2, expand_ratio=4)
    assert m.fused.conv.kernel_size == (3, 3) and m.fused.conv.groups == 1
    assert m.fused.conv.out_channels == 96
    assert m.project.conv.kernel_size == (1, 1)
    assert isinstance(m.se, nn.Identity)  # EfficientNetV2 has no SE in fused blocks
    single = FusedMBConv(24, 24, expand_ratio=1)
    assert isinstance(single.project, nn.Identity)
    assert single.fused.conv.out_channels == 24 and isinstance(single.fused.act, nn.SiLU)
    with_se = FusedMBConv(24, 48, se_ratio=0.25)
    assert with_se.se.channels == 96 and with_se.se.squeeze_channels == 6


@pytest.mark.parametrize(
    ("value", "expected"), [(32, 32), (33, 32), (36, 40), (16 * 0.35, 8), (1, 8), (92, 96)]
)
def test_make_divisible(value: float, expected: int) -> None:
    assert make_divisible(value) == expected


def test_make_divisible_never_drops_more_than_ten_percent() -> None:
    for v in range(8, 2000):
        r = make_divisible(v * 0.75)
        assert r % 8 == 0 and r >= 0.9 * v * 0.75


# ---------------------------------------------------------------------------- SE
def test_se_gate_in_unit_interval_one_weight_per_channel() -> None:
    se = SqueezeExcitation(32, reduction=4)
    x = torch.randn(3, 32, 9, 7) * 10
    with record_se_gates(se) as gates:
        y = se(x)
    gate = gates[""]
    assert gate.shape == (3, 32)
    assert ((gate > 0) & (gate < 1)).all()
    torch.testing.assert_close(y, x * gate[:, :, None, None])


def test_record_se_gates_names_every_se_and_leaves_no_hooks() -> None:
    net = torch.nn.Sequential(MBConv(8, 8), FusedMBConv(8, 16, se_ratio=0.25), MBConv(16, 16))
    x = torch.randn(2, 8, 6, 6)
    with record_se_gates(net) as gates:
        assert gates == {}
        net(x)
        first = dict(gates)
        net(torch.randn(4, 8, 6, 6))  # a later pass replaces the gates
    assert list(first) == ["0.se", "1.se", "2.se"]
    assert [tuple(g.shape) for g in first.values()] == [(2, 48), (2, 32), (2, 96)]
    assert all(g.shape[0] == 4 for g in gates.values())
    torch.testing.assert_close(first["0.se"], net[0].se.gate(net[0].depthwise(net[0].expand(x)))
                               .flatten(1))
    assert not first["0.se"].requires_grad
    assert all(not m._forward_hooks for m in net.modules())
    assert not any(hasattr(m, "last_gate") for m in net.modules())  # no state in the modules
    message = r"record_se_gates: module must be a torch\.nn\.Module"
    with pytest.raises(TypeError, match=message), record_se_gates("net"):  # type: ignore[arg-type]
        pass


def test_se_squeeze_and_excitation_steps() -> None:
    se = SqueezeExcitation(16, reduction=4)
    assert se.fc1.in_channels == 16 and se.fc1.out_channels == 4
    assert se.fc2.in_channels == 4 and se.fc2.out_channels == 16
    x = torch.randn(2, 16, 5, 5)
    pooled = x.mean(dim=(2, 3), keepdim=True)
    expected = torch.sigmoid(se.fc2(torch.relu(se.fc1(pooled))))
    torch.testing.assert_close(se.gate(x), expected)


def test_se_squeeze_channels_overrides_reduction() -> None:
    assert SqueezeExcitation(64, reduction=16, squeeze_channels=5).squeeze_channels == 5
    assert SqueezeExcitation(64, reduction=1).squeeze_channels == 64
    assert SqueezeExcitation(64, reduction=16).squeeze_channels == 4


# ---------------------------------------------------------------------------- stochastic depth
def test_stochastic_depth_keeps_expectation_in_training() -> None:
    sd = StochasticDepth(0.3).train()
    x = torch.ones(20000, 4, 2, 2)
    y = sd(x)
    per_sample = y[:, 0, 0, 0]
    # every sample is either dropped (0) or kept and rescaled by 1 / (1 - p)
    kept = per_sample != 0
    torch.testing.assert_close(per_sample[kept], torch.full_like(per_sample[kept], 1 / 0.7))
    assert (y == y[:, :1, :1, :1]).all()  # "row" mode: one decision per sample
    assert abs(kept.float().mean().item() - 0.7) < 0.02
    assert abs(y.mean().item() - 1.0) < 0.03


def test_stochastic_depth_identity_in_eval_and_at_zero() -> None:
    x = torch.randn(8, 3, 4, 4)
    assert StochasticDepth(0.5).eval()(x) is x
    assert StochasticDepth(0.0).train()(x) is x


def test_mbconv_stochastic_depth_only_on_residual_branch() -> None:
    m = MBConv(16, 16, stochastic_depth_prob=0.5).train()
    x = torch.randn(64, 16, 4, 4)
    y = m(x)
    # dropped samples return exactly their input
    dropped = [(y[i] == x[i]).all().item() for i in range(64)]
    assert 10 < sum(dropped) < 54


# ---------------------------------------------------------------------------- gradients
@pytest.mark.parametrize(
    "block",
    [
        lambda: InvertedResidual(8, 8),
        lambda: MBConv(8, 8, stochastic_depth_prob=0.2),
        lambda: FusedMBConv(8, 16, stride=2),
        lambda: SqueezeExcitation(8),
        lambda: DepthwiseSeparableConv(8, 4),
    ],
)
def test_gradients_reach_input_and_every_parameter(block) -> None:
    m = block().train()
    x = torch.randn(2, 8, 6, 6, requires_grad=True)
    m(x).square().sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    for name, p in m.named_parameters():
        assert p.grad is not None, name


# ---------------------------------------------------------------------------- devices, dtypes
ALL_BLOCKS = [
    lambda: ConvNormAct(8, 16),
    lambda: DepthwiseSeparableConv(8, 16, stride=2),
    lambda: InvertedResidual(8, 8),
    lambda: SqueezeExcitation(8),
    lambda: MBConv(8, 8, kernel_size=5),
    lambda: FusedMBConv(8, 16, stride=2),
]


@pytest.mark.parametrize("make", ALL_BLOCKS)
def test_channels_last_preserved_and_equal(make, device: torch.device) -> None:
    m = make().eval().to(device)
    x = torch.randn(2, 8, 10, 10, device=device)
    ref = m(x)
    m_cl = m.to(memory_format=torch.channels_last)
    y = m_cl(x.to(memory_format=torch.channels_last))
    assert y.is_contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(y, ref, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("make", ALL_BLOCKS)
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_autocast(make, dtype: torch.dtype, device: torch.device) -> None:
    if device.type == "cpu" and dtype == torch.float16:
        pytest.skip("fp16 autocast is a CUDA feature; on the CPU bf16 is the autocast dtype")
    m = make().eval().to(device)
    x = torch.randn(2, 8, 10, 10, device=device)
    ref = m(x)
    with torch.autocast(device_type=device.type, dtype=dtype):
        y = m(x)
    assert y.shape == ref.shape and torch.isfinite(y).all()
    assert y.dtype in (dtype, torch.float32)
    torch.testing.assert_close(y.float(), ref, rtol=0.05, atol=0.05)


@pytest.mark.parametrize("make", ALL_BLOCKS)
def test_runs_on_device_without_hard_coded_device(make, device: torch.device) -> None:
    m = make().train().to(device)
    y = m(torch.randn(2, 8, 6, 6, device=device))
    assert y.device.type == device.type
    assert all(p.device.type == device.type for p in m.parameters())


@pytest.mark.slow
def test_compiled_equals_eager(device: torch.device) -> None:
    m = MBConv(8, 8, kernel_size=3).eval().to(device)
    x = torch.randn(2, 8, 8, 8, device=device)
    compiled = torch.compile(m)
    torch.testing.assert_close(compiled(x), m(x), rtol=1e-4, atol=1e-5)
