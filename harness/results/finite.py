"""No broken number is reported as a result: the one check of a trial's numbers for NaN and infinity.

Non-finite logits make every accuracy computed from them meaningless (argmax of NaN picks class 0, an
"accuracy" of 1/num_classes), so the analysis reports NaN for a metric whose inputs were not finite
(`harness.analysis.analyzer.finite_array`). `check_result` fails such a metric for that trial, not the trial:
every number of the metric in the trial (its final value, its curve points, its layer values) is dropped and the
metric is recorded in the trial's `failed_metrics` with its reason (harness.results.rundir: trials.csv's
`failed_metrics` column, listed in summary.md and the report), so it is never averaged or compared, while the
trial's finite metrics are reported as usual. A trial none of whose metrics is finite (its timing aside) is a
failed trial. A training loss that turns non-finite is a diverged trial (harness.train.trial), not this.
"""

from __future__ import annotations

import math
from typing import Any

from harness.analysis import metrics as metric_table
from harness.results.rundir import FAILED, OK

SHOWN = 5  # places (steps, layers) and metrics named in a reason, then "and N more"


def _bad(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and not math.isfinite(value)


def _listed(items: list[Any]) -> str:
    shown = ", ".join(str(item) for item in items[:SHOWN])
    return shown + (f" and {len(items) - SHOWN} more" if len(items) > SHOWN else "")


def _reason(name: str, values: list[float], final: bool, steps: list[int], layers: list[int]) -> str:
    """`non-finite logits (NaN at the end and at steps 10, 20)`: what was not finite, and where."""
    from_logits = name in metric_table.accuracy_modes() or name in metric_table.in_group(metric_table.LOGITS)
    cause = "logits" if from_logits else "activations" if layers and not (final or steps) else "value"
    kinds = sorted({"NaN" if math.isnan(v) else "inf" for v in values}, key=["NaN", "inf"].index)
    places = (["at the end"] if final else []) + \
        ([f"at step{'s' if len(steps) > 1 else ''} {_listed(steps)}"] if steps else []) + \
        ([f"in layer{'s' if len(layers) > 1 else ''} {_listed(layers)}"] if layers else [])
    return f"non-finite {cause} ({' and '.join(kinds)} {' and '.join(places)})"


def nonfinite_metrics(result: dict[str, Any]) -> dict[str, str]:
    """{metric: reason} of the metrics of a trial result (`final`, `curves`, `layers`) holding a NaN or an
    infinity, in the order they are met."""
    found: dict[str, tuple[list[float], list[bool], list[int], list[int]]] = {}

    def note(name: str) -> tuple[list[float], list[bool], list[int], list[int]]:
        return found.setdefault(name, ([], [], [], []))

    for name, value in result.get("final", {}).items():
        if _bad(value):
            note(name)[0].append(value)
            note(name)[1].append(True)
    for row in result.get("curves", []):
        if _bad(row.get("value")):
            note(row["metric"])[0].append(row["value"])
            note(row["metric"])[2].append(row.get("step"))
    for row in result.get("layers", []):
        for name, value in row.items():
            if name != "layer" and _bad(value):
                note(name)[0].append(value)
                note(name)[3].append(row.get("layer"))
    return {name: _reason(name, values, bool(final), steps, layers)
            for name, (values, final, steps, layers) in found.items()}


def check_result(result: dict[str, Any]) -> dict[str, Any]:
    """`result` (a trial result dict) with each metric holding non-finite numbers failed: when it finished ok,
    the metric's numbers are dropped and it is listed with its reason in `failed_metrics`; when no metric but
    the timing is left, the trial is failed with a reason naming them. Other results are returned as they are."""
    if result.get("status") != OK:
        return result
    failed = nonfinite_metrics(result)
    if not failed:
        return result
    curves = [row for row in result.get("curves", []) if row.get("metric") not in failed]
    timing = set(metric_table.in_group(metric_table.TIMING))
    final = {name: value for name, value in result.get("final", {}).items() if name not in failed}
    if not set(final) - timing:  # every metric failed: no result is left, the trial failed
        kept = {key: value for key, value in result.items() if key != "correct"}
        names = list(failed)
        return {**kept, "status": FAILED, "final": {}, "layers": [], "curves": curves,  # never half a curve
                "failed_metrics": {**(result.get("failed_metrics") or {}), **failed},
                "error": f"non-finite output: {_listed(names)} (NaN or infinite logits, activations or metrics; "
                         "no number is reported)"}
    layers = [{key: value for key, value in row.items() if key not in failed} for row in result.get("layers", [])]
    layers = [row for row in layers if set(row) - {"layer"}]
    checked = {**result, "final": final, "curves": curves, "layers": layers,
               "failed_metrics": {**(result.get("failed_metrics") or {}), **failed}}
    # the per-example hits of a failed metric (argmax of NaN logits) are no result either
    correct = {key: value for key, value in (result.get("correct") or {}).items() if key not in failed}
    checked.pop("correct", None)
    if set(correct) - {"n"}:
        checked["correct"] = correct
    return checked
