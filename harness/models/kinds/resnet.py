"""The `resnet` model kind: a small residual network, one stage of basic blocks per width."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from harness.models.kinds import ModelKind, widths, widths_field
from harness.params.fields import Field


def build(norm: Callable[[], Any], input_shape: Sequence[int], num_classes: int, *, widths: Sequence[int],
          blocks_per_stage: int, seed: int = 0) -> Any:
    """A small residual network: a stem, then one stage of basic blocks per width."""
    from harness.models.builders import Layers, keras  # Keras is imported when a model is built

    b = Layers(norm, seed)
    inputs = keras.Input(shape=tuple(input_shape), name="images")
    x = b.norm_relu(b.conv(inputs, widths[0]))
    for stage, width in enumerate(widths):
        for block in range(blocks_per_stage):
            strides = 2 if stage > 0 and block == 0 and x.shape[1] >= 4 else 1
            shortcut = x
            if strides != 1 or x.shape[-1] != width:
                shortcut = b.norm(b.conv(x, width, kernel_size=1, strides=strides))
            y = b.norm_relu(b.conv(x, width, strides=strides))
            y = b.norm(b.conv(y, width))
            x = keras.layers.ReLU()(keras.layers.Add()([y, shortcut]))
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, b.dense(x, num_classes), name="resnet")


KIND = ModelKind("resnet", "a small residual network: one stage of `blocks_per_stage` basic blocks per width",
                 {"widths": widths_field([16, 32]),
                  "blocks_per_stage": Field(int, 1, low=1, high=8, doc="Basic blocks per stage.")},
                 build, None, widths, family="resnet", tabular=False)
