"""Images in, ImageNet classes out: the preprocessing a checkpoint expects, the category names,
and real photos that ship inside scikit-image's wheel (nothing is downloaded).

Preprocessing, step by step (each step is a function, so a chapter can show it):

1. :func:`as_image_batch`: any image -> ``(N, 3, H, W)`` float32 RGB on the 0-255 scale. It
   takes a path (read with Pillow), a PIL image, a NumPy array ``(H, W)``, ``(H, W, C)`` or
   ``(N, H, W, C)``, or a tensor ``(C, H, W)`` or ``(N, C, H, W)``, with 1 (grey), 3 (RGB)
   or 4 (RGBA) channels. Grey is repeated into RGB; RGBA is composited on white (alpha
   blending, documented, not dropped silently). ``uint8`` values are 0-255; float values must
   lie in [0, 1] (scikit-image's and torchvision's convention) and are scaled by 255; a
   boolean mask becomes 0/255. Anything else raises one ``ValueError`` naming the function.
2. :func:`center_crop`: the central square whose side is ``crop_fraction`` of the shorter side
   (TensorFlow's EfficientNet evaluation: ``size / (size + 32)``, 0.875 at 224).
3. :func:`resize`: bicubic (antialiased) to ``size x size``.
4. :func:`normalize`: ``(x - mean) / std`` per channel; EfficientNet-Lite's checkpoints expect
   ``(x - 127) / 128`` ("inception-style", chosen for post-training quantization), torchvision's
   ``(x / 255 - [0.485, 0.456, 0.406]) / [0.229, 0.224, 0.225]``.

:func:`preprocess` does all four with a model's :class:`Preprocessing` (:data:`PREPROCESSING`
by model name). :func:`categories` gives the 1000 ImageNet class names in the checkpoints'
order (torchvision's list), :func:`top_k` the best classes of a batch of logits,
:func:`photos` the bundled photos and :func:`photo_views` crops, flips and scales of them.
Taught in chapter 10 (book/10_trained_network.ipynb).
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from ..validation import check_int

__all__ = [
    "PHOTOS",
    "PREPROCESSING",
    "Preprocessing",
    "as_image_batch",
    "categories",
    "center_crop",
    "normalize",
    "photo_views",
    "photos",
    "preprocess",
    "resize",
    "top_k",
]


@dataclass(frozen=True)
class Preprocessing:
    """What a checkpoint expects: a ``size x size`` centre crop of ``crop_fraction`` of the
    shorter side, bicubic resizing, then ``(x - mean) / std`` on the 0-255 scale."""

    size: int
    crop_fraction: float
    mean: tuple[float, float, float]
    std: tuple[float, float, float]


def _lite(size: int) -> Preprocessing:
    # efficientnet_lite_builder.py: MEAN_RGB = [127.0] * 3, STDDEV_RGB = [128.0] * 3;
    # preprocessing.py: centre crop of size / (size + CROP_PADDING), CROP_PADDING = 32, bicubic.
    return Preprocessing(size, size / (size + 32), (127.0,) * 3, (128.0,) * 3)


_TORCHVISION = Preprocessing(224, 224 / 256, (0.485 * 255, 0.456 * 255, 0.406 * 255),
                             (0.229 * 255, 0.224 * 255, 0.225 * 255))

#: Each pretrained model's preprocessing, by model name.
PREPROCESSING: dict[str, Preprocessing] = {
    "efficientnet_lite0": _lite(224),
    "efficientnet_lite1": _lite(240),
    "efficientnet_lite2": _lite(260),
    "mobilenet_v2": _TORCHVISION,
    "efficientnet_b0": _TORCHVISION,
}

#: The photos of :func:`photos`: scikit-image's bundled colour and grey photographs of things
#: ImageNet has classes for (a cat, a cup of coffee, a rocket, a motorcycle, ...).
PHOTOS: tuple[str, ...] = (
    "chelsea", "coffee", "astronaut", "rocket", "motorcycle", "camera", "coins", "clock",
)


# ------------------------------------------------------------------------------ 1. any image
def _read(func: str, path: Path) -> np.ndarray:
    if not path.is_file():
        raise FileNotFoundError(f"{func}: no image file at {str(path)!r}")
    from PIL import Image

    with Image.open(path) as image:
        return np.asarray(image.convert("RGBA") if image.mode in ("P", "LA") else image)


def _to_float(func: str, array: np.ndarray) -> np.ndarray:
    """uint8 -> as is; float in [0, 1] -> x 255; bool -> 0 / 255; else a clear error."""
    if array.dtype == np.bool_:
        return array.astype(np.float32) * 255
    if array.dtype == np.uint8:
        return array.astype(np.float32)
    if np.issubdtype(array.dtype, np.integer) or np.issubdtype(array.dtype, np.floating):
        if np.issubdtype(array.dtype, np.integer):
            raise ValueError(f"{func}: integer images must be uint8 (0-255), got {array.dtype}")
        lo, hi = float(np.nanmin(array)), float(np.nanmax(array))
        if not (np.isfinite(array).all() and lo >= 0.0 and hi <= 1.0):
            raise ValueError(
                f"{func}: float images must hold values in [0, 1] (got {lo:g} to {hi:g}); "
                "pass uint8 for 0-255 values, or divide by 255"
            )
        return array.astype(np.float32) * 255
    raise ValueError(f"{func}: unsupported image dtype {array.dtype}")


def as_image_batch(image: Any) -> Tensor:
    """Any image (see the module docstring) -> ``(N, 3, H, W)`` float32, RGB, 0-255."""
    func = "as_image_batch"
    if isinstance(image, (str, Path)):
        image = _read(func, Path(image))
    if type(image).__module__.startswith("PIL."):
        image = np.asarray(image.convert("RGBA") if image.mode in ("P", "LA") else image)
    if isinstance(image, Tensor):
        x = image.detach().cpu()
        if x.dim() not in (3, 4):
            raise ValueError(f"{func}: a tensor image must be (C, H, W) or (N, C, H, W), got "
                             f"shape {tuple(x.shape)}")
        x = x if x.dim() == 4 else x[None]
        array = x.permute(0, 2, 3, 1).numpy()  # channels last, like an array
    elif isinstance(image, np.ndarray):
        array = image
        if array.ndim == 2:
            array = array[..., None]
        if array.ndim == 3:
            array = array[None]
        if array.ndim != 4:
            raise ValueError(f"{func}: an array image must be (H, W), (H, W, C) or "
                             f"(N, H, W, C), got shape {image.shape}")
    else:
        raise TypeError(f"{func}: expected a path, a PIL image, a NumPy array or a tensor, "
                        f"got {type(image).__name__}")
    if array.shape[-1] not in (1, 3, 4) or min(array.shape[1:3]) < 1:
        raise ValueError(f"{func}: expected 1 (grey), 3 (RGB) or 4 (RGBA) channels and a "
                         f"non-empty image, got shape {tuple(array.shape)} as (N, H, W, C)")
    values = _to_float(func, np.asarray(array))
    if values.shape[-1] == 4:  # RGBA over a white background
        alpha = values[..., 3:] / 255
        values = values[..., :3] * alpha + 255 * (1 - alpha)
    if values.shape[-1] == 1:
        values = np.repeat(values, 3, axis=-1)
    return torch.from_numpy(np.ascontiguousarray(values)).permute(0, 3, 1, 2).contiguous()


# ----------------------------------------------------------------------- 2-4. crop, resize, scale
def center_crop(x: Tensor, fraction: float) -> Tensor:
    """``(N, C, H, W) -> (N, C, s, s)``: the central square of side ``fraction * min(H, W)``."""
    if not 0 < fraction <= 1:
        raise ValueError(f"center_crop: fraction must be in (0, 1], got {fraction!r}")
    h, w = x.shape[-2:]
    side = max(1, round(fraction * min(h, w)))
    top, left = (h - side) // 2, (w - side) // 2
    return x[..., top:top + side, left:left + side]


def resize(x: Tensor, size: int) -> Tensor:
    """``(N, C, H, W) -> (N, C, size, size)``: bicubic with antialiasing, clamped to 0-255."""
    check_int("resize", "size", size)
    y = F.interpolate(x, size=(size, size), mode="bicubic", align_corners=False, antialias=True)
    return y.clamp(0, 255)


def normalize(x: Tensor, mean: Sequence[float], std: Sequence[float]) -> Tensor:
    """``(x - mean) / std`` per channel of ``(N, 3, H, W)`` (0-255 scale)."""
    m = torch.tensor(mean, dtype=x.dtype).view(1, -1, 1, 1)
    s = torch.tensor(std, dtype=x.dtype).view(1, -1, 1, 1)
    return (x - m) / s


def _preprocessing(func: str, spec: str | Preprocessing) -> Preprocessing:
    if isinstance(spec, Preprocessing):
        return spec
    if spec not in PREPROCESSING:
        raise ValueError(f"{func}: no preprocessing for {spec!r}; give a Preprocessing or one "
                         f"of {sorted(PREPROCESSING)}")
    return PREPROCESSING[spec]


def preprocess(image: Any, spec: str | Preprocessing = "efficientnet_lite0") -> Tensor:
    """Any image(s) -> the ``(N, 3, S, S)`` input model ``spec`` expects (steps 1-4)."""
    p = _preprocessing("preprocess", spec)
    x = as_image_batch(image)
    return normalize(resize(center_crop(x, p.crop_fraction), p.size), p.mean, p.std)


# ------------------------------------------------------------------------------- names, photos
@cache
def categories() -> tuple[str, ...]:
    """The 1000 ImageNet-1k class names, in the order of the checkpoints' outputs.

    From torchvision (``MobileNet_V2_Weights.IMAGENET1K_V1.meta["categories"]``, no download).
    """
    try:
        tv = importlib.import_module("torchvision.models")
    except Exception as error:
        raise ImportError("categories needs torchvision for the ImageNet class names: pip "
                          "install torchvision (or: pip install 'mbcourse[pretrained]')") from error
    return tuple(tv.MobileNet_V2_Weights.IMAGENET1K_V1.meta["categories"])


def top_k(logits: Tensor, k: int = 5) -> list[list[tuple[str, float]]]:
    """``(N, 1000)`` logits -> per image, the ``k`` best ``(class name, probability)``."""
    if not isinstance(logits, Tensor) or logits.dim() != 2 or logits.shape[1] != 1000:
        raise ValueError(f"top_k: logits must be an (N, 1000) tensor, got "
                         f"{getattr(logits, 'shape', type(logits).__name__)}")
    check_int("top_k", "k", k)
    names = categories()
    probs, index = logits.detach().float().softmax(1).topk(k, dim=1)
    return [[(names[i], p) for i, p in zip(row.tolist(), prob.tolist(), strict=True)]
            for row, prob in zip(index, probs, strict=True)]


@cache
def _photo(name: str) -> np.ndarray:
    try:
        data = importlib.import_module("skimage.data")
    except ImportError as error:
        raise ImportError("photos needs scikit-image, whose wheel holds the photos: pip install "
                          "scikit-image (or: pip install 'mbcourse[pretrained]')") from error
    if name == "motorcycle":
        return data.stereo_motorcycle()[0]
    return getattr(data, name)()


def photos(names: Sequence[str] = PHOTOS) -> dict[str, np.ndarray]:
    """``{name: uint8 array (H, W, 3) or (H, W)}`` for scikit-image's bundled photos
    (:data:`PHOTOS`); read from the installed wheel, never downloaded."""
    unknown = [n for n in names if n not in PHOTOS]
    if unknown:
        raise ValueError(f"photos: unknown photo {unknown}; choose from {PHOTOS}")
    return {name: _photo(name) for name in names}


def photo_views(
    images: Sequence[Any],
    spec: str | Preprocessing = "efficientnet_lite0",
    *,
    crops: Sequence[float] = (1.0, 0.8, 0.6),
    offsets: Sequence[tuple[float, float]] = ((0.5, 0.5), (0.0, 0.0), (1.0, 1.0)),
    flips: bool = True,
) -> Tensor:
    """Preprocessed views of each image: squares of ``crops`` x the shorter side (scales)
    placed at ``offsets`` (0: top/left, 0.5: centre, 1: bottom/right), each also mirrored
    when ``flips``; resized and normalized as ``spec``. Returns
    ``(len(images) * len(crops) * len(offsets) * (1 + flips), 3, S, S)``, image-major."""
    p = _preprocessing("photo_views", spec)
    views: list[Tensor] = []
    for image in images:
        x = as_image_batch(image)
        h, w = x.shape[-2:]
        for fraction in crops:
            side = max(1, round(fraction * min(h, w)))
            for oy, ox in offsets:
                top, left = round(oy * (h - side)), round(ox * (w - side))
                view = resize(x[..., top:top + side, left:left + side], p.size)
                views.append(view)
                if flips:
                    views.append(view.flip(-1))
    return normalize(torch.cat(views), p.mean, p.std)
