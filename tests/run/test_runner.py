"""The runner: paired trials, determinism, resume after a kill, divergence and failures recorded."""

import json
import os
import signal
import subprocess
import sys

import numpy as np
import pandas as pd
import yaml

from harness.run import runner
from harness.scenario import validate
from tests.conftest import finished_trials, harness_env, start_run_until


def run_quiet(raw, out_dir, **kwargs):
    return runner.run(validate(raw), str(out_dir), quiet=True, **kwargs)


def test_normalizers_start_from_identical_weights_and_see_identical_batches():
    import keras

    from harness.models.builders import build_model, normalization_layers

    shapes = {"mlp": (8, 8, 1), "convnet": (8, 8, 1), "resnet": (8, 8, 1)}
    for name, shape in shapes.items():
        model_config = validate({**_base(), "model": {"name": name, "widths": [8, 16]}}, check_feasibility=False).model
        weights = {}
        for kind in ("batchnorm", "batchrenorm", "groupnorm", "none"):
            config = {"kind": kind, **({"groups": 4} if kind == "groupnorm" else {})}
            model = build_model(model_config, config, shape, 10, seed=3)
            norm_names = {layer.name for layer in normalization_layers(model)}
            weights[kind] = [w.numpy() for layer in model.layers if layer.name not in norm_names for w in layer.weights]
            keras.backend.clear_session()
        for values in weights.values():
            assert len(values) == len(weights["batchnorm"]) > 0
            for a, b in zip(values, weights["batchnorm"], strict=False):
                np.testing.assert_array_equal(a, b)
    # the batch stream depends on sampler and seed only
    from harness.train.trial import make_trial_config

    scenario = validate(_base())
    configs = [make_trial_config(scenario, "one_class", n, 0) for n in scenario.normalizers]
    streams = []
    for config in configs:
        from harness.scenario import build_sampler
        from harness.train.trial import load_dataset

        labels = load_dataset(config["data"]).y_train
        streams.append(build_sampler(config["sampler_config"], labels, 8, config["seed"]).batches(20))
    np.testing.assert_array_equal(streams[0], streams[1])


def _base():
    import copy

    from tests.conftest import TINY_SCENARIO

    return copy.deepcopy(TINY_SCENARIO)


def test_run_writes_tidy_tables_and_is_deterministic(tiny_scenario, tmp_path):
    run_quiet(tiny_scenario, tmp_path / "a")
    run_quiet(tiny_scenario, tmp_path / "b")
    for name in ("summary", "curves", "layers", "trials", "composition", "noniid"):
        a = pd.read_csv(tmp_path / "a" / f"{name}.csv")
        b = pd.read_csv(tmp_path / "b" / f"{name}.csv")
        if "metric" in a.columns:  # timings differ between runs; every other value is bit-identical
            a = a[~a["metric"].isin(["seconds", "ms_per_step"])]
            b = b[~b["metric"].isin(["seconds", "ms_per_step"])]
        a, b = a.drop(columns=["seconds"], errors="ignore"), b.drop(columns=["seconds"], errors="ignore")
        pd.testing.assert_frame_equal(a.reset_index(drop=True), b.reset_index(drop=True), check_exact=True)
    summary = pd.read_csv(tmp_path / "a" / "summary.csv")
    assert list(summary.columns) == ["sampler", "normalizer", "seed", "metric", "value"]
    assert set(summary["metric"]) >= {"acc_inference", "acc_batch_iid", "acc_batch_sampler", "acc_precise_iid",
                                      "acc_precise_own", "train_loss", "train_acc", "logit_disagreement", "logit_kl",
                                      "ms_per_step"}
    assert len(summary.groupby(["sampler", "normalizer", "seed"])) == 2 * 2 * 2
    layers = pd.read_csv(tmp_path / "a" / "layers.csv")
    assert set(layers.query("normalizer == 'brn'")["metric"]) >= {"mismatch_local", "mismatch_propagated",
                                                                  "abs_log_r_q50", "abs_d_q95", "clip_fraction"}
    curves = pd.read_csv(tmp_path / "a" / "curves.csv")
    assert sorted(curves["step"].unique()) == [10, 20]
    assert "clip_fraction" in set(curves.query("normalizer == 'brn'")["metric"])
    assert (tmp_path / "a" / "summary.md").read_text().startswith("# tiny")
    provenance = json.loads((tmp_path / "a" / "provenance.json").read_text())
    assert provenance["versions"]["tensorflow"] and provenance["device"]["type"] in ("CPU", "GPU")
    assert provenance["finished"] is not None


def test_reused_workbench_gives_the_same_numbers_as_a_fresh_one(tiny_scenario):
    from harness.train import trial

    configs = runner.plan(validate(tiny_scenario))
    first, second = configs[0], configs[2]  # same normalizer, different seed
    assert first["normalizer"] == second["normalizer"] and first["seed"] != second["seed"]
    trial._WORKBENCHES.clear()
    fresh = trial.run_trial(second)
    trial.run_trial(first)
    reused = trial.run_trial(second)
    assert fresh["final"]["acc_inference"] == reused["final"]["acc_inference"]
    assert [c["value"] for c in fresh["curves"]] == [c["value"] for c in reused["curves"]]


def test_resume_skips_finished_trials_and_fresh_starts_over(tiny_scenario, tmp_path):
    tiny_scenario["seeds"] = [0]
    out = tmp_path / "run"
    run_quiet(tiny_scenario, out)
    mtimes = {p: os.path.getmtime(out / "trials" / p) for p in os.listdir(out / "trials")}
    seen = []
    run_quiet(tiny_scenario, out, on_result=seen.append)
    assert seen == []  # everything reused
    assert {p: os.path.getmtime(out / "trials" / p) for p in os.listdir(out / "trials")} == mtimes
    tiny_scenario["training"]["learning_rate"] = 0.02  # a changed config is not reused
    run_quiet(tiny_scenario, out, on_result=seen.append)
    assert len(seen) == 4
    seen.clear()
    run_quiet(tiny_scenario, out, fresh=True, on_result=seen.append)
    assert len(seen) == 4


def test_killed_run_resumes_with_identical_results(tiny_scenario, write_scenario, tmp_path):
    # seed 1's trials stall in the killed process: the kill lands mid-run
    tiny_scenario["samplers"]["iid"] = {"kind": "tests.support.broken_sampler:StallingSampler"}
    path = write_scenario(tiny_scenario)
    out = tmp_path / "killed"
    command = [sys.executable, "-m", "harness", "run", path, "--out", str(out), "--quiet", "--no-report"]
    process = start_run_until(command, out, 2)
    process.send_signal(signal.SIGKILL)
    process.wait()
    done = finished_trials(out)
    assert 2 <= len(done) < 8
    kept = {f: os.path.getmtime(out / "trials" / f) for f in done}
    result = subprocess.run(command, env=harness_env(), capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert all(os.path.getmtime(out / "trials" / f) == m for f, m in kept.items())
    assert not [f for f in os.listdir(out / "trials") if f.startswith(".tmp")]
    reference = tmp_path / "reference"
    run_quiet(tiny_scenario, reference)
    a = pd.read_csv(out / "summary.csv").query("metric not in ['seconds', 'ms_per_step']")
    b = pd.read_csv(reference / "summary.csv").query("metric not in ['seconds', 'ms_per_step']")
    pd.testing.assert_frame_equal(a.reset_index(drop=True), b.reset_index(drop=True))


def test_divergence_and_failures_are_recorded_and_the_run_continues(tiny_scenario, tmp_path):
    tiny_scenario["normalizers"] = {"bn": {"kind": "batchnorm"}, "plain": {"kind": "none"}}
    tiny_scenario["training"].update(optimizer="sgd", learning_rate=1e30)
    tiny_scenario["samplers"]["broken"] = {"kind": "tests.support.broken_sampler:ExplodingSampler"}
    tiny_scenario["seeds"] = [0]
    results = run_quiet(tiny_scenario, tmp_path / "run")
    status = {(r["config"]["sampler"], r["config"]["normalizer"]): r for r in results}
    plain = status[("iid", "plain")]
    assert plain["status"] == "diverged" and 1 <= plain["diverged_step"] <= 20
    broken = status[("broken", "bn")]
    assert broken["status"] == "failed" and "plugin bug" in broken["error"]
    trials = pd.read_csv(tmp_path / "run" / "trials.csv")
    assert set(trials["status"]) >= {"diverged", "failed"}
    summary_md = (tmp_path / "run" / "summary.md").read_text()
    assert "diverged at step" in summary_md and "plugin bug" in summary_md


def test_batch_independent_normalizers_are_analysed_as_identical_in_both_modes(tiny_scenario, tmp_path):
    tiny_scenario.update(seeds=[0], samplers={"one_class": tiny_scenario["samplers"]["one_class"]},
                         normalizers={"gn": {"kind": "groupnorm", "groups": 2}, "ln": {"kind": "layernorm"}})
    tiny_scenario["training"]["steps"] = 10
    for result in run_quiet(tiny_scenario, tmp_path / "run"):
        assert result["status"] == "ok", result["error"]
        assert [row["mismatch_local"] for row in result["layers"]] == [0.0]
        assert result["layers"][0]["mismatch_propagated"] < 1e-6
        assert "abs_d_q50" not in result["layers"][0]
        assert result["final"]["acc_inference"] == result["final"]["acc_precise_iid"]  # nothing to re-estimate
        assert result["final"]["acc_inference"] == result["final"]["acc_precise_own"]
        assert result["final"]["logit_disagreement"] == 0.0


def test_summary_and_report_compare_against_the_same_reference(tiny_scenario, tmp_path):
    """The reference is decided once (analysis.reference in scenario.yaml): with only groupnorm and layernorm
    there is none, and summary.md and the report agree; naming one reruns no trial and both use it."""
    from harness.results import headline as hl
    from harness.results.loader import load_run

    tiny_scenario.update(seeds=[0], normalizers={"gn": {"kind": "groupnorm", "groups": 2}, "ln": {"kind": "layernorm"}})
    tiny_scenario["training"]["steps"] = 10
    out = tmp_path / "run"
    run_quiet(tiny_scenario, out)
    assert yaml.safe_load((out / "scenario.yaml").read_text())["analysis"]["reference"] is None
    summary_md = (out / "summary.md").read_text()
    # the metric columns of the table's summary.md and "other metrics" groups, and no difference column
    from harness.analysis import metrics as metric_table

    columns = [*metric_table.in_group(metric_table.SUMMARY), *metric_table.in_group(metric_table.EXTRA)]
    assert {"acc_inference", "acc_batch_sampler", "acc_precise_iid", "acc_precise_own"} <= set(columns)
    assert f"| sampler | normalizer | {' | '.join(columns)} |\n" in summary_md
    assert " - gn " not in summary_md and " - ln " not in summary_md
    data = load_run(out)
    assert data.reference is None and data.iid_sampler == "iid"
    sentences = hl.headline(data)["sentences"]
    assert not any(" minus " in s for s in sentences) and "paired differences are not computed" in sentences[-1]

    tiny_scenario["analysis"]["reference"] = "ln"
    before = {name: os.path.getmtime(out / "trials" / name) for name in finished_trials(out)}
    run_quiet(tiny_scenario, out)
    assert {name: os.path.getmtime(out / "trials" / name) for name in finished_trials(out)} == before
    summary_md = (out / "summary.md").read_text()
    assert "| acc_inference - ln (95% CI) |" in summary_md
    data = load_run(out)
    assert data.reference == "ln"
    assert any("gn minus ln:" in s for s in hl.headline(data)["sentences"])


def test_every_normalizer_kind_runs_through_every_model(tiny_scenario, tmp_path):
    """The whole pipeline (training, analysis, tables) for each normalizer kind on conv models, microbatches
    included."""
    tiny_scenario.update(seeds=[0], samplers={"one_class": tiny_scenario["samplers"]["one_class"]})
    tiny_scenario["data"]["image_size"] = 8
    tiny_scenario["normalizers"] = {
        "bn_micro": {"kind": "batchnorm", "microbatch_size": 4},
        "brn_micro": {"kind": "batchrenorm", "microbatch_size": 2, "r_max": 1.5, "d_max": 0.5},
        "keras_renorm": {"kind": "keras_renorm"},
        "gn": {"kind": "groupnorm", "groups": 4},
        "ln": {"kind": "layernorm"},
        "none": {"kind": "none"},
    }
    tiny_scenario["training"]["steps"] = 6
    tiny_scenario["analysis"]["eval_every"] = 6
    all_kinds = dict(tiny_scenario["normalizers"])
    for model, normalizers in (({"name": "convnet", "widths": [8, 8]}, all_kinds),
                               ({"name": "resnet", "widths": [8, 8]}, {"brn_micro": all_kinds["brn_micro"]})):
        tiny_scenario.update(model=model, normalizers=normalizers)
        for result in run_quiet(tiny_scenario, tmp_path / model["name"]):
            assert result["status"] == "ok", (model["name"], result["config"]["normalizer"], result["error"])
            assert len(result["layers"]) >= 2
            assert 0.0 <= result["final"]["acc_precise_iid"] <= 1.0 and 0.0 <= result["final"]["acc_precise_own"] <= 1.0


def test_a_run_directory_of_another_scenario_is_refused_unless_fresh(tiny_scenario, write_scenario, tmp_path):
    out = tmp_path / "run"
    tiny_scenario["seeds"] = [0]
    tiny_scenario["training"]["steps"] = 10
    run_quiet(tiny_scenario, out)
    before = sorted(os.listdir(out / "trials"))
    tiny_scenario["name"] = "other"
    command = [sys.executable, "-m", "harness", "run", write_scenario(tiny_scenario), "--out", str(out), "--quiet"]
    refused = subprocess.run(command, env=harness_env(), capture_output=True, text=True, timeout=300)
    assert refused.returncode == 2
    assert refused.stderr.strip() == (f"error: --out: {str(out)!r} holds a run of scenario 'tiny', not 'other' "
                                      "(choose another --out, or --fresh to replace it)")
    assert sorted(os.listdir(out / "trials")) == before
    run_quiet(tiny_scenario, out, fresh=True)
    assert yaml.safe_load((out / "scenario.yaml").read_text())["name"] == "other"


def test_a_loaded_trial_holding_nan_is_checked_as_a_fresh_result_is():
    # a trial file written before metrics were checked one by one, or edited by hand: on resume the NaN metric
    # is failed for that trial and the finite ones kept; with no finite metric left the trial is run again
    from harness.results.rundir import TrialResult
    from harness.run.runner import _checked

    result = TrialResult(id="t", hash="h", config={}, status="ok", final={"acc_inference": 0.5, "acc_batch_iid": 0.75},
                         curves=[{"step": 10, "metric": "acc_inference", "value": 0.4},
                                 {"step": 10, "metric": "acc_batch_iid", "value": 0.7}]).to_dict()
    loaded = _checked({**result, "final": {**result["final"], "acc_inference": float("nan")}})
    assert loaded["status"] == "ok" and loaded["final"] == {"acc_batch_iid": 0.75}
    assert list(loaded["failed_metrics"]) == ["acc_inference"]
    assert [row["metric"] for row in loaded["curves"]] == ["acc_batch_iid"]  # never half a curve
    assert _checked({**result, "final": {"acc_inference": float("nan"), "acc_batch_iid": float("inf")}}) is None
    assert _checked(None) is None and _checked(result) == result
