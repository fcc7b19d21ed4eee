"""Executors: local, process and Ray give the same numbers; Ctrl-C keeps finished trials; memory stays flat."""

import os
import signal
import sys

import pandas as pd
import pytest

from harness.run import runner
from harness.run.executors import LocalExecutor, ProcessExecutor, RayExecutor
from harness.scenario import validate
from harness.train import trial
from tests.conftest import finished_trials, start_run_until


def _grid(tiny_scenario):
    tiny_scenario["sweep"] = {"training.batch_size": [4, 8]}
    tiny_scenario["samplers"] = {"one_class": tiny_scenario["samplers"]["one_class"]}
    tiny_scenario["seeds"] = [0]
    tiny_scenario["training"]["steps"] = 10
    return validate(tiny_scenario)


def _metrics(out_dir):
    frame = pd.read_csv(os.path.join(out_dir, "summary.csv"))
    frame = frame[~frame["metric"].isin(["seconds", "ms_per_step"])]
    return frame.sort_values(list(frame.columns[:-1])).reset_index(drop=True)


def test_all_executors_give_identical_results(tiny_scenario, tmp_path):
    import ray
    scenario = _grid(tiny_scenario)
    runs = {"local": LocalExecutor(), "process": ProcessExecutor(workers=2), "ray": RayExecutor(address=None)}
    try:
        for name, executor in runs.items():
            runner.run(scenario, str(tmp_path / name), executor=executor, quiet=True)
    finally:
        ray.shutdown()
    local = _metrics(tmp_path / "local")
    assert len(local) > 0
    for name in ("process", "ray"):
        pd.testing.assert_frame_equal(_metrics(tmp_path / name), local, check_exact=True)


@pytest.mark.parametrize("executor", ["local", "process"])
def test_ctrl_c_keeps_finished_trials_and_the_next_run_resumes(executor, tiny_scenario, write_scenario, tmp_path):
    # seed 1's trials stall in the interrupted process: Ctrl-C lands mid-run
    tiny_scenario["samplers"]["iid"] = {"kind": "tests.support.broken_sampler:StallingSampler"}
    path = write_scenario(tiny_scenario)
    out = tmp_path / "run"
    command = [sys.executable, "-m", "harness", "run", path, "--out", str(out), "--no-report", "--executor", executor]
    # started with SIGINT ignored, as a shell's background job is: Ctrl-C must still stop the run
    process = start_run_until(command, out, 1, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, stderr
    assert "interrupted: finished trials are kept" in stderr and "Traceback" not in stderr
    kept = finished_trials(out)
    assert 1 <= len(kept) < 8
    seen = []
    runner.run(validate(tiny_scenario), str(out), quiet=True, on_result=seen.append)
    assert len(seen) == 8 - len(kept)


def test_memory_stays_flat_over_fifty_trials(tiny_scenario, tmp_path):
    """50 tiny trials of 5 shapes in one process, after one trial of each shape has traced it: resident memory
    grows < 100 MB (a trial leaks nothing; each new shape costs its traced and compiled functions, about
    10-20 MB here, which TensorFlow keeps for the process: README, "Executors")."""
    import resource

    tiny_scenario.update(seeds=list(range(10)), samplers={"iid": {"kind": "iid"}},
                         normalizers={"brn": {"kind": "batchrenorm"}})
    tiny_scenario["training"].update(steps=4, steps_per_call=4)
    tiny_scenario["analysis"].update(eval_every=4, probe_batches=1, precise_examples=8)
    tiny_scenario["sweep"] = {"model.widths": [[w] for w in range(4, 9)]}
    scenario = validate(tiny_scenario)

    def rss_mb():
        with open("/proc/self/statm") as handle:
            return int(handle.read().split()[1]) * resource.getpagesize() / 2**20

    configs = runner.plan(scenario)
    assert len(configs) == 50
    from harness.run.executors import LocalExecutor

    first = {trial.shape_key(c): c for c in reversed(configs)}  # the first trial of each shape
    assert len(first) == 5
    for result in LocalExecutor().run(list(first.values())):  # warm-up: every shape traced once
        assert result["status"] == "ok"
    start = rss_mb()
    rest = [c for c in configs if c not in first.values()]
    for result in LocalExecutor().run(rest):
        assert result["status"] == "ok"
    assert rss_mb() - start < 100


def test_a_dead_process_worker_fails_its_trial_is_replaced_and_the_run_goes_on(tiny_scenario, tmp_path):
    tiny_scenario["samplers"] = {"iid": {"kind": "iid"},
                                 "killer": {"kind": "tests.support.broken_sampler:WorkerKillingSampler"}}
    tiny_scenario["normalizers"] = {"bn": tiny_scenario["normalizers"]["bn"]}
    tiny_scenario["seeds"] = [0, 1]
    tiny_scenario["training"]["steps"] = 10
    # one worker: the trial after the killed one can only run on its replacement
    results = runner.run(validate(tiny_scenario), str(tmp_path), executor=ProcessExecutor(workers=1), quiet=True)
    status = {(r["config"]["sampler"], r["config"]["seed"]): r["status"] for r in results}
    assert status == {("iid", 0): "ok", ("iid", 1): "ok", ("killer", 0): "failed", ("killer", 1): "ok"}
    (dead,) = [r for r in results if r["status"] == "failed"]
    assert "BrokenProcessPool" in dead["error"]


def test_auto_takes_process_workers_only_where_they_pay():
    from harness.run.executors import AUTO_MIN_TRIALS, auto_executor

    assert auto_executor(AUTO_MIN_TRIALS, cores=2, gpus=[]) == "process"
    assert auto_executor(AUTO_MIN_TRIALS - 1, cores=2, gpus=[]) == "local"  # too few trials to pay for workers
    assert auto_executor(100, cores=1, gpus=[]) == "local"
    assert auto_executor(100, cores=8, gpus=["0"]) == "local"  # one process owns the GPU


def test_an_idle_worker_joins_another_shape_only_when_that_finishes_the_run_sooner():
    import collections

    from harness.run.executors import ShapeCosts, _next_shape

    costs = ShapeCosts()
    # shape "b": a worker's first trial took 2.6 s, the next ones 0.5-0.7 s: joining costs 2.6 - 0.6 = 2.0 s
    for seconds, first in ((2.6, True), (0.6, False), (0.5, False), (0.7, False)):
        costs.record("b", {"status": "ok", "seconds": seconds}, first)
    assert costs.estimate("b") == (2.0, 0.6)
    shapes = ["a", "b"]  # worker 0 has finished shape "a"; worker 1 runs "b"
    few = collections.OrderedDict(b=collections.deque(range(6)))  # 6 left: 6 x 0.6 / 2 = 1.8 s saved < 2.0 s
    many = collections.OrderedDict(b=collections.deque(range(7)))  # 7 left: 2.1 s saved > 2.0 s
    assert _next_shape(few, shapes, 0, costs.helping_pays(few, shapes, joined={"a"})) is None
    assert _next_shape(many, shapes, 0, costs.helping_pays(many, shapes, joined={"a"})) == "b"
    assert _next_shape(few, shapes, 0, costs.helping_pays(few, shapes, joined={"a", "b"})) == "b"  # traced: free
    assert _next_shape(few, shapes, 1, costs.helping_pays(few, shapes, joined={"b"})) == "b"  # its own shape
    unmeasured = ShapeCosts()
    assert _next_shape(few, shapes, 0, unmeasured.helping_pays(few, shapes, joined={"a"})) == "b"
    assert _next_shape(collections.OrderedDict(), shapes, 0) is None
