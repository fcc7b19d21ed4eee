"""The sampler protocol: a seeded, stateful stream of index batches.

A sampler turns a label array into a stream of minibatches of example indices.
Plugins implement only `batches(n)`; this base class validates the common
arguments and derives epoch iteration, `len`, the parameter listing and the
TensorFlow adapter from it, so every sampler also works as a PyTorch
`DataLoader(batch_sampler=...)` and as a `tf.data.Dataset` without either
framework being imported here.
"""

from __future__ import annotations

import inspect
import numbers
from collections.abc import Iterator
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt
from numpy.typing import NDArray

from harness.errors import ParameterError
from harness.runtime import heavy


class _Required:
    """Marker for a sampler parameter that has no default."""

    def __repr__(self) -> str:
        return "<required>"


REQUIRED = _Required()

# Constructor arguments every sampler shares; `parameters()` lists the others.
COMMON_ARGUMENTS = ("labels", "batch_size", "seed", "features")


def _short_repr(value: Any) -> str:
    """repr() that stays one short line for arrays and long sequences."""
    if isinstance(value, np.ndarray) and (value.ndim != 1 or value.size > 8):
        return f"<array of shape {value.shape} and dtype {value.dtype}>"
    if isinstance(value, (list, tuple)) and len(value) > 8:
        return f"<{type(value).__name__} of length {len(value)}>"
    text = repr(value)
    return text if len(text) <= 80 and "\n" not in text else text.replace("\n", " ")[:77] + "..."


class SamplerParameterError(ParameterError):
    """An infeasible sampler argument, naming the parameter, its value and why (part of `harness.errors`).

    `param` is the argument name so the scenario validator can prefix the
    field path (`samplers.<name>.<param>`).
    """

    def __init__(self, param: str, value: Any, reason: str) -> None:
        """Store the three parts; the message reads `<param>: <value> <reason>`."""
        super().__init__(param, value, reason)
        self.args = (f"{param}: {_short_repr(value)} {reason}",)


# ---------------------------------------------------------------- validation
def check_int(param: str, value: Any, minimum: int | None = None, maximum: int | None = None) -> int:
    """Keras-style check of an integer argument (bools are not integers here)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise SamplerParameterError(param, value, "must be an integer")
    if minimum is not None and value < minimum:
        raise SamplerParameterError(param, value, f"must be >= {minimum}")
    if maximum is not None and value > maximum:  # type: ignore[operator]  # numbers.Integral is untyped
        raise SamplerParameterError(param, value, f"must be <= {maximum}")
    return int(value)


def check_real(param: str, value: Any, low: float | None = None, high: float | None = None,
               low_open: bool = False, allow_inf: bool = False) -> float:
    """Check a real number lies in [low, high] (or (low, high] with low_open)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise SamplerParameterError(param, value, "must be a number")
    value = float(value)
    if np.isnan(value) or (np.isinf(value) and not allow_inf):
        raise SamplerParameterError(param, value, "must be finite")
    if low is not None and (value <= low if low_open else value < low):
        raise SamplerParameterError(param, value, f"must be {'>' if low_open else '>='} {low}")
    if high is not None and value > high:
        raise SamplerParameterError(param, value, f"must be <= {high}")
    return value


def check_bool(param: str, value: Any) -> bool:
    """Check a boolean argument (Python or NumPy bool; not 0/1) and return it as a Python bool."""
    if not isinstance(value, (bool, np.bool_)):
        raise SamplerParameterError(param, value, "must be true or false")
    return bool(value)


class Sampler:
    """Base class of minibatch samplers: subclasses implement `batches(n)`.

    Arguments are stored unchanged as attributes of the same names
    (scikit-learn style); all randomness comes from
    `numpy.random.default_rng(seed)`. Derived data carry a trailing
    underscore: `classes_` (sorted distinct labels), `label_codes_` (each
    label's position in `classes_`), `class_counts_`.

    The stream is stateful: successive `batches(n)` calls (and successive
    epochs of iteration) continue it; two samplers built with the same
    arguments produce the same stream. The built-ins also make the stream
    independent of chunking (`batches(a)` then `batches(b)` equals
    `batches(a + b)`), by giving each purpose its own generator.

    Batch size and a normalizer's `microbatch_size` combine as follows:
    microbatches are contiguous groups of `microbatch_size` examples of the
    batch, and every built-in sampler lays a batch out group by group
    (class by class, cluster by cluster). So `class_correlated` with
    `classes_per_batch=k` and `microbatch_size = batch_size / k` puts exactly
    one class in each microbatch; `iid` with a small microbatch is the
    paper's microbatch experiment; and a small `batch_size` alone is the
    small-batch setting (no special sampler needed).
    """

    #: The built-in name of a sampler class of a module of the `samplers` package: declaring it makes the class a
    #: built-in (`samplers.registry` finds it; the module is all there is to add). None: not a built-in (a shared
    #: base class, or a plugin, which is named by its entry point or "module.path:ClassName").
    name: ClassVar[str | None] = None

    classes_: NDArray[np.integer]
    label_codes_: NDArray[np.integer]
    class_counts_: NDArray[np.int64]
    n_examples_: int
    rng: np.random.Generator

    def __init__(self, labels: npt.ArrayLike, batch_size: int, *, seed: int,
                 features: npt.ArrayLike | None = None) -> None:
        """Validate and store the common arguments and derive `classes_`, `label_codes_`, `class_counts_`."""
        self.labels = labels
        self.batch_size = batch_size
        self.seed = seed
        self.features = features

        y = np.asarray(labels)
        if y.ndim != 1 or y.dtype == np.bool_ or not np.issubdtype(y.dtype, np.integer):
            raise SamplerParameterError(
                "labels", labels, "must be a 1-D array of integers"
                f" (got dtype {y.dtype}, {y.ndim} dimension{'s' if y.ndim != 1 else ''})")
        if y.size == 0:
            raise SamplerParameterError("labels", labels, "must not be empty")
        check_int("batch_size", batch_size, minimum=1)
        if batch_size > y.size:
            raise SamplerParameterError(
                "batch_size", batch_size, f"exceeds the {y.size} examples in the labels")
        if seed is None or isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
            raise SamplerParameterError("seed", seed, "must be a non-negative integer")
        if features is not None:
            n_features = len(features) if hasattr(features, "__len__") else None
            if n_features != y.size:
                raise SamplerParameterError(
                    "features", f"length {n_features}",
                    f"does not match the {y.size} labels (features must be an (N, ...) array)")

        self.classes_, codes = np.unique(y, return_inverse=True)
        small = np.int16 if self.classes_.size < 2 ** 15 else np.int64
        self.label_codes_ = codes.reshape(-1).astype(small)  # small ints sort by radix sort
        self.class_counts_ = np.bincount(self.label_codes_, minlength=self.classes_.size)
        self.n_examples_ = int(y.size)
        self.rng = np.random.default_rng(seed)

    # ------------------------------------------------------------- protocol
    def batches(self, n: int) -> NDArray[np.int64]:
        """Return the next `n` batches of the stream: int64 array (n, batch_size)."""
        raise NotImplementedError(f"{type(self).__name__} must implement batches(n)")

    def __len__(self) -> int:
        """Batches in one epoch: as many as the data fill (the remainder is dropped)."""
        return self.n_examples_ // self.batch_size

    def __iter__(self) -> Iterator[list[int]]:
        """One epoch of batches as lists of ints (PyTorch `batch_sampler` protocol)."""
        for row in self.batches(len(self)):
            yield row.tolist()

    def as_tf_dataset(self, num_batches: int | None = None, chunk: int = 256) -> Any:
        """A `tf.data.Dataset` of int64 index batches of shape (batch_size,).

        With `num_batches` the batches are drawn now (deterministic, fast);
        without, the dataset is an endless generator drawing `chunk` batches
        at a time from this sampler's stream (so it advances this object).
        TensorFlow is imported here only.
        """
        tf = heavy.tensorflow()

        if num_batches is not None:
            return tf.data.Dataset.from_tensor_slices(self.batches(check_int("num_batches", num_batches, 0)))
        chunk = check_int("chunk", chunk, minimum=1)

        def generate() -> Iterator[NDArray[np.int64]]:
            while True:
                yield from self.batches(chunk)

        return tf.data.Dataset.from_generator(
            generate, output_signature=tf.TensorSpec((self.batch_size,), tf.int64))

    # ------------------------------------------------------- introspection
    @classmethod
    def parameters(cls) -> dict[str, Any]:
        """Sampler-specific parameters and their defaults, from the `__init__` signature."""
        params: dict[str, Any] = {}
        for name, p in inspect.signature(cls.__init__).parameters.items():
            if name == "self" or name in COMMON_ARGUMENTS:
                continue
            if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
                continue
            params[name] = REQUIRED if p.default is p.empty else p.default
        return params

    @classmethod
    def description(cls) -> str:
        """First line of the class docstring."""
        for line in (cls.__doc__ or "").strip().splitlines():
            if line.strip():
                return line.strip()
        return ""

    def get_params(self) -> dict[str, Any]:
        """Constructor arguments as stored (scikit-learn style)."""
        out = {name: getattr(self, name) for name in ("batch_size", "seed")}
        out.update({name: getattr(self, name) for name in self.parameters()})
        return out

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"

    # ------------------------------------------------------------- helpers
    def _check_batches_arg(self, n: int) -> int:
        return check_int("n", n, minimum=0)
