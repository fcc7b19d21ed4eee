"""The analyzer on a tiny network whose every metric is recomputed here with NumPy."""

import keras  # noqa: E402
import numpy as np
import pytest

from harness.analysis.analyzer import Analyzer  # noqa: E402
from harness.data.sources import Dataset  # noqa: E402
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


@pytest.fixture(params=[False, True], ids=["tf_function", "xla"])
def setup(request):
    """The analyzer with its passes under plain tf.function and under XLA: both must match NumPy."""
    model, stats = tiny_model("batchnorm")
    data = make_dataset()
    batches = np.arange(48).reshape(6, 8)
    return model, stats, data, batches, Analyzer(model, data, jit_compile=request.param)


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
    for variable, value in zip(model.variables, before, strict=False):
        np.testing.assert_array_equal(variable.numpy(), value)


def test_own_statistics_of_bn_average_batch_variances(setup):
    model, stats, data, batches, analyzer = setup
    train_batches = np.arange(64).reshape(8, 8)
    hs = [numpy_forward(model, stats, data.x_train[b], True)[0] for b in train_batches]
    own = {**stats, "mean": np.mean([h.mean(0) for h in hs], 0),
           "std": np.sqrt(np.mean([h.var(0) for h in hs], 0) + EPS)}  # no variance of batch means, unlike PreciseBN
    _, _, logits = numpy_forward(model, own, data.x_test, training=False)
    assert analyzer.acc_precise_own(train_batches) == pytest.approx(np.mean(logits.argmax(-1) == data.y_test))


def test_training_mode_evaluation_never_changes_state():
    model, _ = tiny_model("batchrenorm", r_max=1.5, d_max=0.5)
    data = make_dataset()
    analyzer = Analyzer(model, data)
    batches = np.arange(48).reshape(6, 8)
    before = [v.numpy().copy() for v in model.variables]
    analyzer.acc_inference()
    analyzer.acc_batch(batches)
    analyzer.layer_statistics(batches)
    analyzer.logit_mismatch(batches)
    analyzer.clip_fraction(batches)
    for variable, value in zip(model.variables, before, strict=False):
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


# -- a two-layer conv network: local vs propagated mismatch, PreciseBN in depth order ---------------------


def conv_model(kind, seed=2, **params):
    """(4, 4, 2) -> 1x1 conv 3 -> norm_1 -> ReLU -> 1x1 conv 3 -> norm_2 -> global mean -> Dense(3)."""
    rng = np.random.default_rng(seed)
    inputs = keras.Input((4, 4, 2))
    h = keras.layers.Conv2D(3, 1, name="conv_a")(inputs)
    h = keras.layers.ReLU()(build_normalizer({"kind": kind, "epsilon": EPS, **params}, name="norm_1")(h))
    h = keras.layers.Conv2D(3, 1, name="conv_b")(h)
    h = build_normalizer({"kind": kind, "epsilon": EPS, **params}, name="norm_2")(h)
    logits = keras.layers.Dense(3, name="head")(keras.layers.GlobalAveragePooling2D()(h))
    model = keras.Model(inputs, logits)
    for name in ("conv_a", "conv_b", "head"):
        layer = model.get_layer(name)
        layer.set_weights([rng.normal(size=w.shape).astype("float32") for w in layer.get_weights()])
    stats = []
    for name in ("norm_1", "norm_2"):
        norm = model.get_layer(name)
        mean, std = rng.normal(size=3).astype("float32"), rng.uniform(0.5, 2.0, 3).astype("float32")
        norm.moving_mean.assign(mean)
        if kind == "batchnorm":
            norm.moving_variance.assign(std**2 - EPS)
        else:
            norm.moving_stddev.assign(std)
        gamma, beta = rng.uniform(0.5, 1.5, 3).astype("float32"), rng.normal(size=3).astype("float32") * 0.1
        norm.gamma.assign(gamma)
        norm.beta.assign(beta)
        stats.append({"mean": mean, "std": std, "gamma": gamma, "beta": beta})
    return model, stats


def numpy_norm(h, s, training, r_max=None, d_max=None):
    """BN (r_max None) or Algorithm 1 BRN in training mode; inference with (mean, std) for both."""
    if not training:
        return s["gamma"] * (h - s["mean"]) / s["std"] + s["beta"]
    mu_b, sigma_b = h.mean((0, 1, 2)), np.sqrt(h.var((0, 1, 2)) + EPS)
    x_hat = (h - mu_b) / sigma_b
    if r_max is not None:
        r = np.clip(sigma_b / s["std"], 1 / r_max, r_max)
        d = np.clip((mu_b - s["mean"]) / s["std"], -d_max, d_max)
        x_hat = x_hat * r + d
    return s["gamma"] * x_hat + s["beta"]


def numpy_conv_forward(model, stats, x, training, **clip):
    """Returns (inputs to norm_1 and norm_2, their outputs, logits)."""
    wa, ba = model.get_layer("conv_a").get_weights()
    wb, bb = model.get_layer("conv_b").get_weights()
    wh, bh = model.get_layer("head").get_weights()
    h1 = x @ wa[0, 0] + ba
    z1 = numpy_norm(h1, stats[0], training, **clip)
    h2 = np.maximum(z1, 0) @ wb[0, 0] + bb
    z2 = numpy_norm(h2, stats[1], training, **clip)
    return (h1, h2), (z1, z2), z2.mean((1, 2)) @ wh + bh


def conv_dataset(seed=3, n=64):
    rng = np.random.default_rng(seed)
    x = (rng.normal(size=(n, 4, 4, 2)) * 1.5 + 0.3).astype("float32")
    y = rng.integers(0, 3, size=n)
    return Dataset("conv", x, y, x[:48], y[:48], 3)


def test_local_and_propagated_mismatch_differ_and_match_numpy():
    model, stats = conv_model("batchnorm")
    data = conv_dataset()
    batches = np.arange(48).reshape(6, 8)
    rows = Analyzer(model, data).layer_statistics(batches)
    local, propagated = {1: [], 2: []}, {1: [], 2: []}
    for b in batches:
        x = data.x_test[b]
        (h1_inf, h2_inf), (z1_inf, z2_inf), _ = numpy_conv_forward(model, stats, x, training=False)
        _, (z1_tr, z2_tr), _ = numpy_conv_forward(model, stats, x, training=True)
        for depth, h_inf, z_inf, z_tr, s in ((1, h1_inf, z1_inf, z1_tr, stats[0]),
                                             (2, h2_inf, z2_inf, z2_tr, stats[1])):
            local[depth].append(np.linalg.norm(numpy_norm(h_inf, s, True) - z_inf) / np.linalg.norm(z_inf))
            propagated[depth].append(np.linalg.norm(z_tr - z_inf) / np.linalg.norm(z_inf))
    for row in rows:
        depth = row["layer"]
        assert row["mismatch_local"] == pytest.approx(np.mean(local[depth]), rel=1e-3)
        assert row["mismatch_propagated"] == pytest.approx(np.mean(propagated[depth]), rel=1e-3)
    # the two differ by far more than the tolerance above, so swapping them would fail
    assert abs(rows[1]["mismatch_local"] - rows[1]["mismatch_propagated"]) > 5e-3 * rows[1]["mismatch_local"]


def test_precise_statistics_of_stacked_renorm_layers_are_estimated_in_depth_order():
    clip = {"r_max": 1.5, "d_max": 0.5}
    model, stats = conv_model("batchrenorm", **clip)
    data = conv_dataset()
    train_batches = np.arange(64).reshape(8, 8)

    def pooled(values):
        means = np.stack([v.mean((0, 1, 2)) for v in values])
        variances = np.stack([v.var((0, 1, 2)) for v in values])
        mean = means.mean(0)
        return mean, variances.mean(0) + ((means - mean) ** 2).mean(0)

    precise = [dict(s) for s in stats]
    mean, var = pooled([numpy_conv_forward(model, precise, data.x_train[b], True, **clip)[0][0] for b in train_batches])
    precise[0].update(mean=mean, std=np.sqrt(var + EPS))
    # layer 2 is measured with layer 1 already renormalizing against its new statistics
    mean, var = pooled([numpy_conv_forward(model, precise, data.x_train[b], True, **clip)[0][1] for b in train_batches])
    precise[1].update(mean=mean, std=np.sqrt(var + EPS))
    _, _, logits = numpy_conv_forward(model, precise, data.x_test, training=False)
    expected = np.mean(logits.argmax(-1) == data.y_test)

    stale = [dict(s) for s in precise]  # what a single pass would have given layer 2
    mean, var = pooled([numpy_conv_forward(model, stats, data.x_train[b], True, **clip)[0][1] for b in train_batches])
    stale[1].update(mean=mean, std=np.sqrt(var + EPS))
    assert not np.allclose(stale[1]["mean"], precise[1]["mean"], atol=1e-3)  # the order matters here

    assert Analyzer(model, data).acc_precise(train_batches) == pytest.approx(expected)


def test_own_statistics_of_renorm_layers_average_sigma_b_in_depth_order():
    """acc_precise_own: each BRN layer's mean of batch means and mean of sigma_B = sqrt(var_B + eps), layer 2
    measured with layer 1 already renormalizing against its new statistics; against NumPy."""
    clip = {"r_max": 1.5, "d_max": 0.5}
    model, stats = conv_model("batchrenorm", **clip)
    data = conv_dataset()
    train_batches = np.arange(64).reshape(8, 8)

    def own(values):
        means = np.stack([v.mean((0, 1, 2)) for v in values])
        sigmas = np.stack([np.sqrt(v.var((0, 1, 2)) + EPS) for v in values])
        return means.mean(0), sigmas.mean(0)

    expected_stats = [dict(s) for s in stats]
    for depth in (0, 1):
        mean, sigma = own([numpy_conv_forward(model, expected_stats, data.x_train[b], True, **clip)[0][depth]
                           for b in train_batches])
        expected_stats[depth].update(mean=mean, std=sigma)
    _, _, logits = numpy_conv_forward(model, expected_stats, data.x_test, training=False)
    pooled_std = np.sqrt(np.concatenate([numpy_conv_forward(model, stats, data.x_train[b], True, **clip)[0][0]
                                         for b in train_batches])
                         .reshape(-1, expected_stats[0]["mean"].size).var(0) + EPS)
    assert not np.allclose(pooled_std, expected_stats[0]["std"], rtol=1e-3)  # own differs from PreciseBN's here
    assert Analyzer(model, data).acc_precise_own(train_batches) == pytest.approx(
        np.mean(logits.argmax(-1) == data.y_test))


def test_keras_renorm_clip_fraction_uses_its_own_renorm_statistics():
    model, _ = tiny_model("keras_renorm", r_max=1.5, d_max=0.5, momentum=0.99, renorm_momentum=0.9)
    norm = model.get_layer("norm_1")
    rng = np.random.default_rng(5)
    renorm_mean, renorm_std = rng.normal(size=4).astype("float32"), rng.uniform(0.5, 2, 4).astype("float32")
    norm.renorm_mean.assign(renorm_mean)
    norm.renorm_stddev.assign(renorm_std)
    data = make_dataset()
    batches = np.arange(48).reshape(6, 8)
    w1, b1 = model.get_layer("dense_in").get_weights()
    hits = []
    for b in batches:
        h = data.x_test[b] @ w1 + b1
        r = np.sqrt(h.var(0) + EPS) / renorm_std
        d = (h.mean(0) - renorm_mean) / renorm_std
        hits.append((np.abs(np.log(r)) >= np.log(1.5) - 1e-6) | (np.abs(d) >= 0.5 - 1e-6))
    assert Analyzer(model, data).clip_fraction(batches) == pytest.approx(np.mean(hits))


def test_evaluate_gives_the_separate_metrics_in_one_call():
    model, _ = tiny_model("batchrenorm", r_max=1.5, d_max=0.5)
    analyzer = Analyzer(model, make_dataset())
    batches = np.arange(48).reshape(6, 8)[::-1]
    metrics = analyzer.evaluate(batches, 3)
    assert 0 < metrics["clip_fraction"] < 1
    assert metrics == pytest.approx({"acc_inference": analyzer.acc_inference(),
                                     "acc_batch_sampler": analyzer.acc_batch(batches),
                                     "clip_fraction": analyzer.clip_fraction(batches[:3])})
    plain, _ = tiny_model("batchnorm")
    assert "clip_fraction" not in Analyzer(plain, make_dataset()).evaluate(batches, 3)


def test_every_metric_the_analyzer_gives_is_described_and_in_its_range():
    """The metric table (harness.analysis.metrics) names every number the analyzer returns, where it is produced,
    and a range the values respect: the trial, the tables and the report rely on it."""
    from harness.analysis.metrics import CURVE, FINAL, LAYER, METRICS, bounds

    model, _ = tiny_model("batchrenorm", r_max=1.5, d_max=0.5)
    data = make_dataset()
    analyzer = Analyzer(model, data)
    batches = np.arange(48).reshape(6, 8)[::-1]
    given = [(CURVE, analyzer.evaluate(batches, 3)), (FINAL, {"acc_batch_iid": analyzer.acc_batch(batches),
                                                              "acc_precise_iid": analyzer.acc_precise(batches),
                                                              "acc_precise_own": analyzer.acc_precise_own(batches)}),
             (FINAL, analyzer.logit_mismatch(batches))]
    given += [(LAYER, {k: v for k, v in row.items() if k != "layer"}) for row in analyzer.layer_statistics(batches)]
    for where, values in given:
        for name, value in values.items():
            assert where in METRICS[name].produced, (name, where)
            low, high = bounds(name)
            assert low <= value <= high, (name, value)
    assert {"clip_fraction", "abs_d_q95", "logit_kl", "acc_inference"} <= {n for _, v in given for n in v}


@pytest.mark.parametrize("schedule", [{}, {"warmup_steps": 1, "r_max_ramp_end": 4, "d_max_ramp_end": 4}])
def test_evaluating_a_snapshot_gives_the_metrics_of_when_it_was_taken(schedule):
    """Training on after `snapshot()` (in-place optimizer updates, moving statistics, the BRN step and with it the
    scheduled clip) leaves it as it was."""
    import tensorflow as tf

    model, _ = tiny_model("batchrenorm", r_max=1.5, d_max=0.5, **schedule)
    data = make_dataset()
    analyzer = Analyzer(model, data)
    batches = np.arange(48).reshape(6, 8)[::-1]
    before = analyzer.evaluate(batches, 3)
    snapshot = analyzer.snapshot()
    optimizer = keras.optimizers.Adam(0.5)
    for _ in range(3):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(tf.square(model(data.x_train[:16], training=True)))
        optimizer.apply_gradients(zip(tape.gradient(loss, model.trainable_variables), model.trainable_variables,
                                      strict=False))
    assert analyzer.evaluate(batches, 3) != before  # the model did change
    assert analyzer.evaluate(batches, 3, variables=snapshot) == before
