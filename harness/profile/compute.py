"""The profile of trained conditions: per-cell accuracy, paired drops, the minibatch-dependence index, and
the index differences from each reference normalizer with Holm's correction over the profile's family.

- A cell (normalizer, condition, metric): the mean over seeds with its t interval (`harness.results.stats.mean_ci`),
  and the paired drop from the battery's reference condition (reference condition minus this condition, seed
  by seed, in points: positive is a loss).
- The index of a normalizer: the mean of its acc_inference drops over the battery's conditions other than
  the reference condition, in points: per seed the mean over its conditions, then the mean over seeds, with
  a percentile bootstrap interval over seeds (`bootstrap_mean_ci`). Its worst condition: the largest mean drop.
- The family: every normalizer against every reference normalizer (each unordered pair once); per seed the
  difference of the two indices over the conditions both have, a paired t test over seeds (`stats.paired_t_p`),
  Holm over the family (`stats.holm`). Established lower / higher: Holm-adjusted p < 0.05.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from harness.analysis.metrics import COMPARED as METRIC
from harness.results import rundir, stats
from harness.results.comparisons import ALPHA, DIFF_BOUNDS

if TYPE_CHECKING:
    from numpy.typing import ArrayLike
COLUMNS = ["normalizer", "condition", "metric", "mean", "ci_low", "ci_high", "drop", "drop_ci_low", "drop_ci_high",
           "n"]
N_BOOT = 2000


def values_frame(by_condition: dict[str, list[dict]]) -> pd.DataFrame:
    """Tidy (normalizer, condition, seed, metric, value) of every finished trial's accuracy metrics, in points."""
    from harness.results.loader import ACCURACY_METRICS

    rows = []
    for condition, results in by_condition.items():
        for result in results:
            if result.get("status") != rundir.OK:
                continue
            config = result["config"]
            for metric, value in (result.get("final") or {}).items():
                if metric in ACCURACY_METRICS and value is not None and math.isfinite(float(value)):
                    rows.append({"normalizer": config["normalizer"], "condition": condition, "seed": config["seed"],
                                 "metric": metric, "value": 100.0 * float(value)})
    return pd.DataFrame(rows, columns=["normalizer", "condition", "seed", "metric", "value"])


def _series(frame: pd.DataFrame, normalizer: str, condition: str, metric: str) -> pd.Series:
    selected = frame[(frame["normalizer"] == normalizer) & (frame["condition"] == condition)
                     & (frame["metric"] == metric)]
    return selected.set_index("seed")["value"].sort_index()


def cells(frame: pd.DataFrame, normalizers: list[str], conditions: list[str],
          reference_condition: str) -> pd.DataFrame:
    """profile.csv's rows: one per (normalizer, condition, metric) with values."""
    rows = []
    metrics = [m for m in dict.fromkeys(frame["metric"])]
    for normalizer in normalizers:
        for condition in conditions:
            for metric in metrics:
                values = _series(frame, normalizer, condition, metric)
                if values.empty:
                    continue
                summary = stats.mean_ci(values.to_numpy(), bounds=(0.0, 100.0))
                base = _series(frame, normalizer, reference_condition, metric)
                common = values.index.intersection(base.index)
                drop = stats.mean_ci((base.loc[common] - values.loc[common]).to_numpy(), bounds=DIFF_BOUNDS) \
                    if len(common) else stats.mean_ci([])
                if condition == reference_condition:
                    drop = {"mean": 0.0, "lo": math.nan, "hi": math.nan}
                rows.append({"normalizer": normalizer, "condition": condition, "metric": metric,
                             "mean": summary["mean"], "ci_low": summary["lo"], "ci_high": summary["hi"],
                             "drop": drop["mean"], "drop_ci_low": drop["lo"], "drop_ci_high": drop["hi"],
                             "n": summary["n"]})
    return pd.DataFrame(rows, columns=COLUMNS)


def drop_matrix(frame: pd.DataFrame, normalizer: str, conditions: list[str],
                reference_condition: str) -> pd.DataFrame:
    """DataFrame seeds x conditions (reference condition left out) of acc_inference drops, in points."""
    base = _series(frame, normalizer, reference_condition, METRIC)
    columns = {}
    for condition in conditions:
        if condition == reference_condition:
            continue
        values = _series(frame, normalizer, condition, METRIC)
        common = values.index.intersection(base.index)
        if len(common):
            columns[condition] = base.loc[common] - values.loc[common]
    return pd.DataFrame(columns)


def bootstrap_mean_ci(values: ArrayLike, n_boot: int = N_BOOT, confidence: float = 0.95,
                      seed: int = 0) -> tuple[float, float]:
    """(lo, hi): percentile bootstrap interval of the mean of `values` (resampled with replacement, a fixed
    seed so a profile reads the same twice); NaNs with fewer than two values."""
    array = np.asarray(values, dtype=float)
    array = array[~np.isnan(array)]
    if len(array) < 2:
        return math.nan, math.nan
    rng = np.random.default_rng(seed)
    means = array[rng.integers(0, len(array), size=(n_boot, len(array)))].mean(axis=1)
    tail = (1 - confidence) / 2 * 100
    return float(np.percentile(means, tail)), float(np.percentile(means, 100 - tail))


def indices(frame: pd.DataFrame, normalizers: list[str], conditions: list[str],
            reference_condition: str) -> dict[str, dict]:
    """{normalizer: {index, ci, worst, worst_drop, seeds, conditions}} (index NaN when nothing was measured)."""
    out = {}
    for normalizer in normalizers:
        drops = drop_matrix(frame, normalizer, conditions, reference_condition)
        per_seed = drops.mean(axis=1, skipna=True).dropna() if not drops.empty else pd.Series(dtype=float)
        index = float(per_seed.mean()) if len(per_seed) else math.nan
        means = drops.mean(axis=0) if not drops.empty else pd.Series(dtype=float)
        worst = str(means.idxmax()) if len(means.dropna()) else None
        out[normalizer] = {"index": index, "ci": list(bootstrap_mean_ci(per_seed.to_numpy())), "worst": worst,
                           "worst_drop": float(means[worst]) if worst is not None else math.nan,
                           "seeds": int(len(per_seed)), "conditions": [str(c) for c in drops.columns]}
    return out


def family(frame: pd.DataFrame, normalizers: list[str], references: list[str], conditions: list[str],
           reference_condition: str) -> pd.DataFrame:
    """The tested index differences: one row per (normalizer, reference) pair, Holm over all of them.
    Columns: normalizer, reference, n (seeds), conditions (shared), diff (normalizer's index minus the
    reference's over the shared conditions), ci_low, ci_high, p_t, p_holm, verdict (lower / higher / not
    established)."""
    rows, seen = [], set()
    for normalizer in normalizers:
        for reference in references:
            if normalizer == reference or frozenset((normalizer, reference)) in seen:
                continue
            seen.add(frozenset((normalizer, reference)))
            a = drop_matrix(frame, normalizer, conditions, reference_condition)
            b = drop_matrix(frame, reference, conditions, reference_condition)
            shared = [c for c in a.columns if c in b.columns]
            seeds = a.index.intersection(b.index)
            if shared and len(seeds):
                diffs = (a.loc[seeds, shared].mean(axis=1) - b.loc[seeds, shared].mean(axis=1)).dropna().to_numpy()
            else:
                diffs = np.array([])
            summary = stats.mean_ci(diffs, bounds=DIFF_BOUNDS)
            rows.append({"normalizer": normalizer, "reference": reference, "n": summary["n"],
                         "conditions": len(shared), "diff": summary["mean"], "ci_low": summary["lo"],
                         "ci_high": summary["hi"], "p_t": stats.paired_t_p(diffs)})
    table = pd.DataFrame(rows, columns=["normalizer", "reference", "n", "conditions", "diff", "ci_low", "ci_high",
                                        "p_t"])
    table["p_holm"] = stats.holm(table["p_t"].to_numpy(dtype=float)) if len(table) else []
    table["verdict"] = [verdict(row) for _, row in table.iterrows()]
    return table


def verdict(row: Any) -> str:
    """'lower' / 'higher' (the normalizer's index against the reference's, established: Holm p < 0.05), or
    'not established'."""
    p = row["p_holm"]
    if p is None or (isinstance(p, float) and math.isnan(p)) or float(p) >= ALPHA:
        return "not established"
    return "lower" if row["diff"] < 0 else "higher"


def versus(table: pd.DataFrame, normalizer: str, reference: str) -> dict | None:
    """The family row of `normalizer` against `reference` from `normalizer`'s side (signs turned when the
    pair was tested the other way round), or None."""
    direct = table[(table["normalizer"] == normalizer) & (table["reference"] == reference)]
    if len(direct):
        return direct.iloc[0].to_dict()
    turned = table[(table["normalizer"] == reference) & (table["reference"] == normalizer)]
    if not len(turned):
        return None
    row = turned.iloc[0].to_dict()
    flip = {"lower": "higher", "higher": "lower"}
    return {**row, "normalizer": normalizer, "reference": reference, "diff": -row["diff"],
            "ci_low": -row["ci_high"], "ci_high": -row["ci_low"], "verdict": flip.get(row["verdict"], row["verdict"])}
