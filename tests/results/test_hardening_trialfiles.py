"""Hardening, round two (issue 22), item 4: a trial file that keeps its hash but carries a damaged value is an
unfinished trial: rerun on resume, refused by `report` in one line naming the file, never a table value."""

import copy
import json

import pandas as pd
import pytest
import yaml

from tests.conftest import TINY_SCENARIO
from tests.support.hardening import assert_refused, run_cli

DAMAGE = {
    "oops in final": lambda t: t["final"].update(acc_inference="oops"),
    "null final value": lambda t: t["final"].update(acc_inference=None),
    "string for final": lambda t: t.update(final="acc_inference: 0.5"),
    "empty final": lambda t: t.update(final={}),
    "string for config": lambda t: t.update(config="x"),
    "null curves": lambda t: t.update(curves=None),
    "oops curve value": lambda t: t["curves"][0].update(value="oops"),
    "string for a layer": lambda t: t["layers"].__setitem__(0, "layer"),
    "bool step": lambda t: t["curves"][0].update(step=True),
    "negative seconds": lambda t: t.update(seconds=-1.0),
    "status oops": lambda t: t.update(status="oops"),
    "null hash": lambda t: t.update(hash=None),
    "string for failed_metrics": lambda t: t.update(failed_metrics="acc_inference"),
    "number for a failed metric's reason": lambda t: t.update(failed_metrics={"logit_kl": 1.0}),
    "a failed metric with a number": lambda t: t.update(failed_metrics={"acc_inference": "non-finite logits"}),
}


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("trialfiles")
    raw = {**copy.deepcopy(TINY_SCENARIO), "samplers": {"iid": {"kind": "iid"}},
           "normalizers": {"bn": {"kind": "batchnorm"}}, "seeds": [0]}
    path = folder / "scenario.yaml"
    path.write_text(yaml.safe_dump(raw))
    out = folder / "run"
    code, _, err = run_cli(["run", path, "--out", out, "--no-report", "--quiet"])
    assert code == 0, err
    return path, out


def test_each_damaged_value_makes_the_trial_unfinished(finished_run):
    from harness.results.rundir import RunDir, trial_problem

    _, out = finished_run
    trial_file = next((out / "trials").glob("*.json"))
    good = json.loads(trial_file.read_text())
    assert trial_problem(good) is None
    config = good["config"]
    assert RunDir(out).load_finished(config) is not None
    for name, damage in DAMAGE.items():
        bad = copy.deepcopy(good)
        damage(bad)
        assert trial_problem(bad) is not None, name
        trial_file.write_text(json.dumps(bad))
        assert RunDir(out).load_finished(config) is None, name
        assert [p for p, _ in RunDir(out).damaged_trials()] == [str(trial_file)], name
    trial_file.write_text(json.dumps(good))


def test_report_refuses_and_resume_reruns_a_damaged_trial_file(finished_run, tmp_path):
    path, out = finished_run
    trial_file = next((out / "trials").glob("*.json"))
    good = json.loads(trial_file.read_text())
    bad = copy.deepcopy(good)
    bad["final"]["acc_inference"] = "oops"
    trial_file.write_text(json.dumps(bad))
    assert_refused(["report", out], out, trial_file.name, "damaged trial file", "final.acc_inference")
    code, _, err = run_cli(["run", path, "--out", out, "--no-report", "--quiet"])
    assert code == 0, err
    rerun = json.loads(trial_file.read_text())
    assert isinstance(rerun["final"]["acc_inference"], float)
    summary = pd.read_csv(out / "summary.csv")
    assert pd.api.types.is_float_dtype(summary["value"])
    assert rerun["final"]["acc_inference"] == good["final"]["acc_inference"]  # the rerun gives the same numbers
