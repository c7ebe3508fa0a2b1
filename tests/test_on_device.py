"""mbcourse.studies.on_device: chapter 11's panel (stage pairs, photos, verdict sentences).

The files themselves are made by the book build (``_ext/device_panel.py``) and checked in the
browser (tests/browser/test_device_panel.py); here the parts that need no export.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from mbcourse import costs
from mbcourse.blocks import FusedMBConv, MBConv
from mbcourse.measure import count_parameters, within_noise
from mbcourse.studies.on_device import (
    CLASSIFIER,
    NETWORKS,
    PHOTOS,
    STAGE_IMAGE,
    categories,
    fusion_verdict,
    int8_verdict,
    name_list,
    normalise,
    panel_bytes,
    photo_pixels,
    stage_list,
    stage_pairs,
)

WHERE = "Chromium 156, Linux x86 64-bit, ONNX Runtime Web wasm-simd, 1 thread, batch 1"


def test_stage_pairs_run_at_the_resolutions_of_a_384_image() -> None:
    pairs = stage_pairs()
    assert STAGE_IMAGE == 384
    assert [p["stage"] for p in pairs] == [1, 2, 3, 4, 5, 6]
    assert [p["resolution"] for p in pairs] == [192, 96, 48, 24, 24, 12]
    assert [p["width"] for p in pairs] == [24, 48, 64, 128, 160, 256]
    assert [p["expand"] for p in pairs] == [1, 4, 4, 4, 6, 6]
    for p in pairs:
        mb, fused = p["modules"]["MBConv"], p["modules"]["Fused-MBConv"]
        assert isinstance(mb, MBConv) and isinstance(fused, FusedMBConv)
        assert p["input"] == [1, p["width"], p["resolution"], p["resolution"]]
        c, r, e = p["width"], p["resolution"], p["expand"]
        assert count_parameters(mb) == costs.mbconv(c, c, r, 1, e, 3, se_ratio=0.0).params
        assert count_parameters(fused) == costs.fused_mbconv(c, c, r, 1, e, 3).params
        assert p["mac_ratio"] > 1 and p["param_ratio"] > 1  # fusing adds work everywhere


def test_stage_pairs_rejects_a_tiny_image() -> None:
    with pytest.raises(ValueError, match="stage_pairs: image must be an integer >= 32"):
        stage_pairs(8)


def test_networks_on_the_panel() -> None:
    assert list(NETWORKS) == ["mobilenet_v2", "efficientnet_b0", CLASSIFIER.key]
    assert CLASSIFIER.key == "efficientnet_lite0"
    assert len(CLASSIFIER.mean) == len(CLASSIFIER.std) == 3
    assert all(s > 0 for s in CLASSIFIER.std)


@pytest.mark.parametrize(
    ("stages", "text"),
    [([4], "stage 4"), ([1, 2, 3], "stages 1–3"), ([3, 1, 2, 4], "stages 1–4"),
     ([5, 6], "stages 5 and 6"), ([1, 3, 5], "stages 1, 3 and 5"),
     ([1, 2, 3, 5, 6], "stages 1–3, 5 and 6"), ([6, 1, 3, 4, 5], "stages 1 and 3–6")],
)
def test_stage_list(stages: list[int], text: str) -> None:
    assert stage_list(stages) == text


def test_name_list() -> None:
    assert name_list(["A"]) == "A"
    assert name_list(["A", "B"]) == "A and B"
    assert name_list(["A", "B", "C"]) == "A, B and C"


def _stages(ratios: list[float], spread: float = 0.05) -> list[dict]:
    return [{"stage": i + 1, "ratio": r, "spread": spread} for i, r in enumerate(ratios)]


def test_fusion_verdict_some_stages() -> None:
    rows = _stages([0.5, 0.7, 0.8, 1.01, 1.5, 2.0])
    assert fusion_verdict(rows, WHERE) == (
        f"On this device ({WHERE}), Fused-MBConv was faster than MBConv in stages 1–3, beyond "
        "the timing noise; slower in stages 5 and 6, beyond the noise; within the noise in "
        "stage 4.")


def test_fusion_verdict_all_and_none() -> None:
    assert fusion_verdict(_stages([0.5] * 6), WHERE) == (
        f"On this device ({WHERE}), Fused-MBConv was faster than MBConv in all six stages, "
        "beyond the timing noise.")
    assert fusion_verdict(_stages([2.0] * 6), WHERE) == (
        f"On this device ({WHERE}), Fused-MBConv was faster than MBConv in no stage beyond "
        "the timing noise; slower in all six stages, beyond the noise.")
    assert fusion_verdict(_stages([1.02] * 6), WHERE) == (
        f"On this device ({WHERE}), Fused-MBConv was faster than MBConv in no stage beyond "
        "the timing noise; within the noise in all six stages.")


def test_verdicts_use_the_books_noise_rule() -> None:
    """A ratio exactly at the spread's edge is within the noise, on both sides of 1."""
    spread = 0.25
    rows = [{"stage": 1, "ratio": 1.25, "spread": spread},
            {"stage": 2, "ratio": 1 / 1.25, "spread": spread},
            {"stage": 3, "ratio": 1.26, "spread": spread}]
    assert [within_noise(r["ratio"], spread) for r in rows] == [True, True, False]
    assert fusion_verdict(rows, WHERE).endswith(
        "in no stage beyond the timing noise; slower in stage 3, beyond the noise; within the "
        "noise in stages 1 and 2.")


def test_int8_verdict() -> None:
    rows = [{"title": "MobileNetV2", "ratio": 0.5, "spread": 0.1},
            {"title": "EfficientNet-B0", "ratio": 1.05, "spread": 0.1},
            {"title": "EfficientNet-Lite0", "ratio": 0.6, "spread": 0.1}]
    assert int8_verdict(rows, WHERE) == (
        f"On this device ({WHERE}), int8 was faster than fp32 for MobileNetV2 and "
        "EfficientNet-Lite0, beyond the timing noise; within the noise for EfficientNet-B0.")


def test_a_single_row_is_named_not_called_all() -> None:
    rows = [{"title": "MobileNetV2", "ratio": 0.5, "spread": 0.1}]
    assert int8_verdict(rows, WHERE) == (
        f"On this device ({WHERE}), int8 was faster than fp32 for MobileNetV2, beyond the "
        "timing noise.")
    assert fusion_verdict([{"stage": 2, "ratio": 1.0, "spread": 0.1}], WHERE).endswith(
        "in no stage beyond the timing noise; within the noise in stage 2.")


def test_verdicts_need_rows() -> None:
    with pytest.raises(ValueError, match="fusion_verdict: rows is empty"):
        fusion_verdict([], WHERE)
    with pytest.raises(ValueError, match="int8_verdict: rows is empty"):
        int8_verdict([], WHERE)
    with pytest.raises(ValueError, match="within_noise: ratio must be a positive"):
        fusion_verdict([{"stage": 1, "ratio": math.nan, "spread": 0.1}], WHERE)


def test_photo_pixels_cut_the_centre_at_the_networks_size() -> None:
    rng = np.random.default_rng(0)
    wide = rng.integers(0, 256, (300, 451, 3), dtype=np.uint8)
    out = photo_pixels(wide)
    assert out.shape == (224, 224, 3) and out.dtype == np.uint8
    tall = np.zeros((600, 200, 3), dtype=np.uint8)
    tall[290:310] = 255  # a bright band across the middle survives the centre crop
    assert photo_pixels(tall)[100:124].mean() > 200 and photo_pixels(tall)[:50].max() == 0


@pytest.mark.parametrize("image", [np.zeros((10, 10)), np.zeros((10, 10, 4)), "photo.jpg"])
def test_photo_pixels_rejects_what_is_not_an_rgb_array(image: object) -> None:
    with pytest.raises(ValueError, match=r"photo_pixels: image must be an \(H, W, 3\) RGB"):
        photo_pixels(image)  # type: ignore[arg-type]


def test_normalise_is_per_channel_nchw_float32() -> None:
    pixels = np.array([[[0, 128, 255]]], dtype=np.uint8)
    x = normalise(pixels, (127.0, 127.0, 127.0), (128.0, 64.0, 32.0))
    assert x.shape == (1, 3, 1, 1) and x.dtype == np.float32
    np.testing.assert_allclose(x.ravel(), [-127 / 128, 1 / 64, 128 / 32])


def test_photos_and_categories() -> None:
    skimage_data = pytest.importorskip("skimage.data")
    for name in PHOTOS:
        image = getattr(skimage_data, name)()
        assert image.ndim == 3 and image.shape[2] == 3, name
    names = categories()
    assert len(names) == 1000 and len(set(names)) >= 999


def test_panel_bytes_adds_every_file() -> None:
    entry = {"bytes": 10}
    manifest = {"networks": [{"files": {"fp32": entry, "int8": entry}}],
                "stages": [{"files": {"MBConv": entry, "Fused-MBConv": entry}}],
                "photos": [entry], "classifier": {"categories": entry}}
    assert panel_bytes(manifest) == 60
