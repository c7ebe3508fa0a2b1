"""Checkers for formulas: conv weights, separable multiply-adds, the residual rule and the
Fused-MBConv parameter count, each against :mod:`mbcourse.costs` or :mod:`mbcourse.blocks`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .. import costs
from ..blocks import FusedMBConv, InvertedResidual, make_divisible
from ._case_runner import (
    DEFAULT_TIME_LIMIT,
    Case,
    CaseError,
    Session,
    args_text,
    as_bool,
    as_count,
    diagnose,
    run_checker,
)
from .feedback import CheckResult

__all__ = [
    "check_conv_params",
    "check_depthwise_separable_macs",
    "check_fused_params",
    "check_residual_rule",
]

Candidates = list[tuple[int, str]]


def _count_case(
    fn: Callable[..., Any],
    name: str,
    args: tuple[int, ...],
    note: str,
    expected: int,
    expected_text: str,
    candidates: Candidates,
) -> Case:
    """A case comparing the count ``fn(*args)`` with ``expected``, naming known wrong formulas."""
    call = f"{name}({args_text(*args)})"
    label = f"{call}: {note}"

    def run(s: Session) -> str:
        got = as_count(s.call(fn, *args, what=call), name)
        if got != expected:
            raise CaseError(
                expected=expected_text,
                got=f"{got:,}",
                mistake=diagnose(got, expected, candidates),
            )
        return f"{label} = {expected:,}"

    return Case(label, run)


def _conv_params_case(
    fn: Callable[..., Any], name: str, c_in: int, c_out: int, k: int, g: int, note: str
) -> Case:
    expected = costs.conv(c_in, c_out, k, 1, groups=g).params
    candidates = [
        (
            c_in * c_out * k * k,
            "You ignored groups: with groups=g each filter sees only "
            "c_in/g input channels, so the count is c_out·(c_in/g)·k².",
        ),
        (
            expected + c_out,
            "You added one bias per output channel; count the weights only "
            "(a conv followed by BatchNorm has no bias).",
        ),
        (
            c_in * c_out * k // g,
            "A k×k kernel has k² = k·k weights per pair of input and output channels, not k.",
        ),
        (
            c_in * c_out * k * k // (g * g),
            "You divided by groups twice: it is c_out·(c_in/g)·k², one division.",
        ),
        (
            (c_in + c_out) * k * k // g,
            "Multiply the channel counts, don't add them: every "
            "output channel has a filter over the input channels.",
        ),
    ]
    args = (c_in, c_out, k) if g == 1 else (c_in, c_out, k, g)
    return _count_case(fn, name, args, note, expected, f"{expected:,} weights", candidates)


def check_conv_params(
    fn: Callable[..., Any], *, verbose: bool = True, time_limit: float = DEFAULT_TIME_LIMIT
) -> CheckResult:
    """``fn(c_in, c_out, k, groups=1)`` -> weights of a k x k conv (no bias), against
    :func:`mbcourse.costs.conv`. ``groups`` is passed positionally, and left out when it is 1."""
    table = [
        (3, 32, 3, 1, "a regular 3×3 conv (MobileNetV2's stem)"),
        (32, 64, 1, 1, "a 1×1 pointwise conv"),
        (16, 24, 5, 1, "a 5×5 conv"),
        (32, 32, 3, 32, "a 3×3 depthwise conv (groups = channels)"),
        (64, 128, 3, 4, "a grouped 3×3 conv (4 groups)"),
    ]
    return run_checker(
        "check_conv_params",
        fn,
        "fn(c_in, c_out, k, groups=1)",
        lambda name: [_conv_params_case(fn, name, *row) for row in table],
        hint="Each of the c_out filters has (c_in / groups) × k × k weights.",
        verbose=verbose,
        time_limit=time_limit,
    )


def _separable_case(
    fn: Callable[..., Any], name: str, c_in: int, c_out: int, k: int, h: int, w: int
) -> Case:
    expected = costs.depthwise_separable(c_in, c_out, k, (h, w)).macs
    hw = h * w
    dw, pw = c_in * k * k * hw, c_in * c_out * hw
    candidates = [
        (
            c_in * c_out * k * k * hw,
            "That is a standard k×k conv. Separable = depthwise "
            "(c_in·k²·h·w) + pointwise (c_in·c_out·h·w).",
        ),
        (
            dw,
            "You counted only the depthwise conv; add the 1×1 pointwise conv (c_in·c_out·h·w).",
        ),
        (pw, "You counted only the pointwise conv; add the depthwise conv (c_in·k²·h·w)."),
        (
            c_in * c_in * k * k * hw + pw,
            "You counted the depthwise conv as a regular "
            "c_in→c_in conv; each channel has its own single k×k filter.",
        ),
        (
            2 * expected,
            "That is FLOPs (2 per multiply-add); the question asks for multiply-adds.",
        ),
        (c_in * k * hw + pw, "A k×k kernel has k² weights, not k."),
        (
            c_in * k * k + c_in * c_out,
            "You counted weights (parameters), not multiply-adds: "
            "each weight is used at every one of the h·w positions.",
        ),
    ]
    note = f"{c_in}→{c_out} channels, {k}×{k}, on {h}×{w}"
    expected_text = f"{expected:,} multiply-adds (depthwise {dw:,} + pointwise {pw:,})"
    return _count_case(
        fn, name, (c_in, c_out, k, h, w), note, expected, expected_text, candidates
    )


def check_depthwise_separable_macs(
    fn: Callable[..., Any], *, verbose: bool = True, time_limit: float = DEFAULT_TIME_LIMIT
) -> CheckResult:
    """``fn(c_in, c_out, k, h, w)`` -> multiply-adds of depthwise k x k + pointwise 1 x 1 at
    stride 1 on an h x w input, against :func:`mbcourse.costs.depthwise_separable`."""
    table = [(32, 64, 3, 112, 112), (16, 24, 5, 28, 14), (64, 64, 3, 7, 7), (3, 8, 3, 10, 20)]
    return run_checker(
        "check_depthwise_separable_macs",
        fn,
        "fn(c_in, c_out, k, h, w)",
        lambda name: [_separable_case(fn, name, *row) for row in table],
        hint="Multiply-adds of a conv = (weights per output position) × (output positions h·w).",
        verbose=verbose,
        time_limit=time_limit,
    )


def _residual_case(fn: Callable[..., Any], name: str, c_in: int, c_out: int, stride: int) -> Case:
    call = f"{name}({args_text(c_in, c_out, stride)})"
    label = f"{call}: {c_in}→{c_out} channels, stride {stride}"
    expected = InvertedResidual(c_in, c_out, stride, expand_ratio=1).use_residual

    def run(s: Session) -> str:
        got = as_bool(s.call(fn, c_in, c_out, stride, what=call), name)
        if got == expected:
            return f"{label} -> {expected}"
        if expected:
            mistake = (
                "With stride 1 and equal channels the output has exactly the input's "
                "shape, and the block does add the input."
            )
        elif stride != 1:
            mistake = (
                "You add the residual at stride 2: the output is half as high and "
                "wide as the input, so x and F(x) cannot be added."
            )
        else:
            mistake = (
                f"You add the residual when the channels differ ({c_in} in, {c_out} "
                "out): x and F(x) have different shapes."
            )
        raise CaseError(expected=str(expected), got=str(got), mistake=mistake)

    return Case(label, run)


def check_residual_rule(
    fn: Callable[..., Any], *, verbose: bool = True, time_limit: float = DEFAULT_TIME_LIMIT
) -> CheckResult:
    """``fn(in_channels, out_channels, stride)`` -> whether the block adds its input, against
    :attr:`mbcourse.blocks.InvertedResidual.use_residual`."""
    table = [(16, 16, 1), (16, 16, 2), (16, 24, 1), (24, 16, 2), (96, 96, 1), (32, 64, 2)]
    return run_checker(
        "check_residual_rule",
        fn,
        "fn(in_channels, out_channels, stride)",
        lambda name: [_residual_case(fn, name, *row) for row in table],
        hint="x + F(x) needs F(x) to have x's shape.",
        verbose=verbose,
        time_limit=time_limit,
    )


def _fused_candidates(c_in: int, c_out: int, e: int, k: int, expected: int) -> Candidates:
    """Known wrong Fused-MBConv counts and what each one means."""
    ce = make_divisible(c_in * e, 8)

    def formula(c_exp: int) -> int:
        if c_exp == c_in:
            return c_in * c_out * k * k + 2 * c_out
        return c_in * c_exp * k * k + 2 * c_exp + c_exp * c_out + 2 * c_out

    if ce == c_in:
        return [
            (
                c_in * c_in * k * k + 2 * c_in + c_in * c_out + 2 * c_out,
                "When the expanded "
                "width equals c_in (expand_ratio 1) there is a single k×k conv straight to c_out "
                "(+ BatchNorm) and no 1×1 projection.",
            ),
            (
                c_in * c_out * k * k,
                "You forgot BatchNorm's parameters: 2 per channel (scale γ and shift β).",
            ),
            (
                c_in * c_out * k * k + 4 * c_out,
                "BatchNorm has 2 learnable parameters per "
                "channel; its running mean and variance are buffers, not parameters.",
            ),
            (
                c_out * k * k + 2 * c_out,
                "That is the depthwise formula (c·k²); the fused conv is "
                "a regular conv: every output channel sees all c_in inputs, c_in·c_out·k².",
            ),
        ]
    bn = 2 * (ce + c_out)
    twice = "You counted the expansion twice: a separate 1×1 expansion as well as the fused conv."
    return [
        (expected + c_in * ce + 2 * ce, f"{twice} The fused k×k conv *is* the expansion."),
        (expected + c_in * ce, f"{twice} The fused k×k conv *is* the expansion."),
        (formula(c_in * e * e), "You applied the expansion ratio twice (c_in·e²)."),
        (
            expected - bn,
            "You forgot BatchNorm's parameters: 2 per channel (scale γ and shift β) "
            "after each conv, 2·(c_exp + c_out).",
        ),
        (expected - 2 * ce, "You forgot the BatchNorm after the fused conv (2·c_exp)."),
        (expected - 2 * c_out, "You forgot the BatchNorm after the projection (2·c_out)."),
        (
            expected + bn,
            "BatchNorm has 2 learnable parameters per channel; its running mean and "
            "variance are buffers, not parameters.",
        ),
        (
            ce * k * k + 2 * ce + ce * c_out + 2 * c_out,
            "You used the depthwise formula "
            "(c_exp·k²) for the fused conv; it is a regular conv: c_in·c_exp·k².",
        ),
        (
            c_in * ce + 4 * ce + ce * k * k + ce * c_out + 2 * c_out,
            "That is the unfused MBConv "
            "(1×1 expansion + depthwise, without SE); the fused block replaces both with one "
            "regular k×k conv c_in→c_exp.",
        ),
        (expected + ce + c_out, "Convs followed by BatchNorm have no bias."),
        (
            formula(c_in * e),
            f"The expanded width is make_divisible(c_in·e, 8) = {ce}, not {c_in * e}.",
        ),
    ]


def _fused_case(
    fn: Callable[..., Any], name: str, c_in: int, c_out: int, e: int, k: int, note: str
) -> Case:
    expected = sum(p.numel() for p in FusedMBConv(c_in, c_out, 1, e, k).parameters())
    if expected != costs.fused_mbconv(c_in, c_out, 8, 1, e, k).params:  # pragma: no cover
        raise RuntimeError("check_fused_params: mbcourse.costs disagrees with the module")
    ce = make_divisible(c_in * e, 8)
    detail = (
        f"one {k}×{k} conv {c_in}→{c_out} + BatchNorm"
        if ce == c_in
        else f"fused {k}×{k} conv {c_in}→{ce} + BatchNorm, then 1×1 {ce}→{c_out} + BatchNorm"
    )
    case = _count_case(
        fn,
        name,
        (c_in, c_out, e, k),
        note,
        expected,
        f"{expected:,} parameters ({detail})",
        _fused_candidates(c_in, c_out, e, k, expected),
    )
    return Case(case.label, _with_detail(case.run, detail))


def check_fused_params(
    fn: Callable[..., Any], *, verbose: bool = True, time_limit: float = DEFAULT_TIME_LIMIT
) -> CheckResult:
    """``fn(c_in, c_out, expand_ratio, k)`` -> learnable parameters of
    :class:`mbcourse.blocks.FusedMBConv` (conv weights + BatchNorm scale and shift), counted on
    the module itself. The expanded width is ``make_divisible(c_in * expand_ratio, 8)``; the
    last case (20 · 3 = 60 -> 64) needs that rounding."""
    table = [
        (24, 48, 4, 3, "EfficientNetV2-S stage 2, first block"),
        (48, 64, 4, 3, "EfficientNetV2-S stage 3, first block"),
        (48, 48, 4, 3, "EfficientNetV2-S stage 2, repeated block"),
        (16, 32, 6, 5, "a 5×5 kernel"),
        (24, 24, 1, 3, "expand_ratio 1: EfficientNetV2-S stage 1"),
        (20, 40, 3, 3, "20·3 = 60 channels, rounded by make_divisible"),
    ]
    return run_checker(
        "check_fused_params",
        fn,
        "fn(c_in, c_out, expand_ratio, k)",
        lambda name: [_fused_case(fn, name, *row) for row in table],
        hint="Fused conv c_in·c_exp·k², projection c_exp·c_out, and 2 per channel for each "
        "BatchNorm; with c_exp == c_in a single k×k conv c_in→c_out.",
        verbose=verbose,
        time_limit=time_limit,
    )


def _with_detail(run: Callable[[Session], str], detail: str) -> Callable[[Session], str]:
    return lambda s: f"{run(s)} ({detail})"
