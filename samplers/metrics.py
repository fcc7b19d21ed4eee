"""How non-i.i.d. a stream of index batches is, measured against the dataset's labels.

Label-histogram distances are nominal (total variation, Hellinger), never an
ordinal distance over class ids, whose order means nothing. All functions take
`batches` as an int array (n_batches, batch_size) of example indices (a list of
lists works too) and are vectorised over batches.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
from numpy.typing import NDArray


def _batches(batches: npt.ArrayLike) -> NDArray[np.int64]:
    b = np.asarray(batches, dtype=np.int64)
    if b.ndim != 2:
        raise ValueError(f"batches must be a 2-D array (n_batches, batch_size). Received: shape={b.shape}")
    return b


def _codes(labels: npt.ArrayLike, num_classes: int | None) -> tuple[NDArray[np.integer], int]:
    """Labels as codes 0..C-1 plus C (distinct sorted labels, or 0..num_classes-1)."""
    y = np.asarray(labels)
    if y.ndim != 1 or not np.issubdtype(y.dtype, np.integer):
        raise ValueError(f"labels must be a 1-D integer array. Received: dtype={y.dtype}, shape={y.shape}")
    if num_classes is None:
        values, codes = np.unique(y, return_inverse=True)
        return codes.reshape(-1), values.size
    if y.size and (y.min() < 0 or y.max() >= num_classes):
        raise ValueError(f"labels must lie in [0, num_classes). Received: num_classes={num_classes}, "
                         f"labels in [{y.min()}, {y.max()}]")
    return y.astype(np.int64), int(num_classes)


def _histograms(batches: npt.ArrayLike, labels: npt.ArrayLike, num_classes: int | None
                ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Per-batch label distributions (n, C) and the dataset's (C,)."""
    b = _batches(batches)
    codes, n_classes = _codes(labels, num_classes)
    counts = composition(b, labels, num_classes).T.astype(np.float64)
    batch_p = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    data_p = np.bincount(codes, minlength=n_classes) / max(codes.size, 1)
    return batch_p, data_p


def composition(batches: npt.ArrayLike, labels: npt.ArrayLike, num_classes: int | None = None) -> NDArray[np.int64]:
    """Label counts per batch: int array (classes, n_batches).

    Rows are the distinct labels in sorted order, or 0..num_classes-1 when
    `num_classes` is given.
    """
    b = _batches(batches)
    codes, n_classes = _codes(labels, num_classes)
    n = b.shape[0]
    cells = np.repeat(np.arange(n, dtype=np.int64) * n_classes, b.shape[1]) + codes[b.reshape(-1)]
    return np.bincount(cells, minlength=n * n_classes).reshape(n, n_classes).T


def tv_distance(batches: npt.ArrayLike, labels: npt.ArrayLike, num_classes: int | None = None
                ) -> NDArray[np.float64]:
    """Per-batch total variation distance between the batch's and the dataset's label histograms.

    0.5 * sum_c |p_batch(c) - p_data(c)|; 0 for identical histograms, 1 for disjoint ones.
    """
    batch_p, data_p = _histograms(batches, labels, num_classes)
    return 0.5 * np.abs(batch_p - data_p).sum(axis=1)


def hellinger_distance(batches: npt.ArrayLike, labels: npt.ArrayLike, num_classes: int | None = None
                       ) -> NDArray[np.float64]:
    """Per-batch Hellinger distance sqrt(1 - sum_c sqrt(p_batch(c) p_data(c))), in [0, 1]."""
    batch_p, data_p = _histograms(batches, labels, num_classes)
    affinity = np.sqrt(batch_p * data_p).sum(axis=1)
    return np.sqrt(np.clip(1.0 - affinity, 0.0, 1.0))


def effective_classes(batches: npt.ArrayLike, labels: npt.ArrayLike, num_classes: int | None = None
                      ) -> NDArray[np.float64]:
    """Per-batch effective number of classes: exp of the batch's label entropy (k equal classes -> k)."""
    batch_p, _ = _histograms(batches, labels, num_classes)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(batch_p > 0, batch_p * np.log(batch_p), 0.0)
    return np.exp(-terms.sum(axis=1))


def within_batch_repeats(batches: npt.ArrayLike) -> NDArray[np.float64]:
    """Per-batch fraction of entries that repeat an index already in the batch: (size - distinct) / size."""
    b = np.sort(_batches(batches), axis=1)
    if b.shape[1] == 0:
        return np.zeros(b.shape[0])
    return (b[:, 1:] == b[:, :-1]).sum(axis=1) / b.shape[1]


def epoch_coverage(batches: npt.ArrayLike, n_examples: int) -> float:
    """Fraction of the dataset covered per epoch, relative to what an epoch can cover.

    The batches are split into consecutive epochs of n_examples // batch_size
    batches (the last, partial one counts only if it is the only one); for each
    epoch, distinct indices / min(n_examples, indices drawn). 1.0 means no
    example was drawn twice while others were skipped (the `iid` sampler);
    sampling with replacement scores lower. Returns the mean over epochs.
    """
    b = _batches(batches)
    n, size = b.shape
    if n == 0 or size == 0:
        return float("nan")
    per_epoch = max(n_examples // size, 1)
    n_epochs = max(n // per_epoch, 1)
    scores: list[float] = []
    for e in range(n_epochs):  # one iteration per epoch
        window = b[e * per_epoch:(e + 1) * per_epoch] if n >= per_epoch else b
        scores.append(np.unique(window).size / min(n_examples, window.size))
    return float(np.mean(scores))


def summarize(batches: npt.ArrayLike, labels: NDArray[np.integer] | Sequence[int]) -> dict[str, float]:
    """Means over the batches: tv_distance, hellinger_distance, effective_classes, coverage, repeat_rate."""
    b = _batches(batches)
    return {
        "tv_distance": float(np.mean(tv_distance(b, labels))),
        "hellinger_distance": float(np.mean(hellinger_distance(b, labels))),
        "effective_classes": float(np.mean(effective_classes(b, labels))),
        "coverage": epoch_coverage(b, len(labels)),
        "repeat_rate": float(np.mean(within_batch_repeats(b))),
    }
