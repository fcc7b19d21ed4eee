"""Data sources: arrays in memory, labels int64; images channels-last, float32 or uint8 as stored.

Loading never imports TensorFlow and never downloads, so a scenario can be
validated (sampler feasibility is checked against the real labels) before
TensorFlow starts, offline. digits and synthetic data are float32 in [0, 1];
mnist, fashion_mnist, cifar10 and cifar100 are read by `harness.data.local`
from `data.path` or Keras's cache (`$KERAS_HOME/datasets`) and kept uint8
(`Dataset.to_float`, and `harness.data.augment` in the graph, make the network's input).

Every source is one registry entry (`DataSource`, at the end of this module; `BUILTINS` maps names to them):
its fields, its loader, its own check and the identity of the files it reads. A user's loader is found as
every plugin is (`harness.plugins.resolve`): an entry point of group `harness.datasets`, or `data.name:
"module.path:function"`, a function whose keyword arguments are its `data.` fields and which returns a
`Dataset` or the four arrays (x_train, y_train, x_test, y_test).
"""

from __future__ import annotations

import dataclasses
import functools
import math
import os
from collections.abc import Callable
from typing import Any

import numpy as np

from harness.errors import DataError, ScenarioError
from harness.params.fields import MAX_SEED, Field
from harness.plugins import resolve as plugins

ENTRY_POINT_GROUP = "harness.datasets"


@dataclasses.dataclass(frozen=True)
class Dataset:
    """Train and test splits. x: (N, H, W, C) images or (N, F) features, y: (N,) int64 in [0, num_classes).

    x is stored as loaded: float32 already in its final form, or uint8 images (kept so
    on the device, 4x smaller) that `to_float` (NumPy) and `harness.data.augment` (in the
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
    mean: np.ndarray | None = None
    std: np.ndarray | None = None

    @property
    def input_shape(self) -> tuple[int, ...]:
        """The shape of one example (without the batch axis)."""
        return self.x_train.shape[1:]

    def to_float(self, x: np.ndarray) -> np.ndarray:
        """The network's float32 input for stored examples `x` (the stored array itself when already final)."""
        if x.dtype == np.float32 and self.scale == 1.0 and self.mean is None:
            return x
        x = x.astype(np.float32)
        if self.scale != 1.0:
            x = x / np.float32(self.scale)
        if self.mean is not None:
            x = (x - self.mean) / self.std
        return x


def with_preprocessing(dataset: Dataset, config: dict[str, Any]) -> Dataset:
    """`dataset` with the data section's per-channel standardisation statistics (training split) set, if asked."""
    if not config.get("standardize"):
        return dataset
    x = dataset.x_train.astype(np.float64) / dataset.scale
    axes = tuple(range(x.ndim - 1))
    mean, std = x.mean(axis=axes), x.std(axis=axes)
    std = np.where(std > 0, std, 1.0)
    return dataclasses.replace(dataset, mean=mean.astype(np.float32), std=std.astype(np.float32))


@dataclasses.dataclass(frozen=True)
class DataSource:
    """One data source a scenario's `data.name` can name (the registry's entry).

    Parameters
    ----------
    name : str
        As `data.name` names it.
    description : str
        One line.
    fields : dict
        Its own `data.` fields ({name: `harness.params.fields.Field`}): validation and the JSON Schema read them. A
        field named `path` is a file or folder, relative to the scenario file.
    load : callable
        `load(config) -> Dataset` for the validated `data` section (before `standardize`). Never imports
        TensorFlow, never downloads.
    check : callable, optional
        `check(data)` on the validated section, before anything is loaded; raises `ScenarioError`.
    identity : callable, optional
        `identity(config) -> dict`: what of the files it reads makes a saved trial stale (merged into the
        trial's hash), e.g. their sizes and modification times.
    plugin : bool
        A user's loader (entry point group `harness.datasets` or "module.path:function").
    """

    name: str
    description: str
    fields: dict
    load: Callable[[dict[str, Any]], Dataset]
    check: Callable[[dict[str, Any]], object] | None = None
    identity: Callable[[dict[str, Any]], dict[str, Any]] | None = None
    plugin: bool = False

    @property
    def takes_path(self) -> bool:
        """Whether it reads a file or folder named by `data.path` (resolved relative to the scenario file)."""
        return "path" in self.fields


def get(name: str) -> DataSource:
    """The registry entry of `name`: a built-in, an entry point of group `harness.datasets`, or
    "module.path:function" (a loader function, or a `DataSource`). Raises DataError (field `name`)."""
    obj, builtin = plugins.resolve("name", name, BUILTINS, ENTRY_POINT_GROUP, "data source", error=DataError)
    return obj if builtin else plugin_source(name, obj)


def available() -> list[str]:
    """The built-in data sources, then the installed plugins (module paths are not enumerable)."""
    return plugins.available(BUILTINS, ENTRY_POINT_GROUP)


def load(config: dict[str, Any]) -> Dataset:
    """Load the dataset a validated scenario's `data` section describes (its source from the registry)."""
    return with_preprocessing(get(config["name"]).load(config), config)


def plugin_source(name: str, obj: object) -> DataSource:
    """The entry of a user's loader: a `DataSource`, or a function whose keyword arguments (with defaults: the
    scenario may set them under `data:`) are its fields, returning a `Dataset` or the four arrays
    (x_train, y_train, x_test, y_test) as a .npz file holds them (used as they are: divide_by 1)."""
    if isinstance(obj, DataSource):
        return dataclasses.replace(obj, name=name, plugin=True)
    if not callable(obj) or isinstance(obj, type):
        raise DataError("name", name, f"is {obj!r}, not a data loader function")
    found, _ = plugins.signature_parameters(obj)
    fields = {key: Field(object) if default is plugins.REQUIRED else Field(object, default)
              for key, default in found.items() if default is plugins.REQUIRED or plugins.yaml_safe(default)}
    description = ((obj.__doc__ or "").strip().splitlines() or [f"plugin {name}"])[0]

    def load_plugin(config: dict[str, Any]) -> Dataset:
        result = obj(**{key: config[key] for key in fields if key in config})
        if isinstance(result, Dataset):
            return result
        if not isinstance(result, (tuple, list)) or len(result) != 4:
            raise DataError("name", name, f"returned {type(result).__name__}, not a Dataset or the four arrays "
                                          f"({', '.join(NPZ_KEYS)})")
        return from_arrays(name, *(np.asarray(a) for a in result),  # type: ignore[misc, arg-type]  # four arrays
                           divide_by=1, blame=("name", name))

    return DataSource(name, description, fields, load_plugin, plugin=True)


def _standardise(name: str, x_train: Any, y_train: Any, x_test: Any, y_test: Any,
                 num_classes: int | None = None) -> Dataset:
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


def _split(x: np.ndarray, y: np.ndarray, test_fraction: float, seed: int) -> list[Any]:
    """A stratified train/test split, the same for every trial of a scenario."""
    from sklearn.model_selection import train_test_split

    n_test, n_classes = math.ceil(test_fraction * len(y)), len(np.unique(y))
    if min(n_test, len(y) - n_test) < n_classes:
        raise DataError("test_fraction", test_fraction,
                        f"splits {len(y)} examples into {len(y) - n_test} train / {n_test} test, "
                        f"fewer than the {n_classes} classes in one of them")
    return train_test_split(x, y, test_size=test_fraction, random_state=seed, stratify=y)


def _digits(config: dict[str, Any]) -> Dataset:
    from sklearn.datasets import load_digits

    digits = load_digits()
    x_train, x_test, y_train, y_test = _split(
        digits.images, digits.target, config["test_fraction"], config["split_seed"]
    )
    return _standardise("digits", x_train, y_train, x_test, y_test, num_classes=10)


def synthetic(config: dict[str, Any]) -> Dataset:
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


def _npz(config: dict[str, Any]) -> Dataset:
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
    return from_arrays("npz", x_train, y_train, x_test, y_test, config.get("divide_by", "max"), blame=("path", path))


def from_arrays(name: str, x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray, y_test: np.ndarray,
                divide_by: str | float = "max", blame: tuple[str, object] = ("path", None)) -> Dataset:
    """A Dataset from the four arrays of a .npz file or a user's loader, checked (each problem a DataError on
    the field and value `blame`); `divide_by`: "max" (the training split's maximum, at least 1) or a number."""
    field, value = blame
    _check_npz_arrays(value, x_train, y_train, x_test, y_test, field)
    for split, x, y in (("train", x_train, y_train), ("test", x_test, y_test)):
        if x.ndim not in (2, 3, 4) or len(x) != len(y):
            raise DataError(field, value, f"x_{split} must be (N, F), (N, H, W) or (N, H, W, C) with one label per "
                                          "example")
        if not np.issubdtype(y.dtype, np.integer) or y.min() < 0:
            raise DataError(field, value, f"y_{split} must hold integer labels >= 0")
    if divide_by == "max":  # the training split's maximum (at least 1), as the harness always did
        return _standardise(name, x_train, y_train, x_test, y_test)
    labels = [np.asarray(y).reshape(-1).astype(np.int64) for y in (y_train, y_test)]
    num_classes = int(max(labels[0].max(), labels[1].max())) + 1
    if x_train.ndim == 3:
        x_train, x_test = x_train[..., None], x_test[..., None]
    if x_train.dtype == np.uint8 and x_test.dtype == np.uint8:  # images stay uint8, converted in the graph
        return Dataset(name, x_train, labels[0], x_test, labels[1], num_classes, scale=float(divide_by))
    x_train, x_test = (np.asarray(x, np.float32) / np.float32(divide_by) for x in (x_train, x_test))
    return Dataset(name, x_train, labels[0], x_test, labels[1], num_classes)


def _check_npz_arrays(path: object, x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray, y_test: np.ndarray,
                      field: str = "path") -> None:
    """What a user's arrays must be for every trial to work: examples in both splits, one example shape,
    finite numeric values, at least two classes. Each problem is a DataError naming the array."""
    for name, x, y in (("train", x_train, y_train), ("test", x_test, y_test)):
        if x.ndim < 1 or len(x) == 0 or y.ndim < 1 or len(y) == 0:
            raise DataError(field, path, f"x_{name} and y_{name} must hold at least one example "
                                          f"(shapes {x.shape} and {y.shape})")
        if x.ndim not in (2, 3, 4) or 0 in x.shape[1:]:
            raise DataError(field, path, f"x_{name} must be (N, F), (N, H, W) or (N, H, W, C) with F, H, W, C >= 1 "
                                          f"(shape {x.shape})")
        if not (np.issubdtype(x.dtype, np.integer) or np.issubdtype(x.dtype, np.floating)) or x.dtype == np.bool_:
            raise DataError(field, path, f"x_{name} must hold numbers (dtype {x.dtype})")
        if np.issubdtype(x.dtype, np.floating) and not np.isfinite(x).all():
            raise DataError(field, path, f"x_{name} holds NaN or infinite values")
    if x_test.shape[1:] != x_train.shape[1:]:
        raise DataError(field, path, f"x_test examples have shape {x_test.shape[1:]}, x_train {x_train.shape[1:]}; "
                                      "they must be the same")
    if np.issubdtype(y_train.dtype, np.integer) and len(np.unique(y_train)) < 2:
        raise DataError(field, path, "y_train holds a single class; classification needs at least two")


def _keras_dataset(config: dict[str, Any], num_classes: int = 10) -> Dataset:
    """mnist, fashion_mnist, cifar10, cifar100 from `data.path` or Keras's cache, as uint8 images (/255 in the
    graph); never downloads (harness.data.local says which files are missing and where they go)."""
    from harness.data.local import read_local

    name = config["name"]
    x_train, y_train, x_test, y_test = read_local(name, config.get("path"))
    if x_train.ndim == 3:
        x_train, x_test = x_train[..., None], x_test[..., None]
    labels = [np.asarray(y).reshape(-1).astype(np.int64) for y in (y_train, y_test)]
    dataset = Dataset(name, np.ascontiguousarray(x_train, np.uint8), labels[0],
                      np.ascontiguousarray(x_test, np.uint8), labels[1], num_classes, scale=255.0)
    limit = config.get("train_limit")
    if limit:
        dataset = dataclasses.replace(dataset, x_train=dataset.x_train[:limit], y_train=dataset.y_train[:limit])
    return dataset


# ------------------------------------------------------------------------------------------ the registry
def _split_fields(doc: bool = True) -> dict[str, Field]:
    return {"test_fraction": Field(float, 0.3, low=0, high=0.9, low_open=True,
                                   doc="Share of the examples held out for testing." if doc else ""),
            "split_seed": Field(int, 0, low=0, high=MAX_SEED, doc="Seed of the train/test split." if doc else "")}


def _check_npz(data: dict[str, Any]) -> None:
    if not os.path.isfile(data["path"]):
        raise ScenarioError("data.path", data["path"], "does not exist" if not os.path.exists(data["path"])
                            else "is not a file")
    divide_by = data["divide_by"]
    if divide_by != "max" and (isinstance(divide_by, bool) or not isinstance(divide_by, (int, float))
                               or not 0 < divide_by < math.inf):
        raise ScenarioError("data.divide_by", divide_by,
                            "must be 'max' (the training split's maximum) or a positive number (1: as stored)")


def _npz_identity(config: dict[str, Any]) -> dict[str, Any]:
    stat = os.stat(config["path"])
    return {"data_file": [os.path.abspath(config["path"]), stat.st_size, stat.st_mtime_ns]}


def _check_synthetic(data: dict[str, Any]) -> None:
    from harness.params.limits import MAX_SYNTHETIC_VALUES

    values = data["num_classes"] * data["examples_per_class"] * data["image_size"] ** 2 * data["channels"]
    if values > MAX_SYNTHETIC_VALUES:
        raise ScenarioError("data", values, f"synthetic pixel values (num_classes x examples_per_class x "
                                            f"image_size^2 x channels) exceed the limit {MAX_SYNTHETIC_VALUES:,}")


def _local_identity(config: dict[str, Any]) -> dict[str, Any]:
    from harness.data.local import source_files

    return {"data_files": source_files(config["name"], config.get("path"))}


def _local_source(name: str, description: str, num_classes: int) -> DataSource:
    fields = {"train_limit": Field(int, None, low=1, nullable=True, doc="Use only the first N training examples."),
              "path": Field(str, None, nullable=True, doc="A folder holding the official archive unpacked (relative "
                                                          "to the scenario file); null: Keras's cache. Never "
                                                          "downloaded.")}
    return DataSource(name, description, fields, functools.partial(_keras_dataset, num_classes=num_classes),
                      identity=_local_identity)


DIGITS = DataSource("digits", "scikit-learn's 8x8 digits (1797 images, 10 classes), split stratified",
                    _split_fields(), _digits)
SYNTHETIC = DataSource(
    "synthetic", "class-conditional images generated from a seed (any size and class count; no download)",
    {**_split_fields(doc=False),
     "num_classes": Field(int, 10, low=2),
     "image_size": Field(int, 8, low=4, high=512),
     "channels": Field(int, 1, low=1, high=16),
     "examples_per_class": Field(int, 150, low=4),
     "noise": Field(float, 1.0, low=0),
     "seed": Field(int, 0, low=0, high=MAX_SEED)},
    synthetic, check=_check_synthetic)
NPZ = DataSource(
    "npz", "a user's .npz file with x_train, y_train, x_test, y_test",
    {"path": Field(str, doc="A .npz file with x_train, y_train, x_test, y_test (relative to the scenario file)."),
     "divide_by": Field(object, "max", doc="max (the training split's maximum) or a number (255 keeps uint8 images "
                                           "uint8 until the graph).")},
    _npz, check=_check_npz, identity=_npz_identity)
MNIST = _local_source("mnist", "MNIST (28x28 grey, 10 classes) from data.path or Keras's cache", 10)
FASHION_MNIST = _local_source("fashion_mnist", "Fashion-MNIST (28x28 grey, 10 classes) from data.path or Keras's "
                                               "cache", 10)
CIFAR10 = _local_source("cifar10", "CIFAR-10 (32x32 colour, 10 classes) from data.path or Keras's cache", 10)
CIFAR100 = _local_source("cifar100", "CIFAR-100 (32x32 colour, 100 fine classes) from data.path or Keras's cache",
                         100)

BUILTINS = {
    "digits": "harness.data.sources:DIGITS",
    "synthetic": "harness.data.sources:SYNTHETIC",
    "npz": "harness.data.sources:NPZ",
    "mnist": "harness.data.sources:MNIST",
    "fashion_mnist": "harness.data.sources:FASHION_MNIST",
    "cifar10": "harness.data.sources:CIFAR10",
    "cifar100": "harness.data.sources:CIFAR100",
}
