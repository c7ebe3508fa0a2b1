"""mbcourse.training.data: offline digits, the CIFAR-10 reader (on tiny written files), loaders."""

from __future__ import annotations

import pickle
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from mbcourse.training import data
from mbcourse.training.data import (
    ShardSampler,
    TensorLoader,
    get_dataset,
    get_loaders,
    read_cifar10_batch,
    stratified_split,
)


# --------------------------------------------------------------------------------------------
# Digits
# --------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def digits() -> tuple[data.ImageDataset, data.ImageDataset]:
    return get_dataset("digits", image_size=16)


def test_digits_file_matches_scikit_learn() -> None:
    from sklearn.datasets import load_digits

    pixels, labels = data._digits_arrays()
    bunch = load_digits()
    np.testing.assert_array_equal(pixels, bunch.images.astype(np.float32))
    np.testing.assert_array_equal(labels, bunch.target)


def test_digits_sizes_shapes_and_labels(digits) -> None:
    train, test = digits
    assert len(train) + len(test) == 1797
    assert len(test) == pytest.approx(0.2 * 1797, abs=10)
    x, y = train[0]
    assert x.shape == (3, 16, 16) and x.dtype == torch.float32
    assert isinstance(y, int) and 0 <= y <= 9
    assert train.num_classes == 10 and train.classes == tuple("0123456789")
    assert set(test.labels.tolist()) == set(range(10))


def test_digits_normalised_with_training_statistics(digits) -> None:
    train, test = digits
    x, _ = train.tensors()
    assert torch.allclose(x.mean(dim=(0, 2, 3)), torch.zeros(3), atol=1e-4)
    assert torch.allclose(x.std(dim=(0, 2, 3)), torch.ones(3), atol=1e-3)
    assert torch.equal(test.mean, train.mean) and torch.equal(test.std, train.std)
    # __getitem__ and tensors() agree
    assert torch.allclose(train[5][0], x[5], atol=1e-6)


def test_digits_split_is_stratified_deterministic_and_disjoint() -> None:
    labels = data._digits_arrays()[1]
    train_a, test_a = stratified_split(labels, 0.2, seed=0)
    train_b, test_b = stratified_split(labels, 0.2, seed=0)
    _, test_c = stratified_split(labels, 0.2, seed=1)
    assert np.array_equal(test_a, test_b) and np.array_equal(train_a, train_b)
    assert not np.array_equal(test_a, test_c)
    assert set(train_a).isdisjoint(test_a)
    assert len(set(train_a) | set(test_a)) == len(labels)
    per_class_total = np.bincount(labels)
    per_class_test = np.bincount(labels[test_a], minlength=10)
    assert np.all(np.abs(per_class_test - 0.2 * per_class_total) <= 0.5)


def test_digits_resize_and_channels() -> None:
    train, _ = get_dataset("digits", image_size=8, channels=1)
    assert train[0][0].shape == (1, 8, 8)
    # at 8x8 the images are scikit-learn's pixels (scaled to [0, 1]), unchanged by resizing
    pixels, labels = data._digits_arrays()
    first = train.images[0, 0]
    matches = [i for i in range(len(labels)) if np.allclose(pixels[i] / 16.0, first.numpy())]
    assert matches and labels[matches[0]] == int(train.labels[0])


# --------------------------------------------------------------------------------------------
# CIFAR-10 from tiny batch files in its real format
# --------------------------------------------------------------------------------------------
def _write_batch(path: Path, images: np.ndarray, labels: list[int]) -> None:
    entry = {b"batch_label": b"tiny", b"labels": labels,
             b"data": images.reshape(len(labels), -1), b"filenames": [b"x.png"] * len(labels)}
    with path.open("wb") as handle:
        pickle.dump(entry, handle)


@pytest.fixture
def cifar_root(tmp_path: Path) -> Path:
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(1, 6):
        images = rng.integers(0, 256, size=(4, 3, 32, 32), dtype=np.uint8)
        _write_batch(folder / f"data_batch_{i}", images, [(i + k) % 10 for k in range(4)])
    test_images = rng.integers(0, 256, size=(3, 3, 32, 32), dtype=np.uint8)
    test_images[0, 0] = 255  # red plane of the first test image is all 255
    test_images[0, 1:] = 0
    _write_batch(folder / "test_batch", test_images, [7, 8, 9])
    return tmp_path


def test_read_cifar10_batch_planes_and_labels(cifar_root: Path) -> None:
    images, labels = read_cifar10_batch(cifar_root / "cifar-10-batches-py" / "test_batch")
    assert images.shape == (3, 3, 32, 32) and images.dtype == torch.uint8
    assert labels.tolist() == [7, 8, 9]
    assert torch.all(images[0, 0] == 255) and torch.all(images[0, 1:] == 0)


def test_cifar10_through_get_dataset(cifar_root: Path) -> None:
    train, test = get_dataset("cifar10", root=cifar_root, augment=False)
    assert len(train) == 20 and len(test) == 3
    assert train.classes[0] == "airplane" and train.num_classes == 10
    x, y = test[0]
    assert x.shape == (3, 32, 32) and y == 7
    # normalised with the training statistics: red = (1 - mean_r) / std_r everywhere
    expected_red = (1.0 - train.mean[0, 0, 0]) / train.std[0, 0, 0]
    assert torch.allclose(x[0], expected_red.expand(32, 32), atol=1e-5)
    assert torch.allclose(train.tensors()[0].mean(dim=(0, 2, 3)), torch.zeros(3), atol=1e-4)


def test_cifar10_augmentation_and_resize(cifar_root: Path) -> None:
    train, test = get_dataset("cifar10", root=cifar_root, image_size=16)
    assert train.augment and not test.augment
    torch.manual_seed(0)
    views = torch.stack([train[0][0] for _ in range(8)])
    assert views.shape == (8, 3, 16, 16)
    assert not all(torch.equal(views[0], v) for v in views[1:])  # random crops / flips differ
    assert torch.equal(test[1][0], test[1][0])  # no augmentation on the test split


def test_cifar10_loaders(cifar_root: Path) -> None:
    train_loader, test_loader = get_loaders("cifar10", batch_size=8, root=cifar_root)
    assert isinstance(train_loader, DataLoader)
    batches = list(train_loader)
    assert [b[0].shape[0] for b in batches] == [8, 8, 4]
    assert batches[0][0].shape == (8, 3, 32, 32) and batches[0][1].dtype == torch.long
    assert sum(len(b[1]) for b in test_loader) == 3


def test_cifar10_missing_directory_is_a_clear_error(tmp_path: Path) -> None:
    pattern = r"cifar-10-batches-py does not exist.*download=True"
    with pytest.raises(FileNotFoundError, match=pattern):
        get_dataset("cifar10", root=tmp_path / "nowhere")


def test_cifar10_missing_files_are_listed(cifar_root: Path) -> None:
    (cifar_root / "cifar-10-batches-py" / "data_batch_3").unlink()
    with pytest.raises(FileNotFoundError, match="lacks data_batch_3"):
        get_dataset("cifar10", root=cifar_root)


def test_cifar10_download_without_torchvision(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "torchvision", None)
    monkeypatch.setitem(sys.modules, "torchvision.datasets", None)
    monkeypatch.setitem(sys.modules, "torchvision.datasets.utils", None)
    with pytest.raises(ImportError, match="needs torchvision"):
        get_dataset("cifar10", root=tmp_path, download=True)


def test_cifar10_failed_download_is_a_clear_error(tmp_path: Path, monkeypatch) -> None:
    utils = pytest.importorskip("torchvision.datasets.utils")

    def offline(*args: object, **kwargs: object) -> None:
        raise OSError("network is unreachable")

    monkeypatch.setattr(utils, "download_and_extract_archive", offline)
    with pytest.raises(RuntimeError, match=r"downloading .* failed .*network is unreachable"):
        get_dataset("cifar10", root=tmp_path, download=True)


def test_malformed_cifar_batch(tmp_path: Path) -> None:
    path = tmp_path / "bad"
    with path.open("wb") as handle:
        pickle.dump({b"data": np.zeros((2, 100), np.uint8), b"labels": [0, 1]}, handle)
    with pytest.raises(ValueError, match=r"expected \(N, 3072\)"):
        read_cifar10_batch(path)


# --------------------------------------------------------------------------------------------
# Bad input
# --------------------------------------------------------------------------------------------
def test_unknown_dataset() -> None:
    with pytest.raises(ValueError, match=r"get_dataset: unknown dataset 'mnist'"):
        get_dataset("mnist")


@pytest.mark.parametrize("batch_size", [0, -3, 2.5, True])
def test_bad_batch_size(batch_size: object) -> None:
    with pytest.raises(ValueError, match="get_loaders: batch_size must be a positive integer"):
        get_loaders("digits", batch_size=batch_size)  # type: ignore[arg-type]


def test_bad_image_size_and_channels() -> None:
    with pytest.raises(ValueError, match="image_size must be an integer >= 8"):
        get_dataset("digits", image_size=4)
    with pytest.raises(ValueError, match="channels must be 1 or 3"):
        get_dataset("digits", channels=2)


# --------------------------------------------------------------------------------------------
# Loaders and samplers
# --------------------------------------------------------------------------------------------
def test_digit_loaders_cover_every_sample_once_per_epoch() -> None:
    train_loader, test_loader = get_loaders("digits", batch_size=100, image_size=8)
    assert isinstance(train_loader, TensorLoader)
    n = len(train_loader.images)
    assert len(train_loader) == -(-n // 100)
    epoch1 = torch.cat([y for _, y in train_loader])
    assert len(epoch1) == n
    assert torch.equal(epoch1.sort().values, train_loader.labels.sort().values)
    x, _ = next(iter(test_loader))
    assert x.shape == (100, 3, 8, 8)


def test_tensor_loader_order_depends_on_seed_and_epoch() -> None:
    x, y = torch.arange(50.0)[:, None], torch.arange(50)

    def order(seed: int, epoch: int) -> torch.Tensor:
        loader = TensorLoader(x, y, 16, shuffle=True, seed=seed)
        loader.set_epoch(epoch)
        return torch.cat([b for _, b in loader])

    assert torch.equal(order(0, 1), order(0, 1))
    assert not torch.equal(order(0, 1), order(0, 2))
    assert not torch.equal(order(0, 1), order(1, 1))
    plain = torch.cat([b for _, b in TensorLoader(x, y, 16)])
    assert torch.equal(plain, y)
    assert len(TensorLoader(x, y, 16, drop_last=True)) == 3


def test_shard_sampler_partitions_without_repeats() -> None:
    shards = [list(ShardSampler(11, rank=r, world_size=3)) for r in range(3)]
    assert sorted(i for shard in shards for i in shard) == list(range(11))
    assert [len(ShardSampler(11, rank=r, world_size=3)) for r in range(3)] == [4, 4, 3]


# --------------------------------------------------------------------------------------------
# Cluttered digits
# --------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def cluttered() -> tuple[data.ImageDataset, data.ImageDataset]:
    return data.load_cluttered_digits(200, 150, seed=3)


def test_resize_bilinear_is_interpolates_half_pixel_rule() -> None:
    import torch.nn.functional as F

    pixels = data._digits_arrays()[0][:5].astype(np.float64) / 16.0
    for size in (12, 16, 20):
        ours = data.resize_bilinear(pixels, size)
        theirs = F.interpolate(torch.from_numpy(pixels)[:, None], size=size, mode="bilinear",
                               align_corners=False)[:, 0].numpy()
        np.testing.assert_allclose(ours, theirs, atol=1e-12)


def test_cluttered_shapes_labels_and_sources(cluttered) -> None:
    train, test = cluttered
    assert len(train) == 200 and len(test) == 150
    assert train.images.shape == (200, 3, 32, 32) and train.images.dtype == torch.uint8
    x, y = test[0]
    assert x.shape == (3, 32, 32) and 0 <= y <= 9
    pixels, labels = data._digits_arrays()
    # each canvas's label is the label of its source digit; train and test sources are disjoint
    assert torch.equal(test.labels, torch.from_numpy(labels)[test.groups])
    assert set(train.groups.tolist()).isdisjoint(test.groups.tolist())
    _, test_src = stratified_split(labels, 0.5, 0)
    assert set(test.groups.tolist()) <= set(test_src.tolist())
    assert len(pixels) == 1797
    xs, _ = train.tensors()
    assert torch.allclose(xs.mean(dim=(0, 2, 3)), torch.zeros(3), atol=1e-4)


def test_cluttered_test_set_is_fixed_and_training_set_follows_the_seed(cluttered) -> None:
    train3, test3 = cluttered
    train4, test4 = data.load_cluttered_digits(200, 150, seed=4)
    again3, _ = data.load_cluttered_digits(200, 150, seed=3)
    assert torch.equal(test3.images, test4.images) and torch.equal(test3.labels, test4.labels)
    assert not torch.equal(train3.images, train4.images)
    assert torch.equal(train3.images, again3.images)


def test_cluttered_through_get_dataset_and_loaders() -> None:
    train, test = get_dataset("cluttered", image_size=32, channels=1, seed=1)
    assert train.images.shape[1:] == (1, 32, 32) and len(test) == 5000
    with pytest.raises(ValueError, match="the cluttered digits need image_size >= 20"):
        get_dataset("cluttered", image_size=16)
    train_loader, _ = get_loaders("cluttered", batch_size=500, seed=1)
    assert isinstance(train_loader, TensorLoader)


def test_cluttered_bad_arguments() -> None:
    with pytest.raises(ValueError, match="load_cluttered_digits: n_train must be a positive"):
        data.load_cluttered_digits(0, 10)
    with pytest.raises(ValueError, match="load_cluttered_digits: channels must be 1 or 3"):
        data.load_cluttered_digits(10, 10, channels=2)
    with pytest.raises(ValueError, match="load_cluttered_digits: test_fraction"):
        data.load_cluttered_digits(10, 10, test_fraction=1.0)
    with pytest.raises(ValueError, match="render_cluttered: sizes"):
        data.render_cluttered(np.zeros((3, 8, 8)), 2, np.random.default_rng(0), canvas=16)
    with pytest.raises(ValueError, match="ImageDataset: groups must have shape"):
        data.ImageDataset(torch.zeros(2, 1, 4, 4), torch.zeros(2), torch.zeros(1), torch.ones(1),
                          ("a",), groups=torch.zeros(3))
