"""summary.md's intervals are cut at each metric's range in the metrics table, as the report cuts them: a bounded
plugin metric (a fraction such as an expected calibration error) never shows an interval below 0."""

import math

import pandas as pd
from scipy import stats as scipy_stats

from harness.analysis import metrics as metric_table
from harness.results import tables


def _summary(metric, values_bn, values_brn):
    rows = [{"sampler": "iid", "normalizer": norm, "seed": seed, "metric": metric, "value": value}
            for norm, values in (("bn", values_bn), ("brn", values_brn)) for seed, value in enumerate(values)]
    return pd.DataFrame(rows)


def test_intervals_are_cut_at_the_range_the_metrics_table_gives():
    ece = metric_table.Metric("ece", (metric_table.FINAL,), "expected calibration error", "fraction", 0.0, 1.0,
                              higher_is_better=False, groups=(metric_table.EXTRA,))
    known = {**metric_table.METRICS, "ece": ece}
    values = [0.001, 0.002, 0.05]
    table = tables.seed_summary(_summary("ece", values, [0.9, 0.95, 0.99]), "bn", known)
    row = table[(table["normalizer"] == "bn")].iloc[0]
    # by hand: the t interval of the three values reaches below 0, so its low end is cut there and flagged
    mean, sd = sum(values) / 3, pd.Series(values).std(ddof=1)
    half = scipy_stats.t.ppf(0.975, 2) * sd / math.sqrt(3)
    assert mean - half < 0 and math.isclose(row["mean"], mean)
    assert row["lo"] == 0.0 and row["lo_clipped"] and math.isclose(row["hi"], mean + half)
    # a fraction lives in [0, 1] and a difference of two in [-1, 1]; a quantity in nats in [0, inf), its
    # differences anywhere; fractions stored in points (old run directories) scale with them
    assert tables.ranges("ece", known) == ((0.0, 1.0), (-1.0, 1.0))
    assert tables.ranges("ece", known, top=100.0) == ((0.0, 100.0), (-100.0, 100.0))
    nats = [name for name, metric in known.items() if metric.unit == "nats" and metric.high == math.inf]
    assert nats and tables.ranges(nats[0], known) == ((0.0, math.inf), None)
    # a metric the table does not hold is not cut
    free = tables.seed_summary(_summary("mystery", values, values), "bn", known).iloc[0]
    assert math.isclose(free["lo"], mean - half) and not free["lo_clipped"]
    text = tables.summary_markdown(_summary("ece", values, [0.9, 0.95, 0.99]), "bn", metrics=["ece"], known=known)
    assert tables.CUT_MARK in text.splitlines()[2]  # the bn row's ece cell marks its cut end
