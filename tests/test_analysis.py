"""The analyzer on a tiny network whose every metric is recomputed here with NumPy."""

import numpy as np
import pytest

import keras  # noqa: E402

from harness.analysis import Analyzer  # noqa: E402
from harness.data import Dataset  # noqa: E402
from harness.norms import build_normalizer  # noqa: E402

EPS = 1e-3


def tiny_model(kind, seed=0, **params):
    """x (3) -> Dense(4) -> norm_1 -> ReLU -> Dense(3) logits, with known random weights and statistics."""
    rng = np.random.default_rng(seed)
    inputs = keras.Input((3,))
    h = keras.layers.Dense(4, name="dense_in")(inputs)
    norm = build_normalizer({"kind": kind, "epsilon": EPS, **params}, name="norm_1")
    y = keras.layers.ReLU()(norm(h))
    logits = keras.layers.Dense(3, name="dense_out")(y)
    model = keras.Model(inputs, logits)
    for layer in (model.get_layer("dense_in"), model.get_layer("dense_out")):
        layer.set_weights([rng.normal(size=w.shape).astype("float32") for w in layer.get_weights()])
    mean = rng.normal(size=4).astype("float32")
    std = rng.uniform(0.5, 2.0, size=4).astype("float32")
    if kind == "batchnorm":
        norm.moving_mean.assign(mean)
        norm.moving_variance.assign(std**2 - EPS)
    else:
        norm.moving_mean.assign(mean)
        norm.moving_stddev.assign(std)
    gamma = rng.uniform(0.5, 1.5, size=4).astype("float32")
    beta = rng.normal(size=4).astype("float32") * 0.1
    norm.gamma.assign(gamma)
    norm.beta.assign(beta)
    return model, {"mean": mean, "std": std, "gamma": gamma, "beta": beta}


def numpy_forward(model, stats, x, training):
    w1, b1 = model.get_layer("dense_in").get_weights()
    w2, b2 = model.get_layer("dense_out").get_weights()
    h = x @ w1 + b1
    if training:  # batch statistics: what BN and (unclipped-or-not, r and d aside) BRN compute... see below
        mu, sigma = h.mean(0), np.sqrt(h.var(0) + EPS)
    else:
        mu, sigma = stats["mean"], stats["std"]
    z = stats["gamma"] * (h - mu) / sigma + stats["beta"]
    return h, z, np.maximum(z, 0) @ w2 + b2


def make_dataset(seed=1, n=64):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 3)).astype("float32") * 2 + 0.5
    y = rng.integers(0, 3, size=n)
    return Dataset("test", x, y, x[:48], y[:48], 3)


def log_softmax(z):
    z = z - z.max(-1, keepdims=True)
    return z - np.log(np.exp(z).sum(-1, keepdims=True))


@pytest.fixture
def setup():
    model, stats = tiny_model("batchnorm")
    data = make_dataset()
    batches = np.arange(48).reshape(6, 8)
    return model, stats, data, batches, Analyzer(model, data)


def test_accuracies_match_numpy(setup):
    model, stats, data, batches, analyzer = setup
    _, _, logits = numpy_forward(model, stats, data.x_test, training=False)
    assert analyzer.acc_inference() == pytest.approx(np.mean(logits.argmax(-1) == data.y_test))
    per_batch = [numpy_forward(model, stats, data.x_test[b], training=True)[2].argmax(-1) == data.y_test[b]
                 for b in batches[::-1]]
    assert analyzer.acc_batch(batches[::-1]) == pytest.approx(np.mean(per_batch))


def test_layer_statistics_match_numpy(setup):
    model, stats, data, batches, analyzer = setup
    (row,) = analyzer.layer_statistics(batches[:3])
    log_r, d, local = [], [], []
    for b in batches[:3]:
        h, z_inf, _ = numpy_forward(model, stats, data.x_test[b], training=False)
        _, z_train, _ = numpy_forward(model, stats, data.x_test[b], training=True)
        log_r.append(np.log(np.sqrt(h.var(0) + EPS) / stats["std"]))
        d.append((h.mean(0) - stats["mean"]) / stats["std"])
        local.append(np.linalg.norm(z_train - z_inf) / np.linalg.norm(z_inf))
    abs_log_r, abs_d = np.abs(np.concatenate(log_r)), np.abs(np.concatenate(d))
    assert row["layer"] == 1
    assert row["abs_log_r_q50"] == pytest.approx(np.quantile(abs_log_r, 0.5), rel=1e-4)
    assert row["abs_d_q95"] == pytest.approx(np.quantile(abs_d, 0.95), rel=1e-4)
    assert row["abs_d_q05"] == pytest.approx(np.quantile(abs_d, 0.05), rel=1e-4)
    # one normalization layer: the same input reaches it in both modes, so local == propagated
    assert row["mismatch_local"] == pytest.approx(np.mean(local), rel=1e-4)
    assert row["mismatch_propagated"] == pytest.approx(np.mean(local), rel=1e-4)
    assert "clip_fraction" not in row  # plain BN has no clip


def test_logit_mismatch_matches_numpy(setup):
    model, stats, data, batches, analyzer = setup
    disagree, kl = [], []
    for b in batches:
        lt = log_softmax(numpy_forward(model, stats, data.x_test[b], training=True)[2])
        li = log_softmax(numpy_forward(model, stats, data.x_test[b], training=False)[2])
        disagree.append(lt.argmax(-1) != li.argmax(-1))
        kl.append((np.exp(lt) * (lt - li)).sum(-1))
    result = analyzer.logit_mismatch(batches)
    assert result["logit_disagreement"] == pytest.approx(np.mean(disagree))
    assert result["logit_kl"] == pytest.approx(np.mean(kl), rel=1e-3, abs=1e-6)


def test_precise_statistics_match_numpy_and_state_is_restored(setup):
    model, stats, data, batches, analyzer = setup
    train_batches = np.arange(64).reshape(8, 8)
    h_all = np.concatenate([numpy_forward(model, stats, data.x_train[b], True)[0] for b in train_batches])
    precise = {**stats, "mean": h_all.mean(0), "std": np.sqrt(h_all.var(0) + EPS)}
    _, _, logits = numpy_forward(model, precise, data.x_test, training=False)
    before = [v.numpy().copy() for v in model.variables]
    assert analyzer.acc_precise(train_batches) == pytest.approx(np.mean(logits.argmax(-1) == data.y_test))
    for variable, value in zip(model.variables, before):
        np.testing.assert_array_equal(variable.numpy(), value)


def test_training_mode_evaluation_never_changes_state():
    model, _ = tiny_model("batchrenorm", r_max=1.5, d_max=0.5)
    data = make_dataset()
    analyzer = Analyzer(model, data)
    batches = np.arange(48).reshape(6, 8)
    before = [v.numpy().copy() for v in model.variables]
    analyzer.accuracies(batches, batches)
    analyzer.layer_statistics(batches)
    analyzer.logit_mismatch(batches)
    analyzer.clip_fraction(batches)
    for variable, value in zip(model.variables, before):
        np.testing.assert_array_equal(variable.numpy(), value)


def test_brn_clip_fraction_matches_numpy():
    model, stats = tiny_model("batchrenorm", r_max=1.5, d_max=0.5)
    data = make_dataset()
    analyzer = Analyzer(model, data)
    batches = np.arange(48).reshape(6, 8)
    w1, b1 = model.get_layer("dense_in").get_weights()
    hits = []
    for b in batches:
        h = data.x_test[b] @ w1 + b1
        r = np.sqrt(h.var(0) + EPS) / stats["std"]
        d = (h.mean(0) - stats["mean"]) / stats["std"]
        hits.append((np.abs(np.log(r)) >= np.log(1.5) - 1e-6) | (np.abs(d) >= 0.5 - 1e-6))
    expected = np.mean(hits)
    assert 0 < expected < 1  # the fixture exercises both sides of the clip
    assert analyzer.clip_fraction(batches) == pytest.approx(expected)
    assert analyzer.layer_statistics(batches)[0]["clip_fraction"] == pytest.approx(expected)
