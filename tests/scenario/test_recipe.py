"""The training recipe: strict validation of its fields, and the optimizers, schedules and losses it builds,
checked against hand-computed values."""

import math

import numpy as np
import pytest

from harness.scenario import ScenarioError, validate


def _training(tiny_scenario, **fields):
    tiny_scenario["training"].update(fields)
    return validate(tiny_scenario, check_feasibility=False).training


def test_defaults_are_the_old_recipe(tiny_scenario):
    training = validate(tiny_scenario, check_feasibility=False).training
    assert training["optimizer"] == "adam" and training["weight_decay"] == 0.0
    assert training["lr_schedule"] == {"kind": "constant"} and training["label_smoothing"] == 0.0
    assert training["momentum"] is None and training["nesterov"] is False and training["mixed_precision"] is False


def test_schedule_defaults_are_filled(tiny_scenario):
    training = _training(tiny_scenario, lr_schedule={"kind": "cosine", "warmup_steps": 5})
    assert training["lr_schedule"] == {"kind": "cosine", "warmup_steps": 5, "alpha": 0.0}


@pytest.mark.parametrize("fields, expected", [
    ({"optimizer": "lamb"}, "training.optimizer: 'lamb' is not one of adam, adamw, sgd, momentum, rmsprop"),
    ({"optimizer": "adam", "momentum": 0.9},
     "training.momentum: 0.9 applies to optimizer sgd (or momentum) only, not adam"),
    ({"optimizer": "rmsprop", "nesterov": True}, "training.nesterov: true applies to optimizer sgd"),
    ({"optimizer": "sgd", "nesterov": True}, "training.nesterov: true needs training.momentum > 0"),
    ({"optimizer": "sgd", "momentum": 1.5}, "training.momentum: 1.5 must be <= 1"),
    ({"weight_decay": -0.1}, "training.weight_decay: -0.1 must be >= 0"),
    ({"label_smoothing": 2}, "training.label_smoothing: 2.0 must be <= 1"),
    ({"lr_schedule": "cosine"}, "training.lr_schedule: 'cosine' must be dict, got str"),
    ({"lr_schedule": {"kind": "linear"}}, "training.lr_schedule.kind: 'linear' is not one of constant, cosine, step"),
    ({"lr_schedule": {"kind": "cosine", "warmup": 3}},
     "training.lr_schedule.warmup: unknown key (did you mean 'warmup_steps'?)"),
    ({"lr_schedule": {"kind": "cosine", "warmup_steps": 20}},
     "training.lr_schedule.warmup_steps: 20 must be fewer than training.steps 20"),
    ({"lr_schedule": {"kind": "step", "factors": [0.1]}}, "training.lr_schedule.boundaries: is required"),
    ({"lr_schedule": {"kind": "step", "boundaries": [10, 5], "factors": [0.1, 0.01]}},
     "training.lr_schedule.boundaries: [10, 5] must be strictly increasing"),
    ({"lr_schedule": {"kind": "step", "boundaries": [5, 10], "factors": [0.1]}},
     "training.lr_schedule.factors: [0.1] must have one factor per boundary (2)"),
])
def test_bad_recipe_fields(tiny_scenario, fields, expected):
    tiny_scenario["training"].update(fields)
    with pytest.raises(ScenarioError) as error:
        validate(tiny_scenario, check_feasibility=False)
    assert str(error.value).startswith(expected), str(error.value)


def test_smoke_scales_the_schedule(tiny_scenario):
    tiny_scenario["training"].update(steps=600, lr_schedule={"kind": "step", "boundaries": [300, 301, 450],
                                                             "factors": [0.1, 0.05, 0.01]})
    smoke = validate(tiny_scenario, check_feasibility=False).smoke()
    assert smoke.training["steps"] == 60 and smoke.training["lr_schedule"]["boundaries"] == [30, 31, 45]
    tiny_scenario["training"]["lr_schedule"] = {"kind": "cosine", "warmup_steps": 100}
    assert validate(tiny_scenario, check_feasibility=False).smoke().training["lr_schedule"]["warmup_steps"] == 10


def _rate(schedule, step):
    return float(schedule(step)) if callable(schedule) else schedule


def test_cosine_schedule_with_linear_warm_up_matches_the_formula():
    from harness.scenario.recipe import make_schedule

    rate, steps, warmup = 0.1, 1000, 100
    schedule = make_schedule({"learning_rate": rate, "steps": steps,
                              "lr_schedule": {"kind": "cosine", "warmup_steps": warmup, "alpha": 0.0}})
    for step in (0, 50, 100, 325, 550, 999):
        if step < warmup:
            expected = rate * step / warmup
        else:
            expected = rate * 0.5 * (1 + math.cos(math.pi * (step - warmup) / (steps - warmup)))
        assert _rate(schedule, step) == pytest.approx(expected, rel=1e-5, abs=1e-7), step


def test_step_schedule_and_constant():
    from harness.scenario.recipe import make_schedule

    schedule = make_schedule({"learning_rate": 0.2, "steps": 100,
                              "lr_schedule": {"kind": "step", "boundaries": [50, 75], "factors": [0.1, 0.01]}})
    # keras PiecewiseConstantDecay: the first value up to and including the boundary
    assert [_rate(schedule, s) for s in (0, 50, 51, 75, 76)] == pytest.approx([0.2, 0.2, 0.02, 0.02, 0.002])
    assert make_schedule({"learning_rate": 0.3, "steps": 10, "lr_schedule": {"kind": "constant"}}) == 0.3


def _bn_model():

    from harness.models.builders import build_model

    return build_model({"name": "mlp", "widths": [4]}, {"kind": "batchnorm", "axis": -1, "momentum": 0.99,
                                                        "epsilon": 1e-3, "microbatch_size": None}, (3,), 2, seed=0)


def test_decoupled_weight_decay_skips_normalization_and_biases():
    """One SGD step with zero gradients: kernels shrink by lr * wd, normalization parameters and biases do not."""
    from harness.scenario.recipe import make_optimizer

    model = _bn_model()
    lr, wd = 0.1, 0.01
    optimizer = make_optimizer({"optimizer": "sgd", "learning_rate": lr, "steps": 10, "weight_decay": wd,
                                "lr_schedule": {"kind": "constant"}}, model)
    before = [v.numpy().copy() for v in model.trainable_variables]
    optimizer.apply_gradients([(np.zeros(v.shape, np.float32), v) for v in model.trainable_variables])
    norm_variables = {id(v) for layer in model.layers if layer.name.startswith("norm_")
                      for v in layer.trainable_variables}
    decayed = 0
    for variable, old in zip(model.trainable_variables, before, strict=False):
        if id(variable) in norm_variables or variable.name == "bias":
            np.testing.assert_array_equal(variable.numpy(), old)
        else:
            np.testing.assert_allclose(variable.numpy(), old * (1 - lr * wd), rtol=1e-6)
            decayed += 1
    assert decayed == 2  # the two kernels

    everything = make_optimizer({"optimizer": "sgd", "learning_rate": lr, "steps": 10, "weight_decay": wd,
                                 "exclude_norm_and_bias_from_weight_decay": False,
                                 "lr_schedule": {"kind": "constant"}}, model)
    before = [v.numpy().copy() for v in model.trainable_variables]
    everything.apply_gradients([(np.zeros(v.shape, np.float32), v) for v in model.trainable_variables])
    for variable, old in zip(model.trainable_variables, before, strict=False):
        np.testing.assert_allclose(variable.numpy(), old * (1 - lr * wd), rtol=1e-6)


def test_nesterov_sgd_matches_the_update_rule():
    """Keras's Nesterov SGD: v = m v - lr g; w += m v - lr g (two steps by hand)."""
    import keras

    from harness.scenario.recipe import make_optimizer

    w = keras.Variable(np.array([1.0, -2.0], np.float32))
    optimizer = make_optimizer({"optimizer": "sgd", "learning_rate": 0.1, "momentum": 0.9, "nesterov": True,
                                "steps": 10, "lr_schedule": {"kind": "constant"}})
    expected, velocity = np.array([1.0, -2.0]), np.zeros(2)
    for gradient in (np.array([0.5, 1.0]), np.array([-1.0, 0.25])):
        optimizer.apply_gradients([(gradient.astype(np.float32), w)])
        velocity = 0.9 * velocity - 0.1 * gradient
        expected = expected + 0.9 * velocity - 0.1 * gradient
    np.testing.assert_allclose(w.numpy(), expected, rtol=1e-6)


def test_label_smoothing_matches_numpy():
    from harness.scenario.recipe import make_loss

    logits = np.array([[2.0, -1.0, 0.5], [0.0, 1.0, 3.0]], np.float32)
    labels = np.array([0, 2])
    eps, k = 0.2, 3
    targets = np.full((2, k), eps / k)
    targets[np.arange(2), labels] += 1 - eps
    log_p = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    expected = -(targets * log_p).sum(axis=1).mean()
    assert float(make_loss({"label_smoothing": eps})(labels, logits)) == pytest.approx(expected, rel=1e-5)
    plain = -log_p[np.arange(2), labels].mean()
    assert float(make_loss({"label_smoothing": 0.0})(labels, logits)) == pytest.approx(plain, rel=1e-5)


def test_adamw_and_mixed_precision_build():
    import keras

    from harness.scenario.recipe import make_optimizer, precision_scope

    adamw = make_optimizer({"optimizer": "adamw", "learning_rate": 1e-3, "weight_decay": 0.05, "steps": 10,
                            "lr_schedule": {"kind": "constant"}})
    assert isinstance(adamw, keras.optimizers.AdamW) and adamw.weight_decay == pytest.approx(0.05)
    training = {"optimizer": "adam", "learning_rate": 1e-3, "steps": 10, "lr_schedule": {"kind": "constant"},
                "mixed_precision": True}
    assert isinstance(make_optimizer(training), keras.optimizers.LossScaleOptimizer)
    with precision_scope(training):
        layer = keras.layers.Dense(2)
    assert layer.compute_dtype == "float16" and layer.variable_dtype == "float32"
    assert keras.config.dtype_policy().name == "float32"  # restored


def test_mixed_precision_trial_trains_and_is_analysed(tiny_scenario, tmp_path):
    """float16 compute with loss scaling: the trial finishes with finite losses and every metric."""
    from harness.run.runner import run

    tiny_scenario["training"]["mixed_precision"] = True
    tiny_scenario["model"] = {"name": "convnet", "widths": [8]}
    tiny_scenario["normalizers"] = {"bn": tiny_scenario["normalizers"]["bn"]}
    tiny_scenario["samplers"] = {"iid": {"kind": "iid"}}
    tiny_scenario["seeds"] = [0]
    [result] = run(validate(tiny_scenario), str(tmp_path), quiet=True)
    assert result["status"] == "ok", result["error"]
    assert all(math.isfinite(v) for v in result["final"].values())
    assert ({"acc_inference", "acc_precise_iid", "acc_precise_own", "logit_kl"} <= set(result["final"])
            and result["layers"])
