"""Two small networks: one with normalization slots, one plain Keras model with BatchNormalization."""

import keras


def wide_mlp(norm, input_shape, num_classes, width=32, depth=2):
    """`depth` Dense layers of `width` units, each followed by the normalizer and ReLU."""
    inputs = keras.Input(shape=input_shape)
    x = keras.layers.Flatten()(inputs)
    for _ in range(depth):
        x = keras.layers.ReLU()(norm()(keras.layers.Dense(width)(x)))  # unseeded initializers: fine
    return keras.Model(inputs, keras.layers.Dense(num_classes)(x))


def plain_cnn(norm, input_shape, num_classes, filters=8):
    """A plain Keras CNN with BatchNormalization; it never calls `norm`, so each BN is replaced."""
    inputs = keras.Input(shape=input_shape)
    x = keras.layers.Conv2D(filters, 3, padding="same", kernel_initializer=keras.initializers.GlorotUniform())(inputs)
    x = keras.layers.ReLU()(keras.layers.BatchNormalization()(x))
    x = keras.layers.Conv2D(filters, 3, padding="same")(x)
    x = keras.layers.ReLU()(keras.layers.BatchNormalization()(x))
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, keras.layers.Dense(num_classes)(x))
