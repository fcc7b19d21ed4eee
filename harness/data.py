"""Data sources: arrays in memory, labels int64; images channels-last, float32 or uint8 as stored.

Loading never imports TensorFlow and never downloads, so a scenario can be
validated (sampler feasibility is checked against the real labels) before
TensorFlow starts, offline. digits and synthetic data are float32 in [0, 1];
mnist, fashion_mnist, cifar10 and cifar100 are read by `harness.datasets_local`
from `data.path` or Keras's cache (`$KERAS_HOME/datasets`) and kept uint8
(`Dataset.to_float`, and `harness.augment` in the graph, make the network's input).
"""

import dataclasses
import math

import numpy as np

from harness.errors import DataError  # noqa: F401 - data sources raise it; callers catch data.DataError

DATA_SOURCES = ("digits", "synthetic", "npz", "mnist", "fashion_mnist", "cifar10", "cifar100")


@dataclasses.dataclass(frozen=True)
class Dataset:
    """Train and test splits. x: (N, H, W, C) images or (N, F) features, y: (N,) int64 in [0, num_classes).

    x is stored as loaded: float32 already in its final form, or uint8 images (kept so
    on the device, 4x smaller) that `to_float` (NumPy) and `harness.augment` (in the
    compiled step, the same float32 operations) turn into the network's input: divided by
    `scale`, then standardised per channel with `mean` and `std` when these are set.
    """

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    num_classes: int
    scale: float = 1.0
    mean: np.ndarray = None
    std: np.ndarray = None

    @property
    def input_shape(self):
        return self.x_train.shape[1:]

    def to_float(self, x):
        """The network's float32 input for stored examples `x` (the stored array itself when already final)."""
        if x.dtype == np.float32 and self.scale == 1.0 and self.mean is None:
            return x
        x = x.astype(np.float32)
        if self.scale != 1.0:
            x = x / np.float32(self.scale)
        if self.mean is not None:
            x = (x - self.mean) / self.std
        return x


def with_preprocessing(dataset, config):
    """`dataset` with the data section's per-channel standardisation statistics (training split) set, if asked."""
    if not config.get("standardize"):
        return dataset
    x = dataset.x_train.astype(np.float64) / dataset.scale
    axes = tuple(range(x.ndim - 1))
    mean, std = x.mean(axis=axes), x.std(axis=axes)
    std = np.where(std > 0, std, 1.0)
    return dataclasses.replace(dataset, mean=mean.astype(np.float32), std=std.astype(np.float32))


def load(config):
    """Load the dataset a validated scenario's `data` section describes."""
    name = config["name"]
    if name == "digits":
        dataset = _digits(config)
    elif name == "synthetic":
        dataset = synthetic(config)
    elif name == "npz":
        dataset = _npz(config)
    else:
        dataset = _keras_dataset(config)
    return with_preprocessing(dataset, config)


def _standardise(name, x_train, y_train, x_test, y_test, num_classes=None):
    """Common form: add a channel axis, scale to [0, 1], optionally subsample the training set."""
    x_train = np.asarray(x_train, dtype=np.float32)
    x_test = np.asarray(x_test, dtype=np.float32)
    if x_train.ndim == 3:
        x_train, x_test = x_train[..., None], x_test[..., None]
    scale = max(float(x_train.max()), 1.0)
    y_train = np.asarray(y_train).reshape(-1).astype(np.int64)
    y_test = np.asarray(y_test).reshape(-1).astype(np.int64)
    if num_classes is None:
        num_classes = int(max(y_train.max(), y_test.max())) + 1
    return Dataset(name, x_train / scale, y_train, x_test / scale, y_test, int(num_classes))


def _split(x, y, test_fraction, seed):
    """A stratified train/test split, the same for every trial of a scenario."""
    from sklearn.model_selection import train_test_split

    n_test, n_classes = math.ceil(test_fraction * len(y)), len(np.unique(y))
    if min(n_test, len(y) - n_test) < n_classes:
        raise DataError("test_fraction", test_fraction,
                        f"splits {len(y)} examples into {len(y) - n_test} train / {n_test} test, "
                        f"fewer than the {n_classes} classes in one of them")
    return train_test_split(x, y, test_size=test_fraction, random_state=seed, stratify=y)


def _digits(config):
    from sklearn.datasets import load_digits

    digits = load_digits()
    x_train, x_test, y_train, y_test = _split(
        digits.images, digits.target, config["test_fraction"], config["split_seed"]
    )
    return _standardise("digits", x_train, y_train, x_test, y_test, num_classes=10)


def synthetic(config):
    """Class-conditional images: each class a fixed random smooth template, examples = template + noise.

    Any size and class count, generated from `seed`, so tests and scale experiments need no download.
    """
    rng = np.random.default_rng(config["seed"])
    size, channels, classes = config["image_size"], config["channels"], config["num_classes"]
    n_examples = config["examples_per_class"] * classes
    coarse = rng.normal(size=(classes, 4, 4, channels))
    templates = np.kron(coarse, np.ones((1, -(-size // 4), -(-size // 4), 1)))[:, :size, :size, :]
    labels = np.repeat(np.arange(classes), config["examples_per_class"])
    images = templates[labels] + config["noise"] * rng.normal(size=(n_examples, size, size, channels))
    images = (images - images.min()) / (images.max() - images.min())
    x_train, x_test, y_train, y_test = _split(images, labels, config["test_fraction"], config["split_seed"])
    return _standardise("synthetic", x_train, y_train, x_test, y_test, num_classes=classes)


NPZ_KEYS = ("x_train", "y_train", "x_test", "y_test")


def _npz(config):
    path = config["path"]
    try:
        with np.load(path, allow_pickle=False) as arrays:
            missing = [key for key in NPZ_KEYS if key not in arrays.files]
            if missing:
                raise DataError("path", path, f"lacks the arrays {', '.join(missing)} (needs {', '.join(NPZ_KEYS)})")
            x_train, y_train, x_test, y_test = (arrays[key] for key in NPZ_KEYS)
    except (OSError, ValueError) as error:
        if isinstance(error, DataError):
            raise
        raise DataError("path", path, f"is not a readable .npz file ({error})") from None
    _check_npz_arrays(path, x_train, y_train, x_test, y_test)
    for name, x, y in (("train", x_train, y_train), ("test", x_test, y_test)):
        if x.ndim not in (2, 3, 4) or len(x) != len(y):
            raise DataError("path", path, f"x_{name} must be (N, F), (N, H, W) or (N, H, W, C) with one label per example")
        if not np.issubdtype(y.dtype, np.integer) or y.min() < 0:
            raise DataError("path", path, f"y_{name} must hold integer labels >= 0")
    divide_by = config.get("divide_by", "max")
    if divide_by == "max":  # the training split's maximum (at least 1), as the harness always did
        return _standardise("npz", x_train, y_train, x_test, y_test)
    labels = [np.asarray(y).reshape(-1).astype(np.int64) for y in (y_train, y_test)]
    num_classes = int(max(labels[0].max(), labels[1].max())) + 1
    if x_train.ndim == 3:
        x_train, x_test = x_train[..., None], x_test[..., None]
    if x_train.dtype == np.uint8 and x_test.dtype == np.uint8:  # images stay uint8, converted in the graph
        return Dataset("npz", x_train, labels[0], x_test, labels[1], num_classes, scale=float(divide_by))
    x_train, x_test = (np.asarray(x, np.float32) / np.float32(divide_by) for x in (x_train, x_test))
    return Dataset("npz", x_train, labels[0], x_test, labels[1], num_classes)


def _check_npz_arrays(path, x_train, y_train, x_test, y_test):
    """What a user's arrays must be for every trial to work: examples in both splits, one example shape,
    finite numeric values, at least two classes. Each problem is a DataError naming the array."""
    for name, x, y in (("train", x_train, y_train), ("test", x_test, y_test)):
        if x.ndim < 1 or len(x) == 0 or y.ndim < 1 or len(y) == 0:
            raise DataError("path", path, f"x_{name} and y_{name} must hold at least one example "
                                          f"(shapes {x.shape} and {y.shape})")
        if x.ndim not in (2, 3, 4) or 0 in x.shape[1:]:
            raise DataError("path", path, f"x_{name} must be (N, F), (N, H, W) or (N, H, W, C) with F, H, W, C >= 1 "
                                          f"(shape {x.shape})")
        if not (np.issubdtype(x.dtype, np.integer) or np.issubdtype(x.dtype, np.floating)) or x.dtype == np.bool_:
            raise DataError("path", path, f"x_{name} must hold numbers (dtype {x.dtype})")
        if np.issubdtype(x.dtype, np.floating) and not np.isfinite(x).all():
            raise DataError("path", path, f"x_{name} holds NaN or infinite values")
    if x_test.shape[1:] != x_train.shape[1:]:
        raise DataError("path", path, f"x_test examples have shape {x_test.shape[1:]}, x_train {x_train.shape[1:]}; "
                                      "they must be the same")
    if np.issubdtype(y_train.dtype, np.integer) and len(np.unique(y_train)) < 2:
        raise DataError("path", path, "y_train holds a single class; classification needs at least two")


def _keras_dataset(config):
    """mnist, fashion_mnist, cifar10, cifar100 from `data.path` or Keras's cache, as uint8 images (/255 in the
    graph); never downloads (harness.datasets_local says which files are missing and where they go)."""
    from harness.datasets_local import read_local

    name = config["name"]
    x_train, y_train, x_test, y_test = read_local(name, config.get("path"))
    num_classes = 100 if name == "cifar100" else 10
    if x_train.ndim == 3:
        x_train, x_test = x_train[..., None], x_test[..., None]
    labels = [np.asarray(y).reshape(-1).astype(np.int64) for y in (y_train, y_test)]
    dataset = Dataset(name, np.ascontiguousarray(x_train, np.uint8), labels[0],
                      np.ascontiguousarray(x_test, np.uint8), labels[1], num_classes, scale=255.0)
    limit = config.get("train_limit")
    if limit:
        dataset = dataclasses.replace(dataset, x_train=dataset.x_train[:limit], y_train=dataset.y_train[:limit])
    return dataset
