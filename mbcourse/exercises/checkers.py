"""Checkers for the code exercises: each a table of cases and named mistakes, run by
:func:`.grader.run_checker`.

Each checker runs the learner's function or class on small cases and compares it with the
reference in :mod:`mbcourse` (:mod:`mbcourse.costs` for formulas; :mod:`mbcourse.blocks` for
modules, whose weights are copied into the learner's module layer by layer, in the order its
forward runs them; :func:`mbcourse.deploy.to_lite` for ``make_lite``). It stops at the first
failing case and says the input, what was expected, what came back and, when a known wrong
formula or variant reproduces it, the mistake; a pass lists what was verified. The feedback
is printed (``verbose=True``) and returned::

    result = checkers.check_se(MySE)      # prints the feedback
    result.passed, result.message, result.cases

Every checker has the signature ``check_x(obj, *, verbose=True, time_limit=5.0)``.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .. import costs
from ..blocks import FusedMBConv, InvertedResidual, MBConv, SqueezeExcitation, make_divisible
from ..deploy.lite import count_lite_changes, to_lite
from ..studies.experiments import tiny_efficientnet
from . import grader as G
from .grader import DEFAULT_TIME_LIMIT, Case, CaseError, Session, run_checker
from .verdicts import CheckResult

__all__ = [
    "DEFAULT_TIME_LIMIT",
    "check_conv_params",
    "check_depthwise_separable_macs",
    "check_fused_params",
    "check_inverted_residual",
    "check_make_lite",
    "check_mbconv_forward",
    "check_residual_rule",
    "check_se",
]

Mistakes = Sequence[tuple[Callable[[dict], Any], str]]  # (wrong formula of the case, why)


def _args(args: Sequence[Any]) -> str:
    return ", ".join(map(str, args))


# ---- formulas: the learner's function against the reference on each row ---------------------
def _formula(
    checker: str, fn: Any, signature: str, rows: Sequence[tuple[dict[str, Any], str]],
    reference: Callable[[dict], Any], mistakes: Mistakes, hint: str, verbose: bool,
    time_limit: float, *, unit: str = "", expected: Callable[[dict, Any], str] | None = None,
    shown: Callable[[dict], str] | None = None,
) -> CheckResult:
    """One case per row ``(values, note)``: ``fn(*values["args"])`` must equal ``reference``
    (a count, or a bool when ``unit`` is empty); a wrong result is named by the first mistake
    whose formula gives it (its message formatted with the row's values). ``expected`` words
    the expected count; ``shown`` explains it, there and in what a pass verified."""

    def case(name: str, v: dict[str, Any], note: str) -> Case:
        call = f"{name}({_args(v['args'])})"
        label, want = f"{call}: {note}", reference(v)
        extra = f" ({shown(v)})" if shown else ""

        def run(s: Session) -> str:
            value = s.call(fn, *v["args"], what=call)
            got = G.as_count(value, name) if unit else G.as_bool(value, name)
            if got != want:
                why = next((m.format(**v) for wrong, m in mistakes
                            if (w := wrong(v)) is not None and w != want and w == got), None)
                said = (expected(v, want) if expected else f"{want:,} {unit}{extra}") if unit else (
                    str(want))
                raise CaseError(f"{got:,}" if unit else str(got), expected=said, mistake=why)
            return f"{label} = {want:,}{extra}" if unit else f"{label} -> {want}"

        return Case(label, run)

    return run_checker(checker, fn, signature, lambda name: [case(name, *r) for r in rows],
                       hint=hint, verbose=verbose, time_limit=time_limit)


def check_conv_params(
    fn: Callable[..., Any], *, verbose: bool = True, time_limit: float = DEFAULT_TIME_LIMIT
) -> CheckResult:
    """``fn(c_in, c_out, k, groups=1)`` -> weights of a k x k conv (no bias), against
    :func:`mbcourse.costs.conv`. ``groups`` is passed positionally, and left out when it is 1."""
    table = [(3, 32, 3, 1, "a regular 3×3 conv (MobileNetV2's stem)"),
             (32, 64, 1, 1, "a 1×1 pointwise conv"), (16, 24, 5, 1, "a 5×5 conv"),
             (32, 32, 3, 32, "a 3×3 depthwise conv (groups = channels)"),
             (64, 128, 3, 4, "a grouped 3×3 conv (4 groups)")]
    rows = [({"args": (i, o, k) if g == 1 else (i, o, k, g), "i": i, "o": o, "k": k, "g": g},
             note) for i, o, k, g, note in table]
    mistakes = [
        (lambda v: v["i"] * v["o"] * v["k"] ** 2, "You ignored groups: with groups=g each "
         "filter sees only c_in/g input channels, so the count is c_out·(c_in/g)·k²."),
        (lambda v: costs.conv(v["i"], v["o"], v["k"], 1, groups=v["g"]).params + v["o"],
         "You added one bias per output channel; count the weights only (a conv followed by "
         "BatchNorm has no bias)."),
        (lambda v: v["i"] * v["o"] * v["k"] // v["g"], "A k×k kernel has k² = k·k weights per "
         "pair of input and output channels, not k."),
        (lambda v: v["i"] * v["o"] * v["k"] ** 2 // v["g"] ** 2, "You divided by groups twice: "
         "it is c_out·(c_in/g)·k², one division."),
        (lambda v: (v["i"] + v["o"]) * v["k"] ** 2 // v["g"], "Multiply the channel counts, "
         "don't add them: every output channel has a filter over the input channels."),
    ]
    return _formula(
        "check_conv_params", fn, "fn(c_in, c_out, k, groups=1)", rows,
        lambda v: costs.conv(v["i"], v["o"], v["k"], 1, groups=v["g"]).params, mistakes,
        "Each of the c_out filters has (c_in / groups) × k × k weights.", verbose, time_limit,
        unit="weights")


def check_depthwise_separable_macs(
    fn: Callable[..., Any], *, verbose: bool = True, time_limit: float = DEFAULT_TIME_LIMIT
) -> CheckResult:
    """``fn(c_in, c_out, k, h, w)`` -> multiply-adds of depthwise k x k + pointwise 1 x 1 at
    stride 1 on an h x w input, against :func:`mbcourse.costs.depthwise_separable`."""
    rows = []
    for i, o, k, h, w in [(32, 64, 3, 112, 112), (16, 24, 5, 28, 14), (64, 64, 3, 7, 7),
                          (3, 8, 3, 10, 20)]:
        v = {"args": (i, o, k, h, w), "i": i, "o": o, "k": k, "hw": h * w,
             "dw": i * k * k * h * w, "pw": i * o * h * w}
        rows.append((v, f"{i}→{o} channels, {k}×{k}, on {h}×{w}"))
    mistakes = [
        (lambda v: v["i"] * v["o"] * v["k"] ** 2 * v["hw"], "That is a standard k×k conv. "
         "Separable = depthwise (c_in·k²·h·w) + pointwise (c_in·c_out·h·w)."),
        (lambda v: v["dw"], "You counted only the depthwise conv; add the 1×1 pointwise conv "
         "(c_in·c_out·h·w)."),
        (lambda v: v["pw"], "You counted only the pointwise conv; add the depthwise conv "
         "(c_in·k²·h·w)."),
        (lambda v: v["i"] ** 2 * v["k"] ** 2 * v["hw"] + v["pw"], "You counted the depthwise "
         "conv as a regular c_in→c_in conv; each channel has its own single k×k filter."),
        (lambda v: 2 * (v["dw"] + v["pw"]), "That is FLOPs (2 per multiply-add); the question "
         "asks for multiply-adds."),
        (lambda v: v["i"] * v["k"] * v["hw"] + v["pw"], "A k×k kernel has k² weights, not k."),
        (lambda v: v["i"] * v["k"] ** 2 + v["i"] * v["o"], "You counted weights (parameters), "
         "not multiply-adds: each weight is used at every one of the h·w positions."),
    ]
    return _formula(
        "check_depthwise_separable_macs", fn, "fn(c_in, c_out, k, h, w)", rows,
        lambda v: costs.depthwise_separable(v["i"], v["o"], v["k"], v["args"][3:]).macs, mistakes,
        "Multiply-adds of a conv = (weights per output position) × (output positions h·w).",
        verbose, time_limit, unit="multiply-adds", expected=lambda v, want: (
            f"{want:,} multiply-adds (depthwise {v['dw']:,} + pointwise {v['pw']:,})"))


def check_residual_rule(
    fn: Callable[..., Any], *, verbose: bool = True, time_limit: float = DEFAULT_TIME_LIMIT
) -> CheckResult:
    """``fn(in_channels, out_channels, stride)`` -> whether the block adds its input, against
    :attr:`mbcourse.blocks.InvertedResidual.use_residual`."""
    rows = [({"args": (i, o, s), "c_in": i, "c_out": o, "stride": s},
             f"{i}→{o} channels, stride {s}")
            for i, o, s in [(16, 16, 1), (16, 16, 2), (16, 24, 1), (24, 16, 2), (96, 96, 1),
                            (32, 64, 2)]]
    mistakes = [
        (lambda v: False, "With stride 1 and equal channels the output has exactly the input's "
         "shape, and the block does add the input."),
        (lambda v: v["stride"] != 1, "You add the residual at stride 2: the output is half as "
         "high and wide as the input, so x and F(x) cannot be added."),
        (lambda v: v["stride"] == 1, "You add the residual when the channels differ ({c_in} in, "
         "{c_out} out): x and F(x) have different shapes."),
    ]
    return _formula(
        "check_residual_rule", fn, "fn(in_channels, out_channels, stride)", rows,
        lambda v: InvertedResidual(*v["args"], expand_ratio=1).use_residual, mistakes,
        "x + F(x) needs F(x) to have x's shape.", verbose, time_limit)


def _fused_formula(i: int, o: int, k: int, c: int) -> int:
    return i * o * k * k + 2 * o if c == i else i * c * k * k + 2 * c + c * o + 2 * o


def check_fused_params(
    fn: Callable[..., Any], *, verbose: bool = True, time_limit: float = DEFAULT_TIME_LIMIT
) -> CheckResult:
    """``fn(c_in, c_out, expand_ratio, k)`` -> learnable parameters of
    :class:`mbcourse.blocks.FusedMBConv` (conv weights + BatchNorm scale and shift), counted on
    the module itself. The expanded width is ``make_divisible(c_in * expand_ratio, 8)``; the
    last case (20 · 3 = 60 -> 64) needs that rounding."""
    rows = []
    for i, o, e, k, note in [(24, 48, 4, 3, "EfficientNetV2-S stage 2, first block"),
                             (48, 64, 4, 3, "EfficientNetV2-S stage 3, first block"),
                             (48, 48, 4, 3, "EfficientNetV2-S stage 2, repeated block"),
                             (16, 32, 6, 5, "a 5×5 kernel"),
                             (24, 24, 1, 3, "expand_ratio 1: EfficientNetV2-S stage 1"),
                             (20, 40, 3, 3, "20·3 = 60 channels, rounded by make_divisible")]:
        c = make_divisible(i * e, 8)
        want = sum(p.numel() for p in FusedMBConv(i, o, 1, e, k).parameters())
        detail = (f"one {k}×{k} conv {i}→{o} + BatchNorm" if c == i else f"fused {k}×{k} conv "
                  f"{i}→{c} + BatchNorm, then 1×1 {c}→{o} + BatchNorm")
        rows.append(({"args": (i, o, e, k), "i": i, "o": o, "e": e, "k": k, "ce": c,
                      "ie": i * e, "want": want, "bn": 2 * (c + o), "detail": detail}, note))
    twice = "You counted the expansion twice: a separate 1×1 expansion as well as the fused conv."

    def unfused(when_same: bool, formula: Callable[[dict], int]) -> Callable[[dict], Any]:
        return lambda v: formula(v) if (v["ce"] == v["i"]) == when_same else None

    mistakes = [
        (unfused(True, lambda v: v["i"] ** 2 * v["k"] ** 2 + 2 * v["i"] + v["i"] * v["o"]
                 + 2 * v["o"]), "When the expanded width equals c_in (expand_ratio 1) there is "
         "a single k×k conv straight to c_out (+ BatchNorm) and no 1×1 projection."),
        (unfused(True, lambda v: v["i"] * v["o"] * v["k"] ** 2), "You forgot BatchNorm's "
         "parameters: 2 per channel (scale γ and shift β)."),
        (unfused(True, lambda v: v["i"] * v["o"] * v["k"] ** 2 + 4 * v["o"]), "BatchNorm has 2 "
         "learnable parameters per channel; its running mean and variance are buffers, not "
         "parameters."),
        (unfused(True, lambda v: v["o"] * v["k"] ** 2 + 2 * v["o"]), "That is the depthwise "
         "formula (c·k²); the fused conv is a regular conv: every output channel sees all c_in "
         "inputs, c_in·c_out·k²."),
        (unfused(False, lambda v: v["want"] + v["i"] * v["ce"] + 2 * v["ce"]),
         f"{twice} The fused k×k conv *is* the expansion."),
        (unfused(False, lambda v: v["want"] + v["i"] * v["ce"]),
         f"{twice} The fused k×k conv *is* the expansion."),
        (unfused(False, lambda v: _fused_formula(v["i"], v["o"], v["k"], v["i"] * v["e"] ** 2)),
         "You applied the expansion ratio twice (c_in·e²)."),
        (unfused(False, lambda v: v["want"] - v["bn"]), "You forgot BatchNorm's parameters: 2 "
         "per channel (scale γ and shift β) after each conv, 2·(c_exp + c_out)."),
        (unfused(False, lambda v: v["want"] - 2 * v["ce"]), "You forgot the BatchNorm after the "
         "fused conv (2·c_exp)."),
        (unfused(False, lambda v: v["want"] - 2 * v["o"]), "You forgot the BatchNorm after the "
         "projection (2·c_out)."),
        (unfused(False, lambda v: v["want"] + v["bn"]), "BatchNorm has 2 learnable parameters "
         "per channel; its running mean and variance are buffers, not parameters."),
        (unfused(False, lambda v: v["ce"] * v["k"] ** 2 + 2 * v["ce"] + v["ce"] * v["o"]
                 + 2 * v["o"]), "You used the depthwise formula (c_exp·k²) for the fused conv; "
         "it is a regular conv: c_in·c_exp·k²."),
        (unfused(False, lambda v: v["i"] * v["ce"] + 4 * v["ce"] + v["ce"] * v["k"] ** 2
                 + v["ce"] * v["o"] + 2 * v["o"]), "That is the unfused MBConv (1×1 expansion + "
         "depthwise, without SE); the fused block replaces both with one regular k×k conv "
         "c_in→c_exp."),
        (unfused(False, lambda v: v["want"] + v["ce"] + v["o"]), "Convs followed by BatchNorm "
         "have no bias."),
        (unfused(False, lambda v: _fused_formula(v["i"], v["o"], v["k"], v["ie"])),
         "The expanded width is make_divisible(c_in·e, 8) = {ce}, not {ie}."),
    ]
    return _formula(
        "check_fused_params", fn, "fn(c_in, c_out, expand_ratio, k)", rows, lambda v: v["want"],
        mistakes, "Fused conv c_in·c_exp·k², projection c_exp·c_out, and 2 per channel for each "
        "BatchNorm; with c_exp == c_in a single k×k conv c_in→c_out.", verbose, time_limit,
        unit="parameters", shown=lambda v: v["detail"])


# ---- blocks: the learner's module against mbcourse.blocks, on copied weights ------------------
Variants = list[tuple[str, Callable[[], Tensor]]]
Explain = Callable[[list[G.Call], list[G.Call]], "str | None"]
NO_LAYERS = ("Your forward uses no layers with weights yet: build the convs in __init__ and call "
             "them in forward.")
NOTHING = torch.full((1,), float("nan"))  # a variant that matches no output


def _build(s: Session, cls: Any, args: tuple[Any, ...], label: str) -> nn.Module:
    """``cls(*args)`` in eval mode on the CPU (whatever ``device`` the learner used)."""
    module = s.call(cls, *args, what=label)
    if not isinstance(module, nn.Module):
        raise CaseError(f"{label} gave a {type(module).__name__}, not an nn.Module",
                        mistake="Subclass torch.nn.Module and call super().__init__() first.")
    s.call(module.cpu, what=f"{label}.cpu()")
    s.call(module.eval, what=f"{label}.eval()")
    return module


def _input(shape: tuple[int, ...], seed: int, scale: float = 2.0) -> Tensor:
    return torch.randn(shape, generator=torch.Generator().manual_seed(seed)) * scale


def _in_context(
    run: Callable[[Session], str], c_in: int, c_out: int, stride: int
) -> Callable[[Session], str]:
    """Name the block-level mistake behind a shape error raised in the learner's forward."""

    def wrapped(s: Session) -> str:
        try:
            return run(s)
        except CaseError as failure:
            text = str(failure.error) if failure.error is not None else ""
            rule = "The residual exists only when stride == 1 and in_channels == out_channels."
            if isinstance(failure.error, RuntimeError) and "must match the size" in text:
                if stride != 1:
                    failure.mistake = (
                        f"You add the residual at stride {stride}: the output is 1/{stride} as "
                        f"high and wide as x, so x + F(x) fails. {rule}")
                elif c_in != c_out:
                    failure.mistake = (f"You add the residual although the channels differ "
                                       f"({c_in} in, {c_out} out). {rule}")
            elif any(isinstance(m, SqueezeExcitation) for m in failure.stack):
                failure.mistake = (
                    "Your SE received a tensor with another channel count than it was built for. "
                    "In MBConv the SE acts on the expanded channels: after the depthwise conv, "
                    "before the projection.")
            raise

    return wrapped


def _match(s: Session, mine: nn.Module, ref: nn.Module, x: Tensor, what: str,
           explain: Explain) -> tuple[list[G.Call], list[G.Call]]:
    """Trace both, match the weighted layers in execution order, copy the reference's weights."""
    out, calls = G.trace(s, mine, x, what=what)
    G.as_tensor(out, what)
    _, ref_calls = G.trace(s, ref, x, what="the reference")
    wmine, wref = [c for c in calls if c.weighted], [c for c in ref_calls if c.weighted]
    diff = G.structure_diff(wmine, wref)
    if diff is not None:
        got = f"a different structure: {diff}.\nYour layers:\n{G.layer_list(wmine) or '(none)'}"
        used = {id(c.module) for c in calls}
        unused = [f"{n} ({G.describe(m)})" for n, m in mine.named_modules()
                  if isinstance(m, G.WEIGHTED) and id(m) not in used]
        if unused:
            got += "\nDefined but never used in forward: " + ", ".join(unused)
        raise CaseError(got, expected=f"these layers, in this order:\n{G.layer_list(wref)}",
                        mistake=NO_LAYERS if not wmine else explain(calls, ref_calls))
    G.copy_weights([(a.module, b.module) for a, b in zip(wmine, wref, strict=True)])
    return calls, ref_calls


def _output_case(s: Session, mine: nn.Module, ref: nn.Module, x: Tensor, call: str, label: str,
                 reference: str, variants: Callable[[], Variants],
                 extra: Callable[[], str | None] = lambda: None) -> str:
    """Compare outputs; on a difference, name the first wrong variant that reproduces it."""
    got = G.forward(s, mine, x.clone(), what=f"{call}(x)")
    with torch.no_grad():
        want = ref(x.clone())
        problem = G.compare(got, want)
        if problem is None:
            return f"{label}: output {tuple(want.shape)} equals the reference"
        mistake = G.first_match(got, variants()) or extra()
    if mistake is None and got.shape[2:] != want.shape[2:]:
        mistake = "Wrong output size: the stride belongs to the depthwise conv."
    raise CaseError(problem, expected=f"the output of {reference} with the same weights",
                    mistake=mistake)


def _block_cases(cls: Any, name: str, block: type, rows: Sequence[tuple[tuple, str]],
                 explain: Callable[[tuple], Explain], variants: Callable[[nn.Module, Tensor],
                 Variants], extra: Callable[[list, list], str | None] = lambda a, b: None
                 ) -> list[Case]:
    """One case per row ``(args, note)``: ``cls(*args)`` against ``block(*args)`` on x of shape
    (2, C, 8, 8), weights copied, outputs compared."""

    def case(seed: int, args: tuple, note: str) -> Case:
        call = f"{name}({_args(args)})"
        label = f"{call} on x of shape (2, {args[0]}, 8, 8): {note}"

        def run(s: Session) -> str:
            ref = G.randomize(block(*args), seed)
            mine = _build(s, cls, args, call)
            x = _input((2, args[0], 8, 8), seed)
            calls, ref_calls = _match(s, mine, ref, x, f"{call} forward", explain(args))
            return _output_case(s, mine, ref, x, call, label,
                                f"mbcourse.blocks.{block.__name__}({_args(args)})",
                                lambda: variants(ref, x), lambda: extra(calls, ref_calls))

        return Case(label, _in_context(run, args[0], args[1], args[2]))

    return [case(i, args, note) for i, (args, note) in enumerate(rows)]


def _ir_explain(args: tuple) -> Explain:
    c_in, t = args[0], args[3]
    hidden = round(c_in * t)

    def explain(calls: list[G.Call], ref_calls: list[G.Call]) -> str | None:
        mine = [c.module for c in calls if isinstance(c.module, nn.Conv2d)]
        refs = [c.module for c in ref_calls if isinstance(c.module, nn.Conv2d)]
        if any(m.bias is not None for m in mine):
            return "Convs followed by BatchNorm have no bias: use bias=False."
        if t == 1 and len(mine) == len(refs) + 1:
            return "With expand_ratio 1 there is no expansion conv (torchvision skips it)."
        if t != 1 and len(mine) == len(refs) - 1:
            return f"The 1×1 expansion conv ({c_in}→{hidden}) is missing."
        for m in mine:
            if m.kernel_size[0] > 1 and m.groups == 1:
                return (f"Your {m.kernel_size[0]}×{m.kernel_size[0]} conv is a regular conv; "
                        "make it depthwise with groups = its channel count.")
        if mine and t != 1 and mine[0].out_channels != hidden:
            return f"The hidden width is round(in_channels × expand_ratio) = {hidden}."
        strides = [m.stride[0] for m in mine]
        if len(strides) == len(refs) and strides != [m.stride[0] for m in refs]:
            return "The stride belongs to the depthwise conv (the 1×1 convs have stride 1)."
        if sum(isinstance(c.module, nn.BatchNorm2d) for c in calls) < len(refs):
            return "Every conv is followed by a BatchNorm (expansion, depthwise, projection)."
        return None

    return explain


def _ir_variants(ref: nn.Module, x: Tensor) -> Variants:
    proj = ref.project(ref.depthwise(ref.expand(x)))
    res: Tensor | int = x if ref.use_residual else 0

    def relu_path() -> Tensor:
        h = x
        for part in (ref.expand, ref.depthwise):
            if not isinstance(part, nn.Identity):
                h = F.relu(part.norm(part.conv(h)))
        return ref.project(h) + res

    return [
        ("There is an activation (ReLU6) after the projection: MobileNetV2's bottleneck is "
         "linear, the 1×1 projection has BatchNorm and no activation.",
         lambda: F.relu6(proj) + res),
        ("There is a ReLU after the projection: MobileNetV2's bottleneck is linear.",
         lambda: F.relu(proj) + res),
        ("The residual is missing: with stride 1 and equal channels the block returns x + F(x).",
         lambda: proj if ref.use_residual else NOTHING),
        ("You use ReLU where MobileNetV2 uses ReLU6 (clipped at 6).", relu_path),
        ("The residual is added before an activation; return x + project(...) with no "
         "activation after the sum.", lambda: F.relu6(proj + res) if ref.use_residual else NOTHING),
    ]


def check_inverted_residual(
    cls: Callable[..., nn.Module], *, verbose: bool = True, time_limit: float = DEFAULT_TIME_LIMIT
) -> CheckResult:
    """``cls(in_channels, out_channels, stride, expand_ratio)`` -> a module computing exactly
    :class:`mbcourse.blocks.InvertedResidual` (eval mode, the reference's weights copied in)."""
    rows = [((16, 16, 1, 6), "stride 1, equal channels: with residual"),
            ((16, 24, 2, 6), "stride 2: no residual"),
            ((16, 24, 1, 6), "stride 1 but channels change: no residual"),
            ((32, 16, 1, 1), "expand_ratio 1: no expansion conv (MobileNetV2's first block)"),
            ((24, 24, 1, 4), "expand_ratio 4, with residual"),
            ((24, 24, 2, 6), "stride 2 with equal channels: no residual")]
    return run_checker(
        "check_inverted_residual", cls, "cls(in_channels, out_channels, stride, expand_ratio)",
        lambda name: _block_cases(cls, name, InvertedResidual, rows, _ir_explain, _ir_variants),
        hint="expand 1×1 + BN + ReLU6 (only if expand_ratio != 1) -> depthwise 3×3 + BN + ReLU6 "
        "-> 1×1 + BN (no activation) -> + x when stride == 1 and in == out.",
        verbose=verbose, time_limit=time_limit)


# ---- squeeze-and-excitation ---------------------------------------------------------------------
def _se_layers(s: Session, mine: nn.Module, x: Tensor, c: int, r: int, call: str) -> list:
    """Run the learner's SE once and find its fc1 and fc2 (1x1 convs or Linear) by shape."""
    out, calls = G.trace(s, mine, x, what=f"{call} forward")
    out, shape = G.as_tensor(out, f"{call} forward"), tuple(x.shape)
    if out.shape != x.shape:
        gate = out.shape[:2] == x.shape[:2] and out.numel() == x.shape[0] * x.shape[1]
        raise CaseError(f"an output of shape {tuple(out.shape)}",
                        expected=f"an output of shape {shape}",
                        mistake="Your module returns the gate; return the rescaled input x * gate."
                        if gate else "SE keeps the shape: it multiplies each channel of x by its "
                        "gate.")
    fcs = [k.module for k in calls if isinstance(k.module, G.FULLY_CONNECTED)]
    squeeze = c // r
    if len(fcs) != 2:
        found = ", ".join(G.describe(m) for m in fcs) or "none"
        raise CaseError(f"{len(fcs)} layers with weights used in forward: {found}",
                        expected=f"two layers: fc1 {c}→{squeeze} and fc2 {squeeze}→{c} (1×1 "
                        "Conv2d or Linear)", mistake="The excitation is exactly two fully "
                        "connected layers (1×1 convs or nn.Linear), with a ReLU between them.")
    fc1, fc2 = fcs
    sig1, sig2 = G.signature(fc1), G.signature(fc2)
    both = f"fc1: {G.describe(fc1)}; fc2: {G.describe(fc2)}"
    if sig1[3] != (1, 1) or sig2[3] != (1, 1):
        raise CaseError(both, expected="1×1 convs (or Linear layers)", mistake="The excitation "
                        "acts on the pooled (N, C, 1, 1) vector: use 1×1 convs.")
    if sig1[1] != c:
        raise CaseError(both, expected=f"fc1 taking {c} channels",
                        mistake=f"fc1 takes the pooled vector of all {c} channels.")
    if sig1[2] != squeeze or sig2[1] != squeeze or sig2[2] != c:
        why = {r: "you used the reduction factor itself as the squeeze width",
               c * r: "you multiplied by the reduction factor instead of dividing",
               c: "there is no reduction at all"}.get(
            sig1[2], "the squeeze width is computed from the wrong channel count")
        raise CaseError(both, expected=f"fc1 {c}→{squeeze} and fc2 {squeeze}→{c}: squeeze width = "
                        f"channels // reduction = {c} // {r} = {squeeze}",
                        mistake=f"SE reduction from the wrong channel count: {why}.")
    if fc1.bias is None or fc2.bias is None:
        raise CaseError(both, expected="fc1 and fc2 with bias",
                        mistake="SENet's (and torchvision's) excitation layers have a bias.")
    return [fc1, fc2]


def _se_variants(ref: nn.Module, x: Tensor) -> Variants:
    mean, peak = x.mean((2, 3), keepdim=True), x.amax((2, 3), keepdim=True)

    def exc(pooled: Tensor, act: Callable[[Tensor], Tensor] = F.relu) -> Tensor:
        return ref.fc2(act(ref.fc1(pooled)))

    return [
        ("Your SE has no sigmoid: the gate must be squashed into (0, 1) by a sigmoid.",
         lambda: x * exc(mean)),
        ("Your SE pools with max instead of mean: the squeeze is a global *average* pool.",
         lambda: x * torch.sigmoid(exc(peak))),
        ("Max pooling and no sigmoid: use the average pool and a sigmoid gate.",
         lambda: x * exc(peak)),
        ("There is no ReLU between fc1 and fc2.",
         lambda: x * torch.sigmoid(exc(mean, lambda t: t))),
        ("The activation between fc1 and fc2 is SiLU; SENet's SE (the reference) uses ReLU.",
         lambda: x * torch.sigmoid(exc(mean, F.silu))),
        ("Your gate uses softmax over the channels; SE uses a sigmoid, one independent gate per "
         "channel.", lambda: x * torch.softmax(exc(mean), dim=1)),
        ("You add the gate (x + gate); SE multiplies: x * gate.",
         lambda: x + torch.sigmoid(exc(mean))),
        ("The sigmoid is applied before fc2; the order is fc1 -> ReLU -> fc2 -> sigmoid.",
         lambda: x * ref.fc2(torch.sigmoid(ref.fc1(mean)))),
    ]


def _se_case(cls: Any, name: str, seed: int, c: int, r: int, shape: tuple[int, ...]) -> Case:
    call, label = f"{name}({c}, {r})", f"{name}({c}, {r}) on x of shape {shape}"

    def run(s: Session) -> str:
        ref = G.randomize(SqueezeExcitation(c, r), seed)
        mine = _build(s, cls, (c, r), call)
        x = _input(shape, seed) + 0.5
        fc1, fc2 = _se_layers(s, mine, x, c, r, call)
        G.copy_weights([(fc1, ref.fc1), (fc2, ref.fc2)])
        return _output_case(s, mine, ref, x, call, f"{label}: fc1 {c}→{c // r}, fc2 {c // r}→{c}",
                            f"mbcourse.blocks.SqueezeExcitation({c}, reduction={r})",
                            lambda: _se_variants(ref, x))

    return Case(label, run)


def _se_gate_case(cls: Any, name: str) -> Case:
    c, r, shape = 16, 4, (2, 16, 6, 6)
    call = f"{name}({c}, {r})"
    label = f"{call} on a large input (values up to ±100): the gate"

    def run(s: Session) -> str:
        mine = _build(s, cls, (c, r), call)
        x = _input(shape, 99, scale=50.0)
        x = torch.where(x.abs() < 1, torch.ones_like(x), x)
        got = G.forward(s, mine, x.clone(), what=f"{call}(x)")
        if got.shape != x.shape:
            raise CaseError(f"shape {tuple(got.shape)}", expected=f"shape {shape}")
        gate = got / x
        lo, hi = float(gate.min()), float(gate.max())
        if lo < -1e-6 or hi > 1 + 1e-6:
            raise CaseError(f"gate values from {lo:.3g} to {hi:.3g}",
                            expected="output / input (the gate) between 0 and 1",
                            mistake="Without a sigmoid the gate is not confined to (0, 1).")
        spread = float((gate.amax((2, 3)) - gate.amin((2, 3))).max())
        if spread > 1e-4:
            raise CaseError(f"gates that vary across positions (by up to {spread:.3g})",
                            expected="one gate value per (sample, channel), the same at every "
                            "position", mistake="The gate must come from the pooled (N, C, 1, 1) "
                            "vector and be broadcast over H×W.")
        return f"{label}: gate in [{lo:.3f}, {hi:.3f}] ⊂ (0, 1), constant over H×W"

    return Case(label, run)


def check_se(
    cls: Callable[..., nn.Module], *, verbose: bool = True, time_limit: float = DEFAULT_TIME_LIMIT
) -> CheckResult:
    """``cls(channels, reduction)`` -> an SE module equal to
    :class:`mbcourse.blocks.SqueezeExcitation` (avgpool, fc1, ReLU, fc2, sigmoid, scale).

    fc1 and fc2 may be 1x1 convs or ``nn.Linear`` layers: they are found by their shapes (in
    the order forward runs them) and given the reference's weights. A last case checks that the
    gate lies in (0, 1) and is one number per channel, for large inputs."""
    rows = [(16, 4, (2, 16, 5, 7)), (32, 8, (2, 32, 4, 4)), (64, 16, (3, 64, 6, 6)),
            (24, 4, (2, 24, 1, 1))]
    return run_checker(
        "check_se", cls, "cls(channels, reduction)",
        lambda name: [_se_case(cls, name, i, *row) for i, row in enumerate(rows)]
        + [_se_gate_case(cls, name)],
        hint="avgpool (N, C, H, W) -> (N, C, 1, 1) -> fc1 C→C/r -> ReLU -> fc2 C/r→C -> sigmoid "
        "-> x * gate.", verbose=verbose, time_limit=time_limit)


# ---- MBConv ------------------------------------------------------------------------------------
_MB_PLACES = {"expand": "after the expansion 1×1", "depthwise": "after the depthwise conv",
              "se.activation": "inside the SE, between fc1 and fc2", "se.scale": "the SE gate"}


def _mb_explain(args: tuple) -> Explain:
    c_in, expanded = args[0], make_divisible(args[0] * args[3], 8)
    squeeze = max(1, c_in // 4)

    def explain(calls: list[G.Call], ref_calls: list[G.Call]) -> str | None:
        convs = [c for c in calls if isinstance(c.module, G.FULLY_CONNECTED)]
        se = [i for i, c in enumerate(convs) if c.on_pooled]
        main = [i for i, c in enumerate(convs) if not c.on_pooled]
        if not se:
            return ("The SE is missing: MBConv applies squeeze-and-excitation after the depthwise "
                    "conv.")
        if main and se[0] > main[-1]:
            return ("Your SE comes after the projection; in MBConv it sits between the depthwise "
                    "conv and the 1×1 projection, on the expanded channels.")
        width = G.signature(convs[se[0]].module)[2]
        if width != squeeze:
            note = (f" (that is {expanded} // 4: sized from the expanded width)"
                    if width == expanded // 4 else "")
            return (f"The SE squeezes to {width} channels{note}; EfficientNet sizes it from the "
                    f"block input: max(1, in_channels // 4) = {squeeze}.")
        if expanded == c_in and len(main) > 2:
            return ("expand_ratio 1: the expanded width equals in_channels, so there is no "
                    "expansion conv.")
        return None

    return explain


def _mb_variants(ref: nn.Module, x: Tensor) -> Variants:
    proj = ref.project(ref.se(ref.depthwise(ref.expand(x))))
    res: Tensor | int = x if ref.use_residual else 0
    return [
        ("There is an activation after the projection: the 1×1 projection is linear "
         "(BatchNorm, no activation).", lambda: F.silu(proj) + res),
        ("The residual is missing: with stride 1 and equal channels MBConv returns x + F(x).",
         lambda: proj if ref.use_residual else NOTHING),
        ("The SE is skipped in forward.", lambda: ref.project(ref.depthwise(ref.expand(x))) + res),
    ]


def _act_mismatch(calls: list[G.Call], ref_calls: list[G.Call]) -> str | None:
    """The first activation module whose type differs from the reference's, in words."""
    mine = [(c.name, type(c.module).__name__) for c in calls if isinstance(c.module, G.ACTIVATIONS)]
    ref = [(c.name, type(c.module).__name__) for c in ref_calls
           if isinstance(c.module, G.ACTIVATIONS)]
    for i, ((ref_name, ref_type), (_, my_type)) in enumerate(zip(ref, mine, strict=False)):
        if my_type != ref_type:
            where = next((v for k, v in _MB_PLACES.items() if ref_name.startswith(k)), ref_name)
            return (f"Activation {i + 1} ({where}) is {my_type} in yours; the reference uses "
                    f"{ref_type}.")
    return None


def _mb_drop_case(cls: Any, name: str) -> Case:
    """Training mode with p = 0.5: every sample must be x (dropped) or x + F(x)/(1-p) (kept)."""
    args = (16, 16, 1, 6)
    call = f"{name}({_args(args)})"
    label = (f"{call} in training mode, StochasticDepth p = 0.5, on x of shape (16, 16, 8, 8): "
             "only the residual branch is dropped")

    def run(s: Session) -> str:
        ref = G.randomize(MBConv(*args), 7)
        mine = _build(s, cls, args, call)
        x = _input((16, 16, 8, 8), 7)
        _match(s, mine, ref, x[:2], f"{call} forward", _mb_explain(args))
        drops = [m for m in mine.modules() if "StochasticDepth" in type(m).__name__
                 and hasattr(m, "p")]
        if not drops:
            raise CaseError("no StochasticDepth module in your block",
                            expected="a StochasticDepth module on the residual branch",
                            mistake="MBConv drops its residual branch with "
                            "mbcourse.blocks.StochasticDepth: x + stochastic_depth(branch).")
        for m in drops:
            m.p = 0.5
        s.call(mine.train, what=f"{call}.train()")
        got = G.forward(s, mine, x.clone(), what=f"{call}(x) in training mode")
        with torch.no_grad():
            r = copy.deepcopy(ref).train()
            branch = r.project(r.se(r.depthwise(r.expand(x))))
        if got.shape != x.shape:
            raise CaseError(f"shape {tuple(got.shape)}", expected=f"shape {tuple(x.shape)}")
        kinds = []
        for n in range(x.shape[0]):
            options = {"kept": x[n] + branch[n] / 0.5, "dropped": x[n],
                       "sum dropped": torch.zeros_like(x[n]), "sum kept": 2 * (x[n] + branch[n]),
                       "unscaled": x[n] + branch[n]}
            kinds.append(next((k for k, v in options.items() if G.close(got[n], v)),
                              "other"))
        if all(k in ("kept", "dropped") for k in kinds):
            return (f"{label}: {kinds.count('dropped')} of 16 samples dropped their branch, the "
                    "others kept it scaled by 1/(1-p)")
        mistake = None
        if any(k.startswith("sum") for k in kinds):
            mistake = ("Stochastic depth is applied to the whole sum x + F(x); it must drop only "
                       "the residual branch: x + stochastic_depth(F(x)).")
        elif all(k == "unscaled" for k in kinds):
            mistake = ("Nothing was dropped in training mode: apply the StochasticDepth module to "
                       "the branch in forward.")
        elif "unscaled" in kinds:
            mistake = ("Kept branches must be scaled by 1/(1-p) (mbcourse's StochasticDepth does "
                       "it).")
        n = next(i for i, k in enumerate(kinds) if k not in ("kept", "dropped"))
        raise CaseError(f"sample {n} is neither", mistake=mistake, expected="each sample is "
                        "either x (branch dropped) or x + F(x)/(1-p) (kept)")

    return Case(label, run)


def check_mbconv_forward(
    cls: Callable[..., nn.Module], *, verbose: bool = True, time_limit: float = DEFAULT_TIME_LIMIT
) -> CheckResult:
    """``cls(in_channels, out_channels, stride, expand_ratio[, kernel_size])`` -> an MBConv equal
    to :class:`mbcourse.blocks.MBConv` with its defaults (SE squeeze ``max(1, in // 4)`` with
    SiLU, SiLU activations, stochastic depth on the residual branch). ``kernel_size`` is passed
    (positionally) only in the 5×5 case. A last case runs training mode with the
    ``StochasticDepth`` modules' ``p`` set to 0.5 and checks that only the branch is dropped."""
    rows = [((16, 16, 1, 6), "stride 1, equal channels: residual"),
            ((16, 24, 2, 6), "stride 2: no residual"),
            ((32, 16, 1, 1), "expand_ratio 1: no expansion conv (EfficientNet-B0's first block)"),
            ((24, 40, 2, 6, 5), "a 5×5 depthwise kernel")]
    return run_checker(
        "check_mbconv_forward", cls,
        "cls(in_channels, out_channels, stride, expand_ratio, kernel_size=3)",
        lambda name: [*_block_cases(cls, name, MBConv, rows, _mb_explain, _mb_variants,
                                    _act_mismatch), _mb_drop_case(cls, name)],
        hint="expand 1×1 + SiLU (if the expanded width != in) -> depthwise k×k + SiLU -> SE "
        "(squeeze max(1, in // 4), SiLU) -> 1×1 projection, no activation -> x + "
        "stochastic_depth(branch) when stride == 1 and in == out.",
        verbose=verbose, time_limit=time_limit)


# ---- make_lite (chapter 9) ---------------------------------------------------------------------
def _snapshot(model: nn.Module) -> tuple[list[tuple[str, type]], dict[str, Tensor]]:
    """The module types and a copy of the state of ``model``, to see whether it was changed."""
    return ([(n, type(m)) for n, m in model.named_modules()],
            {k: v.detach().clone() for k, v in model.state_dict().items()})


def _lite_types_mismatch(got: nn.Module, want: nn.Module) -> str | None:
    """Where the learner's modules first differ in type from :func:`to_lite`'s, in words."""
    mine = dict(got.named_modules())
    for name, ref in want.named_modules():
        other = mine.get(name)
        if not isinstance(ref, (nn.ReLU6, nn.Identity)) or other is None:
            continue
        if type(other) is not type(ref):
            kind = type(other).__name__
            if isinstance(ref, nn.ReLU6):
                return (f"{name} is {kind} in yours; EfficientNet-Lite uses nn.ReLU6 there, which "
                        "clips activations to [0, 6] (a bounded range is what int8 needs).")
            return (f"{name} (an SE module) became {kind}; replace it by nn.Identity(), which "
                    "passes the tensor through unchanged.")
    return None


def _lite_leftover(before: dict[str, int], left: dict[str, int]) -> str:
    """Why SiLU or SE modules are left, from how many the learner's function replaced."""
    if left == before:
        return ("Nothing was replaced. Assigning to a loop variable (m = nn.ReLU6()) changes "
                "nothing: set the parent's attribute, setattr(parent, name, nn.ReLU6()).")
    if left["se"] and not left["silu"]:
        return "The SE modules are still there: replace each SqueezeExcitation by nn.Identity()."
    if left["silu"] and left["se"] < before["se"]:
        return ("Only some modules were replaced: the SiLUs sit inside the blocks' sub-modules, "
                "so walk every module (for parent in lite.modules()), not only the children of "
                "the top.")
    if left["silu"] and not left["se"] and left["silu"] == before["silu"]:
        return "The SiLU activations are still there: replace each nn.SiLU by nn.ReLU6()."
    return "Replace modules at every depth: walk lite.modules() and their named_children()."


def _lite_case(fn: Any, name: str, what: str, build: Callable[[], nn.Module],
               shape: tuple[int, ...], seed: int) -> Case:
    call = f"{name}({what})"
    label = f"{call}, then both on x of shape {shape}"

    def run(s: Session) -> str:
        model = G.randomize(build(), seed)
        before, (kinds, state) = count_lite_changes(model), _snapshot(model)
        want = to_lite(model).eval()
        got = s.call(fn, model, what=call)
        if got is None:
            raise CaseError(f"{call} returned None",
                            mistake="Did you forget `return lite` at the end of the function?")
        if not isinstance(got, nn.Module):
            raise CaseError(f"{call} returned {G.short_repr(got)}", expected="an nn.Module (the "
                            "lite copy)", mistake="Return the changed copy of the model.")
        if got is model:
            raise CaseError("the model passed in, changed in place", expected="a new model: a "
                            "changed copy, the model passed in left as it was", mistake="Copy "
                            "first, lite = copy.deepcopy(model), and change the copy: the caller "
                            "still needs the original (to compare it with the lite one, for "
                            "instance).")
        shared = {id(m) for m in model.modules()} & {id(m) for m in got.modules()}
        changed = _snapshot(model)[0] != kinds or any(
            not torch.equal(v, state[k]) for k, v in model.state_dict().items())
        if changed or shared:
            now = count_lite_changes(model)
            raise CaseError(
                f"the model passed in was changed (it now has {now['silu']} SiLU and "
                f"{now['se']} SE modules, {before['silu']} and {before['se']} before)" if changed
                else f"a copy that shares {len(shared)} modules with the model passed in",
                expected="a copy that shares no layer with the model passed in",
                mistake="copy.copy (or building a new container around the old layers) copies "
                "only the outer module; its layers are still the caller's. Use "
                "copy.deepcopy(model)." if shared else
                "Copy first, lite = copy.deepcopy(model), and change only the copy.")
        left = count_lite_changes(got)
        if any(left.values()):
            raise CaseError(f"{left['silu']} SiLU and {left['se']} SE modules left",
                            expected=f"no SiLU and no SE module left ({before['silu']} SiLU and "
                            f"{before['se']} SE modules to replace)",
                            mistake=_lite_leftover(before, left))
        mismatch = _lite_types_mismatch(got, want)
        if mismatch is not None:
            raise CaseError("other modules in their place", mistake=mismatch,
                            expected="nn.ReLU6 in place of every SiLU, nn.Identity in place of "
                            "every SE")
        s.call(got.eval, what=f"{call}.eval()")
        x = _input(shape, seed)
        try:
            out = G.forward(s, got, x.clone(), what=f"{call}(x)")
        except CaseError as failure:
            if isinstance(failure.error, (TypeError, AttributeError)) and failure.mistake is None:
                failure.mistake = ("The blocks' forward still calls every layer by its name: put "
                                   "nn.Identity() where an SE was, rather than None or nothing.")
            raise
        with torch.no_grad():
            problem = G.compare(out, want(x.clone()))
        if problem is not None:
            raise CaseError(problem, expected=f"the output of mbcourse.deploy.to_lite({what})",
                            mistake="The modules are right but the result computes something "
                            "else: was a weight or a BatchNorm statistic changed, or a layer "
                            "added?")
        return (f"{label}: a copy with {before['silu']} SiLU → ReLU6 and {before['se']} SE → "
                "Identity, the model passed in unchanged, the output equal to to_lite's")

    return Case(label, run)


def check_make_lite(
    fn: Callable[[nn.Module], nn.Module], *, verbose: bool = True,
    time_limit: float = DEFAULT_TIME_LIMIT,
) -> CheckResult:
    """``fn(model)`` -> a copy of ``model`` with every ``nn.SiLU`` replaced by ``nn.ReLU6`` and
    every :class:`~mbcourse.blocks.SqueezeExcitation` by ``nn.Identity``, ``model`` itself left
    unchanged: EfficientNet-Lite's block changes, as :func:`mbcourse.deploy.to_lite` makes them.

    Cases: an MBConv block, and a small EfficientNet with a Fused-MBConv stage and SE
    (:func:`mbcourse.studies.experiments.tiny_efficientnet`), both in eval mode with
    non-trivial BatchNorm statistics; the output (on ``(2, C, H, W)`` inputs) must equal
    ``to_lite``'s."""
    return run_checker(
        "check_make_lite", fn, "fn(model)",
        lambda name: [
            _lite_case(fn, name, "MBConv(16, 16, 1, 4)", lambda: MBConv(16, 16, 1, 4),
                       (2, 16, 6, 6), 0),
            _lite_case(fn, name, "tiny_efficientnet(fused_stages=1, se_reduction=4)",
                       lambda: tiny_efficientnet(fused_stages=1, se_reduction=4),
                       (2, 3, 12, 12), 1),
        ],
        hint="lite = copy.deepcopy(model); then for every parent in lite.modules() and every "
        "(name, child) in parent.named_children(): setattr(parent, name, nn.ReLU6()) for an "
        "nn.SiLU, setattr(parent, name, nn.Identity()) for a SqueezeExcitation.",
        verbose=verbose, time_limit=time_limit)
