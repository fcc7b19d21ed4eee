"""The `mlp` model kind: dense layers, each followed by the normalizer and ReLU (takes tabular input)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from harness.models.kinds import ModelKind, widths, widths_field


def build(norm: Callable[[], Any], input_shape: Sequence[int], num_classes: int, *, widths: Sequence[int],
          seed: int = 0) -> Any:
    """Dense layers of `widths` units, each followed by the normalizer and ReLU."""
    from harness.models.builders import Layers, keras  # Keras is imported when a model is built

    b = Layers(norm, seed)
    inputs = keras.Input(shape=tuple(input_shape), name="images")
    x = keras.layers.Flatten()(inputs)
    for width in widths:
        x = b.norm_relu(b.dense(x, width))
    return keras.Model(inputs, b.dense(x, num_classes), name="mlp")


KIND = ModelKind("mlp", "Dense layers of `widths` units, each followed by the normalizer and ReLU",
                 {"widths": widths_field([128, 128])}, build, None, widths, family="mlp", tabular=True)
