"""mbcourse.deploy.web: ONNX files for a web page (compact random weights, exports, cache key).

A compacted file must compute exactly what the same network with the repeated weights
computes, and ONNX Runtime must fold the repeat away when it loads it: the optimised graph has
the same operators as the original's (the same fused int8 kernels too), so that timing it
measures what timing the original measures.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from torch import nn

from mbcourse.blocks import MBConv
from mbcourse.deploy import (
    compact_weights,
    export_for_web,
    export_onnx,
    file_entry,
    ort_session,
    quantize_int8,
    source_digest,
)


def _plain_convs() -> nn.Module:
    """Convolutions without BatchNorm: the exported weights are the module's own."""
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(16, 64, 3, padding=1), nn.ReLU(),
                         nn.Conv2d(64, 32, 3, padding=1), nn.ReLU()).eval()


def _optimised_ops(path: Path, tmp_path: Path) -> Counter:
    out = tmp_path / f"{path.stem}_optimised.onnx"
    ort_session(path, threads=1, optimized_path=out)
    return Counter(node.op_type for node in onnx.load(str(out)).graph.node)


def _tiled(weight: torch.Tensor, pool: int) -> torch.Tensor:
    """The first ``pool`` values repeated, each output channel rescaled to its original RMS."""
    flat = weight.reshape(-1)[:pool]
    reps = -(-weight.numel() // pool)
    tiled = flat.repeat(reps)[: weight.numel()].reshape(weight.shape).double()
    rms = weight.double().square().mean(dim=(1, 2, 3), keepdim=True).sqrt()
    return (tiled * rms / tiled.square().mean(dim=(1, 2, 3), keepdim=True).sqrt()).float()


def test_compacted_file_computes_the_network_with_repeated_weights(tmp_path: Path) -> None:
    model = _plain_convs()
    path = export_onnx(model, (1, 16, 12, 12), tmp_path / "convs.onnx", exporter="torchscript")
    before = path.stat().st_size
    pool = 1009
    assert compact_weights(path, tmp_path / "small.onnx", pool=pool) == 2  # both conv weights
    small = tmp_path / "small.onnx"
    assert small.stat().st_size < before / 4
    repeated = _plain_convs()
    with torch.no_grad():
        for conv in (repeated[0], repeated[2]):
            conv.weight.copy_(_tiled(conv.weight, pool))
    x = torch.randn(1, 16, 12, 12)
    session = ort_session(small, threads=1)
    got = session.run(None, {"x": x.numpy()})[0]
    with torch.no_grad():
        want = repeated(x).numpy()
        original = model(x).numpy()
    np.testing.assert_allclose(got, want, atol=1e-5)
    assert np.abs(got - original).max() > 1e-3  # the values did change: random weights only


def test_each_channel_keeps_its_scale(tmp_path: Path) -> None:
    """Folded BatchNorms give every output channel its own weight scale; a compacted network
    keeps them, so its activations keep their size layer after layer."""
    torch.manual_seed(0)
    layers = []
    for _ in range(6):
        conv = nn.Conv2d(32, 32, 3, padding=1)
        with torch.no_grad():
            conv.weight.mul_(torch.logspace(-1, 1, 32).view(-1, 1, 1, 1)[torch.randperm(32)])
        layers += [conv, nn.ReLU()]
    model = nn.Sequential(*layers).eval()
    path = export_onnx(model, (1, 32, 8, 8), tmp_path / "deep.onnx", exporter="torchscript")
    compact_weights(path, tmp_path / "small.onnx", pool=1009)
    x = torch.randn(1, 32, 8, 8)
    original = ort_session(path, threads=1).run(None, {"x": x.numpy()})[0]
    small = ort_session(tmp_path / "small.onnx", threads=1).run(None, {"x": x.numpy()})[0]
    ratio = np.sqrt(np.mean(small**2) / np.mean(original**2))
    assert 0.5 < ratio < 2, ratio


def test_onnx_runtime_folds_the_repeat_away(tmp_path: Path) -> None:
    model = _plain_convs()
    path = export_onnx(model, (1, 16, 12, 12), tmp_path / "convs.onnx", exporter="torchscript")
    compact_weights(path, tmp_path / "small.onnx")
    ops = _optimised_ops(tmp_path / "small.onnx", tmp_path)
    assert ops == _optimised_ops(path, tmp_path)
    assert not {"Tile", "Slice", "Mul"} & set(ops)


def test_int8_model_keeps_its_integer_kernels(tmp_path: Path) -> None:
    block = MBConv(32, 32, 1, 6, 3, se_ratio=0.0).eval()
    fp32 = export_onnx(block, (1, 32, 16, 16), tmp_path / "b.onnx", exporter="torchscript")
    int8 = quantize_int8(fp32, torch.randn(4, 32, 16, 16), tmp_path / "b8.onnx")
    replaced = compact_weights(int8, tmp_path / "b8_small.onnx", pool=1009, min_size=4096)
    assert replaced >= 2
    int8_types = {
        i.name: i.data_type for i in onnx.load(str(tmp_path / "b8_small.onnx")).graph.initializer
        if i.name.endswith("__pool")
    }
    assert onnx.TensorProto.INT8 in int8_types.values()  # quantized weights were compacted
    ops = _optimised_ops(tmp_path / "b8_small.onnx", tmp_path)
    assert ops == _optimised_ops(int8, tmp_path)
    assert ops["QLinearConv"] >= 2


def test_small_tensors_are_left_alone(tmp_path: Path) -> None:
    block = nn.Conv2d(4, 4, 3).eval()
    path = export_onnx(block, (1, 4, 8, 8), tmp_path / "tiny.onnx", exporter="torchscript")
    data = path.read_bytes()
    assert compact_weights(path, tmp_path / "copy.onnx") == 0
    assert (tmp_path / "copy.onnx").read_bytes() == data
    assert compact_weights(path) == 0 and path.read_bytes() == data


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"pool": 0}, "compact_weights: pool must be a positive integer"),
        ({"pool": 9000, "min_size": 8192}, "pool (9000) must be smaller than min_size"),
        ({"min_size": 1.5}, "compact_weights: min_size must be a positive integer"),
    ],
)
def test_compact_weights_rejects_bad_arguments(tmp_path: Path, kwargs: dict, message: str) -> None:
    path = export_onnx(nn.Conv2d(4, 4, 3), (1, 4, 8, 8), tmp_path / "c.onnx",
                       exporter="torchscript")
    with pytest.raises(ValueError, match=re.escape(message)):
        compact_weights(path, **kwargs)


def test_compact_weights_names_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="compact_weights: no ONNX file at"):
        compact_weights(tmp_path / "nope.onnx")


def test_export_for_web_writes_checked_fp32_and_int8_files(tmp_path: Path) -> None:
    block = MBConv(64, 64, 1, 6, 3, se_ratio=0.0).eval()
    entries = export_for_web(block, (1, 64, 8, 8), tmp_path / "models", "block",
                             calibration=torch.randn(4, 64, 8, 8), compact=True,
                             exporter="torchscript", base=tmp_path)
    assert set(entries) == {"fp32", "int8"}
    for precision, entry in entries.items():
        path = tmp_path / entry["file"]
        assert entry["file"] == f"models/block-{precision}.onnx"
        assert entry == {**file_entry(path, tmp_path), "compact": True}
        assert ort_session(path, threads=1).get_inputs()[0].shape == [1, 64, 8, 8]
    plain = export_for_web(block, (1, 64, 8, 8), tmp_path / "plain", "block",
                           exporter="torchscript")
    assert set(plain) == {"fp32"} and plain["fp32"]["compact"] is False
    weights = {i.name for i in onnx.load(str(tmp_path / "plain" / "block-fp32.onnx"))
               .graph.initializer}
    assert not any(name.endswith("__pool") for name in weights)


def test_export_for_web_rejects_a_bad_name(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="export_for_web: name must be a non-empty file stem"):
        export_for_web(nn.Conv2d(3, 3, 1), (1, 3, 4, 4), tmp_path, "a/b")
    with pytest.raises(TypeError, match=r"export_for_web: model must be a torch\.nn\.Module"):
        export_for_web("model", (1, 3, 4, 4), tmp_path, "m")  # type: ignore[arg-type]


def test_source_digest_follows_the_source(tmp_path: Path) -> None:
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "a.py").write_text("x = 1\n")
    (package / "notes.txt").write_text("not source\n")
    first = source_digest([package])
    assert source_digest([package]) == first and len(first) == 16
    (package / "notes.txt").write_text("changed, but not source\n")
    assert source_digest([package]) == first
    assert source_digest([package], {"plan": 1}) != first
    (package / "a.py").write_text("x = 2\n")
    assert source_digest([package]) != first



def test_export_for_web_refuses_a_compacted_file_of_subnormal_floats(tmp_path: Path) -> None:
    """Subnormal floats are slow on CPUs: a file computing them would time the wrong thing."""
    conv = nn.Conv2d(128, 128, 1).eval()
    with torch.no_grad():
        conv.weight.mul_(1e-38)
        conv.bias.zero_()
    with pytest.raises(ValueError, match="subnormal floats"):
        export_for_web(conv, (1, 128, 4, 4), tmp_path, "tiny", compact=True,
                       exporter="torchscript")
