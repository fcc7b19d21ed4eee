"""`ece`: expected calibration error of the trained model's inference-mode predictions on the test set.

A metric plugin of the harness (entry point group `harness.metrics`). Enable it in a scenario with

    analysis:
      metrics: [ece]

The plugin is a callable taking the trial's final-analysis context and returning {metric name: value};
its `metrics` attribute declares each metric it returns (name, label, unit, range, direction), which is all
the harness needs to put it in summary.csv, summary.md and the report. It imports NumPy only.
"""

from __future__ import annotations

import numpy as np

BINS = 15


def expected_calibration_error(probabilities: np.ndarray, labels: np.ndarray, bins: int = BINS) -> float:
    """ECE over `bins` equal-width confidence bins on [0, 1] (Guo et al. 2017, "On calibration of modern
    neural networks"): sum over bins of |bin| / n * |accuracy(bin) - mean confidence(bin)|, where an
    example's confidence is its largest class probability and a bin is (lo, hi] (the first one [0, hi])."""
    probabilities = np.asarray(probabilities, np.float64)
    labels = np.asarray(labels)
    confidence = probabilities.max(axis=-1)
    correct = probabilities.argmax(axis=-1) == labels
    which = np.clip(np.ceil(confidence * bins).astype(int) - 1, 0, bins - 1)
    total = 0.0
    for b in range(bins):
        members = which == b
        if members.any():
            total += members.mean() * abs(correct[members].mean() - confidence[members].mean())
    return float(total)


def _softmax(logits: np.ndarray) -> np.ndarray:
    shifted = np.asarray(logits, np.float64) - np.max(logits, axis=-1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=-1, keepdims=True)


def ece(context) -> dict:
    """{"ece": ...} of the model's inference-mode (population statistics) predictions on the test examples."""
    return {"ece": expected_calibration_error(_softmax(context.inference_logits()), context.labels)}


ece.metrics = [{"name": "ece", "label": f"expected calibration error ({BINS} bins), inference mode",
                "unit": "fraction", "low": 0.0, "high": 1.0, "higher_is_better": False}]
