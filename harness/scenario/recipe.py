"""The training recipe: optimizer, learning-rate schedule, decoupled weight decay, label smoothing.

Validation (`check_training`) imports no TensorFlow; the builders (`make_optimizer`,
`make_schedule`, `make_loss`) use Keras's own optimizers, schedules and losses. The
defaults (Adam, constant rate, no weight decay, no label smoothing) build exactly the
objects the harness built before these fields existed, so old results are unchanged.

Every schedule reads the optimizer's iteration counter, which a trial's reset puts
back to zero, so a trial's learning rate at step t depends on t alone.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from harness.errors import ScenarioError
from harness.params.fields import Field, _check_fields
from harness.runtime import heavy

if TYPE_CHECKING:
    from collections.abc import Iterator
    from contextlib import AbstractContextManager


def _adam(keras: Any, rate: Any, decay: float | None, training: dict[str, Any]) -> Any:
    return keras.optimizers.Adam(rate, weight_decay=decay)


def _adamw(keras: Any, rate: Any, decay: float | None, training: dict[str, Any]) -> Any:
    return keras.optimizers.AdamW(rate, weight_decay=decay or 0.0)


def _sgd(keras: Any, rate: Any, decay: float | None, training: dict[str, Any]) -> Any:
    return keras.optimizers.SGD(rate, momentum=momentum(training), nesterov=bool(training.get("nesterov")),
                                weight_decay=decay)


def _rmsprop(keras: Any, rate: Any, decay: float | None, training: dict[str, Any]) -> Any:
    return keras.optimizers.RMSprop(rate, weight_decay=decay)


# The optimizers `training.optimizer` names, defined here only: name -> builder(keras, learning rate or schedule,
# weight decay or None, training section). Validation (the field's choices), the JSON Schema and
# `make_optimizer` read it. `momentum` is sgd with momentum 0.9 unless `training.momentum` says otherwise.
OPTIMIZERS = {"adam": _adam, "adamw": _adamw, "sgd": _sgd, "momentum": _sgd, "rmsprop": _rmsprop}
# The optimizers `training.momentum` and `training.nesterov` apply to.
MOMENTUM_OPTIMIZERS = tuple(name for name, build in OPTIMIZERS.items() if build is _sgd)

SCHEDULE_FIELDS = {
    "constant": {},
    "cosine": {
        "warmup_steps": Field(int, 0, low=0),
        "alpha": Field(float, 0.0, low=0, high=1),
    },
    "step": {
        "boundaries": Field(list, list_of=int, low=1),
        "factors": Field(list, list_of=float, low=0),
    },
}


def check_schedule(value: Any, steps: int, path: str = "training.lr_schedule") -> dict[str, Any]:
    """The resolved schedule mapping (`kind` plus its parameters with defaults), or a ScenarioError."""
    if not isinstance(value, dict):
        raise ScenarioError(path, value, f"must be a mapping, got {type(value).__name__}")
    kind = Field(str, "constant", choices=tuple(SCHEDULE_FIELDS)).check(f"{path}.kind",
                                                                       value.get("kind", "constant"))
    schedule = {"kind": kind, **_check_fields(path, {k: v for k, v in value.items() if k != "kind"},
                                              SCHEDULE_FIELDS[kind])}
    if kind == "cosine" and schedule["warmup_steps"] >= steps:
        raise ScenarioError(f"{path}.warmup_steps", schedule["warmup_steps"],
                            f"must be fewer than training.steps {steps}")
    if kind == "step":
        boundaries, factors = schedule["boundaries"], schedule["factors"]
        if any(b <= a for a, b in zip(boundaries, boundaries[1:], strict=False)):
            raise ScenarioError(f"{path}.boundaries", boundaries, "must be strictly increasing")
        if len(factors) != len(boundaries):
            raise ScenarioError(f"{path}.factors", factors,
                                f"must have one factor per boundary ({len(boundaries)}): the rate after each "
                                "boundary is learning_rate times that factor")
    return schedule


def scale_schedule(schedule: dict[str, Any], steps: int, new_steps: int) -> dict[str, Any]:
    """The schedule of a run of `steps` shrunk to `new_steps` (for --smoke): warm-up and boundaries scaled."""
    schedule = dict(schedule)
    if schedule["kind"] == "cosine":
        schedule["warmup_steps"] = schedule["warmup_steps"] * new_steps // steps
    elif schedule["kind"] == "step":
        boundaries: list[int] = []
        for boundary in schedule["boundaries"]:
            boundaries.append(max(boundary * new_steps // steps, boundaries[-1] + 1 if boundaries else 1))
        schedule["boundaries"] = boundaries
    return schedule


def check_training(training: dict[str, Any]) -> dict[str, Any]:
    """Cross-field rules of the `training` section (its fields are already type-checked)."""
    name = training["optimizer"]
    if name not in MOMENTUM_OPTIMIZERS:
        for key, unset in (("momentum", None), ("nesterov", False)):
            if training[key] != unset:
                raise ScenarioError(f"training.{key}", training[key],
                                    f"applies to optimizer sgd (or momentum) only, not {name}")
    if training["nesterov"] and momentum(training) == 0:
        raise ScenarioError("training.nesterov", True, "needs training.momentum > 0")
    training["lr_schedule"] = check_schedule(training["lr_schedule"], training["steps"])
    return training


def momentum(training: dict[str, Any]) -> float:
    """SGD momentum: the field if given, else 0.9 for the `momentum` alias and 0 for plain sgd."""
    if training.get("momentum") is not None:
        return training["momentum"]
    return 0.9 if training["optimizer"] == "momentum" else 0.0


def make_schedule(training: dict[str, Any]) -> Any:
    """The learning rate: a float (constant) or a `keras.optimizers.schedules.LearningRateSchedule`."""
    keras = heavy.keras()

    rate = training["learning_rate"]
    schedule = training.get("lr_schedule") or {"kind": "constant"}
    kind = schedule["kind"]
    if kind == "constant":
        return rate
    if kind == "cosine":
        warmup = schedule["warmup_steps"]
        if warmup == 0:
            return keras.optimizers.schedules.CosineDecay(rate, training["steps"], alpha=schedule["alpha"])
        # linear warm-up from 0 to `rate` over `warmup` steps, then cosine decay over the remaining steps
        return keras.optimizers.schedules.CosineDecay(
            0.0, training["steps"] - warmup, alpha=schedule["alpha"], warmup_target=rate, warmup_steps=warmup)
    if kind == "step":
        values = [rate] + [rate * factor for factor in schedule["factors"]]
        return keras.optimizers.schedules.PiecewiseConstantDecay(schedule["boundaries"], values)
    raise ValueError(f"unknown learning-rate schedule. Received: kind={kind!r}")


def weight_decay_exclusions(model: Any) -> list[Any]:
    """Variables that get no weight decay: every normalization layer's, and every bias."""
    from harness.models.builders import normalization_layers

    excluded = [v for layer in normalization_layers(model) for v in layer.trainable_variables]
    excluded += [v for v in model.trainable_variables if v.name == "bias"]
    return excluded


def make_optimizer(training: dict[str, Any], model: Any = None) -> Any:
    """The Keras optimizer of a resolved `training` section.

    Weight decay is Keras's decoupled one (each step, `variable -= learning_rate * weight_decay * variable`);
    with `exclude_norm_and_bias_from_weight_decay` and a model, its normalization parameters and biases are
    left out (`Optimizer.exclude_from_weight_decay`).
    """
    keras = heavy.keras()

    name, rate = training["optimizer"], make_schedule(training)
    decay = training.get("weight_decay") or None
    if name not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer. Received: optimizer={name!r}")
    optimizer = OPTIMIZERS[name](keras, rate, decay, training)
    if decay and model is not None and training.get("exclude_norm_and_bias_from_weight_decay", True):
        optimizer.exclude_from_weight_decay(var_list=weight_decay_exclusions(model))
    if training.get("mixed_precision"):
        optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
    return optimizer


def precision_scope(training: dict[str, Any]) -> AbstractContextManager[None]:
    """A context in which layers are built with the `mixed_float16` policy when `training.mixed_precision`
    (float16 compute, float32 variables; the harness's normalizers compute their statistics in float32)."""
    import contextlib

    keras = heavy.keras()

    if not training.get("mixed_precision"):
        return contextlib.nullcontext()

    @contextlib.contextmanager
    def scope() -> Iterator[None]:
        previous = keras.config.dtype_policy()
        keras.config.set_dtype_policy("mixed_float16")
        try:
            yield
        finally:
            keras.config.set_dtype_policy(previous)

    return scope()


def float32_logits(model: Any, training: dict[str, Any]) -> Any:
    """Under mixed precision, `model` with its logits cast to float32 (losses, softmax and the analyzer want
    them so); otherwise `model` itself."""
    if not training.get("mixed_precision"):
        return model
    keras = heavy.keras()

    logits = keras.layers.Activation("linear", dtype="float32", name="logits_float32")(model.output)
    return keras.Model(model.inputs, logits, name=model.name)


def make_loss(training: dict[str, Any]) -> Callable[[Any, Any], Any]:
    """`loss(labels, logits)`: cross-entropy from logits, with label smoothing when asked for."""
    keras, tf = heavy.keras(), heavy.tensorflow()

    smoothing = training.get("label_smoothing") or 0.0
    if not smoothing:
        return keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    categorical = keras.losses.CategoricalCrossentropy(from_logits=True, label_smoothing=smoothing)

    def loss(labels: Any, logits: Any) -> Any:
        return categorical(tf.one_hot(labels, tf.shape(logits)[-1], dtype=logits.dtype), logits)

    return loss
