"""mbcourse.measure.timing: interleaved side-by-side timing (no assertions on speed itself)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from mbcourse.blocks import FusedMBConv, MBConv
from mbcourse.measure import Latency, compare_latency, time_interleaved


def test_compare_latency_times_every_module_in_order(device: torch.device) -> None:
    modules = {"mbconv": MBConv(8, 8, expand_ratio=4), "fused": FusedMBConv(8, 8, expand_ratio=4)}
    result = compare_latency(modules, (2, 8, 8, 8), device=device, rounds=3, min_run_time=0.001)
    assert list(result) == ["mbconv", "fused"]
    for name, lat in result.items():
        assert lat.name == name
        assert len(lat.times_ms) == 3
        assert all(t > 0 for t in lat.times_ms)
        assert lat.batch_size == 2
        assert lat.min_ms <= lat.median_ms
        assert 0 < lat.fastest_ms <= lat.min_ms
        assert lat.per_image_ms == pytest.approx(lat.median_ms / 2)
    # modules were moved to the device and left in eval mode
    for module in modules.values():
        assert not module.training
        assert next(module.parameters()).device.type == device.type


def test_compare_latency_leaves_no_autograd_state() -> None:
    block = MBConv(8, 8, expand_ratio=4)
    compare_latency({"b": block}, (1, 8, 4, 4), device="cpu", rounds=1, min_run_time=0.001)
    assert all(p.grad is None for p in block.parameters())


def test_latency_ratio_and_statistics() -> None:
    a = Latency("a", (3.0, 1.0, 2.0), batch_size=4, fastest_ms=0.9)
    b = Latency("b", (1.0, 1.0, 1.0), batch_size=4, fastest_ms=1.0)
    assert a.median_ms == 2.0
    assert a.min_ms == 1.0
    assert a.per_image_ms == 0.5
    assert a.ratio_to(b) == 2.0
    assert b.ratio_to(a) == 0.5


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"modules": {}}, "non-empty mapping"),
        ({"modules": {"x": "not a module"}}, r"modules\['x'\] must be a torch.nn.Module"),
        ({"input_shape": (2, 0, 4, 4)}, "input_shape must be a sequence of positive"),
        ({"input_shape": "2x8"}, "input_shape must be a sequence of positive"),
        ({"input_shape": (4,)}, "input_shape must be a sequence of positive"),
        ({"rounds": 0}, "rounds must be a positive integer"),
        ({"min_run_time": 0}, "min_run_time must be a positive number of seconds"),
        ({"min_run_time": True}, "min_run_time must be a positive number"),
        ({"warmup": -1}, "warmup must be a non-negative integer"),
        ({"clock": "sundial"}, "clock must be one of"),
    ],
)
def test_compare_latency_rejects_bad_input(kwargs: dict, match: str) -> None:
    args = {"modules": {"id": nn.Identity()}, "input_shape": (1, 3, 4, 4)}
    args.update(kwargs)
    modules, shape = args.pop("modules"), args.pop("input_shape")
    with pytest.raises((ValueError, TypeError), match=match):
        compare_latency(modules, shape, **args)


def test_time_interleaved_alternates_the_order_and_warms_up() -> None:
    calls: list[str] = []
    steps = {"a": lambda: calls.append("a"), "b": lambda: calls.append("b")}
    result = time_interleaved(steps, rounds=2, min_run_time=0.001, warmup=2, batch_size=4)
    assert calls[:4] == ["a", "a", "b", "b"]  # warm-up, step by step
    timed = [name for i, name in enumerate(calls[4:]) if i == 0 or calls[4 + i - 1] != name]
    assert timed == ["a", "b", "a"]  # round 0: a, b; round 1: b, a
    assert [lat.batch_size for lat in result.values()] == [4, 4]
    assert all(len(lat.times_ms) == 2 for lat in result.values())


def test_time_interleaved_cpu_clock_and_bad_steps() -> None:
    result = time_interleaved({"x": lambda: sum(range(100))}, rounds=1, min_run_time=0.001,
                              clock="cpu")
    assert result["x"].fastest_ms > 0
    with pytest.raises(TypeError, match=r"time_interleaved: steps\['x'\] must be callable"):
        time_interleaved({"x": 3})  # type: ignore[dict-item]
    with pytest.raises(ValueError, match="time_interleaved: steps must be a non-empty mapping"):
        time_interleaved({})


def test_compare_latency_channels_last_input_and_dtype() -> None:
    seen: list[torch.Tensor] = []

    class Probe(nn.Module):
        def __init__(self, dtype: torch.dtype) -> None:
            super().__init__()
            self.w = nn.Parameter(torch.zeros(1, dtype=dtype))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            seen.append(x)
            return x

    compare_latency({"f32": Probe(torch.float32), "f64": Probe(torch.float64)}, (1, 3, 4, 4),
                    device="cpu", rounds=1, min_run_time=0.001, warmup=1, channels_last=True)
    assert {x.dtype for x in seen} == {torch.float32, torch.float64}
    assert all(x.is_contiguous(memory_format=torch.channels_last) for x in seen)
