"""Spreading process workers over GPUs, checked without a GPU: the assignment is a pure function, and a worker's
CUDA_VISIBLE_DEVICES is set before it imports TensorFlow."""

import os
import subprocess
import sys

import pytest

from harness.run.executors import gpu_assignment, visible_gpus
from tests.conftest import harness_env


def test_round_robin_over_gpus():
    assert gpu_assignment(2, ["0", "1"]) == ["0", "1"]
    assert gpu_assignment(4, ["0", "1"], workers_per_gpu=2) == ["0", "1", "0", "1"]
    assert gpu_assignment(3, ["2", "5", "7"], workers_per_gpu=4) == ["2", "5", "7"]
    assert gpu_assignment(1, ["3", "4"]) == ["3"]
    counts = {}
    for device in gpu_assignment(7, ["a", "b", "c"], workers_per_gpu=3):
        counts[device] = counts.get(device, 0) + 1
    assert sorted(counts.values()) == [2, 2, 3]  # no GPU gets more than ceil(7 / 3)


def test_no_gpu_means_cpu_workers():
    assert gpu_assignment(3, []) == [None, None, None]


def test_too_many_workers_are_refused():
    with pytest.raises(ValueError, match="3 workers do not fit 1 GPUs at 2 per GPU"):
        gpu_assignment(3, ["0"], workers_per_gpu=2)
    with pytest.raises(ValueError, match="Received: workers=0"):
        gpu_assignment(0, ["0"])


def test_visible_gpus_reads_cuda_visible_devices(monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "1,3")
    assert visible_gpus() == ["1", "3"]
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "-1")
    assert visible_gpus() == []


def test_worker_sees_its_device_before_tensorflow():
    """The worker initializer sets CUDA_VISIBLE_DEVICES (a process started as the executor starts one)."""
    code = ("import os; from harness.run.executors import _init_worker; _init_worker(1, '3');"
            "import sys; print(os.environ['CUDA_VISIBLE_DEVICES'], 'tensorflow' in sys.modules)")
    env = {k: v for k, v in harness_env().items() if k != "CUDA_VISIBLE_DEVICES"}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[0] == "3"


def test_process_executor_starts_each_worker_on_its_gpu():
    """Two GPUs named (none exist here; TensorFlow then runs on the CPU): each worker process sees one."""
    from harness.run.executors import ProcessExecutor

    executor = ProcessExecutor(gpus=["0", "1"], workers_per_gpu=1)
    try:
        assert executor.workers == 2
        seen = [pool.submit(os.getenv, "CUDA_VISIBLE_DEVICES").result() for pool in executor._pools]
        assert seen == ["0", "1"]
    finally:
        executor.shutdown()
