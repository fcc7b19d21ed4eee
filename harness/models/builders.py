"""Models: Keras networks whose every normalization layer comes from one normalizer config.

`build_model` builds the scenario's model from its registry entry (`harness.models.kinds`, one module per
built-in network): the builder gets `norm`, which returns a new layer of the scenario's normalizer per slot,
named `norm_1`, `norm_2`, ... in the order they are asked for (the analyzer finds them by that prefix); a
builder that never calls `norm` gets each `keras.layers.BatchNormalization` of its model replaced by the
scenario's normalizer (same axis).

This module imports Keras at its top and is itself imported only when a model is built: the built-in kinds'
builders (`harness/models/kinds/`) take `Layers` and `keras` from it inside their functions, so declaring and
validating a kind imports no TensorFlow. The built-in networks initialise their weights from explicit per-layer
seeds (`Layers`). Pairing does not rely
on it: every trial of a seed gets the non-normalization weights of one reference model (`reference_weights`),
whatever the normalizer and however the model's initializers are seeded.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import inspect
import json
import random
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import keras
import numpy as np

from harness.models.kinds import ModelConfigError

NORM_PREFIX = "norm_"


class Layers:
    """The built-in networks' building blocks: numbers the weight layers it creates so their initial weights depend
    on the seed alone."""

    def __init__(self, norm: Callable[[], Any], seed: int) -> None:
        """`norm()` makes a new normalization layer; `seed` seeds every weight layer's initializer."""
        self.make_norm = norm
        self.seed = seed
        self.weight_layers = 0

    def _initializer(self) -> Any:
        self.weight_layers += 1
        return keras.initializers.GlorotUniform(seed=self.seed * 1009 + self.weight_layers)

    def dense(self, x: Any, units: int) -> Any:
        """A seeded Dense layer of `units` applied to `x`."""
        return keras.layers.Dense(units, kernel_initializer=self._initializer())(x)

    def conv(self, x: Any, filters: int, kernel_size: int = 3, strides: int = 1) -> Any:
        """A seeded 'same'-padded Conv2D applied to `x`."""
        return keras.layers.Conv2D(
            filters, kernel_size, strides=strides, padding="same", kernel_initializer=self._initializer()
        )(x)

    def norm(self, x: Any) -> Any:
        """A new normalization layer applied to `x`."""
        return self.make_norm()(x)

    def norm_relu(self, x: Any) -> Any:
        """A new normalization layer, then ReLU, applied to `x`."""
        return keras.layers.ReLU()(self.norm(x))


def build_model(model_config: dict[str, Any], normalizer_config: dict[str, Any], input_shape: Sequence[int],
                num_classes: int, seed: int) -> Any:
    """The scenario's network with `normalizer_config` in every normalization slot; outputs logits.

    Raises ModelConfigError (param `name`) when the builder returns something that is not a functional
    Keras model with one output of `num_classes` logits; a builder's own exceptions propagate.
    """
    from harness.models import kinds as model_kinds
    from harness.norms import build_normalizer

    name = model_config["name"]
    builder = model_kinds.get(name).load()
    params = {k: v for k, v in model_config.items() if k != "name"}
    slots: list[Any] = []

    def norm() -> Any:
        layer = build_normalizer(normalizer_config, name=f"{NORM_PREFIX}{len(slots) + 1}")
        slots.append(layer)
        return layer

    try:
        accepts_seed = "seed" in inspect.signature(builder).parameters
    except (TypeError, ValueError):
        accepts_seed = False
    model = builder(norm, tuple(input_shape), num_classes, **params, **({"seed": seed} if accepts_seed else {}))
    _check_model(name, model, num_classes)
    if not slots:
        model = replace_batch_normalization(model, normalizer_config)
    return model


def _check_model(name: str, model: Any, num_classes: int) -> None:
    if not isinstance(model, keras.Model):
        raise ModelConfigError("name", name, f"returned {type(model).__name__}, not a keras.Model")
    try:
        outputs = model.outputs
        inputs = model.inputs
    except (AttributeError, ValueError):
        outputs = inputs = None
    if not inputs or not outputs:
        raise ModelConfigError("name", name, "returned a model without symbolic inputs and outputs "
                                             "(build it with keras.Input: a functional or Sequential model)")
    if len(outputs) != 1 or outputs[0].shape[-1] != num_classes:
        shapes = ", ".join(str(tuple(o.shape)) for o in outputs)
        raise ModelConfigError("name", name, f"returned a model whose output is {shapes}, not one output of "
                                             f"{num_classes} logits (batch, {num_classes})")


def replace_batch_normalization(model: Any, normalizer_config: dict[str, Any]) -> Any:
    """`model` with every keras.layers.BatchNormalization replaced by the normalizer (same axis), named
    norm_1, norm_2, ... in layer order; the model itself when it has none."""
    from harness.norms import build_normalizer, kinds

    if not any(isinstance(layer, keras.layers.BatchNormalization) for layer in model.layers):
        return model
    takes_axis = "axis" in kinds.get(normalizer_config["kind"]).parameters
    count = [0]

    def clone(layer: Any) -> Any:
        if isinstance(layer, keras.layers.BatchNormalization):
            count[0] += 1
            config = {**normalizer_config, **({"axis": int(layer.axis)} if takes_axis else {})}
            return build_normalizer(config, name=f"{NORM_PREFIX}{count[0]}")
        return layer.__class__.from_config(layer.get_config())

    def call(layer: Any, *args: Any, **kwargs: Any) -> Any:
        # the BN's recorded call may pass `mask=`; a normalizer whose call does not take it does not get it
        if layer.name.startswith(NORM_PREFIX):
            parameters = inspect.signature(layer.call).parameters
            if not any(p.kind is p.VAR_KEYWORD for p in parameters.values()):
                kwargs = {k: v for k, v in kwargs.items() if k in parameters}
        return layer(*args, **kwargs)

    if isinstance(model, keras.Sequential):
        return keras.models.clone_model(model, clone_function=clone)
    return keras.models.clone_model(model, clone_function=clone, call_function=call)


def normalization_layers(model: Any) -> list[Any]:
    """The model's normalization layers in depth order."""
    layers = [layer for layer in model.layers if layer.name.startswith(NORM_PREFIX)]
    return sorted(layers, key=lambda layer: int(layer.name[len(NORM_PREFIX):]))


def other_layers(model: Any) -> list[Any]:
    """The model's layers with weights that are not normalization layers, in layer order (what pairing
    transplants; weightless layers such as activations, or the float32 cast mixed precision adds, do not count)."""
    return [layer for layer in model.layers if not layer.name.startswith(NORM_PREFIX) and layer.weights]


@contextlib.contextmanager
def seeded(seed: int) -> Iterator[None]:
    """Python's and NumPy's global generators seeded with `seed` inside, restored after: unseeded Keras
    initializers draw their seeds from Python's `random`, so a model built inside is a function of `seed`."""
    python_state, numpy_state = random.getstate(), np.random.get_state()
    random.seed(int(seed))
    np.random.seed(int(seed))
    try:
        yield
    finally:
        random.setstate(python_state)
        np.random.set_state(numpy_state)


@functools.lru_cache(maxsize=32)  # a run's trials go seed by seed within each sampler: 10 seeds x 3 samplers hit it
def _reference(model_json: str, input_shape: tuple[int, ...], num_classes: int,
               seed: int) -> tuple[tuple[str, tuple[np.ndarray, ...]], ...]:
    with seeded(seed):
        model = build_model(json.loads(model_json), {"kind": "none"}, input_shape, num_classes, seed)
    return tuple((type(layer).__name__, tuple(layer.get_weights())) for layer in other_layers(model))


def reference_weights(model_config: dict[str, Any], input_shape: Sequence[int], num_classes: int,
                      seed: int) -> tuple[tuple[str, tuple[np.ndarray, ...]], ...]:
    """Per non-normalization layer (in layer order): (class name, initial weights) of the seed's reference
    model, the model built with no normalization (cached per process)."""
    return _reference(json.dumps(model_config, sort_keys=True), tuple(input_shape), int(num_classes), int(seed))


def transplant(model: Any, reference: Sequence[tuple[str, Sequence[np.ndarray]]]) -> None:
    """Give `model`'s non-normalization layers the reference weights; ValueError if the layers differ."""
    layers = other_layers(model)
    if len(layers) != len(reference) or any(type(layer).__name__ != kind
                                            for layer, (kind, _) in zip(layers, reference, strict=False)):
        raise ValueError("the model's layers outside normalization depend on the normalizer, so its initial "
                         "weights cannot be paired: " f"{[type(layer).__name__ for layer in layers]} vs "
                         f"{[kind for kind, _ in reference]}")
    for layer, (_, weights) in zip(layers, reference, strict=False):
        if weights:
            layer.set_weights(list(weights))


def init_fingerprint(model: Any) -> str:
    """A hash of the model's non-normalization weights (shapes, dtypes and bytes), in layer order."""
    digest = hashlib.sha256()
    for layer in other_layers(model):
        for value in layer.get_weights():
            value = np.ascontiguousarray(value)
            digest.update(f"{value.shape}{value.dtype}".encode())
            digest.update(value.tobytes())
    return digest.hexdigest()[:16]
