"""Shared test helpers: a tiny scenario that trains in seconds, quiet TensorFlow, harness runs in a subprocess."""

import os
import subprocess
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import pytest  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

TINY_SCENARIO = {
    "name": "tiny",
    "description": "A tiny scenario for tests.",
    "data": {"name": "synthetic", "num_classes": 4, "image_size": 4, "examples_per_class": 40, "noise": 0.5},
    "model": {"name": "mlp", "widths": [8]},
    "normalizers": {"bn": {"kind": "batchnorm"}, "brn": {"kind": "batchrenorm", "warmup_steps": 5}},
    "samplers": {"iid": {"kind": "iid"}, "one_class": {"kind": "class_correlated", "classes_per_batch": 1}},
    "training": {"batch_size": 8, "steps": 20, "steps_per_call": 10, "learning_rate": 0.01},
    "seeds": [0, 1],
    "analysis": {"eval_every": 10, "probe_batches": 2, "precise_examples": 32, "composition_batches": 4},
}


@pytest.fixture
def tiny_scenario():
    import copy

    return copy.deepcopy(TINY_SCENARIO)


@pytest.fixture
def write_scenario(tmp_path):
    """Write a scenario dict as YAML and return its path."""
    import yaml

    def write(raw, name="scenario.yaml"):
        path = tmp_path / name
        path.write_text(yaml.safe_dump(raw, sort_keys=False))
        return str(path)

    return write


def harness_env():
    """The environment for `python -m harness` in a subprocess, importing this checkout."""
    return {**os.environ, "PYTHONPATH": ROOT}


def finished_trials(out):
    """Names of the trial files a run has finished in `out` (half-written temporaries excluded)."""
    folder = os.path.join(out, "trials")
    if not os.path.isdir(folder):
        return []
    return sorted(f for f in os.listdir(folder) if f.endswith(".json") and not f.startswith(".tmp-"))


def start_run_until(command, out, n_finished, timeout=240, **popen_kwargs):
    """Start `command` (a harness run into `out`) and return the process once n_finished trials are on disk.
    Trials of tests.support.broken_sampler:StallingSampler stall in this process, so it is still running then."""
    from tests.support.broken_sampler import STALL_VARIABLE

    process = subprocess.Popen(command, env={**harness_env(), STALL_VARIABLE: "1"}, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, **popen_kwargs)
    deadline = time.time() + timeout
    while len(finished_trials(out)) < n_finished:
        assert process.poll() is None, process.stderr.read()
        assert time.time() < deadline, f"no {n_finished} finished trials after {timeout} s"
        time.sleep(0.05)
    return process


@pytest.fixture(scope="session")
def api_run(tmp_path_factory):
    """The tiny scenario run once through the Python API (`harness.run_scenario`), shared by the tests that
    read a real run: (Run, the summary text it printed)."""
    import contextlib
    import copy
    import io

    import harness

    out = tmp_path_factory.mktemp("api") / "run"
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        run = harness.run_scenario(copy.deepcopy(TINY_SCENARIO), out=out, progress=True)
    return run, printed.getvalue()
