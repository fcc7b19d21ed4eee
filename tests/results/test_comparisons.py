"""comparisons.csv and the verdicts built on it: bounded intervals, ties, thin evidence, Holm."""

import json
import math
import re

import numpy as np
import pandas as pd
import pytest
from scipy import stats as scipy_stats

from harness.report import write_report
from harness.results import comparisons, stats
from harness.results import headline as hl
from harness.results.loader import load_run
from harness.run import runner
from harness.scenario import validate
from tests.support.fake_run import write_fake_run

COLUMNS = ["comparison", "sampler", "normalizer", "reference", "metric", "n", "mean_diff", "ci_low", "ci_high",
           "p_t", "p_signflip", "p_holm"]
VERDICT_COLOURS = re.compile(r'<td class="(good|warn|bad)"')


def _intervals(html):
    """Every '[lo, hi]' pair shown in the report's tables (marks of a cut end removed)."""
    return [(float(a), float(b)) for a, b in re.findall(r"\[([+-]?\d+\.\d)†?, ([+-]?\d+\.\d)†?\]", html)]


def test_two_seed_run_at_chance_shows_no_impossible_interval_and_no_verdict_colour(tiny_scenario, tmp_path):
    tiny_scenario["data"]["noise"] = 1000.0  # the class signal drowned: chance accuracy
    out = tmp_path / "chance"
    runner.run(validate(tiny_scenario), str(out), quiet=True, report=write_report)
    table = pd.read_csv(out / "comparisons.csv")
    assert all(c in table.columns for c in COLUMNS)
    assert len(table) == 2 + 2  # drops: one_class x {bn, brn}; differences: {iid, one_class} x brn
    assert table["p_signflip"].isna().all()  # 2 seeds: below 6 pairs it stays empty
    assert table["boot_low"].notna().all()  # per-example results were stored and bootstrapped
    html = (out / "index.html").read_text()
    shown = _intervals(html)
    assert shown and all(-100.0 <= lo <= hi <= 100.0 for lo, hi in shown)
    summary = pd.read_csv(out / "summary.csv")
    for sampler, norm in [("iid", "bn"), ("one_class", "brn")]:  # accuracies stay in [0, 100]
        acc = hl.mean_ci(100 * summary.query(f"metric == 'acc_inference' and sampler == '{sampler}' "
                                             f"and normalizer == '{norm}'")["value"], bounds=hl.ACC_BOUNDS)
        assert 0.0 <= acc["mean"] <= 100.0
    assert not VERDICT_COLOURS.search(html)
    assert "too thin for a verdict" in html
    provenance = json.loads((out / "provenance.json").read_text())
    assert "machine" in provenance["cpu"] and isinstance(provenance["cpu"]["simd"], list)


def _set_brn(run, sampler, delta):
    """brn = bn + delta (fraction) on `sampler` for every seed."""
    summary = pd.read_csv(run / "summary.csv")
    acc = summary.metric == "acc_inference"
    bn = summary[acc & (summary.sampler == sampler) & (summary.normalizer == "bn")].set_index("seed")["value"]
    for seed in bn.index:
        mask = acc & (summary.sampler == sampler) & (summary.normalizer == "brn") & (summary.seed == seed)
        summary.loc[mask, "value"] = bn[seed] + delta
    summary.to_csv(run / "summary.csv", index=False)


def test_tied_seeds_give_no_interval_and_no_significance(tmp_path):
    run = write_fake_run(tmp_path / "run", seed=3)
    _set_brn(run, "iid", -0.002)  # every seed: brn exactly 0.2 points below bn (one test example of 500)
    data = load_run(run)
    row = hl.comparison(data, "normalizer", "iid", "brn")
    assert row["n"] == 3 and math.isnan(row["ci_low"]) and math.isnan(row["p_t"]) and math.isnan(row["p_holm"])
    assert not hl.is_established(row)
    html = write_report(run).read_text()
    assert "-0.2 (no interval: all seeds agree)" in html
    assert hl.verdict_phrase(hl.paired(hl.values(data, "acc_inference", "iid", "brn", scale=100.0),
                                       hl.values(data, "acc_inference", "iid", "bn", scale=100.0)), row) == \
        "all seeds agree, so there is no interval and no test"


def test_established_sentences_are_exactly_the_rows_below_the_adjusted_level(tmp_path):
    run = write_fake_run(tmp_path / "run", seed=4)
    _set_brn(run, "two_classes", 0.0)  # brn = bn on two_classes: that difference cannot be established
    data = load_run(run)
    frame = comparisons.compute(data)
    # each row's tests against SciPy and Holm by hand
    for row in frame.to_dict("records"):
        a = hl.values(data, "acc_inference", row["reference"] if row["comparison"] == "drop" else row["sampler"],
                      row["normalizer"] if row["comparison"] == "drop" else row["normalizer"], None, 100.0)
        b = hl.values(data, "acc_inference", row["sampler"],
                      row["normalizer"] if row["comparison"] == "drop" else row["reference"], None, 100.0)
        common = a.index.intersection(b.index)
        if row["n"] >= 2 and not math.isnan(row["p_t"]):
            assert row["p_t"] == pytest.approx(scipy_stats.ttest_rel(a[common], b[common]).pvalue)
    p = frame["p_t"].fillna(1.0).to_numpy()
    order = np.argsort(p)
    m = len(p)
    by_hand = np.maximum.accumulate([min(1.0, (m - i) * p[j]) for i, j in enumerate(order)])
    expected = np.empty(m)
    expected[order] = by_hand
    expected[frame["p_t"].isna().to_numpy()] = np.nan
    np.testing.assert_allclose(frame["p_holm"], expected)
    # the headline: a phrase per tested difference, 'established' in it exactly when p_holm < 0.05
    established_rows = frame[frame["p_holm"] < 0.05]
    assert 0 < len(established_rows) < len(frame)
    head = hl.headline(data)
    said = 0
    for item in head["items"]:
        sentence = next(s for s in head["sentences"] if f"On {item['sampler']} batches" in s)
        for norm in item["drops"]:
            phrase = re.search(rf"\b{norm} (loses|gains) [^;]*; ([^)]*\))", sentence).group(2)
            row = hl.comparison(data, "drop", item["sampler"], norm)
            assert phrase.startswith("established") == (row["p_holm"] < 0.05)
            said += phrase.startswith("established")
        for norm in item["diffs"]:
            claim = sentence.split(f"{norm} minus bn:")[1]
            row = hl.comparison(data, "normalizer", item["sampler"], norm)
            assert ("): established" in claim) == (row["p_holm"] < 0.05)
            said += "): established" in claim
    shown = established_rows[established_rows["sampler"] != data.iid_sampler]  # i.i.d. rows have no sentence
    assert said == len(shown)
    assert said == sum(s.count("established (Holm") for s in head["sentences"])


def test_seed_guidance_matches_the_power_calculation(tmp_path):
    run = write_fake_run(tmp_path / "run", seed=5)
    data = load_run(run)
    row = hl.comparison(data, "normalizer", "one_class", "brn")
    assert row["detectable_80"] == pytest.approx(stats.detectable_effect(row["sd_diff"], int(row["n"])))
    assert stats.paired_power(row["detectable_80"], row["sd_diff"], int(row["n"])) == pytest.approx(0.8, abs=1e-6)


def test_padding_takes_the_smallest_missing_example_of_the_slot_label_then_any_as_last_resort():
    from harness.train.coverage import cover_every_example

    class Fixed:  # always offers examples 0 and 1 (label 0)
        def batches(self, n):
            return np.array([[0, 1]] * n)

    labels = np.array([0, 0, 0, 0, 1, 1])
    # missing 2, 3 (label 0) and 4, 5 (label 1): same-label slots first, in increasing order; the last resort
    # attempt (max_extra) puts 4 and 5 into label-0 slots
    batches, weights = cover_every_example([[0, 1]], Fixed(), labels, max_extra=1)
    assert batches.tolist() == [[0, 1], [2, 3], [4, 5]] and weights.all()
    batches, weights = cover_every_example([[0, 1]], Fixed(), labels, max_extra=0)  # the first try is the last resort
    assert batches.tolist() == [[0, 1], [2, 3]] and weights.all()
    batches, weights = cover_every_example([[0, 5], [4, 1]], Fixed(), labels, max_extra=3)
    assert batches.tolist() == [[0, 5], [4, 1], [2, 3]] and weights.tolist() == [[True, True]] * 3


def test_padded_test_batches_score_every_example_once_with_the_sampler_composition():
    from harness.scenario import build_sampler
    from harness.train.coverage import cover_every_example

    labels = np.repeat(np.arange(10), 54)  # 540 examples, as digits' test split
    for config in ({"kind": "iid"}, {"kind": "class_correlated", "classes_per_batch": 1}):
        sampler = build_sampler(config, labels, 16, 7)
        original = sampler.batches(540 // 16)
        batches, weights = cover_every_example(original, sampler, labels)
        assert np.array_equal(batches[:len(original)], original) and weights[:len(original)].all()
        assert set(batches[weights].tolist()) == set(range(540))  # every example scored
        added = batches[len(original):]
        if config["kind"] == "iid":  # no repeats in an i.i.d. epoch: each example exactly once
            assert np.sort(batches[weights]).tolist() == list(range(540))
        if config["kind"] == "class_correlated":  # the added batches keep one class each
            assert all(len(set(labels[b].tolist())) == 1 for b in added)
