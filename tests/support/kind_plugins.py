"""Tiny plugins of every kind for tests/plugins/test_kinds.py, given as "tests.support.kind_plugins:attribute"
(as a user would)."""

import numpy as np


def plain_norm(momentum=0.9):
    """A normalizer factory that does not accept `name=`, as a new user writes one."""
    import keras

    return keras.layers.BatchNormalization(momentum=momentum)


def blobs(per_class=12, features=5, classes=3, seed=0):
    """A user's data loader: Gaussian blobs as (N, F) tabular arrays (x_train, y_train, x_test, y_test)."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=4.0, size=(classes, features))
    y = np.repeat(np.arange(classes), per_class)
    x = (centres[y] + rng.normal(size=(len(y), features))).astype(np.float32)
    test = np.arange(len(y)) % 4 == 0
    return x[~test], y[~test], x[test], y[test]


def _dense(norm, input_shape, num_classes, width=8):
    import keras

    inputs = keras.Input(input_shape)
    x = keras.layers.Flatten()(inputs)
    x = keras.layers.Dense(width)(x)
    x = keras.layers.ReLU()(norm()(x))
    return keras.Model(inputs, keras.layers.Dense(num_classes)(x))


def images_only(norm, input_shape, num_classes, width=8):
    """A plugin model that declares it needs images and belongs to the resnet family."""
    return _dense(norm, input_shape, num_classes, width)


images_only.family = "resnet"
images_only.tabular = False


def undeclared(norm, input_shape, num_classes, width=8):
    """A plugin model that declares nothing."""
    return _dense(norm, input_shape, num_classes, width)
