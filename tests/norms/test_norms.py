"""BatchRenormalization against independent references: a NumPy Algorithm 1, Keras BN, Keras renorm=True."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras
import numpy as np
import pytest
import tensorflow as tf
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.norms import BatchRenormalization, MicrobatchBatchNormalization

TOL = 1e-4


# ---------------------------------------------------------------- NumPy reference of Algorithm 1 (float64)


def reference_limits(step, r_max, d_max, warmup, r_end, d_end):
    """Paper schedule written independently: plain BN during warm-up, then linear, clamped."""

    def frac(end):
        if step < warmup:
            return 0.0
        if end is None or end == warmup:
            return 1.0
        return float(np.clip((step - warmup) / (end - warmup), 0.0, 1.0))

    return 1.0 + (r_max - 1.0) * frac(r_end), d_max * frac(d_end)


def reference_brn(batches, *, axis=-1, momentum=0.99, eps=1e-3, gamma, beta, limits, microbatch=None):
    """Run Algorithm 1 over `batches`; limits(step) -> (r_max, d_max).

    Returns per step: training output, inference output with the pre-update
    statistics, r, d, and the moving (mu, sigma) after the step.
    """
    channels = batches[0].shape[axis]
    mu, sigma = np.zeros(channels), np.ones(channels)
    out = []
    for step, x in enumerate(batches):
        x = np.moveaxis(np.asarray(x, np.float64), axis, -1)
        k = microbatch or x.shape[0]
        g = x.reshape((x.shape[0] // k, k) + x.shape[1:])
        red = tuple(range(1, g.ndim - 1))
        mb = g.mean(red, keepdims=True)
        sb = np.sqrt(g.var(red, keepdims=True) + eps)
        r_max, d_max = limits(step)
        r = np.clip(sb / sigma, 1 / r_max, r_max)
        d = np.clip((mb - mu) / sigma, -d_max, d_max)
        y = gamma * ((g - mb) / sb * r + d) + beta
        y_inf = gamma * (g - mu) / sigma + beta
        mu = mu + (1 - momentum) * (mb.mean(axis=tuple(range(g.ndim - 1))) - mu)
        sigma = sigma + (1 - momentum) * (sb.mean(axis=tuple(range(g.ndim - 1))) - sigma)
        # B023: back() is called only below, in this same iteration, so it sees this iteration's x
        back = lambda a: np.moveaxis(a.reshape(x.shape), -1, axis)  # noqa: E731, B023
        out.append(dict(y=back(y), y_inf=back(y_inf), r=r, d=d, mu=mu.copy(), sigma=sigma.copy()))
    return out


def make_batches(shape, n, seed, axis=-1, drift=True):
    """Non-stationary batches with per-channel scales, so r and d move (and clip when limits are tight)."""
    rng = np.random.default_rng(seed)
    channels = shape[axis]
    bshape = [1] * len(shape)
    bshape[axis] = channels
    batches = []
    for t in range(n):
        loc = rng.normal(0, 2, channels) + (0.2 * t if drift else 0)
        scale = rng.uniform(0.5, 3.0, channels)
        batches.append((rng.normal(size=shape) * scale.reshape(bshape) + loc.reshape(bshape)).astype(np.float32))
    return batches


def set_affine(layer, seed):
    rng = np.random.default_rng(seed)
    gamma = rng.uniform(0.5, 2.0, layer.gamma.shape)
    beta = rng.normal(0, 1, layer.beta.shape)
    layer.gamma.assign(gamma.astype(np.float32))
    layer.beta.assign(beta.astype(np.float32))
    return gamma, beta


CASES = {
    "dense_clipped": dict(shape=(16, 5), axis=-1, r_max=1.5, d_max=0.5),
    "dense_unclipped": dict(shape=(16, 5), axis=-1, r_max=1e3, d_max=1e3),
    "conv_clipped": dict(shape=(8, 4, 4, 3), axis=-1, r_max=1.2, d_max=0.3),
    "conv_unclipped": dict(shape=(8, 4, 4, 3), axis=-1, r_max=1e3, d_max=1e3),
    "conv_channels_first_clipped": dict(shape=(8, 3, 4, 4), axis=1, r_max=1.3, d_max=0.2),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_matches_numpy_algorithm_1(case):
    c = CASES[case]
    batches = make_batches(c["shape"], 30, seed=1, axis=c["axis"])
    layer = BatchRenormalization(axis=c["axis"], momentum=0.9, r_max=c["r_max"], d_max=c["d_max"])
    layer.build(c["shape"])
    gamma, beta = set_affine(layer, 2)
    ref = reference_brn(
        batches,
        axis=c["axis"],
        momentum=0.9,
        gamma=_bshape(gamma, c),
        beta=_bshape(beta, c),
        limits=lambda s: (c["r_max"], c["d_max"]),
    )
    clipped = 0
    for x, want in zip(batches, ref, strict=False):
        y_inf_pre = layer(x, training=False).numpy()
        y = layer(x, training=True).numpy()
        np.testing.assert_allclose(y, want["y"], atol=TOL, rtol=TOL)
        np.testing.assert_allclose(y_inf_pre, want["y_inf"], atol=TOL, rtol=TOL)
        np.testing.assert_allclose(layer.moving_mean.numpy(), want["mu"], atol=TOL, rtol=TOL)
        np.testing.assert_allclose(layer.moving_stddev.numpy(), want["sigma"], atol=TOL, rtol=TOL)
        clipped += int(np.any(np.abs(np.log(want["r"])) >= np.log(c["r_max"]) - 1e-12))
        clipped += int(np.any(np.abs(want["d"]) >= c["d_max"] - 1e-12))
    # The cases really exercise what their names say.
    assert (clipped > 0) == case.endswith("_clipped")
    assert int(layer.step.numpy()) == 30


def _bshape(vector, c):
    """Reference works channels-last: parameters broadcast as-is."""
    return np.asarray(vector, np.float64)


def test_paper_property_training_equals_inference_with_pre_update_stats():
    """Unclipped r and d make the training output exactly the inference output of the old statistics."""
    batches = make_batches((16, 4, 4, 6), 30, seed=3)
    layer = BatchRenormalization(momentum=0.95, r_max=1e3, d_max=1e3)
    layer.build(batches[0].shape)
    set_affine(layer, 4)
    for x in batches:
        y_inf = layer(x, training=False).numpy()
        y_train = layer(x, training=True).numpy()
        np.testing.assert_allclose(y_train, y_inf, atol=TOL, rtol=TOL)
    # and not trivially: batch statistics differ from the moving ones
    assert np.abs(np.mean(batches[-1], axis=(0, 1, 2)) - layer.moving_mean.numpy()).max() > 0.1


@pytest.mark.parametrize("r_max,d_max", [(1e3, 1e3), (1.2, 0.2)])
def test_input_gradient_is_bn_gradient_times_constant_r(r_max, d_max):
    batches = make_batches((8, 3, 3, 4), 6, seed=5)
    layer = BatchRenormalization(momentum=0.5, r_max=r_max, d_max=d_max)
    layer.build(batches[0].shape)
    gamma, _ = set_affine(layer, 6)
    for x in batches[:-1]:
        layer(x, training=True)
    x = batches[-1].astype(np.float64)
    sigma = layer.moving_stddev.numpy()
    upstream = np.random.default_rng(7).normal(size=x.shape)
    xt = tf.constant(x, tf.float32)
    with tf.GradientTape() as tape:
        tape.watch(xt)
        y = layer(xt, training=True)
        loss = tf.reduce_sum(y * tf.constant(upstream, tf.float32))
    grad = tape.gradient(loss, xt).numpy()
    red = (0, 1, 2)
    mb, sb = x.mean(red), np.sqrt(x.var(red) + 1e-3)
    r = np.clip(sb / sigma, 1 / r_max, r_max)
    xhat = (x - mb) / sb
    g = upstream * gamma * r
    expected = (g - g.mean(red) - xhat * (g * xhat).mean(red)) / sb
    np.testing.assert_allclose(grad, expected, atol=TOL, rtol=1e-3)


def test_plain_bn_limits_equal_keras_batchnorm_training_output():
    batches = make_batches((16, 4, 4, 3), 30, seed=8)
    ours = BatchRenormalization(r_max=1.0, d_max=0.0, momentum=0.9)
    keras_bn = keras.layers.BatchNormalization(momentum=0.9)
    ours.build(batches[0].shape)
    keras_bn.build(batches[0].shape)
    gamma, beta = set_affine(ours, 9)
    keras_bn.gamma.assign(gamma.astype(np.float32))
    keras_bn.beta.assign(beta.astype(np.float32))
    for x in batches:
        np.testing.assert_allclose(ours(x, training=True), keras_bn(x, training=True), atol=TOL, rtol=TOL)


@pytest.mark.parametrize("r_max,d_max", [(1.5, 0.5), (3.0, 5.0)])
def test_agrees_with_keras_renorm(r_max, d_max):
    """With momentum == renorm_momentum Keras's two sets of statistics coincide with our one.

    Comparable quantities: training outputs; our (mu, sigma) vs Keras moving_mean/moving_stddev and
    renorm_mean/renorm_stddev; inference outputs once Keras has updated, since its inference uses
    moving_variance = relu(stddev**2 - eps) + eps = stddev**2 (before the first update it uses the
    initial variance 1 + eps while our sigma starts at 1).
    """
    batches = make_batches((16, 4, 4, 3), 30, seed=10)
    ours = BatchRenormalization(momentum=0.9, r_max=r_max, d_max=d_max)
    theirs = keras.layers.BatchNormalization(
        momentum=0.9,
        renorm=True,
        renorm_momentum=0.9,
        renorm_clipping={"rmax": r_max, "rmin": 1 / r_max, "dmax": d_max},
    )
    ours.build(batches[0].shape)
    theirs.build(batches[0].shape)
    gamma, beta = set_affine(ours, 11)
    theirs.gamma.assign(gamma.astype(np.float32))
    theirs.beta.assign(beta.astype(np.float32))
    for x in batches:
        np.testing.assert_allclose(ours(x, training=True), theirs(x, training=True), atol=TOL, rtol=TOL)
        for keras_mean, keras_std in (
            (theirs.moving_mean, theirs.moving_stddev),
            (theirs.renorm_mean, theirs.renorm_stddev),
        ):
            np.testing.assert_allclose(ours.moving_mean.numpy(), keras_mean.numpy(), atol=TOL, rtol=TOL)
            np.testing.assert_allclose(ours.moving_stddev.numpy(), keras_std.numpy(), atol=TOL, rtol=TOL)
        np.testing.assert_allclose(ours(x, training=False), theirs(x, training=False), atol=TOL, rtol=TOL)
    ref = reference_brn(batches, momentum=0.9, gamma=gamma, beta=beta, limits=lambda s: (r_max, d_max))
    hit = [
        np.any(np.abs(np.log(s["r"])) >= np.log(r_max) - 1e-12) or np.any(np.abs(s["d"]) >= d_max - 1e-12) for s in ref
    ]
    assert any(hit) and (r_max == 1.5 or not all(hit))  # clipping exercised; the loose case also has unclipped steps


# ---------------------------------------------------------------- schedule inside compiled training

SCHEDULE = dict(r_max=3.0, d_max=2.0, warmup_steps=5, r_max_ramp_end=15, d_max_ramp_end=10)


def _limits(step):
    s = SCHEDULE
    return reference_limits(step, s["r_max"], s["d_max"], s["warmup_steps"], s["r_max_ramp_end"], s["d_max_ramp_end"])


def test_schedule_values_and_clamping():
    layer = BatchRenormalization(**SCHEDULE)
    layer.build((4, 2))
    expected = {0: (1.0, 0.0), 4: (1.0, 0.0), 5: (1.0, 0.0), 10: (2.0, 2.0), 15: (3.0, 2.0), 1000: (3.0, 2.0)}
    for step, (r_max, d_max) in expected.items():
        layer.step.assign(step)
        assert layer.current_clip_limits() == pytest.approx((r_max, d_max))
        assert _limits(step) == pytest.approx((r_max, d_max))
    # None: final values right after the warm-up
    layer = BatchRenormalization(r_max=2.0, d_max=1.0, warmup_steps=3)
    layer.build((4, 2))
    for step, want in ((2, (1.0, 0.0)), (3, (2.0, 1.0)), (50, (2.0, 1.0))):
        layer.step.assign(step)
        assert layer.current_clip_limits() == pytest.approx(want)


def test_schedule_advances_inside_tf_function_loop():
    batches = make_batches((16, 6), 25, seed=12)
    layer = BatchRenormalization(momentum=0.8, **SCHEDULE)
    layer.build(batches[0].shape)
    stacked = tf.constant(np.stack(batches))

    @tf.function
    def run(xs):
        outputs = tf.TensorArray(tf.float32, size=xs.shape[0])
        for i in tf.range(xs.shape[0]):
            outputs = outputs.write(i, layer(xs[i], training=True))
        return outputs.stack()

    ys = run(stacked).numpy()
    ref = reference_brn(batches, momentum=0.8, gamma=1.0, beta=0.0, limits=_limits)
    for step, want in enumerate(ref):
        np.testing.assert_allclose(ys[step], want["y"], atol=TOL, rtol=TOL)
    assert int(layer.step.numpy()) == 25
    # the reference's limits matter here: with frozen limits the outputs differ
    frozen = reference_brn(batches, momentum=0.8, gamma=1.0, beta=0.0, limits=lambda s: (1.0, 0.0))
    assert np.abs(frozen[-1]["y"] - ys[-1]).max() > 1e-2


@pytest.mark.parametrize("steps_per_execution", [1, 7])
def test_schedule_advances_inside_model_fit(steps_per_execution):
    batches = make_batches((16, 6), 7, seed=13)
    layer = BatchRenormalization(momentum=0.8, **SCHEDULE)
    model = keras.Sequential([keras.Input((6,)), layer])
    model.compile(optimizer=keras.optimizers.SGD(0.0), loss="mse", steps_per_execution=steps_per_execution)
    x = np.concatenate(batches)
    model.fit(x, np.zeros_like(x), batch_size=16, epochs=1, shuffle=False, verbose=0)
    assert int(layer.step.numpy()) == 7
    assert layer.current_clip_limits() == pytest.approx(_limits(7))
    ref = reference_brn(batches, momentum=0.8, gamma=1.0, beta=0.0, limits=_limits)
    np.testing.assert_allclose(layer.moving_mean.numpy(), ref[-1]["mu"], atol=TOL, rtol=TOL)
    # next compiled training call uses step 7's limits (r_max 1.4, d_max 0.8)
    probe = make_batches((16, 6), 1, seed=14)[0] * 3 + 2
    want = reference_brn(batches + [probe], momentum=0.8, gamma=1.0, beta=0.0, limits=_limits)[-1]["y"]
    got = tf.function(lambda t: layer(t, training=True))(tf.constant(probe)).numpy()
    np.testing.assert_allclose(got, want, atol=TOL, rtol=TOL)


# ---------------------------------------------------------------- microbatches


def test_microbatches_are_contiguous_groups():
    # Sorted batch: contiguous groups differ strongly from strided ones.
    batches = [np.sort(b, axis=0) for b in make_batches((16, 3, 3, 4), 30, seed=15)]
    layer = BatchRenormalization(momentum=0.9, r_max=1.5, d_max=0.5, microbatch_size=4)
    layer.build(batches[0].shape)
    gamma, beta = set_affine(layer, 16)
    ref = reference_brn(batches, momentum=0.9, gamma=gamma, beta=beta, limits=lambda s: (1.5, 0.5), microbatch=4)
    compiled = tf.function(lambda t: layer(t, training=True))
    for x, want in zip(batches, ref, strict=False):
        np.testing.assert_allclose(compiled(tf.constant(x)).numpy(), want["y"], atol=TOL, rtol=TOL)
        np.testing.assert_allclose(layer.moving_mean.numpy(), want["mu"], atol=TOL, rtol=TOL)
        np.testing.assert_allclose(layer.moving_stddev.numpy(), want["sigma"], atol=TOL, rtol=TOL)


def test_microbatch_batchnorm_matches_ghost_batch_reference():
    batches = [np.sort(b, axis=0) for b in make_batches((12, 5), 10, seed=17)]
    layer = MicrobatchBatchNormalization(microbatch_size=3, momentum=0.9)
    mean, var = np.zeros(5), np.ones(5)
    for x in batches:
        g = x.astype(np.float64).reshape(4, 3, 5)
        want = (g - g.mean(1, keepdims=True)) / np.sqrt(g.var(1, keepdims=True) + 1e-3)
        np.testing.assert_allclose(layer(x, training=True).numpy(), want.reshape(12, 5), atol=TOL, rtol=TOL)
        mean = 0.9 * mean + 0.1 * g.mean(1).mean(0)
        var = 0.9 * var + 0.1 * g.var(1).mean(0)
        np.testing.assert_allclose(layer.moving_mean.numpy(), mean, atol=TOL, rtol=TOL)
        np.testing.assert_allclose(layer.moving_variance.numpy(), var, atol=TOL, rtol=TOL)


@pytest.mark.parametrize("cls", [BatchRenormalization, MicrobatchBatchNormalization])
def test_microbatch_rejects_batch_not_multiple(cls):
    layer = cls(microbatch_size=4)
    with pytest.raises(ValueError, match="multiple of microbatch_size=4"):
        layer(np.ones((10, 3), np.float32), training=True)
    compiled = tf.function(lambda t: layer(t, training=True), input_signature=[tf.TensorSpec([None, 3])])
    compiled(tf.ones((8, 3)))
    with pytest.raises(tf.errors.InvalidArgumentError, match="multiple of microbatch_size=4"):
        compiled(tf.ones((10, 3)))


# ---------------------------------------------------------------- dtypes, serialization, arguments


def test_mixed_precision_keeps_float32_statistics():
    batches = make_batches((16, 4, 4, 3), 5, seed=18)
    layer = BatchRenormalization(dtype="mixed_float16", momentum=0.9, r_max=1.5, d_max=0.5)
    reference = BatchRenormalization(momentum=0.9, r_max=1.5, d_max=0.5)
    model = keras.Sequential([keras.Input((4, 4, 3)), layer])
    model.compile(optimizer="sgd", loss="mse")
    for x in batches:
        y16 = layer(tf.constant(x, tf.float16), training=True)
        y32 = reference(x, training=True)
        assert y16.dtype == tf.float16
        np.testing.assert_allclose(y16.numpy().astype(np.float32), y32.numpy(), atol=2e-2, rtol=1e-2)
    for var in (layer.gamma, layer.beta, layer.moving_mean, layer.moving_stddev):
        assert var.dtype == "float32"
    np.testing.assert_allclose(layer.moving_stddev.numpy(), reference.moving_stddev.numpy(), rtol=1e-3)
    x = np.concatenate(batches)
    model.fit(x, x, batch_size=16, verbose=0)
    assert np.all(np.isfinite(layer.moving_stddev.numpy()))


def test_config_round_trip_and_keras_file(tmp_path):
    layer = BatchRenormalization(
        axis=1,
        momentum=0.9,
        epsilon=1e-2,
        r_max=2.0,
        d_max=1.0,
        warmup_steps=3,
        r_max_ramp_end=9,
        d_max_ramp_end=6,
        microbatch_size=2,
        center=False,
        gamma_regularizer="l2",
        name="brn",
    )
    config = layer.get_config()
    clone = BatchRenormalization.from_config(config)
    assert clone.get_config() == config
    assert config["r_max_ramp_end"] == 9 and config["microbatch_size"] == 2 and config["center"] is False

    model = keras.Sequential(
        [keras.Input((3, 4)), BatchRenormalization(axis=1, warmup_steps=2, r_max_ramp_end=6, name="brn")]
    )
    model.compile(optimizer="sgd", loss="mse")
    batches = make_batches((8, 3, 4), 5, seed=19, axis=1)
    model.fit(np.concatenate(batches), np.zeros((40, 3, 4)), batch_size=8, verbose=0)
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    probe = batches[0] * 2 + 1
    np.testing.assert_array_equal(model(probe, training=False).numpy(), loaded(probe, training=False).numpy())
    assert int(loaded.get_layer("brn").step.numpy()) == 5
    np.testing.assert_array_equal(model(probe, training=True).numpy(), loaded(probe, training=True).numpy())


@pytest.mark.parametrize(
    "kwargs,name",
    [
        (dict(r_max=0.5), "r_max"),
        (dict(d_max=-1.0), "d_max"),
        (dict(momentum=1.0), "momentum"),
        (dict(momentum=0.0), "momentum"),
        (dict(epsilon=0.0), "epsilon"),
        (dict(microbatch_size=0), "microbatch_size"),
        (dict(warmup_steps=-1), "warmup_steps"),
        (dict(warmup_steps=10, r_max_ramp_end=5), "r_max_ramp_end"),
    ],
)
def test_bad_arguments_name_argument_and_value(kwargs, name):
    with pytest.raises(ValueError) as info:
        BatchRenormalization(**kwargs)
    message = str(info.value)
    assert f"{name}=" in message and repr(kwargs[name]) in message


def test_r_and_d_are_not_weights_and_step_is_not_trainable():
    layer = BatchRenormalization()
    layer.build((4, 3))
    assert sorted(v.name for v in layer.trainable_weights) == ["beta", "gamma"]
    assert sorted(v.name for v in layer.non_trainable_weights) == ["moving_mean", "moving_stddev", "step"]


@settings(max_examples=60, deadline=None)
@given(
    warmup=st.integers(0, 50),
    r_extra=st.one_of(st.none(), st.integers(0, 60)),
    d_extra=st.one_of(st.none(), st.integers(0, 60)),
    step=st.integers(0, 200),
    r_max=st.floats(1.0, 10.0),
    d_max=st.floats(0.0, 10.0),
)
def test_in_graph_schedule_matches_reference(warmup, r_extra, d_extra, step, r_max, d_max):
    """The limits the training graph uses equal the reference schedule and never leave [1, r_max] x [0, d_max]."""
    r_end = None if r_extra is None else warmup + r_extra
    d_end = None if d_extra is None else warmup + d_extra
    layer = BatchRenormalization(
        r_max=r_max, d_max=d_max, warmup_steps=warmup, r_max_ramp_end=r_end, d_max_ramp_end=d_end
    )
    layer.build((2, 1))
    layer.step.assign(step)
    got = [float(v) for v in layer.limits_tensor()]
    want = reference_limits(step, r_max, d_max, warmup, r_end, d_end)
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)
    assert layer.current_clip_limits() == pytest.approx(want)
    assert 1.0 - 1e-6 <= got[0] <= r_max + 1e-5 and -1e-6 <= got[1] <= d_max + 1e-5
