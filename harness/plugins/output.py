"""Checks on what plugins hand back, so a broken plugin is one line naming it, never a hang or a crash later.

A sampler's `batches(n)` must return `n` rows of `batch_size` integer indices in [0, N): fewer rows would
make the training loop wait forever for steps that never come; an index out of range would fail deep inside
TensorFlow (negative) or after training (too large), far from its cause.
"""

from __future__ import annotations

from typing import Any

import numpy as np


class PluginOutputError(RuntimeError):
    """A plugin broke its contract; the message names the plugin and what it returned."""


def describe_error(error: BaseException) -> str:
    """`Type: first line of the message`, for an exception raised by a plugin (SystemExit included)."""
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0]}" if text else type(error).__name__


def checked_batches(sampler: Any, n: int, n_examples: int, name: str) -> np.ndarray:
    """`sampler.batches(n)` as an int64 array, checked: shape (n, batch_size), indices in [0, n_examples).

    name: how to call the sampler in the error (its name in the scenario).
    """
    try:
        stream = sampler.batches(n)
    except SystemExit as error:  # a plugin calling sys.exit must not end the run as if it had succeeded
        raise PluginOutputError(f"sampler {name}: batches({n}) raised {describe_error(error)}") from None
    array = np.asarray(stream)
    expected = (n, sampler.batch_size)
    if array.shape != expected:
        raise PluginOutputError(f"sampler {name}: batches({n}) returned an array of shape {array.shape}, "
                          f"expected {expected}")
    if array.size and not np.issubdtype(array.dtype, np.integer):
        raise PluginOutputError(f"sampler {name}: batches({n}) returned {array.dtype} values, expected integer indices")
    if array.size and (array.min() < 0 or array.max() >= n_examples):
        raise PluginOutputError(f"sampler {name}: batches({n}) returned indices in [{array.min()}, {array.max()}], "
                          f"outside [0, {n_examples - 1}]")
    return array.astype(np.int64, copy=False)
