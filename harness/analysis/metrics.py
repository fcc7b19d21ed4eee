"""Every metric, described once: the table the trial, the tables, summary.md, comparisons and the report read.

Each metric of a run directory's tables has one `Metric` entry here: when it is produced (`curve`: at every
evaluation step, in curves.csv; `final`: once after training, in summary.csv; `layer`: per normalization
layer, in layers.csv), its label and unit, the range its values can take (a verdict clips intervals to it),
whether higher is better, and the report figures or groups that show it (`groups`). Nothing else spells a
metric name out: code that needs one by its role imports the constant (`COMPARED`, the metric every comparison
and the headline test) or asks for a group (`in_group`).

The final numbers computed after training are `Evaluator` entries (`EVALUATORS`, big_vision style: each
names the metrics it returns). Adding a final metric is one entry there; a user adds one through a plugin
(entry point group `harness.metrics`, or "module.path:attribute"), enabled per scenario with
`analysis.metrics: [name, ...]`. The table is enforced: `check_names` refuses a metric it does not hold, so
none reaches summary.csv unregistered. This module imports no TensorFlow, so validation and the report read it.
"""

from __future__ import annotations

import dataclasses
import math
import typing

CURVE, FINAL, LAYER = "curve", "final", "layer"
QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)

# The report's figures and groups a metric can belong to (`Metric.groups`).
CURVES = "curves"        # the learning-curves figure
SUMMARY = "summary"      # the columns of summary.md's table
LOGITS = "logits"        # the logit-mismatch figure and table
MISMATCH = "mismatch"    # the per-layer mismatch figure
CLIP = "clip"            # the clip-fraction figure
TIMING = "timing"        # the cost section (time per step)
EXTRA = "extra"          # the "other metrics" table: metric plugins, unless they name another group
GROUPS = (CURVES, SUMMARY, LOGITS, MISMATCH, CLIP, TIMING, EXTRA)
UNITS = ("fraction", "nats", "ratio", "seconds", "ms", "count")

ENTRY_POINT_GROUP = "harness.metrics"


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
        `fraction` (shown in percent), `nats`, `ratio`, `seconds`, `ms`, `count`.
    low, high : float
        The range of its values (`math.inf` when unbounded).
    higher_is_better : bool or None
        The direction; None when neither is better (a diagnostic).
    mode : str or None
        For the accuracy of an evaluation mode: the mode's short name (the report's "evaluation modes").
    groups : tuple of str
        The report figures and groups that show it (`GROUPS`).
    """

    name: str
    produced: tuple
    label: str
    unit: str
    low: float = 0.0
    high: float = math.inf
    higher_is_better: bool | None = None
    mode: str | None = None
    groups: tuple = ()

    def __post_init__(self) -> None:
        unknown = set(self.produced) - {CURVE, FINAL, LAYER}
        if unknown or not self.produced:
            raise ValueError(f"produced must be a non-empty subset of curve, final, layer. "
                             f"Received: produced={self.produced!r}")
        if not self.low <= self.high:
            raise ValueError(f"low must be <= high. Received: low={self.low}, high={self.high}")
        if self.unit not in UNITS:
            raise ValueError(f"unit must be one of {', '.join(UNITS)}. Received: unit={self.unit!r}")
        if set(self.groups) - set(GROUPS):
            raise ValueError(f"groups must be among {', '.join(GROUPS)}. Received: groups={self.groups!r}")


def _accuracy(name: str, label: str, mode: str | None, produced: tuple[str, ...] = (CURVE, FINAL),
              groups: tuple[str, ...] = (SUMMARY,)) -> Metric:
    return Metric(name, produced, label, "fraction", 0.0, 1.0, True, mode, groups)


# The metric every comparison, the headline and summary.md's difference column test.
COMPARED = "acc_inference"
# Roles the report reads by name: the training accuracy (the headline's overfitting check), the time per step.
TRAINING_ACCURACY = "train_acc"
STEP_TIME = "ms_per_step"
BATCH_SAMPLER = "acc_batch_sampler"
# Metrics renamed since: {old name: new name}; a run directory written before the rename is read with the new one.
RENAMED = {"acc_precise": "acc_precise_iid"}  # before the PreciseBN split (acc_precise_own) it was one metric

# Metrics of the training loop and of every evaluation step (harness.analysis.analyzer.Analyzer.evaluate), the
# per-layer statistics (Analyzer.layer_statistics) and the trial's time: produced by the code that measures them.
_MEASURED = [
    # train_*: over the training batches since the previous evaluation
    Metric("train_loss", (CURVE, FINAL), "training loss (cross-entropy)", "nats", higher_is_better=False,
           groups=(CURVES,)),
    _accuracy(TRAINING_ACCURACY, "training accuracy", None, groups=()),
    # the evaluation modes, in the report's order
    _accuracy(COMPARED, "test accuracy, inference", "inference\n(moving stats)", groups=(CURVES, SUMMARY)),
]
_AFTER_MODES = [
    Metric("clip_fraction", (CURVE, LAYER), "channels with r or d at the clip", "fraction", 0.0, 1.0,
           groups=(CLIP,)),
    Metric("mismatch_local", (LAYER,), "relative L2 train/inference mismatch, same input", "ratio",
           higher_is_better=False, groups=(MISMATCH,)),
    Metric("mismatch_propagated", (LAYER,), "relative L2 train/inference mismatch, through the network", "ratio",
           higher_is_better=False, groups=(MISMATCH,)),
    *[Metric(f"abs_log_r_q{round(q * 100):02d}", (LAYER,), f"{round(q * 100)}% quantile over channels of "
             "|log r| = |log(sigma_B / sigma)|", "ratio") for q in QUANTILES],
    *[Metric(f"abs_d_q{round(q * 100):02d}", (LAYER,), f"{round(q * 100)}% quantile over channels of "
             "|d| = |mu_B - mu| / sigma", "ratio") for q in QUANTILES],
    Metric("seconds", (FINAL,), "wall time per trial", "seconds", higher_is_better=False, groups=(TIMING,)),
    Metric(STEP_TIME, (FINAL,), "time per training step", "ms", higher_is_better=False, groups=(TIMING,)),
]


class FinalContext:
    """What a final evaluator reads once training is over (the model is read, never changed).

    `analyzer`: the trial's `harness.analysis.analyzer.Analyzer`; `config`: the trial config; `batches`:
    index batches by purpose (`sampler`: test batches of the scenario's sampler; `iid_test` / `iid_weights`:
    i.i.d. test batches covering every example; `precise` / `own`: training batches for the PreciseBN estimates).
    A plugin needs only `inference_logits()` and `labels`.
    """

    def __init__(self, analyzer: typing.Any, config: dict, batches: dict) -> None:
        """Hold the trial's analyzer, config and batches; the inference logits are computed on first use."""
        self.analyzer, self.config, self.batches = analyzer, config, batches
        self._inference_logits = None

    @property
    def labels(self) -> typing.Any:
        """(n_test,) integer labels of the test examples the analysis uses."""
        return self.analyzer.y_test

    def inference_logits(self) -> typing.Any:
        """(n_test, classes) logits of the trained model in inference mode (population statistics), computed once."""
        if self._inference_logits is None:
            self._inference_logits = self.analyzer.inference_logits()
        return self._inference_logits


@dataclasses.dataclass(frozen=True)
class Evaluator:
    """One entry of the final analysis: the metrics it produces, and `compute(context) -> {name: value}`.

    A value of None means "not measurable for this model" and is left out; a name it does not declare is refused.
    """

    name: str
    metrics: tuple
    compute: typing.Callable[[FinalContext], dict]

    def __call__(self, context: FinalContext) -> dict:
        """The evaluator's numbers (None values left out), checked against the metrics it declares."""
        values = self.compute(context)
        declared = {m.name for m in self.metrics}
        undeclared = sorted(set(values) - declared)
        if undeclared:
            raise ValueError(f"metric evaluator {self.name!r} returned {', '.join(undeclared)}, which it does not "
                             f"declare (declared: {', '.join(sorted(declared))})")
        return {name: float(value) for name, value in values.items() if value is not None}


EVALUATORS = [
    Evaluator("batch_iid", (_accuracy("acc_batch_iid", "test accuracy, batch stats on i.i.d. batches",
                                      "batch stats\ni.i.d. batches", produced=(FINAL,), groups=()),),
              lambda c: {"acc_batch_iid": c.analyzer.acc_batch(c.batches["iid_test"], c.batches["iid_weights"])}),
    Evaluator("precise", (
        _accuracy("acc_precise_iid", "test accuracy, PreciseBN: population statistics from i.i.d. training batches",
                  "PreciseBN\ni.i.d. batches", produced=(FINAL,)),
        _accuracy("acc_precise_own", "test accuracy, the layer's own statistic re-estimated on sampler batches",
                  "own statistic\nsampler batches", produced=(FINAL,))),
        # None: a layer with batch statistics the harness cannot read or set
        lambda c: {"acc_precise_iid": c.analyzer.acc_precise(c.batches["precise"]),
                   "acc_precise_own": c.analyzer.acc_precise_own(c.batches["own"])}),
    Evaluator("logits", (
        Metric("logit_disagreement", (FINAL,), "predictions that differ", "fraction", 0.0, 1.0, False,
               groups=(LOGITS,)),
        Metric("logit_kl", (FINAL,), "KL(train || inference)", "nats", higher_is_better=False, groups=(LOGITS,))),
        lambda c: c.analyzer.logit_mismatch(c.batches["sampler"])),
]

_SAMPLER_MODE = _accuracy(BATCH_SAMPLER, "test accuracy, batch stats on sampler batches",
                          "batch stats\nsampler batches", groups=(CURVES, SUMMARY))
# The built-in table, in table order: the evaluation modes together, as the report shows them (the first
# evaluator's i.i.d. batch-statistics mode, the sampler's, then every other evaluator's metrics, in EVALUATORS
# order: a new entry there is in the table, and so in summary.csv and the report, with nothing else to edit).
_BATCH_IID, = EVALUATORS[0].metrics
METRICS = {m.name: m for m in [*_MEASURED, _BATCH_IID, _SAMPLER_MODE,
                               *(m for evaluator in EVALUATORS[1:] for m in evaluator.metrics), *_AFTER_MODES]}


def training_window(losses: list, correct: int, batch_size: int) -> dict:
    """train_loss and train_acc over the training batches since the previous evaluation."""
    return {"train_loss": _mean(losses),
            TRAINING_ACCURACY: correct / (len(losses) * batch_size)}


def _mean(values: typing.Any) -> float:
    import numpy as np

    return float(np.mean(values))


def trial_timing(seconds: float, ms_per_step: float) -> dict:
    """The trial's time as final metrics."""
    return {"seconds": seconds, STEP_TIME: ms_per_step}


# -- plugins ------------------------------------------------------------------------------------------------
def _plugin_error(name: typing.Any, reason: str) -> Exception:
    from harness.errors import ScenarioError

    return ScenarioError("analysis.metrics", name, reason)


def _load_plugin(name: str) -> typing.Any:
    """The object a metric plugin name stands for: an entry point of `harness.metrics` or "module.path:attribute".

    The one place metric plugins are resolved (through `harness.plugins.resolve`); nothing here imports TensorFlow.
    """
    from harness.plugins import resolve as plugins

    found, _ = plugins.resolve("analysis.metrics", name, {}, ENTRY_POINT_GROUP, "metric plugin",
                               error=lambda _param, value, reason: _plugin_error(value, reason))
    return found


def _as_metric(value: typing.Any, plugin: str) -> Metric:
    if isinstance(value, Metric):
        metric = value
    elif isinstance(value, dict):
        try:
            metric = Metric(**{"produced": (FINAL,), "groups": (EXTRA,), **value})
        except (TypeError, ValueError) as error:
            raise _plugin_error(plugin, f"declares a bad metric {value!r} ({error})") from None
    else:
        raise _plugin_error(plugin, f"declares {value!r}: a metric is a Metric or a dict of its fields")
    if metric.produced != (FINAL,):
        raise _plugin_error(plugin, f"declares metric {metric.name!r} produced {metric.produced}: a plugin's "
                                    "metrics are final numbers, produced ('final',)")
    if metric.name in METRICS:
        raise _plugin_error(plugin, f"declares metric {metric.name!r}, a built-in metric's name")
    return metric


def plugin(name: str) -> Evaluator:
    """The evaluator of metric plugin `name` (ScenarioError, one line, for an unknown or malformed one).

    A plugin is an `Evaluator`, or a callable `f(context) -> {metric: value}` (context: `FinalContext`) with an
    attribute `metrics`: a list of `Metric`s or of dicts of their fields (`produced` defaults to final, `groups`
    to the report's "other metrics" table).
    """
    found = _load_plugin(name)
    if isinstance(found, Evaluator):
        declared, compute = found.metrics, found.compute
    elif callable(found) and isinstance(getattr(found, "metrics", None), (list, tuple)) and found.metrics:
        declared, compute = found.metrics, found
    else:
        raise _plugin_error(name, "is not a metric plugin (an Evaluator, or a callable with a non-empty list "
                                  "`metrics` of the metrics it returns)")
    return Evaluator(name, tuple(_as_metric(m, name) for m in declared), compute)


def check_plugins(names: list) -> list:
    """`analysis.metrics` checked: a list of distinct plugin names, each loadable, their metric names distinct.
    Returns the names. Raises ScenarioError (one line) before anything heavy is imported."""
    if not isinstance(names, list):
        raise _plugin_error(names, "must be a list of metric plugin names")
    seen: dict[str, str] = {}
    for name in names:
        for metric in plugin(name).metrics:
            if metric.name in seen:
                raise _plugin_error(name, f"declares metric {metric.name!r}, which plugin {seen[metric.name]!r} "
                                          "declares too")
            seen[metric.name] = name
    return names


def final_evaluators(plugins: typing.Iterable[str] = ()) -> list:
    """The evaluators a trial runs after training, in order: the built-ins, then the scenario's plugins."""
    return [*EVALUATORS, *(plugin(name) for name in plugins)]


def table(plugins: typing.Iterable[str] = ()) -> dict:
    """{name: Metric} of a run: the built-in table, then the metrics of the scenario's plugins (`analysis.metrics`)."""
    out = dict(METRICS)
    for name in plugins or ():
        out.update({m.name: m for m in plugin(name).metrics})
    return out


def check_names(names: typing.Iterable[str], known: dict | None = None, where: str = "a table") -> None:
    """ValueError (one line) when a metric name is not in `known` (default the built-in table): nothing reaches
    the run directory's tables unregistered."""
    known = METRICS if known is None else known
    unknown = sorted({str(n) for n in names} - set(known))
    if unknown:
        raise ValueError(f"metric(s) {', '.join(unknown)} in {where} are not in the metrics table "
                         "(harness.analysis.metrics: a built-in entry, or a plugin named in analysis.metrics)")


def produced(where: str, known: dict | None = None) -> list:
    """Names of the metrics produced `where` (curve, final or layer), in table order."""
    return [name for name, metric in (METRICS if known is None else known).items() if where in metric.produced]


def in_group(group: str, known: dict | None = None) -> list:
    """Names of the metrics the report's figure or group `group` shows, in table order."""
    return [name for name, metric in (METRICS if known is None else known).items() if group in metric.groups]


def accuracy_modes() -> list:
    """The accuracies of the evaluation modes, in the report's order."""
    return [name for name, metric in METRICS.items() if metric.mode is not None]


UNIT_SHOWN = {"fraction": "%", "nats": "nats", "ratio": "ratio", "seconds": "s", "ms": "ms", "count": ""}


def display_scale(name: str, known: dict | None = None) -> float:
    """What a value is multiplied by for display: fractions are shown in percent."""
    return 100.0 if (METRICS if known is None else known)[name].unit == "fraction" else 1.0


def axis_label(name: str, known: dict | None = None) -> str:
    """`test accuracy, inference (%)`: the label with the unit a value is shown in."""
    metric = (METRICS if known is None else known)[name]
    shown = UNIT_SHOWN.get(metric.unit, metric.unit)
    return f"{metric.label} ({shown})" if shown else metric.label


def bounds(name: str, known: dict | None = None, scale: float = 1.0) -> tuple:
    """(low, high) of a metric's values, times `scale`; KeyError for a name the table does not hold."""
    metric = (METRICS if known is None else known)[name]
    return metric.low * scale, metric.high * scale
