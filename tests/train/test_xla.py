"""`training.jit_compile`: validation, bit-identical reruns under XLA, and the fallback when XLA refuses a layer."""

import json
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from harness.run import runner
from harness.runtime.compile import Function
from harness.scenario import ScenarioError, validate
from harness.train import xla
from tests.conftest import harness_env


def test_jit_compile_takes_auto_true_or_false(tiny_scenario):
    assert validate(tiny_scenario, check_feasibility=False).training["jit_compile"] == "auto"
    for value in ("auto", True, False):
        tiny_scenario["training"]["jit_compile"] = value
        assert validate(tiny_scenario, check_feasibility=False).training["jit_compile"] == value
    for bad in ("yes", "True", 1, None, [True]):
        tiny_scenario["training"]["jit_compile"] = bad
        with pytest.raises(ScenarioError, match=r"^training\.jit_compile: .* must be auto, true or false$"):
            validate(tiny_scenario, check_feasibility=False)


def test_a_bad_jit_compile_is_one_line_and_exit_2(tiny_scenario, write_scenario):
    tiny_scenario["training"]["jit_compile"] = "sometimes"
    done = subprocess.run([sys.executable, "-m", "harness", "validate", write_scenario(tiny_scenario)],
                          env=harness_env(), capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "error: scenario.yaml: training.jit_compile: 'sometimes' must be auto, true or false"]


def test_true_and_false_override_auto_and_an_unmeasured_family_stays_off():
    assert xla.resolve(True, "mlp", "CPU") == {"training": True, "analysis": True}
    assert xla.resolve(False, "mlp", "GPU") == {"training": False, "analysis": False}
    assert xla.resolve("auto", "a_new_family", "CPU") == {"training": False, "analysis": False}
    for (device, family), modes in xla.AUTO.items():
        assert xla.resolve("auto", family, device) == modes
    with pytest.raises(ValueError, match="Received: jit_compile=1"):
        xla.resolve(1, "mlp", "CPU")


def _tables(out):
    tables = {}
    for name in ("summary", "curves", "layers"):
        frame = pd.read_csv(os.path.join(out, f"{name}.csv"))
        tables[name] = frame[~frame["metric"].isin(["seconds", "ms_per_step"])].reset_index(drop=True)
    return tables


@pytest.mark.parametrize("jit_compile", [True, False])
def test_xla_reruns_in_a_fresh_process_are_bit_identical_and_recorded(tiny_scenario, write_scenario, tmp_path,
                                                                     jit_compile):
    tiny_scenario["training"]["jit_compile"] = jit_compile
    tiny_scenario["seeds"] = [0]
    results = runner.run(validate(tiny_scenario), str(tmp_path / "here"), quiet=True)
    assert {json.dumps(r["environment"]["jit_compile"]) for r in results} == {
        json.dumps({"training": jit_compile, "analysis": jit_compile})}
    if not jit_compile:
        return  # the plain mode's reruns are tested in test_runner; here only what it records
    command = [sys.executable, "-m", "harness", "run", write_scenario(tiny_scenario), "--out",
               str(tmp_path / "there"), "--quiet", "--no-report"]
    done = subprocess.run(command, env=harness_env(), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    here, there = _tables(tmp_path / "here"), _tables(tmp_path / "there")
    for name in here:
        pd.testing.assert_frame_equal(here[name], there[name], check_exact=True)


def _straight_through_model(seed):
    """Dense -> a layer computing its output with tf.numpy_function (no XLA kernel) -> Dense."""
    import keras
    import tensorflow as tf

    class NumpyIdentity(keras.layers.Layer):
        def call(self, x):
            y = tf.numpy_function(lambda a: np.asarray(a, np.float32), [x], tf.float32)
            return x + tf.stop_gradient(tf.reshape(y, tf.shape(x)) - x)  # the NumPy value, the identity's gradient

    inputs = keras.Input((4,))
    h = keras.layers.Dense(8, kernel_initializer=keras.initializers.GlorotUniform(seed))(inputs)
    h = NumpyIdentity()(keras.layers.ReLU()(h))
    return keras.Model(inputs, keras.layers.Dense(3, kernel_initializer=keras.initializers.GlorotUniform(seed + 1))(h))


def test_a_layer_xla_cannot_compile_falls_back_to_tf_function_with_one_warning(capfd):
    import keras

    from harness.train.trial import make_train_chunk

    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(40, 4)).astype(np.float32), rng.integers(0, 3, size=40)
    chunks, models = {}, {}
    for jit in (True, False):
        models[jit] = _straight_through_model(3)
        chunks[jit] = make_train_chunk(models[jit], keras.optimizers.Adam(0.01), x, y, 8, jit_compile=jit)
    capfd.readouterr()
    outputs = {jit: [chunk(rng_batches) for rng_batches in (np.arange(40).reshape(5, 8), np.arange(24).reshape(3, 8))]
               for jit, chunk in chunks.items()}
    warnings = [line for line in capfd.readouterr().err.splitlines() if line.strip()]
    assert len(warnings) == 1 and warnings[0].startswith("warning: XLA cannot compile the training step")
    assert "PyFunc" in warnings[0] and "plain tf.function" in warnings[0]
    assert chunks[True].jit is False and chunks[False].jit is False
    # the refused call changed nothing: the fallback trains exactly as a plain tf.function does
    for (losses_a, correct_a), (losses_b, correct_b) in zip(outputs[True], outputs[False], strict=False):
        np.testing.assert_array_equal(losses_a, losses_b)
        assert int(correct_a) == int(correct_b)
    for a, b in zip(models[True].get_weights(), models[False].get_weights(), strict=False):
        np.testing.assert_array_equal(a, b)


def test_an_error_that_is_not_xla_refusing_is_raised_and_xla_stays_on():
    import tensorflow as tf

    def fails(x):
        if x.shape[0] == 2:
            raise ValueError("a bug in the traced function")
        return x + 1.0

    function = Function(fails, True, "a test function")
    with pytest.raises(ValueError, match="a bug in the traced function"):
        function(tf.constant([1.0, 2.0]))
    assert function.jit
    np.testing.assert_array_equal(function(tf.constant([1.0])), [2.0])
    assert function.jit
