"""Executors: local, process and Ray give the same numbers; Ctrl-C keeps finished trials; memory stays flat."""

import os
import signal
import sys

import pandas as pd
import pytest

from harness.run import runner
from harness.run.executors import LocalExecutor, ProcessExecutor, RayExecutor
from harness.scenario import validate
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
            runner.run(scenario, str(tmp_path / name), executor=executor, quiet=True, report=False)
    finally:
        ray.shutdown()
    local = _metrics(tmp_path / "local")
    assert len(local) > 0
    for name in ("process", "ray"):
        pd.testing.assert_frame_equal(_metrics(tmp_path / name), local, check_exact=True)


@pytest.mark.parametrize("executor", ["local", "process"])
def test_ctrl_c_keeps_finished_trials_and_the_next_run_resumes(executor, tiny_scenario, write_scenario, tmp_path):
    # seed 1's trials stall in the interrupted process: Ctrl-C lands mid-run
    tiny_scenario["samplers"]["iid"] = {"kind": "tests.broken_sampler:StallingSampler"}
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
    runner.run(validate(tiny_scenario), str(out), quiet=True, report=False, on_result=seen.append)
    assert len(seen) == 8 - len(kept)


def test_memory_stays_flat_over_fifty_trials(tiny_scenario, tmp_path):
    """50 tiny trials of 10 shapes in one process (each shape traced anew): resident memory grows < 200 MB."""
    import resource

    tiny_scenario.update(seeds=[0, 1, 2, 3, 4], samplers={"iid": {"kind": "iid"}}, normalizers={"brn": {"kind": "batchrenorm"}})
    tiny_scenario["training"].update(steps=4, steps_per_call=4)
    tiny_scenario["analysis"].update(eval_every=4, probe_batches=1, precise_examples=8)
    tiny_scenario["sweep"] = {"model.widths": [[w] for w in range(4, 14)]}
    scenario = validate(tiny_scenario)

    def rss_mb():
        with open("/proc/self/statm") as handle:
            return int(handle.read().split()[1]) * resource.getpagesize() / 2**20

    configs = runner.plan(scenario)
    assert len(configs) == 50
    from harness.run.executors import LocalExecutor

    results = LocalExecutor().run(configs)
    for _ in range(5):  # warm-up: TensorFlow's caches and allocators settle
        assert next(results)["status"] == "ok"
    start = rss_mb()
    for result in results:
        assert result["status"] == "ok"
    assert rss_mb() - start < 200


def test_a_dead_process_worker_fails_its_trial_is_replaced_and_the_run_goes_on(tiny_scenario, tmp_path):
    tiny_scenario["samplers"] = {"iid": {"kind": "iid"}, "killer": {"kind": "tests.broken_sampler:WorkerKillingSampler"}}
    tiny_scenario["normalizers"] = {"bn": tiny_scenario["normalizers"]["bn"]}
    tiny_scenario["seeds"] = [0, 1]
    tiny_scenario["training"]["steps"] = 10
    # one worker: the trial after the killed one can only run on its replacement
    results = runner.run(validate(tiny_scenario), str(tmp_path), executor=ProcessExecutor(workers=1), quiet=True,
                         report=False)
    status = {(r["config"]["sampler"], r["config"]["seed"]): r["status"] for r in results}
    assert status == {("iid", 0): "ok", ("iid", 1): "ok", ("killer", 0): "failed", ("killer", 1): "ok"}
    (dead,) = [r for r in results if r["status"] == "failed"]
    assert "BrokenProcessPool" in dead["error"]
