"""The checkers: correct solutions pass (and say what was verified), typical wrong solutions
fail with a message that names the mistake, and bad learner code gets feedback, not a traceback:
code that raises, returns the wrong type, prints a lot, runs past the time limit, or loops until
the kernel is interrupted.
"""

from __future__ import annotations

import _thread
import copy
import signal
import threading
import time

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from mbcourse.blocks import (
    ConvNormAct,
    InvertedResidual,
    MBConv,
    SqueezeExcitation,
    StochasticDepth,
    make_divisible,
)
from mbcourse.deploy import to_lite
from mbcourse.exercises import CheckResult, checkers

# --------------------------------------------------------------------------------------------
# Correct solutions, written the way a learner might
# --------------------------------------------------------------------------------------------


def conv_params(c_in, c_out, k, groups=1):
    return c_out * (c_in // groups) * k * k


def ds_macs(c_in, c_out, k, h, w):
    return c_in * k * k * h * w + c_in * c_out * h * w


def residual_rule(in_channels, out_channels, stride):
    return stride == 1 and in_channels == out_channels


def fused_params(c_in, c_out, expand_ratio, k):
    c_exp = make_divisible(c_in * expand_ratio, 8)
    if c_exp == c_in:
        return c_in * c_out * k * k + 2 * c_out
    return c_in * c_exp * k * k + 2 * c_exp + c_exp * c_out + 2 * c_out


def _replace_lite(lite, silu=nn.ReLU6, se=nn.Identity):
    """Replace every SiLU by ``silu()`` and every SE by ``se()`` (None: leave them), in place."""
    for parent in list(lite.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, SqueezeExcitation) and se is not None:
                setattr(parent, name, se())
            elif isinstance(child, nn.SiLU) and silu is not None:
                setattr(parent, name, silu())
    return lite


def make_lite(model):
    return _replace_lite(copy.deepcopy(model))


class MyIR(nn.Module):
    def __init__(self, in_channels, out_channels, stride, expand_ratio):
        super().__init__()
        hidden = round(in_channels * expand_ratio)
        self.use_res = stride == 1 and in_channels == out_channels
        layers: list[nn.Module] = []
        if expand_ratio != 1:
            layers += [
                nn.Conv2d(in_channels, hidden, 1, bias=False),
                nn.BatchNorm2d(hidden),
                nn.ReLU6(),
            ]
        layers += [
            nn.Conv2d(hidden, hidden, 3, stride, 1, groups=hidden, bias=False),
            nn.BatchNorm2d(hidden),
            nn.ReLU6(),
            nn.Conv2d(hidden, out_channels, 1, bias=False),
            nn.BatchNorm2d(out_channels),
        ]
        self.body = nn.Sequential(*layers)

    def forward(self, x):
        y = self.body(x)
        return x + y if self.use_res else y


class PiecesIR(nn.Module):
    """Built from mbcourse pieces, registered in a different order than they run."""

    def __init__(self, i, o, stride, t):
        super().__init__()
        h = round(i * t)
        self.project = ConvNormAct(h, o, 1, activation=None)
        self.dw = ConvNormAct(h, h, 3, stride, groups=h)
        self.expand = ConvNormAct(i, h, 1) if t != 1 else nn.Identity()
        self.res = stride == 1 and i == o

    def forward(self, x):
        y = self.project(self.dw(self.expand(x)))
        return x + y if self.res else y


class MySE(nn.Module):
    def __init__(self, channels, reduction):
        super().__init__()
        self.fc1 = nn.Conv2d(channels, channels // reduction, 1)
        self.fc2 = nn.Conv2d(channels // reduction, channels, 1)

    def forward(self, x):
        s = x.mean((2, 3), keepdim=True)
        return x * torch.sigmoid(self.fc2(F.relu(self.fc1(s))))


class LinearSE(nn.Module):
    def __init__(self, channels, reduction):
        super().__init__()
        self.fc2 = nn.Linear(channels // reduction, channels)  # registered first on purpose
        self.fc1 = nn.Linear(channels, channels // reduction)

    def forward(self, x):
        g = torch.sigmoid(self.fc2(torch.relu(self.fc1(x.mean((2, 3))))))
        return x * g[:, :, None, None]


class MyMBConv(nn.Module):
    def __init__(self, i, o, stride, e, k=3):
        super().__init__()
        c = make_divisible(i * e, 8)
        self.use_res = stride == 1 and i == o
        self.expand = ConvNormAct(i, c, 1, activation=nn.SiLU) if c != i else nn.Identity()
        self.dw = ConvNormAct(c, c, k, stride, groups=c, activation=nn.SiLU)
        self.se = SqueezeExcitation(c, squeeze_channels=max(1, i // 4), activation=nn.SiLU)
        self.project = ConvNormAct(c, o, 1, activation=None)
        self.sd = StochasticDepth(0.0)

    def forward(self, x):
        y = self.project(self.se(self.dw(self.expand(x))))
        return x + self.sd(y) if self.use_res else y


CORRECT = [
    (checkers.check_conv_params, conv_params, 5),
    (checkers.check_depthwise_separable_macs, ds_macs, 4),
    (checkers.check_residual_rule, residual_rule, 6),
    (checkers.check_fused_params, fused_params, 6),
    (checkers.check_inverted_residual, MyIR, 6),
    (checkers.check_inverted_residual, PiecesIR, 6),
    (checkers.check_inverted_residual, InvertedResidual, 6),
    (checkers.check_se, MySE, 5),
    (checkers.check_se, LinearSE, 5),
    (checkers.check_se, SqueezeExcitation, 5),
    (checkers.check_mbconv_forward, MyMBConv, 5),
    (checkers.check_mbconv_forward, MBConv, 5),
    (checkers.check_make_lite, make_lite, 2),
    (checkers.check_make_lite, to_lite, 2),
]


@pytest.mark.parametrize(
    ("checker", "solution", "n_cases"),
    CORRECT,
    ids=[f"{c.__name__}-{s.__name__}" for c, s, _ in CORRECT],
)
def test_correct_solution_passes_and_lists_cases(checker, solution, n_cases) -> None:
    result = checker(solution, verbose=False)
    assert isinstance(result, CheckResult)
    assert result.passed, result.message
    assert result.correct and result.status == "correct"
    assert len(result.cases) == n_cases
    assert f"all {n_cases} cases passed" in result.message
    for case in result.cases:
        assert case in result.message


# --------------------------------------------------------------------------------------------
# Typical wrong solutions: each must fail with a message naming the mistake
# --------------------------------------------------------------------------------------------


class SENoSigmoid(MySE):
    def forward(self, x):
        return x * self.fc2(F.relu(self.fc1(x.mean((2, 3), keepdim=True))))


class SEMaxPool(MySE):
    def forward(self, x):
        return x * torch.sigmoid(self.fc2(F.relu(self.fc1(x.amax((2, 3), keepdim=True)))))


class SEReductionAsWidth(MySE):
    def __init__(self, channels, reduction):
        super().__init__(channels, reduction)
        self.fc1 = nn.Conv2d(channels, reduction, 1)
        self.fc2 = nn.Conv2d(reduction, channels, 1)


class SEMultiplied(MySE):
    def __init__(self, channels, reduction):
        super().__init__(channels, reduction)
        self.fc1 = nn.Conv2d(channels, channels * reduction, 1)
        self.fc2 = nn.Conv2d(channels * reduction, channels, 1)


class SEReturnsGate(MySE):
    def forward(self, x):
        return torch.sigmoid(self.fc2(F.relu(self.fc1(x.mean((2, 3), keepdim=True)))))


class SENoReLU(MySE):
    def forward(self, x):
        return x * torch.sigmoid(self.fc2(self.fc1(x.mean((2, 3), keepdim=True))))


class SESoftmax(MySE):
    def forward(self, x):
        return x * torch.softmax(self.fc2(F.relu(self.fc1(x.mean((2, 3), keepdim=True)))), dim=1)


class SENoBias(MySE):
    def __init__(self, channels, reduction):
        super().__init__(channels, reduction)
        self.fc1 = nn.Conv2d(channels, channels // reduction, 1, bias=False)
        self.fc2 = nn.Conv2d(channels // reduction, channels, 1, bias=False)


class IRReLU6AfterProjection(MyIR):
    def forward(self, x):
        y = F.relu6(self.body(x))
        return x + y if self.use_res else y


class IRResidualAtStride2(MyIR):
    """Adds the input whenever the channel counts match, whatever the stride."""

    def forward(self, x):
        y = self.body(x)
        return x + y if x.shape[1] == y.shape[1] else y


class IRResidualWhenChannelsDiffer(MyIR):
    """Adds the input whenever the stride is 1, whatever the channels."""

    def __init__(self, i, o, stride, t):
        super().__init__(i, o, stride, t)
        self.stride = stride

    def forward(self, x):
        y = self.body(x)
        return x + y if self.stride == 1 else y


class IRNoResidual(MyIR):
    def forward(self, x):
        return self.body(x)


class IRWithReLU(nn.Module):
    def __init__(self, i, o, stride, t):
        super().__init__()
        self.inner = MyIR(i, o, stride, t)
        for j, m in enumerate(self.inner.body):
            if isinstance(m, nn.ReLU6):
                self.inner.body[j] = nn.ReLU()

    def forward(self, x):
        return self.inner(x)


class IRAlwaysExpands(MyIR):
    def __init__(self, i, o, stride, t):
        super().__init__(i, o, stride, 2 if t == 1 else t)
        if t == 1:  # an expansion conv i -> i, as if t were 1 but the layer kept
            self.body = nn.Sequential(
                nn.Conv2d(i, i, 1, bias=False),
                nn.BatchNorm2d(i),
                nn.ReLU6(),
                nn.Conv2d(i, i, 3, stride, 1, groups=i, bias=False),
                nn.BatchNorm2d(i),
                nn.ReLU6(),
                nn.Conv2d(i, o, 1, bias=False),
                nn.BatchNorm2d(o),
            )


class IRRegularConv(MyIR):
    def __init__(self, i, o, stride, t):
        super().__init__(i, o, stride, t)
        for j, m in enumerate(self.body):
            if isinstance(m, nn.Conv2d) and m.groups > 1:
                self.body[j] = nn.Conv2d(m.in_channels, m.out_channels, 3, stride, 1, bias=False)


class IRConvBias(MyIR):
    def __init__(self, i, o, stride, t):
        super().__init__(i, o, stride, t)
        for j, m in enumerate(self.body):
            if isinstance(m, nn.Conv2d) and m.kernel_size == (1, 1):
                self.body[j] = nn.Conv2d(m.in_channels, m.out_channels, 1)


class MBSEAfterProjection(MyMBConv):
    def __init__(self, i, o, stride, e, k=3):
        super().__init__(i, o, stride, e, k)
        self.se = SqueezeExcitation(o, squeeze_channels=max(1, i // 4), activation=nn.SiLU)

    def forward(self, x):
        y = self.se(self.project(self.dw(self.expand(x))))
        return x + self.sd(y) if self.use_res else y


class MBSECalledAfterProjection(MyMBConv):
    def forward(self, x):
        y = self.se(self.project(self.dw(self.expand(x))))
        return x + self.sd(y) if self.use_res else y


class MBSEFromExpanded(MyMBConv):
    def __init__(self, i, o, stride, e, k=3):
        super().__init__(i, o, stride, e, k)
        c = make_divisible(i * e, 8)
        self.se = SqueezeExcitation(c, squeeze_channels=max(1, c // 4), activation=nn.SiLU)


class MBReLU6(MyMBConv):
    """ConvNormAct's default activation (ReLU6) instead of SiLU."""

    def __init__(self, i, o, stride, e, k=3):
        super().__init__(i, o, stride, e, k)
        c = make_divisible(i * e, 8)
        self.expand = ConvNormAct(i, c, 1) if c != i else nn.Identity()
        self.dw = ConvNormAct(c, c, k, stride, groups=c)


class MBSEWithReLU(MyMBConv):
    def __init__(self, i, o, stride, e, k=3):
        super().__init__(i, o, stride, e, k)
        c = make_divisible(i * e, 8)
        self.se = SqueezeExcitation(c, squeeze_channels=max(1, i // 4))


class MBStochasticDepthOnSum(MyMBConv):
    def forward(self, x):
        y = self.project(self.se(self.dw(self.expand(x))))
        return self.sd(x + y) if self.use_res else y


class MBNoStochasticDepth(MyMBConv):
    def __init__(self, i, o, stride, e, k=3):
        super().__init__(i, o, stride, e, k)
        del self.sd

    def forward(self, x):
        y = self.project(self.se(self.dw(self.expand(x))))
        return x + y if self.use_res else y


class MBActivationAfterProjection(MyMBConv):
    def forward(self, x):
        y = F.silu(self.project(self.se(self.dw(self.expand(x)))))
        return x + self.sd(y) if self.use_res else y


class MBNoSE(MyMBConv):
    def forward(self, x):
        y = self.project(self.dw(self.expand(x)))
        return x + self.sd(y) if self.use_res else y


class MBResidualAlways(MyMBConv):
    def forward(self, x):
        return x + self.sd(self.project(self.se(self.dw(self.expand(x)))))


def conv_ignores_groups(c_in, c_out, k, groups=1):
    return c_in * c_out * k * k


def conv_with_bias(c_in, c_out, k, groups=1):
    return c_out * (c_in // groups) * k * k + c_out


def conv_k_not_squared(c_in, c_out, k, groups=1):
    return c_out * (c_in // groups) * k


def ds_standard_conv(c_in, c_out, k, h, w):
    return c_in * c_out * k * k * h * w


def ds_flops(c_in, c_out, k, h, w):
    return 2 * (c_in * k * k * h * w + c_in * c_out * h * w)


def ds_depthwise_only(c_in, c_out, k, h, w):
    return c_in * k * k * h * w


def ds_params_not_macs(c_in, c_out, k, h, w):
    return c_in * k * k + c_in * c_out


def residual_at_stride_2(in_channels, out_channels, stride):
    return in_channels == out_channels


def residual_when_channels_differ(in_channels, out_channels, stride):
    return stride == 1


def residual_never(in_channels, out_channels, stride):
    return False


def _fused(c_in, c_out, e, k, *, c_exp=None, twice=False, bn=True, depthwise=False):
    c = make_divisible(c_in * e, 8) if c_exp is None else c_exp
    if c == c_in:
        return c_in * c_out * k * k + (2 * c_out if bn else 0)
    total = (c * k * k if depthwise else c_in * c * k * k) + c * c_out
    total += 2 * (c + c_out) if bn else 0
    return total + (c_in * c + 2 * c if twice else 0)


def fused_expansion_twice(c_in, c_out, e, k):
    return _fused(c_in, c_out, e, k, twice=True)


def fused_no_batchnorm(c_in, c_out, e, k):
    return _fused(c_in, c_out, e, k, bn=False)


def fused_depthwise_formula(c_in, c_out, e, k):
    return _fused(c_in, c_out, e, k, depthwise=True)


def fused_no_make_divisible(c_in, c_out, e, k):
    return _fused(c_in, c_out, e, k, c_exp=c_in * e)


def fused_projection_at_e1(c_in, c_out, e, k):
    c = make_divisible(c_in * e, 8)
    return c_in * c * k * k + 2 * c + c * c_out + 2 * c_out


def fused_running_stats(c_in, c_out, e, k):
    c = make_divisible(c_in * e, 8)
    return _fused(c_in, c_out, e, k) + (2 * (c + c_out) if c != c_in else 2 * c_out)


def lite_in_place(model):
    return _replace_lite(model)


def lite_shallow_copy(model):
    return _replace_lite(copy.copy(model))


def lite_top_level_only(model):
    lite = copy.deepcopy(model)
    for name, child in list(lite.named_children()):
        if isinstance(child, SqueezeExcitation):
            setattr(lite, name, nn.Identity())
        elif isinstance(child, nn.SiLU):
            setattr(lite, name, nn.ReLU6())
    return lite


def lite_relu(model):
    return _replace_lite(copy.deepcopy(model), silu=nn.ReLU)


def lite_keeps_se(model):
    return _replace_lite(copy.deepcopy(model), se=None)


def lite_loop_variable(model):
    lite = copy.deepcopy(model)
    for m in lite.modules():
        if isinstance(m, nn.SiLU):
            m = nn.ReLU6()  # the mistake under test: rebinds the loop variable only
    return lite


def lite_resets_batchnorm(model):
    lite = make_lite(model)
    for m in lite.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.reset_running_stats()
    return lite


WRONG = [
    (checkers.check_se, SENoSigmoid, "no sigmoid"),
    (checkers.check_se, SEMaxPool, "max instead of mean"),
    (checkers.check_se, SEReductionAsWidth, "wrong channel count: you used the reduction factor"),
    (checkers.check_se, SEMultiplied, "multiplied by the reduction factor"),
    (checkers.check_se, SEReturnsGate, "returns the gate"),
    (checkers.check_se, SENoReLU, "no ReLU between fc1 and fc2"),
    (checkers.check_se, SESoftmax, "softmax"),
    (checkers.check_se, SENoBias, "have a bias"),
    (checkers.check_inverted_residual, IRReLU6AfterProjection, "ReLU6) after the projection"),
    (checkers.check_inverted_residual, IRResidualAtStride2, "residual at stride 2"),
    (
        checkers.check_inverted_residual,
        IRResidualWhenChannelsDiffer,
        "although the channels differ",
    ),
    (checkers.check_inverted_residual, IRNoResidual, "residual is missing"),
    (checkers.check_inverted_residual, IRWithReLU, "ReLU where MobileNetV2 uses ReLU6"),
    (checkers.check_inverted_residual, IRAlwaysExpands, "no expansion conv"),
    (checkers.check_inverted_residual, IRRegularConv, "make it depthwise"),
    (checkers.check_inverted_residual, IRConvBias, "no bias"),
    (checkers.check_mbconv_forward, MBSEAfterProjection, "SE comes after the projection"),
    (checkers.check_mbconv_forward, MBSECalledAfterProjection, "before the projection"),
    (checkers.check_mbconv_forward, MBSEFromExpanded, "sized from the expanded width"),
    (checkers.check_mbconv_forward, MBReLU6, "is ReLU6 in yours; the reference uses SiLU"),
    (checkers.check_mbconv_forward, MBSEWithReLU, "inside the SE, between fc1 and fc2) is ReLU"),
    (checkers.check_mbconv_forward, MBStochasticDepthOnSum, "applied to the whole sum"),
    (checkers.check_mbconv_forward, MBNoStochasticDepth, "no StochasticDepth module"),
    (checkers.check_mbconv_forward, MBActivationAfterProjection, "activation after the projection"),
    (checkers.check_mbconv_forward, MBNoSE, "The SE is missing"),
    (checkers.check_mbconv_forward, MBResidualAlways, "residual at stride 2"),
    (checkers.check_conv_params, conv_ignores_groups, "ignored groups"),
    (checkers.check_conv_params, conv_with_bias, "bias"),
    (checkers.check_conv_params, conv_k_not_squared, "not k"),
    (checkers.check_depthwise_separable_macs, ds_standard_conv, "standard k×k conv"),
    (checkers.check_depthwise_separable_macs, ds_flops, "FLOPs"),
    (checkers.check_depthwise_separable_macs, ds_depthwise_only, "only the depthwise"),
    (checkers.check_depthwise_separable_macs, ds_params_not_macs, "not multiply-adds"),
    (checkers.check_residual_rule, residual_at_stride_2, "residual at stride 2"),
    (checkers.check_residual_rule, residual_when_channels_differ, "channels differ"),
    (checkers.check_residual_rule, residual_never, "does add the input"),
    (checkers.check_fused_params, fused_expansion_twice, "counted the expansion twice"),
    (checkers.check_fused_params, fused_no_batchnorm, "forgot BatchNorm"),
    (checkers.check_fused_params, fused_depthwise_formula, "depthwise formula"),
    (checkers.check_fused_params, fused_no_make_divisible, "make_divisible"),
    (checkers.check_fused_params, fused_projection_at_e1, "no 1×1 projection"),
    (checkers.check_fused_params, fused_running_stats, "buffers, not parameters"),
    (checkers.check_make_lite, lite_in_place, "Copy first"),
    (checkers.check_make_lite, lite_shallow_copy, "Use copy.deepcopy(model)"),
    (checkers.check_make_lite, lite_top_level_only, "walk every module"),
    (checkers.check_make_lite, lite_relu, "EfficientNet-Lite uses nn.ReLU6 there"),
    (checkers.check_make_lite, lite_keeps_se, "replace each SqueezeExcitation by nn.Identity"),
    (checkers.check_make_lite, lite_loop_variable, "Nothing was replaced"),
    (checkers.check_make_lite, lite_resets_batchnorm, "BatchNorm statistic changed"),
]


@pytest.mark.parametrize(
    ("checker", "solution", "names"), WRONG, ids=[s.__name__ for _, s, _ in WRONG]
)
def test_typical_mistake_is_caught_and_named(checker, solution, names) -> None:
    result = checker(solution, verbose=False)
    assert not result.passed
    assert result.status == "incorrect"
    assert "failed" in result.message
    assert "Input:" in result.message and "Got:" in result.message
    assert "Mistake:" in result.message
    assert names in result.message, result.message
    assert "Traceback" not in result.message


def test_failure_message_gives_input_expected_got() -> None:
    result = checkers.check_conv_params(conv_ignores_groups, verbose=False)
    assert "case 4 of 5 failed" in result.message
    assert "conv_ignores_groups(32, 32, 3, 32)" in result.message
    assert "Expected: 288 weights" in result.message
    assert "Got: 9,216" in result.message
    assert "Cases 1-3 passed." in result.message
    assert len(result.cases) == 3


def test_verbose_prints_the_same_message(capsys: pytest.CaptureFixture[str]) -> None:
    result = checkers.check_se(SENoSigmoid)
    printed = capsys.readouterr().out
    assert printed.startswith("✗ ")
    assert result.message in printed
    result = checkers.check_residual_rule(residual_rule)
    assert capsys.readouterr().out.startswith("✓ ")
    assert repr(result) == "CheckResult(passed, 6 case(s) verified)"


# --------------------------------------------------------------------------------------------
# Bad learner code: always feedback, never a traceback or a hang
# --------------------------------------------------------------------------------------------


def raises(c_in, c_out, k, groups=1):
    return c_in / 0


def stub(c_in, c_out, k, groups=1):
    raise NotImplementedError


def two_args(c_in, c_out):
    return c_in * c_out


def returns_none(c_in, c_out, k, groups=1):
    c_out * (c_in // groups) * k * k


def returns_text(c_in, c_out, k, groups=1):
    return str(c_out * (c_in // groups) * k * k)


def returns_fraction(c_in, c_out, k, groups=1):
    return c_out * c_in * k * k / 7


def returns_tensor(c_in, c_out, k, groups=1):
    return torch.ones(3)


def returns_nan(c_in, c_out, k, groups=1):
    return float("nan")


def returns_integral_float(c_in, c_out, k, groups=1):
    return c_out * c_in / groups * k * k


def returns_number_rule(in_channels, out_channels, stride):
    return 1


def chatty(c_in, c_out, k, groups=1):
    for i in range(20_000):
        print("debug line", i)
    return c_out * (c_in // groups) * k * k


def slow(c_in, c_out, k, groups=1):
    time.sleep(0.3)
    return c_out * (c_in // groups) * k * k


def endless(c_in, c_out, k, groups=1):
    deadline = time.perf_counter() + 10  # a test that is never interrupted fails, not hangs
    while time.perf_counter() < deadline:
        pass


class SERaisesInInit(nn.Module):
    def __init__(self, channels, reduction):
        super().__init__()
        raise ValueError("oops")


class SETuple(MySE):
    def forward(self, x):
        return x, x


class SENaN(MySE):
    def forward(self, x):
        return x * float("nan")


class SESlow(MySE):
    def forward(self, x):
        time.sleep(0.3)
        return super().forward(x)


class SEPrintsALot(MySE):
    def forward(self, x):
        print("x" * 100_000)
        return super().forward(x)


class IRStub(nn.Module):
    """The chapter's starting point: nothing built yet."""

    def __init__(self, in_channels, out_channels, stride, expand_ratio):
        super().__init__()

    def forward(self, x):
        return x


def lite_se_to_none(model):
    return _replace_lite(copy.deepcopy(model), se=lambda: None)


def lite_no_return(model):
    make_lite(model)


def lite_stub(model):
    raise NotImplementedError("write make_lite")


class NotAModule:
    def __init__(self, channels, reduction):
        pass


BAD = [
    (checkers.check_conv_params, raises, "raised ZeroDivisionError"),
    (checkers.check_conv_params, stub, "placeholder is still there"),
    (checkers.check_conv_params, two_args, "Check the signature"),
    (checkers.check_conv_params, returns_none, "forget `return`"),
    (checkers.check_conv_params, returns_text, "(a str)"),
    (checkers.check_conv_params, returns_fraction, "whole number"),
    (checkers.check_conv_params, returns_tensor, "single number"),
    (checkers.check_conv_params, returns_nan, "finite number"),
    (checkers.check_residual_rule, returns_number_rule, "Return True or False"),
    (checkers.check_se, SERaisesInInit, "raised ValueError: oops"),
    (checkers.check_se, SETuple, "return one tensor"),
    (checkers.check_se, SENaN, "NaN"),
    (checkers.check_se, NotAModule, "not an nn.Module"),
    (checkers.check_inverted_residual, IRStub, "no layers with weights yet"),
    (checkers.check_make_lite, lite_se_to_none, "put nn.Identity() where an SE was"),
    (checkers.check_make_lite, lite_no_return, "forget `return lite`"),
    (checkers.check_make_lite, lite_stub, "placeholder is still there"),
]


@pytest.mark.parametrize(("checker", "code", "says"), BAD, ids=[c.__name__ for _, c, _ in BAD])
def test_bad_learner_code_gets_feedback(checker, code, says) -> None:
    result = checker(code, verbose=False)
    assert not result.passed
    assert says in result.message, result.message
    assert "Traceback" not in result.message


def test_integral_float_is_accepted() -> None:
    assert checkers.check_conv_params(returns_integral_float, verbose=False).passed


@pytest.mark.parametrize(
    ("checker", "code"),
    [(checkers.check_conv_params, slow), (checkers.check_se, SESlow)],
    ids=["function", "module-forward"],
)
def test_code_slower_than_the_time_limit_fails(checker, code) -> None:
    result = checker(code, verbose=False, time_limit=0.2)
    assert not result.passed
    assert "did not finish within 0.2 s (it took 0.3 s)" in result.message
    assert "endless loop" in result.message


def test_an_endless_loop_stopped_by_the_kernels_interrupt_is_feedback() -> None:
    """The kernel's interrupt button raises KeyboardInterrupt in the running code (ipykernel
    sends SIGINT; ``_thread.interrupt_main`` does the same here): the checker reports it."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)  # as in a kernel
    timer = threading.Timer(0.3, _thread.interrupt_main)
    timer.start()
    try:
        result = checkers.check_conv_params(endless, verbose=False)
    finally:
        timer.cancel()
        signal.signal(signal.SIGINT, previous)
    assert not result.passed and "case 1 of 5 failed" in result.message
    assert "endless(3, 32, 3) was interrupted after" in result.message
    assert "An endless loop, or far more work than needed?" in result.message


def test_printed_output_is_captured_and_truncated(capsys: pytest.CaptureFixture[str]) -> None:
    result = checkers.check_conv_params(chatty, verbose=False)
    assert result.passed
    assert capsys.readouterr().out == ""  # nothing leaked into the notebook
    assert "Your code printed" in result.message
    assert "debug line 0" in result.message
    assert "debug line 19999" not in result.message
    assert len(result.message) < 3000
    result = checkers.check_se(SEPrintsALot, verbose=False)
    assert result.passed and len(result.message) < 6000


@pytest.mark.parametrize(
    ("checker", "obj", "says"),
    [
        (checkers.check_se, MySE(16, 4), "pass the class itself"),
        (checkers.check_conv_params, 42, "42 (an int), which cannot be called"),
        (checkers.check_conv_params, MySE, "pass a function"),
        (checkers.check_inverted_residual, None, "cannot be called"),
        (checkers.check_make_lite, MBConv, "pass a function"),
    ],
    ids=["instance", "number", "class-for-function", "none", "class-for-make-lite"],
)
def test_wrong_kind_of_object(checker, obj, says) -> None:
    result = checker(obj, verbose=False)
    assert not result.passed and says in result.message


def test_checkers_leave_rng_and_threads_alone() -> None:
    threads = torch.get_num_threads()
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    checkers.check_mbconv_forward(MyMBConv, verbose=False)
    assert torch.equal(torch.rand(3), expected)
    assert torch.get_num_threads() == threads


def test_checker_feedback_is_deterministic() -> None:
    first = checkers.check_se(SEMaxPool, verbose=False).message
    assert checkers.check_se(SEMaxPool, verbose=False).message == first


def test_learner_module_left_usable() -> None:
    """The checker copies weights into fresh instances it builds, not into anything of the
    learner's, and the learner's class still works afterwards."""
    before = MySE(16, 4)
    state = {k: v.clone() for k, v in before.state_dict().items()}
    checkers.check_se(MySE, verbose=False)
    assert all(torch.equal(state[k], v) for k, v in before.state_dict().items())
    assert before(torch.randn(1, 16, 3, 3)).shape == (1, 16, 3, 3)


def test_learner_module_on_another_device_is_checked_on_the_cpu(device: torch.device) -> None:
    """A learner who writes `.to(device)` in __init__ (device = cuda in the chapters)."""

    class DeviceSE(MySE):
        def __init__(self, channels, reduction):
            super().__init__(channels, reduction)
            self.to(device)

    result = checkers.check_se(DeviceSE, verbose=False)
    assert result.passed, result.message
