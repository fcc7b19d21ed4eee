"""What the CIFAR ResNets of He et al. 2016 share (`resnet20.py`, `resnet32.py`, `resnet56.py` each declare one
depth): the declaration and the network, Keras taken from `harness.models.builders` when a model is built."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from harness.models.kinds import ModelConfigError, ModelKind, widths, widths_field
from harness.params.fields import Field

SHORTCUTS = ("zero_pad", "projection")


def check(params: dict[str, Any]) -> None:
    """Zero-padding shortcuts need non-decreasing widths (ModelConfigError)."""
    widths = params["widths"]
    if params["shortcut"] == "zero_pad" and any(b < a for a, b in zip(widths, widths[1:], strict=False)):
        raise ModelConfigError("widths", widths, "must not decrease with shortcut zero_pad (use projection: "
                                                 "option A pads channels, it cannot drop them)")


def cifar_resnet_kind(depth: int, blocks: int) -> ModelKind:
    """The kind `resnet<depth>`: 3 stages of `blocks` basic blocks (depth = 6 * blocks + 2)."""
    if depth != 6 * blocks + 2:
        raise ValueError(f"depth must be 6 * blocks + 2. Received: depth={depth}, blocks={blocks}")
    return ModelKind(f"resnet{depth}", f"He et al. 2016's CIFAR ResNet-{depth}: 3 stages of {blocks} basic blocks "
                     "(16/32/64 channels); identity shortcuts, zero-padding (option A) or projection (B) where the "
                     "shape changes",
                     {"widths": widths_field([16, 32, 64]),
                      "shortcut": Field(str, "zero_pad", choices=SHORTCUTS,
                                        doc="Where the shape changes: zero_pad (option A) or projection (B).")},
                     _builder(blocks, f"resnet{depth}"), check, widths, family="resnet", tabular=False)


def _network(b: Any, inputs: Any, widths: list[int], num_classes: int, blocks_per_stage: int, shortcut: str) -> Any:
    """The CIFAR ResNet of He et al. 2016 (section 4.2): a 3x3 conv, then one stage per width of
    `blocks_per_stage` basic blocks (3x3 conv, norm, ReLU, 3x3 conv, norm, plus the shortcut, ReLU), the first
    block of every stage after the first halving the resolution; global average pooling; a dense layer.
    Where the shape changes the shortcut is option A (`"zero_pad"`: subsample and pad channels with zeros) or
    option B (`"projection"`: a strided 1x1 conv and a normalization layer); elsewhere it is the identity."""
    from harness.models.builders import keras

    if shortcut == "zero_pad" and any(b < a for a, b in zip(widths, widths[1:], strict=False)):
        raise ValueError(f"zero-padding shortcuts need non-decreasing widths. Received: widths={widths}")
    x = b.norm_relu(b.conv(inputs, widths[0]))
    for stage, width in enumerate(widths):
        for block in range(blocks_per_stage):
            strides = 2 if stage > 0 and block == 0 else 1
            residual = x
            if strides != 1 or x.shape[-1] != width:
                if shortcut == "projection":
                    residual = b.norm(b.conv(x, width, kernel_size=1, strides=strides))
                else:
                    residual = keras.layers.Lambda(zero_pad(width, strides))(x)
            y = b.norm_relu(b.conv(x, width, strides=strides))
            y = b.norm(b.conv(y, width))
            x = keras.layers.ReLU()(keras.layers.Add()([y, residual]))
    x = keras.layers.GlobalAveragePooling2D()(x)
    return b.dense(x, num_classes)


def zero_pad(width: int, strides: int) -> Callable[[Any], Any]:
    """Option A's shortcut: subsample by `strides`, pad the channels with zeros up to `width` (half each side)."""
    def shortcut(x: Any) -> Any:
        from harness.models.builders import keras

        x = x[:, ::strides, ::strides, :]
        missing = width - x.shape[-1]
        return keras.ops.pad(x, [[0, 0], [0, 0], [0, 0], [missing // 2, missing - missing // 2]])

    return shortcut


def _builder(depth_blocks: int, name: str) -> Callable[..., Any]:
    def build(norm: Callable[[], Any], input_shape: Sequence[int], num_classes: int, *,
              widths: Sequence[int] = (16, 32, 64), shortcut: str = "zero_pad", seed: int = 0) -> Any:
        from harness.models.builders import Layers, keras  # Keras is imported when a model is built

        b = Layers(norm, seed)
        inputs = keras.Input(shape=tuple(input_shape), name="images")
        logits = _network(b, inputs, list(widths), num_classes, depth_blocks, shortcut)
        return keras.Model(inputs, logits, name=name)

    build.__name__ = build.__qualname__ = name
    build.__doc__ = (f"He et al. 2016's ResNet-{6 * depth_blocks + 2} for CIFAR: {depth_blocks} basic blocks per "
                     f"stage (6n + 2 = {6 * depth_blocks + 2} weight layers).")
    return build
