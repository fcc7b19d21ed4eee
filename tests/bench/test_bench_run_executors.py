"""`bench run` and `bench executors` run end to end and report what they promise (no timing assertions):
the README's performance figures come from these two commands."""

import argparse
import json

import numpy as np
import pytest

from harness.bench import device as bench_device
from harness.bench import executors as bench_executors
from harness.bench import run as bench_run
from harness.run.runner import plan
from harness.scenario import validate
from harness.train import xla


def _main(module, argv):
    parser = argparse.ArgumentParser()
    module.add_arguments(parser)
    return module.main(parser.parse_args(argv))


def test_bench_run_splits_the_wall_time_without_remainder(tiny_scenario, write_scenario, capsys):
    tiny_scenario["seeds"] = [0]
    assert _main(bench_run, ["--json", "--no-scaling", write_scenario(tiny_scenario)]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["trials"] == len(plan(validate(tiny_scenario))) == 4
    split = out["split_seconds"]
    assert sum(split.values()) == pytest.approx(out["wall_seconds"])
    assert all(split[part] >= 0 for part in ("training", "tracing", "analysis", "io", "report"))
    assert out["analysis_and_io_fraction"] == pytest.approx((split["analysis"] + split["io"]) / out["wall_seconds"])
    ms, samples = out["ms_per_step"], out["ms_per_step_samples"]
    assert set(ms["harness"]) == set(ms["bare_loop"]) == set(ms["in_run"]) == set(samples) == {"bn", "brn"}
    for name, ratio in out["harness_over_bare"].items():
        harness, bare = np.array(samples[name]["harness"]), np.array(samples[name]["bare_loop"])
        assert len(harness) == len(bare) == bench_run.REPEATS and (harness > 0).all() and (bare > 0).all()
        assert (ms["harness"][name], ms["bare_loop"][name]) == pytest.approx((np.median(harness), np.median(bare)))
        assert ratio == pytest.approx(np.median(harness / bare))  # paired, not a ratio of medians
        low, high = out["harness_over_bare_quartiles"][name]
        assert low <= ratio <= high
        # the harness against the plain tf.function loop: the same pairs, each pair's bare / harness
        assert out["harness_ms_per_step"][name] == ms["harness"][name]
        assert out["bare_tf_function_ms_per_step"][name] == ms["bare_loop"][name]
        speedup = out["speedup_over_bare_tf_function"][name]
        assert speedup == pytest.approx(np.median(bare / harness))
        low, high = out["speedup_over_bare_tf_function_quartiles"][name]
        assert low <= speedup <= high
        assert out["jit_compile"][name] == xla.resolve("auto", "mlp")  # the tiny scenario's mlp, nothing refused


def test_bench_executors_times_whole_runs_and_finds_identical_results(tiny_scenario, write_scenario, capsys):
    assert _main(bench_executors, ["--json", "--steps", "10", "--workers", "2", write_scenario(tiny_scenario)]) == 0
    out = json.loads(capsys.readouterr().out)
    assert (out["trials"], out["steps"], out["workers"]) == (8, 10, 2)
    assert out["same_results"] == {"process": True}
    local, process = out["seconds"]["local"], out["seconds"]["process"]
    assert 0 < local["trials"] < local["wall"] and 0 < process["trials"] < process["wall"]
    assert out["speedup_over_local"]["process"] == pytest.approx(local["wall"] / process["wall"])
    assert out["trial_phase_speedup"]["process"] == pytest.approx(local["trials"] / process["trials"])
    assert out["local_cores_busy"] == pytest.approx(local["cpu"] / local["wall"]) and local["cpu"] > 0


def test_scaling_fit_recovers_known_costs_and_predicts_each_run():
    # walls made from fixed 2 s + trials x (0.05 s + steps x 0.1 ms): the least-squares fit gives them back
    runs = [{"trials": t, "steps": s, "wall_seconds": 2 + t * (0.05 + s * 1e-4)}
            for t, s in ((18, 1500), (60, 1500), (180, 1500), (18, 750), (18, 3000))]
    fit = bench_run.fit_scaling(runs, 1500)
    assert fit["fixed_seconds"] == pytest.approx(2.0)
    assert fit["per_trial_step_ms"] == pytest.approx(0.1)
    assert fit["per_trial_overhead_seconds"] == pytest.approx(0.05)
    assert fit["per_trial_seconds"] == pytest.approx(0.05 + 1500 * 1e-4)
    assert fit["predicted_seconds"] == pytest.approx([r["wall_seconds"] for r in runs])
    assert fit["max_relative_residual"] == pytest.approx(0, abs=1e-9) and fit["consistent"]
    # a longer run that took less time: a negative cost, flagged
    assert not bench_run.fit_scaling([{"trials": 4, "steps": 20, "wall_seconds": 9.0},
                                      {"trials": 8, "steps": 20, "wall_seconds": 7.0}], 20)["consistent"]
    # one trial length: wall = fixed + trials x per_trial, through two points exactly
    two = bench_run.fit_scaling([{"trials": 4, "steps": 20, "wall_seconds": 5.0},
                                 {"trials": 8, "steps": 20, "wall_seconds": 7.0}], 20)
    assert (two["fixed_seconds"], two["per_trial_seconds"], two["per_trial_step_ms"]) == pytest.approx((3.0, 0.5, None))


def test_scaling_times_whole_runs_of_each_seed_count(tiny_scenario, write_scenario):
    tiny_scenario["seeds"] = [0]
    out = bench_run.scaling(write_scenario(tiny_scenario), (1, 2), (), executor="local")
    runs = out["runs"]
    assert [(r["seeds"], r["steps"], r["trials"]) for r in runs] == [(1, 20, 4), (2, 20, 8)]
    assert all(r["wall_seconds"] > 0 and r["executor"] == "LocalExecutor" for r in runs)
    assert out["fit"]["predicted_seconds"] == pytest.approx([r["wall_seconds"] for r in runs])


@pytest.mark.parametrize("argv", [["--workers-per-gpu", "0"], ["--seconds", "0"]])
def test_bench_device_refuses_bad_options_in_one_line(argv):
    import subprocess
    import sys

    from tests.conftest import harness_env

    done = subprocess.run([sys.executable, "-m", "harness", "bench", "device", *argv], capture_output=True,
                          text=True, env=harness_env())
    assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1 and not done.stdout


def test_bench_device_quick_form_reports_each_worker_count(capsys):
    argv = ["--json", "--quick", "--models", "mlp", "--xla", "off", "--workers-per-gpu", "1", "2",
            "--seconds", "0.1", "--steps-per-call", "2"]
    assert _main(bench_device, argv) == 0
    out = json.loads(capsys.readouterr().out)
    device = out["device"]
    assert device["type"] in ("CPU", "GPU") and device["gpu_seen"] == (device["type"] == "GPU")
    assert ("no GPU was seen" in out["memory"]) == (not device["gpu_seen"])
    assert [(r["model"], r["xla"], r["workers"]) for r in out["results"]] == [("mlp", False, 1), ("mlp", False, 2)]
    for row in out["results"]:
        assert row["steps_per_s"] > 0 and row["peak_device_mb"] > 0
        assert len(row["steps_per_s_per_worker"]) == row["workers"]
        assert row["steps_per_s"] == pytest.approx(sum(row["steps_per_s_per_worker"]))
