"""Shared fixtures: a tiny scenario that trains in seconds, and quiet TensorFlow."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import pytest  # noqa: E402

TINY_SCENARIO = {
    "name": "tiny",
    "description": "A tiny scenario for tests.",
    "data": {"name": "synthetic", "num_classes": 4, "image_size": 4, "examples_per_class": 40, "noise": 0.5},
    "model": {"name": "mlp", "widths": [8]},
    "normalizers": {"bn": {"kind": "batchnorm"}, "brn": {"kind": "batchrenorm", "warmup_steps": 5}},
    "samplers": {"iid": {"kind": "iid"}, "one_class": {"kind": "class_correlated", "classes_per_batch": 1}},
    "training": {"batch_size": 8, "steps": 20, "steps_per_call": 10, "learning_rate": 0.01},
    "seeds": [0, 1],
    "analysis": {"eval_every": 10, "probe_batches": 2, "precise_batches": 4, "composition_batches": 4},
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
