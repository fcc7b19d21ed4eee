"""Normalizer specs, the factory and the statistics helpers the analyzer uses."""

import os
import subprocess
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np
import pytest

from harness.norms import kinds, spec


def test_spec_import_does_not_load_tensorflow():
    code = ("import sys, harness.norms, harness.norms.kinds; harness.norms.NORMALIZER_KINDS; "
            "print('tensorflow' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_validate_fills_defaults():
    cfg = kinds.validate_normalizer_config({"kind": "batchrenorm", "r_max": 2.0})
    assert cfg == {**kinds.NORMALIZER_KINDS["batchrenorm"], "kind": "batchrenorm", "r_max": 2.0}
    assert kinds.validate_normalizer_config({"kind": "none"}) == {"kind": "none"}


@pytest.mark.parametrize(
    "cfg,param",
    [
        ({"kind": "nope"}, "kind"),
        ({"kind": "batchnorm", "r_max": 2.0}, "r_max"),
        ({"kind": "batchrenorm", "r_max": 0.9}, "r_max"),
        ({"kind": "batchrenorm", "d_max": -0.1}, "d_max"),
        ({"kind": "batchrenorm", "momentum": 1}, "momentum"),
        ({"kind": "batchrenorm", "epsilon": -1e-3}, "epsilon"),
        ({"kind": "batchnorm", "microbatch_size": 0}, "microbatch_size"),
        ({"kind": "batchrenorm", "warmup_steps": 2.5}, "warmup_steps"),
        ({"kind": "batchrenorm", "warmup_steps": 100, "d_max_ramp_end": 50}, "d_max_ramp_end"),
        ({"kind": "keras_renorm", "renorm_momentum": 1.5}, "renorm_momentum"),
        ({"kind": "groupnorm", "groups": 0}, "groups"),
        ({"kind": "batchrenorm", "r_max": True}, "r_max"),
    ],
)
def test_validate_rejects_with_param_and_value(cfg, param):
    with pytest.raises(spec.NormalizerConfigError) as info:
        kinds.validate_normalizer_config(cfg)
    assert isinstance(info.value, ValueError)
    assert info.value.param == param
    assert info.value.value == cfg.get(param)
    assert f"Received: {param}=" in str(info.value)


# ---------------------------------------------------------------- factory and helpers (TensorFlow from here)


@pytest.fixture(scope="module")
def keras():
    import keras

    return keras


def _x(seed=0, shape=(16, 4, 4, 8)):
    rng = np.random.default_rng(seed)
    return (rng.normal(size=shape) * rng.uniform(0.5, 2, shape[-1]) + rng.normal(0, 1, shape[-1])).astype(np.float32)


def test_factory_builds_every_kind(keras):
    from harness.norms import BatchRenormalization, MicrobatchBatchNormalization, build_normalizer, is_batch_dependent

    expected = {
        "batchnorm": keras.layers.BatchNormalization,
        "batchrenorm": BatchRenormalization,
        "keras_renorm": keras.layers.BatchNormalization,
        "groupnorm": keras.layers.GroupNormalization,
        "layernorm": keras.layers.LayerNormalization,
        "none": keras.layers.Identity,
    }
    x = _x()
    for kind, cls in expected.items():
        layer = build_normalizer({"kind": kind}, name=f"n_{kind}")
        assert type(layer) is cls and layer.name == f"n_{kind}"
        assert layer(x, training=True).shape == x.shape
        assert is_batch_dependent(layer) == (kind in ("batchnorm", "batchrenorm", "keras_renorm"))
    assert build_normalizer({"kind": "keras_renorm"}, "k").renorm_clipping == {
        "rmax": 3.0,
        "rmin": 1 / 3.0,
        "dmax": 5.0,
    }
    assert build_normalizer({"kind": "keras_renorm", "r_max": None, "d_max": None}, "k").renorm_clipping == {}
    micro = build_normalizer({"kind": "batchnorm", "microbatch_size": 4}, "m")
    assert isinstance(micro, MicrobatchBatchNormalization) and micro.microbatch_size == 4
    brn = build_normalizer({"kind": "batchrenorm", "warmup_steps": 10, "r_max_ramp_end": 20, "momentum": 0.9}, "b")
    assert (brn.warmup_steps, brn.r_max_ramp_end, brn.momentum) == (10, 20, 0.9)
    with pytest.raises(spec.NormalizerConfigError):
        build_normalizer({"kind": "batchrenorm", "r_max": 0.5}, "bad")


@pytest.mark.parametrize(
    "cfg",
    [
        {"kind": "batchnorm"},
        {"kind": "batchrenorm"},
        {"kind": "keras_renorm"},
        {"kind": "batchnorm", "microbatch_size": 4},
    ],
)
def test_population_statistics_round_trip_drives_inference(keras, cfg):
    """After set_population_statistics(mean, var), inference is (x - mean) / sqrt(var + eps) and the getter agrees."""
    from harness.norms import build_normalizer, population_statistics, set_population_statistics

    layer = build_normalizer(cfg, "n")
    x = _x(1)
    for seed in range(3):  # a few training steps so nothing is at its initial value
        layer(_x(seed + 2), training=True)
    mean = np.linspace(-1, 1, 8)
    var = np.linspace(0.5, 3, 8)
    set_population_statistics(layer, mean, var)
    got_mean, got_std = population_statistics(layer)
    np.testing.assert_allclose(got_mean, mean, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(got_std, np.sqrt(var + 1e-3), rtol=1e-5)
    np.testing.assert_allclose(layer(x, training=False), (x - mean) / np.sqrt(var + 1e-3), rtol=1e-4, atol=1e-4)


def test_population_statistics_is_what_inference_uses_after_training(keras):
    from harness.norms import build_normalizer, population_statistics

    for kind in ("batchnorm", "batchrenorm", "keras_renorm"):
        layer = build_normalizer({"kind": kind, "momentum": 0.5}, "n")
        for seed in range(4):
            layer(_x(seed), training=True)
        mean, std = population_statistics(layer)
        x = _x(9)
        np.testing.assert_allclose(layer(x, training=False), (x - mean) / std, rtol=1e-4, atol=1e-4)
    for kind in ("groupnorm", "layernorm", "none"):
        assert population_statistics(build_normalizer({"kind": kind}, "n")) is None


def test_clip_limits(keras):
    from harness.norms import build_normalizer, clip_limits

    brn = build_normalizer(
        {
            "kind": "batchrenorm",
            "r_max": 3.0,
            "d_max": 5.0,
            "warmup_steps": 2,
            "r_max_ramp_end": 6,
            "d_max_ramp_end": 4,
        },
        "b",
    )
    x = _x()
    limits = []
    for _ in range(7):
        limits.append(clip_limits(brn))
        brn(x, training=True)
    np.testing.assert_allclose(limits, [(1, 0), (1, 0), (1, 0), (1.5, 2.5), (2, 5), (2.5, 5), (3, 5)])
    assert clip_limits(build_normalizer({"kind": "keras_renorm", "r_max": 2.0, "d_max": 1.0}, "k")) == (2.0, 1.0)
    assert clip_limits(build_normalizer({"kind": "keras_renorm", "r_max": None, "d_max": None}, "k")) == (
        np.inf,
        np.inf,
    )
    for kind in ("batchnorm", "groupnorm", "layernorm", "none"):
        assert clip_limits(build_normalizer({"kind": kind}, "n")) is None
