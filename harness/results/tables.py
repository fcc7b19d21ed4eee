"""Tidy tables of a run (pandas): what the report reads, and the summaries across seeds."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from harness.analysis import metrics as metric_table
from harness.results import stats
from harness.results.rundir import ID_COLUMNS, OK, VALUE_COLUMNS, failed_metrics_cell

TRIAL_VALUES = tuple(VALUE_COLUMNS["trials"])


def cell(value: Any) -> bool | int | float | str:
    """A swept value as a table cell: scalars as they are, lists and null as their JSON text."""
    return value if isinstance(value, (bool, int, float, str)) else json.dumps(value)


def _ids(result: dict[str, Any]) -> dict[str, Any]:
    config = result["config"]
    return {"sampler": config["sampler"], "normalizer": config["normalizer"], "seed": config["seed"],
            **{path: cell(value) for path, value in config.get("point", {}).items()}}


def trial_tables(results: Iterable[dict[str, Any]],
                 known: dict[str, Any] | None = None) -> dict[str, pd.DataFrame]:
    """summary, curves, layers and trials tables from trial results (sweep values as extra columns).

    `known`: the run's metrics table (`harness.analysis.metrics.table`, default the built-ins); a metric it
    does not hold is refused (ValueError), so none reaches the tables unregistered.
    """
    summary: list[dict[str, Any]] = []
    curves: list[dict[str, Any]] = []
    layers: list[dict[str, Any]] = []
    trials: list[dict[str, Any]] = []
    for result in results:
        ids = _ids(result)
        trials.append({**ids, "status": result["status"], "diverged_step": result["diverged_step"],
                       "error": result["error"], "failed_metrics": failed_metrics_cell(result.get("failed_metrics")),
                       "seconds": result["seconds"],
                       "init_fingerprint": result.get("init_fingerprint")})
        # a trial marked diverged or failed (by hand too) counts nowhere, as in comparisons; a failed metric of an
        # ok trial has no number in it (harness.results.finite)
        if result["status"] == OK:
            summary.extend({**ids, "metric": m, "value": v} for m, v in result["final"].items())
        curves.extend({**ids, **row} for row in result["curves"])
        for row in result["layers"]:
            layers.extend({**ids, "layer": row["layer"], "metric": m, "value": v}
                          for m, v in row.items() if m != "layer")
    for name, table_rows in (("summary.csv", summary), ("curves.csv", curves), ("layers.csv", layers)):
        metric_table.check_names({row["metric"] for row in table_rows}, known, name)
    rows = {"summary": summary, "curves": curves, "layers": layers, "trials": trials}
    return {name: _frame(rows[name], VALUE_COLUMNS[name]) for name in ("summary", "curves", "layers", "trials")}


def _frame(rows: list[dict[str, Any]], value_columns: list[str]) -> pd.DataFrame:
    frame = pd.DataFrame(rows)
    if frame.empty:
        return pd.DataFrame(columns=ID_COLUMNS + value_columns)
    sweep = [c for c in frame.columns if c not in ID_COLUMNS + value_columns]
    return frame[ID_COLUMNS + sweep + value_columns]


def sweep_columns(frame: pd.DataFrame, value_columns: Sequence[str] = ("metric", "value")) -> list[str]:
    """The sweep columns of a tidy table: every column that is neither an id column nor in `value_columns`."""
    return [c for c in frame.columns if c not in ID_COLUMNS + list(value_columns)]


def accuracy_top(summary: pd.DataFrame) -> float:
    """The top of the accuracy range in `summary`'s units: 100 when its accuracies (the evaluation modes'
    metrics) are stored in points, as some old run directories did, else 1. The one rule: the report's loader
    takes its accuracy scale from it too."""
    acc = summary.loc[summary["metric"].isin(metric_table.accuracy_modes()), "value"].dropna()
    return 100.0 if len(acc) and float(acc.abs().max()) > 1.0 else 1.0


def ranges(metric: str, known: dict[str, Any] | None = None, top: float = 1.0) -> tuple[Any, Any]:
    """(value bounds, difference bounds) of `metric` from the metrics table, in the units `summary` stores it
    (a fraction's range times `top`, see `accuracy_top`): what its intervals are cut at, as the report cuts
    them; None for an end-less range or a metric the table does not hold."""
    table = metric_table.METRICS if known is None else known
    if metric not in table:
        return None, None
    scale = top if table[metric].unit == "fraction" else 1.0
    low, high = metric_table.bounds(metric, table, scale)
    if not (np.isfinite(low) or np.isfinite(high)):
        return None, None
    width = high - low
    return (low, high), ((-width, width) if np.isfinite(width) else None)


def seed_summary(summary: pd.DataFrame, baseline: str | None, known: dict[str, Any] | None = None) -> pd.DataFrame:
    """Mean, sd and 95% CI over seeds per (sampler, normalizer, metric), and the paired difference to `baseline`.

    Intervals are cut at the metric's range in the metrics table (`known`, default the built-in one), as the
    report cuts them (a difference at plus or minus the range's width); `lo_clipped`/`hi_clipped` say where.
    """
    keys = ["sampler", *sweep_columns(summary), "normalizer", "metric"]
    rows = []
    top = accuracy_top(summary) if len(summary) else 1.0
    for key, group in summary.groupby(keys, sort=False, dropna=False):
        row = dict(zip(keys, key, strict=False))
        value_bounds, diff_bounds = ranges(str(row["metric"]), known, top)
        row.update(stats.mean_ci(group["value"], bounds=value_bounds))
        base = summary[(summary["normalizer"] == baseline) & (summary["metric"] == row["metric"])]
        for column in keys:
            if column not in ("normalizer", "metric"):
                base = base[base[column] == row[column]]
        paired = group.merge(base[["seed", "value"]], on="seed", suffixes=("", "_base"))
        diff = stats.paired_difference(paired["value"], paired["value_base"], bounds=diff_bounds)
        row.update({f"diff_{k}": v for k, v in diff.items() if k != "n"})
        rows.append(row)
    return pd.DataFrame(rows)


def unpaired_message(trials: pd.DataFrame) -> str | None:
    """None when every (seed, sampler, sweep point) of `trials` started all its normalizers from the same
    non-normalization weights (equal `init_fingerprint`s), else one line saying where they did not."""
    if trials.empty or "init_fingerprint" not in trials.columns:
        return None
    keys = ["seed", "sampler", *[c for c in sweep_columns(trials, TRIAL_VALUES) if c in trials.columns]]
    known = trials.dropna(subset=["init_fingerprint"])
    for key, group in known.groupby(keys, sort=False, dropna=False):
        if group["init_fingerprint"].nunique() > 1:
            where = ", ".join(f"{k} {v}" for k, v in zip(keys, key, strict=False))
            differs = ", ".join(sorted(group["init_fingerprint"].unique()))
            return (f"Paired differences are not reported: the normalizers of {where} did not start from the same "
                    f"initial weights (init_fingerprint differs: {differs}).")
    return None


def summary_markdown(summary: pd.DataFrame, baseline: str | None, metrics: list[str] | None = None,
                     trials: pd.DataFrame | None = None, known: dict[str, Any] | None = None) -> str:
    """A plain-text table: mean ± CI half-width per sampler and normalizer, plus the paired difference to the baseline
    (the scenario's `analysis.reference`; no difference column when it is None). The declared pairs have their
    own table (`declared_markdown`). The columns: `metrics`, default those of the metrics table's summary.md
    group, then those of its "other metrics" group (the scenario's metric plugins, with `known` their table).

    A cell averaged over fewer seeds than the run has (the others diverged or failed) says so: "(n=2)". When
    `trials` show normalizers of one seed that did not start from the same weights, no difference is shown.
    """
    if metrics is None:
        metrics = [*metric_table.in_group(metric_table.SUMMARY, known),
                   *metric_table.in_group(metric_table.EXTRA, known)]
    compared = metric_table.COMPARED
    unpaired = unpaired_message(trials) if trials is not None else None
    if summary.empty:
        return "No finished trials.\n"
    table = seed_summary(summary[summary["metric"].isin(metrics)], baseline, known)
    n_seeds = int(table["n"].max())
    diff_header = "" if baseline is None else f" {compared} - {baseline} (95% CI) |"
    lines = [f"| sampler | normalizer | {' | '.join(metrics)} |{diff_header}",
             "|" + "---|" * (len(metrics) + 2 + (baseline is not None))]
    group_keys = ["sampler", *sweep_columns(summary)]
    for key, group in table.groupby(group_keys, sort=False, dropna=False):
        key = key if isinstance(key, tuple) else (key,)
        label = ", ".join(str(k) for k in key)
        for normalizer, rows in group.groupby("normalizer", sort=False):
            cells = []
            for metric in metrics:
                row = rows[rows["metric"] == metric]
                cells.append(_mean_pm(row.iloc[0], n_seeds) if len(row) else "-")
            acc = rows[rows["metric"] == compared]
            diff = "-" if unpaired or normalizer == baseline or acc.empty else _diff(acc.iloc[0])
            diff_cell = "" if baseline is None else f" {diff} |"
            lines.append(f"| {label} | {normalizer} | {' | '.join(cells)} |{diff_cell}")
    lines.append("")
    top = accuracy_top(summary)
    lines.append(f"Mean [95% t interval] over {n_seeds} seed(s); an end marked {CUT_MARK} reached past the metric's "
                 f"range (0 to {top:g} for an accuracy, ±{top:g} for a difference of two) and is cut there, as in "
                 "the report.")
    if unpaired is not None:
        lines.append(unpaired)
    return "\n".join(lines) + "\n"


def declared_markdown(summary: pd.DataFrame, pairs: Iterable[tuple[str, str]], trials: pd.DataFrame | None = None,
                      metric: str = metric_table.COMPARED) -> list[str]:
    """Lines of the "Declared comparisons" table: a - b in `metric` per sampler (and sweep point), mean [95% t
    interval] over the seeds both finished (status ok in `trials` when given, as comparisons.csv), and their
    number."""
    sweep = sweep_columns(summary)
    frame = summary[summary["metric"] == metric]
    if trials is not None:
        keys = [c for c in ID_COLUMNS + sweep if c in trials.columns]
        frame = frame.merge(trials.loc[trials["status"] == OK, keys].drop_duplicates(), on=keys)
    # uncut, as comparisons.csv and the report's declared-comparison table give it
    lines = ["## Declared comparisons", "",
             f"{metric} of a minus b (analysis.compare), paired over seeds; [95% t interval], unadjusted "
             "(comparisons.csv has the Holm-adjusted p).", "",
             "| sampler | " + "".join(f"{c} | " for c in sweep) + "a − b | mean [95% CI] | n |",
             "|" + "---|" * (len(sweep) + 4)]
    for key, group in frame.groupby(["sampler", *sweep], sort=False, dropna=False):
        key = key if isinstance(key, tuple) else (key,)
        for a, b in pairs:
            first = group[group["normalizer"] == a].groupby("seed")["value"].mean()
            second = group[group["normalizer"] == b].groupby("seed")["value"].mean()
            common = first.index.intersection(second.index)
            diff = stats.paired_difference(first.loc[common], second.loc[common])
            row = {"diff_mean": diff["mean"], "diff_lo": diff["lo"], "diff_hi": diff["hi"]}
            cell = "-" if diff["n"] == 0 else _diff(row)
            lines.append("| " + " | ".join(str(k) for k in key) + f" | {a} − {b} | {cell} | {diff['n']} |")
    return lines


CUT_MARK = "†"  # an interval end cut at the quantity's range (as the report marks it)


def _end(value: float, clipped: Any, signed: bool = False) -> str:
    return (f"{value:+.3f}" if signed else f"{value:.3f}") + (CUT_MARK if clipped else "")


def _mean_pm(row: Any, n_seeds: int) -> str:
    """'0.473 [0.000†, 1.000]': mean and 95% t interval over seeds, cut at the range as in the report."""
    text = f"{row['mean']:.3f}"
    if not np.isnan(row["hi"]):
        text += f" [{_end(row['lo'], row.get('lo_clipped'))}, {_end(row['hi'], row.get('hi_clipped'))}]"
    return text if row["n"] == n_seeds else f"{text} (n={int(row['n'])})"


def _diff(row: Any) -> str:
    if np.isnan(row["diff_hi"]):
        return f"{row['diff_mean']:+.3f}"
    return (f"{row['diff_mean']:+.3f} [{_end(row['diff_lo'], row.get('diff_lo_clipped'), True)}, "
            f"{_end(row['diff_hi'], row.get('diff_hi_clipped'), True)}]")
