"""What a finished profile says, as data: profile.json (what `--json` prints, and what the page and `--merge`
read), and the plain sentence per profiled normalizer."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from harness.profile.compute import versus

if TYPE_CHECKING:
    import pandas as pd

    from harness.profile.battery import Battery
    from harness.profile.driver import Plan

QUICK_NOTE = "--quick: too few seeds for a verdict (try a layer out; run without --quick for the profile)"


def _num(value: Any) -> float | None:
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else round(float(value), 4)


def summary(battery: Battery, profile_plan: Plan, index: dict, table: pd.DataFrame, quick: bool,
            failed_cells: list) -> dict:
    """The profile.json mapping: battery, every normalizer's index, interval, worst condition and its
    verdicts against the references, the conditions (with label, axis and x), the cells without values."""
    references = list(battery.references)
    normalizers: dict[str, dict] = {}
    for name, found in index.items():
        against: dict[str, dict] = {}
        for reference in references:
            row = versus(table, name, reference)
            if row is not None:
                against[reference] = {"diff": _num(row["diff"]), "ci": [_num(row["ci_low"]), _num(row["ci_high"])],
                                      "p_holm": _num(row["p_holm"]), "n": int(row["n"]),
                                      "verdict": "too few seeds" if quick else row["verdict"]}
        normalizers[name] = {"index": _num(found["index"]), "ci": [_num(v) for v in found["ci"]],
                             "worst": found["worst"], "worst_drop": _num(found["worst_drop"]),
                             "reference": name in references, "kind": profile_plan.normalizers[name]["kind"],
                             "config": profile_plan.normalizers[name], "seeds": found["seeds"],
                             "conditions": found["conditions"], "versus": against}
    return {"battery": battery.name, "battery_source": battery.path, "quick": quick,
            "note": QUICK_NOTE if quick else None, "reference_condition": battery.reference_condition,
            "references": references, "profiled": list(profile_plan.profiled), "seeds": list(battery.seeds),
            "steps": battery.steps, "normalizers": normalizers,
            "conditions": [{"name": name, **{k: cfg[k] for k in ("label", "axis", "x", "batch_size")},
                            "microbatch_size": cfg["microbatch_size"]} for name, cfg in battery.conditions.items()],
            "failed_cells": failed_cells}


def ranked(profile: dict) -> list[str]:
    """Normalizer names by index, least minibatch-dependent first (unmeasured last)."""
    def key(name: str) -> tuple[bool, float, str]:
        value = profile["normalizers"][name]["index"]
        return (value is None, value if value is not None else 0.0, name)

    return sorted(profile["normalizers"], key=key)


def sentence(profile: dict, name: str) -> str:
    """'X loses 0.4 points on average over the battery (bn: 21.3, brn: 6.2, groupnorm: 0.3); worst: 1 class
    per batch, -2.1 points' (gains said as gains)."""
    entry = profile["normalizers"][name]
    labels = {c["name"]: c["label"] for c in profile["conditions"]}
    if entry["index"] is None:
        return f"{name} has no measured condition besides the reference condition."
    verb = "loses" if entry["index"] >= 0 else "gains"
    refs = ", ".join(f"{r}: {profile['normalizers'][r]['index']:.1f}" for r in profile["references"]
                     if r in profile["normalizers"] and profile["normalizers"][r]["index"] is not None)
    text = f"{name} {verb} {abs(entry['index']):.1f} points on average over the battery ({refs})"
    if entry["worst"] is not None:
        text += f"; worst: {labels.get(entry['worst'], entry['worst'])}, {-entry['worst_drop']:+.1f} points"
    return text + "."
