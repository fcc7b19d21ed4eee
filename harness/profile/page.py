"""The profile page (index.html of a profile folder): dependence curves on shared axes, the ranked table of
indices with the verdicts against each reference, one sentence per profiled normalizer, provenance.
One self-contained file, rendered with the report's Jinja environment and figure helpers."""

from __future__ import annotations

import math
import os
from typing import TYPE_CHECKING

from harness.profile.battery import AXES
from harness.profile.compute import METRIC
from harness.profile.result import ranked, sentence
from harness.results import rundir
from harness.runtime import heavy

if TYPE_CHECKING:
    import pandas as pd

    from harness.report.figures import Figure

PAGE = rundir.REPORT
TEMPLATE = "profile.html.j2"


def curves_figure(profile: dict, cells: pd.DataFrame) -> Figure | None:
    """acc_inference against each axis of the battery (batch size, classes per batch, Dirichlet alpha,
    microbatch size), one line per normalizer with its t interval, all panels on one y axis."""
    from harness.report import figures

    plt = heavy.pyplot()
    conditions = {c["name"]: c for c in profile["conditions"]}
    axes = [a for a in AXES if any(c["axis"] == a for c in profile["conditions"])]
    names = ranked(profile)
    colours = figures.palette(list(profile["normalizers"]))
    with plt.rc_context(figures.RC):
        fig, panels = plt.subplots(1, len(axes), figsize=(3.4 * len(axes), 3.0), sharey=True, squeeze=False)
        selected = cells[cells["metric"] == METRIC]
        for panel, axis in zip(panels[0], axes, strict=False):
            for name in names:
                rows = selected[selected["normalizer"] == name]
                rows = rows[[conditions[c]["axis"] == axis for c in rows["condition"]]] if len(rows) else rows
                if rows.empty:
                    continue
                xs = [conditions[c]["x"] for c in rows["condition"]]
                order = sorted(range(len(xs)), key=xs.__getitem__)
                x = [xs[i] for i in order]
                y = rows["mean"].to_numpy()[order]
                lo, hi = rows["ci_low"].to_numpy()[order], rows["ci_high"].to_numpy()[order]
                err = [[0 if math.isnan(v) else m - v for m, v in zip(y, lo, strict=False)],
                       [0 if math.isnan(v) else v - m for m, v in zip(y, hi, strict=False)]]
                panel.errorbar(x, y, yerr=err, marker="o", markersize=3, capsize=2, label=name,
                               color=colours[name], linewidth=1.6 if name in profile["profiled"] else 1.0,
                               linestyle="-" if name in profile["profiled"] else "--")
            if axis in ("batch_size", "dirichlet_alpha", "microbatch"):
                panel.set_xscale("log", base=2 if axis != "dirichlet_alpha" else 10)
            ticks = sorted({c["x"] for c in profile["conditions"] if c["axis"] == axis})
            panel.set_xticks(ticks, [f"{t:g}" for t in ticks])  # plain numbers: the report turns mathtext off
            panel.minorticks_off()
            panel.set_xlabel(AXES[axis])
            panel.grid(alpha=0.3)
        panels[0][0].set_ylabel("inference accuracy (%)")
        handles, labels = panels[0][0].get_legend_handles_labels()
        fig.tight_layout()
        fig.legend(handles, labels, loc="center left", bbox_to_anchor=(1.0, 0.5),
                   title="normalizer\n(dashed: reference)")
    caption = ("Inference accuracy (mean over seeds, 95% t interval) against each axis of the battery; every "
               "panel shares the y axis. The reference condition "
               f"({profile['reference_condition']}) is the point drops are measured from.")
    return figures.embed(fig, "profile-curves", "Dependence curves", caption)


def context(profile: dict, cells: pd.DataFrame, table: pd.DataFrame, provenance: dict) -> dict:
    """What the template shows."""
    labels = {c["name"]: c["label"] for c in profile["conditions"]}
    rows = []
    for rank, name in enumerate(ranked(profile), 1):
        entry = profile["normalizers"][name]
        rows.append({"rank": rank, "name": name, "kind": entry["kind"], "reference": entry["reference"],
                     "index": entry["index"], "ci": entry["ci"],
                     "worst": labels.get(entry["worst"], entry["worst"]) if entry["worst"] else None,
                     "worst_drop": entry["worst_drop"], "n_conditions": len(entry["conditions"]),
                     "versus": entry["versus"]})
    condition_rows = []
    for condition in profile["conditions"]:
        row = {"label": condition["label"], "name": condition["name"], "values": []}
        for name in ranked(profile):
            cell = cells[(cells["normalizer"] == name) & (cells["condition"] == condition["name"])
                         & (cells["metric"] == METRIC)]
            row["values"].append(None if cell.empty else cell.iloc[0].to_dict())
        condition_rows.append(row)
    return {"title": f"Profile: {profile['battery']}", "profile": profile, "rows": rows,
            "sentences": [sentence(profile, n) for n in ranked(profile) if n in profile["profiled"]],
            "curves": curves_figure(profile, cells), "condition_rows": condition_rows, "order": ranked(profile),
            "family_size": len(table), "provenance": provenance, "failed_cells": profile["failed_cells"],
            "labels": labels, "provenance_items": provenance_items(profile, provenance)}


def provenance_items(profile: dict, provenance: dict) -> list[tuple[str, str]]:
    """The report's provenance list plus the battery and where the time went."""
    from harness.report.render import provenance_items

    items = [("battery", f"{profile['battery']} ({profile['battery_source']})")]
    items += provenance_items(provenance or {})
    timing = (provenance or {}).get("timing") or {}
    if timing:
        shown = {k: f"{v:.1f} s" for k, v in timing.items() if isinstance(v, (int, float))}
        items.append(("time", ", ".join(f"{k} {v}" for k, v in shown.items())))
        spent = timing.get("trial_seconds") or {}
        if spent:
            items.append(("inside trials (summed over workers)",
                          f"{spent['trials']} trials: training {spent['train']:.1f} s (of which tracing and compiling "
                          f"{spent['trace']:.1f} s), "
                          f"analysis {spent['analysis']:.1f} s"))
    return items


def render(profile: dict, cells: pd.DataFrame, table: pd.DataFrame, provenance: dict) -> str:
    """The page's HTML."""
    from harness.report.render import _environment

    return _environment().get_template(TEMPLATE).render(**context(profile, cells, table, provenance))


def write(out_dir: str, profile: dict, cells: pd.DataFrame, table: pd.DataFrame, provenance: dict) -> None:
    """index.html of the profile folder, written atomically."""
    from harness.runtime.atomic import write_text

    write_text(os.path.join(out_dir, PAGE), render(profile, cells, table, provenance))
