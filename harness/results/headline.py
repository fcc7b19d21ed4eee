"""The numbers at the top of the report and the sentences generated from them.

All accuracies are in percentage points. The drop of a normalizer on a sampler is the paired difference
acc_inference(iid) - acc_inference(sampler) over seeds (the same seed gives the same initial weights);
the normalizer comparison is the paired difference normalizer - reference (BN) on the same sampler.
Both use the t interval of `harness.results.stats`; pairs where either trial did not finish are dropped.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from harness.analysis.metrics import COMPARED, TRAINING_ACCURACY
from harness.results.comparisons import declared_pairs, values
from harness.results.stats import MIN_SEEDS, mean_ci, paired_difference, seeds_needed

if TYPE_CHECKING:
    from harness.results.loader import RunData

METRIC = COMPARED  # the one compared metric, owned by the metrics table
# what a sentence says of a normalizer without the number: its trials failed or diverged, or the metric failed
# in them (non-finite, harness.results.finite)
NO_VALUE = f"no finished trial with a finite {METRIC}"
NO_PAIRS = f"no paired seeds with a finite {METRIC}"
ACC_BOUNDS = (0.0, 100.0)
DIFF_BOUNDS = (-100.0, 100.0)
# A normalizer whose training accuracy on a sampler is this many points below its own on the i.i.d.
# sampler is said not to have learned the task there (its drop then measures failed training).
NOT_LEARNED_POINTS = 25.0
# The difference the seed guidance says how many seeds it would need (points).
TARGET_EFFECT = 1.0
# Colour classes of the verdict table by drop in points (thresholds shown in the report's legend).
DROP_CLASSES = [(2.0, "good", "small"), (10.0, "warn", "moderate"), (math.inf, "bad", "large")]


def point_label(point: dict[str, Any]) -> str:
    """`training.batch_size=4, ...` for a sweep point (empty string without a sweep)."""
    return ", ".join(f"{k}={v}" for k, v in point.items())


def paired(a: pd.Series, b: pd.Series, bounds: tuple[float, float] = DIFF_BOUNDS) -> dict[str, Any]:
    """`paired_difference` of two per-seed series over the seeds both have (cut at +-100 points)."""
    common = a.index.intersection(b.index)
    return paired_difference(a.loc[common].to_numpy(), b.loc[common].to_numpy(), bounds=bounds)


def _same(a: Any, b: Any) -> bool:
    try:
        return float(a) == float(b)
    except (TypeError, ValueError):
        return str(a) == str(b)


def comparison(data: RunData, kind: str, sampler: object, normalizer: object,
               point: dict[str, Any] | None = None) -> dict[str, Any] | None:
    """The row of `data.comparisons` for one tested difference at `point` (a dict), or None."""
    frame = data.comparisons
    if frame is None or frame.empty:
        return None
    mask = ((frame["comparison"] == kind) & (frame["sampler"] == str(sampler))
            & (frame["normalizer"] == str(normalizer)))
    for key, value in (point or {}).items():
        if key in frame.columns:
            mask &= frame[key].map(lambda v, value=value: _same(v, value))
    rows = frame[mask]
    return rows.iloc[0].to_dict() if len(rows) else None


def pair_row(frame: pd.DataFrame | None, a: object, b: object, sampler: object,
             point: dict[str, Any] | None = None) -> dict[str, Any] | None:
    """The row of the comparisons table `frame` testing a - b on `sampler` at `point` (a dict), or None.

    A `pair` row when the table has one; else the `normalizer` row of a - b, or of b - a with its mean,
    interval and bootstrap ends turned to a - b (the p-values of a two-sided test do not change).
    """
    if frame is None or frame.empty:
        return None
    base = frame["sampler"] == str(sampler)
    for key, value in (point or {}).items():
        if key in frame.columns:
            base &= frame[key].map(lambda v, value=value: _same(v, value))
    for kind, first, second, flip in (("pair", a, b, False), ("normalizer", a, b, False),
                                      ("normalizer", b, a, True)):
        rows = frame[base & (frame["comparison"] == kind) & (frame["normalizer"] == str(first))
                     & (frame["reference"] == str(second))]
        if len(rows):
            row = rows.iloc[0].to_dict()
            if flip:
                row.update(normalizer=str(a), reference=str(b), mean_diff=-row["mean_diff"],
                           ci_low=-row["ci_high"], ci_high=-row["ci_low"],
                           boot_low=-row["boot_high"], boot_high=-row["boot_low"])
            return row
    return None


def is_established(row: dict[str, Any] | None) -> bool:
    """The comparison survives Holm's correction over the report's family (adjusted p < 0.05)."""
    from harness.results.comparisons import established

    return row is not None and established(row)


def drop_class(drop: float | None, stats: dict[str, Any] | None = None,
               row: dict[str, Any] | None = None) -> tuple[str, str]:
    """('good'|'warn'|'bad'|'na', words) for a drop in points.

    With the drop's `stats` (mean_ci dict) and its comparisons `row`, a colour is given only to an
    established drop (Holm-adjusted p < 0.05); too few seeds, all seeds agreeing, or a drop that does
    not survive the correction get no colour and say why.
    """
    if drop is None or math.isnan(drop):
        return "na", "no data"
    if stats is not None:
        if stats["n"] < MIN_SEEDS:
            return "na", f"too few seeds ({stats['n']})"  # short: it sits in a table cell
        if stats.get("agree"):
            return "na", "no interval (all seeds agree)"
        if not is_established(row):
            return "na", "not shown beyond seed noise"
    for limit, css, words in DROP_CLASSES:
        if drop < limit:
            return css, words + (", established" if stats is not None else "")
    return "bad", "large" + (", established" if stats is not None else "")


def verdict_table(data: RunData, point: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """One row per (sampler, normalizer): acc_inference, the drop from i.i.d. and the difference from BN."""
    rows: list[dict[str, Any]] = []
    scale = data.accuracy_scale
    for sampler in data.samplers:
        for norm in data.normalizers:
            acc = values(data, METRIC, sampler, norm, point, scale)
            row: dict[str, Any] = {"sampler": sampler, "normalizer": norm,
                                   "acc": mean_ci(acc.to_numpy(), bounds=ACC_BOUNDS),
                                   "drop": None, "diff": None, "drop_test": None, "diff_test": None}
            if data.iid_sampler is not None and sampler != data.iid_sampler:
                row["drop"] = paired(values(data, METRIC, data.iid_sampler, norm, point, scale), acc)
                row["drop_test"] = comparison(data, "drop", sampler, norm, point)
            if data.reference is not None and norm != data.reference:
                row["diff"] = paired(acc, values(data, METRIC, sampler, data.reference, point, scale))
                row["diff_test"] = comparison(data, "normalizer", sampler, norm, point)
            row["css"], row["severity"] = drop_class(row["drop"]["mean"] if row["drop"] else None,
                                                     row["drop"], row["drop_test"])
            rows.append(row)
    return rows


def pair_table(data: RunData, point: dict[str, Any] | None = None) -> dict[str, list[dict[str, Any]]]:
    """{sampler: [dict(a, b, diff=paired stats of a - b, test=comparisons row)]} for the declared pairs
    (`analysis.compare`), every sampler; empty when the scenario declares none."""
    scale = data.accuracy_scale
    table: dict[str, list[dict[str, Any]]] = {}
    for sampler in data.samplers:
        table[sampler] = [{"a": a, "b": b,
                           "diff": paired(values(data, METRIC, sampler, a, point, scale),
                                          values(data, METRIC, sampler, b, point, scale)),
                           "test": pair_row(data.comparisons, a, b, sampler, point)}
                          for a, b in declared_pairs(data)]
        for pair in table[sampler]:
            pair["established"] = is_established(pair["test"]) and pair["diff"]["n"] >= MIN_SEEDS

    return table if declared_pairs(data) else {}


def compared_normalizers(data: RunData) -> list[str]:
    """Normalizers the headline compares with the reference: the Batch Renorm ones, else all others."""
    others = [n for n in data.normalizers if n != data.reference]
    renorm = [n for n in others if data.normalizer_kinds.get(n) == "batchrenorm"]
    return renorm or others


def non_iid_samplers(data: RunData) -> list[str]:
    """The samplers the headline is about: every sampler but the i.i.d. control."""
    return [s for s in data.samplers if s != data.iid_sampler]


def headline_point(data: RunData) -> tuple[dict[str, Any], str | None]:
    """(point, rule): the sweep point the headline reports and how it was chosen, fixed before the results.

    `analysis.headline_point` when the scenario declares it, else the last listed value of each swept field.
    """
    points = data.points()
    if len(points) == 1:
        return points[0], None
    analysis = (data.scenario.get("analysis") or {}) if isinstance(data.scenario, dict) else {}
    declared = analysis.get("headline_point") or {}
    sweep = data.scenario.get("sweep") or {}
    listed = {k: v for k, v in sweep.items() if k != "zip"}
    listed.update(sweep.get("zip") or {})
    wanted: dict[str, Any] = {}
    rule: list[str] = []
    for var in data.sweep_vars:
        if var in declared:
            wanted[var] = declared[var]
        elif isinstance(listed.get(var), list) and listed[var]:
            wanted[var] = listed[var][-1]
    if declared:
        rule.append("declared in the scenario (analysis.headline_point)")
    if set(wanted) - set(declared):
        rule.append("the last listed value of each swept field not declared")
    for point in points:
        if all(_same(point[k], v) for k, v in wanted.items()):
            return point, " and ".join(rule)
    return points[-1], "the last sweep point (the scenario's sweep lists were not found)"


def fmt(x: float | None, signed: bool = False) -> str:
    """`x` to one decimal (signed: with its sign), "n/a" for None or NaN, never "-0.0"."""
    if x is None or math.isnan(x):
        return "n/a"
    if round(x, 1) == 0:
        x = 0.0  # no "-0.0"
    return f"{x:+.1f}" if signed else f"{x:.1f}"


def ci_text(stats: dict[str, Any], signed: bool = True) -> str:
    """'95% CI +1.2 to +3.4' (differences are signed, levels are not) or why there is none; an end cut at the
    quantity's range is said to be cut."""
    if stats.get("agree"):
        return "no interval (all seeds agree)"
    if stats["n"] < 2 or math.isnan(stats["lo"]):
        return f"{stats['n']} seed{'s' if stats['n'] != 1 else ''}: no confidence interval"
    cut = " (cut at the range)" if stats.get("lo_clipped") or stats.get("hi_clipped") else ""
    return f"95% CI {fmt(stats['lo'], signed)} to {fmt(stats['hi'], signed)}{cut}"


def _p(p: float | None) -> str:
    if p is None or (isinstance(p, float) and math.isnan(p)):
        return "n/a"
    return f"{p:.3f}" if p >= 0.001 else "< 0.001"


def verdict_phrase(stats: dict[str, Any], row: dict[str, Any] | None) -> str:
    """Whether a tested difference is established, in words: 'established' appears only when the comparison's
    Holm-adjusted p is below 0.05 (the unadjusted interval is given beside it by the caller)."""
    n = stats["n"]
    if n < MIN_SEEDS:
        return f"{n} seed{'s are' if n != 1 else ' is'} too few for a verdict"
    if stats.get("agree"):
        return "all seeds agree, so there is no interval and no test"
    if row is None:
        return "not tested"
    p = row.get("p_holm")
    boot = ""
    if row.get("boot_low") is not None and not math.isnan(row.get("boot_low", math.nan)):
        boot = (f"; with test-set noise too (bootstrap over seeds and test examples) "
                f"{fmt(row['boot_low'], True)} to {fmt(row['boot_high'], True)}")
    if is_established(row):
        return f"established (Holm-adjusted p {_p(p)}){boot}"
    return f"not shown beyond seed noise (Holm-adjusted p {_p(p)}){boot}"


def seed_guidance(diff: dict[str, Any]) -> str | None:
    """What these seeds can detect and what a TARGET_EFFECT-point difference would need (paired t, 80% power)."""
    from harness.results.stats import detectable_effect

    if diff["n"] < 2 or not diff["sd"] > 0:
        return None
    smallest = detectable_effect(diff["sd"], diff["n"])
    needed = seeds_needed(TARGET_EFFECT, diff["sd"])
    return (f"with {diff['n']} seeds (paired sd {fmt(diff['sd'])} points) the smallest difference detected with "
            f"80% power is {fmt(smallest)} points; a {fmt(TARGET_EFFECT)}-point difference would need "
            f"{needed} seeds")


def _loss_phrase(norm: str, drop: dict[str, Any], row: dict[str, Any] | None = None) -> str:
    if drop["n"] == 0:
        return f"{norm} has {NO_PAIRS}"
    verb = "loses" if drop["mean"] >= 0 else "gains"
    return f"{norm} {verb} {fmt(abs(drop['mean']))} points ({ci_text(drop)}; {verdict_phrase(drop, row)})"


def _listed(parts: Sequence[str]) -> str:
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


def _diff_phrase(norm: str, reference: str | None, diff: dict[str, Any],
                 row: dict[str, Any] | None = None) -> str:
    """' brn minus bn: +3.1 points (unadjusted 95% CI ..., paired over 3 seeds): established (Holm ...): brn keeps
    more accuracy.' "established" only where the comparison's Holm-adjusted p < 0.05."""
    if diff["n"] == 0:
        return f" {norm} minus {reference}: {NO_PAIRS}."
    unadjusted = "unadjusted " if diff["n"] >= 2 and not math.isnan(diff["lo"]) else ""
    text = (f" {norm} minus {reference}: {fmt(diff['mean'], True)} points "
            f"({unadjusted}{ci_text(diff)}, paired over {diff['n']} seed{'s' if diff['n'] != 1 else ''}): "
            f"{verdict_phrase(diff, row)}")
    if is_established(row) and diff["n"] >= MIN_SEEDS and not diff.get("agree"):
        better = norm if diff["mean"] > 0 else reference
        text += f", {better} keeps more accuracy"
    guidance = seed_guidance(diff)
    return text + (f"; {guidance}." if guidance else ".")


def not_learned(data: RunData, point: dict[str, Any] | None = None) -> list[tuple[str, str, float, float]]:
    """[(sampler, normalizer, train_acc, control_acc)] where a normalizer's final training accuracy (last window,
    points) is NOT_LEARNED_POINTS or more below its own on the i.i.d. sampler: it did not learn the task there."""
    if data.iid_sampler is None:
        return []
    found: list[tuple[str, str, float, float]] = []
    for norm in data.normalizers:
        control = values(data, TRAINING_ACCURACY, data.iid_sampler, norm, point, data.accuracy_scale)
        if control.empty:
            continue
        for sampler in non_iid_samplers(data):
            train = values(data, TRAINING_ACCURACY, sampler, norm, point, data.accuracy_scale)
            if not train.empty and train.mean() <= control.mean() - NOT_LEARNED_POINTS:
                found.append((sampler, norm, float(train.mean()), float(control.mean())))
    return found


def sweep_sentence(data: RunData, point: dict[str, Any], sampler: str) -> str | None:
    """How acc_inference changes across the first swept field (others held at `point`), per normalizer."""
    xvar = data.sweep_vars[0]
    values_x = sorted({p[xvar] for p in data.points()})
    if len(values_x) < 2:
        return None
    ends: list[dict[str, float]] = []
    for value in (values_x[-1], values_x[0]):
        at = dict(point, **{xvar: value})
        ends.append({n: mean_ci(values(data, METRIC, sampler, n, at, data.accuracy_scale).to_numpy())["mean"]
                     for n in data.normalizers})
    known = [n for n in data.normalizers if not (math.isnan(ends[0][n]) or math.isnan(ends[1][n]))]
    missing = [n for n in data.normalizers if n not in known]
    if not known:
        return None
    parts = [f"from {fmt(ends[0][n])}% to {fmt(ends[1][n])}% for {n}" for n in known]
    note = f" ({_listed(missing)}: {NO_VALUE} at both ends)" if missing else ""
    return (f"Going from {xvar}={values_x[-1]} to {xvar}={values_x[0]} on {sampler} batches, inference "
            f"accuracy goes {_listed(parts)}{note}.")


def _established_word(stats: dict[str, Any] | None, row: dict[str, Any] | None) -> str:
    """'established' when the tested difference survives Holm's correction with enough seeds, else 'not
    established' (the reasons are given in the report's details)."""
    ok = (stats is not None and stats["n"] >= MIN_SEEDS and not stats.get("agree") and is_established(row))
    return "established" if ok else "not established"


def _keeps_phrase(norm: str, reference: str, diff: dict[str, Any] | None, row: dict[str, Any] | None) -> str | None:
    """'brn keeps 32.9 points more than bn (established)' (or 'less'), or None without finished pairs."""
    if diff is None or diff["n"] == 0 or math.isnan(diff["mean"]):
        return None
    more = "more" if diff["mean"] >= 0 else "less"
    return f"{norm} keeps {fmt(abs(diff['mean']))} points {more} than {reference} ({_established_word(diff, row)})"


def plain_sentence(data: RunData, sampler: str, by_norm: dict[str, dict[str, Any]], prefix: str = "On") -> str:
    """One sentence a reader can repeat for a non-i.i.d. `sampler`: what the reference normalizer loses against
    the i.i.d. control, what each compared normalizer keeps relative to it, and whether each is established
    (Holm-adjusted p < 0.05 with at least MIN_SEEDS seeds). `by_norm`: the verdict rows of `sampler` by
    normalizer. Without a reference, every normalizer's loss is given."""
    reference = data.reference if data.reference in by_norm else None
    losers = [reference] if reference else list(by_norm)
    parts: list[str] = []
    for norm in losers:
        drop, row = by_norm[norm]["drop"], by_norm[norm]["drop_test"]
        if drop is None or drop["n"] == 0 or math.isnan(drop["mean"]):
            parts.append(f"{norm} has {NO_PAIRS}")
            continue
        verb = "loses" if drop["mean"] >= 0 else "gains"
        what = "" if parts else f" of inference accuracy against {data.iid_sampler} batches"
        parts.append(f"{norm} {verb} {fmt(abs(drop['mean']))} points{what} ({_established_word(drop, row)})")
    head = f"{prefix} {sampler} batches " + _listed(parts)
    if reference:
        phrases = [_keeps_phrase(n, reference, by_norm[n]["diff"], by_norm[n]["diff_test"])
                   for n in compared_normalizers(data) if n in by_norm]
        keeps = [k for k in phrases if k]
        if keeps:
            head += "; " + _listed(keeps)
    return head + "."


def plain_accuracy_sentence(data: RunData, sampler: str, by_norm: dict[str, dict[str, Any]],
                            prefix: str = "On") -> str:
    """Without an i.i.d. control: each normalizer's inference accuracy on `sampler` and what each compared
    normalizer keeps relative to the reference, in one sentence."""
    parts = [f"{n} {fmt(r['acc']['mean'])}%" if r["acc"]["n"] else f"{n}: {NO_VALUE}"
             for n, r in by_norm.items()]
    text = f"{prefix} {sampler} batches, inference accuracy is " + _listed(parts)
    reference = data.reference
    if reference is not None and reference in by_norm:
        phrases = [_keeps_phrase(n, reference, r["diff"], r["diff_test"]) for n, r in by_norm.items()
                   if n != reference]
        keeps = [k for k in phrases if k]
        if keeps:
            text += "; " + _listed(keeps)
    return text + "."


def headline(data: RunData, point: dict[str, Any] | None = None) -> dict[str, Any]:
    """Sentences for the top of the report plus the numbers behind them.

    Returns dict(plain=[str], sentences=[str], items=[dict(sampler, drops={norm: stats}, diffs={norm: stats})],
    point, rows, pairs={sampler: [dict(a, b, diff, test)]}). Each pair the scenario declares (`analysis.compare`) gets a
    sentence per sampler the others are given for, worded like the differences from the reference.
    Without a non-i.i.d. sampler (e.g. a batch-size sweep on i.i.d. batches) the sentences give each
    normalizer's accuracy and its paired difference from the reference instead of drops.

    `plain` is what the report shows first: one short sentence per non-i.i.d. sampler (`plain_sentence`), the
    sweep sentences and one line per warning; `sentences` are the full statements (intervals, Holm p,
    bootstrap, power, seeds needed, training failures) the report keeps one click away.
    """
    if point is None:
        point, _ = headline_point(data)
    rows = verdict_table(data, point)
    pairs = pair_table(data, point)
    sentences: list[str] = []
    items: list[dict[str, Any]] = []
    plain: list[str] = []
    focus = non_iid_samplers(data)
    n_max = max([r["acc"]["n"] for r in rows] or [0])
    if n_max < MIN_SEEDS:
        plain.append(f"With {n_max} seed{'s' if n_max != 1 else ''} per cell nothing can be established yet: "
                     f"run at least {MIN_SEEDS} seeds for a verdict.")
        sentences.append(f"With {n_max} seed{'s' if n_max != 1 else ''} per cell the evidence is too thin for a "
                         "verdict: intervals are shown, but nothing is coloured and no difference is declared real.")
    if data.iid_sampler is None:
        sentences.append("This run has no i.i.d. sampler (kind iid), so there is no baseline to measure a drop "
                         "against; the sentences give accuracies instead.")
    if data.sweep_vars:
        for sampler in focus if data.iid_sampler is not None and focus else data.samplers:
            sentence = sweep_sentence(data, {k: v for k, v in point.items() if k != data.sweep_vars[0]}, sampler)
            if sentence:
                sentences.append(sentence)
                plain.append(sentence)
    prefix = f"At sweep point {point_label(point)}, on" if point else "On"
    plain_prefix = prefix
    with_drops = data.iid_sampler is not None and bool(focus)
    for sampler in focus if with_drops else data.samplers:
        by_norm = {r["normalizer"]: r for r in rows if r["sampler"] == sampler}
        compared = compared_normalizers(data) if with_drops else [n for n in data.normalizers
                                                                  if n != data.reference]
        diffs = {n: by_norm[n]["diff"] for n in compared if by_norm[n]["diff"] is not None}
        if with_drops:
            drops = {n: by_norm[n]["drop"] for n in data.normalizers}
            items.append({"sampler": sampler, "drops": drops, "diffs": diffs})
            phrases = [_loss_phrase(n, d, by_norm[n]["drop_test"]) for n, d in drops.items()]
            sentence = (f"{prefix} {sampler} batches, against {data.iid_sampler} batches in inference accuracy "
                        f"({METRIC}): {_listed(phrases)}.")
        else:
            accs = {n: by_norm[n]["acc"] for n in data.normalizers}
            items.append({"sampler": sampler, "accs": accs, "diffs": diffs})
            parts = [f"{n} {fmt(a['mean'])}% ({ci_text(a, signed=False)})" if a["n"] else f"{n} has {NO_VALUE}"
                     for n, a in accs.items()]
            sentence = f"{prefix} {sampler} batches, inference accuracy ({METRIC}): {_listed(parts)}."
        for norm, diff in diffs.items():
            sentence += _diff_phrase(norm, data.reference, diff, by_norm[norm]["diff_test"])
        sentences.append(sentence)
        plain.append((plain_sentence if with_drops else plain_accuracy_sentence)(data, sampler, by_norm,
                                                                                  plain_prefix))
        plain_prefix = "On"
        prefix = "On"  # the sweep point is named once
        for pair in pairs.get(sampler, []):
            sentences.append(f"On {sampler} batches, declared comparison (analysis.compare):"
                             + _diff_phrase(pair["a"], pair["b"], pair["diff"], pair["test"]))
    failed = not_learned(data, point)
    if failed:
        plain.append("Training failed for " + _listed([f"{n} on {s}" for s, n, _, _ in failed])
                     + ": see the details below.")
    for sampler, norm, train, control in failed:
        sentences.append(
            f"{norm} did not learn the task on {sampler} batches: its training accuracy over the last window is "
            f"{fmt(train)}% against {fmt(control)}% on {data.iid_sampler} batches, so its drop measures failed "
            "training, not a network that learned to depend on the composition of its batches.")
    if data.unpaired is not None:
        sentences.append(data.unpaired)
        plain.append(data.unpaired)
    elif data.reference is None and len(data.normalizers) > 1:
        sentences.append("No reference normalizer (analysis.reference is null: none was named and no normalizer is "
                         "named bn or of kind batchnorm): paired differences are not computed.")
        plain.append(sentences[-1])
    return {"plain": plain, "sentences": sentences, "items": items, "point": point, "rows": rows, "pairs": pairs}


def dependence_table(data: RunData) -> pd.DataFrame:
    """Per sweep point, sampler and normalizer: acc_inference, its drop from i.i.d. and its difference from
    the reference, each as mean/lo/hi/n columns (points)."""
    records: list[dict[str, Any]] = []
    for point in data.points():
        for row in verdict_table(data, point):
            rec = dict(point, sampler=row["sampler"], normalizer=row["normalizer"])
            for key in ("acc", "drop", "diff"):
                stats = row[key] or {"mean": math.nan, "lo": math.nan, "hi": math.nan, "n": 0}
                rec.update({f"{key}_{s}": stats[s] for s in ("mean", "lo", "hi", "n")})
            records.append(rec)
    return pd.DataFrame(records)


def summary_sections(run_dir: str | Path) -> tuple[str, str]:
    """(top, details) of summary.md in the report's order: the plain sentences first (as the report's headline),
    and the full statements (intervals, Holm p, bootstrap, power, seeds needed, training failures) for the end."""
    from harness.results.loader import load_run

    head = headline(load_run(run_dir))
    top = "\n\n".join(head["plain"])
    details = "## Details\n\n" + "\n\n".join(head["sentences"]) if head["sentences"] else ""
    return top, details
