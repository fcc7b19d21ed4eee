"""No broken number is reported as a result: the one check of a trial's numbers for NaN and infinity.

Non-finite logits make every accuracy computed from them meaningless (argmax of NaN picks class 0, an
"accuracy" of 1/num_classes), so the analysis reports NaN for a metric whose inputs were not finite
(`harness.analysis.analyzer.finite_array`), and `check_result` turns a finished trial holding any non-finite
metric, curve point or layer statistic into a failed trial naming the metrics: listed with its reason in
trials.csv, summary.md and the report, never averaged into a table.
"""

from __future__ import annotations

import math


def _bad(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and not math.isfinite(value)


def nonfinite_metrics(result: dict) -> list[str]:
    """Names of the metrics of a trial result (`final`, `curves`, `layers`) that hold a NaN or an infinity."""
    names = [name for name, value in result.get("final", {}).items() if _bad(value)]
    names += [row["metric"] for row in result.get("curves", []) if _bad(row.get("value"))]
    names += [f"layer {row.get('layer')} {name}" for row in result.get("layers", [])
              for name, value in row.items() if name != "layer" and _bad(value)]
    return list(dict.fromkeys(names))


def check_result(result: dict) -> dict:
    """`result` (a trial result dict), or when it finished (ok) holding non-finite numbers, the same trial
    marked failed with a reason naming them (its numbers dropped: they are not results)."""
    from harness.results.rundir import FAILED, OK

    if result.get("status") != OK:
        return result
    names = nonfinite_metrics(result)
    if not names:
        return result
    shown = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
    kept = {key: value for key, value in result.items() if key != "correct"}  # per-example hits: not results either
    return {**kept, "status": FAILED, "final": {}, "layers": [],
            "curves": [row for row in result.get("curves", []) if not _bad(row.get("value"))],
            "error": f"non-finite output: {shown} (NaN or infinite logits, activations or metrics; "
                     "no number is reported)"}
