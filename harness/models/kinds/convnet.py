"""The `convnet` model kind: 3x3 convolutions with the normalizer, ReLU and max-pooling between."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from harness.models.kinds import ModelKind, widths, widths_field


def build(norm: Callable[[], Any], input_shape: Sequence[int], num_classes: int, *, widths: Sequence[int],
          seed: int = 0) -> Any:
    """3x3 convolutions (normalizer, ReLU, 2x2 max-pooling between), global average pooling, a dense head."""
    from harness.models.builders import Layers, keras  # Keras is imported when a model is built

    b = Layers(norm, seed)
    inputs = keras.Input(shape=tuple(input_shape), name="images")
    x = inputs
    for i, width in enumerate(widths):
        x = b.norm_relu(b.conv(x, width))
        if i < len(widths) - 1 and x.shape[1] >= 4:
            x = keras.layers.MaxPooling2D(2)(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, b.dense(x, num_classes), name="convnet")


KIND = ModelKind("convnet", "3x3 convolutions of `widths` filters (normalizer, ReLU, 2x2 max-pooling between)",
                 {"widths": widths_field([32, 64])}, build, None, widths, family="convnet", tabular=False)
