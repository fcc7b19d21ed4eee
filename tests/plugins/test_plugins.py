"""Sampler, normalizer and model plugins: the documentation's example packages installed with pip, run next to bn
and brn; pairing by init_fingerprint; bad plugins refused at validation; the layer contract over every registered
kind."""

import copy
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import yaml

from tests.conftest import ROOT, TINY_SCENARIO, harness_env

EXAMPLES = os.path.join(ROOT, "docs", "examples")
PACKAGES = ("sampler_plugin", "normalizer_plugin", "model_plugin")  # the documentation's example packages


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """The documentation's example plugin packages (docs/examples/), installed with pip into one directory (as a
    user would, offline); the tutorials include their files by snippet, so what they show is what runs here."""
    target = tmp_path_factory.mktemp("plugins") / "site"
    for package in PACKAGES:
        build = tmp_path_factory.mktemp(package)  # pip builds in place: keep docs/examples free of build files
        shutil.copytree(os.path.join(EXAMPLES, package), build, dirs_exist_ok=True)
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
                        "--no-index", "--target", str(target), str(build)], check=True)
    return str(target)


def _env(site):
    env = harness_env()
    env["PYTHONPATH"] = os.pathsep.join([ROOT, site])
    return env


def _harness(site, *args):
    return subprocess.run([sys.executable, "-m", "harness", *args], env=_env(site), capture_output=True, text=True)


def _scenario(tmp_path, **changes):
    raw = copy.deepcopy(TINY_SCENARIO)
    raw["samplers"] = {"one_class": raw["samplers"]["one_class"]}  # one sampler, two seeds: enough to pair
    raw.update(changes)
    path = tmp_path / "scenario.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return str(path)


def _run(site, tmp_path, **changes):
    out = tmp_path / "run"
    done = _harness(site, "run", _scenario(tmp_path, **changes), "--out", str(out), "--quiet")
    assert done.returncode == 0, done.stderr
    return out


def _check_paired(out, normalizers):
    trials = pd.read_csv(out / "trials.csv")
    assert (trials["status"] == "ok").all(), trials
    assert set(trials["normalizer"]) == set(normalizers)
    per_seed = trials.groupby("seed")["init_fingerprint"].nunique()
    assert (per_seed == 1).all(), trials[["sampler", "normalizer", "seed", "init_fingerprint"]]
    assert trials.groupby("seed")["init_fingerprint"].first().nunique() == len(per_seed)  # seeds differ
    assert "not reported" not in (out / "summary.md").read_text()
    return trials


# ---------------------------------------------------------------------------------------- samplers
def test_sampler_plugin_stream_and_listing(site, monkeypatch):
    """The round-robin example: batch t holds classes t .. t+param-1 (mod C), each index of its slot's class,
    the stream continuing across calls; listed with its parameter after installation."""
    monkeypatch.syspath_prepend(site)
    from round_robin import RoundRobin

    labels = np.repeat(np.array([3, 5, 7, 9]), [5, 6, 7, 8])  # four classes, uneven counts, not 0..C-1
    sampler = RoundRobin(labels, 6, seed=0, param=2)
    stream = np.concatenate([sampler.batches(3), sampler.batches(4)])
    classes = np.array([3, 5, 7, 9])
    for t, batch in enumerate(stream):
        expected = classes[(t + np.arange(6) % 2) % 4]  # hand-written: slot j of batch t is class (t + j % 2) mod 4
        np.testing.assert_array_equal(labels[batch], expected)
    listing = _harness(site, "samplers")
    assert listing.returncode == 0, listing.stderr
    assert "round_robin" in listing.stdout and "param" in listing.stdout, listing.stdout


def test_sampler_plugin_by_entry_point_and_module_path_validates(site, tmp_path):
    samplers = {"iid": {"kind": "iid"}, "rr": {"kind": "round_robin", "param": 2},
                "mine": {"kind": "round_robin:RoundRobin", "param": 1}}
    done = _harness(site, "validate", _scenario(tmp_path, samplers=samplers))
    assert done.returncode == 0, done.stderr
    bad = _harness(site, "validate", _scenario(tmp_path, samplers={"rr": {"kind": "round_robin", "param": 9}}))
    assert bad.returncode == 2 and "param" in bad.stderr and "must be in [1, 4]" in bad.stderr, bad.stderr


def test_documented_scenario_of_the_three_plugins_validates(site):
    """docs/examples/scenario_plugins.yaml, which the tutorials include, validates with the packages installed."""
    done = _harness(site, "validate", os.path.join(EXAMPLES, "scenario_plugins.yaml"))
    assert done.returncode == 0, done.stderr


# ---------------------------------------------------------------------------------------- normalizers
def test_listing_shows_the_installed_plugin(site, monkeypatch, capsys):
    from harness.commands.cli import main

    monkeypatch.syspath_prepend(site)
    assert main(["normalizers"]) == 0
    out = capsys.readouterr().out
    assert "mean_only_bn  (plugin)" in out and "momentum = 0.99" in out
    assert "groupnorm  (built-in)" in out and "groups = 8" in out
    assert main(["normalizers", "tests.support.bad_plugins:RaisingLayer"]) == 0
    assert "alpha = 1.0" in capsys.readouterr().out
    assert main(["normalizers", "no_such_kind"]) == 2
    assert "kind: 'no_such_kind' is not one of batchnorm" in capsys.readouterr().err


def test_normalizer_and_model_plugins_run_next_to_bn_and_brn(site, tmp_path):
    """Normalizer plugins by entry point (with hooks) and by module path (unknown traits), in a model plugin
    given by module path whose initializers are unseeded."""
    normalizers = {**TINY_SCENARIO["normalizers"], "mobn": {"kind": "mean_only_bn", "momentum": 0.9},
                   "opaque": {"kind": "tests.support.bad_plugins:OpaqueBatchNorm"}}
    out = _run(site, tmp_path, normalizers=normalizers, model={"name": "tiny_models:wide_mlp", "width": 8})
    _check_paired(out, normalizers)
    resolved = yaml.safe_load((out / "scenario.yaml").read_text())
    assert resolved["normalizers"]["mobn"] == {"kind": "mean_only_bn", "axis": -1, "momentum": 0.9}
    assert resolved["model"] == {"name": "tiny_models:wide_mlp", "width": 8, "depth": 2}
    summary = pd.read_csv(out / "summary.csv")
    metrics = summary.groupby("normalizer")["metric"].apply(set)
    for name in normalizers:
        assert {"acc_inference", "acc_batch_iid", "acc_batch_sampler", "logit_kl"} <= metrics[name], name
    # hooks (mobn): PreciseBN and r/d rows; unknown traits (opaque): absent, not wrong
    for precise in ("acc_precise_iid", "acc_precise_own"):
        assert precise in metrics["mobn"] and precise not in metrics["opaque"], precise
    layers = pd.read_csv(out / "layers.csv")
    assert set(layers["layer"]) == {1, 2}
    layer_metrics = layers.groupby("normalizer")["metric"].apply(set)
    assert "abs_log_r_q50" in layer_metrics["mobn"] and "abs_log_r_q50" not in layer_metrics["opaque"]
    assert {"mismatch_local", "mismatch_propagated"} <= layer_metrics["opaque"]
    assert "clip_fraction" in layer_metrics["brn"] and "clip_fraction" not in layer_metrics["mobn"]
    report = (out / "index.html").read_text()
    assert "mobn" in report and "opaque" in report
    assert "acc_inference - bn" in (out / "summary.md").read_text()
    # a trial whose initial weights differ (edited on disk): the resumed run refuses paired differences
    path = out / "trials" / "one_class__brn__s1.json"
    result = json.loads(path.read_text())
    result["init_fingerprint"] = "0" * 16
    path.write_text(json.dumps(result))
    done = _harness(site, "run", str(tmp_path / "scenario.yaml"), "--out", str(out), "--quiet")
    assert done.returncode == 0, done.stderr
    message = "Paired differences are not reported: the normalizers of seed 1, sampler one_class did not start"
    summary = (out / "summary.md").read_text()
    rows = [line for line in summary.splitlines() if line.startswith("| ") and not line.startswith("| sampler |")]
    # no paired difference in the last column (other columns are metrics, whose intervals may hold "[-")
    assert message in summary and rows and all(row.rsplit("|", 2)[1].strip() == "-" for row in rows)
    assert message in (out / "index.html").read_text()


def test_plain_keras_model_with_batch_normalization_by_entry_point(site, tmp_path):
    out = _run(site, tmp_path, model={"name": "plain_cnn"})
    _check_paired(out, TINY_SCENARIO["normalizers"])
    layers = pd.read_csv(out / "layers.csv")
    assert set(layers["layer"]) == {1, 2}
    # brn's rows have clip fractions: each BatchNormalization was replaced by the scenario's normalizer
    assert set(layers.loc[layers["metric"] == "clip_fraction", "normalizer"]) == {"brn"}
    assert yaml.safe_load((out / "scenario.yaml").read_text())["model"] == {"name": "plain_cnn", "filters": 8}


def test_reference_weights_pair_unseeded_models(site, monkeypatch):
    """Two builds of an unseeded model differ; transplanting the seed's reference makes them equal (and
    equal to the reference), and the BN layers became the scenario's normalizers."""
    monkeypatch.syspath_prepend(site)
    from harness.models.builders import (
        build_model,
        init_fingerprint,
        normalization_layers,
        reference_weights,
        transplant,
    )
    from harness.norms import BatchRenormalization

    model_config = {"name": "plain_cnn", "filters": 4}
    bn = build_model(model_config, {"kind": "batchnorm"}, (4, 4, 1), 3, 0)
    brn = build_model(model_config, {"kind": "batchrenorm"}, (4, 4, 1), 3, 0)
    assert all(isinstance(layer, BatchRenormalization) for layer in normalization_layers(brn))
    assert len(normalization_layers(brn)) == 2
    assert init_fingerprint(bn) != init_fingerprint(brn)
    reference = reference_weights(model_config, (4, 4, 1), 3, 0)
    for model in (bn, brn):
        transplant(model, reference)
    assert init_fingerprint(bn) == init_fingerprint(brn)
    kernels = [w for _, weights in reference for w in weights]
    np.testing.assert_array_equal(brn.layers[1].get_weights()[0], kernels[0])
    transplant(bn, reference_weights(model_config, (4, 4, 1), 3, 1))  # another seed: other weights
    assert init_fingerprint(bn) != init_fingerprint(brn)


# ----------------------------------------------------------------------------------------- bad plugins
BAD = [
    ({"normalizers": {"bn": {"kind": "batchnorm"}, "mine": {"kind": "no_such_plugin_pkg:Layer"}}},
     "normalizers.mine.kind: 'no_such_plugin_pkg:Layer' could not be imported (ModuleNotFoundError"),
    ({"normalizers": {"bn": {"kind": "batchnorm"},
                      "mine": {"kind": "tests.support.bad_plugins:RaisingLayer", "alpha": 1}}},
     "normalizers.mine.alpha: 1 could not be constructed (ValueError: Argument `alpha` must be > 2."),
    ({"normalizers": {"bn": {"kind": "batchnorm"}, "mine": {"kind": "tests.support.bad_plugins:DropsAChannel"}}},
     "normalizers.mine.kind: 'tests.support.bad_plugins:DropsAChannel' changes the shape of its input in training "
     "mode: (8, 8) -> (8, 7)"),
    ({"model": {"name": "tests.support.bad_plugins:raising_model"}},
     "model.name: 'tests.support.bad_plugins:raising_model' could not be built with normalizer bn (RuntimeError: this "
     "builder is broken on purpose)"),
    ({"model": {"name": "tests.support.bad_plugins:not_a_model"}},
     "model.name: 'tests.support.bad_plugins:not_a_model' returned str, not a keras.Model"),
    ({"model": {"name": "tests.support.bad_plugins:wrong_width"}},
     "model.name: 'tests.support.bad_plugins:wrong_width' returned a model whose output is (None, 5), not one output "
     "of 4 logits"),
]


@pytest.mark.parametrize("changes,expected", BAD, ids=["import", "constructor", "shape", "raises", "not_model",
                                                       "width"])
def test_bad_plugins_fail_validation_in_one_line(site, tmp_path, changes, expected):
    path = _scenario(tmp_path, **changes)
    done = _harness(site, "validate", path)
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr.startswith(f"error: scenario.yaml: {expected}"), done.stderr
    assert done.stderr.count("\n") == 1 and done.stdout == ""


@pytest.mark.parametrize("changes,expected", [BAD[5]], ids=["width"])
def test_run_with_a_bad_plugin_writes_nothing(site, tmp_path, changes, expected):
    out = tmp_path / "out"
    done = _harness(site, "run", _scenario(tmp_path, **changes), "--out", str(out))
    assert done.returncode == 2 and done.stderr.startswith(f"error: scenario.yaml: {expected}"), done.stderr
    assert done.stderr.count("\n") == 1
    assert not out.exists()


# --------------------------------------------------------------------------- layer contract, every kind
def _kinds(site):
    sys.path.insert(0, site)
    try:
        from harness.norms import kinds

        return kinds.available()
    finally:
        sys.path.remove(site)


@pytest.fixture(scope="module")
def all_kinds(site):
    return _kinds(site)


def test_every_registered_kind_keeps_the_layer_contract(site, monkeypatch, all_kinds):
    """Keras-style: the config round-trips, the shape is kept in both modes, inference treats each example on
    its own, and a training-mode output depends on the rest of the batch exactly when the traits say so."""
    monkeypatch.syspath_prepend(site)
    from harness.norms import build_normalizer, is_batch_dependent

    assert {"batchnorm", "batchrenorm", "keras_renorm", "groupnorm", "layernorm", "none",
            "mean_only_bn"} <= set(all_kinds)
    rng = np.random.default_rng(0)
    for kind in all_kinds:
        for shape in ((8, 16), (8, 3, 3, 16)):
            layer = build_normalizer({"kind": kind}, name="norm_1")
            x = (rng.standard_normal(shape) * 2 + 1).astype(np.float32)
            train = np.asarray(layer(x, training=True))
            infer = np.asarray(layer(x, training=False))
            assert train.shape == x.shape and infer.shape == x.shape, kind
            clone = type(layer).from_config(layer.get_config())
            assert clone.get_config() == layer.get_config(), kind
            clone.build(x.shape)
            clone.set_weights(layer.get_weights())
            np.testing.assert_allclose(np.asarray(clone(x, training=False)), infer, rtol=1e-5, atol=1e-5)
            # inference: each example on its own
            np.testing.assert_allclose(np.asarray(layer(x[:2], training=False)), infer[:2], rtol=1e-5, atol=1e-5)
            # training: the first example's output moves with the others iff the layer uses batch statistics
            other = x.copy()
            other[1:] = other[1:] * 3 + 2
            first = np.asarray(_fresh_call(kind, x))[0]
            moved = not np.allclose(np.asarray(_fresh_call(kind, other))[0], first, atol=1e-5)
            assert is_batch_dependent(layer) is moved, kind


def _fresh_call(kind, x):
    """A newly built layer of `kind` (built-ins and the example start from constant weights) in training mode."""
    from harness.norms import build_normalizer

    layer = build_normalizer({"kind": kind}, name="norm_1")
    return layer(x, training=True)


# --------------------------------------------------------------------------------------------- pairing
def test_unpaired_runs_report_no_differences():
    from harness.results import tables

    trials = pd.DataFrame({"sampler": ["a", "a", "a", "a"], "normalizer": ["bn", "x", "bn", "x"],
                           "seed": [0, 0, 1, 1], "status": "ok", "diverged_step": None, "error": None,
                           "seconds": 1.0, "init_fingerprint": ["f0", "f0", "f1", "other"]})
    message = tables.unpaired_message(trials)
    assert message.startswith("Paired differences are not reported: the normalizers of seed 1, sampler a")
    assert "f1, other" in message
    assert tables.unpaired_message(trials.iloc[:2]) is None
    summary = pd.DataFrame({"sampler": "a", "normalizer": ["bn", "x", "bn", "x"], "seed": [0, 0, 1, 1],
                            "metric": "acc_inference", "value": [0.5, 0.6, 0.55, 0.7]})
    paired = tables.summary_markdown(summary, "bn", trials=trials.iloc[:2].assign(seed=[0, 0]))
    refused = tables.summary_markdown(summary, "bn", trials=trials)
    assert "+0.125" in paired and "+0.125" not in refused and message in refused


def test_traits_of_plugin_layers():
    """Hooks, duck typing and unknown layers, as the analyzer sees them."""
    import keras

    from harness.norms import statistics
    from tests.support.bad_plugins import OpaqueBatchNorm, ReadOnlyStatistics

    x = np.arange(12, dtype=np.float32).reshape(4, 3)
    opaque, read_only, keras_bn = OpaqueBatchNorm(), ReadOnlyStatistics(), keras.layers.BatchNormalization()
    for layer in (opaque, read_only, keras_bn):
        layer(x, training=True)
    unknown = statistics.traits(opaque)
    assert (unknown.batch_dependent, unknown.settable, unknown.population_statistics()) == (None, False, None)
    hooks = statistics.traits(read_only)
    assert hooks.batch_dependent is True and hooks.settable is False
    np.testing.assert_allclose(hooks.population_statistics()[0], 0.1 * x.mean(axis=0), rtol=1e-6)
    duck = statistics.traits(keras_bn)  # built outside the factory: read by its variables
    assert duck.batch_dependent is True and duck.settable is True
    duck.set_population_statistics([1.0, 2.0, 3.0], [4.0, 4.0, 4.0])
    mean, std = duck.population_statistics()
    np.testing.assert_allclose(mean, [1, 2, 3])
    np.testing.assert_allclose(std, np.sqrt(4 + keras_bn.epsilon), rtol=1e-6)
    np.testing.assert_allclose(np.asarray(keras_bn(x, training=False)),
                               (x - [1, 2, 3]) / np.sqrt(4 + keras_bn.epsilon), rtol=1e-5)


def test_a_factory_plugin():
    import keras

    from harness.norms import build_normalizer, is_batch_dependent, kinds

    kind = kinds.get("tests.support.bad_plugins:layer_norm_factory")
    assert kind.parameters == {"epsilon": 1e-3} and kind.plugin
    assert kind.description == "A factory plugin: returns a Keras LayerNormalization."
    layer = build_normalizer({"kind": "tests.support.bad_plugins:layer_norm_factory", "epsilon": 0.5}, name="norm_3")
    assert isinstance(layer, keras.layers.LayerNormalization) and layer.name == "norm_3" and layer.epsilon == 0.5
    assert is_batch_dependent(layer) is None  # a plugin: nothing is assumed from its class


def test_documented_batch_renorm_example_builds_one_layer_two_ways():
    """docs/examples/brn_layer.py, included in the BN/BRN explanation: the class and the registry give the same
    layer, with the paper's schedule."""
    import runpy

    example = runpy.run_path(os.path.join(EXAMPLES, "brn_layer.py"))
    direct, registry = example["layer"].get_config(), example["same"].get_config()
    for config in (direct, registry):
        config.pop("name")
    assert direct == registry
    assert (direct["warmup_steps"], direct["r_max_ramp_end"], direct["d_max_ramp_end"]) == (5000, 40000, 25000)
    assert (direct["r_max"], direct["d_max"]) == (3.0, 5.0)
