"""Plugins for the plugin tests: broken on purpose (one mistake each), and a layer the analyzer cannot read."""

import keras
from keras import ops


class RaisingLayer(keras.layers.Layer):
    """Rejects every value of its parameter, Keras-style."""

    def __init__(self, alpha=1.0, **kwargs):
        super().__init__(**kwargs)
        raise ValueError(f"Argument `alpha` must be > 2. Received: alpha={alpha}")


class DropsAChannel(keras.layers.Layer):
    """Changes the shape of its input: the last channel is dropped."""

    def call(self, inputs, training=False):
        return inputs[..., :-1]


class OpaqueBatchNorm(keras.layers.Layer):
    """Batch statistics under names the harness does not know, and no hooks: its traits are unknown."""

    def build(self, input_shape):
        self.center = self.add_weight(shape=(input_shape[-1],), initializer="zeros", trainable=False, name="center")

    def call(self, inputs, training=False):
        if training:
            mean = ops.mean(inputs, axis=0)
            self.center.assign(0.9 * self.center + 0.1 * mean)
        else:
            mean = self.center
        return inputs - mean


def raising_model(norm, input_shape, num_classes):
    raise RuntimeError("this builder is broken on purpose")


def not_a_model(norm, input_shape, num_classes):
    return "a model"


def wrong_width(norm, input_shape, num_classes):
    inputs = keras.Input(shape=input_shape)
    x = norm()(keras.layers.Dense(8)(keras.layers.Flatten()(inputs)))
    return keras.Model(inputs, keras.layers.Dense(num_classes + 1)(x))


class ReadOnlyStatistics(OpaqueBatchNorm):
    """Shows its population statistics (hook) but gives no way to set them: no PreciseBN for it."""

    def population_statistics(self):
        mean = self.center.numpy()
        return mean, mean * 0 + 1


def layer_norm_factory(name=None, epsilon=1e-3):
    """A factory plugin: returns a Keras LayerNormalization."""
    return keras.layers.LayerNormalization(name=name, epsilon=epsilon)
