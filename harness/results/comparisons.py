"""The tested differences of a run: one row per comparison, with its tests, in `comparisons.csv`.

The family (what Holm's correction runs over) is every row of the table: at every sweep point,
- kind `drop`: for each non-i.i.d. sampler and each normalizer, acc_inference on the i.i.d. sampler minus on
  that sampler (`reference` is the i.i.d. sampler), paired over seeds;
- kind `normalizer`: for each sampler and each normalizer other than the reference normalizer, its
  acc_inference minus the reference's (`reference` is that normalizer), paired over seeds.
- kind `pair`: for each pair [a, b] the scenario declares in `analysis.compare` and each sampler, acc_inference
  of a minus of b (`normalizer` is a, `reference` is b), paired over seeds. A declared pair that is already a
  `normalizer` row (b is the reference normalizer, or a is: the same test with the sign flipped) adds no row, so
  no test counts twice in the family; `harness.results.headline.pair_row` reads the existing row (with the signs
  turned for [reference, b]).

Every difference is in percentage points. Columns: comparison kind, sampler, normalizer, reference, metric,
the sweep columns, n (paired seeds), mean_diff, sd_diff, ci_low / ci_high (95% t interval over seeds, cut
at +-100), p_t (paired t), p_signflip (exact sign-flip, empty below 6 pairs), p_holm (Holm over the family,
from p_t; a comparison that cannot be tested, n < 2 or all seeds agree, has no p but counts in the family),
boot_low / boot_high (two-level bootstrap over seeds and test examples; empty without per-example results),
detectable_80 (the smallest true difference these seeds detect with 80% power at the unadjusted 5% level),
seeds_for_observed (seeds the observed difference would need for that power).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from harness.analysis.metrics import COMPARED
from harness.results import rundir, stats
from harness.results.tables import cell

if TYPE_CHECKING:
    from harness.results.loader import RunData

METRIC = COMPARED  # the one compared metric, owned by the metrics table
ALPHA = 0.05
DIFF_BOUNDS = (-100.0, 100.0)
BASE_COLUMNS = ["comparison", "sampler", "normalizer", "reference", "metric"]
VALUE_COLUMNS = ["n", "mean_diff", "sd_diff", "ci_low", "ci_high", "p_t", "p_signflip", "p_holm",
                 "boot_low", "boot_high", "detectable_80", "seeds_for_observed"]



def _select(frame: pd.DataFrame, point: dict[str, Any]) -> pd.DataFrame:
    for key, value in point.items():
        frame = frame[frame[key] == value]
    return frame


def values(data: RunData, metric: str, sampler: str, normalizer: str, point: dict[str, Any] | None = None,
           scale: float = 1.0) -> pd.Series:
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

def _key(sampler: Any, normalizer: Any, seed: Any, point_values: Any) -> tuple[str, str, int, tuple[str, ...]]:
    return (str(sampler), str(normalizer), int(seed), tuple(str(v) for v in point_values))


def correctness_from_results(results: list[dict[str, Any]],
                             sweep_vars: list[str]) -> dict[tuple[str, str, int, tuple[str, ...]], np.ndarray]:
    """{(sampler, normalizer, seed, point values as text): bool array} from trial results that carry
    `correct` (trials run before it was recorded, that failed, or whose compared metric failed are left out)."""

    found: dict[tuple[str, str, int, tuple[str, ...]], np.ndarray] = {}
    for result in results:
        packed = result.get("correct") if result.get("status") == rundir.OK else None
        if not packed or METRIC not in packed:
            continue
        config = result["config"]
        point = config.get("point", {})
        values = [cell(point[v]) if v in point else "" for v in sweep_vars]
        found[_key(config["sampler"], config["normalizer"], config["seed"], values)] = \
            rundir.unpack_correct(packed[METRIC], packed["n"])
    return found


def _row(data: RunData, kind: str, sampler: str, normalizer: str, reference: str, point: dict[str, Any],
         a: pd.Series, b: pd.Series, correctness: dict[Any, np.ndarray] | None) -> dict[str, Any]:
    """One comparison: a - b (per-seed series in points) plus the bootstrap from per-example results."""
    common = a.index.intersection(b.index)
    diffs = (a.loc[common] - b.loc[common]).to_numpy(dtype=float)
    summary = stats.mean_ci(diffs, bounds=DIFF_BOUNDS)
    row = {"comparison": kind, "sampler": sampler, "normalizer": normalizer, "reference": reference,
           "metric": METRIC, **point, "n": summary["n"], "mean_diff": summary["mean"], "sd_diff": summary["sd"],
           "ci_low": summary["lo"], "ci_high": summary["hi"], "p_t": stats.paired_t_p(diffs),
           "p_signflip": stats.signflip_p(diffs), "p_holm": math.nan, "boot_low": math.nan, "boot_high": math.nan,
           "detectable_80": stats.detectable_effect(summary["sd"], summary["n"]),
           "seeds_for_observed": stats.seeds_needed(summary["mean"], summary["sd"])}
    if correctness and len(common):
        arms = _arms(kind, sampler, normalizer, reference, point, common, data.sweep_vars, correctness)
        if arms is not None:
            boot = stats.two_level_bootstrap(*arms, seed=len(common))
            row["boot_low"], row["boot_high"] = 100 * boot["lo"], 100 * boot["hi"]
    return row


def _arms(kind: str, sampler: str, normalizer: str, reference: str, point: dict[str, Any], seeds: Any,
          sweep_vars: list[str], correctness: dict[Any, np.ndarray]) -> tuple[np.ndarray, np.ndarray] | None:
    values = [point.get(v, "") for v in sweep_vars]
    first: list[np.ndarray] = []
    second: list[np.ndarray] = []
    for seed in seeds:
        if kind == "drop":  # reference sampler minus sampler, same normalizer
            pair = (_key(reference, normalizer, seed, values), _key(sampler, normalizer, seed, values))
        else:  # normalizer minus reference normalizer, same sampler
            pair = (_key(sampler, normalizer, seed, values), _key(sampler, reference, seed, values))
        if pair[0] not in correctness or pair[1] not in correctness:
            return None
        first.append(correctness[pair[0]])
        second.append(correctness[pair[1]])
    if len({len(c) for c in first + second}) != 1:
        return None
    return np.array(first), np.array(second)


def declared_pairs(data: RunData) -> list[tuple[str, str]]:
    """The `analysis.compare` pairs [a, b] of a loaded run whose normalizers both have trials (scenario order)."""
    analysis = data.scenario.get("analysis") if isinstance(data.scenario, dict) else None
    pairs = (analysis.get("compare") if isinstance(analysis, dict) else None) or []
    return [(str(a), str(b)) for a, b in pairs if str(a) in data.normalizers and str(b) in data.normalizers]


def pair_is_reference_row(data: RunData, a: str, b: str) -> bool:
    """True when the declared pair [a, b] is (up to sign) a difference from the reference normalizer already
    in the table, so it adds no row of its own."""
    return data.reference is not None and data.reference in (a, b)


def compute(data: RunData, correctness: dict[Any, np.ndarray] | None = None) -> pd.DataFrame:
    """The comparisons table of a loaded run (`harness.results.loader.RunData`), Holm applied over all its rows."""

    scale = data.accuracy_scale
    rows = []
    for point in data.points():
        def series(sampler: str, normalizer: str) -> pd.Series:
            return values(data, METRIC, sampler, normalizer, point, scale)  # noqa: B023 (called within this iteration only)

        if data.iid_sampler is not None:
            for sampler in data.samplers:
                if sampler == data.iid_sampler:
                    continue
                for norm in data.normalizers:
                    rows.append(_row(data, "drop", sampler, norm, data.iid_sampler, point,
                                     series(data.iid_sampler, norm), series(sampler, norm), correctness))
        if data.reference is not None:
            for sampler in data.samplers:
                for norm in data.normalizers:
                    if norm != data.reference:
                        rows.append(_row(data, "normalizer", sampler, norm, data.reference, point,
                                         series(sampler, norm), series(sampler, data.reference), correctness))
        for a, b in declared_pairs(data):
            if pair_is_reference_row(data, a, b):
                continue
            for sampler in data.samplers:
                rows.append(_row(data, "pair", sampler, a, b, point, series(sampler, a), series(sampler, b),
                                 correctness))
    stats.release_shared_draws()  # the bootstrap's test-example draws are shared within this table only
    columns = BASE_COLUMNS + list(data.sweep_vars) + VALUE_COLUMNS
    frame = pd.DataFrame(rows, columns=columns)
    if len(frame):
        frame["p_holm"] = stats.holm(frame["p_t"].to_numpy(dtype=float))
    return frame


def family_description(frame: pd.DataFrame, reference: str | None = None, iid_sampler: str | None = None) -> str:
    """One sentence naming the family Holm's correction ran over."""
    drops = int((frame["comparison"] == "drop").sum()) if len(frame) else 0
    diffs = int((frame["comparison"] == "normalizer").sum()) if len(frame) else 0
    pairs = int((frame["comparison"] == "pair").sum()) if len(frame) else 0
    other = len(frame) - drops - diffs - pairs
    parts = []
    if drops:
        parts.append(f"{drops} drop{'s' if drops != 1 else ''} from {iid_sampler or 'the i.i.d. sampler'}")
    if diffs:
        parts.append(f"{diffs} difference{'s' if diffs != 1 else ''} from {reference or 'the reference'}")
    if pairs:
        parts.append(f"{pairs} declared comparison{'s' if pairs != 1 else ''} (analysis.compare)")
    if other:
        parts.append(f"{other} other comparison{'s' if other != 1 else ''}")
    listed = (", ".join(parts[:-1]) + " and " + parts[-1] if len(parts) > 1 else parts[0]) if parts \
        else "no comparisons"
    return (f"Holm's correction runs over the family of all {len(frame)} comparisons in comparisons.csv "
            f"({listed}, every sweep point), on the paired t p-values of acc_inference.")


def established(row: Any) -> bool:
    """True when the comparison survives Holm's correction at the 5% level."""
    p = row["p_holm"]
    return p is not None and not (isinstance(p, float) and math.isnan(p)) and float(p) < ALPHA
