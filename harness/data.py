"""Data sources: arrays in memory, images channels-last float32 in [0, 1] scaled, labels int64.

Loading never imports TensorFlow when the data is already on disk, so a
scenario can be validated (sampler feasibility is checked against the real
labels) before TensorFlow starts. Keras datasets are read from Keras's own
cache layout (`$KERAS_HOME/datasets`, default `~/.keras/datasets`); only a
missing file makes us call `keras.datasets.<name>.load_data()`, which
downloads and caches it.
"""

import dataclasses
import gzip
import math
import os
import pickle

import numpy as np

DATA_SOURCES = ("digits", "synthetic", "npz", "mnist", "fashion_mnist", "cifar10", "cifar100")


class DataError(ValueError):
    """A data file that is not what the loader needs; `field` is the scenario field to blame."""

    def __init__(self, field, value, reason):
        self.field, self.value, self.reason = field, value, reason
        super().__init__(f"{field}: {value!r} {reason}")


@dataclasses.dataclass(frozen=True)
class Dataset:
    """Train and test splits. x: (N, H, W, C) float32, y: (N,) int64 in [0, num_classes)."""

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    num_classes: int

    @property
    def input_shape(self):
        return self.x_train.shape[1:]


def load(config):
    """Load the dataset a validated scenario's `data` section describes."""
    name = config["name"]
    if name == "digits":
        return _digits(config)
    if name == "synthetic":
        return synthetic(config)
    if name == "npz":
        return _npz(config)
    return _keras_dataset(config)


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
        if x.ndim not in (3, 4) or len(x) != len(y):
            raise DataError("path", path, f"x_{name} must be (N, H, W) or (N, H, W, C) with one label per image")
        if not np.issubdtype(y.dtype, np.integer) or y.min() < 0:
            raise DataError("path", path, f"y_{name} must hold integer labels >= 0")
    return _standardise("npz", x_train, y_train, x_test, y_test)


def _check_npz_arrays(path, x_train, y_train, x_test, y_test):
    """What a user's arrays must be for every trial to work: examples in both splits, one image shape,
    finite numeric pixels, at least two classes. Each problem is a DataError naming the array."""
    for name, x, y in (("train", x_train, y_train), ("test", x_test, y_test)):
        if x.ndim < 1 or len(x) == 0 or y.ndim < 1 or len(y) == 0:
            raise DataError("path", path, f"x_{name} and y_{name} must hold at least one example "
                                          f"(shapes {x.shape} and {y.shape})")
        if x.ndim not in (3, 4) or 0 in x.shape[1:]:
            raise DataError("path", path, f"x_{name} must be (N, H, W) or (N, H, W, C) with H, W, C >= 1 "
                                          f"(shape {x.shape})")
        if not (np.issubdtype(x.dtype, np.integer) or np.issubdtype(x.dtype, np.floating)) or x.dtype == np.bool_:
            raise DataError("path", path, f"x_{name} must hold numbers (dtype {x.dtype})")
        if np.issubdtype(x.dtype, np.floating) and not np.isfinite(x).all():
            raise DataError("path", path, f"x_{name} holds NaN or infinite values")
    if x_test.shape[1:] != x_train.shape[1:]:
        raise DataError("path", path, f"x_test images have shape {x_test.shape[1:]}, x_train {x_train.shape[1:]}; "
                                      "they must be the same")
    if np.issubdtype(y_train.dtype, np.integer) and len(np.unique(y_train)) < 2:
        raise DataError("path", path, "y_train holds a single class; classification needs at least two")


def keras_cache_dir():
    """Where Keras caches downloaded datasets."""
    return os.path.join(os.path.expanduser(os.environ.get("KERAS_HOME", "~/.keras")), "datasets")


FASHION_FILES = (
    "train-labels-idx1-ubyte.gz",
    "train-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
)


def keras_cache_paths(name):
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

    def find_class(self, module, name):
        if (module, name) in self.ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to unpickle {module}.{name}")


def _read_cifar_batch(path, label_key):
    with open(path, "rb") as handle:
        batch = _ArrayUnpickler(handle, encoding="bytes").load()
    batch = {key.decode() if isinstance(key, bytes) else key: value for key, value in batch.items()}
    images = np.asarray(batch["data"], dtype=np.uint8).reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    return images, np.asarray(batch[label_key])


def _read_idx(path, offset):
    with gzip.open(path, "rb") as handle:
        return np.frombuffer(handle.read(), np.uint8, offset=offset)


def _read_keras_cache(name, paths):
    if name == "mnist":
        with np.load(paths[0], allow_pickle=False) as arrays:
            return arrays["x_train"], arrays["y_train"], arrays["x_test"], arrays["y_test"]
    if name == "fashion_mnist":
        y_train, y_test = _read_idx(paths[0], 8), _read_idx(paths[2], 8)
        x_train = _read_idx(paths[1], 16).reshape(len(y_train), 28, 28)
        x_test = _read_idx(paths[3], 16).reshape(len(y_test), 28, 28)
        return x_train, y_train, x_test, y_test
    label_key = "labels" if name == "cifar10" else "fine_labels"
    train = [_read_cifar_batch(p, label_key) for p in paths[:-1]]
    x_test, y_test = _read_cifar_batch(paths[-1], label_key)
    return np.concatenate([x for x, _ in train]), np.concatenate([y for _, y in train]), x_test, y_test


def _keras_dataset(config):
    name = config["name"]
    paths = keras_cache_paths(name)
    if all(os.path.exists(p) for p in paths):
        arrays = _read_keras_cache(name, paths)
    else:
        from harness.tfsetup import import_tensorflow

        import_tensorflow()  # silenced start-up logs, before Keras pulls TensorFlow in
        import keras

        (x_train, y_train), (x_test, y_test) = getattr(keras.datasets, name).load_data()
        arrays = x_train, y_train, x_test, y_test
    num_classes = 100 if name == "cifar100" else 10
    dataset = _standardise(name, *arrays, num_classes=num_classes)
    limit = config.get("train_limit")
    if limit:
        dataset = dataclasses.replace(dataset, x_train=dataset.x_train[:limit], y_train=dataset.y_train[:limit])
    return dataset
