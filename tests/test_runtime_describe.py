"""describe_device names the CPU's thread count in words that agree in number."""

from __future__ import annotations

import torch

from mbcourse.runtime import describe_device


def test_describe_device_thread_count_is_grammatical() -> None:
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        assert "1 thread)" in describe_device("cpu")
        torch.set_num_threads(2)
        assert "2 threads)" in describe_device("cpu")
    finally:
        torch.set_num_threads(before)
