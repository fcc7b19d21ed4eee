"""The verifier: our layer and Keras renorm pass; plain BN and each broken layer fail with the right row."""

import json
import os
import subprocess
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import argparse

import keras
import pytest

from harness.commands import verify
from harness.errors import UsageError
from harness.norms import BatchRenormalization
from tests.support import broken_layers

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ALL = set(verify.CHECKS)


def failing(factory, steps=600):
    rows = verify.verify(factory, steps=steps)
    assert [r["check"] for r in rows] == list(verify.CHECKS)
    assert all(r["reason"] and "\n" not in r["reason"] for r in rows)
    return {r["check"] for r in rows if not r["passed"]}


def test_our_layer_with_a_schedule_passes_every_check():
    assert failing(lambda: BatchRenormalization(warmup_steps=100, r_max_ramp_end=400, d_max_ramp_end=300)) == set()


def test_keras_renorm_passes_every_check():
    assert failing(lambda: keras.layers.BatchNormalization(renorm=True)) == set()


def test_independent_simple_brn_passes_every_check():
    """The base of the broken layers is correct, so their failures come from their one mistake."""
    assert failing(broken_layers.scheduled_simple_brn) == set()


@pytest.mark.parametrize(
    "name,expected",
    [
        ("TrainableRD", {"gradient_treats_r_d_as_constants", "train_matches_inference"}),
        ("GradientThroughRD", {"gradient_treats_r_d_as_constants"}),
        ("TraceTimeSchedule", {"schedule_advances_compiled", "train_matches_inference"}),
        ("DoubleEpsilon", {"train_matches_inference"}),
        ("RateAsMomentum", {"moving_stats_converge"}),
        ("BatchStatsAtInference", {"inference_batch_independent", "train_matches_inference", "moving_stats_converge"}),
        ("UnsavedStep", {"save_load_round_trip"}),
    ],
)
def test_broken_layer_fails_the_right_rows(name, expected):
    assert failing(getattr(broken_layers, name)) == expected


def _args(*argv):
    parser = argparse.ArgumentParser()
    verify.add_arguments(parser)
    return parser.parse_args(list(argv))


def test_plain_keras_bn_fails_train_matches_inference_with_exit_1(capsys):
    code = verify.main(_args("keras.layers:BatchNormalization", "--json", "--steps", "600"))
    report = json.loads(capsys.readouterr().out)
    assert code == 1 and report["passed"] is False
    assert {r["check"] for r in report["rows"] if not r["passed"]} == {"train_matches_inference"}


def test_check_option_runs_only_the_named_rows(capsys):
    code = verify.main(
        _args("tests.support.broken_layers:GradientThroughRD", "--check", "gradient_treats_r_d_as_constants",
              "--steps", "600")
    )
    lines = capsys.readouterr().out.strip().splitlines()
    assert code == 1 and len(lines) == 1 and lines[0].startswith("FAIL  gradient_treats_r_d_as_constants")


@pytest.mark.parametrize(
    "target,message",
    [
        ("no_colon", "MODULE:ATTR"),
        ("no_such_module_xyz:Layer", "cannot import module"),
        ("harness.norms:NoSuchLayer", "has no attribute"),
        ("tests.support.broken_layers:NOT_A_LAYER", "neither a layer class"),
        ("tests.support.broken_layers:returns_not_a_layer", "not a keras.layers.Layer"),
        ("argparse:ArgumentParser", "not a keras.layers.Layer"),
    ],
)
def test_usage_errors(target, message):
    # load_factory is what the checking child process runs; calling it here spares a child (a TensorFlow
    # import) per case. That its UsageError reaches the CLI as one line is tested in test_hardening_verify.
    with pytest.raises(UsageError, match=message):
        verify.load_factory(target)


def test_cli_exit_codes_and_one_line_errors():
    env = {**os.environ, "PYTHONPATH": ROOT}
    bad = subprocess.run(
        [sys.executable, "-m", "harness", "verify", "no_such_module_xyz:Layer"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert bad.returncode == 2
    assert bad.stderr.strip().startswith("error: cannot import module") and len(bad.stderr.strip().splitlines()) == 1


def test_cli_runs_the_verifier_with_exit_0(capsys):
    from harness.commands.cli import main

    assert main(["verify", "harness.norms:BatchRenormalization"]) == 0
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith(("PASS", "FAIL"))]
    assert len(rows) == len(verify.CHECKS) and all(line.startswith("PASS") for line in rows)
