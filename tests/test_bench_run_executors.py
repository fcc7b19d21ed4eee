"""`bench run` and `bench executors` run end to end and report what they promise (no timing assertions):
the README's performance figures come from these two commands."""

import argparse
import json

import numpy as np
import pytest

from harness.bench import executors as bench_executors, run as bench_run
from harness import xla
from harness.run.runner import plan
from harness.scenario import validate


def _main(module, argv):
    parser = argparse.ArgumentParser()
    module.add_arguments(parser)
    return module.main(parser.parse_args(argv))


def test_bench_run_splits_the_wall_time_without_remainder(tiny_scenario, write_scenario, capsys):
    tiny_scenario["seeds"] = [0]
    assert _main(bench_run, ["--json", write_scenario(tiny_scenario)]) == 0
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
