"""Normalizer plugins whose outputs are broken numbers, for the issue 22 tests (item 3)."""

import keras
from keras import ops


class NaNAtInference(keras.layers.Layer):
    """Identity in training mode; NaN in inference mode."""

    def call(self, inputs, training=False):
        return inputs if training else inputs * float("nan")


class IntegerOutput(keras.layers.Layer):
    """Rounds its input to int32: the shape is kept, the gradient is cut."""

    def call(self, inputs, training=False):
        return ops.cast(ops.round(inputs), "int32")


class LateNaN(keras.layers.Layer):
    """Identity, until it has taken more than 3 training steps: then NaN in inference mode (passes validation,
    which runs one step)."""

    def build(self, input_shape):
        self.steps = self.add_weight(shape=(), initializer="zeros", trainable=False, name="steps")

    def call(self, inputs, training=False):
        if training:
            self.steps.assign_add(1.0)
            return inputs
        return ops.where(self.steps > 3.0, inputs * float("nan"), inputs)


class StopsGradient(keras.layers.Layer):
    """Float and finite, but no gradient passes it: the layers before it never train."""

    def call(self, inputs, training=False):
        return ops.stop_gradient(inputs)
