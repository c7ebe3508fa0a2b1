"""mbcourse.introspect: the one tracer, eval_mode, device/dtype and the input-shape check."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from mbcourse.blocks import ConvNormAct, InvertedResidual, MBConv, SqueezeExcitation
from mbcourse.introspect import (
    check_input_shape,
    eval_mode,
    example_input,
    input_channels,
    module_device,
    module_dtype,
    trace_calls,
)
from mbcourse.models import mobilenet_v2


# ------------------------------------------------------------------------------- eval_mode
def test_eval_mode_restores_every_submodules_own_flag() -> None:
    block = MBConv(8, 8).train()
    block.se.eval()  # a frozen part of a training model
    with eval_mode(block) as same:
        assert same is block
        assert not any(m.training for m in block.modules())
    assert block.training and block.depthwise.training and not block.se.training
    assert not any(m.training for m in block.se.modules())


def test_eval_mode_restores_after_an_error() -> None:
    block = InvertedResidual(8, 8).train()
    with pytest.raises(RuntimeError, match="boom"), eval_mode(block):
        raise RuntimeError("boom")
    assert all(m.training for m in block.modules())


def test_eval_mode_rejects_a_non_module() -> None:
    message = r"eval_mode: module must be a torch\.nn\.Module"
    with pytest.raises(TypeError, match=message), eval_mode("block"):  # type: ignore[arg-type]
        pass


# ------------------------------------------------------------------------------- the tracer
class _Reordered(nn.Module):
    """Registers ``b`` before ``a`` but calls ``a`` first, ``a`` twice."""

    def __init__(self) -> None:
        super().__init__()
        self.b = nn.Conv2d(4, 6, 1)
        self.a = nn.Conv2d(4, 4, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.b(self.a(self.a(x)))


def test_trace_calls_records_entry_order_first_calls_and_shapes() -> None:
    net = _Reordered()
    x = torch.randn(2, 4, 5, 5)
    with trace_calls(net) as calls:
        net(x)
    assert [(c.name, c.in_shape, c.out_shape) for c in calls] == [
        ("a", (2, 4, 5, 5), (2, 4, 5, 5)),  # first call only, though ``a`` runs twice
        ("b", (2, 4, 5, 5), (2, 6, 5, 5)),
    ]
    assert calls[0].in_bytes == x.numel() * 4 and calls[1].out_bytes == 2 * 6 * 25 * 4
    assert all(c.returned for c in calls) and calls[0].module is net.a
    assert all(not m._forward_hooks and not m._forward_pre_hooks for m in net.modules())


def test_trace_calls_watches_the_given_modules_with_callbacks() -> None:
    block = InvertedResidual(8, 8, expand_ratio=2)
    events: list[str] = []
    watched = [("depthwise", block.depthwise), ("project", block.project)]
    with trace_calls(watched, on_enter=lambda c: events.append(f"+{c.name}"),
                     on_exit=lambda c: events.append(f"-{c.name}:{c.out_shape}")) as calls:
        block(torch.randn(1, 8, 4, 4))
    assert [c.name for c in calls] == ["depthwise", "project"]
    assert events == ["+depthwise", "-depthwise:(1, 16, 4, 4)", "+project",
                      "-project:(1, 8, 4, 4)"]


def test_trace_calls_of_a_failing_forward_is_clean() -> None:
    block = ConvNormAct(8, 4)
    with pytest.raises(RuntimeError), trace_calls(block) as calls:
        block(torch.randn(1, 3, 4, 4))  # PyTorch's own conv error
    assert [c.name for c in calls] == ["conv"] and not calls[0].returned
    assert all(not m._forward_hooks and not m._forward_pre_hooks for m in block.modules())
    message = r"trace_calls: modules\['x'\] must be a torch\.nn"
    with pytest.raises(TypeError, match=message), trace_calls([("x", "conv")]):  # type: ignore
        pass


def test_the_calls_that_never_returned_say_where_a_forward_failed() -> None:
    class SEAfterProjection(MBConv):  # a typical mistake: the SE gets the projected channels
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.se(self.project(self.depthwise(self.expand(x))))

    block = SEAfterProjection(16, 16)
    with pytest.raises(RuntimeError, match="channels"), trace_calls(block) as calls:
        block(torch.randn(2, 16, 8, 8))
    assert [c.name for c in calls if not c.returned] == ["se", "se.fc1"]


def test_trace_calls_nested_modules_enter_before_their_children() -> None:
    block = MBConv(8, 8)
    with torch.no_grad(), trace_calls(block) as calls:
        block(torch.randn(1, 8, 4, 4))
    names = [c.name for c in calls]
    assert names.index("se") < names.index("se.fc1") < names.index("se.fc2")
    assert names.index("depthwise.conv") < names.index("se") < names.index("project")


# ------------------------------------------------------------------ device, dtype, input
def test_device_dtype_and_example_input() -> None:
    block = ConvNormAct(3, 4).double()
    assert module_device(block) == torch.device("cpu") and module_dtype(block) == torch.float64
    x = example_input(block, (2, 3, 5, 5), generator=torch.Generator().manual_seed(0))
    assert x.dtype == torch.float64 and x.shape == (2, 3, 5, 5)
    assert module_dtype(nn.ReLU()) == torch.get_default_dtype()
    assert module_device(nn.ReLU()) == torch.device("cpu")
    with torch.device("meta"):
        meta = ConvNormAct(3, 4)
    assert module_device(meta).type == "meta"
    assert example_input(meta, (1, 3, 8, 8)).device.type == "meta"


def test_input_channels_of_blocks_and_networks() -> None:
    assert input_channels(MBConv(16, 24)) == 16
    assert input_channels(SqueezeExcitation(40)) == 40
    assert input_channels(mobilenet_v2(width_mult=0.25)) == 3
    assert input_channels(nn.Linear(4, 2)) is None


def test_check_input_shape_says_what_the_module_takes() -> None:
    block = MBConv(16, 16)
    assert check_input_shape("f", block, [1, 16, 8, 8]) == (1, 16, 8, 8)
    with pytest.raises(ValueError, match=r"f: MBConv does not accept an input of shape "
                       r"\(1, 3, 8, 8\): it expects 16 input channels, \(N, 16, H, W\)"):
        check_input_shape("f", block, (1, 3, 8, 8))
    with pytest.raises(ValueError, match="f: MBConv does not accept an input of shape"):
        check_input_shape("f", block, (16, 8, 8))  # no batch dimension
    with pytest.raises(ValueError, match=r"f: input_size must be 4 positive integers"):
        check_input_shape("f", nn.ReLU(), (1, 3, 8), name="input_size", ndim=4)
    assert check_input_shape("f", nn.ReLU(), (5, 7)) == (5, 7)  # nothing to fit
