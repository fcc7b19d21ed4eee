"""The numbers at the top of the report and the sentences generated from them.

All accuracies are in percentage points. The drop of a normalizer on a sampler is the paired difference
acc_inference(iid) - acc_inference(sampler) over seeds (the same seed gives the same initial weights);
the normalizer comparison is the paired difference normalizer - reference (BN) on the same sampler.
Both use the t interval of `harness.stats`; pairs where either trial did not finish are dropped.
"""

import math

import pandas as pd

from harness.stats import mean_ci, paired_difference

METRIC = "acc_inference"
# Colour classes of the verdict table by drop in points (thresholds shown in the report's legend).
DROP_CLASSES = [(2.0, "good", "small"), (10.0, "warn", "moderate"), (math.inf, "bad", "large")]


def point_label(point):
    """`training.batch_size=4, ...` for a sweep point (empty string without a sweep)."""
    return ", ".join(f"{k}={v}" for k, v in point.items())


def _select(frame, point):
    for key, value in point.items():
        frame = frame[frame[key] == value]
    return frame


def values(data, metric, sampler, normalizer, point=None, scale=1.0):
    """Final `metric` per seed (pd.Series indexed by seed, NaNs dropped) for one trial group.

    For the i.i.d. sampler at a sweep point where it was not run (a swept field of another sampler),
    the i.i.d. trials matching the other swept fields are used.
    """
    point = point or {}
    frame = data.summary[(data.summary["metric"] == metric) & (data.summary["sampler"] == sampler)
                         & (data.summary["normalizer"] == normalizer)]
    selected = _select(frame, point)
    if selected.empty and sampler == data.iid_sampler and point:
        selected = _select(frame, {k: v for k, v in point.items() if not k.startswith("samplers.")})
        selected = selected.groupby("seed", as_index=False)["value"].mean()
    series = selected.set_index("seed")["value"].astype(float).dropna() * scale
    return series.groupby(level=0).mean().sort_index()


def paired(a, b):
    """`paired_difference` of two per-seed series over the seeds both have."""
    common = a.index.intersection(b.index)
    return paired_difference(a.loc[common].to_numpy(), b.loc[common].to_numpy())


def drop_class(drop):
    """('good'|'warn'|'bad'|'na', words) for a drop in points."""
    if drop is None or math.isnan(drop):
        return "na", "no data"
    for limit, css, words in DROP_CLASSES:
        if drop < limit:
            return css, words
    return "bad", "large"


def verdict_table(data, point=None):
    """One row per (sampler, normalizer): acc_inference, the drop from i.i.d. and the difference from BN."""
    rows = []
    scale = data.accuracy_scale
    for sampler in data.samplers:
        for norm in data.normalizers:
            acc = values(data, METRIC, sampler, norm, point, scale)
            row = {"sampler": sampler, "normalizer": norm, "acc": mean_ci(acc.to_numpy()),
                   "drop": None, "diff": None}
            if data.iid_sampler is not None and sampler != data.iid_sampler:
                row["drop"] = paired(values(data, METRIC, data.iid_sampler, norm, point, scale), acc)
            if data.reference is not None and norm != data.reference:
                row["diff"] = paired(acc, values(data, METRIC, sampler, data.reference, point, scale))
            row["css"], row["severity"] = drop_class(row["drop"]["mean"] if row["drop"] else None)
            rows.append(row)
    return rows


def compared_normalizers(data):
    """Normalizers the headline compares with the reference: the Batch Renorm ones, else all others."""
    others = [n for n in data.normalizers if n != data.reference]
    renorm = [n for n in others if data.normalizer_kinds.get(n) == "batchrenorm"]
    return renorm or others


def non_iid_samplers(data):
    """The samplers the headline is about: every sampler but the i.i.d. control."""
    return [s for s in data.samplers if s != data.iid_sampler]


def hardest_point(data):
    """The sweep point where the reference (or first) normalizer loses most, averaged over non-i.i.d. samplers;
    for a run with only i.i.d. batches, the point where its inference accuracy is lowest."""
    points = data.points()
    if len(points) == 1:
        return points[0]
    norm = data.reference or data.normalizers[0]

    def worst(point):
        rows = [r for r in verdict_table(data, point) if r["normalizer"] == norm]
        drops = [r["drop"]["mean"] for r in rows if r["drop"] and not math.isnan(r["drop"]["mean"])]
        if drops:
            return sum(drops) / len(drops)
        accs = [r["acc"]["mean"] for r in rows if not math.isnan(r["acc"]["mean"])]
        return -sum(accs) / len(accs) if accs else -math.inf

    return max(points, key=worst)


def fmt(x, signed=False):
    if x is None or math.isnan(x):
        return "n/a"
    if round(x, 1) == 0:
        x = 0.0  # no "-0.0"
    return f"{x:+.1f}" if signed else f"{x:.1f}"


def ci_text(stats, signed=True):
    """'95% CI +1.2 to +3.4' (differences are signed, levels are not) or why there is none."""
    if stats["n"] < 2 or math.isnan(stats["lo"]):
        return f"{stats['n']} seed{'s' if stats['n'] != 1 else ''}: no confidence interval"
    return f"95% CI {fmt(stats['lo'], signed)} to {fmt(stats['hi'], signed)}"


def _loss_phrase(norm, drop):
    if drop["n"] == 0:
        return f"{norm} has no finished paired trials"
    verb = "loses" if drop["mean"] >= 0 else "gains"
    return f"{norm} {verb} {fmt(abs(drop['mean']))} points"


def _listed(parts):
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


def _diff_phrase(norm, reference, diff):
    """' brn minus bn: +3.1 points (95% CI ...); the interval excludes zero: brn keeps more accuracy.'"""
    if diff["n"] == 0:
        return f" {norm} minus {reference}: no seed where both finished."
    text = (f" {norm} minus {reference}: {fmt(diff['mean'], True)} points "
            f"({ci_text(diff)}, paired over {diff['n']} seed{'s' if diff['n'] != 1 else ''})")
    if diff["n"] < 2 or math.isnan(diff["lo"]):
        return text + ", too few seeds to tell whether the difference is real."
    if diff["lo"] <= 0.0 <= diff["hi"]:
        return text + ", and the interval includes zero: these seeds do not show a real difference."
    better = norm if diff["mean"] > 0 else reference
    return text + f"; the interval excludes zero: {better} keeps more accuracy."


def sweep_sentence(data, point, sampler):
    """How acc_inference changes across the first swept field (others held at `point`), per normalizer."""
    xvar = data.sweep_vars[0]
    values_x = sorted({p[xvar] for p in data.points()})
    if len(values_x) < 2:
        return None
    ends = []
    for value in (values_x[-1], values_x[0]):
        at = dict(point, **{xvar: value})
        ends.append({n: mean_ci(values(data, METRIC, sampler, n, at, data.accuracy_scale).to_numpy())["mean"]
                     for n in data.normalizers})
    known = [n for n in data.normalizers if not (math.isnan(ends[0][n]) or math.isnan(ends[1][n]))]
    missing = [n for n in data.normalizers if n not in known]
    if not known:
        return None
    parts = [f"from {fmt(ends[0][n])}% to {fmt(ends[1][n])}% for {n}" for n in known]
    note = f" ({_listed(missing)}: no finished trials at both ends)" if missing else ""
    return (f"Going from {xvar}={values_x[-1]} to {xvar}={values_x[0]} on {sampler} batches, inference "
            f"accuracy goes {_listed(parts)}{note}.")


def headline(data, point=None):
    """Sentences for the top of the report plus the numbers behind them.

    Returns dict(sentences=[str], items=[dict(sampler, drops={norm: stats}, diffs={norm: stats})], point, rows).
    Without a non-i.i.d. sampler (e.g. a batch-size sweep on i.i.d. batches) the sentences give each
    normalizer's accuracy and its paired difference from the reference instead of drops.
    """
    if point is None:
        point = hardest_point(data)
    rows = verdict_table(data, point)
    sentences, items = [], []
    focus = non_iid_samplers(data)
    if data.iid_sampler is None:
        sentences.append("This run has no i.i.d. sampler (kind iid), so there is no baseline to measure a drop "
                         "against; the sentences give accuracies instead.")
    if data.sweep_vars:
        for sampler in focus if data.iid_sampler is not None and focus else data.samplers:
            sentence = sweep_sentence(data, {k: v for k, v in point.items() if k != data.sweep_vars[0]}, sampler)
            if sentence:
                sentences.append(sentence)
    prefix = f"At sweep point {point_label(point)}, on" if point else "On"
    with_drops = data.iid_sampler is not None and bool(focus)
    for sampler in focus if with_drops else data.samplers:
        by_norm = {r["normalizer"]: r for r in rows if r["sampler"] == sampler}
        compared = compared_normalizers(data) if with_drops else [n for n in data.normalizers
                                                                  if n != data.reference]
        diffs = {n: by_norm[n]["diff"] for n in compared if by_norm[n]["diff"] is not None}
        if with_drops:
            drops = {n: by_norm[n]["drop"] for n in data.normalizers}
            items.append({"sampler": sampler, "drops": drops, "diffs": diffs})
            sentence = (f"{prefix} {sampler} batches, {_listed([_loss_phrase(n, d) for n, d in drops.items()])} "
                        f"of inference accuracy ({METRIC}) against {data.iid_sampler} batches.")
        else:
            accs = {n: by_norm[n]["acc"] for n in data.normalizers}
            items.append({"sampler": sampler, "accs": accs, "diffs": diffs})
            parts = [f"{n} {fmt(a['mean'])}% ({ci_text(a, signed=False)})" if a["n"] else f"{n} has no finished trials"
                     for n, a in accs.items()]
            sentence = f"{prefix} {sampler} batches, inference accuracy ({METRIC}): {_listed(parts)}."
        for norm, diff in diffs.items():
            sentence += _diff_phrase(norm, data.reference, diff)
        sentences.append(sentence)
        prefix = "On"  # the sweep point is named once
    if data.unpaired is not None:
        sentences.append(data.unpaired)
    elif data.reference is None and len(data.normalizers) > 1:
        sentences.append("No normalizer named bn or of kind batchnorm: paired differences are not computed.")
    return {"sentences": sentences, "items": items, "point": point, "rows": rows}


def dependence_table(data):
    """Per sweep point, sampler and normalizer: acc_inference, its drop from i.i.d. and its difference from
    the reference, each as mean/lo/hi/n columns (points)."""
    records = []
    for point in data.points():
        for row in verdict_table(data, point):
            rec = dict(point, sampler=row["sampler"], normalizer=row["normalizer"])
            for key in ("acc", "drop", "diff"):
                stats = row[key] or {"mean": math.nan, "lo": math.nan, "hi": math.nan, "n": 0}
                rec.update({f"{key}_{s}": stats[s] for s in ("mean", "lo", "hi", "n")})
            records.append(rec)
    return pd.DataFrame(records)
