"""Models: small functional Keras networks whose every normalization layer comes from one normalizer config.

Weights are initialised from explicit per-layer seeds, so for a given seed every
normalizer starts from identical non-normalization weights. Normalization
layers are named `norm_1`, `norm_2`, ... in depth order; the analyzer finds
them by that prefix.
"""

import keras

NORM_PREFIX = "norm_"


class _Builder:
    """Numbers the layers it creates so their names and initial weights do not depend on the normalizer."""

    def __init__(self, normalizer_config, seed):
        self.normalizer_config = normalizer_config
        self.seed = seed
        self.weight_layers = 0
        self.norm_layers = 0

    def _initializer(self):
        self.weight_layers += 1
        return keras.initializers.GlorotUniform(seed=self.seed * 1009 + self.weight_layers)

    def dense(self, x, units):
        return keras.layers.Dense(units, kernel_initializer=self._initializer())(x)

    def conv(self, x, filters, kernel_size=3, strides=1):
        return keras.layers.Conv2D(
            filters, kernel_size, strides=strides, padding="same", kernel_initializer=self._initializer()
        )(x)

    def norm(self, x):
        from harness.norms import build_normalizer

        self.norm_layers += 1
        return build_normalizer(self.normalizer_config, name=f"{NORM_PREFIX}{self.norm_layers}")(x)

    def norm_relu(self, x):
        return keras.layers.ReLU()(self.norm(x))


def _mlp(b, inputs, widths, num_classes):
    x = keras.layers.Flatten()(inputs)
    for width in widths:
        x = b.norm_relu(b.dense(x, width))
    return b.dense(x, num_classes)


def _convnet(b, inputs, widths, num_classes):
    x = inputs
    for i, width in enumerate(widths):
        x = b.norm_relu(b.conv(x, width))
        if i < len(widths) - 1 and x.shape[1] >= 4:
            x = keras.layers.MaxPooling2D(2)(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    return b.dense(x, num_classes)


def _resnet(b, inputs, widths, num_classes, blocks_per_stage):
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
    return b.dense(x, num_classes)


def build_model(model_config, normalizer_config, input_shape, num_classes, seed):
    """The scenario's network with `normalizer_config` in every normalization slot; outputs logits."""
    builder = _Builder(normalizer_config, seed)
    inputs = keras.Input(shape=tuple(input_shape), name="images")
    name = model_config["name"]
    if name == "mlp":
        logits = _mlp(builder, inputs, model_config["widths"], num_classes)
    elif name == "convnet":
        logits = _convnet(builder, inputs, model_config["widths"], num_classes)
    elif name == "resnet":
        logits = _resnet(builder, inputs, model_config["widths"], num_classes, model_config["blocks_per_stage"])
    else:
        raise ValueError(f"unknown model. Received: name={name!r}")
    return keras.Model(inputs, logits, name=name)


def normalization_layers(model):
    """The model's normalization layers in depth order."""
    layers = [layer for layer in model.layers if layer.name.startswith(NORM_PREFIX)]
    return sorted(layers, key=lambda layer: int(layer.name[len(NORM_PREFIX):]))
