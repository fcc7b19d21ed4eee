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


def _cifar_resnet(b, inputs, widths, num_classes, blocks_per_stage, shortcut):
    """The CIFAR ResNet of He et al. 2016 (section 4.2): a 3x3 conv, then one stage per width of
    `blocks_per_stage` basic blocks (3x3 conv, norm, ReLU, 3x3 conv, norm, plus the shortcut, ReLU), the first
    block of every stage after the first halving the resolution; global average pooling; a dense layer.
    Where the shape changes the shortcut is option A (`"zero_pad"`: subsample and pad channels with zeros) or
    option B (`"projection"`: a strided 1x1 conv and a normalization layer); elsewhere it is the identity."""
    if shortcut == "zero_pad" and any(b < a for a, b in zip(widths, widths[1:])):
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
                    residual = keras.layers.Lambda(_zero_pad(width, strides))(x)
            y = b.norm_relu(b.conv(x, width, strides=strides))
            y = b.norm(b.conv(y, width))
            x = keras.layers.ReLU()(keras.layers.Add()([y, residual]))
    x = keras.layers.GlobalAveragePooling2D()(x)
    return b.dense(x, num_classes)


def _zero_pad(width, strides):
    def shortcut(x):
        from keras import ops

        x = x[:, ::strides, ::strides, :]
        missing = width - x.shape[-1]
        return ops.pad(x, [[0, 0], [0, 0], [0, 0], [missing // 2, missing - missing // 2]])

    return shortcut


def resnet20(b, inputs, num_classes, widths=(16, 32, 64), shortcut="zero_pad"):
    """He et al. 2016's ResNet-20 for CIFAR: 3 blocks per stage (6n + 2 = 20 weight layers)."""
    return _cifar_resnet(b, inputs, list(widths), num_classes, 3, shortcut)


def resnet32(b, inputs, num_classes, widths=(16, 32, 64), shortcut="zero_pad"):
    """He et al. 2016's ResNet-32 for CIFAR: 5 blocks per stage."""
    return _cifar_resnet(b, inputs, list(widths), num_classes, 5, shortcut)


def resnet56(b, inputs, num_classes, widths=(16, 32, 64), shortcut="zero_pad"):
    """He et al. 2016's ResNet-56 for CIFAR: 9 blocks per stage."""
    return _cifar_resnet(b, inputs, list(widths), num_classes, 9, shortcut)


CIFAR_RESNETS = {"resnet20": resnet20, "resnet32": resnet32, "resnet56": resnet56}


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
    elif name in CIFAR_RESNETS:
        logits = CIFAR_RESNETS[name](builder, inputs, num_classes, model_config["widths"], model_config["shortcut"])
    else:
        raise ValueError(f"unknown model. Received: name={name!r}")
    return keras.Model(inputs, logits, name=name)


def normalization_layers(model):
    """The model's normalization layers in depth order."""
    layers = [layer for layer in model.layers if layer.name.startswith(NORM_PREFIX)]
    return sorted(layers, key=lambda layer: int(layer.name[len(NORM_PREFIX):]))
