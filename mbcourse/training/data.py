"""Datasets for the experiments: handwritten digits offline, CIFAR-10 when online.

* ``"digits"`` (the default) is scikit-learn's copy of the UCI handwritten digits: 1,797 grey
  8 x 8 images of 0-9 that ship inside scikit-learn, so it works with no network at all. The
  images are resized (bilinear) to ``image_size`` and repeated to ``channels`` channels, so the
  networks' usual 3-channel stems accept them.
* ``"cluttered"`` places those digits, scaled to 12-20 pixels, at random positions on a 32 x 32
  canvas among fragments of other digits (the "cluttered" digits of Mnih et al., 2014, made
  from scikit-learn's digits): a task where the early stages of a network see 32 x 32 and
  16 x 16 feature maps and must find the digit first. The source digits are split once, so no
  digit drawn in a test image was ever seen in training; any number of canvases can be drawn
  from each side (:func:`load_cluttered_digits`).
* ``"cifar10"`` reads the python version of CIFAR-10 (the ``cifar-10-batches-py`` folder) from
  ``root``; ``download=True`` fetches it first with torchvision's download helper.

Both give an :class:`ImageDataset` per split: ``dataset[i] -> (x, y)`` with ``x`` a normalised
float tensor of shape ``(C, image_size, image_size)`` and ``y`` an ``int`` in ``0..9``.
Normalisation uses the per-channel mean and standard deviation of the *training* split.
"""

from __future__ import annotations

import pickle
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor
from torch.utils.data import DataLoader, Dataset, DistributedSampler, Sampler

from ..validation import check_int

__all__ = [
    "CIFAR10_CLASSES",
    "CIFAR10_URL",
    "DATASETS",
    "ImageDataset",
    "ShardSampler",
    "TensorLoader",
    "default_root",
    "get_dataset",
    "get_loaders",
    "load_cifar10",
    "load_cluttered_digits",
    "load_digits",
    "read_cifar10_batch",
    "render_cluttered",
    "resize_bilinear",
    "stratified_split",
]

DATASETS = ("digits", "cluttered", "cifar10")
CIFAR10_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
CIFAR10_MD5 = "c58f30108f718f92721af3b95e74349a"
CIFAR10_FOLDER = "cifar-10-batches-py"
CIFAR10_TRAIN_FILES = tuple(f"data_batch_{i}" for i in range(1, 6))
CIFAR10_TEST_FILE = "test_batch"
CIFAR10_CLASSES = (
    "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck",
)


def default_root() -> Path:
    """Where downloaded data lives unless ``root`` is given: ``~/.cache/mbcourse/data``."""
    return Path.home() / ".cache" / "mbcourse" / "data"


# --------------------------------------------------------------------------------------------
# The dataset object shared by both sources
# --------------------------------------------------------------------------------------------
class ImageDataset(Dataset):
    """Images held in memory, normalised (and optionally augmented) on access.

    ``images``: ``(N, C, H, W)``, ``uint8`` in 0..255 or float in [0, 1]; ``labels``: ``(N,)``.
    ``dataset[i]`` gives ``((x - mean) / std, label)`` with ``x`` resized to ``image_size``.
    ``augment=True`` adds a random 4-pixel-padded crop and a horizontal flip (CIFAR-10 training).
    ``groups`` (optional, ``(N,)``): which source each image was drawn from (the cluttered
    digits: the index of the digit), for error bars that respect images sharing a source.
    """

    def __init__(
        self,
        images: Tensor,
        labels: Tensor,
        mean: Tensor,
        std: Tensor,
        classes: Sequence[str],
        *,
        image_size: int | None = None,
        augment: bool = False,
        groups: Tensor | None = None,
    ) -> None:
        if images.dim() != 4 or labels.dim() != 1 or images.shape[0] != labels.shape[0]:
            raise ValueError(
                "ImageDataset: expected images (N, C, H, W) and labels (N,), got "
                f"{tuple(images.shape)} and {tuple(labels.shape)}"
            )
        self.images = images
        self.labels = labels.long()
        self.mean = mean.reshape(-1, 1, 1).float()
        self.std = std.reshape(-1, 1, 1).float()
        self.classes = tuple(classes)
        self.image_size = int(image_size or images.shape[-1])
        self.augment = augment
        if groups is not None and tuple(groups.shape) != (images.shape[0],):
            raise ValueError(f"ImageDataset: groups must have shape ({images.shape[0]},), got "
                             f"{tuple(groups.shape)}")
        self.groups = groups

    def __len__(self) -> int:
        return self.images.shape[0]

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def channels(self) -> int:
        return self.images.shape[1]

    def _prepare(self, x: Tensor) -> Tensor:
        """``(N, C, H, W)`` stored images -> normalised float at ``image_size``."""
        x = x.float() / 255.0 if x.dtype == torch.uint8 else x.float()
        if x.shape[-1] != self.image_size or x.shape[-2] != self.image_size:
            x = F.interpolate(x, size=self.image_size, mode="bilinear", align_corners=False)
        return (x - self.mean) / self.std

    def __getitem__(self, index: int) -> tuple[Tensor, int]:
        x = self._prepare(self.images[index : index + 1])[0]
        if self.augment:
            x = _random_crop_flip(x)
        return x, int(self.labels[index])

    def tensors(self) -> tuple[Tensor, Tensor]:
        """The whole split at once, ``(N, C, S, S)`` normalised and ``(N,)`` labels, no
        augmentation: the fast path for small in-memory datasets."""
        return self._prepare(self.images), self.labels


def _random_crop_flip(x: Tensor, padding: int = 4) -> Tensor:
    """``(C, H, W) -> (C, H, W)``: zero-pad, crop back at a random offset, flip half the time."""
    _, h, w = x.shape
    padded = F.pad(x, (padding, padding, padding, padding))
    top, left = (int(v) for v in torch.randint(0, 2 * padding + 1, (2,)))
    x = padded[:, top : top + h, left : left + w]
    if torch.rand(()) < 0.5:
        x = x.flip(-1)
    return x


def _channel_stats(images: Tensor, chunk: int = 4096) -> tuple[Tensor, Tensor]:
    """Per-channel mean and std of ``(N, C, H, W)`` images (uint8 scaled to [0, 1]), in chunks
    so that 50,000 CIFAR images never become one big float copy."""
    scale = 255.0 if images.dtype == torch.uint8 else 1.0
    total = torch.zeros(images.shape[1], dtype=torch.float64)
    total_sq = torch.zeros_like(total)
    for start in range(0, images.shape[0], chunk):
        block = images[start : start + chunk].double() / scale
        total += block.sum(dim=(0, 2, 3))
        total_sq += (block * block).sum(dim=(0, 2, 3))
    count = images.shape[0] * images.shape[2] * images.shape[3]
    mean = total / count
    std = (total_sq / count - mean**2).clamp_min(1e-12).sqrt()
    return mean.float(), std.float()


# --------------------------------------------------------------------------------------------
# Handwritten digits (offline)
# --------------------------------------------------------------------------------------------
def _digits_arrays() -> tuple[np.ndarray, np.ndarray]:
    """The 1,797 digits as ``float (1797, 8, 8)`` in 0..16 and ``int (1797,)`` labels.

    Read from the ``digits.csv.gz`` that scikit-learn ships (the file behind
    ``sklearn.datasets.load_digits``) without importing scikit-learn, which takes seconds;
    falls back to ``load_digits`` if the file is not where scikit-learn keeps it.
    """
    import importlib.util

    spec = importlib.util.find_spec("sklearn")
    if spec is None or spec.origin is None:
        raise ImportError("get_dataset('digits') needs scikit-learn: pip install scikit-learn")
    csv = Path(spec.origin).parent / "datasets" / "data" / "digits.csv.gz"
    if csv.is_file():
        table = np.loadtxt(csv, delimiter=",", dtype=np.float32)
        if table.shape == (1797, 65):
            return table[:, :64].reshape(-1, 8, 8), table[:, 64].astype(np.int64)
    from sklearn.datasets import load_digits as sk_load_digits  # pragma: no cover

    bunch = sk_load_digits()  # pragma: no cover
    return bunch.images.astype(np.float32), bunch.target.astype(np.int64)  # pragma: no cover


def stratified_split(
    labels: np.ndarray, test_fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Indices ``(train, test)``: ``round(n_c * test_fraction)`` test samples drawn from each
    class ``c``, fixed by ``seed``; both sorted."""
    rng = np.random.default_rng(seed)
    train, test = [], []
    for c in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == c))
        n_test = round(len(idx) * test_fraction)
        test.append(idx[:n_test])
        train.append(idx[n_test:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(test))


def load_digits(
    image_size: int = 32,
    channels: int = 3,
    test_fraction: float = 0.2,
    seed: int = 0,
) -> tuple[ImageDataset, ImageDataset]:
    """scikit-learn's 8 x 8 digits as ``(train, test)``; each image ``(channels, S, S)``.

    The split is stratified by class and fixed by ``seed``; with the defaults it is
    1,438 training and 359 test images.
    """
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(
            f"get_dataset: test_fraction must be in (0, 1), got {test_fraction!r}"
        )
    pixels, target = _digits_arrays()
    images = torch.from_numpy(pixels / 16.0)  # (1797, 8, 8) in [0, 1]
    labels = torch.from_numpy(target)
    images = F.interpolate(
        images[:, None], size=image_size, mode="bilinear", align_corners=False
    ).clamp_(0.0, 1.0)
    images = images.expand(-1, channels, -1, -1).contiguous()
    train_idx, test_idx = (
        torch.from_numpy(i) for i in stratified_split(target, test_fraction, seed)
    )
    mean, std = _channel_stats(images[train_idx])
    classes = tuple(str(d) for d in range(10))
    return (
        ImageDataset(images[train_idx], labels[train_idx], mean, std, classes),
        ImageDataset(images[test_idx], labels[test_idx], mean, std, classes),
    )


# --------------------------------------------------------------------------------------------
# Cluttered digits on a canvas (offline, drawn from the digits above)
# --------------------------------------------------------------------------------------------
#: Sizes (pixels) a digit is drawn at on the canvas, and the side of a clutter fragment.
CLUTTER_DIGIT_SIZES = (12, 14, 16, 18, 20)
CLUTTER_FRAGMENT = 6


def resize_bilinear(images: np.ndarray, size: int) -> np.ndarray:
    """``(N, H, W) -> (N, size, size)``, bilinear with half-pixel centres (as
    ``F.interpolate(..., align_corners=False)``), in float64 with nothing but additions and
    multiplications, so that every machine computes the same canvases bit for bit."""

    def axis(n_in: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        where = (np.arange(size) + 0.5) * (n_in / size) - 0.5
        where = np.clip(where, 0.0, n_in - 1.0)
        low = np.floor(where).astype(np.int64)
        return low, np.minimum(low + 1, n_in - 1), where - low

    y0, y1, fy = axis(images.shape[1])
    x0, x1, fx = axis(images.shape[2])
    rows0, rows1 = images[:, y0], images[:, y1]
    top = rows0[:, :, x0] * (1.0 - fx) + rows0[:, :, x1] * fx
    bottom = rows1[:, :, x0] * (1.0 - fx) + rows1[:, :, x1] * fx
    return top * (1.0 - fy)[:, None] + bottom * fy[:, None]


def render_cluttered(
    digits: np.ndarray,
    n: int,
    rng: np.random.Generator,
    *,
    canvas: int = 32,
    clutter: int = 4,
    sizes: Sequence[int] = CLUTTER_DIGIT_SIZES,
    fragment: int = CLUTTER_FRAGMENT,
) -> tuple[np.ndarray, np.ndarray]:
    """Draw ``n`` canvases from ``digits`` (``(M, 8, 8)`` floats in [0, 1]).

    Each canvas (``canvas x canvas``, black) first receives ``clutter`` fragments
    (``fragment x fragment`` crops of randomly chosen digits at a random size) at random places,
    then one digit at a size from ``sizes`` at a random place where it fits whole; overlaps take
    the brighter pixel. Returns ``uint8 (n, canvas, canvas)`` images and ``(n,)`` indices into
    ``digits`` of the digit each canvas shows (its label is that digit's).
    """
    if max(sizes) > canvas or fragment > min(sizes):
        raise ValueError(f"render_cluttered: sizes {tuple(sizes)} must fit the {canvas}-pixel "
                         f"canvas and be at least the fragment ({fragment})")
    scaled = {s: resize_bilinear(digits, s) for s in sizes}
    which = rng.integers(0, len(digits), n)
    size_of = rng.integers(0, len(sizes), n)
    pieces = rng.integers(0, len(digits), (n, clutter))
    piece_size = rng.integers(0, len(sizes), (n, clutter))
    out = np.zeros((n, canvas, canvas))
    for k in range(n):
        view = out[k]
        for j in range(clutter):
            s = sizes[piece_size[k, j]]
            oy, ox = rng.integers(0, s - fragment + 1, 2)
            py, px = rng.integers(0, canvas - fragment + 1, 2)
            patch = view[py : py + fragment, px : px + fragment]
            np.maximum(patch, scaled[s][pieces[k, j], oy : oy + fragment, ox : ox + fragment],
                       out=patch)
        s = sizes[size_of[k]]
        py, px = rng.integers(0, canvas - s + 1, 2)
        patch = view[py : py + s, px : px + s]
        np.maximum(patch, scaled[s][which[k]], out=patch)
    return np.rint(out * 255.0).astype(np.uint8), which


def load_cluttered_digits(
    n_train: int = 5000,
    n_test: int = 5000,
    *,
    seed: int = 0,
    canvas: int = 32,
    clutter: int = 4,
    channels: int = 3,
    test_fraction: float = 0.5,
    split_seed: int = 0,
) -> tuple[ImageDataset, ImageDataset]:
    """Cluttered digits as ``(train, test)``; each image ``(channels, canvas, canvas)``.

    scikit-learn's 1,797 digits are split once (stratified, ``split_seed``; half of them held
    out by default) into training and test *sources*. The test set draws ``n_test`` canvases
    from the held-out digits with a generator fixed by ``split_seed`` alone, so it is the same
    for every ``seed``; the training set draws ``n_train`` canvases from the training digits
    with a generator seeded by ``seed``, so each seed of an experiment also samples new
    training images. ``dataset.groups`` holds each canvas's source digit (for
    :func:`mbcourse.studies.stats.cluster_bootstrap_se`). Normalised with the training
    split's mean and standard deviation.
    """
    check_int("load_cluttered_digits", "n_train", n_train)
    check_int("load_cluttered_digits", "n_test", n_test)
    check_int("load_cluttered_digits", "canvas", canvas, minimum=max(CLUTTER_DIGIT_SIZES))
    check_int("load_cluttered_digits", "clutter", clutter, minimum=0)
    if channels not in (1, 3):
        raise ValueError(f"load_cluttered_digits: channels must be 1 or 3, got {channels!r}")
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"load_cluttered_digits: test_fraction must be in (0, 1), got "
                         f"{test_fraction!r}")
    pixels, target = _digits_arrays()
    digits = pixels.astype(np.float64) / 16.0
    train_src, test_src = stratified_split(target, test_fraction, split_seed)
    splits = []
    for sources, n, rng in (
        (train_src, n_train, np.random.default_rng([split_seed, seed, 1])),
        (test_src, n_test, np.random.default_rng([split_seed, 2])),
    ):
        images, which = render_cluttered(digits[sources], n, rng, canvas=canvas,
                                         clutter=clutter)
        tensor = torch.from_numpy(images)[:, None].expand(-1, channels, -1, -1).contiguous()
        splits.append((tensor, torch.from_numpy(target[sources][which]),
                       torch.from_numpy(sources[which])))
    mean, std = _channel_stats(splits[0][0])
    classes = tuple(str(d) for d in range(10))
    return tuple(  # type: ignore[return-value]
        ImageDataset(images, labels, mean, std, classes, groups=groups)
        for images, labels, groups in splits
    )


# --------------------------------------------------------------------------------------------
# CIFAR-10 (python version, read without torchvision; downloaded with torchvision's helper)
# --------------------------------------------------------------------------------------------
def read_cifar10_batch(path: str | Path) -> tuple[Tensor, Tensor]:
    """One CIFAR-10 batch file -> ``uint8 (N, 3, 32, 32)`` images and ``(N,)`` labels.

    The file is a pickled dict with ``b"data"`` (``N x 3072`` bytes: the red plane, then green,
    then blue, each row-major 32 x 32) and ``b"labels"`` (``N`` ints), the format of
    https://www.cs.toronto.edu/~kriz/cifar.html.
    """
    path = Path(path)
    with path.open("rb") as handle:
        entry = pickle.load(handle, encoding="bytes")
    data = entry.get(b"data", entry.get("data"))
    labels = entry.get(b"labels", entry.get("labels"))
    if data is None or labels is None:
        raise ValueError(f"read_cifar10_batch: {path} has no 'data'/'labels' entries")
    data = np.asarray(data, dtype=np.uint8)
    if data.ndim != 2 or data.shape[1] != 3 * 32 * 32 or data.shape[0] != len(labels):
        raise ValueError(
            f"read_cifar10_batch: {path} holds data of shape {data.shape} and {len(labels)} "
            "labels; expected (N, 3072) and N labels"
        )
    images = torch.from_numpy(data.reshape(-1, 3, 32, 32).copy())
    return images, torch.as_tensor(list(labels), dtype=torch.long)


def _download_cifar10(root: Path) -> None:
    try:
        from torchvision.datasets.utils import download_and_extract_archive
    except ImportError as error:
        raise ImportError(
            "get_dataset('cifar10', download=True) needs torchvision to download CIFAR-10: "
            f"pip install torchvision, or extract {CIFAR10_URL} into {root} yourself"
        ) from error
    try:
        download_and_extract_archive(CIFAR10_URL, str(root), md5=CIFAR10_MD5)
    except Exception as error:  # network errors come in many types (URLError, OSError, ...)
        raise RuntimeError(
            f"get_dataset('cifar10'): downloading {CIFAR10_URL} into {root} failed ({error}). "
            "Without internet, copy the extracted 'cifar-10-batches-py' folder there, or use "
            "the offline dataset 'digits'."
        ) from error


def load_cifar10(
    root: str | Path | None = None,
    download: bool = False,
    image_size: int = 32,
    augment: bool = True,
) -> tuple[ImageDataset, ImageDataset]:
    """CIFAR-10 as ``(train, test)`` from ``root/cifar-10-batches-py`` (50,000 / 10,000
    images ``(3, S, S)``); ``augment`` applies crop + flip to the training split only."""
    root = Path(root) if root is not None else default_root()
    folder = root / CIFAR10_FOLDER
    names = (*CIFAR10_TRAIN_FILES, CIFAR10_TEST_FILE)
    missing = [name for name in names if not (folder / name).is_file()]
    if missing and download:
        root.mkdir(parents=True, exist_ok=True)
        _download_cifar10(root)
        missing = [name for name in names if not (folder / name).is_file()]
    if missing:
        where = "does not exist" if not folder.is_dir() else f"lacks {', '.join(missing)}"
        raise FileNotFoundError(
            f"get_dataset('cifar10'): the data directory {folder} {where}. Pass download=True "
            "(needs internet and torchvision), point root= at a folder that contains "
            f"'{CIFAR10_FOLDER}', or use the offline dataset 'digits'."
        )
    parts = [read_cifar10_batch(folder / name) for name in CIFAR10_TRAIN_FILES]
    train_images = torch.cat([p[0] for p in parts])
    train_labels = torch.cat([p[1] for p in parts])
    test_images, test_labels = read_cifar10_batch(folder / CIFAR10_TEST_FILE)
    mean, std = _channel_stats(train_images)
    return (
        ImageDataset(train_images, train_labels, mean, std, CIFAR10_CLASSES,
                     image_size=image_size, augment=augment),
        ImageDataset(test_images, test_labels, mean, std, CIFAR10_CLASSES,
                     image_size=image_size),
    )


# --------------------------------------------------------------------------------------------
# Public entry points
# --------------------------------------------------------------------------------------------
def get_dataset(
    name: str = "digits",
    root: str | Path | None = None,
    download: bool = False,
    *,
    image_size: int = 32,
    channels: int = 3,
    augment: bool = True,
    seed: int = 0,
) -> tuple[ImageDataset, ImageDataset]:
    """``(train, test)`` datasets by name: ``"digits"``, ``"cluttered"`` (both offline) or
    ``"cifar10"``.

    ``root`` and ``download`` matter only for CIFAR-10 (the digits ship with scikit-learn);
    ``channels`` only for the grey digits (CIFAR-10 is RGB); ``augment`` only for CIFAR-10's
    training split; ``seed`` fixes the digits' train/test split, and draws the cluttered
    digits' training canvases (:func:`load_cluttered_digits`, whose canvas is
    ``image_size``).
    """
    if not isinstance(name, str) or name.lower() not in DATASETS:
        raise ValueError(f"get_dataset: unknown dataset {name!r}; expected one of {DATASETS}")
    check_int("get_dataset", "image_size", image_size, minimum=8)
    if name.lower() == "digits":
        if channels not in (1, 3):
            raise ValueError(f"get_dataset: channels must be 1 or 3, got {channels!r}")
        return load_digits(image_size=image_size, channels=channels, seed=seed)
    if name.lower() == "cluttered":
        if channels not in (1, 3):
            raise ValueError(f"get_dataset: channels must be 1 or 3, got {channels!r}")
        if image_size < max(CLUTTER_DIGIT_SIZES):
            raise ValueError(f"get_dataset: the cluttered digits need image_size >= "
                             f"{max(CLUTTER_DIGIT_SIZES)}, got {image_size!r}")
        return load_cluttered_digits(seed=seed, canvas=image_size, channels=channels)
    return load_cifar10(root, download=download, image_size=image_size, augment=augment)


class TensorLoader:
    """Mini-batches straight from in-memory tensors: ``(B, C, S, S)`` and ``(B,)`` per step.

    Much faster than a ``DataLoader`` for tiny datasets (no per-sample indexing or collation).
    With ``shuffle`` the order is drawn from a generator seeded by ``seed + epoch``; call
    :meth:`set_epoch` each epoch, as with ``DistributedSampler``.
    """

    def __init__(
        self,
        images: Tensor,
        labels: Tensor,
        batch_size: int,
        *,
        shuffle: bool = False,
        seed: int = 0,
        drop_last: bool = False,
    ) -> None:
        check_int("TensorLoader", "batch_size", batch_size)
        self.images, self.labels = images, labels
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.seed = seed
        self.drop_last = drop_last
        self.epoch = 0
        self.dataset = images  # len(loader.dataset) works as with a DataLoader

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        n = self.images.shape[0]
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def __iter__(self) -> Iterator[tuple[Tensor, Tensor]]:
        n = self.images.shape[0]
        if self.shuffle:
            generator = torch.Generator().manual_seed(self.seed + self.epoch)
            order = torch.randperm(n, generator=generator)
        else:
            order = torch.arange(n)
        for step in range(len(self)):
            idx = order[step * self.batch_size : (step + 1) * self.batch_size]
            yield self.images[idx], self.labels[idx]


class ShardSampler(Sampler[int]):
    """Indices ``rank, rank + world, rank + 2 world, ...`` of ``0..n-1``: every sample exactly
    once across the processes (unlike ``DistributedSampler``, which pads with repeats), so
    summed evaluation counts are exact."""

    def __init__(self, n: int, rank: int | None = None, world_size: int | None = None) -> None:
        import torch.distributed as dist

        initialised = dist.is_available() and dist.is_initialized()
        self.rank = rank if rank is not None else (dist.get_rank() if initialised else 0)
        self.world_size = (
            world_size if world_size is not None
            else (dist.get_world_size() if initialised else 1)
        )
        self.n = n

    def __iter__(self) -> Iterator[int]:
        return iter(range(self.rank, self.n, self.world_size))

    def __len__(self) -> int:
        return len(range(self.rank, self.n, self.world_size))


def get_loaders(
    name: str = "digits",
    batch_size: int = 128,
    root: str | Path | None = None,
    download: bool = False,
    *,
    image_size: int = 32,
    channels: int = 3,
    augment: bool = True,
    seed: int = 0,
    num_workers: int = 0,
    distributed: bool = False,
    in_memory: bool | None = None,
) -> tuple[DataLoader | TensorLoader, DataLoader | TensorLoader]:
    """``(train_loader, test_loader)`` for :func:`get_dataset`'s splits.

    The training loader shuffles with a generator seeded by ``seed``. ``distributed=True`` gives
    each process of a ``torchrun`` job its own shard through ``DistributedSampler`` (call
    ``loader.sampler.set_epoch(epoch)``). ``in_memory`` (default: for digits when not distributed)
    serves whole tensors through :class:`TensorLoader` instead of a ``DataLoader``.
    """
    check_int("get_loaders", "batch_size", batch_size)
    train, test = get_dataset(
        name, root, download, image_size=image_size, channels=channels, augment=augment,
        seed=seed,
    )
    if in_memory is None:
        in_memory = name.lower() in ("digits", "cluttered") and not distributed
    if in_memory and not distributed and not train.augment:
        return (
            TensorLoader(*train.tensors(), batch_size, shuffle=True, seed=seed),
            TensorLoader(*test.tensors(), batch_size),
        )
    generator = torch.Generator().manual_seed(seed)
    train_sampler = DistributedSampler(train, shuffle=True, seed=seed) if distributed else None
    test_sampler = ShardSampler(len(test)) if distributed else None
    common = {"batch_size": batch_size, "num_workers": num_workers,
              "pin_memory": torch.cuda.is_available(), "persistent_workers": num_workers > 0}
    train_loader = DataLoader(
        train, shuffle=train_sampler is None, sampler=train_sampler, generator=generator,
        **common,
    )
    test_loader = DataLoader(test, shuffle=False, sampler=test_sampler, **common)
    return train_loader, test_loader
