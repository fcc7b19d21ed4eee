"""Declared comparisons (`analysis.compare`): rows of comparisons.csv in the one Holm family, a headline sentence
and verdict-table column per pair, a table in summary.md; checked against SciPy and Holm recomputed by hand."""

import re
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import yaml
from scipy import stats as scipy_stats

from harness.report import write_report
from harness.results import comparisons
from harness.results import headline as hl
from harness.results.loader import load_run
from harness.run import runner
from harness.scenario import validate
from tests.conftest import harness_env
from tests.support.fake_run import write_fake_run


def _holm_by_hand(p):
    """Holm's step-down adjustment written out; an untested comparison (NaN) counts in m as p = 1."""
    p = np.where(np.isnan(p), 1.0, np.asarray(p, dtype=float))
    m = len(p)
    adjusted, running = np.empty(m), 0.0
    for rank, i in enumerate(np.argsort(p, kind="stable")):
        running = max(running, min(1.0, (m - rank) * p[i]))
        adjusted[i] = running
    return adjusted


def _per_seed(summary, sampler, norm):
    rows = summary[(summary.metric == "acc_inference") & (summary.sampler == sampler) & (summary.normalizer == norm)]
    return 100 * rows.set_index("seed")["value"].sort_index()


def _t_interval(diffs):
    diffs = np.asarray(diffs, dtype=float)
    half = scipy_stats.t.ppf(0.975, len(diffs) - 1) * diffs.std(ddof=1) / np.sqrt(len(diffs))
    return diffs.mean() - half, diffs.mean() + half


@pytest.fixture(scope="module")
def tiny_declared(tmp_path_factory):
    """A real tiny run with a third normalizer, declaring brn vs layernorm and bn vs brn (a reference row)."""
    import copy

    from tests.conftest import TINY_SCENARIO

    raw = copy.deepcopy(TINY_SCENARIO)
    raw["normalizers"]["ln"] = {"kind": "layernorm"}
    raw["analysis"]["compare"] = [["brn", "ln"], ["bn", "brn"]]
    out = tmp_path_factory.mktemp("declared") / "run"
    runner.run(validate(raw), str(out), quiet=True, report=write_report)
    return out


def test_pair_rows_match_scipy_and_holm_runs_over_the_whole_family(tiny_declared):
    out = tiny_declared
    table = pd.read_csv(out / "comparisons.csv")
    summary = pd.read_csv(out / "summary.csv")
    pairs = table[table.comparison == "pair"]
    # [brn, ln] on both samplers; [bn, brn] is the difference brn - bn already in the table: no row of its own.
    assert sorted(pairs.sampler) == ["iid", "one_class"]
    assert (pairs.normalizer == "brn").all() and (pairs.reference == "ln").all()
    assert not ((table.normalizer == "bn") & (table.reference == "brn")).any()
    assert len(table) == 3 + 2 * 2 + 2  # drops (3 normalizers) + differences from bn + the declared pair
    for _, row in pairs.iterrows():
        a, b = _per_seed(summary, row.sampler, "brn"), _per_seed(summary, row.sampler, "ln")
        assert row.n == len(a) == 2
        assert row.mean_diff == pytest.approx((a - b).mean())
        expected_p = scipy_stats.ttest_rel(a, b).pvalue
        if np.isfinite(expected_p):
            assert row.p_t == pytest.approx(expected_p)
        else:
            assert np.isnan(row.p_t)
    expected_holm = _holm_by_hand(table.p_t.to_numpy())
    tested = table.p_t.notna().to_numpy()
    np.testing.assert_allclose(table.p_holm.to_numpy()[tested], expected_holm[tested])


def test_pair_sentence_and_summary_line_agree_with_the_table(tiny_declared):
    out = tiny_declared
    table = pd.read_csv(out / "comparisons.csv")
    summary = pd.read_csv(out / "summary.csv")
    row = table[(table.comparison == "pair") & (table.sampler == "one_class")].iloc[0]
    sentences = hl.headline(load_run(out))["sentences"]
    declared = [s for s in sentences if "declared comparison" in s]
    # one sentence per pair on the non-i.i.d. sampler only
    assert len(declared) == 2 and all(s.startswith("On one_class batches") for s in declared)
    assert f"brn minus ln: {hl.fmt(row.mean_diff, True)} points" in declared[0]
    assert "established" not in declared[0]  # 2 seeds: no verdict
    # [bn, brn] reads the brn - bn row with its sign turned
    reference_row = table[(table.comparison == "normalizer") & (table.sampler == "one_class")
                          & (table.normalizer == "brn")].iloc[0]
    assert f"bn minus brn: {hl.fmt(-reference_row.mean_diff, True)} points" in declared[1]
    html = (out / "index.html").read_text()
    assert "<th>brn − ln</th>" in html and "<th>bn − brn</th>" in html
    assert html.count("declared comparison (analysis.compare)") == 2

    summary_md = (out / "summary.md").read_text()
    assert "## Declared comparisons" in summary_md
    a, b = _per_seed(summary, "one_class", "brn") / 100, _per_seed(summary, "one_class", "ln") / 100
    lo, hi = _t_interval(a - b)
    line = f"| one_class | brn − ln | {(a - b).mean():+.3f} [{lo:+.3f}, {hi:+.3f}] | 2 |"
    assert line in summary_md.splitlines()


def _add_normalizer(run, name, shift, compare, seed=0):
    """Copy brn's trials as a third normalizer `name` with acc_* moved by `shift` (fraction, small noise)."""
    rng = np.random.default_rng(seed)
    for table in ("summary", "trials", "curves", "layers"):
        frame = pd.read_csv(run / f"{table}.csv")
        extra = frame[frame.normalizer == "brn"].copy()
        extra["normalizer"] = name
        if table == "summary":
            acc = extra.metric.str.startswith("acc")
            extra.loc[acc, "value"] += shift + rng.normal(0, 0.002, int(acc.sum()))
        pd.concat([frame, extra]).to_csv(run / f"{table}.csv", index=False)
    scenario = yaml.safe_load((run / "scenario.yaml").read_text())
    scenario["normalizers"][name] = {"kind": "groupnorm", "groups": 2}
    scenario["analysis"]["compare"] = compare
    (run / "scenario.yaml").write_text(yaml.safe_dump(scenario, sort_keys=False))


def test_fake_run_pair_is_established_only_when_holm_says_so(tmp_path):
    run = write_fake_run(tmp_path / "fake", seed=3)
    _add_normalizer(run, "gn", -0.10, [["brn", "gn"], ["gn", "bn"]])
    data = load_run(run)
    table = data.comparisons
    assert set(table[table.comparison == "pair"].reference) == {"gn"}  # [gn, bn] is the gn - bn row
    head = hl.headline(data)
    for sampler in ("two_classes", "one_class"):
        row = table[(table.comparison == "pair") & (table.sampler == sampler)].iloc[0]
        sentence = next(s for s in head["sentences"] if s.startswith(f"On {sampler} batches, declared")
                        and "brn minus gn" in s)
        seeds = int(row.n)
        said = "established (Holm" in sentence
        assert said == (row.p_holm < 0.05 and seeds >= 3), (sentence, row.p_holm)
        assert "unadjusted 95% CI" in sentence
    assert [(p["a"], p["b"]) for p in head["pairs"]["iid"]] == [("brn", "gn"), ("gn", "bn")]
    assert "3 declared comparisons (analysis.compare)" in comparisons.family_description(table, "bn", "iid")


def test_report_compare_of_two_runs_with_declared_pairs(tmp_path):
    run_a = write_fake_run(tmp_path / "a", seed=1)
    run_b = write_fake_run(tmp_path / "b", seed=2, acc_shift=0.05)
    for run in (run_a, run_b):
        _add_normalizer(run, "gn", -0.05, [["brn", "gn"]])
    out = write_report(run_a, compare_dir=run_b)
    assert "gn" in out.read_text()


def test_pair_naming_an_unknown_normalizer_is_one_line_exit_2(tiny_scenario, write_scenario):
    tiny_scenario["analysis"]["compare"] = [["brn", "bnn"]]
    path = write_scenario(tiny_scenario)
    done = subprocess.run([sys.executable, "-m", "harness", "validate", path], capture_output=True, text=True,
                          env=harness_env())
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "analysis.compare[0][1]" in lines[0] and "bnn" in lines[0]
    assert "Traceback" not in done.stderr and re.search(r"bn\b", lines[0])
