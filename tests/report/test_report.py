"""The HTML report: headline numbers against an independent pandas/scipy computation, escaping, bad input,
sweeps, comparisons and size. The browser check is in test_report_browser.py."""

import argparse
import html
import math
import re

import numpy as np
import pandas as pd
import pytest
import yaml
from scipy import stats as scipy_stats

from harness.commands import report as cli
from harness.errors import UsageError
from harness.report import write_report
from harness.report.render import SECTIONS
from harness.results import headline as hl
from harness.results.loader import load_run
from tests.support import fake_run
from tests.support.fake_run import DIVERGED, HOSTILE, write_fake_run


def _reference(run_dir, metric="acc_inference"):
    """Final metric per (sampler, normalizer) as {seed: points}, only trials with status ok (plain pandas)."""
    trials = pd.read_csv(run_dir / "trials.csv")
    summary = pd.read_csv(run_dir / "summary.csv")
    ok = trials[trials.status == "ok"][["sampler", "normalizer", "seed"]]
    frame = summary[summary.metric == metric].merge(ok, on=["sampler", "normalizer", "seed"])
    return {key: dict(zip(group.seed, 100.0 * group.value, strict=False))
            for key, group in frame.groupby(["sampler", "normalizer"])}


def _t_interval(diffs):
    diffs = np.asarray(diffs, dtype=float)
    n = len(diffs)
    mean = diffs.mean()
    half = scipy_stats.t.ppf(0.975, n - 1) * diffs.std(ddof=1) / math.sqrt(n)
    return mean, mean - half, mean + half, n


def _paired(a, b):
    seeds = sorted(set(a) & set(b))
    return _t_interval([a[s] - b[s] for s in seeds])


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    return write_fake_run(tmp_path_factory.mktemp("run") / "noniid_small", seed=3)


@pytest.fixture(scope="module")
def hostile_report(tmp_path_factory):
    """A full report whose scenario name and description try to inject a script."""
    return fake_run.hostile_report(tmp_path_factory)


def test_headline_drops_and_differences_match_independent_computation(run_dir):
    data = load_run(run_dir)
    ref = _reference(run_dir)
    result = hl.headline(data)
    assert [item["sampler"] for item in result["items"]] == ["two_classes", "one_class"]
    for item in result["items"]:
        sampler = item["sampler"]
        for norm in ("bn", "brn"):
            mean, lo, hi, n = _paired(ref[("iid", norm)], ref[(sampler, norm)])
            drop = item["drops"][norm]
            assert drop["n"] == n
            assert drop["mean"] == pytest.approx(mean) and drop["lo"] == pytest.approx(lo)
            assert drop["hi"] == pytest.approx(hi)
        mean, lo, hi, n = _paired(ref[(sampler, "brn")], ref[(sampler, "bn")])
        diff = item["diffs"]["brn"]
        assert (diff["mean"], diff["lo"], diff["hi"], diff["n"]) == pytest.approx((mean, lo, hi, n))
        sentence = next(s for s in result["sentences"] if f"On {sampler} batches" in s)
        assert f"bn loses {mean_drop(ref, sampler, 'bn'):.1f} points" in sentence
        assert (f"brn minus bn: {mean:+.1f} points (unadjusted 95% CI {lo:+.1f} to {hi:+.1f}, "
                f"paired over {n} seeds)") in sentence
        row = hl.comparison(data, "normalizer", sampler, "brn")
        claim = sentence.split("brn minus bn:")[1]
        assert ("established" in claim) == (row["p_holm"] < 0.05)


def mean_drop(ref, sampler, norm):
    return _paired(ref[("iid", norm)], ref[(sampler, norm)])[0]


def test_diverged_trial_is_left_out_of_the_statistics(run_dir):
    sampler, norm, seed, _ = DIVERGED
    data = load_run(run_dir)
    values = hl.values(data, "acc_inference", sampler, norm)
    assert seed not in values.index and len(values) == 2
    row = next(r for r in hl.verdict_table(data) if (r["sampler"], r["normalizer"]) == (sampler, norm))
    assert row["acc"]["n"] == 2 and row["drop"]["n"] == 2 and row["diff"]["n"] == 2
    # the raw csv still holds the diverged trial's (meaningless) accuracy
    raw = pd.read_csv(run_dir / "summary.csv")
    assert ((raw.sampler == sampler) & (raw.normalizer == norm) & (raw.seed == seed)).any()


def test_sentence_says_plainly_when_the_interval_includes_zero(tmp_path):
    run = write_fake_run(tmp_path / "run", seed=1)
    summary = pd.read_csv(run / "summary.csv")
    acc = summary.metric == "acc_inference"
    bn = summary[acc & (summary.sampler == "one_class") & (summary.normalizer == "bn")].set_index("seed")["value"]
    for seed, delta in zip(bn.index, [0.01, -0.01, 0.005], strict=False):  # brn = bn +1, -1, +0.5 points
        mask = acc & (summary.sampler == "one_class") & (summary.normalizer == "brn") & (summary.seed == seed)
        summary.loc[mask, "value"] = bn[seed] + delta
    summary.to_csv(run / "summary.csv", index=False)
    sentence = next(s for s in hl.headline(load_run(run))["sentences"] if "On one_class" in s)
    mean, lo, hi, _ = _t_interval([1.0, -1.0, 0.5])
    assert f"brn minus bn: {mean:+.1f} points (unadjusted 95% CI {lo:+.1f} to {hi:+.1f}" in sentence
    assert "brn minus bn" in sentence and "not shown beyond seed noise" in sentence.split("brn minus bn")[1]


def test_report_escapes_user_strings_and_has_every_section(hostile_report):
    text = hostile_report.read_text(encoding="utf-8")
    assert "<script" not in text.lower()  # no script at all: not the injected one, not any of ours
    assert html.escape(HOSTILE, quote=False) in text or "&lt;script&gt;window.__pwned" in text
    assert "&lt;b&gt;bold&lt;/b&gt;" in text and "<b>bold</b>" not in text
    for number, section in enumerate(SECTIONS, 1):
        assert f"<h2>{number}. {html.escape(section.title)}</h2>" in text
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", text)  # nothing fetched from the network
    # no two sentences glued together in the verdict legend ("large.The"), as the text a reader sees
    inline = re.sub(r"</?(span|strong|em|b|code|a)\b[^>]*>", "", text)  # inline tags join text, others break it
    visible = re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", inline)))
    assert not re.search(r"[a-z]\.[A-Z]", visible), re.search(r".{30}[a-z]\.[A-Z].{30}", visible)


def test_default_size_report_is_small_and_self_contained(hostile_report):
    size = hostile_report.stat().st_size
    assert size < 3 * 1024 * 1024, f"report is {size / 1e6:.1f} MB"
    text = hostile_report.read_text(encoding="utf-8")
    assert text.count("<figure") >= 9 and "<link" not in text
    figure_ids = re.findall(r'<figure id="([^"]+)"', text)
    for fig_id in figure_ids:  # every figure has a title and a caption sentence
        match = re.search(rf'<figure id="{fig_id}">.*?<figcaption><strong id="{fig_id}-title">(.+?)</strong>'
                          r"\s*(.+?)</figcaption>", text, re.S)
        assert match and match.group(2).strip().endswith(".")


def test_diverged_trial_is_listed_with_its_reason(hostile_report):
    text = hostile_report.read_text(encoding="utf-8")
    sampler, norm, seed, step = DIVERGED
    assert f"diverged at step {step}: training loss became nan" in text
    assert re.search(rf"<td class=\"name\">{sampler}</td><td class=\"name\">{norm}</td><td>{seed}</td>", text)


def test_bad_input_raises_usage_error_with_one_line(tmp_path, run_dir):
    with pytest.raises(UsageError, match="no such run directory"):
        write_report(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(UsageError, match="not a run directory"):
        write_report(tmp_path / "empty")
    broken = write_fake_run(tmp_path / "broken", seed=0)
    (broken / "layers.csv").unlink()
    with pytest.raises(UsageError, match="missing layers.csv") as info:
        write_report(broken)
    assert "\n" not in str(info.value)
    pd.read_csv(run_dir / "curves.csv").drop(columns=["step"]).to_csv(broken / "layers.csv", index=False)
    with pytest.raises(UsageError, match="missing column"):
        write_report(broken)
    assert not (broken / "index.html").exists()


def test_sweep_report_draws_dependence_curves_and_heatmap(tmp_path):
    sweep = {"training.batch_size": [4, 16], "samplers.one_class.classes_per_batch": [1, 2]}
    run = write_fake_run(tmp_path / "sweep", seed=2, sweep=sweep)
    data = load_run(run)
    assert data.sweep_vars == list(sweep)
    table = hl.dependence_table(data)
    ref = pd.read_csv(run / "summary.csv").merge(
        pd.read_csv(run / "trials.csv").query("status == 'ok'")[list(sweep) + ["sampler", "normalizer", "seed"]])
    ref = ref[ref.metric == "acc_inference"]
    for bs in (4, 16):
        for cpb in (1, 2):
            at = ref[(ref["training.batch_size"] == bs) & (ref["samplers.one_class.classes_per_batch"] == cpb)]
            iid = at[(at.sampler == "iid") & (at.normalizer == "bn")].set_index("seed").value * 100
            one = at[(at.sampler == "one_class") & (at.normalizer == "bn")].set_index("seed").value * 100
            row = table[(table["training.batch_size"] == bs) & (table["samplers.one_class.classes_per_batch"] == cpb)
                        & (table.sampler == "one_class") & (table.normalizer == "bn")].iloc[0]
            mean, lo, hi, _ = _t_interval((iid - one).to_numpy())
            assert (row.drop_mean, row.drop_lo, row.drop_hi) == pytest.approx((mean, lo, hi))
    out = write_report(run)
    text = out.read_text(encoding="utf-8")
    assert 'id="fig-dependence"' in text and 'id="fig-dependence-heatmap"' in text
    # the headline point is fixed before the results: the last listed value of each swept field...
    assert "At sweep point training.batch_size=16, samplers.one_class.classes_per_batch=2" in text
    # ...or the point the scenario declares
    scenario = yaml.safe_load((run / "scenario.yaml").read_text())
    scenario.setdefault("analysis", {})["headline_point"] = {"training.batch_size": 4}
    (run / "scenario.yaml").write_text(yaml.safe_dump(scenario))
    assert ("At sweep point training.batch_size=4, samplers.one_class.classes_per_batch=2"
            in write_report(run).read_text())


def test_comparison_of_two_runs(tmp_path):
    run_a = write_fake_run(tmp_path / "before", seed=0)
    run_b = write_fake_run(tmp_path / "after", seed=0, acc_shift=0.05,
                           description="Same scenario, brn with a change (synthetic).")
    out = write_report(run_a, compare_dir=run_b)
    assert out == run_a / "compare_after.html"
    text = out.read_text(encoding="utf-8")
    a, b = _reference(run_a), _reference(run_b)
    mean, lo, hi, n = _paired(b[("one_class", "brn")], a[("one_class", "brn")])
    assert mean == pytest.approx(5.0)  # the shift, exactly: same seed, same noise
    assert f"brn {mean:+.1f} points" in text
    assert "+description: Same scenario, brn with a change (synthetic)." in html.unescape(text)
    assert 'id="fig-compare"' in text and 'id="fig-compare-curves"' in text
    other = write_fake_run(tmp_path / "other", seed=0)
    summary = pd.read_csv(other / "summary.csv")
    summary.loc[summary.normalizer == "brn", "normalizer"] = "gn"
    summary.to_csv(other / "summary.csv", index=False)
    with pytest.raises(UsageError, match="different scenario shapes"):
        write_report(run_a, compare_dir=other)


def test_cli_writes_to_out_atomically(tmp_path, run_dir, capsys):
    parser = argparse.ArgumentParser()
    cli.add_arguments(parser)
    run_a = write_fake_run(tmp_path / "a", seed=4)
    run_b = write_fake_run(tmp_path / "b", seed=4)
    out = tmp_path / "nested" / "cmp.html"
    assert cli.main(parser.parse_args([str(run_a), str(run_b), "--out", str(out)])) == 0
    assert out.is_file() and f"report: {out}" in capsys.readouterr().out
    assert sorted(p.name for p in out.parent.iterdir()) == ["cmp.html"]  # no temp file left behind
    assert out.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")


def test_fake_run_is_a_function_of_its_seed(tmp_path):
    one, two, three = (write_fake_run(tmp_path / name, seed=s) for name, s in (("x", 7), ("y", 7), ("z", 8)))
    for name in ("summary.csv", "curves.csv", "layers.csv", "composition.csv", "noniid.csv", "trials.csv"):
        assert (one / name).read_bytes() == (two / name).read_bytes()
    assert (one / "summary.csv").read_bytes() != (three / "summary.csv").read_bytes()


def _rewrite(run, transform):
    for name in ("trials.csv", "summary.csv", "curves.csv", "layers.csv"):
        transform(pd.read_csv(run / name)).to_csv(run / name, index=False)


def test_reference_is_the_first_batchnorm_when_none_is_named_bn(tmp_path):
    run = write_fake_run(tmp_path / "run", seed=0)
    _rewrite(run, lambda f: f.assign(normalizer=f.normalizer.replace("bn", "plain")))
    (run / "scenario.yaml").write_text((run / "scenario.yaml").read_text().replace("\n  bn:", "\n  plain:"))
    data = load_run(run)
    assert data.reference == "plain" and data.normalizers == ["plain", "brn"]
    assert any("brn minus plain:" in s for s in hl.headline(data)["sentences"])


def test_one_seed_gives_no_interval_and_says_so(tmp_path):
    run = write_fake_run(tmp_path / "run", seed=0)
    _rewrite(run, lambda f: f[f.seed == 0])
    sentences = hl.headline(load_run(run))["sentences"]
    assert sentences[0].startswith("With 1 seed per cell the evidence is too thin for a verdict")
    assert all("1 seed: no confidence interval" in s and "too few for a verdict" in s for s in sentences[1:])
    assert not any("established" in s for s in sentences)


def test_iid_only_sweep_headline_gives_accuracy_across_the_swept_field(tmp_path):
    run = write_fake_run(tmp_path / "run", seed=6, sweep={"training.batch_size": [4, 8, 16]})
    _rewrite(run, lambda f: f[f.sampler == "iid"])
    data = load_run(run)
    assert data.samplers == ["iid"]
    ref = pd.read_csv(run / "summary.csv")
    ref = ref[ref.metric == "acc_inference"].groupby(["training.batch_size", "normalizer"]).value.mean() * 100
    sentences = hl.headline(data, {"training.batch_size": 4})["sentences"]
    assert sentences[0] == (
        f"Going from training.batch_size=16 to training.batch_size=4 on iid batches, inference accuracy goes "
        f"from {ref[16, 'bn']:.1f}% to {ref[4, 'bn']:.1f}% for bn and from {ref[16, 'brn']:.1f}% to "
        f"{ref[4, 'brn']:.1f}% for brn.")
    assert sentences[1].startswith("At sweep point training.batch_size=4, on iid batches, inference accuracy")
    assert "brn minus bn:" in sentences[1]


def test_error_bars_are_never_negative_when_the_mean_lies_beyond_its_cut():
    """A KL of -1e-8 (rounding, layers without batch statistics) has its interval cut at 0 above its mean: the bar's
    error must still be drawable (matplotlib refuses negative yerr), not crash the report."""
    import math

    import numpy as np

    from harness.report.figures import _ci_err
    from harness.results.stats import mean_ci

    stats = mean_ci(np.array([-1e-8, -3e-8, 1e-9]), bounds=(0.0, math.inf))
    assert stats["mean"] < stats["lo"] == 0.0
    assert (_ci_err([stats]) >= 0).all()


def test_figures_drawn_by_forked_workers_are_the_figures_drawn_here(run_dir, tmp_path):
    # in a fresh process: this one may have imported TensorFlow, where section_figures does not fork
    code = """
import os, sys
from harness.report import render
from harness.results.headline import headline_point
from harness.results.loader import load_run, restrict
data = load_run(sys.argv[1])
detail = restrict(data, headline_point(data)[0])
here = render.section_figures(detail, processes=1)
draw = render._figures_of
def traced(index):  # records which process drew each section
    open(os.path.join(sys.argv[2], str(os.getpid())), "a").write(f"{index} ")
    return draw(index)
render._figures_of = traced
forked = render.section_figures(detail, processes=2)
assert "tensorflow" not in sys.modules
print(sum(len(f) for f in here), forked == here, os.getpid(), len(render.SECTIONS))
"""
    import subprocess
    import sys

    pids = tmp_path / "pids"
    pids.mkdir()
    out = subprocess.run([sys.executable, "-c", code, str(run_dir), str(pids)], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    n_figures, same, parent, n_sections = out.stdout.split()
    assert int(n_figures) >= 5 and same == "True"  # the same SVG text, figure by figure
    drawn_by = {pid.name: pid.read_text().split() for pid in pids.iterdir()}
    assert drawn_by and parent not in drawn_by  # forked workers drew them, each section once
    assert sorted(int(i) for sections in drawn_by.values() for i in sections) == list(range(int(n_sections)))


def test_palette_is_seaborns_colorblind_palette_cycled_past_ten():
    # the palette is spelled out so figures without a heatmap never import seaborn: it must stay seaborn's
    import seaborn as sns

    from harness.report import figures as figs

    names = [f"norm{i}" for i in range(12)]
    expected = sns.color_palette("colorblind", 10)
    assert list(figs.palette(names).values()) == [tuple(expected[i % 10]) for i in range(12)]


def test_a_section_with_its_template_inline_is_rendered_in_its_place(run_dir, tmp_path, monkeypatch):
    """A section is one `Section` entry: its template may be given inline (`html`), with the report's filters and
    its context; it is numbered in SECTIONS order like the file-template sections around it."""
    from harness.report import render

    def context(data, detail):
        return {"n_seeds_shown": len(detail.summary["seed"].unique()), "user_text": "<b>x</b>"}

    extra = render.Section("seed_count", "Seeds & counts", context=context,
                           html="<p id='seeds'>{{ n_seeds_shown }} seeds; {{ 12.345 | num(2) }}; {{ user_text }}</p>")
    monkeypatch.setattr(render, "SECTIONS", [*render.SECTIONS[:2], extra, *render.SECTIONS[2:]])
    text = render.write_report(run_dir, out=tmp_path / "index.html").read_text(encoding="utf-8")
    seeds = pd.read_csv(run_dir / "summary.csv")["seed"].nunique()
    assert f"<p id='seeds'>{seeds} seeds; 12.35; &lt;b&gt;x&lt;/b&gt;</p>" in text
    assert "<h2>3. Seeds &amp; counts</h2>" in text and f"<h2>4. {html.escape(SECTIONS[2].title)}</h2>" in text
