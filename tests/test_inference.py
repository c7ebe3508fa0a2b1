"""mbcourse.inference: BatchNorm folding, channels_last and torch.compile keep the outputs."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import mbcourse
from mbcourse.blocks import (
    ConvNormAct,
    DepthwiseSeparableConv,
    FusedMBConv,
    InvertedResidual,
    MBConv,
)
from mbcourse.inference import (
    Autocast,
    calibrate_batchnorm,
    count_batchnorms,
    fold_batchnorm,
    optimize_for_inference,
)
from mbcourse.models import efficientnet_b0, efficientnet_v2_s, mobilenet_v2
from mbcourse.runtime import autocast

TOL = {"rtol": 1e-4, "atol": 1e-4}


BLOCKS = {
    "ConvNormAct": lambda: ConvNormAct(8, 16, 3, 2),
    "DepthwiseSeparableConv": lambda: DepthwiseSeparableConv(8, 16),
    "InvertedResidual": lambda: InvertedResidual(8, 8, 1, 6),
    "MBConv": lambda: MBConv(8, 8, 1, 6, 5),
    "FusedMBConv": lambda: FusedMBConv(8, 16, 2, 4),
    "FusedMBConv_e1": lambda: FusedMBConv(8, 8, 1, 1),
}


@pytest.mark.parametrize("name", list(BLOCKS))
def test_folding_keeps_block_outputs(
    name: str, device: torch.device, monkeypatch: pytest.MonkeyPatch, randomise_batchnorms
) -> None:
    # TF32 convolutions (cuDNN's default) round the folded and unfolded weights differently
    monkeypatch.setattr(torch.backends.cudnn, "allow_tf32", False)
    block = randomise_batchnorms(BLOCKS[name]()).to(device)
    x = torch.randn(2, 8, 12, 12, device=device)
    with torch.no_grad():
        expected = block(x)
        folded = fold_batchnorm(block)
        got = folded(x)
    assert count_batchnorms(block) > 0 and count_batchnorms(folded) == 0
    torch.testing.assert_close(got, expected, **TOL)


def test_folding_copies_and_leaves_the_model_alone(randomise_batchnorms) -> None:
    block = randomise_batchnorms(InvertedResidual(8, 16, 2)).train()
    before = {k: v.clone() for k, v in block.state_dict().items()}
    folded = fold_batchnorm(block)
    assert block.training and not folded.training
    assert count_batchnorms(block) == 3
    after = block.state_dict()
    assert before.keys() == after.keys()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert folded.project.conv.bias is not None and block.project.conv.bias is None


def test_batchnorm_without_a_conv_before_it_is_kept(randomise_batchnorms) -> None:
    net = randomise_batchnorms(nn.Sequential(nn.BatchNorm2d(3), nn.Conv2d(3, 4, 1)))
    folded = fold_batchnorm(net)
    assert count_batchnorms(folded) == 1
    x = torch.randn(1, 3, 5, 5)
    with torch.no_grad():
        torch.testing.assert_close(folded(x), net(x), **TOL)


@pytest.mark.parametrize(
    "builder",
    [mobilenet_v2, efficientnet_b0, efficientnet_v2_s],
    ids=["mobilenet_v2", "efficientnet_b0", "efficientnet_v2_s"],
)
def test_optimized_models_match_eager(builder: object, randomise_batchnorms) -> None:
    model = randomise_batchnorms(builder())  # type: ignore[operator]
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        expected = model(x)
        fast = optimize_for_inference(model)
        got = fast(x)
    assert count_batchnorms(fast) == 0 and count_batchnorms(model) > 0
    torch.testing.assert_close(got, expected, **TOL)


def test_channels_last_is_preserved(randomise_batchnorms) -> None:
    fast = optimize_for_inference(randomise_batchnorms(mobilenet_v2()))
    weights = [m.weight for m in fast.modules() if isinstance(m, nn.Conv2d)]
    assert weights and all(w.is_contiguous(memory_format=torch.channels_last) for w in weights)
    seen: list[torch.Tensor] = []
    fast.features[5].register_forward_hook(lambda m, i, o: seen.append(o))
    with torch.no_grad():
        fast(torch.randn(1, 3, 64, 64))  # a plain NCHW input: the first conv switches layout
    (out,) = seen
    assert out.is_contiguous(memory_format=torch.channels_last)
    assert not out.is_contiguous()  # really NHWC in memory, not a 1x1 corner case


def test_channels_last_can_be_switched_off() -> None:
    fast = optimize_for_inference(mobilenet_v2(), channels_last=False)
    conv = fast.features[1].depthwise.conv
    assert conv.weight.is_contiguous()
    assert not any(p.requires_grad for p in fast.parameters())


def test_exported_at_top_level_not_from_models() -> None:
    from mbcourse import models

    assert mbcourse.optimize_for_inference is optimize_for_inference
    assert not hasattr(models, "optimize_for_inference")  # models sit below inference


@pytest.mark.slow
def test_compiled_block_matches_eager(randomise_batchnorms) -> None:
    block = randomise_batchnorms(InvertedResidual(8, 8, 1, 4))
    x = torch.randn(1, 8, 8, 8)
    fast = optimize_for_inference(block, compile=True)
    with torch.no_grad():
        expected = block(x)
        got = fast(x)
    torch.testing.assert_close(got, expected, **TOL)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"model": "mobilenet_v2"}, "optimize_for_inference: model must be a torch.nn.Module"),
        ({"channels_last": "yes"}, "optimize_for_inference: channels_last must be True or False"),
        ({"compile": 1}, "optimize_for_inference: compile must be True or False"),
        ({"compile_options": ["freezing"]}, "optimize_for_inference: compile_options must be"),
    ],
)
def test_bad_arguments(kwargs: dict[str, object], match: str) -> None:
    args = {"model": ConvNormAct(3, 4), **kwargs}
    model = args.pop("model")
    with pytest.raises(TypeError, match=match):
        optimize_for_inference(model, **args)  # type: ignore[arg-type]


def test_fold_batchnorm_rejects_non_modules() -> None:
    with pytest.raises(TypeError, match=r"fold_batchnorm: model must be a torch\.nn\.Module"):
        fold_batchnorm(None)  # type: ignore[arg-type]


def test_calibrate_batchnorm_sets_statistics_and_restores_momentum() -> None:
    model = mobilenet_v2(width_mult=0.25, num_classes=10)
    norm = next(m for m in model.modules() if isinstance(m, nn.BatchNorm2d))
    assert torch.all(norm.running_var == 1)
    calibrate_batchnorm(model, (4, 3, 8, 8), device="cpu")
    assert not model.training
    assert not torch.all(norm.running_var == 1)
    assert all(m.momentum == 0.1 for m in model.modules() if isinstance(m, nn.BatchNorm2d))
    with pytest.raises(ValueError, match="calibrate_batchnorm: input_shape"):
        calibrate_batchnorm(model, (4, 0, 8, 8), device="cpu")
    with pytest.raises(ValueError, match="calibrate_batchnorm: batches must be a positive"):
        calibrate_batchnorm(model, (4, 3, 8, 8), batches=0, device="cpu")
    with pytest.raises(TypeError, match=r"calibrate_batchnorm: model must be a torch\.nn\.Module"):
        calibrate_batchnorm("net", (4, 3, 8, 8))  # type: ignore[arg-type]


def test_autocast_wrapper_changes_the_compute_dtype() -> None:
    conv = nn.Conv2d(3, 4, 3)
    x = torch.randn(1, 3, 8, 8)
    assert Autocast(conv, torch.bfloat16)(x).dtype == torch.bfloat16
    assert conv(x).dtype == torch.float32
    with autocast("cpu", torch.bfloat16):
        assert conv(x).dtype == torch.bfloat16
    with autocast("cpu", None):
        assert conv(x).dtype == torch.float32
