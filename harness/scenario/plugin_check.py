"""Checking plugin normalizers and models at validation, before anything runs.

Only a scenario that names a plugin comes here (TensorFlow is imported for it; built-ins are validated in
pure Python). A plugin normalizer must import (`harness.norms.kinds.get`), construct with the scenario's
arguments, and keep the shape of its input on a small dummy batch in training and inference mode; a plugin
model must build a functional Keras model with one output of `num_classes` logits with every normalizer of
the scenario. Each failure is one `ScenarioError` naming the field: `normalizers.<name>.kind` (or the
parameter the constructor rejected), or `model.name`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, cast

from harness.errors import ScenarioError
from harness.plugins.resolve import one_line
from harness.runtime import heavy

if TYPE_CHECKING:
    from harness.data.sources import Dataset
    from harness.scenario import Scenario

Blame = Callable[..., ScenarioError]
"""`blame(reason, error=None)`: the ScenarioError naming the field at fault (`check_plugins`)."""


def _rejected_parameter(error: BaseException, cfg: Mapping[str, Any]) -> str:
    """The parameter a constructor's error names (Keras style "Argument `x`", or an unexpected keyword)."""
    text = str(error)
    for pattern in (r"Argument `(\w+)`", r"unexpected keyword argument '(\w+)'"):
        match = re.search(pattern, text)
        if match and match.group(1) in cfg and match.group(1) != "kind":
            return match.group(1)
    return "kind"


def check_constructs(name: str, cfg: Mapping[str, Any]) -> None:
    """The plugin normalizer `normalizers.<name>` constructs with its arguments, into a Keras layer."""
    from harness.norms import kinds

    keras = heavy.keras()

    kind = kinds.get(cfg["kind"])
    params = {k: v for k, v in cfg.items() if k != "kind"}
    try:
        layer = cast(Callable[..., Any], kind.build)("norm_check", **params)  # a plugin always has one
    except Exception as error:  # noqa: BLE001 - any failure of the user's constructor is reported in one line
        param = _rejected_parameter(error, cfg)
        raise ScenarioError(f"normalizers.{name}.{param}", cfg[param],
                            f"could not be constructed ({one_line(error)})") from None
    if not isinstance(layer, keras.layers.Layer):
        raise ScenarioError(f"normalizers.{name}.kind", cfg["kind"],
                            f"returned {type(layer).__name__}, not a keras.layers.Layer")


def check_output_values(outputs: Sequence[Any], layers: Sequence[Any], mode: str, blame: Blame) -> None:
    """Each normalization layer's output (`outputs[len(layers):-1]`) and the logits (`outputs[-1]`) of one call
    in `mode` are floating point and finite: an integer output cuts the gradient, a NaN one makes every
    accuracy meaningless (harness.results.finite). `blame(reason)` is the ScenarioError to raise."""
    import numpy as np

    for layer, output in zip(layers, outputs[len(layers):-1], strict=False):
        if output.dtype.kind != "f":
            raise blame(f"gives {output.dtype} output in {mode} mode, not floating point (layer {layer.name}): "
                        "no gradient passes it")
        if not np.isfinite(output).all():
            raise blame(f"gives non-finite output (NaN or infinity) in {mode} mode on a dummy batch "
                        f"(layer {layer.name})")
    if not np.isfinite(outputs[-1]).all():
        raise blame(f"makes the logits non-finite (NaN or infinity) in {mode} mode on a dummy batch")


def check_training_step(model: Any, layers: Sequence[Any], x: Any, num_classes: int, blame: Blame) -> None:
    """One training step's gradients on `x` (random labels): finite, and reaching every trainable weight of the
    layers outside normalization (a layer that cuts the gradient leaves the layers before it untrained)."""
    import numpy as np

    tf = heavy.tensorflow()

    labels = np.random.default_rng(0).integers(0, num_classes, len(x))
    norm_weights = {id(w) for layer in layers for w in layer.trainable_weights}
    weights = list(model.trainable_weights)
    try:
        with tf.GradientTape() as tape:
            logits = model(x, training=True)
            loss = tf.reduce_mean(tf.keras.losses.sparse_categorical_crossentropy(labels, logits, from_logits=True))
        gradients = tape.gradient(loss, weights)
    except Exception as error:  # noqa: BLE001 - a layer that cannot be differentiated, in one line
        raise blame("fails a training step on a dummy batch", error) from None
    for weight, gradient in zip(weights, gradients, strict=False):
        if gradient is None and id(weight) not in norm_weights:
            raise blame(f"cuts the gradient in a training step: no gradient reaches {weight.path}")
        if gradient is not None and not np.isfinite(np.asarray(gradient)).all():
            raise blame(f"gives non-finite gradients (NaN or infinity) in a training step ({weight.path})")


def check_plugins(scenario: Scenario, dataset: Dataset) -> None:
    """Build the model with each normalizer that involves a plugin and run it on a dummy batch."""
    import numpy as np

    from harness.models import kinds as model_kinds
    from harness.models.builders import build_model, normalization_layers, reference_weights, seeded, transplant
    from harness.norms import kinds

    keras = heavy.keras()

    model_name = scenario.model["name"]
    model_plugin = model_kinds.get(model_name).plugin
    batch_size = scenario.training["batch_size"]
    x = np.random.default_rng(0).standard_normal((batch_size, *dataset.input_shape)).astype(np.float32)
    for name, cfg in scenario.normalizers.items():
        norm_plugin = kinds.get(cfg["kind"]).plugin
        if not (model_plugin or norm_plugin):
            continue

        def blame(reason: str, error: BaseException | None = None, name: str = name, cfg: Mapping[str, Any] = cfg,
                  norm_plugin: bool = norm_plugin) -> ScenarioError:  # the loop's values bound: called in it only
            """The field to name: the plugin normalizer, else the plugin model."""
            detail = f" ({one_line(error)})" if error is not None else ""
            if norm_plugin:
                return ScenarioError(f"normalizers.{name}.kind", cfg["kind"], reason + detail)
            return ScenarioError("model.name", model_name, reason + f" with normalizer {name}" + detail)

        try:
            with seeded(0):
                model = build_model(scenario.model, cfg, dataset.input_shape, dataset.num_classes, scenario.seeds[0])
        except model_kinds.ModelConfigError as error:
            raise ScenarioError("model.name", model_name, error.reason) from None
        except Exception as error:  # noqa: BLE001 - a builder's or layer's failure, in one line
            if model_plugin and not norm_plugin:
                raise ScenarioError("model.name", model_name,
                                    f"could not be built with normalizer {name} ({one_line(error)})") from None
            raise blame(f"could not be built into model {model_name}", error) from None
        layers = normalization_layers(model)
        probe = keras.Model(model.inputs, [layer.input for layer in layers] + [layer.output for layer in layers]
                            + [model.outputs[0]])
        for training in (True, False):
            mode = "training" if training else "inference"
            try:
                outputs = [np.asarray(value) for value in probe(x, training=training)]
            except Exception as error:  # noqa: BLE001
                raise blame(f"fails on a dummy batch of {batch_size} in {mode} mode", error) from None
            for i, layer in enumerate(layers):
                before, after = outputs[i].shape, outputs[len(layers) + i].shape
                if before != after:
                    raise blame(f"changes the shape of its input in {mode} mode: {before} -> {after} "
                                f"(layer {layer.name})")
            if outputs[-1].shape != (batch_size, dataset.num_classes):
                raise ScenarioError("model.name", model_name, f"gives logits of shape {outputs[-1].shape} in {mode} "
                                                              f"mode, not {(batch_size, dataset.num_classes)}")
            check_output_values(outputs, layers, mode, blame)
        check_training_step(model, layers, x, dataset.num_classes, blame)
        try:  # after the shape checks: a layer that changes shapes changes the layers after it too
            transplant(model, reference_weights(scenario.model, dataset.input_shape, dataset.num_classes,
                                                scenario.seeds[0]))
        except ValueError as error:
            if model_plugin and not norm_plugin:
                raise ScenarioError("model.name", model_name, f"cannot be paired ({one_line(error)})") from None
            raise blame("makes the layers outside normalization differ, so initial weights cannot be paired",
                        error) from None
