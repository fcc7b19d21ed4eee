"""Hardening, round two (issue 22), item 3: no broken number is reported as a result. A plugin whose output is
non-finite or not floating point is refused by validate (one inference call and one training step); a trial
whose metrics turn non-finite later is failed with its reason (trials.csv, summary.md), never an accuracy;
summary.md and comparisons.csv count the same trials. Tiny scenarios, in-process."""

import copy
import json

import pandas as pd
import pytest
import yaml
from conftest import TINY_SCENARIO
from hardening import assert_refused, run_cli


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
    path = _scenario(tmp_path, {"bn": {"kind": "batchnorm"}, "mine": {"kind": f"tests.nonfinite_layers:{layer}"}})
    assert_refused(["validate", path], tmp_path, "normalizers.mine.kind", needle)


def test_non_finite_metrics_fail_their_trial_and_diverged_trials_count_nowhere(tmp_path):
    path = _scenario(tmp_path, {"bn": {"kind": "batchnorm"}, "late": {"kind": "tests.nonfinite_layers:LateNaN"}})
    out = tmp_path / "run"
    code, _, err = run_cli(["validate", path])
    assert code == 0, err  # NaN only after a few training steps: validation cannot see it
    code, _, err = run_cli(["run", path, "--out", out, "--no-report", "--quiet"])
    assert code == 0, err  # bn did its work
    trials = pd.read_csv(out / "trials.csv").set_index("normalizer")
    assert trials.loc["bn", "status"] == "ok"
    assert trials.loc["late", "status"] == "failed"
    assert "non-finite output" in trials.loc["late", "error"] and "acc_inference" in trials.loc["late", "error"]
    summary = pd.read_csv(out / "summary.csv")
    assert set(summary["normalizer"]) == {"bn"}  # never an accuracy of 1/num_classes from NaN logits
    assert summary["value"].notna().all()
    text = (out / "summary.md").read_text(encoding="utf-8")
    assert "late / seed 0: failed (non-finite output: " in text
    comparisons = pd.read_csv(out / "comparisons.csv")
    late = comparisons[comparisons["normalizer"] == "late"]
    assert (late["n"] == 0).all() and late["mean_diff"].isna().all()  # no pair of finished trials: no difference

    # a trial marked diverged by hand (its numbers kept) counts neither in summary.md nor in comparisons.csv
    trial_file = out / "trials" / "iid__bn__s0.json"
    trial = json.loads(trial_file.read_text())
    trial.update(status="diverged", diverged_step=5)
    trial_file.write_text(json.dumps(trial))
    code, _, err = run_cli(["run", path, "--out", out, "--no-report", "--quiet"])
    assert code == 0, err
    assert pd.read_csv(out / "summary.csv").empty
    assert (pd.read_csv(out / "comparisons.csv")["n"] == 0).all()  # the same trials in both
    assert "bn / seed 0: diverged (diverged at step 5)" in (out / "summary.md").read_text(encoding="utf-8")
