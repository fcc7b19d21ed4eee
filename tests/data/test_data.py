"""Data sources: digits, synthetic, npz, and the Keras dataset loaders fed from files placed in Keras's cache."""

import gzip
import os
import pickle

import numpy as np
import pytest

from harness.data import local as datasets_local
from harness.data import sources as data


def test_digits_is_a_stratified_split_scaled_to_unit_range():
    dataset = data.load({"name": "digits", "test_fraction": 0.3, "split_seed": 0})
    assert dataset.x_train.shape[1:] == (8, 8, 1) and dataset.x_train.dtype == np.float32
    assert len(dataset.y_train) + len(dataset.y_test) == 1797
    assert len(dataset.y_test) == pytest.approx(0.3 * 1797, abs=1)
    assert 0.0 <= dataset.x_train.min() and dataset.x_train.max() == 1.0
    assert set(np.unique(dataset.y_test)) == set(range(10)) and dataset.num_classes == 10


def test_synthetic_is_deterministic_and_sized_as_asked():
    config = {"name": "synthetic", "num_classes": 5, "image_size": 6, "channels": 3, "examples_per_class": 20,
              "noise": 0.3, "seed": 4, "test_fraction": 0.25, "split_seed": 0}
    a, b = data.load(config), data.load(config)
    np.testing.assert_array_equal(a.x_train, b.x_train)
    assert a.x_train.shape[1:] == (6, 6, 3) and a.num_classes == 5
    assert len(a.y_train) + len(a.y_test) == 100
    other = data.load({**config, "seed": 5})
    assert not np.array_equal(a.x_train, other.x_train)


def test_npz_user_file(tmp_path):
    rng = np.random.default_rng(0)
    path = tmp_path / "mine.npz"
    np.savez(path, x_train=rng.integers(0, 255, (30, 5, 5)), y_train=rng.integers(0, 3, 30),
             x_test=rng.integers(0, 255, (10, 5, 5)), y_test=np.arange(10) % 3)
    dataset = data.load({"name": "npz", "path": str(path)})
    assert dataset.x_train.shape == (30, 5, 5, 1) and dataset.num_classes == 3


def _idx(path, array, header):
    """A gzipped idx file as the real ones are: magic 0x0000080N (unsigned bytes, N dimensions), then the sizes."""
    array = np.asarray(array)
    magic = bytes([0, 0, 8, array.ndim]) + b"".join(int(n).to_bytes(4, "big") for n in array.shape)
    assert len(magic) == header  # 8 bytes for labels, 16 for images, as keras.datasets skips them
    with gzip.open(path, "wb") as handle:
        handle.write(magic + array.astype(np.uint8).tobytes())


def _cifar_batch(path, images, labels, label_key):
    with open(path, "wb") as handle:
        pickle.dump({b"data": images.reshape(len(images), -1), label_key.encode(): [int(v) for v in labels]}, handle)


@pytest.mark.parametrize("name", ["mnist", "fashion_mnist", "cifar10", "cifar100"])
def test_keras_datasets_read_from_the_cache_path(name, tmp_path, monkeypatch):
    """The loader reads exactly the files keras.datasets.<name>.load_data() caches; no network is touched."""
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    rng = np.random.default_rng(1)
    paths = datasets_local.keras_cache_paths(name)
    assert all(p.startswith(str(tmp_path)) for p in paths)
    for path in paths:
        os.makedirs(os.path.dirname(path), exist_ok=True)
    classes = 100 if name == "cifar100" else 10
    if name == "mnist":
        x, y = rng.integers(0, 255, (12, 28, 28)), rng.integers(0, 10, 12)
        np.savez(paths[0], x_train=x, y_train=y, x_test=x[:4], y_test=y[:4])
        expected_train, shape = x, (28, 28, 1)
    elif name == "fashion_mnist":
        x, y = rng.integers(0, 255, (12, 28, 28)), rng.integers(0, 10, 12)
        _idx(paths[0], y, 8)
        _idx(paths[1], x, 16)
        _idx(paths[2], y[:4], 8)
        _idx(paths[3], x[:4], 16)
        expected_train, shape = x, (28, 28, 1)
    else:
        key = "labels" if name == "cifar10" else "fine_labels"
        x = rng.integers(0, 255, (len(paths) * 3, 3, 32, 32))
        y = rng.integers(0, classes, len(x))
        for i, path in enumerate(paths):
            _cifar_batch(path, x[3 * i:3 * i + 3], y[3 * i:3 * i + 3], key)
        expected_train, shape = x[:-3].transpose(0, 2, 3, 1), (32, 32, 3)
        y = y[:-3]
    dataset = data.load({"name": name, "train_limit": None})
    assert dataset.x_train.shape[1:] == shape and dataset.num_classes == classes
    np.testing.assert_array_equal(dataset.y_train, y[: len(dataset.y_train)])
    assert dataset.x_train.dtype == np.uint8 and dataset.scale == 255.0  # kept as stored, /255 in the graph
    np.testing.assert_array_equal(dataset.x_train.reshape(expected_train.shape), expected_train)
    np.testing.assert_allclose(dataset.to_float(dataset.x_train).reshape(expected_train.shape), expected_train / 255,
                               rtol=1e-6)


def test_cifar_reader_refuses_arbitrary_pickles(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    paths = datasets_local.keras_cache_paths("cifar100")
    os.makedirs(os.path.dirname(paths[0]), exist_ok=True)
    for path in paths:
        with open(path, "wb") as handle:
            pickle.dump({b"data": os.system}, handle)
    with pytest.raises(pickle.UnpicklingError, match="refusing"):
        data.load({"name": "cifar100", "train_limit": None})
