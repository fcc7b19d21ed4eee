"""Hardening, round two (issue 22), item 3: no broken number is reported as a result. A plugin whose output is
non-finite or not floating point is refused by validate (one inference call and one training step); a metric
that turns non-finite later fails for that trial (harness.results.finite: its numbers dropped, its reason in the
trial file, trials.csv, summary.md and the report), never an accuracy, while the trial's finite metrics stand;
summary.md and comparisons.csv count the same trials per metric. Tiny scenarios, in-process."""

import copy
import json

import pandas as pd
import pytest
import yaml

from tests.conftest import TINY_SCENARIO
from tests.support.hardening import assert_refused, run_cli


def _scenario(tmp_path, normalizers, name="scenario.yaml"):
    raw = {**copy.deepcopy(TINY_SCENARIO), "samplers": {"iid": {"kind": "iid"}}, "normalizers": normalizers,
           "seeds": [0]}
    path = tmp_path / name
    path.write_text(yaml.safe_dump(raw))
    return path


@pytest.mark.parametrize("layer, needle", [("NaNAtInference", "non-finite output (NaN or infinity) in inference"),
                                           ("IntegerOutput", "int32 output in training mode, not floating point"),
                                           ("StopsGradient", "cuts the gradient in a training step")])
def test_validate_refuses_a_layer_with_non_finite_or_integer_output_or_no_gradient(tmp_path, layer, needle):
    path = _scenario(tmp_path, {"bn": {"kind": "batchnorm"},
                                "mine": {"kind": f"tests.support.nonfinite_layers:{layer}"}})
    assert_refused(["validate", path], tmp_path, "normalizers.mine.kind", needle)


def _result(**final):
    """A finished trial result as run_trial returns it, with `final` values changed."""
    return {"id": "iid__bn__s0", "hash": "h", "config": {"sampler": "iid", "normalizer": "bn", "seed": 0},
            "status": "ok", "diverged_step": None, "error": None,
            "final": {"train_loss": 1.2, "train_acc": 0.5, "acc_inference": 0.25, "acc_batch_iid": 0.75,
                      "logit_kl": 0.1, "seconds": 3.0, "ms_per_step": 2.0, **final},
            "curves": [{"step": 10, "metric": "acc_inference", "value": 0.3},
                       {"step": 20, "metric": "acc_inference", "value": 0.25},
                       {"step": 10, "metric": "train_loss", "value": 1.3}],
            "layers": [{"layer": 1, "mismatch_local": 0.1, "clip_fraction": 0.0},
                       {"layer": 2, "mismatch_local": 0.2, "clip_fraction": 0.5}],
            "correct": {"acc_inference": "AAE=", "n": 4}, "seconds": 3.0}


def test_a_non_finite_metric_fails_for_its_trial_and_only_its_numbers_are_dropped():
    from harness.results.finite import check_result
    from harness.results.rundir import trial_problem

    result = _result(acc_inference=float("nan"))
    result["curves"][1]["value"] = float("nan")  # step 20; step 10 was still finite
    result["layers"][1]["mismatch_local"] = float("inf")
    original = copy.deepcopy(result)
    checked = check_result(result)
    assert result == original or str(result) == str(original)  # not changed in place (NaN != NaN)
    assert checked["status"] == "ok" and checked["error"] is None
    assert checked["failed_metrics"] == {"acc_inference": "non-finite logits (NaN at the end and at step 20)",
                                         "mismatch_local": "non-finite activations (inf in layer 2)"}
    # every number of a failed metric goes (its finite curve point at step 10 too: never half a curve)
    assert checked["final"] == {"train_loss": 1.2, "train_acc": 0.5, "acc_batch_iid": 0.75, "logit_kl": 0.1,
                                "seconds": 3.0, "ms_per_step": 2.0}
    assert checked["curves"] == [{"step": 10, "metric": "train_loss", "value": 1.3}]
    assert checked["layers"] == [{"layer": 1, "clip_fraction": 0.0}, {"layer": 2, "clip_fraction": 0.5}]
    assert "correct" not in checked  # the per-example hits of NaN logits are no result either
    assert trial_problem(checked) is None  # a trial file of the run-directory format
    assert check_result(checked) == checked  # once is enough

    inf_kl = check_result(_result(logit_kl=float("-inf")))
    assert inf_kl["failed_metrics"] == {"logit_kl": "non-finite logits (inf at the end)"}
    assert inf_kl["correct"] == {"acc_inference": "AAE=", "n": 4}  # acc_inference stands, and its hits


def test_a_trial_without_a_finite_metric_fails_and_finite_or_diverged_trials_are_unchanged():
    from harness.results.finite import check_result

    nan = float("nan")
    every = check_result(_result(train_loss=nan, train_acc=nan, acc_inference=nan, acc_batch_iid=nan,
                                 logit_kl=float("inf")))
    assert every["status"] == "failed" and every["final"] == {} and every["layers"] == [] and "correct" not in every
    assert every["error"] == ("non-finite output: train_loss, train_acc, acc_inference, acc_batch_iid, logit_kl "
                              "(NaN or infinite logits, activations or metrics; no number is reported)")
    assert list(every["failed_metrics"]) == ["train_loss", "train_acc", "acc_inference", "acc_batch_iid", "logit_kl"]
    finite = _result()
    assert check_result(finite) is finite
    diverged = {**_result(acc_inference=nan), "status": "diverged", "diverged_step": 7}
    assert check_result(diverged) is diverged


def _summary_cells(text, normalizer):
    """{column header: cell} of summary.md's verdict-table row of `normalizer` (iid sampler)."""
    def cells(line):
        return [cell.strip() for cell in line.strip().strip("|").split("|")][2:]

    lines = text.splitlines()
    header = next(line for line in lines if line.startswith("| sampler | normalizer |"))
    row = next(line for line in lines if line.startswith(f"| iid | {normalizer} |"))
    return dict(zip(cells(header), cells(row), strict=True))


def test_an_inference_nan_normalizer_fails_its_inference_metrics_and_keeps_its_batch_statistics_ones(tmp_path):
    path = _scenario(tmp_path, {"bn": {"kind": "batchnorm"},
                                "late": {"kind": "tests.support.nonfinite_layers:LateNaN"}})
    out = tmp_path / "run"
    code, _, err = run_cli(["validate", path])
    assert code == 0, err  # NaN only after a few training steps: validation cannot see it
    code, _, err = run_cli(["run", path, "--out", out, "--quiet"])
    assert code == 0, err
    trials = pd.read_csv(out / "trials.csv").set_index("normalizer")
    assert (trials["status"] == "ok").all()  # late's trial finished: its other metrics are results
    assert trials["failed_metrics"].isna()["bn"]
    # LateNaN is the identity in training mode and NaN in inference mode from step 4 on (evaluations at steps 10
    # and 20): what inference-mode logits or activations feed fails, what training mode (batch statistics) feeds
    # stands; PreciseBN cannot re-estimate a plugin layer's statistics, so acc_precise_* are not measured at all
    assert trials.loc["late", "failed_metrics"] == (
        "acc_inference: non-finite logits (NaN at the end and at steps 10, 20); "
        "logit_disagreement: non-finite logits (NaN at the end); logit_kl: non-finite logits (NaN at the end); "
        "mismatch_local: non-finite activations (NaN in layer 1); "
        "mismatch_propagated: non-finite activations (NaN in layer 1)")
    summary = pd.read_csv(out / "summary.csv")
    late = summary[summary["normalizer"] == "late"]
    assert set(late["metric"]) == {"train_loss", "train_acc", "acc_batch_sampler", "acc_batch_iid", "seconds",
                                   "ms_per_step"}
    assert summary["value"].notna().all()
    assert not ({"acc_inference", "logit_kl"} & set(pd.read_csv(out / "curves.csv").query("normalizer == 'late'")
                                                    ["metric"]))
    assert not (pd.read_csv(out / "layers.csv")["normalizer"] == "late").any()
    trial = json.loads((out / "trials" / "iid__late__s0.json").read_text())
    assert list(trial["failed_metrics"]) == ["acc_inference", "logit_disagreement", "logit_kl", "mismatch_local",
                                             "mismatch_propagated"]
    assert "correct" not in trial
    text = (out / "summary.md").read_text(encoding="utf-8")
    assert ("- iid / late / seed 0: failed metrics (acc_inference: non-finite logits (NaN at the end and at steps "
            "10, 20); logit_disagreement: ") in text
    late_cells = _summary_cells(text, "late")
    assert late_cells["acc_inference"] == "-" and late_cells["acc_inference - bn (95% CI)"] == "-"
    assert late_cells["acc_batch_sampler"] == f"{late.set_index('metric').loc['acc_batch_sampler', 'value']:.3f}"
    comparisons = pd.read_csv(out / "comparisons.csv")
    row = comparisons[comparisons["normalizer"] == "late"]
    assert row["n"].tolist() == [0] and row["mean_diff"].isna().all()  # no late acc_inference to pair
    html = (out / "index.html").read_text(encoding="utf-8")
    assert "ok, metrics failed" in html  # the report's list of failed trials names the metrics
    assert "acc_inference: non-finite logits (NaN at the end and at steps 10, 20)" in html
    # the headline does not say late's trials did not finish: they did, without a finite acc_inference
    assert " and late: no finished trial with a finite acc_inference." in text
    assert "late minus bn: no paired seeds with a finite acc_inference." in text


def test_summary_md_and_comparisons_count_the_same_trials_per_metric_and_diverged_trials_count_nowhere(tmp_path):
    raw = {**copy.deepcopy(TINY_SCENARIO), "samplers": {"iid": {"kind": "iid"}}, "seeds": [0, 1, 2]}
    path = tmp_path / "scenario.yaml"
    path.write_text(yaml.safe_dump(raw))
    out = tmp_path / "run"
    code, _, err = run_cli(["run", path, "--out", out, "--no-report", "--quiet"])
    assert code == 0, err
    trial = {(n, s): json.loads((out / "trials" / f"iid__{n}__s{s}.json").read_text())
             for n in ("bn", "brn") for s in (0, 1, 2)}
    # brn's acc_inference failed in seed 1 (as harness.results.finite files it): it counts in neither file
    failed = trial["brn", 1]
    del failed["final"]["acc_inference"]
    failed["curves"] = [row for row in failed["curves"] if row["metric"] != "acc_inference"]
    failed["failed_metrics"] = {"acc_inference": "non-finite logits (NaN at the end)"}
    failed.pop("correct", None)
    (out / "trials" / "iid__brn__s1.json").write_text(json.dumps(failed))
    code, _, err = run_cli(["run", path, "--out", out, "--no-report", "--quiet"])
    assert code == 0, err
    text = (out / "summary.md").read_text(encoding="utf-8")
    assert "- iid / brn / seed 1: failed metrics (acc_inference: non-finite logits (NaN at the end))" in text
    acc = {key: t["final"].get("acc_inference") for key, t in trial.items()}
    brn_mean = (acc["brn", 0] + acc["brn", 2]) / 2
    diff = ((acc["brn", 0] - acc["bn", 0]) + (acc["brn", 2] - acc["bn", 2])) / 2
    cells = _summary_cells(text, "brn")
    assert cells["acc_inference"].startswith(f"{brn_mean:.3f}") and cells["acc_inference"].endswith("(n=2)")
    batch = sum(trial["brn", s]["final"]["acc_batch_sampler"] for s in (0, 1, 2)) / 3
    assert cells["acc_batch_sampler"].startswith(f"{batch:.3f}")  # brn's other metrics of seed 1 still count
    assert "(n=" not in cells["acc_batch_sampler"]
    assert cells["acc_inference - bn (95% CI)"].startswith(f"{diff:+.3f}")
    row = pd.read_csv(out / "comparisons.csv").query("comparison == 'normalizer' and normalizer == 'brn'")
    assert row["n"].tolist() == [2]  # the n of summary.md's cell
    assert row["mean_diff"].iloc[0] == pytest.approx(100 * diff)

    # a trial marked diverged by hand (its numbers kept) counts neither in summary.md nor in comparisons.csv
    bn = trial["bn", 0]
    bn.update(status="diverged", diverged_step=5)
    (out / "trials" / "iid__bn__s0.json").write_text(json.dumps(bn))
    code, _, err = run_cli(["run", path, "--out", out, "--no-report", "--quiet"])
    assert code == 0, err
    assert set(pd.read_csv(out / "summary.csv").query("normalizer == 'bn'")["seed"]) == {1, 2}
    row = pd.read_csv(out / "comparisons.csv").query("comparison == 'normalizer' and normalizer == 'brn'")
    assert row["n"].tolist() == [1]  # seed 2 alone: seed 0's bn diverged, seed 1's brn acc_inference failed
    assert row["mean_diff"].iloc[0] == pytest.approx(100 * (acc["brn", 2] - acc["bn", 2]))
    text = (out / "summary.md").read_text(encoding="utf-8")
    assert "- iid / bn / seed 0: diverged (diverged at step 5)" in text
    assert _summary_cells(text, "brn")["acc_inference - bn (95% CI)"] == f"{acc['brn', 2] - acc['bn', 2]:+.3f}"
