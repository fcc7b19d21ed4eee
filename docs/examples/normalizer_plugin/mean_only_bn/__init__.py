"""Mean-only batch normalization (Salimans & Kingma 2016): subtract the batch mean, keep a moving mean."""

import keras
import numpy as np
from keras import ops


@keras.saving.register_keras_serializable(package="mean_only_bn")
class MeanOnlyBatchNorm(keras.layers.Layer):
    """Subtracts the batch mean (training) or the moving mean (inference), then adds a learned bias."""

    uses_batch_statistics = True  # hooks the harness reads (all optional)

    def __init__(self, axis=-1, momentum=0.99, **kwargs):
        super().__init__(**kwargs)
        if not 0.0 < momentum < 1.0:
            raise ValueError(f"Argument `momentum` must be in (0, 1). Received: momentum={momentum}")
        self.axis, self.momentum = axis, momentum

    def build(self, input_shape):
        channels = (input_shape[self.axis],)
        self.beta = self.add_weight(shape=channels, initializer="zeros", name="beta")
        self.moving_mean = self.add_weight(shape=channels, initializer="zeros", trainable=False, name="moving_mean")

    def call(self, inputs, training=False):
        axes = [i for i in range(len(inputs.shape)) if i != self.axis % len(inputs.shape)]
        if training:
            mean = ops.mean(inputs, axis=axes)
            self.moving_mean.assign(self.moving_mean * self.momentum + mean * (1.0 - self.momentum))
        else:
            mean = self.moving_mean
        return inputs - mean + self.beta

    def population_statistics(self):
        mean = ops.convert_to_numpy(self.moving_mean)
        return mean, np.ones_like(mean)  # inference computes (x - mean) / 1

    def set_population_statistics(self, mean, variance):
        self.moving_mean.assign(mean)

    def get_config(self):
        return {**super().get_config(), "axis": self.axis, "momentum": self.momentum}
