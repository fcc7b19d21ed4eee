"""Keras BatchNormalization with contiguous microbatches (ghost batches).

Why: the paper's microbatch experiment normalizes each group of k examples with
its own statistics. tf-keras's `virtual_batch_size` forms groups by a strided
reshape and skips ghost batching when `training` is symbolic; here groups are
contiguous (examples 0..k-1, k..2k-1, ...) so a sampler decides what shares a
microbatch, exactly as for `BatchRenormalization(microbatch_size=k)`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import keras
import tensorflow as tf

from harness.norms.microbatches import group_microbatches


@keras.saving.register_keras_serializable(package="harness")
class MicrobatchBatchNormalization(keras.layers.BatchNormalization):
    """BatchNormalization whose training statistics come from contiguous groups of `microbatch_size` examples.

    The moving mean and variance move towards the average of the group means and
    variances. Without `microbatch_size` it is plain Keras BatchNormalization.
    """

    def __init__(self, microbatch_size: int | None = None, **kwargs: Any) -> None:
        """Check `microbatch_size` and build the Keras layer.

        Args:
            microbatch_size: size of the contiguous groups normalized on their own (None: the whole batch).
            **kwargs: the `keras.layers.BatchNormalization` arguments.
        """
        if microbatch_size is not None and (
            isinstance(microbatch_size, bool) or not isinstance(microbatch_size, int) or microbatch_size < 1
        ):
            raise ValueError(
                "Argument `microbatch_size` must be an integer >= 1 or None. "
                f"Received: microbatch_size={microbatch_size!r}"
            )
        super().__init__(**kwargs)
        self.microbatch_size = microbatch_size

    def build(self, input_shape: Sequence[int | None]) -> None:
        """Build as Keras BatchNormalization; a microbatch layer may not normalize axis 0."""
        super().build(input_shape)
        if self.microbatch_size is not None and self.axis % len(input_shape) == 0:
            raise ValueError(
                "Argument `microbatch_size` needs a batch axis 0 distinct from the normalized axis. "
                f"Received: axis={self.axis}"
            )

    def call(self, inputs: tf.Tensor, training: bool | None = None, mask: tf.Tensor | None = None) -> tf.Tensor:
        """Normalize `inputs`.

        Call arguments:
            inputs: the input tensor.
            training: with a `microbatch_size`, a trainable layer and no mask, a truthy value normalizes each
                microbatch with its own statistics and updates the moving statistics; otherwise Keras's call.
            mask: as in Keras BatchNormalization (a mask means Keras's own call).
        """
        if self.microbatch_size is None or not (training and self.trainable) or mask is not None:
            return super().call(inputs, training=training, mask=mask)
        k = self.microbatch_size
        x = tf.cast(inputs, tf.float32) if inputs.dtype != tf.float64 else inputs
        rank = len(x.shape)
        channel_axis = self.axis % rank
        grouped = group_microbatches(x, k)
        axes = [1] + [i + 1 for i in range(1, rank) if i != channel_axis]
        mean, variance = tf.nn.moments(grouped, axes, keepdims=True)
        shape = [1] * (rank + 1)
        shape[channel_axis + 1] = x.shape[channel_axis]
        scale = tf.math.rsqrt(variance + self.epsilon)
        if self.scale:
            scale = scale * tf.reshape(tf.cast(self.gamma, x.dtype), shape)
        offset = -mean * scale
        if self.center:
            offset = offset + tf.reshape(tf.cast(self.beta, x.dtype), shape)
        y = tf.reshape(grouped * scale + offset, tf.shape(x))
        keep = [i for i in range(rank + 1) if i != channel_axis + 1]
        group_mean = tf.reduce_mean(mean, keep)
        group_variance = tf.reduce_mean(variance, keep)
        m = self.momentum
        self.moving_mean.assign(tf.cast(self.moving_mean, x.dtype) * m + group_mean * (1.0 - m))
        self.moving_variance.assign(tf.cast(self.moving_variance, x.dtype) * m + group_variance * (1.0 - m))
        return tf.cast(y, self.compute_dtype)

    def get_config(self) -> dict[str, Any]:
        """The Keras BatchNormalization config plus `microbatch_size`."""
        return {**super().get_config(), "microbatch_size": self.microbatch_size}
