"""MNIST, Fashion-MNIST, CIFAR-10 and CIFAR-100 read from files on disk, NumPy only, never downloaded.

Two places are looked at, in order:

1. `data.path`: a folder holding the files as the official archives unpack
   (`cifar-10-batches-py/data_batch_1..5, test_batch`; `cifar-100-python/train, test`;
   MNIST's and Fashion-MNIST's four idx files, gzipped or not, or Keras's `mnist.npz`).
   The archive's own folder may also be given directly (`.../cifar-10-batches-py`).
2. Keras's cache (`$KERAS_HOME/datasets`, default `~/.keras/datasets`), as
   `keras.datasets.<name>.load_data()` leaves it.

When neither holds the files, `read_local` raises one `DataError` naming the exact
files, where to put them, and the command that fetches them where there is a network.
Nothing here imports TensorFlow or touches the network, so `validate` can load a
scenario's data (sampler feasibility is checked on the real labels) on a machine
without either.
"""

from __future__ import annotations

import gzip
import os
import pickle
import struct
from typing import Any

import numpy as np

from harness.errors import DataError

IDX_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")

FOLDERS = {"cifar10": "cifar-10-batches-py", "cifar100": "cifar-100-python"}
CIFAR_FILES = {
    "cifar10": tuple(f"data_batch_{i}" for i in range(1, 6)) + ("test_batch",),
    "cifar100": ("train", "test"),
}
SOURCES = {
    "cifar10": "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",
    "cifar100": "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz",
    "mnist": "https://storage.googleapis.com/cvdf-datasets/mnist/",
    "fashion_mnist": "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
}


def keras_cache_dir() -> str:
    """Where Keras caches downloaded datasets."""
    return os.path.join(os.path.expanduser(os.environ.get("KERAS_HOME", "~/.keras")), "datasets")


FASHION_FILES = (
    "train-labels-idx1-ubyte.gz",
    "train-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
)


def keras_cache_paths(name: str) -> list[str]:
    """The files `keras.datasets.<name>.load_data()` leaves in the cache."""
    root = keras_cache_dir()
    if name == "mnist":
        return [os.path.join(root, "mnist.npz")]
    if name == "fashion_mnist":
        return [os.path.join(root, "fashion-mnist", f) for f in FASHION_FILES]
    if name == "cifar10":
        folder = os.path.join(root, "cifar-10-batches-py-target", "cifar-10-batches-py")
        return [os.path.join(folder, f"data_batch_{i}") for i in range(1, 6)] + [
            os.path.join(folder, "test_batch")
        ]
    if name == "cifar100":
        folder = os.path.join(root, "cifar-100-python-target", "cifar-100-python")
        return [os.path.join(folder, "train"), os.path.join(folder, "test")]
    raise ValueError(f"unknown Keras dataset. Received: name={name!r}")


class _ArrayUnpickler(pickle.Unpickler):
    """Unpickles CIFAR batches (dicts of NumPy arrays and lists) and refuses any other class."""

    ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
    }

    def find_class(self, module: str, name: str) -> Any:
        """The class `module.name` if it is one a CIFAR batch holds; UnpicklingError otherwise."""
        if (module, name) in self.ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to unpickle {module}.{name}")


def _read_cifar_batch(path: str, label_key: str) -> tuple[np.ndarray, np.ndarray]:
    with open(path, "rb") as handle:
        batch = _ArrayUnpickler(handle, encoding="bytes").load()
    batch = {key.decode() if isinstance(key, bytes) else key: value for key, value in batch.items()}
    images = np.asarray(batch["data"], dtype=np.uint8).reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    return images, np.asarray(batch[label_key])


def _read_keras_cache(name: str, paths: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """What `keras.datasets.<name>.load_data()` left in its cache, read as the archive's own files are (the
    Fashion-MNIST cache lists labels before images: reordered to the idx files' order)."""
    if name == "fashion_mnist":
        paths = [paths[1], paths[0], paths[3], paths[2]]
    return _read(name, paths)


def expected_files(name: str, folder: str) -> list[str]:
    """The files `name` needs under `folder` (as the official archive unpacks), for the message and the reader."""
    if name in FOLDERS:
        return [os.path.join(folder, FOLDERS[name], f) for f in CIFAR_FILES[name]]
    if name in ("mnist", "fashion_mnist"):
        return [os.path.join(folder, f) for f in IDX_FILES]
    raise ValueError(f"unknown local dataset. Received: name={name!r}")


def _existing(path: str) -> str | None:
    """`path`, or `path.gz`, whichever exists (None if neither)."""
    for candidate in (path, path + ".gz"):
        if os.path.isfile(candidate):
            return candidate
    return None


def _find_in_folder(name: str, folder: str) -> list[str] | None:
    """The dataset's files in `folder` (or in the archive folder given directly), or None."""
    candidates = [folder]
    if name in FOLDERS and os.path.basename(os.path.normpath(folder)) == FOLDERS[name]:
        candidates.append(os.path.dirname(os.path.normpath(folder)))
    for root in candidates:
        found = [_existing(p) if name in ("mnist", "fashion_mnist") else (p if os.path.isfile(p) else None)
                 for p in expected_files(name, root)]
        if all(found):
            return found  # type: ignore[return-value]  # all(found): no None left
    if name == "mnist" and os.path.isfile(os.path.join(folder, "mnist.npz")):
        return [os.path.join(folder, "mnist.npz")]
    return None


def _missing_message(name: str, folder: str | None) -> str:
    """One line: which files are missing, where they go, and how to fetch them where there is a network."""
    shown = folder or "<data.path>"
    if name in FOLDERS:
        wanted = f"{os.path.join(shown, FOLDERS[name])}/{{{','.join(CIFAR_FILES[name])}}}"
        fetch = f"curl -L {SOURCES[name]} | tar xz -C {shown}"
    else:
        wanted = f"{shown}/{{{','.join(IDX_FILES)}}}[.gz]"
        fetch = ("cd " + shown + " && for f in " + " ".join(f + ".gz" for f in IDX_FILES)
                 + f"; do curl -LO {SOURCES[name]}$f; done")
    keras_fetch = f"python -c 'import keras; keras.datasets.{name}.load_data()'"
    where = "not found" if folder else f"no data.path given, and not in Keras's cache {keras_cache_dir()}"
    return (f"needs the files {wanted} ({where}); put the unpacked official archive there (with a network: "
            f"{fetch}), or fill Keras's cache ({keras_fetch}) and leave data.path out; nothing is downloaded")


def read_local(name: str, folder: str | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(x_train, y_train, x_test, y_test) as stored (uint8 images), from `folder` or Keras's cache."""
    if folder is not None:
        found = _find_in_folder(name, folder) if os.path.isdir(folder) else None
        if found is None:
            raise DataError("path", folder, _missing_message(name, folder))
        return _read(name, found)
    cached = keras_cache_paths(name)
    if all(os.path.exists(p) for p in cached):
        return _read_keras_cache(name, cached)
    raise DataError("name", name, _missing_message(name, None))


def source_files(name: str, folder: str | None = None) -> list[list[Any]]:
    """[absolute path, size, mtime_ns] of each file `read_local` reads (none if missing): what a saved trial's
    reuse depends on, so replacing the files (generated ones by the real ones, say) reruns the trials."""
    found = (_find_in_folder(name, folder) if os.path.isdir(folder) else None) if folder is not None else [
        p for p in keras_cache_paths(name) if os.path.exists(p)]
    return [[os.path.abspath(p), os.stat(p).st_size, os.stat(p).st_mtime_ns] for p in found or []]


def read_idx(path: str) -> np.ndarray:
    """An idx file (MNIST's format, gzipped or not) as a NumPy array of its declared shape."""
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as handle:
        raw = handle.read()
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise DataError("path", path, "is not an idx file of unsigned bytes")
    ndim = raw[3]
    shape = struct.unpack(f">{ndim}I", raw[4:4 + 4 * ndim])
    data = np.frombuffer(raw, np.uint8, offset=4 + 4 * ndim)
    if data.size != int(np.prod(shape)):
        raise DataError("path", path, f"holds {data.size} bytes, its header declares {shape}")
    return data.reshape(shape)


def _read(name: str, paths: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    if name == "mnist" and len(paths) == 1:
        with np.load(paths[0], allow_pickle=False) as arrays:
            return arrays["x_train"], arrays["y_train"], arrays["x_test"], arrays["y_test"]
    if name in ("mnist", "fashion_mnist"):
        x_train, y_train, x_test, y_test = (read_idx(p) for p in paths)
        return x_train, y_train, x_test, y_test
    label_key = "labels" if name == "cifar10" else "fine_labels"
    train = [_read_cifar_batch(p, label_key) for p in paths[:-1]]
    x_test, y_test = _read_cifar_batch(paths[-1], label_key)
    return np.concatenate([x for x, _ in train]), np.concatenate([y for _, y in train]), x_test, y_test


def write_cifar(folder: str, name: str, images_per_file: int, seed: int = 0, num_classes: int | None = None) -> str:
    """Write a small random dataset in the real CIFAR layout under `folder` (for tests and smoke runs).

    Each class has a fixed random colour pattern plus noise, so a network can learn something in a few steps.
    """
    import pickle

    rng = np.random.default_rng(seed)
    num_classes = num_classes or (10 if name == "cifar10" else 100)
    label_key = b"labels" if name == "cifar10" else b"fine_labels"
    templates = rng.integers(0, 256, (num_classes, 4, 4, 3))
    os.makedirs(os.path.join(folder, FOLDERS[name]), exist_ok=True)
    for path in expected_files(name, folder):
        labels = rng.permutation(np.arange(images_per_file) % num_classes)  # every class as often as it can be
        images: np.ndarray = (np.kron(templates[labels], np.ones((1, 8, 8, 1)))
                              + rng.normal(0, 40, (images_per_file, 32, 32, 3)))
        images = np.clip(images, 0, 255).astype(np.uint8).transpose(0, 3, 1, 2).reshape(images_per_file, -1)
        with open(path, "wb") as handle:
            pickle.dump({b"data": images, label_key: [int(v) for v in labels]}, handle)
    return folder
