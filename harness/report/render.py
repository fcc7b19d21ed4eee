"""Assemble the report: load the run, compute tables and figures, render the Jinja2 template, write atomically.

The HTML is one self-contained file: CSS inline, figures inline (SVG) or as data URIs (PNG), no script and
nothing fetched from the network, so it opens offline and survives being mailed around.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import os
import typing
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.analysis import metrics as metric_table
from harness.errors import UsageError
from harness.report import figures as figs
from harness.results import headline as hl
from harness.results import rundir
from harness.results.comparisons import established, family_description
from harness.results.loader import ACCURACY_METRICS, load_run, restrict
from harness.results.stats import mean_ci
from harness.runtime import atomic

if TYPE_CHECKING:
    from harness.results.loader import RunData

NONIID_METRICS = [("tv_distance", "TV distance to population"), ("hellinger_distance", "Hellinger distance"),
                  ("effective_classes", "effective classes per batch"), ("coverage", "epoch coverage"),
                  ("repeat_rate", "within-batch repeats")]


def _environment() -> Any:
    """The Jinja2 environment of the report's templates (autoescaped, strict), with its `ci` and `num` filters; a
    section's inline template (`Section.html`) is found by the same name as its file would be."""
    import jinja2

    inline = {section.template: section.html for section in SECTIONS if section.html is not None}
    env = jinja2.Environment(
        loader=jinja2.ChoiceLoader([jinja2.DictLoader(inline), jinja2.PackageLoader("harness.report", "templates")]),
        autoescape=True,  # every template, whatever its extension: user strings are always escaped
        undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters["ci"] = _ci_filter
    env.filters["num"] = lambda x, digits=1, signed=False: _num(x, digits, signed)
    return env


def _num(x: float | None, digits: int = 1, signed: bool = False) -> str:
    """`x` with `digits` decimals (a sign when `signed`; never '-0.0'), or 'n/a' for None or NaN."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "n/a"
    if round(x, digits) == 0:
        x = 0.0  # no "-0.0"
    return f"{x:+.{digits}f}" if signed else f"{x:.{digits}f}"


CUT_MARK = "†"


def _ci_filter(stats: dict[str, Any] | None, digits: int = 1, signed: bool = False) -> str:
    """'12.3 [10.1, 14.5]' for a mean_ci dict (the interval omitted when undefined); an end cut at the
    quantity's range is marked with CUT_MARK; all seeds equal: 'no interval (all seeds agree)'."""
    if not stats or stats["n"] == 0:
        return "n/a"
    text = _num(stats["mean"], digits, signed)
    if stats.get("agree"):
        return text + " (no interval: all seeds agree)"
    if stats["n"] >= 2 and not math.isnan(stats["lo"]):
        lo = _num(stats["lo"], digits, signed) + (CUT_MARK if stats.get("lo_clipped") else "")
        hi = _num(stats["hi"], digits, signed) + (CUT_MARK if stats.get("hi_clipped") else "")
        text += f" [{lo}, {hi}]"
    return text


def _noniid_table(data: RunData) -> list[dict[str, Any]]:
    """One row per sampler: its kind and the mean of each of NONIID_METRICS over its batches."""
    frame = data.noniid.groupby(["sampler", "metric"])["value"].mean()
    rows = []
    for sampler in data.samplers:
        rows.append({"sampler": sampler, "kind": data.sampler_kinds.get(sampler, ""),
                     "values": [frame.get((sampler, m), math.nan) for m, _ in NONIID_METRICS]})
    return rows


def _cost_ratios(data: RunData) -> list[dict[str, Any]]:
    """Per non-reference normalizer: ms/step divided by the reference's, paired over (sampler, seed)."""
    if data.reference is None:
        return []
    import numpy as np

    rows = []
    frame = data.summary[data.summary["metric"] == metric_table.STEP_TIME]
    pivot = frame.pivot_table(index=["sampler", "seed"], columns="normalizer", values="value", aggfunc="mean")
    for norm in data.normalizers:
        if norm == data.reference or norm not in pivot or data.reference not in pivot:
            continue
        ratio = (pivot[norm] / pivot[data.reference]).to_numpy(dtype=float)
        positive = (0.0, math.inf)
        rows.append({"normalizer": norm, "ratio": mean_ci(ratio[np.isfinite(ratio)], bounds=positive),
                     "ms": mean_ci(pivot[norm].to_numpy(dtype=float), bounds=positive),
                     "ms_ref": mean_ci(pivot[data.reference].to_numpy(dtype=float), bounds=positive)})
    return rows


def _mode_table(data: RunData) -> tuple[list[str], list[dict[str, Any]]]:
    """acc per mode (points) per sampler x normalizer, for the table under the modes figure."""
    modes = [m for m in ACCURACY_METRICS if (data.summary["metric"] == m).any()]
    rows = []
    for sampler in data.samplers:
        for norm in data.normalizers:
            rows.append({"sampler": sampler, "normalizer": norm, "values": [
                mean_ci(hl.values(data, m, sampler, norm, None, data.accuracy_scale).to_numpy(), bounds=hl.ACC_BOUNDS)
                for m in modes]})
    return modes, rows


def _shown_stats(data: RunData, metric: str, sampler: str, norm: str) -> dict[str, Any]:
    """mean_ci of a final metric as the report shows it (fractions in percent), cut at its range."""
    scale = metric_table.display_scale(metric, data.metrics)
    return mean_ci(hl.values(data, metric, sampler, norm, None, scale).to_numpy(),
                   bounds=metric_table.bounds(metric, data.metrics, scale))


def _logit_table(data: RunData) -> list[dict[str, Any]]:
    """One row per sampler x normalizer: prediction disagreement and KL as the report shows them."""
    disagreement, kl = metric_table.in_group(metric_table.LOGITS)
    rows = []
    for sampler in data.samplers:
        for norm in data.normalizers:
            rows.append({"sampler": sampler, "normalizer": norm,
                         "disagreement": _shown_stats(data, disagreement, sampler, norm),
                         "kl": _shown_stats(data, kl, sampler, norm)})
    return rows


def _extra_metrics(data: RunData, detail: RunData) -> dict[str, Any]:
    """The "other metrics" section: the metrics of the run's table in its `extra` group (metric plugins)."""
    names = [m for m in metric_table.in_group(metric_table.EXTRA, data.metrics)
             if (detail.summary["metric"] == m).any()]
    rows = [{"sampler": sampler, "normalizer": norm, "values": [_shown_stats(detail, m, sampler, norm) for m in names]}
            for sampler in detail.samplers for norm in detail.normalizers]
    return {"extra_metrics": [{"name": m, "header": f"{metric_table.axis_label(m, data.metrics)}"} for m in names],
            "extra_rows": rows}


def _bad_trials(data: RunData) -> list[dict[str, Any]]:
    """One row per trial that did not finish OK, or did without some metrics: where it ran, its status and why."""
    rows = []
    for record in data.bad_trials.to_dict("records"):
        reason = record.get("error")
        if not isinstance(reason, str) or not reason:
            reason = ""
        failed = record.get("failed_metrics")
        if record["status"] == rundir.OK and isinstance(failed, str) and failed:
            record["status"], reason = "ok, metrics failed", failed  # its other metrics are results
        step = record.get("diverged_step")
        if (record["status"] == rundir.DIVERGED and step is not None
                and not (isinstance(step, float) and math.isnan(step))):
            reason = f"diverged at step {int(step)}" + (f": {reason}" if reason else "")
        where = hl.point_label({v: record[v] for v in data.sweep_vars if v in record})
        rows.append({"sampler": record["sampler"], "normalizer": record["normalizer"], "seed": record["seed"],
                     "status": record["status"], "reason": reason or record["status"], "point": where})
    return rows


def _provenance(data: RunData) -> list[tuple[str, str]]:
    """(label, text) pairs of the run's provenance: command, times, commit, host, device, CPU, versions."""
    return provenance_items(data.provenance or {})


def provenance_items(prov: dict) -> list[tuple[str, str]]:
    """(label, text) pairs of a provenance.json mapping: command, times, commit, host, device, CPU, versions."""
    versions = prov.get("versions") or {}
    device = prov.get("device") or {}
    items = [("command", prov.get("command")), ("started", prov.get("started")),
             ("finished", prov.get("finished")), ("git commit", prov.get("git_commit") or "none recorded"),
             ("hostname", prov.get("hostname")),
             ("device", " / ".join(dict.fromkeys(str(device[k]) for k in ("type", "name", "cpu_model")
                                                if device.get(k)))),
             ("CPU instruction set", _cpu_flags(prov))]
    items += [(f"{k} version", v) for k, v in versions.items()]
    return [(k, "" if v is None else str(v)) for k, v in items]


def _cpu_flags(prov: dict[str, Any]) -> str:
    """The SIMD extensions of the run's CPU (provenance `cpu`), or why they are not known."""
    cpu = prov.get("cpu") or {}
    parts = [str(cpu[k]) for k in ("machine",) if cpu.get(k)]
    if cpu.get("simd"):
        parts.append(" ".join(cpu["simd"]))
    return " / ".join(parts) or "not recorded"


def _clean(figures: Sequence[figs.Figure | None]) -> list[figs.Figure]:
    """`figures` without the Nones (figures a run has nothing to show for)."""
    return [f for f in figures if f is not None]


@dataclasses.dataclass(frozen=True)
class Section:
    """One section of the single-run report: its anchor `id`, its `title`, the figures it shows and the values
    its template (`templates/sections/<id>.html.j2`) needs beyond the report's common ones.

    figures(detail) and context(data, detail) receive the run (`data`) and the run restricted to the point the
    sections show (`detail`: the hardest sweep point, or the whole run without a sweep). Sections are numbered
    in the order of `SECTIONS`; adding one is an entry there, its template given inline (`html`, the Jinja2
    text, with the report's `ci` and `num` filters and `macros.html.j2`) or as the file.
    """

    id: str
    title: str
    figures: typing.Callable = lambda detail: []
    context: typing.Callable = lambda data, detail: {}
    at_point: bool = True  # shows the hardest sweep point only (the headline note names these sections)
    html: str | None = None  # the template's text; None: the file templates/sections/<id>.html.j2

    @property
    def template(self) -> str:
        """The section's template, relative to the report's templates folder."""
        return f"sections/{self.id}.html.j2"


def _modes_context(data: RunData, detail: RunData) -> dict[str, Any]:
    """The modes section's table: the evaluation modes shown and their rows."""
    modes, mode_rows = _mode_table(detail)
    return {"modes": modes, "mode_rows": mode_rows}


SECTIONS = [
    Section("headline", "Headline and verdict", lambda d: [figs.headline_figure(d)], at_point=False),
    Section("modes", "Accuracy in each evaluation mode", lambda d: [figs.modes_figure(d)], _modes_context),
    Section("curves", "Learning curves", lambda d: [figs.curves_figure(d)]),
    Section("layers", "Train/inference mismatch by layer",
            lambda d: [figs.mismatch_figure(d), figs.rd_figure(d), figs.clip_figure(d)]),
    Section("logits", "Logit-level mismatch", lambda d: [figs.logits_figure(d)],
            lambda data, detail: {"logit_rows": _logit_table(detail)}),
    Section("composition", "Batch composition", lambda d: [figs.composition_figure(d)],
            lambda data, detail: {"noniid_metrics": NONIID_METRICS, "noniid_rows": _noniid_table(detail)}),
    Section("timing", "Timing", lambda d: [figs.timing_figure(d)],
            lambda data, detail: {"cost_ratios": _cost_ratios(detail)}),
    Section("metrics", "Other metrics", context=_extra_metrics),
    Section("provenance", "Provenance",
            context=lambda data, detail: {"bad_trials": _bad_trials(data), "provenance": _provenance(data),
                                          "scenario_text": data.scenario_text}, at_point=False),
]


_DETAIL: RunData | None = None  # the run a forked figure worker draws from (inherited, not pickled)


def _figures_of(index: int) -> list[figs.Figure]:
    """The figures of section `index`, drawn from `_DETAIL` (in a forked worker)."""
    return _clean(SECTIONS[index].figures(_DETAIL))


def section_figures(detail: RunData, processes: int | None = None) -> list[list[figs.Figure]]:
    """Each section's rendered figures, in SECTIONS order.

    Drawing is pure Python (matplotlib holds the GIL), so on a machine with several cores the sections are
    drawn by forked processes (`processes`, default: up to 2 of the cores), which inherit the loaded run instead
    of receiving a copy; the SVG text is the same as drawn here (tested). Not forked when this process has
    imported TensorFlow (a fork of its threads is unsafe) or cannot fork: then drawn here, one after another.
    """
    global _DETAIL

    import multiprocessing
    import sys

    if processes is None:
        processes = min(os.cpu_count() or 1, 2)
    can_fork = "fork" in multiprocessing.get_all_start_methods() and "tensorflow" not in sys.modules
    if processes < 2 or not can_fork:
        return [_clean(section.figures(detail)) for section in SECTIONS]
    _DETAIL = detail
    pool = multiprocessing.get_context("fork").Pool(processes, initializer=_quiet_worker)
    try:
        figures = pool.map(_figures_of, range(len(SECTIONS)), chunksize=1)
        pool.close()
        return figures
    finally:
        pool.terminate()  # after close: the workers have left; on an error or Ctrl-C: stop them now
        pool.join()
        _DETAIL = None


def _quiet_worker() -> None:
    """A forked figure worker leaves signals to its parent: Ctrl-C and SIGTERM stop it without a traceback."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def _span(numbers: list[int]) -> str:
    """'2–7' for consecutive section numbers (a list otherwise)."""
    if numbers and numbers == list(range(numbers[0], numbers[-1] + 1)):
        return f"{numbers[0]}–{numbers[-1]}" if len(numbers) > 1 else str(numbers[0])
    return ", ".join(str(n) for n in numbers)


def build_context(data: RunData) -> dict[str, Any]:
    """Everything the single-run template shows (figures already rendered)."""
    point, point_rule = hl.headline_point(data)
    detail = restrict(data, point)
    head = hl.headline(data, point)  # at a sweep point, the sentences name it
    comparisons = data.comparisons
    figures = dict(zip((section.id for section in SECTIONS), section_figures(detail), strict=False))
    if data.sweep_vars:
        figures["headline"] = (_clean([figs.dependence_figure(data), figs.dependence_heatmap(data)])
                               + figures["headline"])
    number = {section.id: i for i, section in enumerate(SECTIONS, 1)}
    context = {
        "title": f"Minibatch dependence report: {data.name}",
        "name": data.name, "description": data.description, "run_path": str(data.path),
        "headline": head, "verdict": head["rows"], "reference": data.reference,
        "iid_sampler": data.iid_sampler, "normalizers": data.normalizers, "samplers": data.samplers,
        "normalizer_kinds": data.normalizer_kinds, "sampler_kinds": data.sampler_kinds,
        "compared": [n for n in data.normalizers if data.reference and n != data.reference],
        "drop_classes": hl.DROP_CLASSES[:-1],
        "has_drop": data.iid_sampler is not None and bool(hl.non_iid_samplers(data)),
        "sweep_vars": data.sweep_vars, "point": hl.point_label(point), "n_points": len(data.points()),
        "sections": SECTIONS, "figures": figures, "number": number,
        "detail_sections": _span([number[s.id] for s in SECTIONS if s.at_point]),
        "point_rule": point_rule, "cut_mark": CUT_MARK,
        "family": family_description(comparisons, data.reference, data.iid_sampler),
        "n_established": int(sum(established(r) for r in comparisons.to_dict("records"))),
        "n_comparisons": len(comparisons),
        "n_trials": len(data.trials), "n_ok": int((data.trials["status"] == rundir.OK).sum()),
        "seeds": sorted(data.summary["seed"].unique().tolist()),
    }
    for section in SECTIONS:
        context.update(section.context(data, detail))
    return context


def _compare_rows(run_a: RunData, run_b: RunData) -> list[dict[str, Any]]:
    """Per sampler x normalizer: inference accuracy in each run and the paired difference B minus A."""
    rows = []
    for sampler in run_a.samplers:
        for norm in run_a.normalizers:
            a = hl.values(run_a, hl.METRIC, sampler, norm, None, run_a.accuracy_scale)
            b = hl.values(run_b, hl.METRIC, sampler, norm, None, run_b.accuracy_scale)
            rows.append({"sampler": sampler, "normalizer": norm, "a": mean_ci(a.to_numpy()),
                         "b": mean_ci(b.to_numpy()), "diff": hl.paired(b, a)})
    return rows


def build_compare_context(run_a: RunData, run_b: RunData) -> dict[str, Any]:
    """Everything the comparison template shows. Both runs must have the same samplers and normalizers."""
    if set(run_a.samplers) != set(run_b.samplers) or set(run_a.normalizers) != set(run_b.normalizers):
        raise UsageError(
            f"cannot compare {run_a.path} and {run_b.path}: different scenario shapes (samplers "
            f"{sorted(run_a.samplers)} vs {sorted(run_b.samplers)}, normalizers "
            f"{sorted(run_a.normalizers)} vs {sorted(run_b.normalizers)})")
    if set(run_a.sweep_vars) != set(run_b.sweep_vars):
        raise UsageError(
            f"cannot compare {run_a.path} and {run_b.path}: different sweeps ({', '.join(run_a.sweep_vars) or 'none'} "
            f"vs {', '.join(run_b.sweep_vars) or 'none'}); pooling sweep points would count them as seeds")
    point, _ = hl.headline_point(run_a)
    a, b = restrict(run_a, point), restrict(run_b, point)
    rows = _compare_rows(a, b)
    sentences = []
    for sampler in a.samplers:
        parts = [f"{r['normalizer']} {_num(r['diff']['mean'], 1, True)} points ({hl.ci_text(r['diff'])})"
                 for r in rows if r["sampler"] == sampler]
        sentences.append(f"On {sampler} batches, run B minus run A in inference accuracy, paired over seeds: "
                         + "; ".join(parts) + ".")
    undecided = [r for r in rows if r["diff"]["n"] >= 2 and r["diff"]["lo"] <= 0 <= r["diff"]["hi"]]
    if undecided and len(undecided) == len(rows):
        sentences.append("Every interval includes zero: these seeds show no real difference between the runs.")
    elif undecided:
        sentences.append(f"{len(undecided)} of {len(rows)} intervals include zero; only the others show a real "
                         "difference between the runs.")
    label_a, label_b = run_a.path.name, run_b.path.name
    diff = list(difflib.unified_diff(run_a.scenario_text.splitlines(), run_b.scenario_text.splitlines(),
                                     f"A: {label_a}/scenario.yaml", f"B: {label_b}/scenario.yaml", lineterm=""))
    return {
        "title": f"Comparison: {run_a.name} (A) vs {run_b.name} (B)" + _changed_fields(run_a.scenario, run_b.scenario),
        "a": {"name": run_a.name, "description": run_a.description, "path": str(run_a.path), "label": label_a,
              "headline": hl.headline(a, {}), "provenance": _provenance(run_a), "bad_trials": _bad_trials(run_a)},
        "b": {"name": run_b.name, "description": run_b.description, "path": str(run_b.path), "label": label_b,
              "headline": hl.headline(b, {}), "provenance": _provenance(run_b), "bad_trials": _bad_trials(run_b)},
        "point": hl.point_label(point), "sentences": sentences, "rows": rows, "scenario_diff": diff,
        "figures": _clean([figs.compare_figure(a, b, label_a, label_b), figs.compare_curves_figure(a, b)]),
    }


def _changed_fields(a: dict[str, Any], b: dict[str, Any], limit: int = 3) -> str:
    """`: <field>, <field> differ` naming the scenario fields that differ between two runs (or nothing)."""
    def flat(tree: Any, prefix: str = "") -> dict[str, Any]:
        if isinstance(tree, dict):
            out: dict[str, Any] = {}
            for key, value in tree.items():
                out.update(flat(value, f"{prefix}{key}."))
            return out
        return {prefix[:-1]: tree}

    fa, fb = flat(a), flat(b)
    changed = [k for k in sorted(set(fa) | set(fb), key=str) if k != "name" and fa.get(k) != fb.get(k)]
    if not changed:
        return ""
    shown = ", ".join(changed[:limit]) + (f" and {len(changed) - limit} more" if len(changed) > limit else "")
    return f": {shown} {'differs' if len(changed) == 1 else 'differ'}"


def _render(run_dir: str | Path, compare_dir: str | Path | None = None) -> tuple[str, dict[str, list[figs.Figure]]]:
    """(HTML text, {section id: [Figure]}) of the report of `run_dir` (no figures to export for a comparison)."""
    env = _environment()
    run = load_run(run_dir)
    if compare_dir is None:
        context = build_context(run)
        return env.get_template("report.html.j2").render(**context), context["figures"]
    other = load_run(compare_dir)
    return env.get_template("compare.html.j2").render(**build_compare_context(run, other)), {}


def render(run_dir: str | Path, compare_dir: str | Path | None = None) -> str:
    """The report's HTML text for `run_dir` (or the comparison with `compare_dir`)."""
    return _render(run_dir, compare_dir)[0]


FIGURES_DIR = "figures"


def write_figures(run_dir: str | Path, figures: dict[str, list[figs.Figure]]) -> list[Path]:
    """Write every figure as SVG, PDF and PNG (figs.EXPORT_DPI) under `<run_dir>/figures/`, named by section
    (`figs.export_name`); each file atomically. Returns the paths written."""
    from harness.runtime import atomic

    written = []
    folder = Path(run_dir) / FIGURES_DIR
    for section, section_figures_ in figures.items():
        for figure in section_figures_:
            for fmt, content in figure.exports.items():
                path = folder / f"{figs.export_name(section, figure)}.{fmt}"
                atomic.write_bytes(path, content)
                written.append(path)
    return written


def write_report(run_dir: str | Path, out: str | os.PathLike | None = None,
                 compare_dir: str | Path | None = None) -> Path:
    """Write the HTML report of `run_dir` and return its path.

    out: the file to write; default `<run_dir>/index.html`, or `<run_dir>/compare_<other>.html` when
    `compare_dir` is given. The file is replaced atomically (temp file + os.replace), so a reader never
    sees half a report. A single run's report also writes each figure as SVG, PDF and PNG under
    `<run_dir>/figures/` (`write_figures`). Bad input raises harness.errors.UsageError.
    """
    run_dir = Path(run_dir)
    html, figures = _render(run_dir, compare_dir)
    if out is None:
        out = run_dir / (rundir.REPORT if compare_dir is None else f"compare_{Path(compare_dir).name}.html")
    written = Path(atomic.write_text(out, html))
    try:
        write_figures(run_dir, figures)
    except OSError as error:  # e.g. a read-only run directory reported elsewhere with --out: the page is written
        import sys

        print(f"warning: figures not exported to {run_dir / FIGURES_DIR}: {error.strerror or error}", file=sys.stderr)
    return written
