"""Compare a learner's ``nn.Module`` with a reference block from :mod:`mbcourse.blocks`.

The layers with weights (Conv2d, BatchNorm2d, Linear) are recorded in the order the forward pass
*runs* them (forward pre-hooks), so the learner may register them in any order and may use
``nn.Linear`` where the reference has a 1x1 conv. Matched layers get the reference's weights;
then the outputs must agree.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from ._case_runner import CaseError, Session

__all__ = [
    "Call",
    "compare",
    "copy_weights",
    "describe",
    "layer_signature",
    "randomize",
    "trace",
]

WEIGHTED = (nn.Conv2d, nn.BatchNorm2d, nn.Linear)
FULLY_CONNECTED = (nn.Conv2d, nn.Linear)
ACTIVATIONS = (
    nn.ReLU,
    nn.ReLU6,
    nn.SiLU,
    nn.Sigmoid,
    nn.Hardsigmoid,
    nn.Hardswish,
    nn.GELU,
    nn.Tanh,
    nn.Softmax,
    nn.LeakyReLU,
    nn.ELU,
    nn.Mish,
)


@dataclass
class Call:
    """One module entered during a forward pass."""

    name: str
    module: nn.Module
    in_shape: tuple[int, ...] | None

    @property
    def weighted(self) -> bool:
        return isinstance(self.module, WEIGHTED)

    @property
    def activation(self) -> bool:
        return isinstance(self.module, ACTIVATIONS)

    @property
    def on_pooled(self) -> bool:
        """Applied to a 1x1 (or flattened) map, as the SE layers are."""
        s = self.in_shape
        return s is not None and (len(s) == 2 or (len(s) == 4 and s[2] == s[3] == 1))


def layer_signature(module: nn.Module) -> tuple[Any, ...]:
    """What must match between a learner layer and a reference layer (Linear == 1x1 conv)."""
    if isinstance(module, nn.Linear):
        return (
            "conv",
            module.in_features,
            module.out_features,
            (1, 1),
            (1, 1),
            1,
            module.bias is not None,
        )
    if isinstance(module, nn.Conv2d):
        return (
            "conv",
            module.in_channels,
            module.out_channels,
            tuple(module.kernel_size),
            tuple(module.stride),
            module.groups,
            module.bias is not None,
        )
    if isinstance(module, nn.BatchNorm2d):
        return ("bn", module.num_features, module.affine)
    return (type(module).__name__,)


def describe(module: nn.Module) -> str:
    """``"Conv2d 16→96, 1×1, no bias"``, ``"BatchNorm2d(96)"``, ``"Linear 16→4, bias"``."""
    if isinstance(module, nn.Linear):
        bias = "bias" if module.bias is not None else "no bias"
        return f"Linear {module.in_features}→{module.out_features}, {bias}"
    if isinstance(module, nn.Conv2d):
        k = module.kernel_size
        text = f"Conv2d {module.in_channels}→{module.out_channels}, {k[0]}×{k[1]}"
        if module.stride != (1, 1):
            text += f", stride {module.stride[0]}"
        if module.groups > 1:
            depthwise = module.groups == module.in_channels == module.out_channels
            text += " depthwise" if depthwise else ""
            text += f" (groups={module.groups})"
        text += ", bias" if module.bias is not None else ", no bias"
        return text
    if isinstance(module, nn.BatchNorm2d):
        return f"BatchNorm2d({module.num_features})"
    return type(module).__name__


def trace(session: Session, model: nn.Module, x: Tensor, *, what: str) -> tuple[Any, list[Call]]:
    """Run ``model(x)`` (no grad, sandboxed), recording every module entered, in order."""
    calls: list[Call] = []
    seen: set[int] = set()
    names = {id(m): n for n, m in model.named_modules()}

    def pre_hook(module: nn.Module, args: tuple[Any, ...]) -> None:
        if id(module) in seen or module is model:
            return
        seen.add(id(module))
        first = args[0] if args else None
        shape = tuple(first.shape) if isinstance(first, Tensor) else None
        calls.append(Call(names.get(id(module), "?"), module, shape))

    handles = [m.register_forward_pre_hook(pre_hook) for m in model.modules()]

    def forward() -> Any:
        with torch.no_grad():
            return model(x)

    try:
        out = session.call(forward, what=what)
    finally:
        for handle in handles:
            handle.remove()
    return out, calls


def forward(session: Session, model: nn.Module, x: Tensor, *, what: str) -> Tensor:
    """``model(x)`` without grad, sandboxed, and checked to return a finite tensor."""

    def run() -> Any:
        with torch.no_grad():
            return model(x)

    return as_tensor(session.call(run, what=what), what)


def as_tensor(value: Any, what: str) -> Tensor:
    if isinstance(value, Tensor):
        if not value.is_floating_point():
            raise CaseError(
                got=f"{what} returned a {value.dtype} tensor", mistake="Return a float tensor."
            )
        if not torch.isfinite(value).all():
            raise CaseError(
                got=f"{what} returned a tensor containing NaN or infinity",
                mistake="Something divides by zero or overflows.",
            )
        return value
    kind = type(value).__name__
    mistake = "forward must return one tensor."
    if value is None:
        mistake = "forward returned None: did you forget `return`?"
    elif isinstance(value, (tuple, list)):
        mistake = f"forward returned a {kind} of {len(value)} items; return one tensor."
    raise CaseError(got=f"{what} returned a {kind}", mistake=mistake)


def weighted_calls(calls: list[Call]) -> list[Call]:
    return [c for c in calls if c.weighted]


def unused_weighted(model: nn.Module, calls: list[Call]) -> list[str]:
    called = {id(c.module) for c in calls}
    return [
        f"{n} ({describe(m)})"
        for n, m in model.named_modules()
        if isinstance(m, WEIGHTED) and id(m) not in called
    ]


def structure_diff(mine: list[Call], ref: list[Call]) -> str | None:
    """None when the weighted layers match one to one; else where they first differ."""
    for i in range(max(len(mine), len(ref))):
        a = mine[i] if i < len(mine) else None
        b = ref[i] if i < len(ref) else None
        if a is None or b is None or layer_signature(a.module) != layer_signature(b.module):
            yours = describe(a.module) if a is not None else "nothing (your forward ends here)"
            theirs = describe(b.module) if b is not None else "nothing (the reference ends here)"
            return (
                f"layer {i + 1} with weights, in the order forward runs them: the reference has "
                f"{theirs}, yours has {yours}"
            )
    return None


def layer_list(calls: list[Call]) -> str:
    return "\n".join(f"{i + 1}. {describe(c.module)}" for i, c in enumerate(calls))


def copy_weights(pairs: list[tuple[nn.Module, nn.Module]]) -> None:
    """Copy each reference layer's parameters (and BatchNorm statistics) into the learner's."""
    with torch.no_grad():
        for mine, ref in pairs:
            mine.weight.copy_(ref.weight.reshape(mine.weight.shape))
            if getattr(mine, "bias", None) is not None and getattr(ref, "bias", None) is not None:
                mine.bias.copy_(ref.bias)
            if isinstance(ref, nn.BatchNorm2d) and isinstance(mine, nn.BatchNorm2d):
                if mine.running_mean is not None and ref.running_mean is not None:
                    mine.running_mean.copy_(ref.running_mean)
                    mine.running_var.copy_(ref.running_var)
                mine.eps = ref.eps


def randomize(model: nn.Module, generator: torch.Generator) -> None:
    """Give the reference non-trivial BatchNorm statistics and biases, so mistakes show."""
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                n = m.num_features
                m.weight.copy_(torch.rand(n, generator=generator) * 2 + 1)
                m.bias.copy_(torch.randn(n, generator=generator))
                m.running_mean.copy_(torch.randn(n, generator=generator) * 0.2)
                m.running_var.copy_(torch.rand(n, generator=generator) + 0.5)
            elif isinstance(m, (nn.Conv2d, nn.Linear)) and m.bias is not None:
                m.bias.copy_(torch.randn(m.bias.shape, generator=generator) * 0.5)


def close(a: Tensor, b: Tensor) -> bool:
    if a.shape != b.shape:
        return False
    scale = float(b.abs().max()) if b.numel() else 1.0
    return bool(torch.allclose(a, b, rtol=1e-4, atol=1e-5 * max(1.0, scale)))


def compare(got: Tensor, expected: Tensor) -> str | None:
    """None when equal up to float error; else a plain-words account of the difference."""
    if got.shape != expected.shape:
        return f"an output of shape {tuple(got.shape)} instead of {tuple(expected.shape)}"
    if close(got, expected):
        return None
    diff = (got - expected).abs()
    flat = int(diff.argmax())
    index = tuple(int(i) for i in torch.unravel_index(torch.tensor(flat), diff.shape))
    share = float((diff > 1e-4 * max(1.0, float(expected.abs().max()))).float().mean())
    return (
        f"outputs that differ from the reference: largest difference {float(diff.max()):.4g} "
        f"at index {index} (expected {float(expected.flatten()[flat]):.4g}, got "
        f"{float(got.flatten()[flat]):.4g}); {share:.0%} of the values differ"
    )


def first_match(got: Tensor, variants: list[tuple[str, Callable[[], Tensor]]]) -> str | None:
    """The explanation of the first known wrong variant that reproduces ``got``."""
    for why, make in variants:
        try:
            value = make()
        except Exception:  # a variant that cannot be built for this case does not apply
            continue
        if close(got, value):
            return why
    return None


def activation_names(calls: list[Call]) -> list[tuple[str, str]]:
    return [(c.name, type(c.module).__name__) for c in calls if c.activation]
