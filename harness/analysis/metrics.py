"""What the analyzer measures, described once: the metric table the trial, the tables and the report read.

Each metric of a run directory's tables has one `Metric` entry here: when it is produced (`curve`: at every
evaluation step, in curves.csv; `final`: once after training, in summary.csv; `layer`: per normalization
layer, in layers.csv), its label and unit, the range its values can take (a verdict clips intervals to it),
and whether higher is better. Adding a metric to `harness.analysis.analyzer.Analyzer` means adding its entry here
(and its test); nothing else spells metric names out. This module imports no TensorFlow, so the report can
read it.
"""

from __future__ import annotations

import dataclasses
import math

CURVE, FINAL, LAYER = "curve", "final", "layer"
QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)


@dataclasses.dataclass(frozen=True)
class Metric:
    """One measured quantity.

    Parameters
    ----------
    name : str
        The `metric` column's value in the tables.
    produced : tuple of str
        Where it appears: any of `curve`, `final`, `layer`.
    label : str
        What it is, for axes and table headers (without the unit).
    unit : str
        `fraction` (shown in percent), `nats`, `ratio`, `seconds`, `ms`.
    low, high : float
        The range of its values (`math.inf` when unbounded).
    higher_is_better : bool or None
        None when neither direction is better (a diagnostic).
    mode : str or None
        For the accuracy of an evaluation mode: the mode's short name (the report's "evaluation modes").
    """

    name: str
    produced: tuple
    label: str
    unit: str
    low: float = 0.0
    high: float = math.inf
    higher_is_better: bool | None = None
    mode: str | None = None

    def __post_init__(self):
        unknown = set(self.produced) - {CURVE, FINAL, LAYER}
        if unknown or not self.produced:
            raise ValueError(f"produced must be a non-empty subset of curve, final, layer. "
                             f"Received: produced={self.produced!r}")
        if not self.low <= self.high:
            raise ValueError(f"low must be <= high. Received: low={self.low}, high={self.high}")


def _accuracy(name, label, mode, produced=(CURVE, FINAL)):
    return Metric(name, produced, label, "fraction", 0.0, 1.0, True, mode)


METRICS = {m.name: m for m in [
    # train_*: over the training batches since the previous evaluation
    Metric("train_loss", (CURVE, FINAL), "training loss (cross-entropy)", "nats", higher_is_better=False),
    _accuracy("train_acc", "training accuracy", None),
    # the evaluation modes, in the report's order
    _accuracy("acc_inference", "test accuracy, inference", "inference\n(moving stats)"),
    _accuracy("acc_batch_iid", "test accuracy, batch stats on i.i.d. batches", "batch stats\ni.i.d. batches",
              produced=(FINAL,)),
    _accuracy("acc_batch_sampler", "test accuracy, batch stats on sampler batches", "batch stats\nsampler batches"),
    _accuracy("acc_precise_iid", "test accuracy, PreciseBN: population statistics from i.i.d. training batches",
              "PreciseBN\ni.i.d. batches", produced=(FINAL,)),
    _accuracy("acc_precise_own", "test accuracy, the layer's own statistic re-estimated on sampler batches",
              "own statistic\nsampler batches", produced=(FINAL,)),
    Metric("logit_disagreement", (FINAL,), "predictions that differ", "fraction", 0.0, 1.0, False),
    Metric("logit_kl", (FINAL,), "KL(train || inference)", "nats", higher_is_better=False),
    Metric("clip_fraction", (CURVE, LAYER), "channels with r or d at the clip", "fraction", 0.0, 1.0),
    Metric("mismatch_local", (LAYER,), "relative L2 train/inference mismatch, same input", "ratio",
           higher_is_better=False),
    Metric("mismatch_propagated", (LAYER,), "relative L2 train/inference mismatch, through the network", "ratio",
           higher_is_better=False),
    *[Metric(f"abs_log_r_q{round(q * 100):02d}", (LAYER,), f"{round(q * 100)}% quantile over channels of "
             "|log r| = |log(sigma_B / sigma)|", "ratio") for q in QUANTILES],
    *[Metric(f"abs_d_q{round(q * 100):02d}", (LAYER,), f"{round(q * 100)}% quantile over channels of "
             "|d| = |mu_B - mu| / sigma", "ratio") for q in QUANTILES],
    Metric("seconds", (FINAL,), "wall time of the trial", "seconds", higher_is_better=False),
    Metric("ms_per_step", (FINAL,), "training time per step", "ms", higher_is_better=False),
]}


def produced(where):
    """Names of the metrics produced `where` (curve, final or layer), in table order."""
    return [name for name, metric in METRICS.items() if where in metric.produced]


def accuracy_modes():
    """The accuracies of the evaluation modes, in the report's order."""
    return [name for name, metric in METRICS.items() if metric.mode is not None]


UNIT_SHOWN = {"fraction": "%", "nats": "nats", "ratio": "ratio", "seconds": "s", "ms": "ms"}


def display_scale(name):
    """What a value is multiplied by for display: fractions are shown in percent."""
    return 100.0 if METRICS[name].unit == "fraction" else 1.0


def axis_label(name):
    """`test accuracy, inference (%)`: the label with the unit a value is shown in."""
    metric = METRICS[name]
    return f"{metric.label} ({UNIT_SHOWN.get(metric.unit, metric.unit)})"


def bounds(name):
    """(low, high) of a metric's values; (-inf, inf) for a name the table does not know."""
    metric = METRICS.get(name)
    return (metric.low, metric.high) if metric else (-math.inf, math.inf)
