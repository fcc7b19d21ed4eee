"""The report's figures, drawn with seaborn/matplotlib and returned ready to embed in HTML.

Each figure function takes a `RunData` (see loader.py) and returns a `Figure` (id, title, caption and
the embedded image) or None when the run has nothing to show for it. Colours: one per normalizer from
seaborn's colorblind palette, in scenario order, identical in every figure. Figures are inline SVG with
text kept as text (small, sharp in print); a figure whose SVG would be too large is embedded as a PNG data
URI instead. Confidence intervals are the t intervals of `harness.results.stats`, the same as in the tables.
"""

from __future__ import annotations

import base64
import io
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from harness.analysis import metrics as metric_table
from harness.analysis.metrics import METRICS, accuracy_modes, axis_label, display_scale
from harness.results import headline as hl
from harness.results import rundir
from harness.results.loader import ACCURACY_METRICS
from harness.results.stats import mean_ci
from harness.runtime import heavy

if TYPE_CHECKING:
    from harness.results.loader import RunData

Stats = dict[str, Any]  # a mean_ci dict

SVG_LIMIT = 400_000  # characters; above this a figure is embedded as PNG
PNG_DPI = 110
EXPORT_DPI = 200  # the PNG written under the run directory's figures/ (with an SVG and a PDF of each figure)
EXPORT_FORMATS = ("svg", "pdf", "png")
# The smallest text in a figure (points). A figure is at most MAX_WIDTH inches wide, so on a 1,400 px page
# (1,132 px of content) it is scaled by at least 0.75 and 9 pt text still renders at 9 px or more.
MIN_FONT = 9
MAX_WIDTH = 14.0
RC = {
    "svg.fonttype": "none",  # keep text as <text>: smaller files, selectable text
    "text.parse_math": False,  # user names with '$' must not be parsed as mathtext
    "font.size": MIN_FONT, "axes.titlesize": 10, "figure.titlesize": 11, "legend.fontsize": MIN_FONT,
    "legend.title_fontsize": MIN_FONT, "xtick.labelsize": MIN_FONT, "ytick.labelsize": MIN_FONT,
    "axes.labelsize": MIN_FONT,
    "axes.spines.top": False, "axes.spines.right": False,
    "font.family": "sans-serif", "font.sans-serif": ["DejaVu Sans"],  # ships with matplotlib
}
MODE_LABELS = {name: METRICS[name].mode for name in accuracy_modes()}


@dataclass
class Figure:
    """An embedded figure: `kind` is 'svg' (markup in `content`) or 'png' (a data URI in `content`)."""

    id: str
    title: str
    caption: str
    kind: str
    content: str
    alt: str
    exports: dict[str, bytes] = field(default_factory=dict)  # {"svg"|"pdf"|"png": bytes}: the files for figures/


COLORBLIND = ("#0173B2", "#DE8F05", "#029E73", "#D55E00", "#CC78BC", "#CA9161", "#FBAFE4", "#949494", "#ECE133",
              "#56B4E9")
"""seaborn's "colorblind" palette (`seaborn.palettes.SEABORN_PALETTES`), spelled out so that a figure without a
heatmap never imports seaborn (half a second in each drawing process); a test checks it against seaborn."""


def palette(normalizers: Sequence[str]) -> dict[str, Any]:
    """{normalizer: colour}: seaborn's colorblind palette (`COLORBLIND`) in the given order, cycled past 10,
    as RGB tuples."""
    to_rgb = heavy.module("matplotlib.colors").to_rgb
    return {n: to_rgb(COLORBLIND[i % len(COLORBLIND)]) for i, n in enumerate(normalizers)}


def embed(fig: Any, fig_id: str, title: str, caption: str) -> Figure:
    """Render a matplotlib figure to inline SVG (or PNG when the SVG is too large) and close it."""
    plt = heavy.pyplot()
    with plt.rc_context({"svg.hashsalt": fig_id, **RC}):
        buffer = io.StringIO()
        fig.savefig(buffer, format="svg", bbox_inches="tight", metadata={"Date": None})
        svg = buffer.getvalue()
        exports: dict[str, bytes] = {"svg": svg.encode("utf-8")}
        # the tight box is found once (as savefig's bbox_inches="tight" does, with its 0.1 in pad) and reused:
        # each format then draws the figure once instead of twice
        box = fig.get_tightbbox().padded(plt.rcParams["savefig.pad_inches"])
        for fmt, options in (("pdf", {"metadata": {"CreationDate": None}}),
                             ("png", {"dpi": EXPORT_DPI, "metadata": {"Software": None}})):
            binary = io.BytesIO()
            fig.savefig(binary, format=fmt, bbox_inches=box, **options)
            exports[fmt] = binary.getvalue()
        if len(svg) <= SVG_LIMIT:
            svg = svg[svg.index("<svg"):]
            # Accessible name; ids are salted per figure so several SVGs can share one page.
            svg = svg.replace("<svg ", f'<svg role="img" aria-labelledby="{fig_id}-title" ', 1)
            kind, content = "svg", svg
        else:
            png = io.BytesIO()
            fig.savefig(png, format="png", dpi=PNG_DPI, bbox_inches="tight", metadata={"Software": None})
            kind = "png"
            content = "data:image/png;base64," + base64.b64encode(png.getvalue()).decode("ascii")
    plt.close(fig)
    return Figure(fig_id, title, caption, kind, content, alt=title, exports=exports)


def export_name(section: str, figure: Figure) -> str:
    """The file name (without extension) of `figure` of `section` under figures/: the section's id, then the
    figure's own name when it differs (`headline`, `layers-mismatch`, `headline-dependence`)."""
    name = figure.id.removeprefix("fig-")
    return section if name == section else f"{section}-{name}"


def _wrap(label: object, width: int) -> str:
    """`label` broken into lines of at most `width` characters (at spaces), so 9-point labels fit their panel."""
    import textwrap

    return "\n".join(textwrap.wrap(" ".join(str(label).split()), width)) or str(label)


def _subplots(n_cols: int, n_rows: int = 1, width: float = 3.6, height: float = 2.9,
              **kwargs: Any) -> tuple[Any, Any]:
    plt = heavy.pyplot()
    with plt.rc_context(RC):
        fig, axes = plt.subplots(n_rows, n_cols, figsize=(min(width * n_cols, MAX_WIDTH), height * n_rows),
                                 squeeze=False, **kwargs)
    return fig, axes


def _finish(fig: Any, title: str, handles: list[Any] | None = None, labels: list[Any] | None = None,
            legend_title: str = "normalizer") -> None:
    """Figure title and one shared legend below the panels."""
    fig.suptitle(title, fontweight="bold")
    if handles is None:
        handles, labels = [], []
        for ax in fig.axes:
            for h, lab in zip(*ax.get_legend_handles_labels(), strict=False):
                if lab not in labels:
                    handles.append(h)
                    labels.append(lab)
    if handles:
        assert labels is not None  # given with the handles
        fig.legend(handles, labels, title=legend_title, loc="outside lower center",
                   ncol=min(len(labels), 6), frameon=False)


def _ci_err(stats_list: Sequence[Stats]) -> np.ndarray:
    """Asymmetric error bars (2, n) from mean_ci dicts; NaN intervals become zero-length bars, and so does the
    side of an interval cut at its range where the mean lies beyond the cut (a KL of -1e-8 from rounding,
    its interval cut at 0)."""
    lower = [max(s["mean"] - s["lo"], 0.0) if not math.isnan(s["lo"]) else 0.0 for s in stats_list]
    upper = [max(s["hi"] - s["mean"], 0.0) if not math.isnan(s["hi"]) else 0.0 for s in stats_list]
    return np.array([lower, upper])


def _grouped_bars(ax: Any, groups: Sequence[Any], data: RunData, colours: dict[str, Any],
                  stats_for: Callable[[Any, str], Stats], width: float = 0.8) -> np.ndarray:
    """Bars at each group position, one per normalizer, with CI error bars."""
    norms = data.normalizers
    bar = width / max(len(norms), 1)
    x = np.arange(len(groups))
    for i, norm in enumerate(norms):
        stats = [stats_for(g, norm) for g in groups]
        means = [s["mean"] for s in stats]
        positions = x - width / 2 + bar * (i + 0.5)
        ax.bar(positions, means, bar, color=colours[norm], label=norm,
               yerr=_ci_err(stats), capsize=2, error_kw={"elinewidth": 0.8})
        zero = [p for p, m in zip(positions, means, strict=False) if m == 0]  # a zero-height bar is invisible: mark it
        if zero:
            ax.plot(zero, [0.0] * len(zero), "_", color=colours[norm], markersize=10, markeredgewidth=2)
    ax.set_xticks(x)
    return x


def _stats_of(data: RunData, metric: str, sampler: str, norm: str, scale: float = 1.0) -> Stats:
    """mean_ci of a final metric, cut at its range: accuracies in points at [0, 100], everything else this
    report draws as bars (times, disagreement, KL) at 0 from below."""
    known = getattr(data, "metrics", None) or METRICS
    bounds = metric_table.bounds(metric, known, 100.0 if known[metric].unit == "fraction" else 1.0)
    return mean_ci(hl.values(data, metric, sampler, norm, None, scale).to_numpy(), bounds=bounds)


# ----------------------------------------------------------------------------- section "headline"
def headline_figure(data: RunData) -> Figure:
    """acc_inference per sampler, one bar per normalizer: the verdict table as a picture."""
    colours = palette(data.normalizers)
    fig, axes = _subplots(1, width=max(6.5, 2.2 * len(data.samplers)), height=3.2, layout="constrained")
    ax = axes[0, 0]
    _grouped_bars(ax, data.samplers, data, colours,
                  lambda s, n: _stats_of(data, hl.METRIC, s, n, data.accuracy_scale))
    ax.set_xticklabels(data.samplers)
    ax.set_xlabel("sampler (how training batches are built)")
    ax.set_ylabel("inference accuracy (%)")
    ax.set_ylim(0, 100)
    _finish(fig, "Inference accuracy by sampler and normalizer (mean, 95% CI over seeds)")
    return embed(fig, "fig-headline", "Inference accuracy by sampler and normalizer",
                 "Compare each sampler's bars with the i.i.d. sampler's: the gap is how much that normalizer "
                 "depends on the composition of its training batches.")


def short_names(variables: Sequence[str]) -> dict[str, str]:
    """Display names of swept fields: the last dotted component, unless two fields would share it."""
    tails = [v.rsplit(".", 1)[-1] for v in variables]
    return {v: t if tails.count(t) == 1 else v for v, t in zip(variables, tails, strict=False)}


def _set_sweep_axis(ax: Any, table: pd.DataFrame, xvar: str, numeric: bool) -> None:
    """A log2 axis for a positive swept batch size; ticks at the swept values of a numeric field."""
    if numeric and xvar.endswith("batch_size") and (table[xvar] > 0).all():
        ax.set_xscale("log", base=2)
    if numeric:
        ticks = sorted(table[xvar].unique())
        ax.set_xticks(ticks, [str(t) for t in ticks])
        ax.minorticks_off()


def dependence_figure(data: RunData) -> Figure | None:
    """Sweeps: acc_inference and its drop from i.i.d. against the first swept field, one line per normalizer.

    One swept field: rows = (accuracy, drop), columns = non-i.i.d. samplers. More fields: columns = the
    combinations of the other fields' values, rows = each sampler's accuracy and drop.
    """
    if not data.sweep_vars:
        return None
    table = hl.dependence_table(data)
    names = short_names(data.sweep_vars)
    xvar, others = data.sweep_vars[0], data.sweep_vars[1:]
    samplers = hl.non_iid_samplers(data) or data.samplers
    metrics = [("acc", "inference accuracy (%)"), ("drop", "drop from i.i.d. (points)")]
    if data.iid_sampler is None or samplers == [data.iid_sampler]:
        metrics = metrics[:1]  # only i.i.d. batches: there is no drop to draw
    if others:
        combos = [dict(zip(others, row, strict=False)) for row in
                  table[others].drop_duplicates().sort_values(others).itertuples(index=False)][:5]
        cols = combos
        rows = [(s, m) for s in samplers[:3] for m in metrics]
    else:
        rows = [(None, m) for m in metrics]
        cols = [dict(__sampler=s) for s in samplers[:5]]
    colours = palette(data.normalizers)
    fig, axes = _subplots(len(cols), len(rows), width=3.3, height=2.4, sharex=True, layout="constrained")
    numeric = pd.api.types.is_numeric_dtype(table[xvar])
    for c, fixed in enumerate(cols):
        fixed = dict(fixed)
        col_sampler = fixed.pop("__sampler", None)
        for r, (row_sampler, (key, ylabel)) in enumerate(rows):
            sampler = row_sampler or col_sampler
            sub = table[table["sampler"] == sampler]
            for var, value in fixed.items():
                sub = sub[sub[var] == value]
            ax = axes[r, c]
            for norm in data.normalizers:
                line = sub[sub["normalizer"] == norm].sort_values(xvar)
                x = line[xvar].to_numpy() if numeric else np.arange(len(line))
                ax.plot(x, line[f"{key}_mean"], marker="o", ms=3, color=colours[norm], label=norm)
                ax.fill_between(x, line[f"{key}_lo"].astype(float), line[f"{key}_hi"].astype(float),
                                color=colours[norm], alpha=0.2, linewidth=0)
                if not numeric:
                    ax.set_xticks(x, [str(v) for v in line[xvar]])
            _set_sweep_axis(ax, sub, xvar, numeric)
            if key == "drop":
                ax.axhline(0, color="0.5", lw=0.6)
            if r == len(rows) - 1:
                ax.set_xlabel(f"{names[xvar]} (swept)")
            if c == 0 or not others:
                ax.set_ylabel(ylabel, fontsize=MIN_FONT)
            where = ", ".join(f"{names[k]}={v}" for k, v in fixed.items())
            ax.set_title(f"{sampler}" + (f" | {where}" if where else "") + (": drop" if key == "drop" else ""),
                         fontsize=MIN_FONT)
    _finish(fig, f"Minibatch dependence: inference accuracy against {names[xvar]} (mean, 95% CI over seeds)")
    return embed(fig, "fig-dependence", f"Minibatch dependence curve against {xvar}",
                 "Follow each normalizer's line from easy to hard settings: the faster its drop from i.i.d. "
                 "grows, the more it depends on its minibatch.")


def dependence_heatmap(data: RunData) -> Figure | None:
    """Two swept fields: the drop from i.i.d. per normalizer as a heatmap, plus the difference from BN."""
    if len(data.sweep_vars) != 2:
        return None
    sns = heavy.seaborn()

    table = hl.dependence_table(data)
    names = short_names(data.sweep_vars)
    xvar, yvar = data.sweep_vars
    samplers = hl.non_iid_samplers(data)[:3]
    panels = [(n, "drop_mean", "drop from i.i.d. (points)") for n in data.normalizers]
    panels += [(n, "diff_mean", f"{n} minus {data.reference} (points)")
               for n in hl.compared_normalizers(data) if data.reference]
    fig, axes = _subplots(len(panels), len(samplers), width=3.4, height=2.8, layout="constrained")
    limits = {c: np.nanmax(np.abs(table[c].to_numpy(dtype=float))) for c in ("drop_mean", "diff_mean")}
    for row, sampler in enumerate(samplers):
        for col, (norm, column, label) in enumerate(panels):
            ax = axes[row, col]
            sub = table[(table["sampler"] == sampler) & (table["normalizer"] == norm)]
            grid = sub.pivot_table(index=yvar, columns=xvar, values=column, aggfunc="mean")
            diff = column == "diff_mean"
            sns.heatmap(grid, ax=ax, annot=True, fmt=".1f", cmap="vlag_r" if diff else "rocket_r",
                        vmin=-limits[column] if diff else 0, vmax=limits[column], annot_kws={"fontsize": MIN_FONT},
                        cbar_kws={"label": label})
            ax.set_title(f"{sampler}: {norm}" + (f" minus {data.reference}" if diff else " drop"), fontsize=9)
            ax.set_xlabel(f"{names[xvar]} (swept)")
            ax.set_ylabel(f"{names[yvar]} (swept)")
    fig.suptitle("Drop of inference accuracy from i.i.d. over the two swept fields (mean over seeds)",
                 fontweight="bold")
    return embed(fig, "fig-dependence-heatmap", "Dependence heatmap over two swept fields",
                 "Darker cells are settings where a normalizer loses more inference accuracy; in the difference "
                 "panels, blue cells are where it keeps more accuracy than BN and red cells where it keeps less.")


# ----------------------------------------------------------------------------- section "modes"
def modes_figure(data: RunData) -> Figure | None:
    """Accuracy in each evaluation mode, grouped bars per sampler (a panel widens with the number of modes, so
    their two-line tick labels do not collide)."""
    modes = [m for m in ACCURACY_METRICS if (data.summary["metric"] == m).any()]
    if not modes:
        return None
    colours = palette(data.normalizers)
    fig, axes = _subplots(len(data.samplers), width=max(3.8, 1.05 * len(modes)), height=3.4, sharey=True,
                          layout="constrained")
    for col, sampler in enumerate(data.samplers):
        ax = axes[0, col]

        def mode_stats(m: str, n: str, s: str = sampler) -> Stats:
            return _stats_of(data, m, s, n, data.accuracy_scale)

        _grouped_bars(ax, modes, data, colours, mode_stats)
        ax.set_xticklabels([_wrap(MODE_LABELS[m], 11) for m in modes], fontsize=MIN_FONT)
        ax.set_title(f"sampler: {sampler}")
        ax.set_ylim(0, 100)
        ax.set_xlabel("evaluation mode")
        if col == 0:
            ax.set_ylabel("test accuracy (%)")
    _finish(fig, "Accuracy in each evaluation mode (mean, 95% CI over seeds)")
    return embed(fig, "fig-modes", "Accuracy in each evaluation mode", modes_caption(data))


# A normalizer whose batch-statistics accuracy on sampler batches beats its inference accuracy by this many
# points is said (in the caption) to rely on the composition of its batches.
RELIES_POINTS = 10.0


def modes_caption(data: RunData) -> str:
    """The modes figure's caption, written from this run's numbers: which normalizers score much better with
    batch statistics on sampler batches than in inference mode, and which did not learn the task."""
    relies, scale = [], data.accuracy_scale
    not_learned = {(s, n) for s, n, _, _ in hl.not_learned(data)}
    for sampler in hl.non_iid_samplers(data) or data.samplers:
        for norm in data.normalizers:
            batch = hl.values(data, metric_table.BATCH_SAMPLER, sampler, norm, None, scale)
            inference = hl.values(data, hl.METRIC, sampler, norm, None, scale)
            if batch.empty or inference.empty or (sampler, norm) in not_learned:
                continue
            if batch.mean() - inference.mean() >= RELIES_POINTS:
                relies.append(f"{norm} on {sampler} ({batch.mean():.1f}% with its own batch statistics, "
                              f"{inference.mean():.1f}% in inference mode)")
    if relies:
        text = ("Scoring well with batch statistics on sampler batches but badly in inference mode means the network "
                "relies on the composition of its batches; in this run that holds for " + "; ".join(relies) + ".")
    else:
        text = (f"In this run no normalizer that learned the task scores {RELIES_POINTS:.0f} or more points higher "
                "with batch statistics on sampler batches than in inference mode, so none shows a reliance on the "
                "composition of its batches.")
    if not_learned:
        text += (" Not counted, because training accuracy stayed far below the i.i.d. control's (the task was not "
                 "learned): " + ", ".join(f"{n} on {s}" for s, n in sorted(not_learned)) + ".")
    return text


# ----------------------------------------------------------------------------- section "curves"
def _band(frame: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    """Mean and t interval of `value` per group (one row per group)."""
    rows = []
    for key, group in frame.groupby(by, sort=True):
        # every curve and layer metric is >= 0; accuracies and fractions (stored as fractions) are <= 1 too
        metric = str(group["metric"].iloc[0]) if "metric" in group.columns else ""
        fraction = metric in METRICS and METRICS[metric].unit == "fraction" and group["value"].max() <= 1.0
        stats = mean_ci(group["value"].to_numpy(), bounds=(0.0, 1.0 if fraction else math.inf))
        rows.append(dict(zip(by, key if isinstance(key, tuple) else (key,), strict=False), **stats))
    return pd.DataFrame(rows)


def curves_figure(data: RunData) -> Figure | None:
    """Learning curves with CI bands over seeds: train loss, acc_inference, acc_batch_sampler."""
    metrics = [(m, axis_label(m), data.accuracy_scale if m in ACCURACY_METRICS else display_scale(m))
               for m in metric_table.in_group(metric_table.CURVES)]
    metrics = [m for m in metrics if (data.curves["metric"] == m[0]).any()]
    if not metrics or data.curves.empty:
        return None
    colours = palette(data.normalizers)
    fig, axes = _subplots(len(data.samplers), len(metrics), width=3.6, height=2.5, sharex=True,
                          layout="constrained")
    bands = _band(data.curves[data.curves["metric"].isin([m for m, _, _ in metrics])],
                  ["metric", "sampler", "normalizer", "step"])
    for row, (metric, ylabel, scale) in enumerate(metrics):
        for col, sampler in enumerate(data.samplers):
            ax = axes[row, col]
            for norm in data.normalizers:
                b = bands[(bands["metric"] == metric) & (bands["sampler"] == sampler) & (bands["normalizer"] == norm)]
                if b.empty:
                    continue
                ax.plot(b["step"], b["mean"] * scale, color=colours[norm], label=norm, lw=1.3)
                ax.fill_between(b["step"], b["lo"] * scale, b["hi"] * scale, color=colours[norm], alpha=0.2,
                                linewidth=0)
            if row == 0:
                ax.set_title(f"sampler: {sampler}")
            if row == len(metrics) - 1:
                ax.set_xlabel("training step")
            if col == 0:
                ax.set_ylabel(_wrap(ylabel, 26), fontsize=MIN_FONT)
            if scale != 1.0:
                ax.set_ylim(0, 100)
    _finish(fig, "Learning curves (mean line, 95% CI band over seeds)")
    return embed(fig, "fig-curves", "Learning curves",
                 "Look for inference accuracy that stalls or falls while training loss keeps improving: the "
                 "network is fitting batch statistics that inference mode does not have.")


# ----------------------------------------------------------------------------- section "layers"
def mismatch_figure(data: RunData) -> Figure | None:
    """Relative L2 train/inference mismatch per layer depth, local (dashed) and propagated (solid)."""
    local, propagated = metric_table.in_group(metric_table.MISMATCH)
    frame = data.layers[data.layers["metric"].isin([local, propagated])]
    if frame.empty:
        return None
    Line2D = heavy.module("matplotlib.lines").Line2D

    colours = palette(data.normalizers)
    bands = _band(frame, ["metric", "sampler", "normalizer", "layer"])
    fig, axes = _subplots(len(data.samplers), width=3.6, height=3.4, sharey=True, layout="constrained")
    styles = {propagated: "-", local: "--"}
    for col, sampler in enumerate(data.samplers):
        ax = axes[0, col]
        for norm in data.normalizers:
            for metric, style in styles.items():
                b = bands[(bands["metric"] == metric) & (bands["sampler"] == sampler) & (bands["normalizer"] == norm)]
                if b.empty:
                    continue
                ax.errorbar(b["layer"], b["mean"], yerr=_ci_err(b.to_dict("records")), color=colours[norm],
                            ls=style, marker="o", ms=3, capsize=2, lw=1.2)
        ax.set_title(f"sampler: {sampler}")
        ax.set_xlabel("normalization layer (depth, 1 = first)")
        ax.set_xticks(sorted(frame["layer"].unique()))
        if col == 0:
            ax.set_ylabel("relative L2 mismatch (ratio)")
    handles = [Line2D([], [], color=colours[n], lw=2) for n in data.normalizers]
    handles += [Line2D([], [], color="0.3", ls=s) for s in styles.values()]
    labels = list(data.normalizers) + ["propagated (whole network)", "local (same input)"]
    _finish(fig, "Train/inference mismatch ||y_train - y_inf|| / ||y_inf|| by layer (mean, 95% CI over seeds)",
            handles, labels,
            legend_title="normalizer / measurement")
    return embed(fig, "fig-mismatch", "Train/inference mismatch by layer",
                 "A solid line rising above its dashed line shows mismatch compounding with depth; values near "
                 "zero mean training and inference modes compute the same activations.")


def rd_figure(data: RunData) -> Figure | None:
    """Distributions of |log r| and |d| per layer as box plots drawn from the stored quantiles."""
    quantiles = ["q05", "q25", "q50", "q75", "q95"]
    rows = [(p, label) for p, label in (("abs_log_r", "|log r| = |log(sigma_B / sigma)| (unitless)"),
                                        ("abs_d", "|d| = |mu_B - mu| / sigma (units of sigma)"))
            if (data.layers["metric"] == f"{p}_q50").any()]
    if not rows:
        return None
    Patch = heavy.module("matplotlib.patches").Patch

    colours = palette(data.normalizers)
    layers = sorted(data.layers["layer"].unique())
    fig, axes = _subplots(len(data.samplers), len(rows), width=3.6, height=2.7, layout="constrained")
    mean_q = data.layers.groupby(["sampler", "normalizer", "layer", "metric"])["value"].mean()
    width = 0.8 / len(data.normalizers)
    for r, (prefix, ylabel) in enumerate(rows):
        for col, sampler in enumerate(data.samplers):
            ax = axes[r, col]
            for i, norm in enumerate(data.normalizers):
                stats, positions = [], []
                for layer in layers:
                    try:
                        q = [mean_q[(sampler, norm, layer, f"{prefix}_{k}")] for k in quantiles]
                    except KeyError:
                        continue
                    stats.append({"whislo": q[0], "q1": q[1], "med": q[2], "q3": q[3], "whishi": q[4],
                                  "fliers": [], "label": str(layer)})
                    positions.append(layer - 0.4 + width * (i + 0.5))
                if stats:
                    ax.bxp(stats, positions=positions, widths=width * 0.85, patch_artist=True, showfliers=False,
                           boxprops={"facecolor": colours[norm], "alpha": 0.75, "linewidth": 0.6},
                           medianprops={"color": "black", "linewidth": 0.8}, manage_ticks=False)
            ax.set_xticks(layers, [str(v) for v in layers])
            ax.set_xlabel("normalization layer (depth)")
            if col == 0:
                ax.set_ylabel(_wrap(ylabel, 26), fontsize=MIN_FONT)
            if r == 0:
                ax.set_title(f"sampler: {sampler}")
    handles = [Patch(facecolor=colours[n], alpha=0.75, label=n) for n in data.normalizers]
    _finish(fig, "Batch vs population statistics per layer (boxes: 25-75%, whiskers: 5-95% over channels)",
            handles, list(data.normalizers))
    return embed(fig, "fig-rd", "Distributions of |log r| and |d| per layer",
                 "Wide boxes far from zero mean the batch statistics differ strongly from the population "
                 "statistics used at inference; Batch Renorm's r and d correct exactly this difference.")


def clip_figure(data: RunData) -> Figure | None:
    """Fraction of channels at the r/d clip over training, for the normalizers that clip."""
    frame = data.curves[data.curves["metric"].isin(metric_table.in_group(metric_table.CLIP))]
    if frame.empty:
        return None
    colours = palette(data.normalizers)
    bands = _band(frame, ["sampler", "normalizer", "step"])
    fig, axes = _subplots(len(data.samplers), width=3.4, height=2.6, sharey=True, layout="constrained")
    for col, sampler in enumerate(data.samplers):
        ax = axes[0, col]
        for norm in data.normalizers:
            b = bands[(bands["sampler"] == sampler) & (bands["normalizer"] == norm)]
            if b.empty:
                continue
            ax.plot(b["step"], 100 * b["mean"], color=colours[norm], label=norm)
            ax.fill_between(b["step"], 100 * b["lo"], 100 * b["hi"], color=colours[norm], alpha=0.2, linewidth=0)
        ax.set_title(f"sampler: {sampler}")
        ax.set_xlabel("training step")
        if col == 0:
            ax.set_ylabel("channels with r or d at the clip (%)", fontsize=MIN_FONT)
    _finish(fig, "Batch Renorm clipping over training (mean, 95% CI over seeds)")
    return embed(fig, "fig-clip", "Clip fraction over training",
                 "A large clipped fraction means r and d often hit r_max/d_max, so the layer is partly "
                 "back to plain batch normalization on those channels.")


# ----------------------------------------------------------------------------- section "logits"
def logits_figure(data: RunData) -> Figure | None:
    """Prediction disagreement and KL between training-mode and inference-mode logits."""
    metrics = [(m, axis_label(m), display_scale(m)) for m in metric_table.in_group(metric_table.LOGITS)
               if (data.summary["metric"] == m).any()]
    if not metrics:
        return None
    colours = palette(data.normalizers)
    fig, axes = _subplots(len(metrics), width=4.6, height=3.0, layout="constrained")
    for col, (metric, label, scale) in enumerate(metrics):
        ax = axes[0, col]

        def logit_stats(s: str, n: str, m: str = metric, k: float = scale) -> Stats:
            return _stats_of(data, m, s, n, k)

        _grouped_bars(ax, data.samplers, data, colours, logit_stats)
        ax.set_xticklabels(data.samplers)
        ax.set_xlabel("sampler")
        ax.set_ylabel(label, fontsize=MIN_FONT)
        ax.set_title(metric)
    _finish(fig, "Logit-level train/inference mismatch (mean, 95% CI over seeds)")
    caption = ("Both numbers are zero when training mode and inference mode predict the same; high values "
               "on a sampler mean the network's output depends on which batch an example arrives in.")
    order = logit_order_sentence(data)
    return embed(fig, "fig-logits", "Logit-level mismatch", caption + (" " + order if order else ""))


def _sampler_order(data: RunData, metric: str, norm: str) -> list[str]:
    """The samplers of `data` by the mean of `metric` for `norm`, highest first (NaN means left out)."""
    means = {s: hl.values(data, metric, s, norm).mean() for s in data.samplers}
    return [s for s in sorted(means, key=lambda s: -means[s]) if not math.isnan(means[s])]


def logit_order_sentence(data: RunData) -> str | None:
    """A sentence for the logit figure when prediction disagreement and KL rank the samplers differently for a
    normalizer (highest first), with why that can happen; None when they agree everywhere."""
    measures = metric_table.in_group(metric_table.LOGITS)  # (prediction disagreement, KL), as the table orders them
    if len(measures) != 2 or not all((data.summary["metric"] == m).any() for m in measures):
        return None
    disagreement, kl = measures
    differ = []
    for norm in data.normalizers:
        by_disagreement = _sampler_order(data, disagreement, norm)
        by_kl = _sampler_order(data, kl, norm)
        if len(by_disagreement) > 1 and by_disagreement != by_kl:
            differ.append(f"for {norm} disagreement ranks them {' > '.join(by_disagreement)} but KL "
                          f"{' > '.join(by_kl)}")
    if not differ:
        return None
    return ("The two measures order the samplers differently here (" + "; ".join(differ) + "): disagreement counts "
            "only predictions that change, while KL also weighs how far the predicted probabilities move, so a "
            "sampler can shift probabilities a lot without changing many predictions, or the reverse.")


# ----------------------------------------------------------------------------- section "composition"
def composition_figure(data: RunData) -> Figure | None:
    """Label composition of the first training batches of each sampler."""
    if data.composition.empty:
        return None
    sns = heavy.seaborn()

    comp = data.composition
    labels = range(int(comp["label"].min()), int(comp["label"].max()) + 1)
    batches = range(int(comp["batch"].max()) + 1)
    vmax = comp["count"].max()
    fig, axes = _subplots(len(data.samplers), width=3.8, height=3.0, sharey=True, layout="constrained")
    for col, sampler in enumerate(data.samplers):
        ax = axes[0, col]
        grid = (comp[comp["sampler"] == sampler].pivot_table(index="label", columns="batch", values="count",
                                                             aggfunc="sum", fill_value=0)
                .reindex(index=labels, columns=batches, fill_value=0))
        last = col == len(data.samplers) - 1
        sns.heatmap(grid, ax=ax, cmap="viridis", vmin=0, vmax=vmax, cbar=last,
                    cbar_kws={"label": "examples of the label in the batch"} if last else None,
                    xticklabels=8, yticklabels=1, rasterized=True)
        ax.set_title(f"sampler: {sampler}")
        ax.set_xlabel("training batch (order drawn)")
        ax.set_ylabel("label (class id)" if col == 0 else "")
    fig.suptitle("Label composition of the first training batches (first seed)", fontweight="bold")
    return embed(fig, "fig-composition", "Label composition of the first training batches",
                 "Each column is one batch: an i.i.d. sampler spreads its examples over all labels, a "
                 "class-correlated one concentrates them in a few bright cells.")


# ----------------------------------------------------------------------------- section "timing"
def trial_timing(data: RunData) -> pd.DataFrame:
    """Per trial of `data` (its sampler, normalizer, seed and sweep point): the seconds spent tracing the training
    step (`trace`: the first trial of each model shape traces it, later ones reuse the graph) and the rest of the
    trial's wall time (`rest`), read from the trial files of the run directory. Empty when they do not record it."""
    import json

    from harness.results.tables import _ids

    records = []
    for path in sorted((data.path / "trials").glob("*.json")):
        try:
            result = json.loads(path.read_text(encoding="utf-8"))
            trace = float((result.get("timing") or {})["trace"])
            seconds = float(result["seconds"])
            ids = _ids(result)
        except (OSError, ValueError, KeyError, TypeError):
            continue
        if result.get("status") != rundir.OK:
            continue
        records.append({**{k: str(v) for k, v in ids.items()}, "trace": trace, "rest": max(seconds - trace, 0.0)})
    if not records:
        return pd.DataFrame(columns=["sampler", "normalizer", "seed", "trace", "rest"])
    frame = pd.DataFrame(records)
    keys = [c for c in data.trials.columns if c in frame.columns]
    wanted = data.trials[data.trials["status"] == rundir.OK][keys].astype(str).drop_duplicates()
    return frame.merge(wanted, on=keys)


def timing_figure(data: RunData) -> Figure | None:
    """Cost per normalizer: the trial's wall time without tracing, the tracing of the training step apart (the
    first trial of each shape pays it), and the table's other timing metrics (time per training step)."""
    timing = trial_timing(data)
    metrics = []
    shown = [m for m in metric_table.in_group(metric_table.TIMING) if (data.summary["metric"] == m).any()]
    if not timing.empty:
        def timing_stats(column: str) -> Callable[[Any, str], Stats]:
            def stats(sampler: Any, norm: str) -> Stats:
                rows = timing[(timing["sampler"] == str(sampler)) & (timing["normalizer"] == str(norm))]
                return mean_ci(rows[column].to_numpy(dtype=float), bounds=(0.0, math.inf))
            return stats

        metrics += [("wall time per trial without tracing (s)", "trial time, tracing apart", timing_stats("rest")),
                    ("tracing the training step (s)", "tracing (first trial of a shape)", timing_stats("trace"))]
        shown = [m for m in shown if m == metric_table.STEP_TIME]  # the wall time is split above
    for name in shown:
        def metric_stats(s: str, n: str, name: str = name) -> Stats:
            return _stats_of(data, name, s, n)

        metrics.append((axis_label(name), metric_table.METRICS[name].label, metric_stats))
    if not metrics:
        return None
    colours = palette(data.normalizers)
    fig, axes = _subplots(len(metrics), width=4.6, height=3.0, layout="constrained")
    for col, (label, title, stats_for) in enumerate(metrics):
        ax = axes[0, col]
        _grouped_bars(ax, data.samplers, data, colours, stats_for)
        ax.set_xticklabels(data.samplers)
        ax.set_xlabel("sampler")
        ax.set_ylabel(label)
        ax.set_title(title)
    _finish(fig, "Cost per normalizer (mean, 95% CI over seeds)")
    return embed(fig, "fig-timing", "Cost per normalizer",
                 "Bars of equal height mean the normalizers cost the same. Tracing (building the training step's "
                 "graph) is shown apart: it is paid once per model shape, by whichever trial runs first, so it says "
                 "nothing about a normalizer's cost per step; the ratio table below gives the paired cost of each "
                 "normalizer relative to BN.")


# ----------------------------------------------------------------------------- comparison of two runs
def compare_figure(run_a: RunData, run_b: RunData, label_a: str, label_b: str) -> Figure:
    """acc_inference per sampler and normalizer in both runs: run A solid bars, run B hatched."""
    Patch = heavy.module("matplotlib.patches").Patch

    colours = palette(run_a.normalizers)
    norms = run_a.normalizers
    fig, axes = _subplots(1, width=max(6.0, 2.0 * len(run_a.samplers)), height=3.2, layout="constrained")
    ax = axes[0, 0]
    slots = [(n, r) for n in norms for r in (0, 1)]
    bar = 0.84 / len(slots)
    x = np.arange(len(run_a.samplers))
    for i, (norm, which) in enumerate(slots):
        run = (run_a, run_b)[which]
        stats = [_stats_of(run, hl.METRIC, s, norm, run.accuracy_scale) for s in run_a.samplers]
        ax.bar(x - 0.42 + bar * (i + 0.5), [s["mean"] for s in stats], bar, color=colours[norm],
               hatch="///" if which else None, edgecolor="white" if which else None,
               yerr=_ci_err(stats), capsize=2, error_kw={"elinewidth": 0.8})
    ax.set_xticks(x, run_a.samplers)
    ax.set_ylim(0, 100)
    ax.set_xlabel("sampler")
    ax.set_ylabel("test accuracy, inference mode (%)")
    handles = [Patch(facecolor=colours[n], label=n) for n in norms]
    handles += [Patch(facecolor="0.6", label=f"A: {label_a}"),
                Patch(facecolor="0.6", hatch="///", edgecolor="white", label=f"B: {label_b}")]
    _finish(fig, "Inference accuracy in run A (solid) and run B (hatched), mean and 95% CI over seeds",
            handles, [h.get_label() for h in handles], legend_title="normalizer / run")
    return embed(fig, "fig-compare", "Inference accuracy, run A vs run B",
                 "Compare each solid bar with the hatched bar beside it: a taller hatched bar means the change "
                 "from run A to run B helped that normalizer on that sampler.")


def compare_curves_figure(run_a: RunData, run_b: RunData) -> Figure:
    """acc_inference learning curves of both runs: A solid, B dashed, CI bands over seeds."""
    Line2D = heavy.module("matplotlib.lines").Line2D

    colours = palette(run_a.normalizers)
    fig, axes = _subplots(len(run_a.samplers), width=3.6, height=2.8, sharey=True, layout="constrained")
    for run, style in ((run_a, "-"), (run_b, "--")):
        frame = run.curves[run.curves["metric"] == hl.METRIC]
        if frame.empty:
            continue
        bands = _band(frame, ["sampler", "normalizer", "step"])
        for col, sampler in enumerate(run_a.samplers):
            ax = axes[0, col]
            for norm in run_a.normalizers:
                b = bands[(bands["sampler"] == sampler) & (bands["normalizer"] == norm)]
                if b.empty:
                    continue
                scale = run.accuracy_scale
                ax.plot(b["step"], b["mean"] * scale, color=colours[norm], ls=style, lw=1.2)
                ax.fill_between(b["step"], b["lo"] * scale, b["hi"] * scale, color=colours[norm], alpha=0.12,
                                linewidth=0)
            ax.set_title(f"sampler: {sampler}")
            ax.set_xlabel("training step")
            ax.set_ylim(0, 100)
            if col == 0:
                ax.set_ylabel("test accuracy, inference (%)")
    handles = [Line2D([], [], color=colours[n], lw=2) for n in run_a.normalizers]
    handles += [Line2D([], [], color="0.3", ls="-"), Line2D([], [], color="0.3", ls="--")]
    _finish(fig, "Inference accuracy during training, run A (solid) vs run B (dashed)", handles,
            list(run_a.normalizers) + ["run A", "run B"], legend_title="normalizer / run")
    return embed(fig, "fig-compare-curves", "Learning curves, run A vs run B",
                 "Where the dashed line of a normalizer sits above its solid line, run B reached higher "
                 "inference accuracy at that step.")
