"""Label-composition heatmap for the report (seaborn and matplotlib imported on first use)."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from harness.runtime import heavy
from samplers.metrics import composition


def composition_heatmap(batches: npt.ArrayLike, labels: npt.ArrayLike, n_batches: int = 32,
                        ax: Any = None) -> Any:
    """Heatmap of label counts, classes x the first `n_batches` batches; returns the matplotlib Figure.

    Draws into `ax` when given, else into a new Figure (no pyplot, so no GUI
    backend and no global figure state).
    """
    sns = heavy.seaborn()
    Figure = heavy.module("matplotlib.figure").Figure

    b = np.asarray(batches, dtype=np.int64)[:n_batches]
    counts = composition(b, labels)
    classes = np.unique(np.asarray(labels))
    if ax is None:
        height = min(2.0 + 0.18 * classes.size, 12.0)
        width = min(3.0 + 0.22 * b.shape[0], 14.0)
        fig = Figure(figsize=(width, height), layout="constrained")
        ax = fig.add_subplot()
    every = max(1, classes.size // 25)  # readable tick labels for many classes
    sns.heatmap(counts, ax=ax, cmap="viridis", cbar_kws={"label": "examples"},
                xticklabels=max(1, b.shape[0] // 16), yticklabels=every)
    ax.set_yticklabels([str(c) for c in classes[::every]], rotation=0)
    ax.set_xlabel("batch")
    ax.set_ylabel("label")
    ax.set_title("label composition of the first batches")
    return ax.figure
